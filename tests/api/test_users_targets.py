"""Messaging targets of a user and their Target model."""

from __future__ import annotations

import httpx
import pytest
from appwrite.enums.messaging_provider_type import MessagingProviderType
from appwrite.id import ID
from appwrite.query import Query
from users_support import (
    MISSING_ID,
    assert_error,
    assert_invalid,
    assert_not_found,
    count_rows,
    create_user,
    parse_dt,
    sdk_error,
    unique_email,
    unique_phone,
)

from nib.auth.tables import targets

INVALID_EMAIL = "Value must be a valid email address."
INVALID_PHONE = (
    "Value must be a valid phone number. Format this number with a leading '+' and a country code, e.g., +16175551212."
)
TARGET_NOT_FOUND = "The target could not be found."


def _create(http, user_id: str, provider_type: str, identifier: str, **extra):
    return http.post(
        f"/users/{user_id}/targets",
        json={
            "targetId": extra.pop("targetId", ID.unique()),
            "providerType": provider_type,
            "identifier": identifier,
            **extra,
        },
    )


def _key(server, scopes: str) -> str:
    result = server.cli("keys", "create", "--project", server.project, "--name", f"scoped {scopes}", "--scopes", scopes)
    return result.stdout.strip().splitlines()[-1]


# -- unknown user ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method,suffix,body",
    [
        ("GET", "targets", None),
        ("POST", "targets", {"targetId": "t1", "providerType": "push", "identifier": "device-token"}),
        ("GET", "targets/t1", None),
        ("PATCH", "targets/t1", {"name": "x"}),
        ("DELETE", "targets/t1", None),
    ],
)
def test_unknown_user_is_404(http, method, suffix, body):
    path = f"/users/{MISSING_ID}/{suffix}"
    assert_not_found(http.request(method, path, json=body) if body else http.request(method, path))


# -- automatic targets ----------------------------------------------------------------------------


def test_auto_targets_from_create(users, http):
    email, phone = unique_email(), unique_phone()
    user = create_user(http, email=email, phone=phone)
    by_type = {t["providerType"]: t for t in user["targets"]}
    assert set(by_type) == {"email", "sms"}
    for provider_type, identifier in (("email", email), ("sms", phone)):
        target = by_type[provider_type]
        assert target["identifier"] == identifier
        assert target["userId"] == user["$id"]
        assert target["name"] == ""
        assert target["providerId"] is None
        assert target["expired"] is False
        assert len(target["$id"]) == 20
        parse_dt(target["$createdAt"])
    listed = users.list_targets(user["$id"])
    assert listed.total == 2
    assert sorted(t.identifier for t in listed.targets) == sorted([email, phone])


def test_listed_user_shows_its_targets_in_creation_order(http):
    """The list brings targets in the page's statement: same targets, same order as GET."""
    user = create_user(http)
    for target_id, token in (("zz-last-id", "tok-1"), ("aa-first-id", "tok-2"), ("mm-middle-id", "tok-3")):
        assert _create(http, user["$id"], "push", f"{token}-{user['$id']}", targetId=target_id).status_code == 201
    single = http.get(f"/users/{user['$id']}").json()
    expected = [*(t["$id"] for t in user["targets"]), "zz-last-id", "aa-first-id", "mm-middle-id"]
    assert [t["$id"] for t in single["targets"]] == expected
    listed = http.get("/users", params={"queries[0]": Query.equal("$id", [user["$id"]])}).json()
    assert listed["total"] == 1
    assert listed["users"] == [single]
    assert all(t["expired"] is False and t["userId"] == user["$id"] for t in listed["users"][0]["targets"])


def test_auto_target_skipped_when_identifier_taken(http):
    """A target already holding the address: the new user gets no target, and no error."""
    holder = create_user(http)
    email = unique_email("shared")
    assert _create(http, holder["$id"], "email", email).status_code == 201
    user = create_user(http, email=email)
    assert [t["providerType"] for t in user["targets"]] == ["sms"]


# -- create ---------------------------------------------------------------------------------------


def test_create_targets_of_each_type(users, http):
    user = create_user(http)
    email, phone = unique_email("target"), unique_phone()
    email_target = users.create_target(user["$id"], ID.unique(), MessagingProviderType.EMAIL, email, name="Work mail")
    assert email_target.providertype == "email"
    assert email_target.identifier == email
    assert email_target.name == "Work mail"
    assert email_target.userid == user["$id"]
    assert email_target.expired is False

    sms = users.create_target(user["$id"], ID.unique(), MessagingProviderType.SMS, phone)
    assert (sms.providertype, sms.identifier, sms.name) == ("sms", phone, "")

    response = _create(http, user["$id"], "push", "fcm-token-" + user["$id"], targetId="push-" + user["$id"][:10])
    assert response.status_code == 201
    push = response.json()
    assert push["$id"] == "push-" + user["$id"][:10]
    assert push["providerType"] == "push"
    assert push["identifier"] == "fcm-token-" + user["$id"]
    assert push["providerId"] is None
    assert push["expired"] is False

    fetched = http.get(f"/users/{user['$id']}").json()
    assert len(fetched["targets"]) == 5
    assert {t["$id"] for t in fetched["targets"]} >= {email_target.id, sms.id, push["$id"]}


def test_create_target_unique_id(http):
    user = create_user(http)
    response = _create(http, user["$id"], "push", "token-" + user["$id"], targetId="unique()")
    assert response.status_code == 201
    assert len(response.json()["$id"]) == 20


def test_create_target_unknown_provider_is_ignored(http):
    user = create_user(http)
    response = _create(http, user["$id"], "push", "tok-p-" + user["$id"], providerId="noSuchProvider")
    assert response.status_code == 201
    assert response.json()["providerId"] in (None, "", "noSuchProvider")


@pytest.mark.parametrize("identifier", ["not-an-email", "user@", "@example.com", "a b@example.com"])
def test_create_email_target_invalid(http, identifier):
    user = create_user(http)
    assert_error(_create(http, user["$id"], "email", identifier), 400, "general_invalid_email", INVALID_EMAIL)


@pytest.mark.parametrize("identifier", ["12345678", "+0123456789", "+1234", "phone"])
def test_create_sms_target_invalid(http, identifier):
    user = create_user(http)
    assert_error(_create(http, user["$id"], "sms", identifier), 400, "general_invalid_phone", INVALID_PHONE)


def test_create_target_param_validation(http):
    user = create_user(http)
    uid = user["$id"]
    assert_invalid(
        _create(http, uid, "fax", "x"), "Invalid `providerType` param: Value must be one of (email, sms, push)"
    )
    assert_invalid(
        _create(http, uid, "push", ""),
        "Invalid `identifier` param: Value must be a valid string and at least 1 chars and no longer than 255 chars",
    )
    assert_invalid(
        _create(http, uid, "push", "x" * 256),
        "Invalid `identifier` param: Value must be a valid string and at least 1 chars and no longer than 255 chars",
    )
    assert_invalid(
        _create(http, uid, "push", "tok", targetId="_bad"),
        "Invalid `targetId` param: Parameter must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, period, "
        "hyphen, and underscore. Can't start with a special char",
    )
    assert_invalid(
        _create(http, uid, "push", "tok", name="n" * 129),
        "Invalid `name` param: Value must be a valid string and at least 1 chars and no longer than 128 chars",
    )
    assert_invalid(
        http.post(f"/users/{uid}/targets", json={"providerType": "push", "identifier": "x"}),
        'Param "targetId" is not optional.',
    )
    assert_invalid(
        http.post(f"/users/{uid}/targets", json={"targetId": "t", "identifier": "x"}),
        'Param "providerType" is not optional.',
    )
    assert_invalid(
        http.post(f"/users/{uid}/targets", json={"targetId": "t", "providerType": "push"}),
        'Param "identifier" is not optional.',
    )


def test_create_target_duplicate_id(users, http):
    user, other = create_user(http), create_user(http)
    target_id = "dup" + user["$id"][:12]
    assert _create(http, user["$id"], "push", "tok-a-" + user["$id"], targetId=target_id).status_code == 201
    assert_error(
        _create(http, user["$id"], "push", "tok-b-" + user["$id"], targetId=target_id),
        409,
        "user_target_already_exists",
        "A target with the same ID already exists.",
    )
    # target IDs are unique per project, not per user
    assert_error(
        _create(http, other["$id"], "push", "tok-c-" + user["$id"], targetId=target_id),
        409,
        "user_target_already_exists",
    )
    with sdk_error(409, "user_target_already_exists"):
        users.create_target(user["$id"], target_id, MessagingProviderType.PUSH, "tok-d-" + user["$id"])


def test_create_target_duplicate_identifier(http):
    user, other = create_user(http), create_user(http)
    # an auto target's identifier, own and another user's
    assert_error(_create(http, user["$id"], "email", user["email"]), 409, "user_target_already_exists")
    assert_error(_create(http, user["$id"], "sms", other["phone"]), 409, "user_target_already_exists")
    token = "tok-" + user["$id"]
    assert _create(http, user["$id"], "push", token).status_code == 201
    assert_error(_create(http, other["$id"], "push", token), 409, "user_target_already_exists")


# -- list -----------------------------------------------------------------------------------------


def test_list_targets_counts_only_this_user(users, http):
    user, other = create_user(http), create_user(http)
    custom = _create(http, user["$id"], "push", "list-" + user["$id"]).json()
    _create(http, other["$id"], "push", "list-" + other["$id"])
    listed = http.get(f"/users/{user['$id']}/targets").json()
    assert listed["total"] == 3
    assert {t["userId"] for t in listed["targets"]} == {user["$id"]}
    assert listed["targets"][-1]["$id"] == custom["$id"]
    assert http.delete(f"/users/{user['$id']}/targets/{custom['$id']}").status_code == 204
    assert users.list_targets(user["$id"]).total == 2


def test_list_targets_queries(users, http):
    user = create_user(http)
    push = _create(http, user["$id"], "push", "q-" + user["$id"]).json()
    only_email = users.list_targets(user["$id"], [Query.equal("providerType", ["email"])])
    assert only_email.total == 1
    assert only_email.targets[0].identifier == user["email"]
    by_identifier = http.get(
        f"/users/{user['$id']}/targets", params={"queries[0]": Query.equal("identifier", [push["identifier"]])}
    ).json()
    assert [t["$id"] for t in by_identifier["targets"]] == [push["$id"]]
    two = http.get(
        f"/users/{user['$id']}/targets",
        params={"queries[0]": Query.equal("providerType", ["push", "sms"]), "queries[1]": Query.limit(1)},
    ).json()
    assert two["total"] == 2
    assert len(two["targets"]) == 1
    # userId filter cannot reach another user's targets
    other = create_user(http)
    leak = http.get(
        f"/users/{user['$id']}/targets", params={"queries[0]": Query.equal("userId", [other["$id"]])}
    ).json()
    assert leak == {"total": 0, "targets": []}
    first = http.get(f"/users/{user['$id']}/targets").json()["targets"][0]
    after = http.get(f"/users/{user['$id']}/targets", params={"queries[0]": Query.cursor_after(first["$id"])}).json()
    assert len(after["targets"]) == 2
    assert after["targets"][0]["$id"] != first["$id"]


def test_list_targets_invalid_queries(http):
    user = create_user(http)
    assert_invalid(
        http.get(f"/users/{user['$id']}/targets", params={"queries[0]": Query.equal("name", ["x"])}),
        "Invalid `queries` param: Invalid query: Attribute not found in schema: name",
    )
    assert_invalid(
        http.get(f"/users/{user['$id']}/targets", params={"queries[0]": Query.select(["identifier"])}),
        "Invalid `queries` param: Invalid query method: select",
    )
    assert_error(
        http.get(f"/users/{user['$id']}/targets", params={"queries[0]": Query.cursor_after("nosuchtarget")}),
        400,
        "general_cursor_not_found",
        "Target 'nosuchtarget' for the 'cursor' value not found.",
    )


# -- get / update / delete ------------------------------------------------------------------------


def test_get_target(users, http):
    user = create_user(http)
    target = _create(http, user["$id"], "push", "get-" + user["$id"], name="Phone").json()
    fetched = users.get_target(user["$id"], target["$id"])
    assert fetched.id == target["$id"]
    assert fetched.name == "Phone"
    assert fetched.identifier == "get-" + user["$id"]
    assert http.get(f"/users/{user['$id']}/targets/{target['$id']}").json() == target
    assert_error(http.get(f"/users/{user['$id']}/targets/nosuchtarget"), 404, "user_target_not_found", TARGET_NOT_FOUND)


def test_update_target(users, http):
    user = create_user(http)
    target = _create(http, user["$id"], "email", unique_email("upd")).json()
    new_email = unique_email("upd2")
    updated = users.update_target(user["$id"], target["$id"], identifier=new_email, name="Renamed")
    assert updated.identifier == new_email
    assert updated.name == "Renamed"
    assert updated.providertype == "email"
    assert parse_dt(updated.updatedat) >= parse_dt(target["$updatedAt"])
    # only the name
    renamed = http.patch(f"/users/{user['$id']}/targets/{target['$id']}", json={"name": "Again"}).json()
    assert (renamed["identifier"], renamed["name"]) == (new_email, "Again")
    assert http.get(f"/users/{user['$id']}/targets/{target['$id']}").json()["name"] == "Again"
    # nothing at all: unchanged
    same = http.patch(f"/users/{user['$id']}/targets/{target['$id']}", json={})
    assert same.status_code == 200
    assert same.json()["identifier"] == new_email


def test_update_target_revalidates_identifier(http):
    user = create_user(http)
    [email_target] = [t for t in user["targets"] if t["providerType"] == "email"]
    [sms_target] = [t for t in user["targets"] if t["providerType"] == "sms"]
    assert_error(
        http.patch(f"/users/{user['$id']}/targets/{email_target['$id']}", json={"identifier": "+15551234567"}),
        400,
        "general_invalid_email",
        INVALID_EMAIL,
    )
    assert_error(
        http.patch(f"/users/{user['$id']}/targets/{sms_target['$id']}", json={"identifier": "someone@example.com"}),
        400,
        "general_invalid_phone",
        INVALID_PHONE,
    )
    number = unique_phone()
    ok = http.patch(f"/users/{user['$id']}/targets/{sms_target['$id']}", json={"identifier": number})
    assert ok.status_code == 200
    assert ok.json()["identifier"] == number
    push = _create(http, user["$id"], "push", "p-" + user["$id"]).json()
    anything = http.patch(f"/users/{user['$id']}/targets/{push['$id']}", json={"identifier": "any token at all"})
    assert anything.json()["identifier"] == "any token at all"


def test_update_target_duplicate_identifier(http):
    user, other = create_user(http), create_user(http)
    target = _create(http, user["$id"], "email", unique_email("mine")).json()
    assert_error(
        http.patch(f"/users/{user['$id']}/targets/{target['$id']}", json={"identifier": other["email"]}),
        409,
        "user_target_already_exists",
    )


def test_delete_target(users, http, db, server):
    user = create_user(http)
    target = _create(http, user["$id"], "push", "del-" + user["$id"]).json()
    response = http.delete(f"/users/{user['$id']}/targets/{target['$id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert count_rows(db, targets, server.project, id=target["$id"]) == 0
    assert_error(http.get(f"/users/{user['$id']}/targets/{target['$id']}"), 404, "user_target_not_found")
    assert_error(http.delete(f"/users/{user['$id']}/targets/{target['$id']}"), 404, "user_target_not_found")
    # deleting an auto target leaves the user's email alone
    [email_target] = [t for t in user["targets"] if t["providerType"] == "email"]
    users.delete_target(user["$id"], email_target["$id"])
    fetched = http.get(f"/users/{user['$id']}").json()
    assert fetched["email"] == user["email"]
    assert [t["providerType"] for t in fetched["targets"]] == ["sms"]


def test_other_users_target_is_not_found(users, http):
    owner, intruder = create_user(http), create_user(http)
    target = _create(http, owner["$id"], "push", "own-" + owner["$id"]).json()
    base = f"/users/{intruder['$id']}/targets/{target['$id']}"
    assert_error(http.get(base), 404, "user_target_not_found", TARGET_NOT_FOUND)
    assert_error(http.patch(base, json={"name": "stolen"}), 404, "user_target_not_found")
    assert_error(http.delete(base), 404, "user_target_not_found")
    with sdk_error(404, "user_target_not_found"):
        users.get_target(intruder["$id"], target["$id"])
    assert http.get(f"/users/{owner['$id']}/targets/{target['$id']}").json()["name"] == ""


# -- scopes ---------------------------------------------------------------------------------------


def test_targets_scopes(server, http):
    user = create_user(http)
    target = _create(http, user["$id"], "push", "scope-" + user["$id"]).json()

    users_only = _key(server, "users.read,users.write")
    with server.http(key=users_only) as client:
        for method, path in (
            ("GET", f"/users/{user['$id']}/targets"),
            ("GET", f"/users/{user['$id']}/targets/{target['$id']}"),
        ):
            body = assert_error(client.request(method, path), 401, "general_unauthorized_scope")
            assert body["message"].endswith("(role: applications) missing scope (targets.read)")
        body = assert_error(
            client.post(
                f"/users/{user['$id']}/targets", json={"targetId": "x1", "providerType": "push", "identifier": "y"}
            ),
            401,
            "general_unauthorized_scope",
        )
        assert body["message"].endswith("missing scope (targets.write)")

    read_only = _key(server, "targets.read")
    with server.http(key=read_only) as client:
        assert client.get(f"/users/{user['$id']}/targets").json()["total"] == 3
        assert client.get(f"/users/{user['$id']}/targets/{target['$id']}").status_code == 200
        for method, body in (("PATCH", {"name": "n"}), ("DELETE", None)):
            response = client.request(method, f"/users/{user['$id']}/targets/{target['$id']}", json=body)
            assert_error(response, 401, "general_unauthorized_scope")
        # the User itself needs users.read
        assert_error(client.get(f"/users/{user['$id']}"), 401, "general_unauthorized_scope")

    write_only = _key(server, "targets.write")
    with server.http(key=write_only) as client:
        created = client.post(
            f"/users/{user['$id']}/targets",
            json={"targetId": ID.unique(), "providerType": "push", "identifier": "w-" + user["$id"]},
        )
        assert created.status_code == 201
        assert client.delete(f"/users/{user['$id']}/targets/{created.json()['$id']}").status_code == 204


def test_targets_need_a_key(server, http):
    user = create_user(http)
    with httpx.Client(base_url=server.endpoint, headers={"X-Appwrite-Project": server.project}) as guest:
        body = assert_error(guest.get(f"/users/{user['$id']}/targets"), 401, "general_unauthorized_scope")
        assert body["message"] == "User (role: guests) missing scope (targets.read)"
