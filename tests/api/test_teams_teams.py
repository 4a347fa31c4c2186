"""Teams themselves: create, list, get, rename, prefs and delete, for an API key and for signed-in
users (owners, members, outsiders) through the official SDK."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from account_support import guest, member
from appwrite.query import Query
from appwrite.services.users import Users
from teams_support import add_member, owned_team, teams_as, teams_as_key, unique_team_id
from users_support import assert_error, parse_dt, sdk_error


def ids(team_list) -> list[str]:
    return [team.id for team in team_list.teams]


# -- server side (API key) ------------------------------------------------------------------------


def test_key_creates_an_empty_team(server):
    teams = teams_as_key(server)
    team_id = unique_team_id()
    team = teams.create(team_id, "Arsenal")
    assert (team.id, team.name, team.total) == (team_id, "Arsenal", 0)
    assert team.prefs.to_dict() == {}
    assert parse_dt(team.createdat) == parse_dt(team.updatedat)
    assert teams.list_memberships(team_id).total == 0
    assert teams.get(team_id).to_dict() == team.to_dict()


def test_unique_id_and_duplicate(server, http):
    teams = teams_as_key(server)
    created = teams.create("unique()", "Generated")
    assert len(created.id) == 20
    with sdk_error(409, "team_already_exists"):
        teams.create(created.id, "Again")
    assert_error(http.post("/teams", json={}), 400, "general_argument_invalid", 'Param "teamId" is not optional.')


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"teamId": "bad id", "name": "x"}, "Invalid `teamId` param: Parameter must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, period, hyphen, and underscore. Can't start with a special char"),
        ({"teamId": "t1", "name": ""}, "Invalid `name` param: Value must be a valid string and at least 1 chars and no longer than 128 chars"),
        ({"teamId": "t1", "name": "x" * 129}, "Invalid `name` param: Value must be a valid string and at least 1 chars and no longer than 128 chars"),
        ({"teamId": "t1", "name": "x", "roles": "owner"}, "Invalid `roles` param: Value must a valid array no longer than 100 items and Parameter must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, period, hyphen, and underscore. Can't start with a special char"),
    ],
)  # fmt: skip
def test_create_validation(http, body, message):
    assert_error(http.post("/teams", json=body), 400, "general_argument_invalid", message)


def test_get_update_delete_missing_team(server, http):
    teams = teams_as_key(server)
    for call in (
        lambda: teams.get("missing-team"),
        lambda: teams.update_name("missing-team", "x"),
        lambda: teams.delete("missing-team"),
        lambda: teams.get_prefs("missing-team"),
        lambda: teams.update_prefs("missing-team", {}),
        lambda: teams.list_memberships("missing-team"),
    ):
        with sdk_error(404, "team_not_found") as info:
            call()
        assert info.value.message == "Team with the requested ID could not be found."


def test_rename_updates_name_search_and_updated_at(server, http):
    teams = teams_as_key(server)
    team = teams.create(unique_team_id(), "Old Name")
    renamed = teams.update_name(team.id, "Manchester United")
    assert renamed.name == "Manchester United" and parse_dt(renamed.updatedat) >= parse_dt(team.updatedat)
    assert teams.get(team.id).name == "Manchester United"
    assert team.id in ids(teams.list(search="Manchester"))
    assert team.id not in ids(teams.list(search="Old"))
    assert_error(
        http.put(f"/teams/{team.id}", json={}), 400, "general_argument_invalid", 'Param "name" is not optional.'
    )


def test_prefs_replace_and_limit(server, http):
    teams = teams_as_key(server)
    team_id = teams.create(unique_team_id(), "Prefs").id
    assert teams.get_prefs(team_id).to_dict() == {}
    assert http.get(f"/teams/{team_id}/prefs").text == "{}"
    assert teams.update_prefs(team_id, {"theme": "dark", "n": 1}).to_dict() == {"theme": "dark", "n": 1}
    assert teams.update_prefs(team_id, {"lang": "en"}).to_dict() == {"lang": "en"}
    assert teams.get(team_id).prefs.to_dict() == {"lang": "en"}
    assert teams.get_prefs(team_id).to_dict() == {"lang": "en"}
    for bad in ("bad-string", {"big": "-" * 65536}, ["a"]):
        assert_error(
            http.put(f"/teams/{team_id}/prefs", json={"prefs": bad}),
            400,
            "general_argument_invalid",
            "Invalid `prefs` param: Value must be a valid object.",
        )
    assert http.put(f"/teams/{team_id}/prefs", json={"prefs": {"big": "-" * 65000}}).status_code == 200


def test_list_queries_search_and_cursors(server, http):
    teams = teams_as_key(server)
    tag = unique_team_id("tag")
    made = [teams.create(unique_team_id(), f"{name} {tag}").id for name in ("Arsenal", "Newcastle", "Chelsea")]
    everything = teams.list(search=tag)
    assert ids(everything) == made and everything.total == 3
    assert ids(teams.list([Query.limit(2)], search=tag)) == made[:2]
    assert ids(teams.list([Query.offset(1)], search=tag)) == made[1:]
    assert ids(teams.list([Query.cursor_after(made[0])], search=tag)) == made[1:]
    assert ids(teams.list([Query.cursor_before(made[2])], search=tag)) == made[:2]
    assert ids(teams.list([Query.order_desc("name")], search=tag)) == [made[1], made[2], made[0]]
    assert ids(teams.list([Query.equal("name", [f"Arsenal {tag}", f"Newcastle {tag}"])])) == made[:2]
    assert ids(teams.list([Query.greater_than_equal("total", 0)], search=tag)) == made
    assert ids(teams.list(search=made[1])) == [made[1]]
    assert teams.list(search="unknownword" + tag).total == 0
    with sdk_error(400, "general_cursor_not_found") as info:
        teams.list([Query.cursor_after("missing-team")])
    assert info.value.message == "Team 'missing-team' for the 'cursor' value not found."
    response = http.get("/teams", params={"queries[0]": '{"method":"equal","attribute":"billingPlan","values":["x"]}'})
    assert_error(
        response,
        400,
        "general_argument_invalid",
        "Invalid `queries` param: Invalid query: Attribute not found in schema: billingPlan",
    )


def test_delete_removes_team_and_memberships(server, db):
    teams = teams_as_key(server)
    owner, team_id = owned_team(server)
    joined = add_member(server, team_id, ["player"])
    teams.delete(team_id)
    with sdk_error(404, "team_not_found"):
        teams.get(team_id)
    assert teams_as_key(server).list(search=team_id).total == 0
    for who in (owner, joined):
        assert Users(server.sdk()).list_memberships(who.user["$id"]).total == 0
    # The team's roles are gone with it: a new team with the same ID knows neither user.
    teams.create(team_id, "Reborn")
    with sdk_error(404, "team_not_found"):
        teams_as(server, owner).get(team_id)


def test_scopes_of_guests_and_keys(server, http):
    with sdk_error(401, "general_unauthorized_scope") as info:
        teams_as(server).list()
    assert info.value.message == "User (role: guests) missing scope (teams.read)"
    with guest(server) as client:
        assert_error(
            client.post("/teams", json={"teamId": "x", "name": "x"}),
            401,
            "general_unauthorized_scope",
            "User (role: guests) missing scope (teams.write)",
        )
    read_only = server.cli(
        "keys", "create", "--project", server.project, "--name", "ro", "--scopes", "teams.read", "--json"
    )
    key = json.loads(read_only.stdout)["secret"]
    with server.http(key=key) as client:
        assert client.get("/teams").status_code == 200
        assert_error(
            client.post("/teams", json={"teamId": "x", "name": "x"}),
            401,
            "general_unauthorized_scope",
            f"app.{server.project}@service.localhost (role: applications) missing scope (teams.write)",
        )


# -- client side (sessions) ----------------------------------------------------------------------


def test_creator_becomes_confirmed_owner(server):
    creator = member(server, name="Creator")
    teams = teams_as(server, creator)
    team = teams.create(unique_team_id(), "Mine", ["player"])
    assert team.total == 1
    memberships = teams.list_memberships(team.id)
    assert memberships.total == 1
    own = memberships.memberships[0]
    assert (own.userid, own.roles, own.confirm) == (creator.user["$id"], ["player", "owner"], True)
    assert (own.username, own.useremail, own.teamname) == ("Creator", creator.email, "Mine")
    assert parse_dt(own.joined) == parse_dt(own.invited)
    assert teams.create(unique_team_id(), "Default roles").total == 1
    second = teams.list_memberships(teams.list(search="Default").teams[0].id).memberships[0]
    assert second.roles == ["owner"]


def test_users_list_only_their_teams(server):
    first, first_team = owned_team(server, name="First")
    second, second_team = owned_team(server, name="Second")
    assert ids(teams_as(server, first).list()) == [first_team]
    assert ids(teams_as(server, second).list()) == [second_team]
    joined = add_member(server, first_team, ["player"])
    assert ids(teams_as(server, joined).list()) == [first_team]
    assert teams_as(server, joined).list().total == 1
    with sdk_error(404, "team_not_found"):
        teams_as(server, first).get(second_team)
    with sdk_error(400, "general_cursor_not_found"):
        teams_as(server, first).list([Query.cursor_after(second_team)])


def test_members_read_owners_write(server):
    owner, team_id = owned_team(server, name="Owners only")
    player = add_member(server, team_id, ["player"])
    as_player, as_owner = teams_as(server, player), teams_as(server, owner)
    assert as_player.get(team_id).name == "Owners only"
    assert as_player.get_prefs(team_id).to_dict() == {}
    assert as_player.list_memberships(team_id).total == 2
    for call in (
        lambda: as_player.update_name(team_id, "Taken"),
        lambda: as_player.update_prefs(team_id, {"a": 1}),
        lambda: as_player.delete(team_id),
    ):
        with sdk_error(401, "user_unauthorized"):
            call()
    assert as_owner.update_name(team_id, "Renamed").name == "Renamed"
    assert as_owner.update_prefs(team_id, {"a": 1}).to_dict() == {"a": 1}
    assert as_player.get(team_id).prefs.to_dict() == {"a": 1}
    as_owner.delete(team_id)
    with sdk_error(404, "team_not_found"):
        as_player.get(team_id)
    assert as_player.list().total == 0


def test_outsiders_see_nothing(server):
    _, team_id = owned_team(server)
    outsider = teams_as(server, member(server))
    for call in (
        lambda: outsider.get(team_id),
        lambda: outsider.get_prefs(team_id),
        lambda: outsider.update_name(team_id, "x"),
        lambda: outsider.update_prefs(team_id, {}),
        lambda: outsider.delete(team_id),
        lambda: outsider.list_memberships(team_id),
    ):
        with sdk_error(404, "team_not_found"):
            call()


def test_team_changes_are_in_the_owners_audit_log(server, http):
    owner, team_id = owned_team(server)
    teams_as(server, owner).update_name(team_id, "Logged")
    teams_as(server, owner).update_prefs(team_id, {"a": 1})
    events = [log["event"] for log in http.get(f"/users/{owner.user['$id']}/logs").json()["logs"]]
    assert events[:3] == ["team.update", "team.update", "team.create"]


def test_rename_honours_x_appwrite_timestamp(server, http):
    team = teams_as_key(server).create(unique_team_id(), "Timestamped")
    before = (parse_dt(team.updatedat) - timedelta(seconds=1)).isoformat()
    response = http.put(f"/teams/{team.id}", json={"name": "Stale"}, headers={"X-Appwrite-Timestamp": before})
    assert_error(response, 409, "document_update_conflict", "Remote document is newer than local.")
    response = http.put(f"/teams/{team.id}", json={"name": "Fresh"}, headers={"X-Appwrite-Timestamp": team.updatedat})
    assert response.status_code == 200 and response.json()["name"] == "Fresh"
    response = http.put(f"/teams/{team.id}", json={"name": "x"}, headers={"X-Appwrite-Timestamp": "yesterday"})
    assert_error(response, 400, "general_argument_invalid", "Invalid X-Appwrite-Timestamp header value")
    assert teams_as_key(server).get(team.id).name == "Fresh"
