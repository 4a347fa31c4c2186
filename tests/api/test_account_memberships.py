"""``GET /v1/account/memberships`` (issue 12; the newest SDK's ``account.list_memberships``): the
signed-in user's memberships in every team, pending and confirmed, with the team's and user's
names as the Users API's list of a user's memberships renders them."""

from __future__ import annotations

from account_support import account, as_member, guest, member
from appwrite.client import Client
from appwrite.query import Query
from appwrite.services.account import Account
from teams_support import invite_by_email, owned_team, teams_as, unique_team_id
from users_support import assert_error


def test_own_memberships_pending_and_confirmed(server, smtp, users):
    me = member(server, name="Me")
    own_team = unique_team_id()
    teams_as(server, me).create(own_team, "Mine")
    owner, other_team = owned_team(server, name="Theirs")
    invite_by_email(server, smtp, owner, other_team, me.email, ["player"])

    listed = account(server, session=me.session).list_memberships()
    assert listed.total == 2
    by_team = {m.teamid: m for m in listed.memberships}
    assert set(by_team) == {own_team, other_team}
    mine, invited = by_team[own_team], by_team[other_team]
    assert (mine.teamname, mine.roles, mine.confirm, mine.joined != "") == ("Mine", ["owner"], True, True)
    assert (invited.teamname, invited.roles, invited.confirm, invited.joined) == ("Theirs", ["player"], False, "")
    for membership in listed.memberships:
        assert (membership.userid, membership.username, membership.useremail) == (me.user["$id"], "Me", me.email)
    # The same rows as the Users API's list of the user's memberships.
    assert [m.to_dict() for m in listed.memberships] == [
        m.to_dict() for m in users.list_memberships(me.user["$id"]).memberships
    ]


def test_queries_and_total(server, smtp):
    me = member(server)
    first, second = unique_team_id(), unique_team_id()
    teams_as(server, me).create(first, "First")
    teams_as(server, me).create(second, "Second", ["owner", "captain"])
    owner, pending_team = owned_team(server)
    invite_by_email(server, smtp, owner, pending_team, me.email, ["player"])
    mine = account(server, session=me.session)

    def team_ids(*queries: str, total: bool | None = None) -> tuple[int, list[str]]:
        listed = mine.list_memberships(list(queries), total=total)
        return listed.total, [m.teamid for m in listed.memberships]

    assert team_ids(Query.equal("confirm", False)) == (1, [pending_team])
    assert team_ids(Query.equal("confirm", True)) == (2, [first, second])
    assert team_ids(Query.equal("teamId", second)) == (1, [second])
    assert team_ids(Query.equal("userId", me.user["$id"]), Query.limit(1)) == (3, [first])
    assert team_ids(Query.contains("roles", ["captain"])) == (1, [second])
    assert team_ids(Query.is_null("joined")) == (1, [pending_team])
    assert team_ids(Query.order_desc("$createdAt"), Query.limit(2)) == (3, [pending_team, second])
    assert team_ids(total=False) == (0, [first, second, pending_team])
    with as_member(server, me) as http:
        assert_error(
            http.get("/account/memberships", params={"queries[]": Query.equal("name", "x")}),
            400,
            "general_argument_invalid",
        )


def test_no_memberships(server):
    me = member(server)
    listed = account(server, session=me.session).list_memberships()
    assert (listed.total, listed.memberships) == (0, [])


def test_only_signed_in_users(server, http):
    with guest(server) as client:
        assert_error(
            client.get("/account/memberships"),
            401,
            "general_unauthorized_scope",
            "User (role: guests) missing scope (account)",
        )
    assert_error(http.get("/account/memberships"), 401, "general_unauthorized_scope")


def test_an_impersonator_sees_the_target_s_memberships(server, users):
    target, team_id = owned_team(server)
    caller = member(server)
    users.update_impersonator(caller.user["$id"], True)
    client = Client().set_endpoint(server.endpoint).set_project(server.project).set_session(caller.session)
    listed = Account(client.set_impersonate_user_id(target.user["$id"])).list_memberships()
    assert [(m.teamid, m.userid) for m in listed.memberships] == [(team_id, target.user["$id"])]
