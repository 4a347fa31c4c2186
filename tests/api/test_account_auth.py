"""Client authentication: where a session comes from, what makes it count, JWTs, cookies,
blocked users, the MFA gate and the session group."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import jwt as pyjwt
import pytest
import sqlalchemy as sa
from account_support import (
    PASSWORD,
    account,
    as_member,
    expire_session,
    fallback_session,
    guest,
    member,
    sign_in,
)
from appwrite.services.users import Users
from users_support import assert_error, create_user, sdk_error, seed_authenticator

from nib.data.db.schema import instance_values

GUEST_MESSAGE = "User (role: guests) missing scope (account)"


def assert_guest(response) -> None:
    assert_error(response, 401, "general_unauthorized_scope", GUEST_MESSAGE)


# -- where the session comes from -----------------------------------------------------------------


def test_guest_is_refused_with_the_scope_message(server):
    with sdk_error(401, "general_unauthorized_scope") as info:
        account(server).get()
    assert info.value.message == GUEST_MESSAGE


def test_session_through_the_sdk_returns_the_account_without_server_fields(server):
    me = member(server, name="Ada")
    got = account(server, session=me.session).get()
    assert got.id == me.user["$id"] and got.email == me.email and got.name == "Ada"
    with as_member(server, me) as http:
        body = http.get("/account").json()
    assert not {"password", "hash", "hashOptions"} & set(body)
    assert body["accessedAt"] != "" and body["targets"][0]["identifier"] == me.email


@pytest.mark.parametrize("cookie", ["a_session_{p}", "a_session_{p}_legacy"])
def test_session_cookie_and_legacy_cookie(server, cookie):
    me = member(server)
    with guest(server, Cookie=f"{cookie.format(p=server.project)}={me.session}") as http:
        assert http.get("/account").json()["$id"] == me.user["$id"]


def test_fallback_cookies_header(server):
    me = member(server)
    fallback = json.dumps({f"a_session_{server.project}": me.session})
    with guest(server, **{"X-Fallback-Cookies": fallback}) as http:
        assert http.get("/account").json()["$id"] == me.user["$id"]


def test_main_cookie_wins_over_the_header(server):
    first, second = member(server), member(server)
    with guest(
        server, Cookie=f"a_session_{server.project}={first.session}", **{"X-Appwrite-Session": second.session}
    ) as http:
        assert http.get("/account").json()["$id"] == first.user["$id"]


def test_raw_secret_of_a_server_created_session(server, http):
    user = create_user(http)
    encoded = http.post(f"/users/{user['$id']}/sessions").json()["secret"]
    raw = json.loads(base64.b64decode(encoded))["secret"]
    with guest(server, **{"X-Appwrite-Session": raw}) as client:
        assert client.get("/account").json()["$id"] == user["$id"]


@pytest.mark.parametrize(
    "value",
    ["not-base64!", base64.b64encode(b"[1,2]").decode(), base64.b64encode(b'{"id":"x","secret":"y"}').decode()],
)
def test_invalid_session_values_are_guests(server, value):
    with guest(server, **{"X-Appwrite-Session": value}) as http:
        assert_guest(http.get("/account"))


def test_cookie_with_extra_characters_is_a_guest(server):
    me = member(server)
    with guest(server, Cookie=f"a_session_{server.project}={me.session}xx") as http:
        assert_guest(http.get("/account"))


def test_deleted_and_expired_sessions_are_guests(server, db):
    me = member(server)
    _, other = sign_in(server, me.email)
    with as_member(server, me) as http:
        assert http.delete("/account/sessions/current").status_code == 204
        assert_guest(http.get("/account"))
    with guest(server, **{"X-Appwrite-Session": other}) as http:
        session_id = http.get("/account/sessions/current").json()["$id"]
        expire_session(db, server.project, session_id)
        assert_guest(http.get("/account"))


# -- keys, blocked users, MFA, session group ------------------------------------------------------


def test_key_and_session_together_are_refused(server):
    me = member(server)
    with server.http(**{"X-Appwrite-Session": me.session}) as http:
        assert_error(http.get("/users"), 403, "user_key_and_session_set")


def test_invalid_key_with_a_session_is_the_user(server):
    me = member(server)
    with as_member(server, me, **{"X-Appwrite-Key": "nib_not_a_key"}) as http:
        assert http.get("/account").json()["$id"] == me.user["$id"]


def test_blocked_user_gets_user_blocked_until_unblocked(server, users):
    me = member(server)
    users.update_status(me.user["$id"], False)
    with sdk_error(401, "user_blocked"):
        account(server, session=me.session).get()
    users.update_status(me.user["$id"], True)
    assert account(server, session=me.session).get().status is True


def test_mfa_gate_until_a_second_factor(server, db, users):
    me = member(server)
    users.update_mfa(me.user["$id"], True)
    # MFA on but no verified factor: one factor is enough.
    assert account(server, session=me.session).get().mfa is True
    seed_authenticator(db, server.project, me.user["$id"], verified=True)
    with as_member(server, me) as http:
        assert_error(http.get("/account"), 401, "user_more_factors_required")
        assert_error(http.get("/account/sessions"), 401, "user_more_factors_required")
        # Signing out is always possible.
        assert http.delete("/account/sessions/current").status_code == 204


def test_signed_in_user_cannot_sign_in_again(server):
    me = member(server)
    with as_member(server, me) as http:
        for path, body in (
            ("/account/sessions/email", {"email": me.email, "password": PASSWORD}),
            ("/account/sessions", {"email": me.email, "password": PASSWORD}),
            ("/account/sessions/anonymous", {}),
            ("/account/sessions/token", {"userId": me.user["$id"], "secret": "abc123"}),
        ):
            assert_error(http.post(path, json=body), 401, "user_session_already_exists")


# -- JWT ------------------------------------------------------------------------------------------


def _server_secret(db) -> str:
    with db.read() as conn:
        return conn.execute(sa.select(instance_values.c.value).where(instance_values.c.name == "secret")).scalar_one()


def test_jwt_signs_requests_as_the_session_user(server):
    me = member(server)
    with as_member(server, me) as http:
        token = http.post("/account/jwt").json()["jwt"]
    payload = pyjwt.decode(token, options={"verify_signature": False})
    assert set(payload) == {"userId", "sessionId", "exp"}
    assert payload["userId"] == me.user["$id"] and payload["sessionId"] == me.session_id
    assert abs(payload["exp"] - (time.time() + 900)) < 30
    assert pyjwt.get_unverified_header(token) == {"typ": "JWT", "alg": "HS256"}
    assert account(server, jwt=token).get().id == me.user["$id"]


def test_jwts_path_takes_a_duration(server):
    me = member(server)
    with as_member(server, me) as http:
        response = http.post("/account/jwts", json={"duration": 60})
        assert response.status_code == 201
        assert_error(http.post("/account/jwts", json={"duration": 3601}), 400, "general_argument_invalid")
    payload = pyjwt.decode(response.json()["jwt"], options={"verify_signature": False})
    assert abs(payload["exp"] - (time.time() + 60)) < 30


def test_invalid_and_expired_jwts_are_rejected(server, db):
    me = member(server)
    with guest(server, **{"X-Appwrite-JWT": "wrong-token"}) as http:
        body = assert_error(http.get("/account"), 401, "user_jwt_invalid")
    assert body["message"].startswith("Failed to verify JWT. ")
    expired = pyjwt.encode(
        {"userId": me.user["$id"], "sessionId": me.session_id, "exp": int(time.time()) - 60},
        _server_secret(db),
        algorithm="HS256",
    )
    forged = pyjwt.encode(
        {"userId": me.user["$id"], "sessionId": me.session_id, "exp": int(time.time()) + 60}, "x" * 32
    )
    for token in (expired, forged):
        with guest(server, **{"X-Appwrite-JWT": token}) as http:
            assert_error(http.get("/account"), 401, "user_jwt_invalid")


def test_jwt_of_a_deleted_session_is_a_guest(server):
    me = member(server)
    with as_member(server, me) as http:
        token = http.post("/account/jwt").json()["jwt"]
        assert http.delete("/account/sessions/current").status_code == 204
    with guest(server, **{"X-Appwrite-JWT": token}) as http:
        assert_guest(http.get("/account"))


def test_jwt_cannot_mint_jwts(server):
    me = member(server)
    with as_member(server, me) as http:
        token = http.post("/account/jwt").json()["jwt"]
    with guest(server, **{"X-Appwrite-JWT": token}) as http:
        assert_error(http.post("/account/jwts"), 403, "user_jwt_creation_denied")
        assert_error(http.post("/account/jwt"), 404, "user_session_not_found")


def test_server_side_jwts(server, http):
    me = member(server)
    users = Users(server.sdk())
    recent = users.create_jwt(me.user["$id"]).jwt
    assert pyjwt.decode(recent, options={"verify_signature": False})["sessionId"] == me.session_id
    assert account(server, jwt=recent).get().id == me.user["$id"]
    chosen = users.create_jwt(me.user["$id"], session_id=me.session_id, duration=120).jwt
    assert account(server, jwt=chosen).get().id == me.user["$id"]
    assert_error(
        http.post(f"/users/{me.user['$id']}/jwts", json={"sessionId": "nosuchsession"}), 404, "user_session_not_found"
    )
    # An unknown user is user_not_found, whichever session is asked for.
    for body in ({}, {"sessionId": me.session_id}):
        assert_error(http.post("/users/nosuchuser/jwts", json=body), 404, "user_not_found")
    without = create_user(http)
    token = http.post(f"/users/{without['$id']}/jwts").json()["jwt"]
    assert pyjwt.decode(token, options={"verify_signature": False})["sessionId"] == ""
    with guest(server, **{"X-Appwrite-JWT": token}) as client:
        assert_guest(client.get("/account"))


# -- cookies --------------------------------------------------------------------------------------


def _sign_in_raw(server, email: str, **headers: str):
    with guest(server, **headers) as http:
        return http.post("/account/sessions/email", json={"email": email, "password": PASSWORD})


def test_sign_in_cookies_legacy_first_main_last(server):
    me = member(server)
    response = _sign_in_raw(server, me.email)
    legacy, main = response.headers.get_list("set-cookie")
    encoded = fallback_session(response, server.project)
    p = server.project
    assert legacy.startswith(f"a_session_{p}_legacy={encoded}; ")
    assert main.startswith(f"a_session_{p}={encoded}; ")
    expires = parsedate_to_datetime(main.split("expires=")[1].split(";")[0])
    session_expire = datetime.fromisoformat(response.json()["expire"])
    assert abs((expires - session_expire).total_seconds()) < 1
    for cookie in (legacy, main):
        attributes = [part.strip().lower() for part in cookie.split(";")[1:]]
        assert "path=/" in attributes and "httponly" in attributes
        assert "secure" not in attributes and not any(a.startswith("domain=") for a in attributes)
    assert "samesite=none" in main.lower() and "samesite" not in legacy.lower()
    assert json.loads(response.headers["x-fallback-cookies"]) == {f"a_session_{p}": encoded}
    assert response.json()["secret"] == ""


def test_cookies_behind_an_https_proxy_on_a_domain(server):
    me = member(server)
    response = _sign_in_raw(server, me.email, Host="api.example.com", **{"X-Forwarded-Proto": "https"})
    for cookie in response.headers.get_list("set-cookie"):
        attributes = [part.strip() for part in cookie.split(";")]
        assert "domain=.api.example.com" in attributes and "secure" in attributes


def test_sign_out_clears_both_cookies(server):
    me = member(server)
    with as_member(server, me) as http:
        response = http.delete("/account/sessions/current")
    legacy, main = response.headers.get_list("set-cookie")
    assert legacy.startswith(f"a_session_{server.project}_legacy=deleted;")
    assert main.startswith(f"a_session_{server.project}=deleted;")
    assert parsedate_to_datetime(main.split("expires=")[1].split(";")[0]) < datetime.now(timezone.utc)
    assert response.headers["x-fallback-cookies"] == "[]"


def test_key_callers_get_the_encoded_session(server, http):
    me = member(server)
    response = http.post("/account/sessions/email", json={"email": me.email, "password": PASSWORD})
    assert response.status_code == 201
    secret = response.json()["secret"]
    assert json.loads(base64.b64decode(secret))["id"] == me.user["$id"]
    assert account(server, session=secret).get().id == me.user["$id"]


def test_requests_refresh_accessed_at(server, users, http):
    user = create_user(http)
    assert user["accessedAt"] == ""
    account(server, session=users.create_session(user["$id"]).secret).get()
    deadline = time.monotonic() + 5  # written after the response is sent
    while http.get(f"/users/{user['$id']}").json()["accessedAt"] == "" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert http.get(f"/users/{user['$id']}").json()["accessedAt"] != ""
