"""Who a realtime connection is, and what it may receive: the same resolution as a REST request.

At connect the session comes from the cookies and headers a REST request would carry (or the
``jwt`` query parameter, which browsers can send where they cannot set headers); later from the
``authentication`` message. The connection keeps what it signed in with, so that its identity
can be checked again when an event says its roles may have changed (a session deleted, a team
joined, the user blocked) and once its session ends. A session the REST API would refuse
(blocked user, second factor missing, expired) is no session: the connection is a guest.

These functions query the database: the socket calls them in the worker pool.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..account.models import account
from ..auth import credentials, impersonation
from ..auth.principals import GUEST_SCOPES, Principal
from ..auth.roles import request_roles
from ..data.db import Database

GUEST_ROLES = frozenset({"any", "guests"})


@dataclass(frozen=True)
class SignIn:
    """What a connection signed in with: a session (cookie, header or message) or a JWT."""

    credentials: credentials.Credentials
    jwt_payload: dict[str, Any] | None = None
    impersonate: impersonation.Target | None = None


@dataclass(frozen=True)
class Identity:
    user_id: str | None  # None for a guest
    account: dict[str, Any] | None  # the Account model the client is told of
    roles: frozenset[str] = GUEST_ROLES
    expires: datetime | None = None  # when its session (or JWT) stops being valid
    impersonated: bool = False
    sign_in: SignIn | None = field(default=None, compare=False)

    def expired(self, now: datetime) -> bool:
        return self.expires is not None and now >= self.expires


GUEST = Identity(None, None)


def resolve(db: Database, project_id: str, sign_in: SignIn | None) -> Identity:
    """The identity of a connection signed in with ``sign_in`` (a guest when it names no live,
    usable session)."""
    if sign_in is None:
        return GUEST
    guest = Principal(project_id=project_id, role="guests", scopes=GUEST_SCOPES)
    principal = credentials.authenticate(db, guest, sign_in.credentials, sign_in.jwt_payload)
    if principal.user is not None and sign_in.impersonate is not None:
        principal = impersonation.impersonate(db, principal, sign_in.impersonate)
    user, session = principal.user, principal.session
    if user is None or session is None or not user["status"] or credentials.requires_more_factors(principal):
        return GUEST
    expires = session.expire
    if sign_in.jwt_payload is not None and session.via_jwt:
        jwt_end = datetime.fromtimestamp(int(sign_in.jwt_payload.get("exp", 0)), timezone.utc)
        expires = jwt_end if expires is None else min(expires, jwt_end)
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=timezone.utc)
    impersonator = principal.impersonator
    return Identity(
        user_id=user["id"],
        account=account(user, principal.targets, impersonator_id=impersonator["id"] if impersonator else None),
        roles=frozenset(request_roles(db, principal)),
        expires=expires,
        impersonated=impersonator is not None,
        sign_in=sign_in,
    )
