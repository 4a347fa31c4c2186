"""Who may do what to teams and memberships: the document permissions Appwrite gives them, through
auth.permissions.allowed, as a table of callers (roles from auth.roles) and actions."""

from __future__ import annotations

import pytest

from nib.auth.permissions import allowed
from nib.teams.access import membership_permissions, readable_team_ids, require, team_permissions
from nib.tools.errors import AppwriteError

# Role sets as auth.roles.roles_of builds them; ``None`` is an API key.
CALLERS = {
    "owner": ["any", "users", "user:O", "user:O/verified", "users/verified", "team:T", "member:M1", "team:T/owner"],
    "player": [
        "any",
        "users",
        "user:P",
        "user:P/unverified",
        "users/unverified",
        "team:T",
        "member:M2",
        "team:T/player",
    ],
    "outsider": [
        "any",
        "users",
        "user:X",
        "user:X/verified",
        "users/verified",
        "team:OTHER",
        "member:M3",
        "team:OTHER/owner",
    ],
    "key": None,
}

TEAM_TABLE = [
    ("read", {"owner", "player", "key"}),
    ("update", {"owner", "key"}),
    ("delete", {"owner", "key"}),
    ("create", {"key"}),
]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("action", "granted"), TEAM_TABLE)
def test_team_document(caller, action, granted):
    assert allowed(CALLERS[caller], team_permissions("T"), action) is (caller in granted)
    # "update" is what owners alone (and keys) may do: modify roles, send invitations
    assert allowed(CALLERS[caller], team_permissions("T"), "update") is (caller in {"owner", "key"})


# The player's membership (user P, added by an invitation, which gives it a secret) and the
# owner's (user O, made with the team, without a secret).
MEMBERSHIPS = {
    "P": {"team_id": "T", "user_id": "P", "secret_hash": "0" * 64},
    "O": {"team_id": "T", "user_id": "O", "secret_hash": None},
}
MEMBERSHIP_TABLE = [
    ("P", "delete", {"owner", "player", "key"}),
    ("P", "update", {"owner", "player", "key"}),
    ("O", "delete", {"owner", "key"}),
    ("O", "update", {"owner", "key"}),
    ("P", "read", {"owner", "player", "outsider", "key"}),  # invitations: read("any")
    ("O", "read", {"owner", "player", "key"}),  # its user and the team's members
]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("user", "action", "granted"), MEMBERSHIP_TABLE)
def test_membership_document(caller, user, action, granted):
    assert allowed(CALLERS[caller], membership_permissions(MEMBERSHIPS[user]), action) is (caller in granted)


def test_readable_teams_come_from_team_roles_only():
    assert readable_team_ids(CALLERS["owner"]) == ["T"]
    assert readable_team_ids(["any", "team:A/owner", "team:B", "member:M", "team:A", "team:B"]) == ["B", "A"]
    assert readable_team_ids(["any", "guests"]) == []


def test_require_raises_appwrites_authorization_error():
    require(CALLERS["owner"], team_permissions("T"), "delete")
    with pytest.raises(AppwriteError) as info:
        require(CALLERS["player"], team_permissions("T"), "delete", "User is not allowed to modify roles")
    assert (info.value.type, info.value.status, info.value.message) == (
        "user_unauthorized",
        401,
        "User is not allowed to modify roles",
    )
