"""Database and Redis faults on a live nib: several processes starting together on a fresh
database, PostgreSQL stopped and restarted under a stream of requests, and the rate-limit Redis
going away and coming back. Outages use servers of the test's own (tests/outage_support.py)."""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import psycopg
import pytest
import sqlalchemy as sa
from account_support import member

from live_server import (
    BACKENDS,
    PG_AVAILABLE,
    NibServer,
    create_pg_database,
    drop_pg_database,
    spawn,
    start_server,
    stop_process,
    stop_server,
    wait_serving,
)
from outage_support import PgCluster, RedisServer

VERSION = "1.5.11"
DB_UNAVAILABLE = {
    "message": "Database is not available",
    "code": 503,
    "type": "general_server_error",
    "version": VERSION,
}
# The longest a request may take while a backing server is away.
OUTAGE_ANSWER_SECONDS = 5


def _rows(data_dir, database_url: str | None, table: str) -> int:
    """Rows of ``table`` in the database nib uses with these storage settings."""
    from nib.tools.config import Settings

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
        waiting = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
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


# -- PostgreSQL stopped and started under requests ----------------------------------------------


@pytest.fixture
def pg_outage(tmp_path):
    """(a nib on a PostgreSQL cluster of its own, that cluster) to stop and start at will."""
    cluster = PgCluster()
    nib = None
    try:
        cluster.start()
        url = cluster.create_database("nib")
        nib = start_server("postgresql", tmp_path, url, env={"NIB_RATE_LIMITS": "off", "NIB_SMTP_HOST": ""})
        yield nib, cluster
    finally:
        if nib is not None:
            stop_server(nib)
        cluster.remove()


class Traffic:
    """The requests of a running app: key reads and writes, a signed-in user's reads, a guest's
    sign-up, health; and a key this nib has never seen, so that its lookup reaches the database
    whatever the caches hold."""

    def __init__(self, nib: NibServer) -> None:
        self.nib = nib
        self.keyed = nib.http()
        self.user = self.create_user()
        self.signed_in = member(nib)
        self.session = httpx.Client(
            base_url=nib.endpoint,
            timeout=30,
            headers={"X-Appwrite-Project": nib.project, "X-Appwrite-Session": self.signed_in.session},
        )
        self.guest = httpx.Client(base_url=nib.endpoint, timeout=30, headers={"X-Appwrite-Project": nib.project})
        self.unseen_key = nib.http(
            key=nib.cli("keys", "create", "--project", "default", "--name", "unseen").stdout.split()[-1]
        )

    def create_user(self) -> dict:
        response = self.keyed.post(
            "/users", json={"userId": "unique()", "email": f"{uuid.uuid4().hex[:12]}@example.com"}
        )
        assert response.status_code == 201, response.text
        return response.json()

    def requests(self) -> list[tuple[str, httpx.Client, str, str, dict]]:
        """(label, client, method, path, json) of one pass: every one answers 2xx when all is well."""
        email, other = (f"{uuid.uuid4().hex[:12]}@example.com" for _ in range(2))
        return [
            ("health", self.guest, "GET", "/health", {}),
            ("get user", self.keyed, "GET", f"/users/{self.user['$id']}", {}),
            ("list users", self.keyed, "GET", "/users", {}),
            ("create user", self.keyed, "POST", "/users", {"userId": "unique()", "email": email}),
            ("session read", self.session, "GET", "/account", {}),
            ("session list", self.session, "GET", "/account/sessions", {}),
            (
                "sign-up",
                self.guest,
                "POST",
                "/account",
                {"userId": "unique()", "email": other, "password": "password123"},
            ),
            ("unseen key", self.unseen_key, "GET", "/users", {}),
        ]

    def send(self, client: httpx.Client, method: str, path: str, body: dict) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        response = client.request(method, path, json=body or None)
        return response, time.monotonic() - started

    def assert_unavailable(self, seconds: float) -> None:
        """For ``seconds`` (one pass at least), every request answers 503 with Appwrite's error JSON,
        each in bounded time."""
        deadline = time.monotonic() + seconds
        while True:
            # A pass at once, as an app's users would: against a hanging server each request
            # waits for its own connect timeout.
            passing = self.requests()
            with ThreadPoolExecutor(len(passing)) as executor:
                answers = list(executor.map(lambda request: self.send(*request[1:]), passing))
            for (label, *_), (response, took) in zip(passing, answers, strict=True):
                assert (response.status_code, response.json()) == (503, DB_UNAVAILABLE), (label, response.text)
                assert response.headers["content-type"] == "application/json; charset=UTF-8"
                assert took < OUTAGE_ANSWER_SECONDS, (label, took)
            if time.monotonic() >= deadline:
                return

    def failures(self) -> list[tuple[str, int, str]]:
        """One pass: (label, status, body) of each request that did not succeed."""
        failed = []
        for label, client, method, path, body in self.requests():
            response, _ = self.send(client, method, path, body)
            if not response.is_success:
                failed.append((label, response.status_code, response.text))
        return failed

    def close(self) -> None:
        for client in (self.keyed, self.session, self.guest, self.unseen_key):
            client.close()


@contextmanager
def _silent_server(port: int):
    """A TCP listener on ``port`` that accepts connections and never answers: a database host that
    hangs (or a dropped network) rather than refusing."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
        yield


@pytest.mark.slow
@pytest.mark.skipif(not PG_AVAILABLE, reason="needs PostgreSQL")
def test_postgresql_outage_answers_503_and_nib_recovers_by_itself(pg_outage):
    nib, cluster = pg_outage
    traffic = Traffic(nib)
    try:
        assert traffic.failures() == []
        cluster.stop()
        # Longer than the key and platform caches (1 s): later passes look them up in the database.
        traffic.assert_unavailable(2.5)
        with _silent_server(cluster.port):
            traffic.assert_unavailable(0)  # one pass: connecting gives up in bounded time
        cluster.start()
        deadline = time.monotonic() + 10
        while (failed := traffic.failures()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert failed == []
        # No stale pooled connection is left to fail a later request.
        for _ in range(25):
            created = traffic.create_user()
            assert traffic.keyed.get(f"/users/{created['$id']}").status_code == 200
        assert nib.process.poll() is None
    finally:
        traffic.close()


@pytest.mark.slow
@pytest.mark.skipif(not PG_AVAILABLE, reason="needs PostgreSQL")
def test_requests_right_after_a_quick_postgresql_restart_succeed(pg_outage):
    """Stop and start at once, no request in between: every pooled connection is dead, and the
    first requests after it must not fail on one."""
    nib, cluster = pg_outage
    traffic = Traffic(nib)
    try:
        assert traffic.failures() == []
        cluster.stop()
        cluster.start()
        assert traffic.failures() == []
        assert traffic.failures() == []
    finally:
        traffic.close()


# -- the rate-limit Redis stopped and started ---------------------------------------------------

LIMIT_STORE_UNAVAILABLE = {
    "message": "Rate limit store is not available",
    "code": 503,
    "type": "general_server_error",
    "version": VERSION,
}


@pytest.fixture
def redis_outage(tmp_path):
    """(a nib enforcing rate limits with its counters in a Redis of its own, that Redis)."""
    store = RedisServer()
    store.start()
    nib = None
    try:
        env = {"NIB_RATE_LIMITS": "on", "NIB_REDIS_URL": store.url, "NIB_SMTP_HOST": ""}
        nib = start_server("sqlite", tmp_path, env=env)
        yield nib, store
    finally:
        if nib is not None:
            stop_server(nib)
        store.stop()


def _from_new_address(nib: NibServer) -> httpx.Client:
    """A guest with an address of its own (X-Forwarded-For): a fresh sign-up window."""
    address = str(ipaddress.IPv6Address(uuid.uuid4().int))
    return httpx.Client(
        base_url=nib.endpoint, timeout=30, headers={"X-Appwrite-Project": nib.project, "X-Forwarded-For": address}
    )


def _sign_up(guest: httpx.Client) -> httpx.Response:
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    return guest.post("/account", json={"userId": "unique()", "email": email, "password": "password123"})


def _assert_limit_enforced(nib: NibServer) -> None:
    """Sign-ups from one new address: ten pass, the eleventh is refused."""
    with _from_new_address(nib) as guest:
        remaining = [_sign_up(guest).headers.get("x-ratelimit-remaining") for _ in range(10)]
        assert remaining == [str(n) for n in range(9, -1, -1)]
        assert _sign_up(guest).status_code == 429


@pytest.mark.slow
def test_redis_outage_fails_limited_routes_with_503_and_limits_return_by_themselves(redis_outage):
    nib, store = redis_outage
    signed_in = member(nib)
    with nib.http() as keyed, _from_new_address(nib) as guest:
        store.stop()
        account = {"X-Appwrite-Session": signed_in.session}
        for _ in range(3):
            started = time.monotonic()
            refused = _sign_up(guest)
            assert (refused.status_code, refused.json()) == (503, LIMIT_STORE_UNAVAILABLE)
            assert time.monotonic() - started < OUTAGE_ANSWER_SECONDS
            # API keys are never counted: served, without the informational headers.
            by_key = _sign_up(keyed)
            assert by_key.status_code == 201, by_key.text
            assert "x-ratelimit-limit" not in by_key.headers
            # Routes without limits never ask Redis.
            assert keyed.post("/users", json={"userId": "unique()"}).status_code == 201
            assert keyed.get("/users").status_code == 200
            assert guest.get("/account", headers=account).status_code == 200
        with _silent_server(store.port):
            started = time.monotonic()
            assert _sign_up(guest).json() == LIMIT_STORE_UNAVAILABLE
            assert time.monotonic() - started < OUTAGE_ANSWER_SECONDS
        store.start()
        deadline = time.monotonic() + 10
        while (answer := _sign_up(guest)).status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert answer.status_code == 201, answer.text
    # The restarted Redis holds no counts: a new address gets its ten, then 429.
    _assert_limit_enforced(nib)


@pytest.mark.slow
def test_limited_requests_right_after_a_quick_redis_restart_succeed(redis_outage):
    """The pooled Redis connections die with the server: the first limited request after it
    must not fail on one."""
    nib, store = redis_outage
    with _from_new_address(nib) as guest:
        assert _sign_up(guest).status_code == 201
        store.stop()
        store.start()
        first = _sign_up(guest)
        assert first.status_code == 201, first.text
    _assert_limit_enforced(nib)
