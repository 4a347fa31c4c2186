"""The roles of a request, in one place for every service.

A permission such as ``read("team:T/owner")`` matches when its role string is one of these.
API keys skip permission checks altogether; their only role is ``any``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from ..data.db import Database
from .principals import Principal
from .tables import memberships


def roles_of(principal: Principal, memberships: Iterable[Mapping[str, Any]] = ()) -> list[str]:
    """``any`` plus ``guests``, or the user's roles: ``users``, ``user:ID``, their verified or
    unverified dimension, ``team:T``, ``team:T/<role>``, ``member:M`` for each **confirmed**
    membership (rows with ``id``, ``team_id``, ``roles``, ``confirm``) and ``label:L``."""
    roles = ["any"]
    if principal.is_key:
        return roles
    user = principal.user
    if user is None:
        return [*roles, "guests"]
    user_id = user["id"]
    status = "verified" if user["email_verification"] or user["phone_verification"] else "unverified"
    roles += ["users", f"user:{user_id}", f"users/{status}", f"user:{user_id}/{status}"]
    for membership in memberships:
        if not membership["confirm"]:
            continue
        team = membership["team_id"]
        roles += [f"team:{team}", f"member:{membership['id']}"]
        roles += [f"team:{team}/{role}" for role in membership["roles"]]
    roles += [f"label:{label}" for label in user["labels"] or ()]
    return roles


_CONFIRMED = sa.select(memberships.c.id, memberships.c.team_id, memberships.c.roles, memberships.c.confirm).where(
    memberships.c.project_id == sa.bindparam("project_id"),
    memberships.c.user_id == sa.bindparam("user_id"),
    memberships.c.confirm.is_(True),
)


def request_roles(db: Database, principal: Principal) -> list[str]:
    """``roles_of`` with the user's confirmed memberships read from the database."""
    if principal.user is None or principal.is_key:
        return roles_of(principal)
    rows = db.fetch(_CONFIRMED, {"project_id": principal.project_id, "user_id": principal.user["id"]})
    return roles_of(principal, rows)
