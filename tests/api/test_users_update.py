"""Users service updates and deletion through the SDK and raw HTTP."""

from __future__ import annotations

import time

import pytest
from appwrite.id import ID
from appwrite.query import Query
from argon2 import PasswordHasher
from users_support import (
    MISSING_ID,
    assert_error,
    assert_invalid,
    assert_not_found,
    count_rows,
    create_user,
    parse_dt,
    sdk_error,
    seed_authenticator,
    seed_identity,
    seed_membership,
    seed_team,
    team_total,
    unique_email,
    unique_phone,
    user_row,
)

from nib.auth.tables import authenticators, identities, memberships, sessions, targets, tokens


def _later(previous: str) -> None:
    """Wait until the clock moved past a millisecond-precision timestamp."""
    while parse_dt(previous).timestamp() >= time.time() - 0.002:
        time.sleep(0.005)


# -- every route of this file answers 404 for an unknown user --------------------------------------

UNKNOWN_USER_CALLS = [
    ("PATCH", "name", {"name": "x"}),
    ("PATCH", "email", {"email": "nobody@example.com"}),
    ("PATCH", "phone", {"number": "+15550000001"}),
    ("PATCH", "password", {"password": "password123"}),
    ("PATCH", "status", {"status": False}),
    ("PUT", "labels", {"labels": ["a"]}),
    ("PATCH", "verification", {"emailVerification": True}),
    ("PATCH", "verification/phone", {"phoneVerification": True}),
    ("PATCH", "mfa", {"mfa": True}),
    ("GET", "prefs", None),
    ("PATCH", "prefs", {"prefs": {"a": 1}}),
    ("DELETE", "", None),
]


@pytest.mark.parametrize("method,suffix,body", UNKNOWN_USER_CALLS, ids=[f"{m} {s}" for m, s, _ in UNKNOWN_USER_CALLS])
def test_unknown_user_is_404(http, method, suffix, body):
    path = f"/users/{MISSING_ID}" + (f"/{suffix}" if suffix else "")
    assert_not_found(http.request(method, path, json=body) if body is not None else http.request(method, path))


def test_invalid_user_id_is_400(http):
    response = http.patch("/users/_bad/name", json={"name": "x"})
    assert_invalid(
        response,
        "Invalid `userId` param: UID must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, and "
        "underscore. Can't start with a leading underscore",
    )


def test_users_without_email_or_phone_coexist(http):
    """Two users may both lack an email and a phone (POST /users takes any combination)."""
    first = create_user(http, email=None, phone=None, name="No Contact 1")
    second = http.post("/users", json={"userId": ID.unique(), "name": "No Contact 2"})
    assert second.status_code == 201, second.text
    phone_only = http.post("/users", json={"userId": ID.unique(), "phone": unique_phone()})
    assert phone_only.status_code == 201, phone_only.text
    assert first["email"] == "" and first["phone"] == "" and first["targets"] == []


# -- name ---------------------------------------------------------------------------------------


def test_update_name(users, http):
    user = create_user(http, name="Old Name", email=unique_email())
    _later(user["$updatedAt"])
    updated = users.update_name(user["$id"], "Brand New Name")
    assert updated.name == "Brand New Name"
    assert updated.id == user["$id"]
    assert parse_dt(updated.updatedat) > parse_dt(user["$updatedAt"])
    assert updated.createdat == user["$createdAt"]
    assert users.get(user["$id"]).name == "Brand New Name"
    # the search text follows the new name
    found = http.get("/users", params={"search": "Brand New Name", "queries[0]": Query.equal("$id", user["$id"])})
    assert found.json()["total"] == 1


def test_update_name_empty_allowed(http):
    user = create_user(http, name="Someone")
    response = http.patch(f"/users/{user['$id']}/name", json={"name": ""})
    assert response.status_code == 200
    assert response.json()["name"] == ""


def test_update_name_invalid(http):
    user = create_user(http)
    assert_invalid(
        http.patch(f"/users/{user['$id']}/name", json={"name": "a" * 129}),
        "Invalid `name` param: Value must be a valid string and at least 0 chars and no longer than 128 chars",
    )
    assert_invalid(http.patch(f"/users/{user['$id']}/name", json={}), 'Param "name" is not optional.')


# -- email --------------------------------------------------------------------------------------


def test_update_email_lowercases_and_moves_target(users, http):
    user = create_user(http, email=unique_email("before"))
    http.patch(f"/users/{user['$id']}/verification", json={"emailVerification": True})
    [target] = [t for t in user["targets"] if t["providerType"] == "email"]
    new_email = unique_email("After.MIXED").replace("example.com", "Example.COM")
    _later(user["$updatedAt"])
    updated = users.update_email(user["$id"], new_email)
    assert updated.email == new_email.lower()
    assert updated.emailverification is False
    assert parse_dt(updated.updatedat) > parse_dt(user["$updatedAt"])
    assert sorted((t.providertype, t.identifier) for t in updated.targets) == [
        ("email", new_email.lower()),
        ("sms", user["phone"]),
    ]
    [moved] = [t for t in updated.targets if t.providertype == "email"]
    assert moved.id == target["$id"]


def test_update_email_to_empty_removes_email_and_target(http):
    phone = unique_phone()
    user = create_user(http, email=unique_email(), phone=phone)
    assert len(user["targets"]) == 2
    response = http.patch(f"/users/{user['$id']}/email", json={"email": ""})
    assert response.status_code == 200
    body = response.json()
    assert body["email"] == ""
    assert body["emailVerification"] is False
    assert [(t["providerType"], t["identifier"]) for t in body["targets"]] == [("sms", phone)]
    assert user_row_email(http, user["$id"]) == ""


def user_row_email(http, user_id: str) -> str:
    return http.get(f"/users/{user_id}").json()["email"]


def test_update_email_creates_target_when_user_had_none(http):
    user = create_user(http)
    user = http.patch(f"/users/{user['$id']}/email", json={"email": ""}).json()
    assert [t["providerType"] for t in user["targets"]] == ["sms"]
    email = unique_email()
    body = http.patch(f"/users/{user['$id']}/email", json={"email": email}).json()
    assert body["email"] == email
    email_targets = [t for t in body["targets"] if t["providerType"] == "email"]
    assert len(email_targets) == 1
    assert email_targets[0]["identifier"] == email
    assert email_targets[0]["userId"] == user["$id"]
    assert email_targets[0]["name"] == ""


def test_update_email_invalid(http):
    user = create_user(http)
    assert_invalid(
        http.patch(f"/users/{user['$id']}/email", json={"email": "not-an-email"}),
        "Invalid `email` param: Value must be a valid email address",
    )
    assert_invalid(http.patch(f"/users/{user['$id']}/email", json={}), 'Param "email" is not optional.')


def test_update_email_taken_by_other_users_target(http):
    """Another user's email still has its target: the target check fires (Appwrite order)."""
    other_email = unique_email("taken")
    create_user(http, email=other_email)
    user = create_user(http, email=unique_email())
    response = http.patch(f"/users/{user['$id']}/email", json={"email": other_email.upper()})
    assert_error(response, 409, "user_target_already_exists")


def test_update_email_duplicate_of_other_user(http):
    """Another user owns the address but no target holds it: users' unique email → user_email_already_exists."""
    other_email = unique_email("owner")
    other = create_user(http, email=other_email)
    [target_id] = [t["$id"] for t in other["targets"] if t["providerType"] == "email"]
    assert http.delete(f"/users/{other['$id']}/targets/{target_id}").status_code == 204
    user = create_user(http, email=unique_email())
    response = http.patch(f"/users/{user['$id']}/email", json={"email": other_email})
    assert_error(response, 409, "user_email_already_exists")
    assert http.get(f"/users/{user['$id']}").json()["email"] == user["email"]


def test_update_email_equal_to_custom_target_identifier(http):
    holder = create_user(http)
    identifier = unique_email("custom-target")
    created = http.post(
        f"/users/{holder['$id']}/targets",
        json={"targetId": ID.unique(), "providerType": "email", "identifier": identifier},
    )
    assert created.status_code == 201
    user = create_user(http)
    assert_error(
        http.patch(f"/users/{user['$id']}/email", json={"email": identifier}), 409, "user_target_already_exists"
    )
    # the user's own target counts too (current email)
    own = create_user(http, email=unique_email())
    assert_error(
        http.patch(f"/users/{own['$id']}/email", json={"email": own["email"]}), 409, "user_target_already_exists"
    )


def test_update_email_taken_by_identity_of_other_user(http, db, server):
    holder = create_user(http)
    email = unique_email("oauth")
    seed_identity(db, server.project, holder["$id"], email=email)
    user = create_user(http)
    assert_error(http.patch(f"/users/{user['$id']}/email", json={"email": email}), 409, "user_email_already_exists")


# -- phone --------------------------------------------------------------------------------------


def test_update_phone(users, http):
    user = create_user(http)
    http.patch(f"/users/{user['$id']}/verification/phone", json={"phoneVerification": True})
    [target] = [t for t in user["targets"] if t["providerType"] == "sms"]
    number = unique_phone()
    _later(user["$updatedAt"])
    updated = users.update_phone(user["$id"], number)
    assert updated.phone == number
    assert updated.phoneverification is False
    assert parse_dt(updated.updatedat) > parse_dt(user["$updatedAt"])
    assert [(t.id, t.identifier) for t in updated.targets if t.providertype == "sms"] == [(target["$id"], number)]
    assert [t.identifier for t in updated.targets if t.providertype == "email"] == [user["email"]]


def test_update_phone_to_empty_and_back(http):
    email = unique_email()
    user = create_user(http, email=email, phone=unique_phone())
    body = http.patch(f"/users/{user['$id']}/phone", json={"number": ""}).json()
    assert body["phone"] == ""
    assert [(t["providerType"], t["identifier"]) for t in body["targets"]] == [("email", email)]
    number = unique_phone()
    body = http.patch(f"/users/{user['$id']}/phone", json={"number": number}).json()
    assert body["phone"] == number
    assert sorted((t["providerType"], t["identifier"]) for t in body["targets"]) == [("email", email), ("sms", number)]


def test_two_users_can_clear_their_phone(http):
    first = create_user(http, phone=unique_phone())
    second = create_user(http, phone=unique_phone())
    assert http.patch(f"/users/{first['$id']}/phone", json={"number": ""}).status_code == 200
    assert http.patch(f"/users/{second['$id']}/phone", json={"number": ""}).status_code == 200


def test_update_phone_invalid(http):
    user = create_user(http)
    message = "Invalid `number` param: Phone number must start with a '+' can have a maximum of fifteen digits."
    assert_invalid(http.patch(f"/users/{user['$id']}/phone", json={"number": "12345"}), message)
    assert_invalid(http.patch(f"/users/{user['$id']}/phone", json={"number": "+0123456789"}), message)
    assert_invalid(http.patch(f"/users/{user['$id']}/phone", json={}), 'Param "number" is not optional.')


def test_update_phone_taken_by_other_users_target(http):
    """Appwrite's testUpdateUserNumber: another user's number (with its sms target) → user_target_already_exists."""
    number = unique_phone()
    create_user(http, phone=number)
    user = create_user(http, phone=unique_phone())
    assert_error(http.patch(f"/users/{user['$id']}/phone", json={"number": number}), 409, "user_target_already_exists")


def test_update_phone_duplicate_of_other_user(http):
    number = unique_phone()
    other = create_user(http, phone=number)
    [target_id] = [t["$id"] for t in other["targets"] if t["providerType"] == "sms"]
    assert http.delete(f"/users/{other['$id']}/targets/{target_id}").status_code == 204
    user = create_user(http)
    assert_error(http.patch(f"/users/{user['$id']}/phone", json={"number": number}), 409, "user_phone_already_exists")


def test_update_phone_equal_to_custom_target_identifier(http):
    holder = create_user(http)
    number = unique_phone()
    created = http.post(
        f"/users/{holder['$id']}/targets", json={"targetId": ID.unique(), "providerType": "sms", "identifier": number}
    )
    assert created.status_code == 201
    user = create_user(http)
    assert_error(http.patch(f"/users/{user['$id']}/phone", json={"number": number}), 409, "user_target_already_exists")


# -- password -----------------------------------------------------------------------------------


def test_update_password(users, http, db, server):
    user = create_user(http, email=unique_email(), password="first-password")
    before = user_row(db, server.project, user["$id"])
    _later(user["passwordUpdate"])
    updated = users.update_password(user["$id"], "second-password")
    assert updated.hash == "argon2"
    assert updated.hashoptions is not None
    assert updated.password.startswith("$argon2")
    assert updated.password != before["password"]
    assert PasswordHasher().verify(updated.password, "second-password")
    assert parse_dt(updated.passwordupdate) > parse_dt(user["passwordUpdate"])
    assert user_row(db, server.project, user["$id"])["password"] == updated.password


def test_update_password_of_imported_user_resets_hash(http):
    response = http.post(
        "/users/md5",
        json={"userId": ID.unique(), "email": unique_email(), "password": "144fa7eaa4904e8ee120651997f70dcc"},
    )
    assert response.status_code == 201
    assert response.json()["hash"] == "md5"
    body = http.patch(f"/users/{response.json()['$id']}/password", json={"password": "new-password-1"}).json()
    assert body["hash"] == "argon2"
    assert body["hashOptions"] == {"type": "argon2", "memoryCost": 2048, "timeCost": 4, "threads": 3}
    assert PasswordHasher().verify(body["password"], "new-password-1")


def test_update_password_empty_clears_it(http):
    user = create_user(http, email=unique_email(), password="first-password")
    _later(user["passwordUpdate"])
    body = http.patch(f"/users/{user['$id']}/password", json={"password": ""}).json()
    assert body["password"] == ""
    assert body["passwordUpdate"] != ""
    assert parse_dt(body["passwordUpdate"]) > parse_dt(user["passwordUpdate"])


def test_update_password_invalid(http):
    user = create_user(http)
    message = (
        "Invalid `password` param: Password must be between 8 and 265 characters long, and should not be one "
        "of the commonly used password."
    )
    assert_invalid(http.patch(f"/users/{user['$id']}/password", json={"password": "short"}), message)
    assert_invalid(http.patch(f"/users/{user['$id']}/password", json={"password": "x" * 257}), message)
    assert_invalid(http.patch(f"/users/{user['$id']}/password", json={}), 'Param "password" is not optional.')


# -- status -------------------------------------------------------------------------------------


def test_update_status(users, http):
    user = create_user(http)
    _later(user["$updatedAt"])
    blocked = users.update_status(user["$id"], False)
    assert blocked.status is False
    assert parse_dt(blocked.updatedat) > parse_dt(user["$updatedAt"])
    assert users.update_status(user["$id"], True).status is True


@pytest.mark.parametrize(
    "raw,expected", [("false", False), (0, False), ("0", False), ("true", True), (1, True), ("1", True)]
)
def test_update_status_loose_boolean(http, raw, expected):
    user = create_user(http)
    http.patch(f"/users/{user['$id']}/status", json={"status": not expected})
    response = http.patch(f"/users/{user['$id']}/status", json={"status": raw})
    assert response.status_code == 200
    assert response.json()["status"] is expected


def test_update_status_invalid(http):
    user = create_user(http)
    assert_invalid(
        http.patch(f"/users/{user['$id']}/status", json={"status": "maybe"}),
        "Invalid `status` param: Value must be a valid boolean",
    )
    assert_invalid(http.patch(f"/users/{user['$id']}/status", json={}), 'Param "status" is not optional.')


def test_status_filter_sees_blocked_user(http):
    user = create_user(http)
    http.patch(f"/users/{user['$id']}/status", json={"status": False})
    listed = http.get(
        "/users", params={"queries[0]": Query.equal("$id", user["$id"]), "queries[1]": Query.equal("status", False)}
    ).json()
    assert listed["total"] == 1


# -- labels -------------------------------------------------------------------------------------

LABELS_MESSAGE = (
    "Invalid `labels` param: Value must a valid array no longer than 1000 items and Value must be a valid string "
    "and at least 1 chars and no longer than 36 chars and only consist of alphanumeric chars"
)


def test_update_labels(users, http):
    user = create_user(http)
    _later(user["$updatedAt"])
    updated = users.update_labels(user["$id"], ["vip", "admin", "vip", "Beta2"])
    assert updated.labels == ["vip", "admin", "Beta2"]
    assert parse_dt(updated.updatedat) > parse_dt(user["$updatedAt"])
    assert users.update_labels(user["$id"], []).labels == []
    assert users.get(user["$id"]).labels == []


def test_labels_are_searchable_and_queryable(http):
    user = create_user(http)
    label = "lbl" + user["$id"]
    http.put(f"/users/{user['$id']}/labels", json={"labels": [label]})
    found = http.get("/users", params={"queries[0]": Query.contains("labels", [label])}).json()
    assert [u["$id"] for u in found["users"]] == [user["$id"]]


@pytest.mark.parametrize(
    "labels",
    [["invalid-label"], ["a" * 37], ["a" * 129], [["nested"]], "not-an-array", [""], [1]],
    ids=["dash", "37-chars", "129-chars", "nested", "string", "empty", "integer"],
)
def test_update_labels_invalid(http, labels):
    user = create_user(http)
    assert_invalid(http.put(f"/users/{user['$id']}/labels", json={"labels": labels}), LABELS_MESSAGE)


def test_update_labels_limits(http):
    user = create_user(http)
    ok = http.put(f"/users/{user['$id']}/labels", json={"labels": ["a" * 36]})
    assert ok.status_code == 200
    assert ok.json()["labels"] == ["a" * 36]
    assert_invalid(
        http.put(f"/users/{user['$id']}/labels", json={"labels": [f"l{i}" for i in range(1001)]}), LABELS_MESSAGE
    )
    assert_invalid(http.put(f"/users/{user['$id']}/labels", json={}), 'Param "labels" is not optional.')


def test_update_labels_unknown_user(http):
    assert_not_found(http.put("/users/dne/labels", json={"labels": ["ok"]}))


# -- verification flags and mfa -------------------------------------------------------------------


def test_update_email_verification(users, http):
    user = create_user(http)  # no email needed
    _later(user["$updatedAt"])
    updated = users.update_email_verification(user["$id"], True)
    assert updated.emailverification is True
    assert updated.phoneverification is False
    assert parse_dt(updated.updatedat) > parse_dt(user["$updatedAt"])
    assert users.update_email_verification(user["$id"], False).emailverification is False


def test_update_phone_verification(users, http):
    user = create_user(http)
    updated = users.update_phone_verification(user["$id"], True)
    assert updated.phoneverification is True
    assert updated.emailverification is False
    assert users.update_phone_verification(user["$id"], False).phoneverification is False


def test_update_mfa(users, http):
    user = create_user(http)
    assert user["mfa"] is False
    _later(user["$updatedAt"])
    updated = users.update_mfa(user["$id"], True)
    assert updated.mfa is True
    assert parse_dt(updated.updatedat) > parse_dt(user["$updatedAt"])
    assert users.update_mfa(user["$id"], False).mfa is False


@pytest.mark.parametrize(
    "suffix,param", [("verification", "emailVerification"), ("verification/phone", "phoneVerification"), ("mfa", "mfa")]
)
@pytest.mark.parametrize("raw", ["true", 1, "1", None])
def test_strict_booleans(http, suffix, param, raw):
    user = create_user(http)
    body = {} if raw is None else {param: raw}
    response = http.patch(f"/users/{user['$id']}/{suffix}", json=body)
    if raw is None:
        assert_invalid(response, f'Param "{param}" is not optional.')
    else:
        assert_invalid(response, f"Invalid `{param}` param: Value must be a valid boolean")


# -- prefs --------------------------------------------------------------------------------------


def test_prefs_default_empty_object(users, http):
    user = create_user(http)
    response = http.get(f"/users/{user['$id']}/prefs")
    assert response.status_code == 200
    assert response.text == "{}"
    assert users.get_prefs(user["$id"]).data == {}


def test_update_prefs_replaces(users, http):
    user = create_user(http)
    first = users.update_prefs(user["$id"], {"theme": "dark", "nested": {"a": [1, 2]}, "n": 3})
    assert first.data == {"theme": "dark", "nested": {"a": [1, 2]}, "n": 3}
    response = http.patch(f"/users/{user['$id']}/prefs", json={"prefs": {"lang": "fr"}})
    assert response.status_code == 200
    assert response.json() == {"lang": "fr"}
    assert http.get(f"/users/{user['$id']}/prefs").json() == {"lang": "fr"}
    assert http.get(f"/users/{user['$id']}").json()["prefs"] == {"lang": "fr"}
    cleared = http.patch(f"/users/{user['$id']}/prefs", json={"prefs": {}})
    assert cleared.text == "{}"
    assert '"prefs":{}' in http.get(f"/users/{user['$id']}").text


def test_update_prefs_touches_updated_at(http):
    user = create_user(http)
    _later(user["$updatedAt"])
    http.patch(f"/users/{user['$id']}/prefs", json={"prefs": {"k": "v"}})
    assert parse_dt(http.get(f"/users/{user['$id']}").json()["$updatedAt"]) > parse_dt(user["$updatedAt"])


@pytest.mark.parametrize(
    "body",
    [
        {"prefs": "bad-string"},
        {"prefs": "{}"},
        {"prefs": [1, 2]},
        {"prefs": {"key": "-" * 100000}},
        {"prefs": {"k": "🍰" * 100000}},
    ],
    ids=["string", "json-string", "array", "oversize", "oversize-emoji"],
)
def test_update_prefs_invalid(http, body):
    user = create_user(http)
    assert_invalid(
        http.patch(f"/users/{user['$id']}/prefs", json=body), "Invalid `prefs` param: Value must be a valid object."
    )
    assert http.get(f"/users/{user['$id']}/prefs").json() == {}


def test_update_prefs_missing(http):
    user = create_user(http)
    assert_invalid(http.patch(f"/users/{user['$id']}/prefs", json={}), 'Param "prefs" is not optional.')
    assert_invalid(http.patch(f"/users/{user['$id']}/prefs"), 'Param "prefs" is not optional.')


def test_sdk_errors_surface(users):
    with sdk_error(404, "user_not_found"):
        users.update_name(MISSING_ID, "x")
    with sdk_error(404, "user_not_found"):
        users.get_prefs(MISSING_ID)


# -- delete -------------------------------------------------------------------------------------


def test_delete_user(users, http):
    user = create_user(http, email=unique_email())
    users.delete(user["$id"])
    assert_not_found(http.get(f"/users/{user['$id']}"))
    assert_not_found(http.delete(f"/users/{user['$id']}"))


def test_delete_user_204_with_content_type(http):
    user = create_user(http)
    response = http.delete(f"/users/{user['$id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert "content-type" in response.headers


def test_delete_user_removes_everything_it_owns(http, db, server):
    project = server.project
    email, phone = unique_email(), unique_phone()
    user = create_user(http, email=email, phone=phone, password="password123")
    uid = user["$id"]
    assert http.post(f"/users/{uid}/sessions").status_code == 201
    assert http.post(f"/users/{uid}/sessions").status_code == 201
    assert http.post(f"/users/{uid}/tokens").status_code == 201
    push = http.post(
        f"/users/{uid}/targets", json={"targetId": ID.unique(), "providerType": "push", "identifier": "tok-" + uid}
    )
    assert push.status_code == 201
    seed_identity(db, project, uid)
    seed_authenticator(db, project, uid, verified=True)
    confirmed_team = seed_team(db, project, name="Confirmed Team", total=1)
    pending_team = seed_team(db, project, name="Pending Team", total=0)
    seed_membership(db, project, team_id=confirmed_team, user_id=uid, confirm=True, roles=["owner"])
    seed_membership(db, project, team_id=pending_team, user_id=uid, confirm=False, roles=["member"])
    # a bystander whose rows must survive
    other = create_user(http, email=unique_email())
    assert http.post(f"/users/{other['$id']}/sessions").status_code == 201

    assert count_rows(db, sessions, project, user_id=uid) == 2
    assert count_rows(db, targets, project, user_id=uid) == 3

    assert http.delete(f"/users/{uid}").status_code == 204

    for table in (sessions, tokens, targets, identities, authenticators, memberships):
        assert count_rows(db, table, project, user_id=uid) == 0, table.name
    assert user_row(db, project, uid) is None
    assert team_total(db, project, confirmed_team) == 0
    assert team_total(db, project, pending_team) == 0
    assert count_rows(db, sessions, project, user_id=other["$id"]) == 1
    # email, phone and target identifiers are free again
    again = create_user(http, email=email, phone=phone)
    assert sorted(t["identifier"] for t in again["targets"]) == sorted([email, phone])


def test_delete_user_never_drives_team_total_negative(http, db, server):
    project = server.project
    user = create_user(http)
    team = seed_team(db, project, name="Empty Count", total=0)
    seed_membership(db, project, team_id=team, user_id=user["$id"], confirm=True, roles=["owner"])
    assert http.delete(f"/users/{user['$id']}").status_code == 204
    assert team_total(db, project, team) == 0


def test_delete_user_keeps_other_members_count(http, db, server):
    project = server.project
    leaving, staying = create_user(http), create_user(http)
    team = seed_team(db, project, name="Two Members", total=2)
    seed_membership(db, project, team_id=team, user_id=leaving["$id"], confirm=True, roles=["owner"])
    seed_membership(db, project, team_id=team, user_id=staying["$id"], confirm=True, roles=["member"])
    assert http.delete(f"/users/{leaving['$id']}").status_code == 204
    assert team_total(db, project, team) == 1
    assert count_rows(db, memberships, project, user_id=staying["$id"]) == 1
