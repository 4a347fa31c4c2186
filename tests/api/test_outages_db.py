"""Database and Redis faults on a live nib: several processes starting together on a fresh
database, PostgreSQL stopped and restarted under a stream of requests, and the rate-limit Redis
going away and coming back. Outages use servers of the test's own (tests/outage_support.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from contextlib import contextmanager

import httpx
import psycopg
import pytest
import sqlalchemy as sa

from live_server import BACKENDS, create_pg_database, drop_pg_database, spawn, stop_process, wait_serving

VERSION = "1.5.11"


def _rows(data_dir, database_url: str | None, table: str) -> int:
    """Rows of ``table`` in the database nib uses with these storage settings."""
    from nib.core.config import Settings

    url = Settings.from_env(data_dir=data_dir, database_url=database_url).resolved_database_url
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
    finally:
        engine.dispose()


# -- several processes on a fresh database --------------------------------------------------------

STARTING_TOGETHER = 4
ROUNDS = 3


@contextmanager
def _starting_gate(url: str):
    """Hold every process that reads ``projects`` until all of them wait for it, then let them
    go at once: started processes finish importing at different moments (they share two cores),
    which alone makes them meet at the first-start bootstrap only now and then."""
    with psycopg.connect(url) as gate:
        gate.execute("LOCK TABLE projects IN ACCESS EXCLUSIVE MODE")
        yield
        deadline = time.monotonic() + 60
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        with psycopg.connect(url, autocommit=True) as observer:
            while observer.execute(waiting).fetchone()[0] < STARTING_TOGETHER and time.monotonic() < deadline:
                time.sleep(0.05)
        gate.rollback()


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_processes_starting_together_bootstrap_one_project_and_key(backend, tmp_path):
    """Four `nib serve` on one fresh database at once, three rounds: exactly one creates project
    ``default`` and prints its key, which works; the others serve and print none.

    On PostgreSQL the schema is made first (`nib projects list` migrates without bootstrapping)
    and the processes are let into the bootstrap together through ``_starting_gate``; on SQLite
    they start on an empty data dir."""
    for round_number in range(ROUNDS):
        pg_name = create_pg_database() if backend == "postgresql" else None
        url = f"postgresql://postgres@127.0.0.1:5432/{pg_name}" if pg_name else None
        data_dir = tmp_path / f"round-{round_number}"
        started = []
        try:
            if url:
                migrate = [sys.executable, "-m", "nib", "projects", "list", "--database-url", url]
                assert subprocess.run(migrate, capture_output=True, timeout=60).returncode == 0
                with _starting_gate(url):
                    started = [spawn(data_dir, url) for _ in range(STARTING_TOGETHER)]
            else:
                started = [spawn(data_dir) for _ in range(STARTING_TOGETHER)]
            outputs = [wait_serving(process, endpoint) for process, endpoint in started]
            keys = [
                (endpoint, line.split()[-1])
                for (_, endpoint), lines in zip(started, outputs, strict=True)
                for line in lines
                if line.strip().startswith("key:")
            ]
            assert len(keys) == 1, outputs
            for _, endpoint in started:
                assert httpx.get(f"{endpoint}/health", timeout=10).status_code == 200
            endpoint, secret = keys[0]
            headers = {"X-Appwrite-Project": "default", "X-Appwrite-Key": secret}
            listed = httpx.get(f"{endpoint}/users", headers=headers, timeout=10)
            assert listed.status_code == 200, listed.text
            assert listed.json() == {"total": 0, "users": []}
            assert [_rows(data_dir, url, table) for table in ("projects", "api_keys", "platforms")] == [1, 1, 1]
        finally:
            for process, _ in started:
                stop_process(process)
            if pg_name:
                drop_pg_database(pg_name)
