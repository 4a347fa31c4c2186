"""Impersonation: a signed-in user flagged ``impersonator`` acting as another user of the project.

The caller names its target by ID, e-mail or phone, in a header (``X-Appwrite-Impersonate-User-Id``,
``-Email``, ``-Phone``) or the same as a query parameter (``impersonateUserId``,
``impersonateEmail``, ``impersonatePhone``, also all lower-case) for URLs such as an ``<img src>``.
The first kind given wins in the order ID, e-mail, phone; for each kind the header wins over the
parameter. A caller without the flag, an unknown target or the caller itself means no
impersonation and no error: the request runs as the caller.

While impersonating, the request runs as the target (its roles, its blocked and MFA state, its
account), with the caller's session and scopes; the pipeline keeps account routes read-only,
records the caller as the audit actor with the target beside it, and refreshes nobody's
``accessedAt`` but the caller's. Nothing is read unless a target is named and the caller has the
flag, so requests without impersonation pay no query.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, NamedTuple

import sqlalchemy as sa

from ..data.db import Database
from .credentials import identity, user_statement
from .principals import Principal
from .tables import users

# (kind, header, query parameter spellings)
_SELECTORS = (
    ("id", "x-appwrite-impersonate-user-id", ("impersonateUserId", "impersonateuserid")),
    ("email", "x-appwrite-impersonate-user-email", ("impersonateEmail", "impersonateemail")),
    ("phone", "x-appwrite-impersonate-user-phone", ("impersonatePhone", "impersonatephone")),
)
# The headers, for CORS.
HEADERS = tuple(header for _kind, header, _params in _SELECTORS)
# Query strings worth parsing for a selector (a substring every parameter spelling contains).
QUERY_MARK = b"mpersonate"


class Target(NamedTuple):
    """The user a request asks to act as: ``kind`` is id, email or phone."""

    kind: str
    value: str


def requested(headers: Mapping[str, str], params: Mapping[str, Any]) -> Target | None:
    """The target a request names in its headers (lower-case names) or query parameters."""
    for kind, header, spellings in _SELECTORS:
        value = headers.get(header) or next((params[p] for p in spellings if params.get(p)), "")
        if value and isinstance(value, str):
            return Target(kind, value.lower() if kind == "email" else value)
    return None


_BY = {kind: user_statement(users.c[kind] == sa.bindparam("value")) for kind in ("id", "email", "phone")}


def impersonate(db: Database, principal: Principal, target: Target) -> Principal:
    """``principal`` acting as ``target`` when it may (module docstring), else unchanged."""
    caller = principal.user
    if caller is None or not caller["impersonator"]:
        return principal
    rows = db.fetch(_BY[target.kind], {"project_id": principal.project_id, "value": target.value})
    if not rows or rows[0]["id"] == caller["id"]:
        return principal
    user, owned, factors = identity(rows)
    return dataclasses.replace(principal, user=user, targets=owned, mfa_factors=factors, impersonator=caller)
