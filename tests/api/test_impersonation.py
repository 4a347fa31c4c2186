"""Impersonation (issue 12): the ``impersonator`` flag on users (``PATCH /users/{id}/impersonator``)
and the ``X-Appwrite-Impersonate-User-*`` headers / ``impersonate*`` query parameters by which a
flagged user acts as another, through the newest SDK (its ``set_impersonate_user_*`` setters) and
raw HTTP where the SDK has no say (query parameters, response formats)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from account_support import as_member, guest, member
from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.id import ID
from appwrite.query import Query
from appwrite.services.account import Account
from appwrite.services.teams import Teams
from appwrite.services.users import Users
from users_support import MISSING_ID, assert_error, create_user

from nib.data.db.schema import audit_logs

READ_ONLY = "This account action is not allowed while impersonating a user."


def _client(server, session: str, **impersonate: str) -> Client:
    """A client-mode SDK client (a session) impersonating by ``id``, ``email`` or ``phone``."""
    client = Client().set_endpoint(server.endpoint).set_project(server.project).set_session(session)
    for kind, value in impersonate.items():
        getattr(client, f"set_impersonate_user_{kind}")(value)
    return client


def _error(call) -> AppwriteException:
    with pytest.raises(AppwriteException) as info:
        call()
    return info.value


def _impersonator(server, users: Users):
    """A signed-in user flagged as impersonator."""
    who = member(server)
    assert users.update_impersonator(who.user["$id"], True).impersonator is True
    return who


def test_the_flag_through_the_sdk(server, users, http):
    user = create_user(http)
    assert user["impersonator"] is False and user["impersonatorUserId"] is None
    updated = users.update_impersonator(user["$id"], True)
    assert updated.id == user["$id"] and updated.impersonator is True and updated.impersonatoruserid is None
    assert users.get(user["$id"]).impersonator is True
    listed = users.list([Query.equal("impersonator", True), Query.equal("$id", user["$id"])])
    assert listed.total == 1 and listed.users[0].impersonator is True
    assert users.list([Query.equal("impersonator", False), Query.equal("$id", user["$id"])]).total == 0
    # A loose boolean, as Appwrite's other boolean params.
    response = http.patch(f"/users/{user['$id']}/impersonator", json={"impersonator": "false"})
    assert response.status_code == 200 and response.json()["impersonator"] is False
    assert_error(http.patch(f"/users/{MISSING_ID}/impersonator", json={"impersonator": True}), 404, "user_not_found")
    assert_error(
        http.patch(f"/users/{user['$id']}/impersonator", json={}),
        400,
        "general_argument_invalid",
        'Param "impersonator" is not optional.',
    )


def test_an_impersonator_reads_the_target_account(server, users, http):
    caller = _impersonator(server, users)
    target = create_user(http, name="Target")
    for selector in ({"id": target["$id"]}, {"email": target["email"].upper()}, {"phone": target["phone"]}):
        account = Account(_client(server, caller.session, **selector)).get()
        assert account.id == target["$id"] and account.name == "Target", selector
        assert account.impersonatoruserid == caller.user["$id"]
        assert account.impersonator is False
    # Without the header the caller is itself, and the field is there, null.
    own = Account(_client(server, caller.session)).get()
    assert own.id == caller.user["$id"] and own.impersonator is True and own.impersonatoruserid is None


def test_query_parameters_and_which_selector_wins(server, users, http):
    caller = _impersonator(server, users)
    first, second = create_user(http), create_user(http)
    with as_member(server, caller) as client:
        for name in ("impersonateUserId", "impersonateuserid"):
            assert client.get("/account", params={name: first["$id"]}).json()["$id"] == first["$id"]
        assert client.get("/account", params={"impersonateEmail": second["email"]}).json()["$id"] == second["$id"]
        assert client.get("/account", params={"impersonatephone": second["phone"]}).json()["$id"] == second["$id"]
        # The header wins over the parameter of the same kind; an ID wins over an e-mail.
        response = client.get(
            "/account",
            params={"impersonateUserId": first["$id"]},
            headers={"X-Appwrite-Impersonate-User-Id": second["$id"]},
        )
        assert response.json()["$id"] == second["$id"]
        response = client.get(
            "/account",
            headers={
                "X-Appwrite-Impersonate-User-Email": first["email"],
                "X-Appwrite-Impersonate-User-Id": second["$id"],
            },
        )
        assert response.json()["$id"] == second["$id"]
        # A query parameter works on a write too (read from the query string, not the body).
        response = client.post(
            "/teams", params={"impersonateUserId": first["$id"]}, json={"teamId": ID.unique(), "name": "Q"}
        )
        assert response.status_code == 201, response.text
    assert Users(server.sdk()).list_memberships(first["$id"]).memberships[0].teamid == response.json()["$id"]


def test_account_changes_are_refused_while_impersonating(server, users, http):
    caller = _impersonator(server, users)
    target = create_user(http, name="Untouched")
    acting = Account(_client(server, caller.session, id=target["$id"]))
    error = _error(lambda: acting.update_name("Changed"))
    assert (error.code, error.type, error.message) == (403, "user_impersonation_read_only", READ_ONLY)
    error = _error(lambda: acting.update_prefs({"a": 1}))
    assert error.type == "user_impersonation_read_only"
    with as_member(server, caller, **{"X-Appwrite-Impersonate-User-Id": target["$id"]}) as client:
        assert_error(client.delete("/account/sessions/current"), 403, "user_impersonation_read_only", READ_ONLY)
        assert_error(client.patch("/account/status"), 403, "user_impersonation_read_only")
        # Reads of the target's account stay open.
        assert client.get("/account/prefs").status_code == 200
        assert client.get("/account/sessions").json()["total"] == 0  # the target has no session
    assert users.get(target["$id"]).name == "Untouched"
    assert users.get(target["$id"]).status is True
    # Without the header the caller changes its own account.
    assert Account(_client(server, caller.session)).update_name("Me").name == "Me"


def test_a_team_created_while_impersonating_is_the_target_s_and_audited_with_both(server, users, http, db):
    caller = _impersonator(server, users)
    target = create_user(http)
    team = Teams(_client(server, caller.session, id=target["$id"])).create(ID.unique(), "Theirs")
    owners = users.list_memberships(target["$id"]).memberships
    assert [(m.teamid, m.roles, m.confirm) for m in owners] == [(team.id, ["owner"], True)]
    assert users.list_memberships(caller.user["$id"]).total == 0
    # The target's roles apply: the team is readable as the target, not as the caller.
    assert Teams(_client(server, caller.session, id=target["$id"])).get(team.id).name == "Theirs"
    with as_member(server, caller) as client:
        assert_error(client.get(f"/teams/{team.id}"), 404, "team_not_found")
    with db.read() as conn:
        rows = conn.execute(
            sa.select(audit_logs).where(
                audit_logs.c.project_id == server.project, audit_logs.c.resource == f"team/{team.id}"
            )
        ).all()
    assert [(r.event, r.user_id, r.user_email, r.impersonated_user_id) for r in rows] == [
        ("team.create", caller.user["$id"], caller.email, target["$id"])
    ]
    # The Log model keeps Appwrite's shape: the entry is the impersonator's (the newest SDK has no
    # Users log method, so raw HTTP).
    caller_logs = http.get(f"/users/{caller.user['$id']}/logs").json()["logs"]
    created = [log for log in caller_logs if log["event"] == "team.create"]
    assert len(created) == 1 and created[0]["userId"] == caller.user["$id"]
    assert "impersonatedUserId" not in created[0]
    assert "team.create" not in [log["event"] for log in http.get(f"/users/{target['$id']}/logs").json()["logs"]]


def test_an_unflagged_user_s_selector_is_ignored(server, users, http):
    plain = member(server)
    target = create_user(http)
    client = _client(server, plain.session, id=target["$id"])
    account = Account(client).get()
    assert account.id == plain.user["$id"] and account.impersonatoruserid is None
    error = _error(lambda: Users(client).list())
    assert (error.code, error.type) == (401, "general_unauthorized_scope")
    # And writes to its own account are not refused.
    assert Account(client).update_name("Still me").name == "Still me"


def test_unknown_targets_and_self_mean_no_impersonation(server, users):
    caller = _impersonator(server, users)
    for selector in ({"id": MISSING_ID}, {"email": "nobody.here@example.com"}, {"id": caller.user["$id"]}):
        acting = Account(_client(server, caller.session, **selector))
        account = acting.get()
        assert account.id == caller.user["$id"] and account.impersonatoruserid is None, selector
        assert acting.update_name("Self").name == "Self"


def test_impersonators_may_read_users(server, users, http):
    caller = _impersonator(server, users)
    target = create_user(http)
    # Not impersonating: the user list, to pick a target.
    listed = Users(_client(server, caller.session)).list([Query.equal("$id", target["$id"])])
    assert [u.id for u in listed.users] == [target["$id"]]
    # Impersonating: still (the caller's scopes plus users.read), but never users.write.
    acting = Users(_client(server, caller.session, id=target["$id"]))
    assert acting.get(target["$id"]).id == target["$id"]
    error = _error(lambda: acting.update_name(target["$id"], "x"))
    assert (error.code, error.type) == (401, "general_unauthorized_scope")
    # Turning the flag off takes users.read away again.
    users.update_impersonator(caller.user["$id"], False)
    error = _error(lambda: Users(_client(server, caller.session)).list())
    assert error.type == "general_unauthorized_scope"
    assert Account(_client(server, caller.session, id=target["$id"])).get().id == caller.user["$id"]


def test_the_target_s_state_applies(server, users, http):
    caller = _impersonator(server, users)
    target = create_user(http)
    assert users.get(target["$id"]).accessedat == ""
    Account(_client(server, caller.session, id=target["$id"])).get()
    assert users.get(target["$id"]).accessedat == ""  # the target's accessedAt is not refreshed
    assert users.get(caller.user["$id"]).accessedat != ""
    users.update_status(target["$id"], False)
    error = _error(lambda: Account(_client(server, caller.session, id=target["$id"])).get())
    assert (error.code, error.type) == (401, "user_blocked")


def test_response_format_before_1_9_hides_the_fields(server, users, http):
    caller = _impersonator(server, users)
    target = create_user(http)
    fields = {"impersonator", "impersonatorUserId"}
    old = {"X-Appwrite-Response-Format": "1.5.0"}
    for headers in (old, {"X-Appwrite-Response-Format": "1.9.0"}, {}):
        present = not headers or headers["X-Appwrite-Response-Format"] == "1.9.0"
        user = http.get(f"/users/{target['$id']}", headers=headers).json()
        listed = http.get("/users", params={"queries[]": Query.equal("$id", target["$id"])}, headers=headers).json()
        with as_member(server, caller, **headers, **{"X-Appwrite-Impersonate-User-Id": target["$id"]}) as client:
            account = client.get("/account").json()
        for model in (user, listed["users"][0], account):
            assert (fields <= model.keys()) is present and not (fields & model.keys() and not present), headers
        assert account["$id"] == target["$id"]
        if present:
            assert account["impersonatorUserId"] == caller.user["$id"]
            assert listed["users"][0] == user  # the list renders as the single read


def test_the_headers_are_allowed_by_cors(server):
    with guest(server) as client:
        response = client.options("/account", headers={"Origin": "http://localhost"})
    allowed = response.headers["access-control-allow-headers"]
    for header in ("Id", "Email", "Phone"):
        assert f"X-Appwrite-Impersonate-User-{header}" in allowed
