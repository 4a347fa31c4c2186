"""Signing in (password, anonymous, tokens; an imported hash is rehashed to argon2 on sign-in) and
the user's own sessions and audit logs."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from account_support import (
    CHROME_WINDOWS,
    PASSWORD,
    account,
    as_member,
    expire_token,
    fallback_session,
    guest,
    member,
    sign_in,
    sign_up,
)
from users_support import assert_error, count_rows, create_user, sdk_error, unique_email, user_row

from nib.auth.tables import sessions, tokens
from nib.tools.ids import secret_hash

ONE_YEAR = timedelta(seconds=31536000)


def _now() -> datetime:
    return datetime.now(timezone.utc)


# -- e-mail and password --------------------------------------------------------------------------


def test_email_password_session_through_the_sdk(server):
    user = sign_up(server)
    session = account(server).create_email_password_session(user["email"], PASSWORD)
    assert session.provider == "email" and session.provideruid == user["email"]
    assert session.factors == ["password"] and session.secret == "" and session.current is True
    assert session.userid == user["$id"] and session.countrycode == "--" and session.countryname == "Unknown"
    assert abs(datetime.fromisoformat(session.expire) - (_now() + ONE_YEAR)) < timedelta(minutes=1)


def test_session_device_fields_from_the_user_agent(server):
    user = sign_up(server)
    with guest(server, **{"User-Agent": CHROME_WINDOWS}) as http:
        body = http.post("/account/sessions", json={"email": user["email"].upper(), "password": PASSWORD}).json()
    assert (body["osName"], body["osCode"], body["osVersion"]) == ("Windows", "WIN", "10")
    assert (body["clientType"], body["clientName"], body["clientCode"], body["clientVersion"]) == (
        "browser",
        "Chrome",
        "CH",
        "70.0",
    )
    assert body["clientEngine"] == "Blink" and body["deviceName"] == "desktop"


@pytest.mark.parametrize("case", ["wrong password", "unknown email"])
def test_invalid_credentials(server, case):
    user = sign_up(server)
    email, password = (user["email"], "wrong-password") if case == "wrong password" else (unique_email(), PASSWORD)
    with sdk_error(401, "user_invalid_credentials") as info:
        account(server).create_email_password_session(email, password)
    assert info.value.message == "Invalid credentials. Please check the email and password."


def test_invalid_parameters(server):
    with guest(server) as http:
        for body in ({"email": "", "password": PASSWORD}, {"email": unique_email(), "password": ""}, {}):
            assert_error(http.post("/account/sessions/email", json=body), 400, "general_argument_invalid")


def test_user_without_password_cannot_sign_in(server, http):
    user = create_user(http, phone=None)
    with sdk_error(401, "user_invalid_credentials"):
        account(server).create_email_password_session(user["email"], PASSWORD)


def test_blocked_user_sign_in(server, users):
    user = sign_up(server)
    users.update_status(user["$id"], False)
    with sdk_error(401, "user_invalid_credentials"):
        account(server).create_email_password_session(user["email"], "wrong-password")
    with sdk_error(401, "user_blocked"):
        account(server).create_email_password_session(user["email"], PASSWORD)


def test_imported_hash_is_rehashed_on_sign_in(server, http, db):
    email = unique_email("md5")
    created = http.post(
        "/users/md5", json={"userId": "unique()", "email": email, "password": "144fa7eaa4904e8ee120651997f70dcc"}
    ).json()
    account(server).create_email_password_session(email, "appwrite")
    after = http.get(f"/users/{created['$id']}").json()
    assert after["hash"] == "argon2" and after["password"].startswith("$argon2")
    assert after["hashOptions"] == {"type": "argon2", "memoryCost": 2048, "timeCost": 4, "threads": 3}
    account(server).create_email_password_session(email, "appwrite")  # the new hash verifies


def test_at_most_ten_sessions_oldest_removed(server, db):
    me = member(server)
    for _ in range(10):
        sign_in(server, me.email)
    assert count_rows(db, sessions, server.project, user_id=me.user["$id"]) == 10
    with as_member(server, me) as http:
        assert_error(http.get("/account"), 401, "general_unauthorized_scope")


# -- anonymous ------------------------------------------------------------------------------------


def test_anonymous_session_and_conversion(server):
    session = account(server).create_anonymous_session()
    assert session.provider == "anonymous" and session.factors == ["anonymous"] and session.secret == ""
    with guest(server) as http:
        response = http.post("/account/sessions/anonymous")
    assert response.status_code == 201
    anonymous = account(server, session=fallback_session(response, server.project))
    me = anonymous.get()
    assert (me.email, me.name, me.passwordupdate) == ("", "", "")
    assert me.accessedat != ""
    email = unique_email("converted")
    converted = anonymous.update_email(email, PASSWORD)
    assert converted.email == email and converted.passwordupdate != ""
    assert account(server).create_email_password_session(email, PASSWORD).userid == me.id


# -- tokens ---------------------------------------------------------------------------------------


def test_token_from_the_users_api_is_exchanged_once(server, users, http):
    user = create_user(http)
    token = users.create_token(user["$id"])
    session = account(server).create_session(user["$id"], token.secret)
    assert session.provider == "token" and session.factors == ["token"] and session.userid == user["$id"]
    with sdk_error(401, "user_invalid_token") as info:
        account(server).create_session(user["$id"], token.secret)
    assert info.value.message == "Invalid token passed in the request."


def test_invalid_tokens(server, users, http, db):
    user, other = create_user(http), create_user(http)
    token = users.create_token(user["$id"])
    with sdk_error(401, "user_invalid_token"):
        account(server).create_session(other["$id"], token.secret)
    with sdk_error(401, "user_invalid_token"):
        account(server).create_session("missing-user-0000", token.secret)
    expire_token(db, server.project, token.id)
    with sdk_error(401, "user_invalid_token"):
        account(server).create_session(user["$id"], token.secret)


def test_magic_url_path_exchanges_the_same_tokens(server, users, http):
    user = create_user(http)
    token = users.create_token(user["$id"], length=32)
    with guest(server) as client:  # the SDK's method for this path is deprecated
        response = client.put("/account/sessions/magic-url", json={"userId": user["$id"], "secret": token.secret})
    assert response.status_code == 201 and response.json()["provider"] == "token"


def test_magic_url_token_verifies_the_email(server, http, db):
    user = create_user(http)
    secret = uuid.uuid4().hex
    now = _now()
    with db.write() as conn:  # magic-URL tokens come from the e-mail flow; seeded here
        conn.execute(
            tokens.insert().values(
                project_id=server.project,
                id="tok" + secret[:17],
                created_at=now,
                updated_at=now,
                user_id=user["$id"],
                type="magic-url",
                secret_hash=secret_hash(secret),
                expire=now + timedelta(hours=1),
            )
        )
    with guest(server) as client:
        body = client.put("/account/sessions/magic-url", json={"userId": user["$id"], "secret": secret}).json()
    assert body["provider"] == "magic-url" and body["factors"] == ["email"]
    assert user_row(db, server.project, user["$id"])["email_verification"] is True


def test_server_created_session_works_here(server, users, http):
    user = create_user(http)
    encoded = users.create_session(user["$id"]).secret
    client = account(server, session=encoded)
    assert client.get().id == user["$id"]
    client.delete_session("current")
    with sdk_error(401, "general_unauthorized_scope"):
        client.get()


# -- the user's sessions --------------------------------------------------------------------------


def test_list_get_update_sessions(server):
    me = member(server)
    other_session, _ = sign_in(server, me.email)
    client = account(server, session=me.session)
    listed = client.list_sessions()
    assert listed.total == 2
    assert [(s.id, s.current, s.secret) for s in listed.sessions] == [
        (me.session_id, True, ""),
        (other_session["$id"], False, ""),
    ]
    assert client.get_session("current").id == me.session_id
    assert client.get_session(other_session["$id"]).current is False
    before = datetime.fromisoformat(client.get_session("current").expire)
    updated = client.update_session("current")
    assert datetime.fromisoformat(updated.expire) >= before and updated.current is True


def test_sessions_of_another_user_are_not_found(server):
    me, stranger = member(server), member(server)
    client = account(server, session=me.session)
    for call in (client.get_session, client.update_session, client.delete_session):
        with sdk_error(404, "user_session_not_found"):
            call(stranger.session_id)
    assert account(server, session=stranger.session).get().id == stranger.user["$id"]


def test_delete_one_session_keeps_the_others(server):
    me = member(server)
    _, second = sign_in(server, me.email)
    with as_member(server, me) as http:
        response = http.delete(f"/account/sessions/{account(server, session=second).get_session('current').id}")
        assert response.status_code == 204 and "set-cookie" not in response.headers
        assert http.get("/account").status_code == 200
    with sdk_error(401, "general_unauthorized_scope"):
        account(server, session=second).get()


def test_delete_all_sessions(server, db):
    me = member(server)
    _, second = sign_in(server, me.email)
    with as_member(server, me) as http:
        response = http.delete("/account/sessions")
    assert response.status_code == 204 and response.headers["x-fallback-cookies"] == "[]"
    assert count_rows(db, sessions, server.project, user_id=me.user["$id"]) == 0
    for session in (me.session, second):
        with sdk_error(401, "general_unauthorized_scope"):
            account(server, session=session).get()


def test_password_change_keeps_sessions(server):
    me = member(server)
    client = account(server, session=me.session)
    client.update_password("another-password-2", old_password=PASSWORD)
    assert client.get().id == me.user["$id"]
    with sdk_error(401, "user_invalid_credentials"):
        account(server).create_email_password_session(me.email, PASSWORD)
    account(server).create_email_password_session(me.email, "another-password-2")


# -- audit ----------------------------------------------------------------------------------------


def test_account_logs_newest_first(server):
    user = sign_up(server)
    sign_in(server, user["email"])
    _, encoded = sign_in(server, user["email"])
    with guest(server, **{"X-Appwrite-Session": encoded}) as http:
        body = http.get("/account/logs").json()
        assert [log["event"] for log in body["logs"]] == ["session.create", "session.create", "user.create"]
        assert body["total"] == 3 and {log["userId"] for log in body["logs"]} == {user["$id"]}
        limited = http.get("/account/logs", params={"queries[0]": '{"method":"limit","values":[1]}'}).json()
    assert limited["total"] == 3 and len(limited["logs"]) == 1


def test_session_secret_is_stored_as_its_sha256(server, db):
    me = member(server)
    with db.read() as conn:
        stored = conn.execute(
            sa.select(sessions.c.secret_hash).where(
                sessions.c.project_id == server.project, sessions.c.id == me.session_id
            )
        ).scalar_one()
    raw = json.loads(base64.b64decode(me.session))["secret"]
    assert len(raw) == 256 and stored == secret_hash(raw)
