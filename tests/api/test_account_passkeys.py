"""Passkeys (WebAuthn) through the newest Python SDK and raw HTTP: registering, managing (Account
and Users routes), signing in with a passkey token, and every refusal on the way — against real
credentials made by a software authenticator (tests/webauthn_authenticator.py).

The session server runs with the default ``NIB_HOSTNAME=localhost``: the relying party is
``localhost`` and http(s)://localhost on any port may run ceremonies.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from account_support import account, as_member, fallback_session, guest, member, sign_in
from appwrite.id import ID
from appwrite.query import Query
from users_support import assert_error, count_rows, sdk_error

from nib.auth.tables import passkeys, sessions
from webauthn_authenticator import Authenticator, b64url, from_b64url

NOT_CONFIGURED = (
    "Passkeys are not configured for this project. Set a relying party ID and origins in the passkey policy."
)


# -- helpers --------------------------------------------------------------------------------------


def start(server, who, **body) -> dict:
    with as_member(server, who) as http:
        response = http.post("/account/passkeys", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def verify(server, who, passkey_id: str, credential: dict):
    with as_member(server, who) as http:
        return http.put(f"/account/passkeys/{passkey_id}/verification", json={"credential": credential})


def register(server, who, device: Authenticator, **body) -> dict:
    """A verified passkey of ``who`` on ``device``: the Passkey model."""
    challenge = start(server, who, **body)
    response = verify(server, who, challenge["passkeyId"], device.create(challenge["publicKey"]))
    assert response.status_code == 200, response.text
    return response.json()


def sign_in_challenge(server) -> dict:
    with guest(server) as http:
        response = http.post("/account/tokens/passkey")
    assert response.status_code == 201, response.text
    return response.json()


def answer(server, challenge_id: str, credential: dict):
    with guest(server) as http:
        return http.put("/account/tokens/passkey", json={"challengeId": challenge_id, "credential": credential})


def passkey_token(server, device: Authenticator, **get) -> dict:
    challenge = sign_in_challenge(server)
    response = answer(server, challenge["$id"], device.get(challenge["publicKey"], **get))
    assert response.status_code == 201, response.text
    return response.json()


def age_session(db, project: str, session_id: str, minutes: int = 11) -> None:
    """Make the session look signed in ``minutes`` ago (and never MFA-challenged)."""
    then = datetime.now(timezone.utc) - timedelta(minutes=minutes)
    with db.write() as conn:
        conn.execute(
            sessions.update()
            .where(sessions.c.project_id == project, sessions.c.id == session_id)
            .values(created_at=then, mfa_updated_at=None)
        )


# -- registration and management through the SDK -----------------------------------------------------


def test_register_list_rename_and_delete_through_the_sdk(server, users):
    who = member(server, name="Pat Key")
    me = account(server, session=who.session)
    device = Authenticator()

    challenge = me.create_passkey(passkey_id="laptop", name="Laptop")
    assert challenge.passkeyid == "laptop" and challenge.id and challenge.expire > challenge.createdat
    options = challenge.publickey
    assert options["rp"]["id"] == "localhost" and options["rp"]["name"]
    assert options["user"]["name"] == who.email and options["user"]["displayName"] == "Pat Key"
    assert len(from_b64url(options["user"]["id"])) == 32 and len(from_b64url(options["challenge"])) == 32
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-7, -257]
    assert options["attestation"] == "none" and options["timeout"] == 300000 and options["excludeCredentials"] == []

    # Pending: not listed, not found.
    assert me.list_passkeys().total == 0
    with sdk_error(404, "user_passkey_not_found"):
        me.get_passkey("laptop")

    passkey = me.update_passkey_verification("laptop", device.create(options))
    assert (passkey.id, passkey.name, passkey.accessedat) == ("laptop", "Laptop", "")

    # A second registration reuses the user handle and excludes the first credential.
    second = me.create_passkey(name="Phone").publickey
    assert second["user"]["id"] == options["user"]["id"]
    assert [c["id"] for c in second["excludeCredentials"]] == [device.credentials[0].json_id]

    listed = me.list_passkeys()
    assert listed.total == 1 and [p.id for p in listed.passkeys] == ["laptop"]
    assert me.list_passkeys(total=False).total == 0
    assert me.get_passkey("laptop").name == "Laptop"
    renamed = me.update_passkey("laptop", "Work laptop")
    assert renamed.name == "Work laptop" and renamed.updatedat >= renamed.createdat

    # The Users API sees the same passkey.
    user_id = who.user["$id"]
    assert [p.id for p in users.list_passkeys(user_id).passkeys] == ["laptop"]
    assert users.get_passkey(user_id, "laptop").name == "Work laptop"
    assert users.update_passkey(user_id, "laptop", "Desk").name == "Desk"
    assert users.list_passkeys(user_id, queries=[Query.equal("name", ["Desk"])]).total == 1
    assert users.list_passkeys(user_id, queries=[Query.equal("name", ["Nope"])]).total == 0

    me.delete_passkey("laptop")
    assert me.list_passkeys().total == 0
    with sdk_error(404, "user_passkey_not_found"):
        me.delete_passkey("laptop")


def test_account_and_users_routes_answer_404_by_the_rules(server, http):
    owner, other = member(server), member(server)
    device = Authenticator()
    register(server, owner, device, passkeyId="mine" + ID.unique()[:8])
    with as_member(server, owner) as me:
        passkey_id = me.get("/account/passkeys").json()["passkeys"][0]["$id"]
        assert_error(me.patch(f"/account/passkeys/{passkey_id}", json={"name": ""}), 400, "general_argument_invalid")
        assert_error(
            me.get(
                "/account/passkeys", params={"queries[]": '{"method":"equal","attribute":"identifier","values":["x"]}'}
            ),
            400,
            "general_argument_invalid",
            "Invalid `queries` param: Invalid query: Attribute not found in schema: identifier",
        )
    # Another user's passkey is unknown to the account routes.
    with as_member(server, other) as them:
        for response in (
            them.get(f"/account/passkeys/{passkey_id}"),
            them.patch(f"/account/passkeys/{passkey_id}", json={"name": "x"}),
            them.delete(f"/account/passkeys/{passkey_id}"),
        ):
            assert_error(response, 404, "user_passkey_not_found")
    # Users routes: the user first, then the passkey within that user.
    assert_error(http.get(f"/users/missing{ID.unique()[:6]}/passkeys"), 404, "user_not_found")
    assert_error(http.get(f"/users/missing{ID.unique()[:6]}/passkeys/{passkey_id}"), 404, "user_not_found")
    other_id = other.user["$id"]
    assert_error(http.get(f"/users/{other_id}/passkeys/{passkey_id}"), 404, "user_passkey_not_found")
    assert_error(
        http.patch(f"/users/{other_id}/passkeys/{passkey_id}", json={"name": "x"}), 404, "user_passkey_not_found"
    )
    assert_error(http.delete(f"/users/{other_id}/passkeys/{passkey_id}"), 404, "user_passkey_not_found")
    # A cursor on another user's passkey is not found in this user's list.
    cursor = http.get(f"/users/{other_id}/passkeys", params={"queries[]": Query.cursor_after(passkey_id)})
    assert_error(cursor, 400, "general_cursor_not_found", f"Passkey '{passkey_id}' for the 'cursor' value not found.")
    assert_error(
        http.patch(f"/users/{owner.user['$id']}/passkeys/{passkey_id}", json={"name": ""}),
        400,
        "general_argument_invalid",
    )
    assert http.delete(f"/users/{owner.user['$id']}/passkeys/{passkey_id}").status_code == 204
    assert http.get(f"/users/{owner.user['$id']}/passkeys").json() == {"total": 0, "passkeys": []}


def test_guests_have_no_account_passkeys(server):
    with guest(server) as http:
        assert_error(http.get("/account/passkeys"), 401, "general_unauthorized_scope")
        assert_error(http.post("/account/passkeys", json={}), 401, "general_unauthorized_scope")
        assert_error(http.delete("/account/passkeys/abc"), 401, "general_unauthorized_scope")


def test_pending_registrations_count_toward_the_limit_of_ten(server):
    who = member(server)
    device = Authenticator()
    register(server, who, device)
    for _ in range(9):
        start(server, who)
    with as_member(server, who) as http:
        assert_error(http.post("/account/passkeys", json={}), 400, "user_passkey_limit_exceeded")
        # Only the verified one is listed.
        assert http.get("/account/passkeys").json()["total"] == 1


def test_the_limit_and_a_deleted_pending_registration(server, db):
    who = member(server)
    ids = [start(server, who)["passkeyId"] for _ in range(10)]
    assert count_rows(db, passkeys, server.project, user_id=who.user["$id"]) == 10
    with as_member(server, who) as http:
        assert_error(http.post("/account/passkeys", json={}), 400, "user_passkey_limit_exceeded")
        assert http.delete(f"/account/passkeys/{ids[0]}").status_code == 204  # pending ones can be deleted
        assert http.post("/account/passkeys", json={}).status_code == 201
    # Pending registrations older than the challenge's five minutes no longer count.
    with db.write() as conn:
        conn.execute(
            passkeys.update()
            .where(passkeys.c.project_id == server.project, passkeys.c.user_id == who.user["$id"])
            .values(created_at=datetime.now(timezone.utc) - timedelta(minutes=6))
        )
    register(server, who, Authenticator())
    assert count_rows(db, passkeys, server.project, user_id=who.user["$id"]) == 1


def test_a_restart_replaces_the_pending_registration(server, db):
    who = member(server)
    device = Authenticator()
    passkey_id = "restart" + ID.unique()[:8]
    first = start(server, who, passkeyId=passkey_id, name="First")
    second = start(server, who, passkeyId=passkey_id, name="Second")
    assert first["$id"] != second["$id"] and second["passkeyId"] == passkey_id
    assert count_rows(db, passkeys, server.project, id=passkey_id) == 1
    # The first ceremony's answer no longer completes it (and uses up the current challenge).
    assert_error(verify(server, who, passkey_id, device.create(first["publicKey"])), 401, "user_passkey_invalid")
    assert_error(verify(server, who, passkey_id, device.create(second["publicKey"])), 401, "user_invalid_token")
    third = start(server, who, passkeyId=passkey_id, name="Third")
    response = verify(server, who, passkey_id, device.create(third["publicKey"]))
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Third"


def test_taken_passkey_ids_and_credentials_conflict(server):
    who, other = member(server), member(server)
    device = Authenticator()
    passkey_id = "taken" + ID.unique()[:8]
    register(server, who, device, passkeyId=passkey_id)
    with as_member(server, who) as http:
        assert_error(http.post("/account/passkeys", json={"passkeyId": passkey_id}), 409, "user_passkey_already_exists")
        assert_error(http.post("/account/passkeys", json={"passkeyId": "-invalid"}), 400, "general_argument_invalid")
    with as_member(server, other) as http:
        assert_error(http.post("/account/passkeys", json={"passkeyId": passkey_id}), 409, "user_passkey_already_exists")
    # The same credential registered again (by anyone) is refused.
    challenge = start(server, other)
    again = device.create(challenge["publicKey"], reuse=device.credentials[0])
    assert_error(verify(server, other, challenge["passkeyId"], again), 409, "user_passkey_already_exists")


def test_a_failed_verification_uses_the_challenge_up(server):
    who = member(server)
    device = Authenticator()
    challenge = start(server, who)
    passkey_id = challenge["passkeyId"]
    # Wrong origin, no user verification, another RP ID, a cross-origin ceremony: each is invalid,
    # and each needs a new ceremony.
    bad_answers = [
        lambda options: device.create(options, origin="https://evil.example"),
        lambda options: device.create(options, origin="http://127.0.0.1:5173"),
        lambda options: device.create(options, verified=False),
        lambda options: device.create(options, rp_id="example.com"),
        lambda options: device.create(options, client_data={"crossOrigin": True}),
        lambda options: device.create(options, client_data={"topOrigin": "https://evil.example"}),
        lambda options: {"id": "x", "rawId": "x", "type": "public-key", "response": {}},
    ]
    for bad in bad_answers:
        challenge = start(server, who, passkeyId=passkey_id)
        assert_error(verify(server, who, passkey_id, bad(challenge["publicKey"])), 401, "user_passkey_invalid")
        assert_error(verify(server, who, passkey_id, device.create(challenge["publicKey"])), 401, "user_invalid_token")
    assert_error(verify(server, who, "nosuch" + ID.unique()[:6], {}), 404, "user_passkey_not_found")
    # https://localhost on another port is fine too.
    challenge = start(server, who, passkeyId=passkey_id)
    good = device.create(challenge["publicKey"], origin="https://localhost:8443")
    assert verify(server, who, passkey_id, good).status_code == 200


def test_a_registration_completes_in_the_session_that_started_it(server):
    who = member(server)
    challenge = start(server, who)
    _, other_session = sign_in(server, who.email)
    with guest(server, **{"X-Appwrite-Session": other_session}) as http:
        response = http.put(
            f"/account/passkeys/{challenge['passkeyId']}/verification",
            json={"credential": Authenticator().create(challenge["publicKey"])},
        )
    assert_error(response, 401, "user_invalid_token")


def test_stale_sessions_must_sign_in_again(server, db):
    who = member(server)
    device = Authenticator()
    passkey = register(server, who, device)
    challenge = start(server, who)
    age_session(db, server.project, who.session_id)
    with as_member(server, who) as http:
        assert_error(
            http.post("/account/passkeys", json={}), 401, "user_reauthentication_required", "Reauthentication required."
        )
        assert_error(
            http.put(
                f"/account/passkeys/{challenge['passkeyId']}/verification",
                json={"credential": device.create(challenge["publicKey"])},
            ),
            401,
            "user_reauthentication_required",
        )
        assert_error(http.delete(f"/account/passkeys/{passkey['$id']}"), 401, "user_reauthentication_required")
        # Reading and renaming need no fresh session.
        assert http.get(f"/account/passkeys/{passkey['$id']}").status_code == 200
        assert http.patch(f"/account/passkeys/{passkey['$id']}", json={"name": "Old"}).status_code == 200


# -- signing in --------------------------------------------------------------------------------------


def test_sign_in_with_a_passkey_through_the_sdk(server, db):
    who = member(server)
    device = Authenticator()
    passkey = register(server, who, device, name="Key")

    me = account(server)
    challenge = me.create_passkey_token()
    assert challenge.passkeyid == "" and challenge.id
    assert challenge.publickey["rpId"] == "localhost" and challenge.publickey["allowCredentials"] == []
    assert challenge.publickey["userVerification"] == "required"
    token = me.update_passkey_token(challenge.id, device.get(challenge.publickey))
    assert token.userid == who.user["$id"] and len(token.secret) == 64
    assert (datetime.fromisoformat(token.expire) - datetime.fromisoformat(token.createdat)) == timedelta(seconds=60)

    with guest(server) as http:
        response = http.post("/account/sessions/token", json={"userId": token.userid, "secret": token.secret})
        assert response.status_code == 201, response.text
        session = response.json()
        assert session["provider"] == "passkey" and session["factors"] == ["passkey", "userVerification"]
        assert session["mfaUpdatedAt"] == session["$createdAt"] != ""
    with guest(server) as http:  # the token is used up
        again = http.post("/account/sessions/token", json={"userId": token.userid, "secret": token.secret})
        assert_error(again, 401, "user_invalid_token")
    signed_in = account(server, session=fallback_session(response, server.project))
    assert signed_in.get().id == who.user["$id"]
    assert signed_in.get_passkey(passkey["$id"]).accessedat != ""
    # A passkey session is fresh: it may register another passkey at once.
    assert signed_in.create_passkey().passkeyid
    signed_in.delete_passkey(passkey["$id"])
    # Audit: the registration, the sign-in token, the deletion (newest first).
    with server.http() as http:
        logs = http.get(f"/users/{who.user['$id']}/logs").json()["logs"]
    events = [entry["event"] for entry in logs]
    assert events[:3] == ["passkey.delete", "session.create", "passkey.token.create"], events
    assert "passkey.create" in events


def test_a_passkey_session_satisfies_mfa(server, users):
    who = member(server)
    user_id = who.user["$id"]
    device = Authenticator()
    register(server, who, device)
    users.update_email_verification(user_id, True)
    users.update_mfa(user_id, True)
    # A password session of this user needs a second factor; a passkey session does not.
    with guest(server) as http:
        password = http.post("/account/sessions/email", json={"email": who.email, "password": who.password})
    with guest(server, **{"X-Appwrite-Session": fallback_session(password, server.project)}) as http:
        assert_error(http.get("/account"), 401, "user_more_factors_required")
    token = passkey_token(server, device)
    with guest(server) as http:
        created = http.post("/account/sessions/token", json={"userId": user_id, "secret": token["secret"]})
    with guest(server, **{"X-Appwrite-Session": fallback_session(created, server.project)}) as http:
        assert http.get("/account").json()["$id"] == user_id


def test_assertions_and_challenges_are_single_use(server):
    who = member(server)
    device = Authenticator()
    register(server, who, device)
    challenge = sign_in_challenge(server)
    assertion = device.get(challenge["publicKey"])
    assert answer(server, challenge["$id"], assertion).status_code == 201
    # The same JSON again, and a fresh assertion on the used challenge.
    assert_error(answer(server, challenge["$id"], assertion), 401, "user_invalid_token")
    assert_error(answer(server, challenge["$id"], device.get(challenge["publicKey"])), 401, "user_invalid_token")
    assert_error(answer(server, "unknown" + ID.unique()[:6], assertion), 401, "user_invalid_token")
    # An assertion made for one challenge does not answer another.
    other = sign_in_challenge(server)
    assert_error(answer(server, other["$id"], assertion), 401, "user_passkey_invalid")


@pytest.mark.parametrize(
    "bad",
    [
        {"origin": "https://evil.example"},
        {"origin": "http://localhost.evil.example"},
        {"verified": False},
        {"client_data": {"crossOrigin": True}},
        {"client_data": {"topOrigin": "http://localhost:1"}},
        {"user_handle": b"someone else"},
        {"synced": True},  # the backup-eligible flag may not change
    ],
    ids=["origin", "lookalike-origin", "no-uv", "cross-origin", "top-origin", "user-handle", "backup-flag"],
)
def test_bad_assertions_are_invalid(server, bad):
    who = member(server)
    device = Authenticator()
    register(server, who, device)
    challenge = sign_in_challenge(server)
    assert_error(
        answer(server, challenge["$id"], device.get(challenge["publicKey"], **bad)), 401, "user_passkey_invalid"
    )
    # The challenge is used up by the failed attempt.
    assert_error(answer(server, challenge["$id"], device.get(challenge["publicKey"])), 401, "user_invalid_token")
    # The device itself still signs in.
    assert passkey_token(server, device)["userId"] == who.user["$id"]


def test_signature_counters(server):
    who = member(server)
    bound = Authenticator()
    register(server, who, bound)
    assert passkey_token(server, bound)  # counter 1
    assert passkey_token(server, bound, counter=5)
    # A device-bound credential whose counter does not grow is a clone: refused.
    for counter in (5, 4, 0):
        challenge = sign_in_challenge(server)
        response = answer(server, challenge["$id"], bound.get(challenge["publicKey"], counter=counter))
        assert_error(response, 401, "user_passkey_invalid")
    assert passkey_token(server, bound, counter=6)

    # Synced passkeys share their counter between devices: not checked; nor an always-0 counter.
    synced = Authenticator(synced=True)
    register(server, who, synced)
    for counter in (3, 3, 1, 0):
        assert passkey_token(server, synced, counter=counter)
    zero = Authenticator(counter_step=0)
    register(server, who, zero)
    for _ in range(3):
        assert passkey_token(server, zero)["userId"] == who.user["$id"]


def test_deleted_passkeys_and_users_cannot_sign_in(server, http, db):
    who = member(server)
    device = Authenticator()
    passkey = register(server, who, device)
    with as_member(server, who) as me:
        assert me.delete(f"/account/passkeys/{passkey['$id']}").status_code == 204
    challenge = sign_in_challenge(server)
    assert_error(answer(server, challenge["$id"], device.get(challenge["publicKey"])), 401, "user_passkey_invalid")

    gone = member(server)
    register(server, gone, device)
    assert http.delete(f"/users/{gone.user['$id']}").status_code == 204
    assert count_rows(db, passkeys, server.project, user_id=gone.user["$id"]) == 0
    challenge = sign_in_challenge(server)
    assert_error(answer(server, challenge["$id"], device.get(challenge["publicKey"])), 401, "user_passkey_invalid")


def test_a_blocked_user_is_told_only_after_the_passkey_checks_out(server, http):
    who = member(server)
    device = Authenticator()
    register(server, who, device)
    assert http.patch(f"/users/{who.user['$id']}/status", json={"status": False}).status_code == 200
    challenge = sign_in_challenge(server)
    forged = device.get(challenge["publicKey"], verified=False)
    assert_error(answer(server, challenge["$id"], forged), 401, "user_passkey_invalid")
    challenge = sign_in_challenge(server)
    body = assert_error(answer(server, challenge["$id"], device.get(challenge["publicKey"])), 403, "user_blocked")
    assert body["message"] == "The current user has been blocked."


def test_of_concurrent_exchanges_one_session_is_made(server, db):
    who = member(server)
    device = Authenticator()
    register(server, who, device)
    token = passkey_token(server, device)
    barrier = threading.Barrier(5)

    def exchange(_):
        with guest(server) as http:
            barrier.wait()
            return http.post("/account/sessions/token", json={"userId": token["userId"], "secret": token["secret"]})

    with ThreadPoolExecutor(5) as pool:
        statuses = sorted(r.status_code for r in pool.map(exchange, range(5)))
    assert statuses == [201, 401, 401, 401, 401]
    assert count_rows(db, sessions, server.project, user_id=who.user["$id"], provider="passkey") == 1


def test_of_concurrent_verifications_one_succeeds(server):
    who = member(server)
    device = Authenticator()
    challenge = start(server, who)
    credential = device.create(challenge["publicKey"])
    barrier = threading.Barrier(5)

    def attempt(_):
        with as_member(server, who) as http:
            barrier.wait()
            return http.put(f"/account/passkeys/{challenge['passkeyId']}/verification", json={"credential": credential})

    with ThreadPoolExecutor(5) as pool:
        responses = list(pool.map(attempt, range(5)))
    # One wins; the others find the challenge used (401) or the passkey no longer pending (404).
    assert sorted(r.status_code for r in responses)[0] == 200
    losers = {(r.status_code, r.json()["type"]) for r in responses if r.status_code != 200}
    assert len(losers) >= 1 and losers <= {(401, "user_invalid_token"), (404, "user_passkey_not_found")}
    assert [r.status_code for r in responses].count(200) == 1


# -- the relying party ---------------------------------------------------------------------------------


def test_without_a_relying_party_passkeys_are_not_configured(nib_with):
    nib = nib_with(NIB_HOSTNAME="127.0.0.1", NIB_RATE_LIMITS="off")
    who = member(nib)
    for response in (
        as_member(nib, who).post("/account/passkeys", json={}),
        guest(nib).post("/account/tokens/passkey"),
    ):
        assert_error(response, 501, "user_auth_method_unsupported", NOT_CONFIGURED)
    with as_member(nib, who) as http:
        assert http.get("/account/passkeys").json() == {"total": 0, "passkeys": []}


def test_a_public_hostname_allows_its_https_platforms(nib_with):
    nib = nib_with(NIB_HOSTNAME="example.com", NIB_RATE_LIMITS="off")
    who = member(nib)
    # No web platform on example.com yet: not configured.
    with as_member(nib, who) as http:
        assert_error(http.post("/account/passkeys", json={}), 501, "user_auth_method_unsupported")
    nib.cli("platforms", "add", "--project", nib.project, "--hostname", "app.example.com")
    nib.cli("platforms", "add", "--project", nib.project, "--hostname", "*.users.example.com")
    nib.cli("platforms", "add", "--project", nib.project, "--hostname", "example.org")
    passkey_id = ID.unique()
    allowed = ["https://app.example.com", "https://ann.users.example.com"]
    refused = [
        "http://app.example.com",
        "https://example.org",
        "https://other.example.com",
        "http://localhost:5173",
        "https://app.example.com:8443",
        "https://APP.example.com",
        "https://app.example.com/",
    ]
    for origin in refused + allowed[:1]:
        challenge = start(nib, who, passkeyId=passkey_id)
        assert challenge["publicKey"]["rp"]["id"] == "example.com"
        response = verify(nib, who, passkey_id, Authenticator(origin=origin).create(challenge["publicKey"]))
        if origin in allowed:
            assert response.status_code == 200, response.text
        else:
            assert_error(response, 401, "user_passkey_invalid")
    # The wildcard platform's subdomains sign in.
    device = Authenticator(origin=allowed[1])
    register(nib, who, device)
    assert passkey_token(nib, device)["userId"] == who.user["$id"]


def test_a_changed_relying_party_voids_open_challenges(nib_with):
    nib = nib_with(NIB_HOSTNAME="example.com", NIB_RATE_LIMITS="off")
    nib.cli("platforms", "add", "--project", nib.project, "--hostname", "app.example.com")
    who = member(nib)
    challenge = start(nib, who)
    nib.cli("platforms", "add", "--project", nib.project, "--hostname", "beta.example.com")
    time.sleep(1.2)  # the platform cache
    credential = Authenticator(origin="https://app.example.com").create(challenge["publicKey"])
    assert_error(verify(nib, who, challenge["passkeyId"], credential), 401, "user_invalid_token")


def test_user_handles_are_per_user(server):
    one, two = member(server), member(server)
    first, second = start(server, one), start(server, two)
    assert first["publicKey"]["user"]["id"] != second["publicKey"]["user"]["id"]
    assert b64url(from_b64url(first["publicKey"]["user"]["id"])) == first["publicKey"]["user"]["id"]
