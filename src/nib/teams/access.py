"""Who may do what to teams and memberships: the permissions Appwrite gives their documents,
checked with ``auth.permissions.allowed``.

They follow from the IDs alone, so they are computed rather than stored:

* a team: ``read("team:T")``, ``update("team:T/owner")``, ``delete("team:T/owner")``;
* a membership: ``update``/``delete`` for its user and for the team's owners; ``read`` for
  anyone if it was made by an invitation (``any``: the invitee may not be signed in yet), else
  (the creator's membership, made with the team) for its user and the team's members. A
  membership a caller may not read does not exist for it, like a team.

``roles`` is the caller's role set (auth.roles) or ``None`` for an API key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..auth.permissions import allowed
from ..tools.errors import AppwriteError


def team_permissions(team_id: str) -> list[str]:
    return [f'read("team:{team_id}")', f'update("team:{team_id}/owner")', f'delete("team:{team_id}/owner")']


def membership_permissions(membership: Mapping[str, Any]) -> list[str]:
    """Only invitations carry a secret: the creator's membership is made without one."""
    team_id, user_id = membership["team_id"], membership["user_id"]
    if membership["secret_hash"] is None:
        readers = [f'read("user:{user_id}")', f'read("team:{team_id}")']
    else:
        readers = ['read("any")']
    return [
        *readers,
        f'update("user:{user_id}")',
        f'update("team:{team_id}/owner")',
        f'delete("user:{user_id}")',
        f'delete("team:{team_id}/owner")',
    ]


def readable_team_ids(roles: Iterable[str]) -> list[str]:
    """The teams these roles may read: each ``team:T`` role's team, whose permissions grant
    ``read("team:T")`` (``team_permissions``)."""
    return list(dict.fromkeys(role[5:] for role in roles if role.startswith("team:") and "/" not in role))


def require(roles: Iterable[str] | None, permissions: Iterable[str], action: str, message: str | None = None) -> None:
    """401 ``user_unauthorized`` unless the caller may do ``action`` (Appwrite's authorization error)."""
    if not allowed(roles, permissions, action):
        raise AppwriteError("user_unauthorized", message)
