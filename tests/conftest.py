"""Live-server fixtures: every API test runs against a real `nib serve` on loopback,
once on SQLite and once on PostgreSQL (when reachable; in CI it must be)."""

from __future__ import annotations

import pytest

from clamav_support import Clamd, start_clamd
from live_server import (
    BACKENDS,
    NibServer,
    create_pg_database,
    drop_pg_database,
    free_port,
    start_server,
    stop_server,
)
from mail_support import SmtpServer, start_smtp


@pytest.fixture(scope="session")
def smtp() -> SmtpServer:
    """The session's SMTP server on loopback: every `server` delivers its e-mail here."""
    mail_server = start_smtp(free_port())
    yield mail_server
    mail_server.stop()


@pytest.fixture
def smtp_factory():
    """Start extra SMTP servers (e.g. ``credentials=("user", "pass")``); stopped after the test."""
    started: list[SmtpServer] = []

    def start(**options) -> SmtpServer:
        started.append(start_smtp(free_port(), **options))
        return started[-1]

    yield start
    for mail_server in started:
        mail_server.stop()


@pytest.fixture(scope="session")
def clamd(tmp_path_factory) -> Clamd:
    """The session's clamd on loopback with nib's test signatures (tests/clamav_support.py)."""
    daemon = start_clamd(tmp_path_factory.mktemp("clamd"), free_port())
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session", params=BACKENDS)
def server(request, tmp_path_factory, smtp) -> NibServer:
    """One nib per backend for the whole session; tests use unique IDs so they don't collide."""
    data_dir = tmp_path_factory.mktemp(f"nib-{request.param}")
    pg_name = create_pg_database() if request.param == "postgresql" else None
    url = f"postgresql://postgres@127.0.0.1:5432/{pg_name}" if pg_name else None
    # Rate limits off, as in Appwrite's own e2e suite: tests sign up far more than 10 users per IP.
    nib = start_server(request.param, data_dir, url, env={**smtp.env(), "NIB_RATE_LIMITS": "off"})
    yield nib
    stop_server(nib)
    if pg_name:
        drop_pg_database(pg_name)


@pytest.fixture(scope="module", params=BACKENDS)
def service_db(request, tmp_path_factory):
    """A migrated database of its own, without a server, for service-level tests."""
    from nib.core.config import Settings
    from nib.core.db import Database, migrate
    from nib.core.projects import DEFAULT_PROJECT, create_project

    pg_name = create_pg_database() if request.param == "postgresql" else None
    url = f"postgresql://postgres@127.0.0.1:5432/{pg_name}" if pg_name else None
    settings = Settings.from_env(data_dir=tmp_path_factory.mktemp(f"service-{request.param}"), database_url=url)
    database = Database(settings.resolved_database_url, pool_size=2)
    migrate.upgrade(database)
    create_project(database, project_id=DEFAULT_PROJECT, name="Nib Test")
    yield database
    database.dispose()
    if pg_name:
        drop_pg_database(pg_name)


@pytest.fixture(scope="session")
def db(server):
    """Direct access to the server's database, for seeding rows that no API creates yet
    (identities come from OAuth, memberships from the Teams service) and for checking what is
    stored. Never used to replace an API call."""
    from nib.core.config import Settings
    from nib.core.db import Database

    settings = Settings.from_env(data_dir=server.data_dir, database_url=server.database_url)
    database = Database(settings.resolved_database_url, pool_size=2)
    yield database
    database.dispose()


@pytest.fixture
def http(server):
    """Raw HTTP against the session's server, with the all-scopes key."""
    with server.http() as client:
        yield client


@pytest.fixture
def users(server):
    """The official SDK's Users service with the all-scopes key."""
    from appwrite.services.users import Users

    return Users(server.sdk())


@pytest.fixture
def nib_with(server, tmp_path):
    """``start(**env)``: another nib on the session server's backend (a fresh database), with its
    own data dir and extra NIB_* settings; stopped and dropped after the test."""
    started: list[tuple[NibServer, str | None]] = []

    def start(**env: str) -> NibServer:
        pg_name = create_pg_database() if server.backend == "postgresql" else None
        url = f"postgresql://postgres@127.0.0.1:5432/{pg_name}" if pg_name else None
        nib = start_server(server.backend, tmp_path / f"nib-{len(started)}", url, env=env)
        started.append((nib, pg_name))
        return nib

    yield start
    for nib, pg_name in started:
        stop_server(nib)
        if pg_name:
            drop_pg_database(pg_name)
