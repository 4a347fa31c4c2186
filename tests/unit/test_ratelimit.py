"""nib.core.ratelimit: one contract suite over every counter backend (database on SQLite and
PostgreSQL, Redis), the §1.10 limiter on top of each, and the limiter inside nib's pipeline."""

from __future__ import annotations

import hashlib
import ipaddress
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
import redis
import sqlalchemy as sa

from nib.core import projects
from nib.core.config import Settings
from nib.core.db import Database
from nib.core.db.migrate import upgrade
from nib.core.db.schema import rate_limits
from nib.core.errors import AppwriteError
from nib.core.http import Api, Param, Router
from nib.core.ratelimit import RULES, Counters, DatabaseCounters, Limiter, RedisCounters, longest_period

REDIS_URL = "redis://127.0.0.1:6379/0"
RETENTION = longest_period(RULES.values())
# The limiter's clock, fixed at a real time (ended windows get cleaned up): window arithmetic
# is exact and no test straddles a window boundary.
NOW = float(int(time.time()))
W = int(NOW) // 3600 * 3600  # the current hour's window
PROJECT = uuid.uuid4().hex  # PostgreSQL's counters outlive the run: keys unique to this run


def unique_ip() -> str:
    """A client address no other test (or earlier run sharing PostgreSQL/Redis) has used."""
    return str(ipaddress.IPv6Address(uuid.uuid4().int))


def _redis_reachable() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def store(request, tmp_path) -> Iterator[Callable[[], Counters]]:
    """Makes counters on one shared store; each call stands for another nib process."""
    made: list[Database] = []
    prefix = f"nib-test-{uuid.uuid4().hex}:"
    url = {"sqlite": f"sqlite:///{tmp_path / 'counters.db'}", "redis": REDIS_URL}.get(request.param)
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")

    def make() -> Counters:
        if request.param == "redis":
            return RedisCounters(url, prefix=prefix)
        db = Database(url, pool_size=4)
        made.append(db)
        return DatabaseCounters(db, retention=RETENTION)

    if request.param == "redis" and not _redis_reachable():
        pytest.skip("Redis is not reachable")
    if request.param != "redis":
        engine = sa.create_engine(url)
        try:
            rate_limits.create(engine, checkfirst=True)
        except sa.exc.OperationalError:
            pytest.skip("PostgreSQL is not reachable")
        finally:
            engine.dispose()
    yield make
    for db in made:
        db.dispose()
    if request.param == "redis":
        client = redis.Redis.from_url(REDIS_URL)
        for name in client.scan_iter(match=prefix + "*"):
            client.delete(name)


def unique_key() -> str:
    return hashlib.sha256(uuid.uuid4().bytes).hexdigest()


# ---------------------------------------------------------------------------------------------
# Counters: the contract every backend keeps


def test_hit_returns_the_window_count_including_itself(store):
    counters, key = store(), unique_key()
    assert counters.peek(key, W) == 0
    assert [counters.hit(key, W, 3600) for _ in range(3)] == [1, 2, 3]
    assert counters.peek(key, W) == 3


def test_windows_and_keys_count_separately(store):
    counters, key, other = store(), unique_key(), unique_key()
    counters.hit(key, W, 3600)
    assert counters.hit(key, W + 3600, 3600) == 1
    assert counters.hit(other, W, 3600) == 1
    assert counters.peek(key, W) == 1
    assert counters.peek(key, W + 7200) == 0


def test_concurrent_hits_from_two_processes_are_all_counted(store):
    """Two counter instances (two processes) on one store: atomic increments, one window."""
    first, second, key = store(), store(), unique_key()
    seen: list[int] = []
    lock = threading.Lock()

    def hammer(counters: Counters) -> None:
        for _ in range(25):
            hits = counters.hit(key, W, 3600)
            with lock:
                seen.append(hits)

    threads = [threading.Thread(target=hammer, args=(c,)) for c in (first, second, first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(seen) == list(range(1, 101))  # every hit saw its own distinct count
    assert first.peek(key, W) == second.peek(key, W) == 100


# ---------------------------------------------------------------------------------------------
# Backend specifics: ended windows do not pile up


def test_database_counters_delete_ended_windows(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'cleanup.db'}", pool_size=1)
    rate_limits.create(db.engine)
    window = int(NOW) // 3600 * 3600
    clock = [float(window)]
    counters = DatabaseCounters(db, retention=3600, clock=lambda: clock[0])
    counters.CLEANUP_INTERVAL = 0.0  # clean on every hit, to observe it
    old, live = unique_key(), unique_key()
    counters.hit(old, window, 3600)
    clock[0] = window + 3599  # the last second of ``old``'s window
    counters.hit(live, window + 3600, 3600)
    assert counters.peek(old, window) == 1
    clock[0] = window + 3601
    counters.hit(live, window + 3600, 3600)
    assert counters.peek(old, window) == 0
    assert counters.peek(live, window + 3600) == 2
    db.dispose()


def test_redis_counters_expire_at_the_window_end():
    if not _redis_reachable():
        pytest.skip("Redis is not reachable")
    counters, key = RedisCounters(REDIS_URL, prefix=f"nib-test-{uuid.uuid4().hex}:"), unique_key()
    window = int(NOW) // 60 * 60
    counters.hit(key, window, 60)
    ttl = counters.redis.ttl(counters._name(key, window))
    assert 0 < ttl <= 60
    counters.redis.delete(counters._name(key, window))


def test_unreachable_redis_is_a_503():
    counters = RedisCounters("redis://127.0.0.1:1/0")
    with pytest.raises(AppwriteError) as raised:
        counters.hit(unique_key(), 0, 60)
    assert (raised.value.type, raised.value.status) == ("general_server_error", 503)


# ---------------------------------------------------------------------------------------------
# Limiter: BEHAVIOUR.md §1.10 on every backend


FACTS = {
    "project_id": PROJECT,
    "user_id": "",
    "is_key": False,
    "ip": "203.0.113.9",
    "host": "localhost",
    "content_range": "",
    "params": {},
}


def request(limiter: Limiter, method: str, path: str, **facts) -> dict[str, str]:
    """The X-RateLimit-* headers of one admitted request."""
    headers: dict[str, str] = {}
    limiter.check(method, path, headers=headers, **{**FACTS, **facts})
    return headers


def refused(limiter: Limiter, method: str, path: str, **facts) -> dict[str, str]:
    """The X-RateLimit-* headers of one request refused with 429."""
    headers: dict[str, str] = {}
    with pytest.raises(AppwriteError) as raised:
        limiter.check(method, path, headers=headers, **{**FACTS, **facts})
    assert (raised.value.type, raised.value.status) == ("general_rate_limit_exceeded", 429)
    return headers


def limiter_on(store, **kw) -> Limiter:
    return Limiter(store(), clock=lambda: NOW, **kw)


def test_first_request_shows_limit_minus_one_and_the_window_end(store):
    limiter, ip = limiter_on(store), unique_ip()
    reset = str(int(NOW) // 3600 * 3600 + 3600)
    user = uuid.uuid4().hex
    headers = request(limiter, "POST", "/v1/account/jwt", user_id=user, ip=ip)
    assert headers == {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "99", "X-RateLimit-Reset": reset}
    assert request(limiter, "POST", "/v1/account/jwt", user_id=user, ip=ip)["X-RateLimit-Remaining"] == "98"


def test_the_eleventh_sign_up_from_one_ip_is_refused(store):
    limiter, ip = limiter_on(store), unique_ip()
    remaining = [request(limiter, "POST", "/v1/account", ip=ip)["X-RateLimit-Remaining"] for _ in range(10)]
    assert remaining == ["9", "8", "7", "6", "5", "4", "3", "2", "1", "0"]
    headers = refused(limiter, "POST", "/v1/account", ip=ip)
    assert (headers["X-RateLimit-Limit"], headers["X-RateLimit-Remaining"]) == ("10", "0")
    # Another IP, another project: their own windows.
    assert request(limiter, "POST", "/v1/account", ip=unique_ip())["X-RateLimit-Remaining"] == "9"
    other_project = uuid.uuid4().hex
    assert request(limiter, "POST", "/v1/account", ip=ip, project_id=other_project)["X-RateLimit-Remaining"] == "9"


def test_two_limiters_on_one_store_share_the_window(store):
    """Two nib processes (``--workers 2`` or two servers) on one database or Redis."""
    first, second, ip = limiter_on(store), limiter_on(store), unique_ip()
    for limiter in (first, second) * 5:
        request(limiter, "POST", "/v1/account", ip=ip)
    refused(second, "POST", "/v1/account", ip=ip)
    refused(first, "POST", "/v1/account", ip=ip)


def test_a_new_window_starts_afresh(store):
    clock = [NOW]
    limiter, ip = Limiter(store(), clock=lambda: clock[0]), unique_ip()
    for _ in range(10):
        request(limiter, "POST", "/v1/account", ip=ip)
    clock[0] = NOW + 3600
    headers = request(limiter, "POST", "/v1/account", ip=ip)
    assert headers["X-RateLimit-Remaining"] == "9"
    assert headers["X-RateLimit-Reset"] == str(int(NOW) // 3600 * 3600 + 7200)


def test_api_keys_and_disabled_enforcement_are_never_counted(store):
    ip = unique_ip()
    keyed = limiter_on(store)
    off = limiter_on(store, enforce=False)
    for _ in range(12):
        assert request(keyed, "POST", "/v1/account", ip=ip, is_key=True)["X-RateLimit-Remaining"] == "9"
        assert request(off, "POST", "/v1/account", ip=ip)["X-RateLimit-Remaining"] == "9"
    # Disabled enforcement still reports what enforcing processes counted.
    request(keyed, "POST", "/v1/account", ip=ip)
    assert request(off, "POST", "/v1/account", ip=ip)["X-RateLimit-Remaining"] == "8"


def test_routes_without_a_rule_get_no_headers_and_no_count(store):
    limiter = limiter_on(store)
    assert limiter.limited("POST", "/v1/account") and not limiter.limited("GET", "/v1/users")
    assert request(limiter, "GET", "/v1/users") == {}
    assert request(limiter, "GET", "/v1/account") == {}


def test_the_tightest_of_several_keys_is_reported(store):
    """Magic URL tokens: one window per e-mail and one per IP, 60 each."""
    limiter, ip, a, b = limiter_on(store), unique_ip(), f"a{uuid.uuid4().hex}@x.io", f"b{uuid.uuid4().hex}@x.io"
    for _ in range(3):
        request(limiter, "POST", "/v1/account/tokens/magic-url", ip=ip, params={"email": a})
    headers = request(limiter, "POST", "/v1/account/tokens/magic-url", ip=ip, params={"email": b})
    assert headers["X-RateLimit-Remaining"] == "56"  # ip: 4 hits; b@x.io: 1


def test_params_key_windows_and_empty_params_share_the_literal_key(store):
    limiter, email = limiter_on(store), f"{uuid.uuid4().hex}@x.io"
    path = "/v1/account/sessions/email"
    assert request(limiter, "POST", path, params={"email": email})["X-RateLimit-Remaining"] == "9"
    # The alias counts against the same route's window.
    assert request(limiter, "POST", "/v1/account/sessions", params={"email": email})["X-RateLimit-Remaining"] == "8"
    project = uuid.uuid4().hex  # the literal "{param-email}" key is shared by all empty e-mails
    assert request(limiter, "POST", path, project_id=project, params={"email": ""})["X-RateLimit-Remaining"] == "9"
    assert request(limiter, "POST", path, project_id=project, params={})["X-RateLimit-Remaining"] == "8"


def test_user_keys_hostname_and_chunk_ids(store):
    limiter, ip, u1, u2 = limiter_on(store), unique_ip(), uuid.uuid4().hex, uuid.uuid4().hex
    jwt = "/v1/account/jwt"
    request(limiter, "POST", jwt, user_id=u1, ip=ip)
    assert request(limiter, "POST", jwt, user_id=u2, ip=ip)["X-RateLimit-Remaining"] == "99"
    # {url} is the Host without port: localhost:8080 and LOCALHOST are one window.
    assert request(limiter, "POST", jwt, user_id=u1, host="LOCALHOST:8080")["X-RateLimit-Remaining"] == "98"
    upload = "/v1/storage/buckets/{bucketId}/files"
    first = {"ip": ip, "content_range": "bytes 0-99/250"}
    assert request(limiter, "POST", upload, **first)["X-RateLimit-Reset"] == str(int(NOW) // 60 * 60 + 60)
    assert request(limiter, "POST", upload, **first)["X-RateLimit-Remaining"] == "58"
    second = {"ip": ip, "content_range": "bytes 100-199/250"}
    assert request(limiter, "POST", upload, **second)["X-RateLimit-Remaining"] == "59"


# ---------------------------------------------------------------------------------------------
# The pipeline: nib's own Api with a test router registering limited path templates

test_router = Router()


@test_router.post("/v1/account", scope="sessions.write", params=[Param("email")], status=201)
def _sign_up(ctx, email):
    return {"email": email}


@test_router.post("/v1/account/jwt", scope="account")
def _jwt(ctx):
    return {"jwt": "x"}


@test_router.get("/v1/things", scope="sessions.write")
def _things(ctx):
    return {"total": 0}


@pytest.fixture(scope="module")
def installation(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("ratelimit-api")
    db = Database(f"sqlite:///{data_dir / 'nib.db'}", pool_size=2)
    upgrade(db)
    key = projects.bootstrap(db)["secret"]
    yield db, data_dir, key
    db.dispose()


@pytest.fixture(params=["database", "redis"])
def client_for(request, installation) -> Callable[..., httpx.AsyncClient]:
    """An HTTP client of nib's Api with the test router, counting in the database or Redis."""
    if request.param == "redis" and not _redis_reachable():
        pytest.skip("Redis is not reachable")
    db, data_dir, key = installation

    def make(abuse: bool = True, with_key: bool = False) -> httpx.AsyncClient:
        redis_url = REDIS_URL if request.param == "redis" else None
        api = Api(db, Settings(data_dir=data_dir, redis_url=redis_url, abuse=abuse), [test_router])
        headers = {"X-Appwrite-Project": "default", "X-Forwarded-For": unique_ip()}
        if with_key:
            headers["X-Appwrite-Key"] = key
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://localhost", headers=headers)

    return make


@pytest.mark.anyio
async def test_pipeline_refuses_the_eleventh_request_with_headers(client_for):
    async with client_for() as client:
        first = await client.post("/v1/account", json={"email": "a@x.io"})
        assert first.status_code == 201
        assert first.headers["x-ratelimit-limit"] == "10"
        assert first.headers["x-ratelimit-remaining"] == "9"
        assert first.headers["x-ratelimit-reset"] == str(int(time.time()) // 3600 * 3600 + 3600)
        # Counted before parameter validation: a 400 uses up a hit and carries the headers too.
        invalid = await client.post("/v1/account", json={})
        assert (invalid.status_code, invalid.json()["type"]) == (400, "general_argument_invalid")
        assert invalid.headers["x-ratelimit-remaining"] == "8"
        for _ in range(8):
            assert (await client.post("/v1/account", json={"email": "a@x.io"})).status_code == 201
        refused = await client.post("/v1/account", json={"email": "a@x.io"})
    assert (refused.status_code, refused.json()["type"]) == (429, "general_rate_limit_exceeded")
    assert refused.json()["message"] == (
        "Rate limit for the current endpoint has been exceeded. Please try again after some time."
    )
    assert refused.headers["x-ratelimit-limit"] == "10"
    assert refused.headers["x-ratelimit-remaining"] == "0"


@pytest.mark.anyio
@pytest.mark.parametrize("caller", [{"with_key": True}, {"abuse": False}], ids=["api-key", "abuse-disabled"])
async def test_pipeline_api_keys_and_disabled_abuse_are_not_limited(client_for, caller):
    async with client_for(**caller) as client:
        for _ in range(11):
            response = await client.post("/v1/account", json={"email": "a@x.io"})
            assert response.status_code == 201
            assert response.headers["x-ratelimit-remaining"] == "9"


@pytest.mark.anyio
async def test_pipeline_scope_check_comes_first_and_unlimited_routes_have_no_headers(client_for):
    async with client_for() as client:
        refused = await client.post("/v1/account/jwt")
        listed = await client.get("/v1/things")
    assert (refused.status_code, refused.json()["type"]) == (401, "general_unauthorized_scope")
    assert "x-ratelimit-limit" not in refused.headers
    assert listed.status_code == 200
    assert "x-ratelimit-limit" not in listed.headers
