"""Appwrite's event names, channels and roles as ``http.events`` builds them from a route's pattern."""

from __future__ import annotations

import re

from nib.http import events


def test_a_nested_resource_event_has_every_generalisation_most_specific_first():
    names = events.generate("users.[userId].sessions.[sessionId].create", {"userId": "U", "sessionId": "S"})
    assert names == [
        "users.U.sessions.S.create",
        "users.*.sessions.*.create",
        "users.U.sessions.*.create",
        "users.*.sessions.S.create",
        "users.U.sessions.S",
        "users.*.sessions.*",
        "users.U.sessions.*",
        "users.*.sessions.S",
        "users.U",
        "users.*",
    ]


def test_an_attribute_update_names_the_action_with_and_without_the_attribute():
    assert events.generate("users.[userId].update.email", {"userId": "U"}) == [
        "users.U.update",
        "users.*.update",
        "users.U.update.email",
        "users.*.update.email",
        "users.U",
        "users.*",
    ]


def test_a_membership_status_update():
    names = events.generate(
        "teams.[teamId].memberships.[membershipId].update.status", {"teamId": "T", "membershipId": "M"}
    )
    assert names[:4] == [
        "teams.T.memberships.M.update.status",
        "teams.*.memberships.*.update.status",
        "teams.T.memberships.*.update.status",
        "teams.*.memberships.M.update.status",
    ]
    assert names[4:8] == [
        "teams.T.memberships.M.update",
        "teams.*.memberships.*.update",
        "teams.T.memberships.*.update",
        "teams.*.memberships.M.update",
    ]
    assert names[8:10] == ["teams.T.update.status", "teams.*.update.status"]
    assert names[10:14] == [
        "teams.T.memberships.M",
        "teams.*.memberships.*",
        "teams.T.memberships.*",
        "teams.*.memberships.M",
    ]
    assert names[14:] == ["teams.T", "teams.*"]


def test_deleting_every_session_has_no_session_id():
    assert events.generate("users.[userId].sessions.delete", {"userId": "U"}) == [
        "users.U.sessions",
        "users.*.sessions",
        "users.U.sessions.delete",
        "users.*.sessions.delete",
        "users.U",
        "users.*",
    ]


def test_file_channels_include_the_action_channels_and_roles_are_the_readers():
    channels, roles = events.channels_and_roles("buckets.B.files.F.create", ["any", "user:u1"])
    assert channels == [
        "files",
        "buckets.B.files",
        "buckets.B.files.F",
        "files.create",
        "buckets.B.files.create",
        "buckets.B.files.F.create",
    ]
    assert roles == ["any", "user:u1"]


def test_account_channels_only_the_users_own_changes_have_actions():
    assert events.channels_and_roles("users.U.update", None) == (
        ["account", "account.U", "account.update", "account.U.update"],
        ["user:U"],
    )
    assert events.channels_and_roles("users.U.sessions.S.create", None) == (["account", "account.U"], ["user:U"])


def test_teams_and_memberships_reach_the_team():
    assert events.channels_and_roles("teams.T.update", None) == (
        ["teams", "teams.T", "teams.update", "teams.T.update"],
        ["team:T"],
    )
    assert events.channels_and_roles("teams.T.memberships.M.update.status", None) == (
        ["memberships", "memberships.M", "memberships.update", "memberships.M.update"],
        ["team:T"],
    )


def test_bucket_events_are_not_carried():
    assert events.build("p", "buckets.[bucketId].create", {"bucketId": "B"}, {"$id": "B"}) is None


def test_placeholders_come_from_the_handler_then_the_model_then_the_id_then_the_params():
    session = {"$id": "S", "userId": "U"}
    assert events.fill("users.[userId].sessions.[sessionId].create", session, {}, {}) == {
        "userId": "U",
        "sessionId": "S",
    }
    user = {"$id": "U", "name": "x"}
    assert events.fill("users.[userId].update.name", user, {"userId": "ignored"}, {}) == {"userId": "U"}
    assert events.fill("users.[userId].sessions.delete", {}, {"userId": "P"}, {}) == {"userId": "P"}
    assert events.fill("users.[userId].update.name", user, {}, {"userId": "H"}) == {"userId": "H"}


def test_the_payload_never_carries_secrets_or_password_hashes():
    payload = {
        "$id": "S",
        "userId": "U",
        "secret": "s3cret",
        "password": "$argon2…",
        "hash": "argon2",
        "hashOptions": {},
    }
    event = events.build("p", "users.[userId].sessions.[sessionId].create", {"userId": "U", "sessionId": "S"}, payload)
    assert event is not None
    assert event.payload == {"$id": "S", "userId": "U"}


def test_role_changes_name_whose_connections_to_check_again():
    def refresh(pattern, params, payload=None, actor=""):
        event = events.build("p", pattern, params, payload or {}, actor=actor)
        assert event is not None
        return event.refresh_user, event.refresh_team

    assert refresh("teams.[teamId].create", {"teamId": "T"}, actor="creator") == ("creator", "")
    assert refresh("teams.[teamId].delete", {"teamId": "T"}) == ("", "T")
    assert refresh("teams.[teamId].update", {"teamId": "T"}) == ("", "")
    membership = {"$id": "M", "userId": "member"}
    assert refresh(
        "teams.[teamId].memberships.[membershipId].update.status", {"teamId": "T", "membershipId": "M"}, membership
    ) == ("member", "")
    assert refresh("users.[userId].update.labels", {"userId": "U"}) == ("U", "")
    assert refresh("users.[userId].sessions.[sessionId].delete", {"userId": "U", "sessionId": "S"}) == ("U", "")
    assert refresh("users.[userId].sessions.delete", {"userId": "U"}) == ("U", "")
    assert refresh("users.[userId].sessions.[sessionId].create", {"userId": "U", "sessionId": "S"}) == ("", "")


def test_an_event_survives_the_trip_between_processes():
    event = events.build("p", "teams.[teamId].update", {"teamId": "T"}, {"$id": "T", "name": "n"})
    assert event is not None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", event.timestamp)
    assert events.Event.decode(event.encode()) == event
