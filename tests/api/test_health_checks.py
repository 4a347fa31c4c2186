"""Appwrite's /v1/health/* against a live nib: the official SDK's Health service of both
generations (5.0.3, the 1.5-era SDK; 21.0.0, the newest that has a Health service), scopes, and
checks that fail as Appwrite's do (503 general_server_error)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import httpx
import pytest

import sdk_cache
from live_server import free_port
from s3_server import new_bucket, s3_env

VERSION = "1.5.11"
PATHS = (
    "/health/db",
    "/health/cache",
    "/health/pubsub",
    "/health/storage/local",
    "/health/storage",
    "/health/anti-virus",
)

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import appwrite
    from appwrite.client import Client
    from appwrite.services.health import Health

    endpoint, project, key = sys.argv[1:4]
    health = Health(Client().set_endpoint(endpoint).set_project(project).set_key(key))
    results = {"sdk_file": appwrite.__file__}
    for name in ("get", "get_db", "get_cache", "get_pub_sub", "get_storage_local", "get_storage", "get_antivirus"):
        value = getattr(health, name)()
        # 5.0.3 returns the JSON as a dict; 21.0.0 a model it validated (SDK enums become strings)
        results[name] = value if isinstance(value, dict) else json.loads(value.to_json())
    print(json.dumps(results))
    """
)


def sdk_health(nib, version: str) -> dict:
    directory = sdk_cache.install_sdk(version)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, nib.endpoint, nib.project, nib.key],
        env={**os.environ, "PYTHONPATH": str(directory)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert results.pop("sdk_file").startswith(str(directory))  # that SDK, not the venv's newest
    return results


def get(nib, path: str, key: str | None = "") -> httpx.Response:
    headers = {"X-Appwrite-Project": nib.project}
    if key is not None:
        headers["X-Appwrite-Key"] = key or nib.key
    return httpx.get(nib.endpoint + path, headers=headers, timeout=60)


def assert_failed(response: httpx.Response, message_start: str) -> None:
    assert response.status_code == 503, response.text
    body = response.json()
    assert set(body) == {"message", "code", "type", "version"}
    assert (body["code"], body["type"], body["version"]) == (503, "general_server_error", VERSION)
    assert body["message"].startswith(message_start), body["message"]


def closed_port() -> int:
    return free_port()  # bound and released: nothing listens there


@pytest.mark.parametrize("version", ["5.0.3", "21.0.0"])
def test_both_sdk_generations_read_every_check(server, version):
    results = sdk_health(server, version)
    assert results["get"]["name"] == "database" and results["get"]["status"] == "pass"
    for name, check in (("get_db", "database"), ("get_cache", "memory"), ("get_pub_sub", "memory")):
        result = results[name]
        assert result["total"] == 1
        assert result["statuses"] == [{"name": check, "ping": result["statuses"][0]["ping"], "status": "pass"}]
        if version == "5.0.3":  # the 1.5 model's fields, for apps written against it
            assert (result["name"], result["status"]) == (check, "pass")
            assert result["ping"] == result["statuses"][0]["ping"] >= 0
    assert results["get_storage_local"]["name"] == "local" and results["get_storage_local"]["status"] == "pass"
    assert results["get_storage"]["name"] == "local" and results["get_storage"]["status"] == "pass"
    assert results["get_antivirus"] == {"status": "disabled", "version": ""}


def test_every_check_needs_health_read_which_every_key_has(server):
    from appwrite.services.users import Users

    made = server.cli("keys", "create", "--project", server.project, "--name", "narrow", "--scopes", "users.read")
    secret = made.stdout.strip().splitlines()[-1]
    for path in PATHS:
        assert get(server, path, key=secret).status_code == 200, path
        guest = get(server, path, key=None)
        assert guest.status_code == 401, path
        assert guest.json()["type"] == "general_unauthorized_scope"
        assert guest.json()["message"] == "User (role: guests) missing scope (health.read)"
    assert Users(server.sdk(key=secret)).list().total >= 0  # the key works for its own scope too


def test_an_unreachable_redis_fails_cache_and_pubsub_but_not_db(nib_with):
    nib = nib_with(NIB_REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0")
    assert_failed(get(nib, "/health/cache"), "Cache failure on: redis")
    assert_failed(get(nib, "/health/pubsub"), "Pubsub failure on: redis")
    db = get(nib, "/health/db")
    assert db.status_code == 200 and db.json()["status"] == "pass"
    assert get(nib, "/health/storage").status_code == 200


def test_a_reachable_redis_passes(nib_with):
    nib = nib_with(NIB_REDIS_URL="redis://127.0.0.1:6379/0")
    for path in ("/health/cache", "/health/pubsub"):
        body = get(nib, path).json()
        assert (body["name"], body["status"], body["total"]) == ("redis", "pass", 1), path
        assert body["statuses"] == [{"name": "redis", "ping": body["ping"], "status": "pass"}]


def test_storage_on_s3_passes_and_fails_with_its_endpoint(nib_with, s3_endpoint):
    bucket, _ = new_bucket(s3_endpoint)
    nib = nib_with(**s3_env(s3_endpoint, bucket))
    body = get(nib, "/health/storage").json()
    assert (body["name"], body["status"]) == ("s3", "pass")
    assert get(nib, "/health/storage/local").json()["status"] == "pass"  # the data dir still

    down = nib_with(**s3_env(f"http://127.0.0.1:{closed_port()}", bucket))
    assert_failed(get(down, "/health/storage"), f"Storage failure on: s3: The S3 bucket {bucket} is not available")
    assert get(down, "/health/db").status_code == 200

    missing = nib_with(**s3_env(s3_endpoint, "no-such-bucket-here"))
    assert_failed(get(missing, "/health/storage"), "Storage failure on: s3: The S3 bucket no-such-bucket-here")


def test_local_storage_that_cannot_be_written_fails(nib_with):
    nib = nib_with()
    storage = nib.data_dir / "storage"
    kept = nib.data_dir / "storage-kept"
    if storage.exists():
        storage.rename(kept)
    storage.write_bytes(b"")  # a file where the directory should be (permissions do not stop root)
    try:
        assert_failed(get(nib, "/health/storage"), f"Storage failure on: local: The storage directory {storage}")
        assert get(nib, "/health/db").status_code == 200
    finally:
        storage.unlink()
        if kept.exists():
            kept.rename(storage)
    assert get(nib, "/health/storage").status_code == 200


def test_antivirus_online_and_offline(nib_with, clamd):
    online = get(nib_with(**clamd.env()), "/health/anti-virus")
    assert online.status_code == 200
    assert online.json()["status"] == "online"
    assert online.json()["version"].startswith("ClamAV ")

    offline = get(nib_with(NIB_CLAMAV_HOST="127.0.0.1", NIB_CLAMAV_PORT=str(closed_port())), "/health/anti-virus")
    assert offline.status_code == 200
    assert offline.json() == {"status": "offline", "version": ""}


def test_time_is_not_served(server):
    # Appwrite asks an NTP server on the internet; nib never leaves its machine on its own.
    response = get(server, "/health/time")
    assert response.status_code == 404
    assert response.json()["type"] == "general_route_not_found"
