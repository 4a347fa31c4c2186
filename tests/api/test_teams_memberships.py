"""Memberships added by an API key, read, re-roled and deleted by keys, owners and members; team
totals; the user side (GET /users/{id}/memberships, deleting a user)."""

from __future__ import annotations

import pytest
from account_support import member
from appwrite.query import Query
from appwrite.services.users import Users
from teams_support import add_member, owned_team, teams_as, teams_as_key, unique_team_id
from users_support import (
    assert_error,
    create_user,
    parse_dt,
    sdk_error,
    seed_authenticator,
    unique_email,
    unique_phone,
)


def fresh_team(server, name: str = "Squad") -> str:
    return teams_as_key(server).create(unique_team_id(), name).id


# -- adding with an API key -----------------------------------------------------------------------


def test_key_adds_confirmed_member_by_user_id(server, http):
    teams = teams_as_key(server)
    team_id = fresh_team(server, "Arsenal")
    user = create_user(http, name="Bukayo")
    added = teams.create_membership(team_id, ["player", "captain"], user_id=user["$id"])
    assert added.confirm is True and parse_dt(added.joined) == parse_dt(added.invited)
    assert (added.userid, added.username, added.useremail, added.userphone) == (
        user["$id"],
        "Bukayo",
        user["email"],
        user["phone"],
    )
    assert (added.teamid, added.teamname, added.roles, added.mfa, added.useraccessedat) == (
        team_id,
        "Arsenal",
        ["player", "captain"],
        False,
        "",
    )
    assert teams.get(team_id).total == 1
    assert teams.get_membership(team_id, added.id).to_dict() == added.to_dict()
    with sdk_error(409, "team_invite_already_exists") as info:
        teams.create_membership(team_id, [], user_id=user["$id"])
    assert info.value.message == "User has already been invited or is already a member of this team"
    assert teams.get(team_id).total == 1


def test_key_adds_by_email_and_phone_creating_users(server):
    teams, users = teams_as_key(server), Users(server.sdk())
    team_id = fresh_team(server)
    email, phone = unique_email("invitee"), unique_phone()
    by_email = teams.create_membership(team_id, [], email=email.upper(), name="Named")
    created = users.get(by_email.userid)
    assert (created.email, created.name, created.emailverification, created.passwordupdate) == (
        email,
        "Named",
        False,
        "",
    )
    assert by_email.useremail == email and by_email.username == "Named"
    by_phone = teams.create_membership(team_id, [], phone=phone)
    assert users.get(by_phone.userid).phone == phone and by_phone.useremail == ""
    unnamed = teams.create_membership(team_id, [], email=unique_email("unnamed"))
    assert unnamed.username == unnamed.useremail
    assert teams.get(team_id).total == 3


def test_invitee_priority_and_mismatches(server, http):
    teams = teams_as_key(server)
    team_id = fresh_team(server)
    user = create_user(http)
    other = create_user(http)
    cases = [
        (dict(user_id="missing-user-0000"), 404, "user_not_found", "User with given userId doesn't exist."),
        (dict(user_id=user["$id"], email=other["email"]), 409, "user_already_exists", "Given userId and email doesn't match"),
        (dict(user_id=user["$id"], phone=other["phone"]), 409, "user_already_exists", "Given userId and phone doesn't match"),
        (dict(email=user["email"], phone=other["phone"]), 409, "user_already_exists", "Given email and phone doesn't match"),
        (dict(email=unique_email(), phone=user["phone"]), 409, "user_already_exists",
         "A user with the same id, email, or phone already exists in this project."),
    ]  # fmt: skip
    for fields, status, type_, message in cases:
        with sdk_error(status, type_) as info:
            teams.create_membership(team_id, [], **fields)
        assert info.value.message == message
    # userId wins over email and phone when they belong to the same user.
    added = teams.create_membership(team_id, [], user_id=user["$id"], email=user["email"], phone=user["phone"])
    assert added.userid == user["$id"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"roles": []}, "At least one of userId, email, or phone is required"),
        ({"roles": [], "email": "not-an-email"}, "Invalid `email` param: Value must be a valid email address"),
        ({"roles": "bad string", "userId": "u1"}, "Invalid `roles` param: Value must a valid array no longer than 100 items and Parameter must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, period, hyphen, and underscore. Can't start with a special char"),
        ({"roles": ["ok"] * 101, "userId": "u1"}, "Invalid `roles` param: Value must a valid array no longer than 100 items and Parameter must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, period, hyphen, and underscore. Can't start with a special char"),
        ({"userId": "u1"}, 'Param "roles" is not optional.'),
        ({"roles": [], "userId": "u1", "url": "not a url"}, "Invalid `url` param: URL host must be one of: localhost"),
        # Invitation links may only lead to the server's host or one of the project's platforms.
        ({"roles": [], "userId": "u1", "url": "https://evil.example.net/join"}, "Invalid `url` param: URL host must be one of: localhost"),
        ({"roles": [], "phone": "12345"}, "Invalid `phone` param: Phone number must start with a '+' can have a maximum of fifteen digits."),
    ],
)  # fmt: skip
def test_create_membership_validation(server, http, body, message):
    team_id = fresh_team(server)
    assert_error(http.post(f"/teams/{team_id}/memberships", json=body), 400, "general_argument_invalid", message)


def test_add_to_missing_team(server, http):
    user = create_user(http)
    with sdk_error(404, "team_not_found"):
        teams_as_key(server).create_membership("missing-team", [], user_id=user["$id"])


# -- reading --------------------------------------------------------------------------------------


def test_list_and_get_memberships(server, http, db):
    teams = teams_as_key(server)
    team_id = fresh_team(server, "Listed")
    users = [create_user(http, name=f"Player {i}") for i in range(3)]
    made = [teams.create_membership(team_id, ["player"], user_id=u["$id"]).id for u in users]
    listed = teams.list_memberships(team_id)
    assert [m.id for m in listed.memberships] == made and listed.total == 3
    assert [m.username for m in listed.memberships] == ["Player 0", "Player 1", "Player 2"]
    assert [m.id for m in teams.list_memberships(team_id, [Query.cursor_after(made[0])]).memberships] == made[1:]
    assert [m.id for m in teams.list_memberships(team_id, [Query.limit(1), Query.offset(2)]).memberships] == made[2:]
    assert [m.id for m in teams.list_memberships(team_id, [Query.equal("userId", users[1]["$id"])]).memberships] == [
        made[1]
    ]
    assert teams.list_memberships(team_id, [Query.equal("confirm", False)]).total == 0
    assert [m.id for m in teams.list_memberships(team_id, search=users[2]["$id"]).memberships] == [made[2]]
    assert [m.id for m in teams.list_memberships(team_id, search=made[0]).memberships] == [made[0]]
    assert teams.list_memberships(team_id, search="unknown").total == 0
    with sdk_error(400, "general_cursor_not_found") as info:
        teams.list_memberships(team_id, [Query.cursor_after("missing-membership")])
    assert info.value.message == "Membership 'missing-membership' for the 'cursor' value not found."
    response = http.get(
        f"/teams/{team_id}/memberships", params={"queries[0]": '{"method":"equal","attribute":"name","values":["x"]}'}
    )
    assert_error(
        response,
        400,
        "general_argument_invalid",
        "Invalid `queries` param: Invalid query: Attribute not found in schema: name",
    )
    with sdk_error(404, "membership_not_found") as info:
        teams.get_membership(team_id, "missing-membership")
    assert info.value.message == "Membership with the requested ID could not be found."
    other_team = fresh_team(server)
    with sdk_error(404, "membership_not_found"):
        teams.get_membership(other_team, made[0])


def test_mfa_shows_only_with_a_usable_factor(server, http, db):
    teams = teams_as_key(server)
    team_id = fresh_team(server)
    user = create_user(http)
    http.patch(f"/users/{user['$id']}/mfa", json={"mfa": True}).raise_for_status()
    membership = teams.create_membership(team_id, [], user_id=user["$id"])
    assert membership.mfa is False  # never computed on create
    assert teams.get_membership(team_id, membership.id).mfa is False  # no factor yet
    seed_authenticator(db, server.project, user["$id"], verified=True)
    assert teams.get_membership(team_id, membership.id).mfa is True
    assert teams.list_memberships(team_id).memberships[0].mfa is True


# -- roles ----------------------------------------------------------------------------------------


def test_update_roles(server, http):
    teams = teams_as_key(server)
    team_id = fresh_team(server)
    user = create_user(http)
    membership = teams.create_membership(team_id, ["a"], user_id=user["$id"])
    updated = teams.update_membership(team_id, membership.id, ["z", "b", "owner"])
    assert updated.roles == ["z", "b", "owner"] and updated.username == user["name"] and updated.teamid == team_id
    assert teams.get_membership(team_id, membership.id).roles == ["z", "b", "owner"]
    assert teams.update_membership(team_id, membership.id, []).roles == []
    with sdk_error(404, "membership_not_found"):
        teams.update_membership(team_id, "missing-membership", [])
    with sdk_error(404, "team_not_found"):
        teams.update_membership("missing-team", membership.id, [])
    with sdk_error(404, "team_membership_mismatch"):
        teams.update_membership(fresh_team(server), membership.id, [])
    assert_error(
        http.patch(f"/teams/{team_id}/memberships/{membership.id}", json={}),
        400,
        "general_argument_invalid",
        'Param "roles" is not optional.',
    )


def test_only_owners_change_roles(server):
    owner, team_id = owned_team(server)
    player = add_member(server, team_id, ["player"])
    own = next(
        m for m in teams_as(server, owner).list_memberships(team_id).memberships if m.userid == owner.user["$id"]
    )
    with sdk_error(401, "user_unauthorized") as info:
        teams_as(server, player).update_membership(team_id, own.id, ["player"])
    assert info.value.message == "User is not allowed to modify roles"
    theirs = next(
        m for m in teams_as(server, owner).list_memberships(team_id).memberships if m.userid == player.user["$id"]
    )
    assert teams_as(server, owner).update_membership(team_id, theirs.id, ["player", "owner"]).roles == [
        "player",
        "owner",
    ]
    # The new role counts at once: the player may now rename the team.
    assert teams_as(server, player).update_name(team_id, "Co-owned").name == "Co-owned"


# -- deleting -------------------------------------------------------------------------------------


def test_delete_membership_updates_total(server, http):
    teams = teams_as_key(server)
    team_id = fresh_team(server)
    first, second = create_user(http), create_user(http)
    kept = teams.create_membership(team_id, [], user_id=first["$id"])
    gone = teams.create_membership(team_id, [], user_id=second["$id"])
    assert teams.get(team_id).total == 2
    teams.delete_membership(team_id, gone.id)
    assert teams.get(team_id).total == 1
    assert [m.id for m in teams.list_memberships(team_id).memberships] == [kept.id]
    with sdk_error(404, "team_invite_not_found") as info:
        teams.delete_membership(team_id, gone.id)
    assert info.value.message == "The requested team invitation could not be found."
    with sdk_error(404, "team_not_found"):
        teams.delete_membership("missing-team", kept.id)
    with sdk_error(404, "team_membership_mismatch") as info:
        teams.delete_membership(fresh_team(server), kept.id)
    assert info.value.message == "The membership ID does not belong to the team ID."


def test_members_leave_owners_remove_others_do_not(server):
    owner, team_id = owned_team(server)
    first, second = add_member(server, team_id, ["player"]), add_member(server, team_id, ["player"])
    as_owner = teams_as(server, owner)
    by_user = {m.userid: m.id for m in as_owner.list_memberships(team_id).memberships}
    assert as_owner.get(team_id).total == 3
    with sdk_error(401, "user_unauthorized"):
        teams_as(server, first).delete_membership(team_id, by_user[owner.user["$id"]])
    with sdk_error(401, "user_unauthorized"):
        teams_as(server, first).delete_membership(team_id, by_user[second.user["$id"]])
    teams_as(server, first).delete_membership(team_id, by_user[first.user["$id"]])  # leaving
    with sdk_error(404, "team_not_found"):
        teams_as(server, first).get(team_id)
    as_owner.delete_membership(team_id, by_user[second.user["$id"]])
    assert teams_as(server, second).list().total == 0
    assert as_owner.get(team_id).total == 1
    as_owner.delete_membership(team_id, by_user[owner.user["$id"]])  # no last-owner protection in 1.5
    with sdk_error(404, "team_not_found"):
        as_owner.get(team_id)
    assert teams_as_key(server).get(team_id).total == 0


def test_memberships_the_caller_cannot_read_do_not_exist(server):
    """Appwrite reads a membership with the caller's permissions: the creator's own membership
    (made with the team) is readable by its team only, an invitation by anyone. Deleting and
    accepting read the membership before the team, getting and re-roling read the team first."""
    owner, team_id = owned_team(server)
    player = add_member(server, team_id, ["player"])
    by_user = {m.userid: m.id for m in teams_as(server, owner).list_memberships(team_id).memberships}
    owners, players = by_user[owner.user["$id"]], by_user[player.user["$id"]]
    outsider = teams_as(server, member(server, name="Outsider"))
    with sdk_error(404, "team_invite_not_found") as info:
        outsider.delete_membership(team_id, owners)
    assert info.value.message == "The requested team invitation could not be found."
    with sdk_error(404, "team_not_found"):  # the invitation is readable, its team is not
        outsider.delete_membership(team_id, players)
    with sdk_error(404, "membership_not_found"):
        outsider.update_membership_status(team_id, owners, owner.user["$id"], "not-the-secret")
    with sdk_error(404, "membership_not_found"):
        teams_as(server).update_membership_status(team_id, owners, owner.user["$id"], "not-the-secret")
    with sdk_error(401, "team_invalid_secret"):  # an invitation: found, then the secret is wrong
        teams_as(server).update_membership_status(team_id, players, player.user["$id"], "not-the-secret")
    with sdk_error(404, "team_not_found"):
        outsider.get_membership(team_id, owners)
    with sdk_error(404, "team_not_found"):
        outsider.update_membership(team_id, owners, ["player"])
    # The members read the creator's membership; nothing was deleted or changed.
    assert teams_as(server, player).get_membership(team_id, owners).roles == ["owner"]
    assert teams_as_key(server).get(team_id).total == 2


# -- the user side --------------------------------------------------------------------------------


def test_user_memberships_and_user_deletion(server, http):
    teams, users = teams_as_key(server), Users(server.sdk())
    first_team, second_team = fresh_team(server, "First"), fresh_team(server, "Second")
    user, stays = create_user(http), create_user(http)
    made = [teams.create_membership(t, ["player"], user_id=user["$id"]).id for t in (first_team, second_team)]
    teams.create_membership(first_team, [], user_id=stays["$id"])
    listed = users.list_memberships(user["$id"])
    assert [m.id for m in listed.memberships] == made and [m.teamname for m in listed.memberships] == [
        "First",
        "Second",
    ]
    assert listed.memberships[0].useremail == user["email"]
    assert teams.get(first_team).total == 2
    users.delete(user["$id"])
    assert (teams.get(first_team).total, teams.get(second_team).total) == (1, 0)
    assert [m.userid for m in teams.list_memberships(first_team).memberships] == [stays["$id"]]


def test_client_member_roles_follow_confirmed_memberships(server):
    owner, team_id = owned_team(server)
    player = add_member(server, team_id, ["player"])
    assert [t.id for t in teams_as(server, player).list().teams] == [team_id]
    membership = next(
        m for m in teams_as(server, player).list_memberships(team_id).memberships if m.userid == player.user["$id"]
    )
    teams_as_key(server).delete_membership(team_id, membership.id)
    assert teams_as(server, player).list().total == 0
    with sdk_error(404, "team_not_found"):
        teams_as(server, player).get(team_id)
