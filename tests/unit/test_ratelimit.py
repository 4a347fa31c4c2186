"""nib.http.ratelimit: one contract suite over both counter backends (memory, and the Redis
running here), the abuse limiter on top of each, per-route overrides, and the limiter inside
nib's pipeline."""

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
from click.testing import CliRunner

from nib.app import ROUTERS
from nib.auth import projects
from nib.cli import main
from nib.data.db import Database
from nib.data.db.migrate import upgrade
from nib.http.pipeline import Api
from nib.http.ratelimit import RULES, Counters, Limiter, MemoryCounters, RedisCounters, with_overrides
from nib.http.routing import Param, Router
from nib.tools.config import Settings
from nib.tools.errors import AppwriteError

REDIS_URL = "redis://127.0.0.1:6379/0"
# The limiter's clock, fixed at a real time (Redis expires windows by the wall clock): window
# arithmetic is exact and no test straddles a window boundary.
NOW = float(int(time.time()))
W = int(NOW) // 3600 * 3600  # the current hour's window


@pytest.fixture(autouse=True)
def now():
    """Every test starts at the real present (Redis expires keys by the real clock, and the suite
    runs for minutes after this module is imported)."""
    global NOW, W
    NOW = float(int(time.time()))
    W = int(NOW) // 3600 * 3600


PROJECT = uuid.uuid4().hex  # Redis counters outlive the run: keys unique to this run


def unique_ip() -> str:
    """A client address no other test (or earlier run sharing Redis) has used."""
    return str(ipaddress.IPv6Address(uuid.uuid4().int))


@pytest.fixture
def redis_store() -> Iterator[Callable[[], RedisCounters]]:
    """Makes counters on the Redis running here (required, as PostgreSQL is); each call stands
    for another nib process on that Redis."""
    prefix = f"nib-test-{uuid.uuid4().hex}:"
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    client.ping()
    yield lambda: RedisCounters(REDIS_URL, prefix=prefix)
    for name in client.scan_iter(match=prefix + "*"):
        client.delete(name)


@pytest.fixture(params=["memory", "redis"])
def store(request) -> Callable[[], Counters]:
    """Makes counters of one backend: in memory (each call a new process's) or in Redis."""
    return MemoryCounters if request.param == "memory" else request.getfixturevalue("redis_store")


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


def hammer(counters_per_thread: list[Counters], key: str) -> list[int]:
    """25 hits of ``key`` from one thread per counters given; every count the hits saw."""
    seen: list[int] = []
    lock = threading.Lock()

    def run(counters: Counters) -> None:
        for _ in range(25):
            hits = counters.hit(key, W, 3600)
            with lock:
                seen.append(hits)

    threads = [threading.Thread(target=run, args=(counters,)) for counters in counters_per_thread]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(seen)


def test_concurrent_hits_from_worker_threads_are_all_counted(store):
    """nib runs handlers in a thread pool: one process's counters take hits from many threads."""
    counters, key = store(), unique_key()
    assert hammer([counters] * 4, key) == list(range(1, 101))  # every hit saw its own count
    assert counters.peek(key, W) == 100


def test_two_processes_on_one_redis_count_into_one_window(redis_store):
    first, second, key = redis_store(), redis_store(), unique_key()
    assert hammer([first, second, first, second], key) == list(range(1, 101))
    assert first.peek(key, W) == second.peek(key, W) == 100


# ---------------------------------------------------------------------------------------------
# Backend specifics: ended windows do not pile up


def test_memory_counters_drop_ended_windows():
    hour = int(NOW) // 3600 * 3600
    clock = [float(hour)]
    counters = MemoryCounters(clock=lambda: clock[0])
    for key in ("a", "b", "c"):
        counters.hit(key, hour, 3600)
    counters.hit("upload", hour, 60)  # a 60 s window starting on the hour is kept for the hour
    clock[0] = hour + 120
    counters.hit("upload", hour + 120, 60)
    assert (counters.size(), counters.peek("a", hour), counters.peek("upload", hour)) == (5, 1, 1)
    clock[0] = hour + 3600  # the hour has ended, and with it every window begun in it
    assert counters.hit("a", hour + 3600, 3600) == 1
    assert counters.size() == 1
    assert (counters.peek("a", hour), counters.peek("b", hour), counters.peek("upload", hour + 120)) == (0, 0, 0)


def test_redis_counters_expire_at_the_window_end(redis_store):
    counters, key = redis_store(), unique_key()
    window = int(NOW) // 60 * 60
    counters.hit(key, window, 60)
    ttl = counters.redis.ttl(counters._name(key, window))
    assert 0 < ttl <= 60


def test_unreachable_redis_is_a_503():
    counters = RedisCounters("redis://127.0.0.1:1/0")
    with pytest.raises(AppwriteError) as raised:
        counters.hit(unique_key(), 0, 60)
    assert (raised.value.type, raised.value.status) == ("general_server_error", 503)


@pytest.mark.parametrize("uncounted", [{"enforce": False}, {"is_key": True}], ids=["enforcement-off", "api-key"])
def test_uncounted_requests_pass_without_headers_while_redis_is_unreachable(uncounted):
    enforce = uncounted.get("enforce", True)
    limiter = Limiter(RedisCounters("redis://127.0.0.1:1/0"), enforce=enforce, clock=lambda: NOW)
    assert request(limiter, "POST", "/v1/account", is_key=uncounted.get("is_key", False)) == {}


# ---------------------------------------------------------------------------------------------
# Limiter: Appwrite's abuse limits on every backend


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
    """A limiter at ``NOW`` with counters of its own (a process of its own)."""
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


def test_two_limiters_on_one_redis_share_the_window(redis_store):
    """Two nib processes (``--workers 2`` or two servers) on one Redis."""
    first, second, ip = limiter_on(redis_store), limiter_on(redis_store), unique_ip()
    for limiter in (first, second) * 5:
        request(limiter, "POST", "/v1/account", ip=ip)
    refused(second, "POST", "/v1/account", ip=ip)
    refused(first, "POST", "/v1/account", ip=ip)


def test_processes_counting_in_memory_count_on_their_own():
    """Without Redis, each of ``--workers N`` has its own windows (documented in the README)."""
    first, second, ip = limiter_on(MemoryCounters), limiter_on(MemoryCounters), unique_ip()
    for _ in range(10):
        request(first, "POST", "/v1/account", ip=ip)
    refused(first, "POST", "/v1/account", ip=ip)
    assert request(second, "POST", "/v1/account", ip=ip)["X-RateLimit-Remaining"] == "9"


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
    ip, counters = unique_ip(), store()
    keyed = Limiter(counters, clock=lambda: NOW)
    off = Limiter(counters, enforce=False, clock=lambda: NOW)
    for _ in range(12):
        assert request(keyed, "POST", "/v1/account", ip=ip, is_key=True)["X-RateLimit-Remaining"] == "9"
        assert request(off, "POST", "/v1/account", ip=ip)["X-RateLimit-Remaining"] == "9"
    # Disabled enforcement still reports what was counted with enforcement on.
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
# Configuration: NIB_RATE_LIMITS and NIB_RATE_LIMITS_OVERRIDES


def test_overrides_change_limit_and_period_for_every_spelling_of_the_route():
    rules = with_overrides(
        '{"POST /v1/account/sessions": {"limit": 3, "period": 60}, "POST /v1/account": {"limit": 20}}'
    )
    sessions = rules[("POST", "/v1/account/sessions/email")]
    assert rules[("POST", "/v1/account/sessions")] is sessions
    assert (sessions.limit, sessions.period, sessions.keys) == (3, 60, ("url:{url},email:{param-email}",))
    assert (rules[("POST", "/v1/account")].limit, rules[("POST", "/v1/account")].period) == (20, 3600)
    assert rules[("POST", "/v1/account/jwt")] is RULES[("POST", "/v1/account/jwt")]  # the rest as they were
    assert RULES[("POST", "/v1/account")].limit == 10  # the table itself is left alone


def test_an_override_with_limit_zero_lifts_the_limit_as_appwrite_does():
    rules = with_overrides('{"POST /v1/account/jwts": {"limit": 0}}')
    assert ("POST", "/v1/account/jwt") not in rules and ("POST", "/v1/account/jwts") not in rules
    limiter = Limiter(MemoryCounters(), rules=rules, clock=lambda: NOW)
    assert request(limiter, "POST", "/v1/account/jwt", user_id="u") == {}


@pytest.mark.parametrize("text", ["", "  ", "{}"])
def test_no_overrides_keep_the_table(text):
    assert with_overrides(text) == RULES


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ('[{"limit": 1}]', "expected a JSON object"),
        ('{"POST /v1/nothing": {"limit": 1}}', "'POST /v1/nothing' is not a rate-limited route; the routes are: "),
        ('{"POST /account": {"limit": 1}}', "'POST /account' is not a rate-limited route"),
        ('{"GET /v1/account": {"limit": 1}}', "'GET /v1/account' is not a rate-limited route"),
        ('{"POST /v1/account": 5}', '\'POST /v1/account\': expected {"limit": …, "period": …} (either or both), got 5'),
        ('{"POST /v1/account": {}}', 'expected {"limit"'),
        ('{"POST /v1/account": {"limit": 1, "window": 60}}', 'expected {"limit"'),
        ('{"POST /v1/account": {"limit": -1}}', "'POST /v1/account': limit must be a whole number >= 0, got -1"),
        ('{"POST /v1/account": {"limit": 2.5}}', "limit must be a whole number >= 0, got 2.5"),
        ('{"POST /v1/account": {"limit": "20"}}', 'limit must be a whole number >= 0, got "20"'),
        ('{"POST /v1/account": {"limit": true}}', "limit must be a whole number >= 0, got true"),
        ('{"POST /v1/account": {"period": 0}}', "period must be a whole number >= 1, got 0"),
        (
            '{"POST /v1/account/sessions": {"limit": 1}, "POST /v1/account/sessions/email": {"limit": 2}}',
            "'POST /v1/account/sessions/email' and 'POST /v1/account/sessions' are one route; override it once",
        ),
    ],
)
def test_bad_overrides_are_refused_naming_the_entry(text, message):
    with pytest.raises(ValueError) as raised:
        with_overrides(text)
    assert message in str(raised.value)


def test_method_is_case_insensitive_in_override_keys():
    assert with_overrides('{"post /v1/account": {"limit": 4}}')[("POST", "/v1/account")].limit == 4


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ["--rate-limits-overrides", '{"POST /v1/nothing": {"limit": 1}}'],
            {},
            "'POST /v1/nothing' is not a rate-limited route",
        ),
        (
            [],
            {"NIB_RATE_LIMITS_OVERRIDES": '{"POST /v1/account": {"period": 0}}'},
            "period must be a whole number >= 1",
        ),
        (["--rate-limits", "disabled"], {}, "'disabled' is not one of 'on', 'off'"),
        ([], {"NIB_RATE_LIMITS": "maybe"}, "'maybe' is not one of 'on', 'off'"),
    ],
)
def test_nib_serve_refuses_bad_rate_limit_settings_before_starting(args, env, message, tmp_path):
    result = CliRunner().invoke(main, ["serve", "--data-dir", str(tmp_path / "data"), *args], env=env)
    assert result.exit_code == 2
    assert "Invalid value for '--rate-limits" in result.output
    assert message in result.output
    assert not (tmp_path / "data").exists()  # refused before the database was touched


@pytest.mark.parametrize(("value", "enforced"), [(None, True), ("on", True), ("OFF", False), ("off", False)])
def test_settings_read_nib_rate_limits(monkeypatch, value, enforced):
    if value is None:
        monkeypatch.delenv("NIB_RATE_LIMITS", raising=False)
    else:
        monkeypatch.setenv("NIB_RATE_LIMITS", value)
    monkeypatch.setenv("NIB_RATE_LIMITS_OVERRIDES", '{"POST /v1/account": {"limit": 2}}')
    settings = Settings.from_env()
    assert (settings.rate_limits, settings.rate_limits_overrides) == (enforced, '{"POST /v1/account": {"limit": 2}}')


def test_settings_refuse_an_unknown_nib_rate_limits(monkeypatch):
    monkeypatch.setenv("NIB_RATE_LIMITS", "disabled")
    with pytest.raises(ValueError, match="NIB_RATE_LIMITS must be 'on' or 'off', got 'disabled'"):
        Settings.from_env()


# ---------------------------------------------------------------------------------------------
# The pipeline: nib's own Api with a test router registering limited path templates

test_router = Router()


@test_router.post("/v1/account", scope="sessions.write", params=[Param("email")], status=201)
def _sign_up(ctx, email):
    return {"email": email}


@test_router.post("/v1/account/jwt", scope="account")
def _jwt(ctx):
    return {"jwt": "x"}


@test_router.post("/v1/account/sessions/anonymous", scope="sessions.write", status=201)
def _anonymous(ctx):
    return {"userId": "x"}


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


@pytest.fixture(params=["memory", "redis"])
def client_for(request, installation) -> Callable[..., httpx.AsyncClient]:
    """An HTTP client of nib's Api with the test router, counting in memory or in Redis."""
    db, data_dir, key = installation

    def make(rate_limits: bool = True, with_key: bool = False, overrides: str = "") -> httpx.AsyncClient:
        redis_url = REDIS_URL if request.param == "redis" else None
        settings = Settings(
            data_dir=data_dir, redis_url=redis_url, rate_limits=rate_limits, rate_limits_overrides=overrides
        )
        api = Api(db, settings, [test_router])
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
@pytest.mark.parametrize("caller", [{"with_key": True}, {"rate_limits": False}], ids=["api-key", "rate-limits-off"])
async def test_pipeline_api_keys_and_rate_limits_off_are_not_limited(client_for, caller):
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


@pytest.mark.anyio
async def test_pipeline_applies_per_route_overrides(client_for):
    overrides = (
        '{"POST /v1/account": {"limit": 2, "period": 86400}, "POST /v1/account/sessions/anonymous": {"limit": 0}}'
    )
    async with client_for(overrides=overrides) as client:
        first = await client.post("/v1/account", json={"email": "a@x.io"})
        second = await client.post("/v1/account", json={"email": "a@x.io"})
        refused = await client.post("/v1/account", json={"email": "a@x.io"})
    assert (first.status_code, first.headers["x-ratelimit-limit"], first.headers["x-ratelimit-remaining"]) == (
        201,
        "2",
        "1",
    )
    assert first.headers["x-ratelimit-reset"] == str(int(time.time()) // 86400 * 86400 + 86400)
    assert (second.status_code, second.headers["x-ratelimit-remaining"]) == (201, "0")
    assert (refused.status_code, refused.json()["type"]) == (429, "general_rate_limit_exceeded")
    async with client_for() as client:
        limited = await client.post("/v1/account/sessions/anonymous")
    async with client_for(overrides=overrides) as client:
        lifted = await client.post("/v1/account/sessions/anonymous")
    assert (limited.status_code, limited.headers["x-ratelimit-limit"]) == (201, "50")
    assert lifted.status_code == 201
    assert "x-ratelimit-limit" not in lifted.headers


def test_every_path_of_a_limited_route_is_limited():
    # An alias (another path on the same handler, e.g. the pre-1.5 POST /account/sessions/magic-url)
    # must count against the same limit, or it bypasses it.
    routes = [route for router in ROUTERS for route in router.routes]
    limited = {route.handler for route in routes if (route.method, route.path) in RULES}
    unlimited = [
        f"{route.method} {route.path}"
        for route in routes
        if route.handler in limited and (route.method, route.path) not in RULES
    ]
    assert unlimited == []
    magic = RULES[("POST", "/v1/account/sessions/magic-url")]
    assert magic is RULES[("POST", "/v1/account/tokens/magic-url")] and magic.limit == 60
