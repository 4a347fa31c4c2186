"""Scale-out (issue 16): several `nib serve` processes on one PostgreSQL database, Redis and S3
bucket, behind nginx (tests/load_balancer.py), behave as one server. Sessions, chunked uploads,
rate limits, realtime events and every cached setting hold across nodes; a node killed
mid-request leaves nothing half-written; nodes starting together migrate and bootstrap once."""

from __future__ import annotations

import ipaddress
import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest
from account_support import PASSWORD
from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.id import ID
from appwrite.services.account import Account
from appwrite.services.storage import Storage
from appwrite.services.users import Users
from storage_support import CHUNK, as_input, md5, mp4, paused_multipart, unique_id
from users_support import unique_email

from live_server import PG_AVAILABLE, create_pg_database, drop_pg_database, spawn, stop_process, wait_serving
from load_balancer import Cluster, LoadBalancer, node_address, start_cluster, start_load_balancer
from nib.data.db import _EXCLUSIVE_LOCK_KEY as EXCLUSIVE_LOCK_KEY
from nib.data.db import Database, migrate
from realtime_client import Subscriber

pytestmark = pytest.mark.skipif(not PG_AVAILABLE, reason="several nodes share a PostgreSQL database")

# How soon a change made on one node (or by the command line) must hold on every node: the
# per-process caches keep an entry for 1 s.
PROPAGATION_SECONDS = 2.0


def random_ip() -> str:
    """An address of its own (X-Forwarded-For): rate-limit windows of its own."""
    return str(ipaddress.IPv6Address(uuid.uuid4().int))


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, s3_endpoint):
    """Three nodes enforcing rate limits (counted in Redis) behind one nginx."""
    directory = tmp_path_factory.mktemp("scaleout")
    cluster = start_cluster(3, directory, s3_endpoint, {"NIB_RATE_LIMITS": "on"})
    try:
        balancer = start_load_balancer([node.endpoint for node in cluster.nodes], directory / "nginx")
        yield cluster, balancer
        balancer.stop()
    finally:
        cluster.stop()


def sdk(endpoint: str, *, key: str | None = None, session: str | None = None, ip: str | None = None) -> Client:
    client = Client().set_endpoint(endpoint).set_project("default")
    if key:
        client.set_key(key)
    if session:
        client.set_session(session)
    return client.add_header("X-Forwarded-For", ip or random_ip())


def served_by(balancer: LoadBalancer, ip: str, method: str, path: str, count: int) -> list[str]:
    """The nodes (``host:port``) that served the ``count`` requests ``method path…`` from ``ip``,
    once the balancer's log holds them all (it writes a line after the response)."""
    deadline = time.monotonic() + 5
    while True:
        found = [
            r["upstream"]
            for r in balancer.requests()
            if (r["forwarded_for"], r["method"]) == (ip, method) and r["uri"].startswith(path)
        ]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


# -- one server, seen from the client ------------------------------------------------------------


def test_a_session_made_through_the_balancer_holds_on_every_node_and_ends_on_every_node(deployment):
    cluster, balancer = deployment
    email, ip = unique_email("scale"), random_ip()
    user = Account(sdk(balancer.endpoint, ip=ip)).create(ID.unique(), email, PASSWORD)
    # Signed in as a server-side app does: with a key, the session's secret comes back.
    signed_in = Account(sdk(balancer.endpoint, key=cluster.key, ip=ip)).create_email_password_session(email, PASSWORD)
    session = signed_in.secret
    # The balancer spread the sign-up and the sign-in over two nodes.
    assert len(set(served_by(balancer, ip, "POST", "/v1/account", 2))) == 2

    for node in cluster.nodes:  # the session, made by some node, works on each one directly
        assert Account(sdk(node.endpoint, session=session)).get().id == user.id
    through = [Account(sdk(balancer.endpoint, session=session, ip=ip)).get().email for _ in cluster.nodes]
    assert through == [email] * 3
    assert set(served_by(balancer, ip, "GET", "/v1/account", 3)) == {node_address(n) for n in cluster.nodes}

    Account(sdk(balancer.endpoint, session=session, ip=ip)).delete_session("current")
    for node in cluster.nodes:  # sessions are read from the database on every request: no delay
        with pytest.raises(AppwriteException) as refused:
            Account(sdk(node.endpoint, session=session)).get()
        assert refused.value.code == 401


def test_chunks_of_one_upload_land_on_different_nodes_and_every_node_serves_the_file(deployment):
    cluster, balancer = deployment
    ip = random_ip()
    storage = Storage(sdk(balancer.endpoint, key=cluster.key, ip=ip))
    bucket = unique_id()
    storage.create_bucket(bucket, "Scale-out")
    data = mp4(2 * CHUNK + 4321)  # 3 chunks: the SDK sends the first alone, then the other two at once
    created = storage.create_file(bucket, ID.unique(), as_input(data, "video.mp4")).to_dict()
    assert (created["chunksTotal"], created["chunksUploaded"], created["signature"]) == (3, 3, md5(data))
    chunks = served_by(balancer, ip, "POST", f"/v1/storage/buckets/{bucket}/files", 3)
    assert len(chunks) == 3 and len(set(chunks)) == 3, chunks  # round robin: each chunk on another node
    for node in cluster.nodes:
        assert Storage(sdk(node.endpoint, key=cluster.key)).get_file_download(bucket, created["$id"]) == data


def test_rate_limits_are_counted_once_across_nodes(deployment):
    """The 11th sign-up from one address within the hour is refused, wherever the 10 before it went."""
    _, balancer = deployment
    ip = random_ip()
    account = Account(sdk(balancer.endpoint, ip=ip))
    for _ in range(10):
        account.create(ID.unique(), unique_email("limit"), PASSWORD)
    with pytest.raises(AppwriteException) as refused:
        account.create(ID.unique(), unique_email("limit"), PASSWORD)
    assert (refused.value.code, refused.value.type) == (429, "general_rate_limit_exceeded")
    assert len(set(served_by(balancer, ip, "POST", "/v1/account", 11))) == 3


def test_realtime_events_reach_subscribers_on_every_node(deployment):
    """A subscriber on each node (and one through the balancer's WebSocket upgrade) receives the
    event of a change made through any other node: events travel through Redis."""
    cluster, balancer = deployment
    email = unique_email("live")
    user = Account(sdk(balancer.endpoint)).create(ID.unique(), email, PASSWORD)
    users = Users(sdk(balancer.endpoint, key=cluster.key))
    session = users.create_session(user.id).secret
    endpoints = [node.endpoint for node in cluster.nodes] + [balancer.endpoint]
    subscribers = [
        Subscriber(endpoint=endpoint, project="default", channels=["account"], session=session)
        for endpoint in endpoints
    ]
    try:
        for index, node in enumerate(cluster.nodes):
            Users(sdk(node.endpoint, key=cluster.key)).update_prefs(user.id, {"from": index})
            for subscriber in subscribers:
                event = subscriber.event()
                assert f"users.{user.id}.update.prefs" in event["events"]
                assert event["payload"]["from"] == index
    finally:
        for subscriber in subscribers:
            subscriber.close()


# -- changes to cached settings reach every node within the bound ---------------------------------


def _cli(cluster: Cluster, *args: str, stdin: str | None = None) -> str:
    command = [sys.executable, "-m", "nib", *args, "--database-url", cluster.database_url]
    done = subprocess.run(command, capture_output=True, text=True, input=stdin, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _propagation(
    cluster: Cluster, observe: Callable[[str], object], before: object, change: Callable[[], object]
) -> list[float]:
    """For each node, how long after ``change`` returned a request sent to it could still get
    ``before`` from ``observe(node endpoint)``: the latest such request's start (0 if none; inf if
    the node never changed within 5 s). Every node answers ``before`` first, its caches warm (the
    set-up may itself take up to the same bound to show). Each node is polled by a thread of its
    own, and a request counts from when it was sent, so a slow machine does not stretch the bound."""
    for node in cluster.nodes:
        deadline = time.monotonic() + PROPAGATION_SECONDS
        while observe(node.endpoint) != before:
            assert time.monotonic() < deadline, observe(node.endpoint)
            time.sleep(0.02)
    change()
    changed_at = time.monotonic()

    def stale_for(endpoint: str) -> float:
        last_old = changed_at
        while time.monotonic() - changed_at < PROPAGATION_SECONDS + 3:
            sent = time.monotonic()
            if observe(endpoint) != before:
                return last_old - changed_at
            last_old = sent
            time.sleep(0.02)
        return float("inf")

    with ThreadPoolExecutor(len(cluster.nodes)) as pool:
        return list(pool.map(stale_for, [node.endpoint for node in cluster.nodes]))


def _answer(endpoint: str, method: str, path: str, **options) -> tuple[int, str]:
    """(status, error type or "") of one request from an address of its own."""
    headers = {"X-Appwrite-Project": "default", "X-Forwarded-For": random_ip(), **options.pop("headers", {})}
    response = httpx.request(method, endpoint + path, headers=headers, timeout=10, **options)
    return response.status_code, response.json().get("type", "") if response.status_code >= 400 else ""


def test_a_revoked_key_is_refused_by_every_node_within_the_bound(deployment):
    cluster, _ = deployment
    created = json.loads(_cli(cluster, "keys", "create", "--project", "default", "--name", "short-lived", "--json"))

    def observe(endpoint: str) -> tuple[int, str]:
        return _answer(endpoint, "GET", "/users", headers={"X-Appwrite-Key": created["secret"]})

    delays = _propagation(
        cluster, observe, (200, ""), lambda: _cli(cluster, "keys", "delete", "--project", "default", created["$id"])
    )
    assert max(delays) <= PROPAGATION_SECONDS, delays
    assert [observe(node.endpoint) for node in cluster.nodes] == [
        (401, "general_unauthorized_scope")
    ] * 3  # a guest now


def test_a_disabled_project_is_refused_by_every_node_within_the_bound(deployment):
    cluster, _ = deployment
    project = unique_id("p")
    _cli(cluster, "projects", "create", project, "--name", "Soon disabled")

    def observe(endpoint: str) -> tuple[int, str]:
        return _answer(endpoint, "GET", "/account", headers={"X-Appwrite-Project": project})

    delays = _propagation(
        cluster, observe, (401, "general_unauthorized_scope"), lambda: _cli(cluster, "projects", "disable", project)
    )
    assert max(delays) <= PROPAGATION_SECONDS, delays
    assert [observe(node.endpoint) for node in cluster.nodes] == [(401, "general_access_forbidden")] * 3


def test_a_removed_platform_is_refused_by_every_node_within_the_bound(deployment):
    cluster, _ = deployment
    hostname = f"{unique_id('app')}.example.com"
    _cli(cluster, "platforms", "add", "--project", "default", "--hostname", hostname)

    def observe(endpoint: str) -> tuple[int, str]:  # a keyless write from the page: 401 for a guest, 403 from elsewhere
        return _answer(endpoint, "POST", "/users", headers={"Origin": f"https://{hostname}"}, json={})

    remove = ("platforms", "remove", "--project", "default", "--hostname", hostname)
    delays = _propagation(cluster, observe, (401, "general_unauthorized_scope"), lambda: _cli(cluster, *remove))
    assert max(delays) <= PROPAGATION_SECONDS, delays
    assert [observe(node.endpoint) for node in cluster.nodes] == [(403, "general_unknown_origin")] * 3


def test_a_changed_oauth2_provider_applies_on_every_node_within_the_bound(deployment):
    cluster, _ = deployment

    def provider(app_id: str) -> None:  # no other test of the module configures a provider
        set_github = ("providers", "set", "--project", "default", "github", "--app-id", app_id, "--secret-file", "-")
        _cli(cluster, *set_github, stdin="gh-secret")

    def observe(endpoint: str) -> str:
        started = httpx.get(
            f"{endpoint}/account/sessions/oauth2/github",
            params={"project": "default", "success": "http://localhost/ok", "failure": "http://localhost/fail"},
            headers={"X-Forwarded-For": random_ip()},
            timeout=10,
        )
        assert started.status_code == 301, started.text
        return httpx.URL(started.headers["location"]).params["client_id"]

    provider("Iv1.first")
    delays = _propagation(cluster, observe, "Iv1.first", lambda: provider("Iv1.second"))
    assert max(delays) <= PROPAGATION_SECONDS, delays
    assert [observe(node.endpoint) for node in cluster.nodes] == ["Iv1.second"] * 3


# -- a node killed mid-request --------------------------------------------------------------------


def test_a_node_killed_mid_upload_leaves_nothing_and_the_retry_succeeds(tmp_path, s3_endpoint):
    cluster = start_cluster(2, tmp_path / "nodes", s3_endpoint, {"NIB_RATE_LIMITS": "off"})
    balancer = None
    try:
        balancer = start_load_balancer([node.endpoint for node in cluster.nodes], tmp_path / "nginx")
        http = httpx.Client(
            base_url=balancer.endpoint,
            headers={"X-Appwrite-Project": "default", "X-Appwrite-Key": cluster.key},
            timeout=30,
        )
        bucket = http.post("/storage/buckets", json={"bucketId": unique_id(), "name": "Kill"}).json()["$id"]
        # One nginx worker takes the nodes strictly in turn: the upload goes to the other one.
        victim = next(
            node for node in cluster.nodes if node_address(node) != balancer.requests(at_least=1)[0]["upstream"]
        )
        file_id, data = unique_id("f"), mp4(3 * 1024 * 1024)
        half_sent, go_on = threading.Event(), threading.Event()
        body, headers = paused_multipart(file_id, data, half_sent, go_on)
        answer: list[httpx.Response] = []
        upload = threading.Thread(
            target=lambda: answer.append(http.post(f"/storage/buckets/{bucket}/files", content=body, headers=headers))
        )
        upload.start()
        assert half_sent.wait(10)
        _wait_for_connection(node_address(victim))  # nginx has sent the request on to the node
        time.sleep(0.2)
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(10)
        go_on.set()
        upload.join(30)
        assert answer[0].status_code == 502  # nginx never resends a POST it has sent
        killed = balancer.requests(at_least=2)[1]
        assert (killed["method"], killed["upstream"]) == ("POST", node_address(victim))

        # The survivor serves everything through the balancer; the upload left no trace.
        for _ in range(4):
            assert http.get(f"/storage/buckets/{bucket}/files").json() == {"total": 0, "files": []}
        assert http.get(f"/storage/buckets/{bucket}/files/{file_id}").status_code == 404

        retried = http.post(
            f"/storage/buckets/{bucket}/files", files={"file": ("p.mp4", data)}, data={"fileId": file_id}
        )
        assert retried.status_code == 201, retried.text
        assert http.get(f"/storage/buckets/{bucket}/files/{file_id}/download").content == data
        listed = http.get(f"/storage/buckets/{bucket}/files").json()
        assert [file["$id"] for file in listed["files"]] == [file_id]
        survivor_output = cluster.output[1 - cluster.nodes.index(victim)]
        assert not [line for line in survivor_output if "Traceback" in line]
    finally:
        if balancer is not None:
            balancer.stop()
        cluster.stop()


def _wait_for_connection(address: str) -> None:
    """Until some connection to ``address`` (``127.0.0.1:port``, nothing but nginx calls it) is
    established, read from the kernel's table of TCP sockets."""
    port = int(address.rsplit(":", 1)[1])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
        if any(int(row[1].split(":")[1], 16) == port and row[3] == "01" for row in rows):
            return
        time.sleep(0.02)
    raise AssertionError(f"no connection to {address}")


# -- nodes starting together migrate once ---------------------------------------------------------

DDL_TROUBLE = ("Traceback", "already exists", "DuplicateTable", "UniqueViolation", "ERROR")


def _start_together(count: int, url: str, tmp_path, started: list[tuple[subprocess.Popen, str]]) -> list[list[str]]:
    """``count`` `nib serve` on ``url`` (added to ``started`` as they are spawned) let into the
    migration lock at the same moment: the test holds it until all of them wait for it. Returns
    each one's output up to "nib serving"."""
    with psycopg.connect(url, autocommit=True) as gate:
        gate.execute(f"SELECT pg_advisory_lock({EXCLUSIVE_LOCK_KEY})")
        started += [spawn(tmp_path / f"node-{index}", url) for index in range(count)]
        waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        deadline = time.monotonic() + 60
        while gate.execute(waiting).fetchone()[0] < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gate.execute(waiting).fetchone()[0] == count
    return [wait_serving(process, endpoint) for process, endpoint in started]


@pytest.mark.parametrize("start_from", ["empty", "0001"])
def test_nodes_starting_together_migrate_once_and_all_serve(start_from, tmp_path):
    """Three nodes on an empty database, or on one made by nib's first schema."""
    pg_name = create_pg_database()
    url = f"postgresql://postgres@127.0.0.1:5432/{pg_name}"
    started: list[tuple[subprocess.Popen, str]] = []
    try:
        if start_from != "empty":
            old = Database(url, pool_size=1)
            migrate.upgrade(old, start_from)
            old.dispose()
        outputs = _start_together(3, url, tmp_path, started)
        assert not [line for lines in outputs for line in lines if line.startswith(DDL_TROUBLE)], outputs
        assert sum(line.strip().startswith("key:") for lines in outputs for line in lines) == 1, outputs
        for process, endpoint in started:
            assert process.poll() is None
            assert httpx.get(f"{endpoint}/health", timeout=10).status_code == 200
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(migrate.head_revision(),)]
            assert conn.execute("SELECT id FROM projects").fetchall() == [("default",)]
            assert conn.execute("SELECT count(*) FROM api_keys").fetchone() == (1,)
    finally:
        for process, _ in started:
            stop_process(process)
        drop_pg_database(pg_name)


def test_two_nodes_on_one_sqlite_data_dir_migrate_an_old_database_once(tmp_path):
    """SQLite's write lock (``BEGIN IMMEDIATE``) is the migration lock: the test holds it until
    both processes have the database open, then lets them race for it."""
    path = tmp_path / "nib.db"
    database = Database(f"sqlite:///{path}", pool_size=1)
    migrate.upgrade(database, "0001")
    database.dispose()
    gate = sqlite3.connect(path, isolation_level=None)
    gate.execute("BEGIN IMMEDIATE")
    started = [spawn(tmp_path) for _ in range(2)]
    try:
        deadline = time.monotonic() + 60
        while not all(_has_open(process.pid, path) for process, _ in started) and time.monotonic() < deadline:
            time.sleep(0.05)
        gate.rollback()
        gate.close()
        outputs = [wait_serving(process, endpoint) for process, endpoint in started]
        assert not [line for lines in outputs for line in lines if line.startswith(DDL_TROUBLE)], outputs
        assert sum(line.strip().startswith("key:") for lines in outputs for line in lines) == 1, outputs
        database = Database(f"sqlite:///{path}", pool_size=1)
        with database.read() as conn:
            assert migrate.current_revision(conn) == migrate.head_revision()
        database.dispose()
        for _, endpoint in started:
            assert httpx.get(f"{endpoint}/health", timeout=10).status_code == 200
    finally:
        for process, _ in started:
            stop_process(process)


def _has_open(pid: int, path: Path) -> bool:
    """Whether process ``pid`` has ``path`` open."""
    try:
        return any(Path(fd).resolve() == path.resolve() for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:  # the process's descriptors change while being listed
        return False
