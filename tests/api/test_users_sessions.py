"""Server-created sessions and tokens of a user: their models, and the session secret
returned encoded (usable as X-Appwrite-Session)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from users_support import (
    MISSING_ID,
    assert_error,
    assert_invalid,
    assert_not_found,
    count_rows,
    create_user,
    parse_dt,
    sdk_error,
)

from nib.auth.tables import sessions, tokens

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.77 Safari/537.36"
)
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36"
)
HEX = re.compile(r"^[0-9a-f]+$")
ONE_YEAR = timedelta(seconds=31536000)


def _session_row(db, project: str, session_id: str):
    with db.read() as conn:
        return (
            conn.execute(sa.select(sessions).where(sessions.c.project_id == project, sessions.c.id == session_id))
            .mappings()
            .one()
        )


def _decode(secret: str) -> dict:
    return json.loads(base64.b64decode(secret))


# -- unknown user ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method,suffix",
    [
        ("GET", "sessions"),
        ("POST", "sessions"),
        ("DELETE", "sessions"),
        ("DELETE", "sessions/abc123"),
        ("POST", "tokens"),
    ],
)
def test_unknown_user_is_404(http, method, suffix):
    assert_not_found(http.request(method, f"/users/{MISSING_ID}/{suffix}"))


def test_create_session_invalid_user_id(http):
    assert_invalid(
        http.post("/users/_bad/sessions"),
        "Invalid `userId` param: Parameter must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, period, "
        "hyphen, and underscore. Can't start with a special char",
    )


# -- create session -------------------------------------------------------------------------------


def test_create_session_through_sdk(users, http, db, server):
    user = create_user(http)
    before = datetime.now(timezone.utc)
    session = users.create_session(user["$id"])
    after = datetime.now(timezone.utc)
    assert session.userid == user["$id"]
    assert session.provider == "server"
    assert session.provideruid == ""
    assert session.provideraccesstoken == ""
    assert session.provideraccesstokenexpiry == ""
    assert session.providerrefreshtoken == ""
    assert session.factors == ["server"]
    assert session.current is False
    assert session.mfaupdatedat == ""
    assert session.countrycode == "--"
    assert session.countryname == "Unknown"
    assert len(session.id) == 20
    expire = parse_dt(session.expire)
    assert before + ONE_YEAR - timedelta(seconds=5) <= expire <= after + ONE_YEAR + timedelta(seconds=5)
    assert parse_dt(session.createdat) <= after

    decoded = _decode(session.secret)
    assert decoded["id"] == user["$id"]
    inner = decoded["secret"]
    assert len(inner) == 256 and HEX.match(inner)

    row = _session_row(db, server.project, session.id)
    assert row["secret_hash"] == hashlib.sha256(inner.encode()).hexdigest()
    assert row["user_id"] == user["$id"]
    stored = json.dumps({k: str(v) for k, v in row.items()})
    assert inner not in stored
    assert session.secret not in stored


def test_create_session_status_and_raw_fields(http):
    user = create_user(http)
    response = http.post(f"/users/{user['$id']}/sessions")
    assert response.status_code == 201
    body = response.json()
    expected_keys = {
        "$id",
        "$createdAt",
        "$updatedAt",
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
    }
    assert expected_keys <= set(body)
    assert body["ip"] == "127.0.0.1"


def test_create_session_two_sessions_have_distinct_secrets(http):
    user = create_user(http)
    first = http.post(f"/users/{user['$id']}/sessions").json()
    second = http.post(f"/users/{user['$id']}/sessions").json()
    assert first["$id"] != second["$id"]
    assert _decode(first["secret"])["secret"] != _decode(second["secret"])["secret"]


@pytest.mark.parametrize("header", ["User-Agent", "X-Forwarded-User-Agent"])
def test_create_session_parses_user_agent(server, header):
    user_agent = {header: CHROME_WINDOWS}
    with server.http(**user_agent) as http:
        user = create_user(http)
        body = http.post(f"/users/{user['$id']}/sessions", headers={"X-Forwarded-For": "203.0.113.7"}).json()
    assert body["osCode"] == "WIN"
    assert body["osName"] == "Windows"
    assert body["osVersion"] == "10"
    assert body["clientType"] == "browser"
    assert body["clientCode"] == "CH"
    assert body["clientName"] == "Chrome"
    assert body["clientVersion"] == "70.0"
    assert body["clientEngine"] == "Blink"
    assert body["clientEngineVersion"] == "70.0.3538.77"
    assert body["deviceName"] == "desktop"
    assert body["deviceBrand"] == ""
    assert body["deviceModel"] == ""
    assert body["ip"] == "203.0.113.7"
    assert body["countryCode"] == "--"
    assert body["countryName"] == "Unknown"


def test_forwarded_user_agent_wins_for_api_keys(server):
    with server.http(**{"User-Agent": CHROME_WINDOWS, "X-Forwarded-User-Agent": CHROME_ANDROID}) as http:
        user = create_user(http)
        body = http.post(f"/users/{user['$id']}/sessions").json()
    assert body["clientName"] == "Chrome Mobile"
    assert body["clientCode"] == "CM"
    assert body["osName"] == "Android"
    assert body["deviceName"] == "smartphone"


def test_sdk_session_without_browser_user_agent(users, http):
    user = create_user(http)
    session = users.create_session(user["$id"])
    # the SDK's own UA names no browser
    assert session.clientname == ""
    assert session.clienttype == ""


# -- list -----------------------------------------------------------------------------------------


def test_list_sessions(users, http):
    user = create_user(http)
    assert users.list_sessions(user["$id"]).total == 0
    created = [http.post(f"/users/{user['$id']}/sessions").json() for _ in range(3)]
    listed = users.list_sessions(user["$id"])
    assert listed.total == 3
    assert [s.id for s in listed.sessions] == [c["$id"] for c in created]
    for session in listed.sessions:
        assert session.secret == ""
        assert session.current is False
        assert session.provider == "server"
        assert session.factors == ["server"]
        assert session.userid == user["$id"]
        assert session.countryname == "Unknown"


def test_list_sessions_only_this_users(http):
    user, other = create_user(http), create_user(http)
    http.post(f"/users/{user['$id']}/sessions")
    http.post(f"/users/{other['$id']}/sessions")
    http.post(f"/users/{other['$id']}/sessions")
    body = http.get(f"/users/{user['$id']}/sessions").json()
    assert body["total"] == 1
    assert [s["userId"] for s in body["sessions"]] == [user["$id"]]


# -- delete ---------------------------------------------------------------------------------------


def test_delete_session(users, http, db, server):
    user = create_user(http)
    keep = http.post(f"/users/{user['$id']}/sessions").json()
    drop = http.post(f"/users/{user['$id']}/sessions").json()
    response = http.delete(f"/users/{user['$id']}/sessions/{drop['$id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert [s["$id"] for s in http.get(f"/users/{user['$id']}/sessions").json()["sessions"]] == [keep["$id"]]
    assert count_rows(db, sessions, server.project, id=drop["$id"]) == 0
    # deleting it again: not found
    assert_error(http.delete(f"/users/{user['$id']}/sessions/{drop['$id']}"), 404, "user_session_not_found")
    # through the SDK
    users.delete_session(user["$id"], keep["$id"])
    assert users.list_sessions(user["$id"]).total == 0


def test_delete_unknown_session(users, http):
    user = create_user(http)
    assert_error(
        http.delete(f"/users/{user['$id']}/sessions/nosuchsession"),
        404,
        "user_session_not_found",
        "The current user session could not be found.",
    )
    with sdk_error(404, "user_session_not_found"):
        users.delete_session(user["$id"], "nosuchsession")


def test_delete_other_users_session_is_404(http):
    owner, intruder = create_user(http), create_user(http)
    session = http.post(f"/users/{owner['$id']}/sessions").json()
    assert_error(http.delete(f"/users/{intruder['$id']}/sessions/{session['$id']}"), 404, "user_session_not_found")
    assert http.get(f"/users/{owner['$id']}/sessions").json()["total"] == 1


def test_delete_session_invalid_id(http):
    user = create_user(http)
    response = http.delete(f"/users/{user['$id']}/sessions/{'x' * 37}")
    assert_invalid(
        response,
        "Invalid `sessionId` param: UID must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, and "
        "underscore. Can't start with a leading underscore",
    )


def test_delete_all_sessions(users, http, db, server):
    user, other = create_user(http), create_user(http)
    for _ in range(3):
        http.post(f"/users/{user['$id']}/sessions")
    http.post(f"/users/{other['$id']}/sessions")
    response = http.delete(f"/users/{user['$id']}/sessions")
    assert response.status_code == 204
    assert http.get(f"/users/{user['$id']}/sessions").json() == {"total": 0, "sessions": []}
    assert count_rows(db, sessions, server.project, user_id=user["$id"]) == 0
    assert count_rows(db, sessions, server.project, user_id=other["$id"]) == 1
    # none left: still 204
    assert http.delete(f"/users/{user['$id']}/sessions").status_code == 204
    users.delete_sessions(user["$id"])


# -- tokens ---------------------------------------------------------------------------------------


def _token_row(db, project: str, token_id: str):
    with db.read() as conn:
        return (
            conn.execute(sa.select(tokens).where(tokens.c.project_id == project, tokens.c.id == token_id))
            .mappings()
            .one()
        )


def test_create_token_defaults(users, http, db, server):
    user = create_user(http)
    before = datetime.now(timezone.utc)
    token = users.create_token(user["$id"])
    after = datetime.now(timezone.utc)
    assert token.userid == user["$id"]
    assert len(token.secret) == 6 and HEX.match(token.secret)
    assert token.phrase == ""
    assert len(token.id) == 20
    expire = parse_dt(token.expire)
    assert before + timedelta(seconds=895) <= expire <= after + timedelta(seconds=905)
    row = _token_row(db, server.project, token.id)
    assert row["secret_hash"] == hashlib.sha256(token.secret.encode()).hexdigest()
    assert row["user_id"] == user["$id"]
    assert row["type"] == "generic"


def test_create_token_custom_length_and_expire(http, db, server):
    user = create_user(http)
    before = datetime.now(timezone.utc)
    response = http.post(f"/users/{user['$id']}/tokens", json={"length": 15, "expire": 60})
    assert response.status_code == 201
    body = response.json()
    assert set(body) >= {"$id", "$createdAt", "userId", "secret", "expire", "phrase"}
    assert len(body["secret"]) == 15 and HEX.match(body["secret"])
    expire = parse_dt(body["expire"])
    assert before + timedelta(seconds=55) <= expire <= before + timedelta(seconds=65)
    lifetime = parse_dt(body["expire"]) - parse_dt(body["$createdAt"])
    assert timedelta(seconds=59) <= lifetime <= timedelta(seconds=61)
    row = _token_row(db, server.project, body["$id"])
    assert row["secret_hash"] == hashlib.sha256(body["secret"].encode()).hexdigest()
    assert body["secret"] not in json.dumps({k: str(v) for k, v in row.items()})


def test_create_token_bounds(http):
    user = create_user(http)
    assert len(http.post(f"/users/{user['$id']}/tokens", json={"length": 4}).json()["secret"]) == 4
    assert len(http.post(f"/users/{user['$id']}/tokens", json={"length": 128}).json()["secret"]) == 128
    assert http.post(f"/users/{user['$id']}/tokens", json={"expire": 31536000}).status_code == 201
    # numeric strings are accepted by Range
    assert len(http.post(f"/users/{user['$id']}/tokens", json={"length": "8"}).json()["secret"]) == 8


@pytest.mark.parametrize(
    "body,message",
    [
        ({"length": 1}, "Invalid `length` param: Value must be a valid range between 4 and 128"),
        ({"length": 129}, "Invalid `length` param: Value must be a valid range between 4 and 128"),
        ({"length": "abc"}, "Invalid `length` param: Value must be a valid range between 4 and 128"),
        ({"expire": 1}, "Invalid `expire` param: Value must be a valid range between 60 and 31,536,000"),
        ({"expire": 31536001}, "Invalid `expire` param: Value must be a valid range between 60 and 31,536,000"),
        ({"length": 1, "expire": 1}, "Invalid `length` param: Value must be a valid range between 4 and 128"),
    ],
)
def test_create_token_invalid(http, db, server, body, message):
    user = create_user(http)
    response = http.post(f"/users/{user['$id']}/tokens", json=body)
    assert_invalid(response, message)
    assert "userId" not in response.json()
    assert "secret" not in response.json()
    assert count_rows(db, tokens, server.project, user_id=user["$id"]) == 0


def test_sdk_token_errors(users, http):
    user = create_user(http)
    with sdk_error(400, "general_argument_invalid"):
        users.create_token(user["$id"], length=1)
    with sdk_error(404, "user_not_found"):
        users.create_token(MISSING_ID)
    assert users.create_token(user["$id"], length=15, expire=60).secret.__len__() == 15
