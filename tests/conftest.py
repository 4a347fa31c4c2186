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
from s3_server import moto_server, new_bucket, s3_env


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


def _session_nib(backend: str, data_dir, env: dict[str, str]):
    """A nib on a fresh database of ``backend`` for the whole session (a generator fixture body)."""
    pg_name = create_pg_database() if backend == "postgresql" else None
    url = f"postgresql://postgres@127.0.0.1:5432/{pg_name}" if pg_name else None
    # Rate limits off, as in Appwrite's own e2e suite: tests sign up far more than 10 users per IP.
    nib = start_server(backend, data_dir, url, env={**env, "NIB_RATE_LIMITS": "off"})
    yield nib
    stop_server(nib)
    if pg_name:
        drop_pg_database(pg_name)


@pytest.fixture(scope="session", params=BACKENDS)
def server(request, tmp_path_factory, smtp) -> NibServer:
    """One nib per backend for the whole session; tests use unique IDs so they don't collide."""
    yield from _session_nib(request.param, tmp_path_factory.mktemp(f"nib-{request.param}"), smtp.env())


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    """The session's S3-compatible server on loopback (moto, tests/s3_server.py)."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session", params=["local", "s3"])
def storage_server(request, server, tmp_path_factory, smtp) -> NibServer:
    """The Storage tests' nib, once per device: ``local`` is the session ``server``; ``s3`` another
    nib on the same backend storing its files in a fresh bucket of the session's S3 server."""
    if request.param == "local":
        yield server
        return
    endpoint = request.getfixturevalue("s3_endpoint")
    s3_bucket, _ = new_bucket(endpoint)
    data_dir = tmp_path_factory.mktemp(f"nib-{server.backend}-s3")
    yield from _session_nib(server.backend, data_dir, {**smtp.env(), **s3_env(endpoint, s3_bucket)})


@pytest.fixture(scope="module", params=BACKENDS)
def service_db(request, tmp_path_factory):
    """A migrated database of its own, without a server, for service-level tests."""
    from nib.auth.projects import DEFAULT_PROJECT, create_project
    from nib.data.db import Database, migrate
    from nib.tools.config import Settings

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


def _database_of(nib: NibServer):
    from nib.data.db import Database
    from nib.tools.config import Settings

    settings = Settings.from_env(data_dir=nib.data_dir, database_url=nib.database_url)
    database = Database(settings.resolved_database_url, pool_size=2)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def db(server):
    """Direct access to the server's database, for seeding rows that no API creates yet
    (identities come from OAuth, memberships from the Teams service) and for checking what is
    stored. Never used to replace an API call."""
    yield from _database_of(server)


@pytest.fixture(scope="session")
def storage_db(storage_server):
    """``db`` for ``storage_server``."""
    yield from _database_of(storage_server)


@pytest.fixture
def http(server):
    """Raw HTTP against the session's server, with the all-scopes key."""
    with server.http() as client:
        yield client


@pytest.fixture
def storage_http(storage_server):
    """``http`` against ``storage_server``."""
    with storage_server.http() as client:
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
