"""Abuse limits on a live nib with enforcement on, counting in memory or in Redis: sign-ups are
limited to 10 per IP per hour."""

from __future__ import annotations

import ipaddress
import time
import uuid

import httpx
import pytest
import redis

from live_server import PG_AVAILABLE, create_pg_database, drop_pg_database, start_server, stop_server

REDIS_URL = "redis://127.0.0.1:6379/0"
RATE_LIMITED = "Rate limit for the current endpoint has been exceeded. Please try again after some time."
# The counters never touch the database, so each counter backend runs once, on one database each.
SERVERS = [("memory", "sqlite"), ("redis", "postgresql" if PG_AVAILABLE else "sqlite")]


@pytest.fixture(scope="module", params=SERVERS, ids=["-".join(server) for server in SERVERS])
def limited(request, tmp_path_factory):
    """A nib enforcing abuse limits (NIB_RATE_LIMITS=on whatever the caller's environment says),
    its counters in memory or in Redis."""
    counters, backend = request.param
    env = {"NIB_RATE_LIMITS": "on"}
    if counters == "redis":
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()  # required, as PostgreSQL
        env["NIB_REDIS_URL"] = REDIS_URL
    pg_name = create_pg_database() if backend == "postgresql" else None
    url = f"postgresql://postgres@127.0.0.1:5432/{pg_name}" if pg_name else None
    nib = start_server(backend, tmp_path_factory.mktemp(f"nib-rate-limits-{counters}"), url, env=env)
    yield nib
    stop_server(nib)
    if pg_name:
        drop_pg_database(pg_name)


def client(server, *, key: bool = False) -> httpx.Client:
    """Raw HTTP from an address of its own (X-Forwarded-For): its own windows, also in Redis,
    whose counters outlive the server."""
    headers = {"X-Appwrite-Project": server.project, "X-Forwarded-For": str(ipaddress.IPv6Address(uuid.uuid4().int))}
    if key:
        headers["X-Appwrite-Key"] = server.key
    return httpx.Client(base_url=server.endpoint, headers=headers, timeout=30)


def sign_up(http: httpx.Client) -> httpx.Response:
    email = f"u{uuid.uuid4().hex[:12]}@example.com"
    return http.post("/account", json={"userId": "unique()", "email": email, "password": "password123"})


def test_the_eleventh_sign_up_from_one_ip_gets_429(limited):
    """Needs POST /account (the Account branch)."""
    with client(limited) as http:
        first = sign_up(http)
        assert first.status_code == 201
        assert first.headers["x-ratelimit-limit"] == "10"
        assert first.headers["x-ratelimit-remaining"] == "9"
        assert first.headers["x-ratelimit-reset"] == str(int(time.time()) // 3600 * 3600 + 3600)
        for remaining in range(8, -1, -1):
            response = sign_up(http)
            assert response.status_code == 201
            assert response.headers["x-ratelimit-remaining"] == str(remaining)
        refused = sign_up(http)
    assert refused.status_code == 429
    assert refused.json() == {
        "message": RATE_LIMITED,
        "code": 429,
        "type": "general_rate_limit_exceeded",
        "version": "1.5.11",
    }
    assert (refused.headers["x-ratelimit-limit"], refused.headers["x-ratelimit-remaining"]) == ("10", "0")
    # Another address has a window of its own.
    with client(limited) as other:
        assert sign_up(other).headers["x-ratelimit-remaining"] == "9"


def test_api_key_callers_are_not_limited(limited):
    """Needs POST /account (the Account branch)."""
    with client(limited, key=True) as http:
        for _ in range(11):
            response = sign_up(http)
            assert response.status_code == 201
            assert response.headers["x-ratelimit-remaining"] == "9"


def test_unlimited_routes_carry_no_rate_limit_headers(limited):
    with client(limited, key=True) as http:
        for _ in range(12):
            response = http.get("/users")
            assert response.status_code == 200
            assert "x-ratelimit-limit" not in response.headers
