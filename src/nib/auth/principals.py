"""Who is calling: project resolution, API keys and scopes.

One indexed query resolves the project and, when a key was sent, the key with it. Its result is
kept for ``CACHE_SECONDS`` per (project, key digest): the hot path then costs no query, and a
revoked key or disabled project stops working within that time in every process.
"""

from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from ..data.db import Database
from ..tools import dates
from ..tools.errors import AppwriteError
from ..tools.ids import secret_hash
from ..tools.ttlcache import TTLCache
from .tables import api_keys, projects

GUEST_SCOPES = frozenset(
    "global public home console graphql sessions.write documents.read documents.write files.read "
    "files.write locale.read avatars.read execution.write".split()
)
# The scopes of a signed-in user (role "users").
USER_SCOPES = frozenset(
    "global public home console graphql sessions.write account teams.read teams.write documents.read "
    "documents.write files.read files.write projects.read projects.write locale.read avatars.read "
    "execution.read execution.write targets.read targets.write subscribers.write subscribers.read "
    "assistant.read".split()
)
# A signed-in user flagged ``impersonator`` may also read the project's users.
IMPERSONATOR_SCOPES = USER_SCOPES | {"users.read"}
# Granted to every valid API key in addition to the key's own scopes.
KEY_BASE_SCOPES = frozenset({"global", "health.read", "graphql"})

# Every scope a key can be given ("nib keys create" defaults to all of them).
ALL_KEY_SCOPES = (
    "users.read",
    "users.write",
    "teams.read",
    "teams.write",
    "buckets.read",
    "buckets.write",
    "files.read",
    "files.write",
    "targets.read",
    "targets.write",
    "sessions.write",
    "tokens.read",
    "tokens.write",
)


@dataclass(frozen=True)
class CurrentSession:
    """The session a signed-in request runs under (by cookie, header or JWT)."""

    id: str
    factors: tuple[str, ...]
    mfa_updated_at: datetime | None
    via_jwt: bool = False
    expire: datetime | None = None  # when the session ends (realtime stops trusting it then)


@dataclass(frozen=True)
class Principal:
    """The caller of one request.

    For a signed-in user (role ``users``): ``user`` is the users row, ``targets`` its targets,
    ``session`` the current session and ``mfa_factors`` how many verified second factors
    (totp, email, phone) the user has. While an impersonator acts as another user
    (auth/impersonation.py), ``user``, ``targets`` and ``mfa_factors`` are the target's and
    ``impersonator`` is the signed-in user's row; ``session`` and ``scopes`` stay the caller's.
    """

    project_id: str
    role: str  # "guests" | "users" | "apps"
    scopes: frozenset[str]
    key_id: str | None = None
    user: dict[str, Any] | None = field(default=None)
    targets: tuple[dict[str, Any], ...] = ()
    session: CurrentSession | None = None
    mfa_factors: int = 0
    impersonator: dict[str, Any] | None = None
    # A console administrator acting through the API (auth/admins.py): {id, email, name}.
    admin: dict[str, Any] | None = None

    @property
    def is_key(self) -> bool:
        return self.role == "apps"

    def require(self, scope: str, hostname: str) -> None:
        """401 general_unauthorized_scope unless the caller holds ``scope``."""
        if scope in self.scopes:
            return
        if self.is_key:
            who, label = f"app.{self.project_id}@service.{hostname}", "applications"
        else:
            who = (self.user or {}).get("email") or "User"
            label = self.role
        raise AppwriteError("general_unauthorized_scope", f"{who} (role: {label}) missing scope ({scope})")


NO_PROJECT_MESSAGE = (
    "No Appwrite project was specified. Please specify your project ID when initializing your Appwrite SDK."
)
CONSOLE_MESSAGE = (
    "This endpoint is not available for the console project. The Appwrite Console is a reserved project ID "
    "and cannot be used with the Appwrite SDKs and APIs. Please check if your project ID is correct."
)


CACHE_SECONDS = 1.0
_CACHE_SIZE = 4096


_cache: TTLCache[Principal] = TTLCache(CACHE_SECONDS, _CACHE_SIZE)


def resolve(db: Database, project_id: str, key: str | None) -> Principal:
    """The request's principal; an invalid key is no key (the caller continues as a guest)."""
    if not project_id:
        raise AppwriteError("general_access_forbidden", NO_PROJECT_MESSAGE)
    if project_id == "console":
        raise AppwriteError("general_access_forbidden", CONSOLE_MESSAGE)
    digest = secret_hash(key) if key else ""
    principal = _cache.get((project_id, digest))
    if principal is None:
        principal = _lookup(db, project_id, digest)
        _cache.put((project_id, digest), principal)
    return principal


def _lookup(db: Database, project_id: str, digest: str) -> Principal:
    statement = (
        sa.select(projects.c.enabled, api_keys.c.id, api_keys.c.secret_hash, api_keys.c.scopes, api_keys.c.expire)
        .select_from(
            projects.outerjoin(
                api_keys, sa.and_(api_keys.c.project_id == projects.c.id, api_keys.c.secret_hash == digest)
            )
        )
        .where(projects.c.id == project_id)
    )
    with db.read() as conn:
        row = conn.execute(statement).first()
    if row is None:
        raise AppwriteError("project_not_found")
    if not row.enabled:
        raise AppwriteError("general_access_forbidden", "This project is disabled.")
    if row.id is None or not hmac.compare_digest(row.secret_hash, digest):
        return Principal(project_id=project_id, role="guests", scopes=GUEST_SCOPES)
    if row.expire is not None and row.expire < dates.now():
        raise AppwriteError("project_key_expired")
    return Principal(project_id=project_id, role="apps", scopes=KEY_BASE_SCOPES | frozenset(row.scopes), key_id=row.id)


def encode_session(user_id: str, secret: str) -> str:
    """The session cookie / X-Appwrite-Session value: base64 of compact JSON {id, secret}."""
    return base64.b64encode(orjson.dumps({"id": user_id, "secret": secret})).decode()
