"""The 1.5-era Python SDK (appwrite==5.0.3) parses nib's Users responses.

5.0.3 cannot share a venv with the newest SDK, so it is pip-installed once into a cache dir
(tests/.sdk-cache/, gitignored) and driven in a subprocess with PYTHONPATH pointing there.
5.0.3 returns plain dicts; the test checks each call succeeded and carries the 1.5 model fields.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

import sdk_cache
from nib.data.db import schema

SDK_VERSION = "5.0.3"
SDK_DIR = sdk_cache.CACHE / f"appwrite-{SDK_VERSION}"


def install_sdk() -> Path:
    return sdk_cache.install_sdk(SDK_VERSION)


SCRIPT = textwrap.dedent(
    """
    import json, sys, traceback
    import appwrite
    from appwrite.client import Client
    from appwrite.services.users import Users
    from appwrite.query import Query

    endpoint, project, key, user_id = sys.argv[1:5]
    client = Client().set_endpoint(endpoint).set_project(project).set_key(key)
    users = Users(client)
    results = {"sdk_file": appwrite.__file__, "response_format": client._global_headers.get("X-Appwrite-Response-Format")}

    def call(label, fn, *args, **kwargs):
        try:
            results[label] = {"ok": True, "value": fn(*args, **kwargs)}
        except Exception as error:
            results[label] = {"ok": False, "error": repr(error), "trace": traceback.format_exc()}

    step = sys.argv[5]
    if step == "create":
        call("create", users.create, user_id, email=user_id + "@example.com", phone=sys.argv[6],
             password="password123", name="SDK 5.0.3")
    else:
        call("get", users.get, user_id)
        call("list", users.list, [Query.equal("$id", [user_id]), Query.limit(5)])
        call("list_search", users.list, None, "SDK")
        call("create_session", users.create_session, user_id)
        call("create_token", users.create_token, user_id, 8, 600)
        call("list_logs", users.list_logs, user_id, [Query.limit(10)])
        call("list_mfa_factors", users.list_mfa_factors, user_id)
        call("create_mfa_recovery_codes", users.create_mfa_recovery_codes, user_id)
        call("get_mfa_recovery_codes", users.get_mfa_recovery_codes, user_id)
        call("update_mfa_recovery_codes", users.update_mfa_recovery_codes, user_id)
        call("list_sessions", users.list_sessions, user_id)
        call("get_prefs", users.get_prefs, user_id)
        call("list_targets", users.list_targets, user_id)
    print(json.dumps(results))
    """
)

USER_FIELDS = [
    "$id",
    "$createdAt",
    "$updatedAt",
    "name",
    "password",
    "hash",
    "hashOptions",
    "registration",
    "status",
    "labels",
    "passwordUpdate",
    "email",
    "phone",
    "emailVerification",
    "phoneVerification",
    "mfa",
    "prefs",
    "targets",
    "accessedAt",
]
SESSION_FIELDS = [
    "$id",
    "$createdAt",
    "userId",
    "expire",
    "provider",
    "providerUid",
    "providerAccessToken",
    "providerAccessTokenExpiry",
    "providerRefreshToken",
    "ip",
    "osCode",
    "osName",
    "osVersion",
    "clientType",
    "clientCode",
    "clientName",
    "clientVersion",
    "clientEngine",
    "clientEngineVersion",
    "deviceName",
    "deviceBrand",
    "deviceModel",
    "countryCode",
    "countryName",
    "current",
    "factors",
    "secret",
    "mfaUpdatedAt",
]
TOKEN_FIELDS = ["$id", "$createdAt", "userId", "secret", "expire", "phrase"]
LOG_FIELDS = [
    "event",
    "userId",
    "userEmail",
    "userName",
    "mode",
    "ip",
    "time",
    "osCode",
    "osName",
    "osVersion",
    "clientType",
    "clientCode",
    "clientName",
    "clientVersion",
    "clientEngine",
    "clientEngineVersion",
    "deviceName",
    "deviceBrand",
    "deviceModel",
    "countryCode",
    "countryName",
]
TARGET_FIELDS = ["$id", "$createdAt", "$updatedAt", "name", "userId", "providerId", "providerType", "identifier"]


def run_sdk(server, user_id: str, *step: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(SDK_DIR)}
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT, server.endpoint, server.project, server.key, user_id, *step],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    results = json.loads(completed.stdout.strip().splitlines()[-1])
    assert results["sdk_file"].startswith(str(SDK_DIR)), results["sdk_file"]  # not the venv's newest SDK
    for name, result in results.items():
        if isinstance(result, dict) and "ok" in result:
            assert result["ok"], f"{name}: {result['error']}\n{result['trace']}"
    return results


def has_fields(model: dict, fields: list[str], what: str) -> None:
    missing = [f for f in fields if f not in model]
    assert not missing, f"{what} lacks 1.5 fields {missing}: {model}"


@pytest.fixture(scope="session")
def sdk_503() -> Path:
    return install_sdk()


def test_sdk_503_parses_users_responses(server, db, sdk_503):
    user_id = "sdk503" + uuid.uuid4().hex[:12]
    phone = "+1" + str(uuid.uuid4().int)[:10]

    created = run_sdk(server, user_id, "create", phone)
    assert created["response_format"] == "1.5.0"
    user = created["create"]["value"]
    has_fields(user, USER_FIELDS, "User (create)")
    assert user["$id"] == user_id and user["name"] == "SDK 5.0.3"
    assert user["email"] == f"{user_id}@example.com" and user["phone"] == phone
    assert user["status"] is True and user["labels"] == [] and user["prefs"] == {}
    assert user["emailVerification"] is False and user["phoneVerification"] is False and user["mfa"] is False
    assert user["passwordUpdate"] and user["registration"]
    assert {t["providerType"] for t in user["targets"]} == {"email", "sms"}
    for target in user["targets"]:
        has_fields(target, TARGET_FIELDS, "Target")

    # Users logs are written by the Account service later; seed one entry for this user.
    with db.write() as conn:
        conn.execute(
            schema.audit_logs.insert().values(
                project_id=server.project,
                event="session.create",
                resource=f"user/{user_id}",
                user_id=user_id,
                user_email=f"{user_id}@example.com",
                user_name="SDK 5.0.3",
                user_type="user",
                mode="default",
                ip="127.0.0.1",
                time=datetime.now(timezone.utc),
                client={
                    "osCode": "LIN",
                    "osName": "Linux",
                    "osVersion": "",
                    "clientType": "browser",
                    "clientCode": "CH",
                    "clientName": "Chrome",
                    "clientVersion": "120.0",
                    "clientEngine": "Blink",
                    "clientEngineVersion": "120.0",
                    "deviceName": "desktop",
                    "deviceBrand": "",
                    "deviceModel": "",
                },
            )
        )

    results = run_sdk(server, user_id, "rest")
    value = {name: r["value"] for name, r in results.items() if isinstance(r, dict) and "value" in r}

    has_fields(value["get"], USER_FIELDS, "User (get)")
    assert value["get"]["$id"] == user_id

    for name in ("list", "list_search"):
        listing = value[name]
        assert isinstance(listing["total"], int) and listing["total"] >= 1, listing
        assert user_id in [u["$id"] for u in listing["users"]], listing
        for item in listing["users"]:
            has_fields(item, USER_FIELDS, f"User ({name})")

    session = value["create_session"]
    has_fields(session, SESSION_FIELDS, "Session")
    assert session["userId"] == user_id and session["provider"] == "server" and session["secret"]
    assert session["expire"] and isinstance(session["factors"], list) and session["current"] is False

    token = value["create_token"]
    has_fields(token, TOKEN_FIELDS, "Token")
    assert token["userId"] == user_id and len(token["secret"]) == 8 and token["expire"] and token["phrase"] == ""

    logs = value["list_logs"]
    assert logs["total"] == 1 and len(logs["logs"]) == 1, logs
    has_fields(logs["logs"][0], LOG_FIELDS, "Log")
    assert logs["logs"][0]["event"] == "session.create" and logs["logs"][0]["userId"] == user_id
    assert logs["logs"][0]["clientName"] == "Chrome" and logs["logs"][0]["time"]

    factors = value["list_mfa_factors"]
    for field in ("totp", "email", "phone"):
        assert isinstance(factors[field], bool), factors
    assert factors["email"] is False and factors["phone"] is False and factors["totp"] is False

    created_codes = value["create_mfa_recovery_codes"]["recoveryCodes"]
    fetched_codes = value["get_mfa_recovery_codes"]["recoveryCodes"]
    regenerated = value["update_mfa_recovery_codes"]["recoveryCodes"]
    assert len(created_codes) == 6 and all(len(c) == 10 for c in created_codes), created_codes
    assert fetched_codes == created_codes
    assert len(regenerated) == 6 and regenerated != created_codes

    sessions = value["list_sessions"]
    assert sessions["total"] == 1 and sessions["sessions"][0]["$id"] == session["$id"], sessions
    has_fields(sessions["sessions"][0], SESSION_FIELDS, "Session (list)")

    assert value["get_prefs"] == {}
    targets = value["list_targets"]
    assert targets["total"] == 2
    for target in targets["targets"]:
        has_fields(target, TARGET_FIELDS, "Target (list)")
