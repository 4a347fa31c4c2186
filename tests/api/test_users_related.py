"""A user's memberships and audit logs, and OAuth identities, with their response models.

Memberships come from the Teams API; identities and user-actor audit entries have no creating
API yet, so they are seeded through the ``db`` fixture; everything is read back through the API.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from appwrite.query import Query
from teams_support import INVITE_URL, owned_team, teams_as, teams_as_key, unique_team_id
from users_support import (
    MISSING_ID,
    assert_error,
    assert_invalid,
    assert_not_found,
    count_rows,
    create_user,
    parse_dt,
    sdk_error,
    seed_identity,
    seed_log,
)

from nib.auth.tables import identities
from nib.tools.useragent import parse_user_agent

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.77 Safari/537.36"
)
IDENTITY_NOT_FOUND = "The identity could not be found. Please sign in with OAuth provider to create identity first."


@pytest.mark.parametrize("suffix", ["memberships", "logs"])
def test_unknown_user_is_404(http, suffix):
    assert_not_found(http.get(f"/users/{MISSING_ID}/{suffix}"))


# -- memberships ----------------------------------------------------------------------------------


def test_list_memberships(users, http, server):
    user = create_user(http, name="Member Person")
    bystander = create_user(http)
    teams = teams_as_key(server)
    team_a = teams.create(unique_team_id(), "Arsenal").id
    confirmed = teams.create_membership(team_a, ["owner", "player"], user_id=user["$id"]).id
    teams.create_membership(team_a, ["member"], user_id=bystander["$id"])
    owner, team_b = owned_team(server, name="Newcastle")  # an owner's invitation stays pending
    pending = teams_as(server, owner).create_membership(team_b, ["member"], user_id=user["$id"], url=INVITE_URL).id

    response = http.get(f"/users/{user['$id']}/memberships")
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 2
    by_id = {m["$id"]: m for m in body["memberships"]}
    assert set(by_id) == {confirmed, pending}
    for membership in body["memberships"]:
        assert membership["userId"] == user["$id"]
        assert membership["userName"] == "Member Person"
        assert membership["userEmail"] == user["email"]
        assert membership["userPhone"] == user["phone"]
        assert membership["userAccessedAt"] == ""
        assert membership["mfa"] is False
        parse_dt(membership["invited"])
        parse_dt(membership["$createdAt"])
        parse_dt(membership["$updatedAt"])
    first = by_id[confirmed]
    assert (first["teamId"], first["teamName"], first["confirm"], first["roles"]) == (
        team_a,
        "Arsenal",
        True,
        ["owner", "player"],
    )
    parse_dt(first["joined"])
    second = by_id[pending]
    assert (second["teamId"], second["teamName"], second["confirm"], second["roles"]) == (
        team_b,
        "Newcastle",
        False,
        ["member"],
    )
    assert second["joined"] == ""

    parsed = users.list_memberships(user["$id"])
    assert parsed.total == 2
    assert {m.teamname for m in parsed.memberships} == {"Arsenal", "Newcastle"}


def test_list_memberships_empty(users, http):
    user = create_user(http)
    assert http.get(f"/users/{user['$id']}/memberships").json() == {"total": 0, "memberships": []}
    assert users.list_memberships(user["$id"]).total == 0


def test_memberships_follow_user_changes(http, server):
    user = create_user(http, name="Before")
    teams = teams_as_key(server)
    teams.create_membership(teams.create(unique_team_id(), "Followers").id, ["owner"], user_id=user["$id"])
    http.patch(f"/users/{user['$id']}/name", json={"name": "After"})
    http.patch(f"/users/{user['$id']}/phone", json={"number": ""})
    [membership] = http.get(f"/users/{user['$id']}/memberships").json()["memberships"]
    assert membership["userName"] == "After"
    assert membership["userPhone"] == ""


def test_deleted_team_memberships_disappear(http, server):
    user = create_user(http)
    teams = teams_as_key(server)
    kept = teams.create(unique_team_id(), "Kept Team").id
    gone = teams.create(unique_team_id(), "Gone Team").id
    for team_id in (kept, gone):
        teams.create_membership(team_id, ["owner"], user_id=user["$id"])
    assert http.get(f"/users/{user['$id']}/memberships").json()["total"] == 2
    teams.delete(gone)
    body = http.get(f"/users/{user['$id']}/memberships").json()
    assert body["total"] == 1
    assert [m["teamName"] for m in body["memberships"]] == ["Kept Team"]


# -- logs -----------------------------------------------------------------------------------------


def _logs(http, user_id: str, *queries: str):
    params = {f"queries[{i}]": q for i, q in enumerate(queries)}
    return http.get(f"/users/{user_id}/logs", params=params)


def test_logs_empty_and_api_key_actions_not_listed(http):
    user = create_user(http)
    # API-key writes on the user are not the user's own actions
    http.patch(f"/users/{user['$id']}/name", json={"name": "Renamed by key"})
    http.post(f"/users/{user['$id']}/sessions")
    assert _logs(http, user["$id"]).json() == {"total": 0, "logs": []}


def test_logs_newest_first(http, db, server):
    user = create_user(http, name="Logger")
    other = create_user(http)
    base = datetime.now(timezone.utc) - timedelta(minutes=10)
    for minute, event in enumerate(["user.create", "session.create", "session.create", "user.update"]):
        seed_log(db, server.project, user, event=event, when=base + timedelta(minutes=minute))
    seed_log(db, server.project, other, event="user.create")

    response = _logs(http, user["$id"])
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 4
    assert [log["event"] for log in body["logs"]] == ["user.update", "session.create", "session.create", "user.create"]
    times = [parse_dt(log["time"]) for log in body["logs"]]
    assert times == sorted(times, reverse=True)
    assert all(log["userId"] == user["$id"] for log in body["logs"])


def test_log_model(http, db, server):
    user = create_user(http, name="Model User")
    when = datetime(2024, 5, 1, 10, 20, 30, 123000, tzinfo=timezone.utc)
    seed_log(
        db,
        server.project,
        user,
        event="session.create",
        ip="198.51.100.4",
        client=parse_user_agent(CHROME_WINDOWS),
        when=when,
    )
    [log] = _logs(http, user["$id"]).json()["logs"]
    assert log == {
        "event": "session.create",
        "userId": user["$id"],
        "userEmail": user["email"],
        "userName": "Model User",
        "mode": "default",
        "userType": "user",
        "ip": "198.51.100.4",
        "time": "2024-05-01T10:20:30.123+00:00",
        "osCode": "WIN",
        "osName": "Windows",
        "osVersion": "10",
        "clientType": "browser",
        "clientCode": "CH",
        "clientName": "Chrome",
        "clientVersion": "70.0",
        "clientEngine": "Blink",
        "clientEngineVersion": "70.0.3538.77",
        "deviceName": "desktop",
        "deviceBrand": "",
        "deviceModel": "",
        "countryCode": "--",
        "countryName": "Unknown",
    }


def test_logs_limit_and_offset(http, db, server):
    user = create_user(http)
    for index in range(5):
        seed_log(db, server.project, user, event=f"event.{index}")
    limited = _logs(http, user["$id"], Query.limit(2)).json()
    assert limited["total"] == 5
    assert [log["event"] for log in limited["logs"]] == ["event.4", "event.3"]
    offset = _logs(http, user["$id"], Query.offset(3)).json()
    assert offset["total"] == 5
    assert [log["event"] for log in offset["logs"]] == ["event.1", "event.0"]
    page = _logs(http, user["$id"], Query.limit(1), Query.offset(1)).json()
    assert [log["event"] for log in page["logs"]] == ["event.3"]
    assert _logs(http, user["$id"], Query.offset(5)).json() == {"total": 5, "logs": []}


@pytest.mark.parametrize(
    "query,message",
    [
        (Query.equal("event", ["user.create"]), "Invalid `queries` param: Invalid query method: equal"),
        (Query.order_desc("time"), "Invalid `queries` param: Invalid query method: orderDesc"),
        (Query.cursor_after("abc"), "Invalid `queries` param: Invalid query method: cursorAfter"),
        (
            Query.limit(-1),
            "Invalid `queries` param: Invalid query: Invalid limit: Value must be a valid range between 1 and "
            "9,223,372,036,854,775,807",
        ),
        (
            Query.offset(-1),
            "Invalid `queries` param: Invalid query: Invalid offset: Value must be a valid range between 0 and "
            "9,223,372,036,854,775,807",
        ),
    ],
    ids=["equal", "orderDesc", "cursorAfter", "limit-1", "offset-1"],
)
def test_logs_invalid_queries(http, query, message):
    user = create_user(http)
    assert_invalid(_logs(http, user["$id"], query), message)


# -- identities -----------------------------------------------------------------------------------


def _identities(http, *queries: str, **extra):
    params = {f"queries[{i}]": q for i, q in enumerate(queries)}
    params.update(extra)
    return http.get("/users/identities", params=params)


def test_list_identities(users, http, db, server):
    project = server.project
    user, other = create_user(http), create_user(http)
    expiry = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
    github = seed_identity(db, project, user["$id"], provider="github", email=user["email"], expiry=expiry)
    google = seed_identity(db, project, user["$id"], provider="google", email="g." + user["email"])
    seed_identity(db, project, other["$id"], provider="github")

    body = _identities(http, Query.equal("userId", [user["$id"]])).json()
    assert body["total"] == 2
    assert [i["$id"] for i in body["identities"]] == [github, google]
    first = body["identities"][0]
    assert first == {
        **{k: first[k] for k in ("$createdAt", "$updatedAt")},
        "$id": github,
        "userId": user["$id"],
        "provider": "github",
        "providerUid": "uid-" + github,
        "providerEmail": user["email"],
        "providerAccessToken": "access-" + github,
        "providerAccessTokenExpiry": "2030-01-02T03:04:05.678+00:00",
        "providerRefreshToken": "refresh-" + github,
        "providerIdToken": "",
    }
    parse_dt(first["$createdAt"])

    only_google = users.list_identities([Query.equal("userId", [user["$id"]]), Query.equal("provider", ["google"])])
    assert only_google.total == 1
    assert only_google.identities[0].id == google
    assert only_google.identities[0].provideremail == "g." + user["email"]

    all_of_them = _identities(http).json()
    assert all_of_them["total"] >= 3
    assert {github, google} <= {i["$id"] for i in all_of_them["identities"]}

    by_email = _identities(http, Query.equal("providerEmail", [user["email"]])).json()
    assert [i["$id"] for i in by_email["identities"]] == [github]
    after = _identities(http, Query.equal("userId", [user["$id"]]), Query.cursor_after(github)).json()
    assert [i["$id"] for i in after["identities"]] == [google]


def test_list_identities_search_is_rejected(users, http):
    assert_error(_identities(http, search="x"), 400, "general_query_invalid")
    with sdk_error(400, "general_query_invalid"):
        users.list_identities(search="github")


def test_list_identities_invalid_queries(http):
    assert_invalid(
        _identities(http, Query.equal("name", ["x"])),
        "Invalid `queries` param: Invalid query: Attribute not found in schema: name",
    )
    assert_invalid(
        _identities(http, Query.select(["provider"])), "Invalid `queries` param: Invalid query method: select"
    )
    assert_error(
        _identities(http, Query.cursor_after("nosuchidentity")),
        400,
        "general_cursor_not_found",
        "User 'nosuchidentity' for the 'cursor' value not found.",
    )


def test_delete_identity(users, http, db, server):
    project = server.project
    user = create_user(http)
    first = seed_identity(db, project, user["$id"], provider="github")
    second = seed_identity(db, project, user["$id"], provider="gitlab")
    response = http.delete(f"/users/identities/{first}")
    assert response.status_code == 204
    assert response.content == b""
    assert count_rows(db, identities, project, id=first) == 0
    assert_error(http.delete(f"/users/identities/{first}"), 404, "user_identity_not_found", IDENTITY_NOT_FOUND)
    remaining = _identities(http, Query.equal("userId", [user["$id"]])).json()
    assert [i["$id"] for i in remaining["identities"]] == [second]
    users.delete_identity(second)
    assert _identities(http, Query.equal("userId", [user["$id"]])).json()["total"] == 0
    with sdk_error(404, "user_identity_not_found"):
        users.delete_identity(second)
    # the user itself is untouched
    assert http.get(f"/users/{user['$id']}").status_code == 200


def test_delete_identity_invalid_id(http):
    assert_invalid(
        http.delete("/users/identities/_bad"),
        "Invalid `identityId` param: UID must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, and "
        "underscore. Can't start with a leading underscore",
    )


def test_identities_route_is_not_a_user_id(http):
    """/users/identities is matched before /users/{userId}."""
    response = http.get("/users/identities")
    assert response.status_code == 200
    assert set(response.json()) == {"total", "identities"}


def test_identity_rows_of_deleted_user_are_gone(http, db, server):
    user = create_user(http)
    identity = seed_identity(db, server.project, user["$id"])
    assert http.delete(f"/users/{user['$id']}").status_code == 204
    assert_error(http.delete(f"/users/identities/{identity}"), 404, "user_identity_not_found")
    with db.read() as conn:
        left = conn.execute(
            sa.select(sa.func.count()).select_from(identities).where(identities.c.user_id == user["$id"])
        ).scalar_one()
    assert left == 0
