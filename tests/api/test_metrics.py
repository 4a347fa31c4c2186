"""Prometheus metrics of `nib serve --workers 2`: one scrape sums both workers (requests, latency,
bytes, rate-limit denials, password hashes, uploads, realtime connections, the database pool);
`--metrics-port` listens on loopback only; GET /v1/metrics needs NIB_METRICS_TOKEN as a bearer
token and does not exist without it."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from account_support import guest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from storage_support import multipart, new_bucket, paused_multipart, unique_id
from users_support import unique_email

from live_server import NibServer, free_port, start_server, stop_server
from realtime_client import Subscriber

TOKEN = "metrics-token-of-the-test"
PASSWORD = "correct-horse-1"
# One sign-in per e-mail address and hour per worker: three attempts on two workers meet a 429.
SIGN_IN_LIMIT = json.dumps({"POST /v1/account/sessions/email": {"limit": 1, "period": 3600}})


@pytest.fixture(scope="module")
def nib(tmp_path_factory) -> NibServer:
    port = free_port()
    env = {
        "NIB_WORKERS": "2",
        "NIB_METRICS_PORT": str(port),
        "NIB_METRICS_TOKEN": TOKEN,
        "NIB_RATE_LIMITS": "on",
        "NIB_RATE_LIMITS_OVERRIDES": SIGN_IN_LIMIT,
        "NIB_SMTP_HOST": "",
    }
    server = start_server("sqlite", tmp_path_factory.mktemp("nib-metrics"), env=env)
    server.env["metrics_port"] = str(port)
    yield server
    stop_server(server)


def scrape(nib: NibServer) -> dict[tuple[str, tuple], float]:
    """The listener's metrics as {(sample name, sorted labels): value}."""
    text = httpx.get(f"http://127.0.0.1:{nib.env['metrics_port']}/metrics", timeout=10).text
    return samples(text)


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def workers(nib: NibServer) -> list[int]:
    """The worker processes of the server (uvicorn's children that run the app)."""
    children = Path(f"/proc/{nib.process.pid}/task/{nib.process.pid}/children").read_text().split()
    return [int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def metrics_dir(nib: NibServer) -> Path:
    """The directory the workers write their values to (set by `nib serve` before they started)."""
    environ = Path(f"/proc/{workers(nib)[0]}/environ").read_bytes().split(b"\0")
    found = [entry.split(b"=", 1)[1] for entry in environ if entry.startswith(b"PROMETHEUS_MULTIPROC_DIR=")]
    return Path(found[0].decode())


def test_one_scrape_sums_the_requests_of_both_workers(nib):
    user_id = unique_id("u")
    with nib.http() as http:
        assert http.post("/users", json={"userId": user_id}).status_code == 201
    before = scrape(nib)
    route = {"method": "GET", "route": "/v1/users/{userId}"}

    def get(_: int) -> int:
        # A connection per request: the kernel hands each to whichever worker accepts first.
        headers = {"X-Appwrite-Project": nib.project, "X-Appwrite-Key": nib.key}
        return httpx.get(f"{nib.endpoint}/users/{user_id}", headers=headers, timeout=30).status_code

    def per_worker() -> list[float]:
        counts = []
        for pid in workers(nib):
            files = [str(path) for path in metrics_dir(nib).glob(f"*_{pid}.db")]
            own = samples_of(MultiProcessCollector.merge(files, accumulate=True))
            counts.append(value(own, requests, status="200", **route))
        return counts

    requests = "nib_http_requests_total"
    # Batches of 80 until both workers served some (the kernel almost always spreads the first).
    sent = 0
    with ThreadPoolExecutor(8) as pool:
        while sent == 0 or (sent < 800 and not all(per_worker())):
            assert list(pool.map(get, range(80))) == [200] * 80
            sent += 80
    after = scrape(nib)
    assert value(after, requests, status="200", **route) - value(before, requests, status="200", **route) == sent
    counted = value(after, "nib_http_request_duration_seconds_count", **route)
    assert counted - value(before, "nib_http_request_duration_seconds_count", **route) == sent
    assert value(after, "nib_http_request_duration_seconds_bucket", le="+Inf", **route) == counted
    assert value(after, "nib_http_request_duration_seconds_sum", **route) > 0
    body_bytes = value(after, "nib_http_response_body_bytes_total", **route)
    assert body_bytes - value(before, "nib_http_response_body_bytes_total", **route) >= sent * len(user_id)
    # The raw path is never a label: only the route's template.
    assert not [key for key in after if any(v == f"/v1/users/{user_id}" for _, v in key[1])]

    # Both workers served some of them, and the scrape is their sum.
    counts = per_worker()
    assert len(counts) == 2 and all(count > 0 for count in counts), counts
    assert sum(counts) == value(after, requests, status="200", **route)


def samples_of(families) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        for sample in family.samples
    }


def test_denials_hashes_and_bytes_received(nib):
    email = unique_email("metrics")
    before = scrape(nib)
    with guest(nib) as http:
        signed_up = http.post("/account", json={"userId": unique_id("u"), "email": email, "password": PASSWORD})
        assert signed_up.status_code == 201, signed_up.text
        attempts = [
            http.post("/account/sessions/email", json={"email": email, "password": "wrong-password-1"}).status_code
            for _ in range(3)
        ]
    assert 429 in attempts and set(attempts) <= {401, 429}, attempts
    after = scrape(nib)
    route = {"method": "POST", "route": "/v1/account/sessions/email"}
    denials = value(after, "nib_rate_limit_denials_total", **route) - value(
        before, "nib_rate_limit_denials_total", **route
    )
    assert denials == attempts.count(429)
    for status in (401, 429):
        counted = value(after, "nib_http_requests_total", status=str(status), **route)
        assert counted - value(before, "nib_http_requests_total", status=str(status), **route) == attempts.count(status)
    # The sign-up hashed its password; each sign-in that got past the limit verified one.
    hashes = value(after, "nib_password_hashes_total", algorithm="argon2")
    assert hashes - value(before, "nib_password_hashes_total", algorithm="argon2") == 1 + attempts.count(401)
    received = value(after, "nib_http_request_body_bytes_total", method="POST", route="/v1/account")
    assert received - value(before, "nib_http_request_body_bytes_total", method="POST", route="/v1/account") == len(
        signed_up.request.content
    )


def test_uploads_in_progress_and_their_bytes(nib):
    bucket_id = new_bucket(nib)
    route = {"method": "POST", "route": "/v1/storage/buckets/{bucketId}/files"}
    data = b"\x00\x00\x00\x18ftypmp42" + bytes(300_000)
    half_sent, go_on = threading.Event(), threading.Event()
    body, headers = paused_multipart(unique_id("f"), data, half_sent, go_on)
    headers |= {"X-Appwrite-Project": nib.project, "X-Appwrite-Key": nib.key}
    before = scrape(nib)
    answers: list[httpx.Response] = []
    sender = threading.Thread(
        target=lambda: answers.append(
            httpx.post(f"{nib.endpoint}/storage/buckets/{bucket_id}/files", content=body, headers=headers, timeout=60)
        )
    )
    sender.start()
    try:
        assert half_sent.wait(30)
        during = _until(nib, lambda found: value(found, "nib_uploads_in_progress") == 1)
        assert value(during, "nib_http_requests_in_flight") >= 1
    finally:
        go_on.set()
        sender.join(60)
    assert answers and answers[0].status_code == 201, answers
    after = _until(nib, lambda found: value(found, "nib_uploads_in_progress") == 0)
    received = value(after, "nib_http_request_body_bytes_total", **route)
    assert received - value(before, "nib_http_request_body_bytes_total", **route) > len(data)
    # A small upload in one request, and the pool gave back every connection once idle.
    with nib.http() as http:
        done = http.post(f"/storage/buckets/{bucket_id}/files", **multipart(unique_id("f"), "a.txt", b"hello"))
    assert done.status_code == 201, done.text
    idle = scrape(nib)
    assert value(idle, "nib_db_connections_checked_out") == 0
    assert ("nib_db_connections_checked_out", ()) in idle


def test_realtime_connections(nib):
    assert value(scrape(nib), "nib_realtime_connections") == 0
    with Subscriber(nib, ["files"]), Subscriber(nib, ["files"]):
        assert value(scrape(nib), "nib_realtime_connections") == 2
    _until(nib, lambda found: value(found, "nib_realtime_connections") == 0)


def _until(nib: NibServer, condition, seconds: float = 10) -> dict:
    """The first scrape that meets ``condition`` within ``seconds`` (the server sees a closed
    socket or a paused body a moment after the client)."""
    deadline = time.monotonic() + seconds
    while True:
        found = scrape(nib)
        if condition(found) or time.monotonic() > deadline:
            assert condition(found), found
            return found
        time.sleep(0.1)


def test_the_metrics_route_needs_the_token(nib):
    url = f"{nib.endpoint}/metrics"
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": TOKEN}):
        refused = httpx.get(url, headers=headers, timeout=10)
        assert refused.status_code == 401
        assert refused.json() == {
            "message": "The metrics need Authorization: Bearer <NIB_METRICS_TOKEN>.",
            "code": 401,
            "type": "general_access_forbidden",
            "version": "1.5.11",
        }
        assert refused.headers["WWW-Authenticate"] == "Bearer"
    served = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert served.status_code == 200
    assert served.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    found = samples(served.text)
    assert value(found, "nib_http_requests_total", method="GET", route="/v1/metrics", status="401") >= 3


def test_the_listener_is_bound_to_loopback(nib):
    port = int(nib.env["metrics_port"])
    listening = [
        line.split()[1]
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if line.split()[3] == "0A" and line.split()[1].endswith(f":{port:04X}")
    ]
    assert listening == [f"0100007F:{port:04X}"]  # 127.0.0.1, never 0.0.0.0


def test_without_a_token_there_is_no_metrics_route(tmp_path):
    port = free_port()
    server = start_server("sqlite", tmp_path, env={"NIB_METRICS_PORT": str(port), "NIB_SMTP_HOST": ""})
    try:
        for headers in ({}, {"Authorization": "Bearer anything"}, {"Authorization": f"Bearer {TOKEN}"}):
            missing = httpx.get(f"{server.endpoint}/metrics", headers=headers, timeout=10)
            assert missing.status_code == 404
            assert missing.json()["type"] == "general_route_not_found"
        with server.http() as http:
            assert http.get("/users").status_code == 200
        found = samples(httpx.get(f"http://127.0.0.1:{port}/", timeout=10).text)
        assert value(found, "nib_http_requests_total", method="GET", route="/v1/users", status="200") == 1
        assert value(found, "nib_http_requests_total", method="GET", route="unmatched", status="404") == 3
    finally:
        stop_server(server)
