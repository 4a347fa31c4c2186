"""Racing requests leave consistent memberships and team totals: the same user invited twice at
once, and an invitation accepted while it is being deleted."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from appwrite.exception import AppwriteException
from appwrite.query import Query
from appwrite.services.users import Users
from teams_support import INVITE_URL, invite_by_email, owned_team, teams_as, teams_as_key, unique_team_id
from users_support import count_rows, create_user, unique_email

from nib.auth.tables import users

ROUNDS = 4


def race(*calls) -> list:
    """Run the calls at the same moment in parallel threads: each one's result, or the
    AppwriteException it raised."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        try:
            return call()
        except AppwriteException as error:
            return error

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def outcome(result) -> str:
    return f"{result.code} {result.type}" if isinstance(result, AppwriteException) else "ok"


def assert_consistent(server, team_id: str) -> int:
    """The team's total equals its confirmed memberships; returns it."""
    teams = teams_as_key(server)
    confirmed = teams.list_memberships(team_id, [Query.equal("confirm", True)]).total
    assert teams.get(team_id).total == confirmed
    return confirmed


def test_same_user_added_twice_at_once(server, http):
    teams = teams_as_key(server)
    for _ in range(ROUNDS):
        team_id = teams.create(unique_team_id(), "Race").id
        user = create_user(http)
        results = race(*[lambda: teams.create_membership(team_id, ["player"], user_id=user["$id"])] * 2)
        assert Counter(map(outcome, results)) == {"ok": 1, "409 team_invite_already_exists": 1}
        assert [m.userid for m in teams.list_memberships(team_id).memberships] == [user["$id"]]
        assert assert_consistent(server, team_id) == 1


def test_unknown_address_invited_twice_at_once(server, smtp, db):
    owner, team_id = owned_team(server)
    owner_teams = teams_as(server, owner)
    for _ in range(ROUNDS):
        email = unique_email("twice")
        results = race(*[lambda: owner_teams.create_membership(team_id, [], email=email, url=INVITE_URL)] * 2)
        assert Counter(map(outcome, results)) == {"ok": 1, "409 team_invite_already_exists": 1}
        assert count_rows(db, users, server.project, email=email) == 1  # one user, created once
        smtp.mailbox.wait_for(email)
        assert smtp.mailbox.pending(email) == 0  # and one e-mail
    pending = teams_as_key(server).list_memberships(team_id, [Query.equal("confirm", False)]).total
    assert pending == ROUNDS and assert_consistent(server, team_id) == 1


def test_accept_and_delete_racing(server, smtp):
    owner, team_id = owned_team(server)
    owner_teams, guest_teams = teams_as(server, owner), teams_as(server)
    seen = Counter()
    for _ in range(ROUNDS):
        _, params = invite_by_email(server, smtp, owner, team_id, unique_email("racer"), [])
        accepted, deleted = race(
            lambda: guest_teams.update_membership_status(
                team_id, params["membershipId"], params["userId"], params["secret"]
            ),
            lambda: owner_teams.delete_membership(team_id, params["membershipId"]),
        )
        # Either order is fine; the deletion always wins in the end.
        assert outcome(deleted) == "ok"
        assert outcome(accepted) in ("ok", "404 membership_not_found")
        seen[outcome(accepted)] += 1
        assert params["membershipId"] not in [m.id for m in owner_teams.list_memberships(team_id).memberships]
        assert assert_consistent(server, team_id) == 1
    assert sum(seen.values()) == ROUNDS


def test_accept_and_team_deletion_racing(server, smtp):
    for _ in range(ROUNDS):
        owner, team_id = owned_team(server)
        _, params = invite_by_email(server, smtp, owner, team_id, unique_email("orphan"), [])
        accepted, deleted = race(
            lambda: teams_as(server).update_membership_status(
                team_id, params["membershipId"], params["userId"], params["secret"]
            ),
            lambda: teams_as(server, owner).delete(team_id),
        )
        assert outcome(deleted) == "ok"
        assert outcome(accepted) in ("ok", "404 membership_not_found", "404 team_not_found")
        # No membership outlives its team.
        assert teams_as_key(server).list(search=team_id).total == 0
        assert Users(server.sdk()).list_memberships(params["userId"]).total == 0


def test_accept_and_user_deletion_racing(server, smtp):
    owner, team_id = owned_team(server)
    users = Users(server.sdk())
    for _ in range(ROUNDS):
        _, params = invite_by_email(server, smtp, owner, team_id, unique_email("leaving"), [])
        accepted, deleted = race(
            lambda: teams_as(server).update_membership_status(
                team_id, params["membershipId"], params["userId"], params["secret"]
            ),
            lambda: users.delete(params["userId"]),
        )
        assert outcome(deleted) == "ok"
        assert outcome(accepted) in ("ok", "404 membership_not_found")
        # Counted on acceptance, uncounted with the user: the owner is all that is left.
        assert assert_consistent(server, team_id) == 1
