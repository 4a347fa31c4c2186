"""Client authentication: the session or JWT a request carries.

A session arrives as the cookie ``a_session_<project>``, its ``_legacy`` twin, the
``X-Appwrite-Session`` header or the Web SDK's ``X-Fallback-Cookies`` header, always *encoded*
(base64 of ``{"id": userId, "secret": secret}``); ``X-Appwrite-Session`` may also hold the raw
secret. Anything that does not decode, or names no live session, is no session: the caller is a
guest and the scope check answers. A JWT (``X-Appwrite-JWT``) that fails verification is an
error at once (401 ``user_jwt_invalid``).

The user, its targets, the session and whether it has a verified TOTP authenticator come from
**one** statement on the driver path.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

import orjson
import sqlalchemy as sa

from ..data.db import AnySelect, Database
from ..data.db.types import UTCDateTime
from ..tools import dates
from ..tools.errors import AppwriteError
from ..tools.ids import secret_hash
from .principals import IMPERSONATOR_SCOPES, USER_SCOPES, CurrentSession, Principal
from .tables import authenticators, sessions, targets, users

JWT_ALGORITHM = "HS256"
JWT_LEEWAY_SECONDS = 10


def cookie_name(project_id: str) -> str:
    return f"a_session_{project_id}"


@dataclass(frozen=True)
class SessionRef:
    """What the request claims: a user and session secret, or (``user_id`` None) a raw secret."""

    user_id: str | None
    secret: str


@dataclass(frozen=True)
class Credentials:
    session: SessionRef | None
    jwt: str


def decode_session(value: str | None) -> SessionRef | None:
    """An encoded session value, or None when it is not one."""
    if not value:
        return None
    try:
        data = orjson.loads(base64.b64decode(unquote(value), validate=True))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    user_id, secret = data.get("id"), data.get("secret")
    if isinstance(user_id, str) and isinstance(secret, str) and user_id and secret:
        return SessionRef(user_id, secret)
    return None


def request_credentials(project_id: str, cookies: Mapping[str, str], headers: Mapping[str, str]) -> Credentials:
    """Read the session and JWT in Appwrite's order: cookie, legacy cookie, header, fallback."""
    name = cookie_name(project_id)
    cookie = cookies.get(name)
    ref = decode_session(cookie if cookie is not None else cookies.get(name + "_legacy"))
    if ref is None:
        header = headers.get("x-appwrite-session", "")
        ref = decode_session(header)
        if ref is None and header and all(c in "0123456789abcdef" for c in header):
            ref = SessionRef(None, header)  # the raw secret (POST /users/{id}/sessions in 1.5)
    if ref is None:
        fallback = headers.get("x-fallback-cookies", "")
        try:
            stored = orjson.loads(fallback) if fallback else None
        except orjson.JSONDecodeError:
            stored = None
        if isinstance(stored, dict) and isinstance(stored.get(name), str):
            ref = decode_session(stored[name])
    return Credentials(ref, headers.get("x-appwrite-jwt", ""))


# -- JWT ------------------------------------------------------------------------------------------


def issue_jwt(key: str, *, user_id: str, session_id: str, duration: int) -> str:
    """HS256 ``{userId, sessionId, exp}`` as Appwrite signs it (no ``iat``)."""
    import jwt  # PyJWT (and the cryptography it loads) only where JWTs are used

    exp = int(dates.now().timestamp()) + duration
    return jwt.encode({"userId": user_id, "sessionId": session_id, "exp": exp}, key, algorithm=JWT_ALGORITHM)


def verify_jwt(token: str, key: str) -> dict[str, Any]:
    """The payload of a valid token; 401 ``user_jwt_invalid`` otherwise."""
    import jwt

    try:
        payload = jwt.decode(token, key, algorithms=[JWT_ALGORITHM], leeway=JWT_LEEWAY_SECONDS)
    except jwt.PyJWTError as error:
        raise AppwriteError("user_jwt_invalid", f"Failed to verify JWT. {error}") from None
    return payload


# -- lookup ---------------------------------------------------------------------------------------

_SESSION_COLUMNS = ("id", "factors", "mfa_updated_at", "expire")
_TARGET_KEYS = [(f"target_{column.name}", column.name) for column in targets.c]
# Whether the user has a verified TOTP authenticator (a second factor), as a column.
HAS_VERIFIED_TOTP = (
    sa.exists()
    .where(
        authenticators.c.project_id == users.c.project_id,
        authenticators.c.user_id == users.c.id,
        authenticators.c.type == "totp",
        authenticators.c.verified.is_(True),
    )
    .label("has_totp")
)


def _statement(*where: sa.ColumnElement[bool], with_session: bool = True) -> AnySelect:
    joined: sa.FromClause = users
    session_columns: list[sa.ColumnElement[Any]] = []
    if with_session:
        joined = users.join(
            sessions, sa.and_(sessions.c.project_id == users.c.project_id, sessions.c.user_id == users.c.id)
        )
        session_columns = [sessions.c[name].label(f"session_{name}") for name in _SESSION_COLUMNS]
    joined = joined.outerjoin(
        targets, sa.and_(targets.c.project_id == users.c.project_id, targets.c.user_id == users.c.id)
    )
    return (
        sa.select(
            users,
            *session_columns,
            *(column.label(f"target_{column.name}") for column in targets.c),
            HAS_VERIFIED_TOTP,
        )
        .select_from(joined)
        .where(users.c.project_id == sa.bindparam("project_id"), *where)
        .order_by(targets.c.seq)
    )


def user_statement(*where: sa.ColumnElement[bool]) -> AnySelect:
    """A user of the project (``project_id`` bound) with its targets and whether it has a
    verified TOTP authenticator, no session: the rows ``identity`` reads."""
    return _statement(*where, with_session=False)


_LIVE = (sessions.c.expire >= sa.bindparam("now", type_=UTCDateTime()), sessions.c.provider != "")
_BY_USER_AND_SECRET = _statement(
    users.c.id == sa.bindparam("user_id"), sessions.c.secret_hash == sa.bindparam("digest"), *_LIVE
)
_BY_SECRET = _statement(sessions.c.secret_hash == sa.bindparam("digest"), *_LIVE)
# A JWT names its session by ID; it stays valid for as long as that session exists (Appwrite).
_BY_SESSION_ID = _statement(users.c.id == sa.bindparam("user_id"), sessions.c.id == sa.bindparam("session_id"))


def identity(rows: list[dict[str, Any]]) -> tuple[dict[str, Any], tuple[dict[str, Any], ...], int]:
    """The user of joined user/target rows, its targets and how many verified second factors
    (totp, email, phone) it has."""
    first = rows[0]
    user = {column.name: first[column.name] for column in users.c}
    owned = tuple({name: row[key] for key, name in _TARGET_KEYS} for row in rows if row["target_id"] is not None)
    factors = sum(
        (
            bool(first["has_totp"]),
            bool(user["email"]) and bool(user["email_verification"]),
            bool(user["phone"]) and bool(user["phone_verification"]),
        )
    )
    return user, owned, factors


def _principal(project_id: str, rows: list[dict[str, Any]], via_jwt: bool) -> Principal | None:
    if not rows:
        return None
    first = rows[0]
    user, owned, factors = identity(rows)
    session = CurrentSession(
        id=first["session_id"],
        factors=tuple(first["session_factors"] or ()),
        mfa_updated_at=first["session_mfa_updated_at"],
        via_jwt=via_jwt,
        expire=first["session_expire"],
    )
    return Principal(
        project_id=project_id,
        role="users",
        # An impersonator may list the project's users to pick a target (Appwrite).
        scopes=IMPERSONATOR_SCOPES if user["impersonator"] else USER_SCOPES,
        user=user,
        targets=owned,
        session=session,
        mfa_factors=factors,
    )


def authenticate(
    db: Database, principal: Principal, creds: Credentials, jwt_payload: dict[str, Any] | None
) -> Principal:
    """The signed-in principal for these credentials, or ``principal`` unchanged (guest/key).

    A key together with a live session or JWT user is refused (403 ``user_key_and_session_set``).
    """
    project_id = principal.project_id
    found: Principal | None = None
    ref = creds.session
    if ref is not None:
        params = {"project_id": project_id, "digest": secret_hash(ref.secret), "now": dates.now()}
        if ref.user_id is None:
            found = _principal(project_id, db.fetch(_BY_SECRET, params), via_jwt=False)
        else:
            found = _principal(project_id, db.fetch(_BY_USER_AND_SECRET, {**params, "user_id": ref.user_id}), False)
    if found is None and jwt_payload is not None:
        user_id, session_id = jwt_payload.get("userId"), jwt_payload.get("sessionId")
        if isinstance(user_id, str) and isinstance(session_id, str) and user_id and session_id:
            rows = db.fetch(_BY_SESSION_ID, {"project_id": project_id, "user_id": user_id, "session_id": session_id})
            found = _principal(project_id, rows, via_jwt=True)
    if found is None:
        return principal
    if principal.is_key:
        raise AppwriteError("user_key_and_session_set")
    return found


def requires_more_factors(principal: Principal) -> bool:
    """MFA on, a verified second factor available, and the session has only one factor."""
    user, session = principal.user, principal.session
    if user is None or session is None or not user["mfa"]:
        return False
    return principal.mfa_factors > 0 and len(session.factors) < 2


_ACCESS_INTERVAL = timedelta(hours=24)


def access_due(user: Mapping[str, Any]) -> bool:
    """Whether the user's ``accessedAt`` is unset or older than a day (Appwrite's refresh rule)."""
    accessed = user["accessed_at"]
    return accessed is None or dates.now() - accessed >= _ACCESS_INTERVAL


def record_access(db: Database, project_id: str, user_id: str) -> None:
    """Set the user's ``accessedAt`` (and ``$updatedAt``) to now."""
    now = dates.now()
    with db.write() as conn:
        conn.execute(
            users.update()
            .where(users.c.project_id == project_id, users.c.id == user_id)
            .values(accessed_at=now, updated_at=now)
        )
