"""The account itself: sign-up, reads and updates, identities, push targets, and the
provider-backed routes nib answers as unconfigured."""

from __future__ import annotations

import pytest
from account_support import PASSWORD, account, as_member, guest, member, sign_up
from appwrite.id import ID
from users_support import (
    assert_error,
    create_user,
    sdk_error,
    seed_identity,
    unique_email,
    unique_phone,
)

ACCOUNT_FIELDS = {
    "$id",
    "$createdAt",
    "$updatedAt",
    "name",
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
    "impersonator",
    "impersonatorUserId",
}


# -- sign-up --------------------------------------------------------------------------------------


def test_create_account(server):
    email = unique_email("Sign.Up")
    created = account(server).create(ID.unique(), email, PASSWORD, name="Grace")
    assert created.email == email.lower() and created.name == "Grace" and created.status is True
    assert created.passwordupdate != "" and created.accessedat != "" and created.emailverification is False
    with guest(server) as http:
        body = sign_up(server)
        assert set(body) == ACCOUNT_FIELDS and body["prefs"] == {}
        assert [(t["providerType"], t["identifier"]) for t in body["targets"]] == [("email", body["email"])]
        # No session, no cookie.
        response = http.post("/account", json={"userId": ID.unique(), "email": unique_email(), "password": PASSWORD})
        assert "set-cookie" not in response.headers


def test_create_account_conflicts_and_invalid_input(server):
    user = sign_up(server)
    with sdk_error(409, "user_already_exists"):
        account(server).create(ID.unique(), user["email"], PASSWORD)
    with sdk_error(409, "user_already_exists"):
        account(server).create(user["$id"], unique_email(), PASSWORD)
    with guest(server) as http:
        for body in (
            {"userId": ID.unique(), "email": "", "password": PASSWORD},
            {"userId": ID.unique(), "email": unique_email(), "password": ""},
            {"userId": ID.unique(), "email": unique_email(), "password": "12345"},
            {"userId": ID.unique(), "email": unique_email(), "password": "x" * 257},
        ):
            assert_error(http.post("/account", json=body), 400, "general_argument_invalid")


def test_create_account_with_an_identity_email_is_a_bad_request(server, http, db):
    owner = create_user(http)
    email = unique_email("oauth")
    seed_identity(db, server.project, owner["$id"], email=email)
    with sdk_error(400, "general_bad_request"):
        account(server).create(ID.unique(), email, PASSWORD)


# -- updates --------------------------------------------------------------------------------------


def test_prefs(server):
    me = member(server)
    client = account(server, session=me.session)
    with as_member(server, me) as http:
        assert http.get("/account/prefs").text == "{}"
        for bad in ("{}", "[]", '{"test": "value"}'):
            assert_error(http.patch("/account/prefs", json={"prefs": bad}), 400, "general_argument_invalid")
    updated = client.update_prefs({"theme": "dark", "n": 2})
    assert updated.id == me.user["$id"] and updated.prefs.to_dict() == {"theme": "dark", "n": 2}
    assert client.get_prefs().to_dict() == {"theme": "dark", "n": 2}


def test_name(server):
    me = member(server)
    assert account(server, session=me.session).update_name("Lovelace").name == "Lovelace"
    with as_member(server, me) as http:
        for bad in ("", "x" * 129):
            assert_error(http.patch("/account/name", json={"name": bad}), 400, "general_argument_invalid")
        events = [log["event"] for log in http.get("/account/logs").json()["logs"]]
    assert events[0] == "user.update"


def test_password_needs_the_old_one(server):
    me = member(server)
    client = account(server, session=me.session)
    with sdk_error(401, "user_invalid_credentials"):
        client.update_password("new-password-123", old_password="wrong-password")
    with sdk_error(401, "user_invalid_credentials"):
        client.update_password("new-password-123")
    with as_member(server, me) as http:
        assert_error(http.patch("/account/password", json={"oldPassword": ""}), 400, "general_argument_invalid")
    assert client.update_password("new-password-123", old_password=PASSWORD).passwordupdate >= me.user["passwordUpdate"]


def test_email(server):
    me, other = member(server), member(server)
    client = account(server, session=me.session)
    with sdk_error(401, "user_invalid_credentials"):
        client.update_email(unique_email(), "wrong-password")
    with sdk_error(409, "user_target_already_exists"):
        client.update_email(other.email, PASSWORD)
    new_email = unique_email("moved")
    updated = client.update_email(new_email.upper(), PASSWORD)
    assert updated.email == new_email and updated.emailverification is False
    assert [t.identifier for t in updated.targets] == [new_email]
    # The old address is free again.
    assert sign_up(server, email=me.email)["email"] == me.email


def test_phone(server):
    me, other = member(server), member(server)
    phone = unique_phone()
    updated = account(server, session=me.session).update_phone(phone, PASSWORD)
    assert updated.phone == phone and updated.phoneverification is False
    assert sorted(t.providertype for t in updated.targets) == ["email", "sms"]
    with sdk_error(409, "user_target_already_exists"):
        account(server, session=other.session).update_phone(phone, PASSWORD)
    with sdk_error(401, "user_invalid_credentials"):
        account(server, session=other.session).update_phone(unique_phone(), "wrong-password")


def test_self_block(server):
    me = member(server)
    with as_member(server, me) as http:
        response = http.patch("/account/status")
        assert response.status_code == 200 and response.json()["status"] is False
        assert f"a_session_{server.project}=deleted" in response.headers.get_list("set-cookie")[-1]
        assert response.headers["x-fallback-cookies"] == "[]"
        assert_error(http.get("/account"), 401, "user_blocked")


def test_guest_cannot_update(server):
    with guest(server) as http:
        for path, body in (
            ("/account/name", {"name": "x"}),
            ("/account/prefs", {"prefs": {}}),
            ("/account/status", {}),
        ):
            assert_error(http.patch(path, json=body), 401, "general_unauthorized_scope")


# -- identities and push targets ------------------------------------------------------------------


def test_identities_are_the_users_own(server, db):
    me, other = member(server), member(server)
    mine = seed_identity(db, server.project, me.user["$id"])
    theirs = seed_identity(db, server.project, other.user["$id"])
    client = account(server, session=me.session)
    listed = client.list_identities()
    assert listed.total == 1 and [i.id for i in listed.identities] == [mine]
    with sdk_error(404, "user_identity_not_found"):
        client.delete_identity(theirs)
    client.delete_identity(mine)
    assert client.list_identities().total == 0


def test_push_targets(server):
    me, other = member(server), member(server)
    with as_member(server, me) as http:
        created = http.post("/account/targets/push", json={"targetId": "unique()", "identifier": "device-token-1"})
        assert created.status_code == 201
        target = created.json()
        assert target["providerType"] == "push" and target["userId"] == me.user["$id"]
        updated = http.put(f"/account/targets/{target['$id']}/push", json={"identifier": "device-token-2"})
        assert updated.json()["identifier"] == "device-token-2"
    with as_member(server, other) as http:
        assert_error(http.delete(f"/account/targets/{target['$id']}/push"), 404, "user_target_not_found")
    with as_member(server, me) as http:
        assert http.delete(f"/account/targets/{target['$id']}/push").status_code == 204
        assert [t["providerType"] for t in http.get("/account").json()["targets"]] == ["email"]


# -- providers nib does not have ------------------------------------------------------------------


def test_phone_routes_answer_phone_disabled(server):
    me = member(server)
    with guest(server) as http:
        body = {"userId": ID.unique(), "phone": unique_phone()}
        assert_error(http.post("/account/tokens/phone", json=body), 503, "general_phone_disabled")
        assert_error(http.post("/account/tokens/phone", json={**body, "phone": "123"}), 400, "general_argument_invalid")
        assert_error(http.post("/account/verification/phone"), 401, "general_unauthorized_scope")
    with as_member(server, me) as http:
        for path in ("/account/verification/phone", "/account/verifications/phone"):
            assert_error(http.post(path), 503, "general_phone_disabled")
            response = http.put(path, json={"userId": me.user["$id"], "secret": "123456"})
            assert_error(response, 503, "general_phone_disabled")


@pytest.mark.parametrize("kind", ["sessions", "tokens"])
def test_oauth2_providers_are_disabled(server, kind):
    with guest(server) as http:
        response = http.get(f"/account/{kind}/oauth2/github", params={"success": "http://localhost/ok"})
        assert_error(response, 412, "project_provider_disabled")
        assert_error(http.get(f"/account/{kind}/oauth2/nosuch"), 400, "general_argument_invalid")
