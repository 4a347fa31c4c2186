"""Projects, their auth policies and their API keys (managed from the command line)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..data.db import Database
from ..tools import dates
from ..tools.errors import AppwriteError
from ..tools.ids import new_secret, secret_hash, unique_id
from ..tools.ttlcache import TTLCache
from ..tools.validators import Invalid, custom_id
from .platforms import insert_platform
from .principals import ALL_KEY_SCOPES
from .tables import api_keys, projects

DEFAULT_PROJECT = "default"


def create_project(db: Database, *, project_id: str, name: str) -> dict[str, Any]:
    """A new, enabled project; 409 if the ID is taken."""
    try:
        custom_id(project_id)
    except Invalid as invalid:
        raise AppwriteError("general_argument_invalid", f"Invalid `projectId` param: {invalid}") from None
    if project_id == "console":
        # Requests naming "console" are refused as Appwrite's reserved project (auth/principals.py).
        raise AppwriteError("general_argument_invalid", 'Invalid `projectId` param: "console" is reserved.')
    if project_id == "unique()":
        project_id = unique_id()
    with db.write() as conn:
        return _insert_project(conn, project_id, name)


def _insert_project(conn: Connection, project_id: str, name: str) -> dict[str, Any]:
    now = dates.now()
    row = {"id": project_id, "name": name, "enabled": True, "created_at": now, "updated_at": now}
    if conn.execute(sa.select(projects.c.seq).where(projects.c.id == project_id)).first():
        raise AppwriteError("document_already_exists", f"Project '{project_id}' already exists.")
    conn.execute(projects.insert().values(row))
    return row


def list_projects(db: Database) -> list[dict[str, Any]]:
    with db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(projects).order_by(projects.c.seq))]


def project_name(conn: Connection, project_id: str) -> str:
    """The name users see (e-mails, TOTP issuer); the ID when the project has none."""
    return conn.execute(sa.select(projects.c.name).where(projects.c.id == project_id)).scalar() or project_id


def rename_project(db: Database, *, project_id: str, name: str) -> dict[str, Any]:
    """Give the project a new name (1-128 characters); the project's row. 404 ``project_not_found``."""
    if not isinstance(name, str) or not 1 <= len(name) <= 128:
        raise AppwriteError(
            "general_argument_invalid",
            "Invalid `name` param: Value must be a valid string and at least 1 chars and no longer than 128 chars",
        )
    with db.write() as conn:
        updated = conn.execute(
            projects.update().where(projects.c.id == project_id).values(name=name, updated_at=dates.now())
        )
        if updated.rowcount == 0:
            raise AppwriteError("project_not_found")
        row = conn.execute(sa.select(projects).where(projects.c.id == project_id)).mappings().one()
    return dict(row)


# -- auth policies --------------------------------------------------------------------------------

# The auth methods a project can switch off, by Appwrite's names. All are on by default; `passkey`
# too, unlike Appwrite, where passkeys stay off until enabled: nib offers them whenever a relying
# party can be built from the server's hostname and web platforms.
AUTH_METHODS = ("email-password", "magic-url", "email-otp", "anonymous", "invites", "jwt", "phone", "passkey")


@dataclass(frozen=True)
class AuthPolicies:
    """A project's auth settings (Appwrite's ``auths``), defaults filled in."""

    user_limit: int = 0  # auths.limit: most users the project may have, 0 = unlimited
    session_length: int = 31536000  # auths.duration, seconds
    sessions_limit: int = 10  # auths.maxSessions: a user's oldest sessions go beyond it
    password_history: int = 0  # how many of a user's last passwords a new one may not repeat; 0 = off
    password_dictionary: bool = False  # refuse the 10k most common passwords
    personal_data_check: bool = False  # refuse passwords containing the user's ID, e-mail, name or phone
    # Memberships privacy: whether callers other than API keys see these fields of members.
    memberships_user_name: bool = True
    memberships_user_email: bool = True
    memberships_mfa: bool = True
    methods: Mapping[str, bool] = field(default_factory=lambda: MappingProxyType(dict.fromkeys(AUTH_METHODS, True)))


DEFAULT_POLICIES = AuthPolicies()

# AuthPolicies field -> its key in the stored ``auths`` (Appwrite's names), and the allowed values:
# a (minimum, maximum) range of integers, or bool. Appwrite's console limits: users 0-10,000,
# sessions 1-100, session length up to a year, history up to 20.
_POLICY_KEYS: dict[str, tuple[str, tuple[int, int] | type]] = {
    "user_limit": ("limit", (0, 10_000)),
    "session_length": ("duration", (0, 31_536_000)),
    "sessions_limit": ("maxSessions", (1, 100)),
    "password_history": ("passwordHistory", (0, 20)),
    "password_dictionary": ("passwordDictionary", bool),
    "personal_data_check": ("personalDataCheck", bool),
    "memberships_user_name": ("membershipsUserName", bool),
    "memberships_user_email": ("membershipsUserEmail", bool),
    "memberships_mfa": ("membershipsMfa", bool),
}
# Auth method -> its key in ``auths`` (Appwrite's).
_METHOD_KEYS = {
    "email-password": "emailPassword",
    "magic-url": "usersAuthMagicURL",
    "email-otp": "emailOTP",
    "anonymous": "anonymous",
    "invites": "invites",
    "jwt": "JWT",
    "phone": "phone",
    "passkey": "passkey",
}

# What a disabled method answers (501 user_auth_method_unsupported), in Appwrite's words.
METHOD_DISABLED_MESSAGES = {
    "email-password": "Email / Password authentication is disabled for this project",
    "magic-url": "Magic URL authentication is disabled for this project",
    "email-otp": "Email OTP authentication is disabled for this project",
    "anonymous": "Anonymous authentication is disabled for this project",
    "invites": "Invites authentication is disabled for this project",
    "jwt": "JWT authentication is disabled for this project",
    "phone": "Phone authentication is disabled for this project",
    "passkey": "Passkey authentication is disabled for this project",
}


def require_auth_method(db: Database, project_id: str, method: str) -> None:
    """501 ``user_auth_method_unsupported`` while the project has ``method`` switched off."""
    if not auth_policies(db, project_id).methods.get(method, True):
        raise AppwriteError("user_auth_method_unsupported", METHOD_DISABLED_MESSAGES[method])


_policies_cache: TTLCache[AuthPolicies] = TTLCache(1.0, 4096)


def _policies_from(auths: Mapping[str, Any]) -> AuthPolicies:
    """The stored ``auths`` (only what differs from the defaults) as AuthPolicies."""
    values: dict[str, Any] = {}
    for name, (key, _) in _POLICY_KEYS.items():
        if key in auths:
            values[name] = auths[key]
    methods = {method: bool(auths.get(key, True)) for method, key in _METHOD_KEYS.items()}
    return AuthPolicies(**values, methods=MappingProxyType(methods))


def policies_on(conn: Connection, project_id: str) -> AuthPolicies:
    """``auth_policies`` inside an open transaction (same cache)."""
    found = _policies_cache.get(project_id)
    if found is None:
        auths = conn.execute(sa.select(projects.c.auths).where(projects.c.id == project_id)).scalar()
        if auths is None:
            raise AppwriteError("project_not_found")
        found = _policies_from(auths)
        _policies_cache.put(project_id, found)
    return found


def auth_policies(db: Database, project_id: str) -> AuthPolicies:
    """The project's auth policies, read through a 1 s per-process cache (a change made by the
    command line or another process applies within a second). 404 ``project_not_found``."""
    found = _policies_cache.get(project_id)
    if found is not None:
        return found
    with db.read() as conn:
        return policies_on(conn, project_id)


def _checked(name: str, value: Any) -> Any:
    allowed = _POLICY_KEYS[name][1]
    if allowed is bool:
        if not isinstance(value, bool):
            raise AppwriteError("general_argument_invalid", f"Invalid `{name}`: Value must be a valid boolean")
        return value
    assert isinstance(allowed, tuple)
    low, high = allowed
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise AppwriteError(
            "general_argument_invalid", f"Invalid `{name}`: Value must be a valid range between {low:,} and {high:,}"
        )
    return value


def update_auth_policies(db: Database, *, project_id: str, **changes: Any) -> AuthPolicies:
    """Change some of the project's policies (keyword names of ``AuthPolicies``; ``methods``: a
    mapping of some auth methods to on/off) and return them all. Only values that differ from
    Appwrite's defaults are stored. Bad names or values: 400 ``general_argument_invalid``, nothing
    written; unknown project: 404 ``project_not_found``."""
    updates: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "methods":
            if not isinstance(value, Mapping):
                raise AppwriteError("general_argument_invalid", "Invalid `methods`: Value must be a mapping")
            for method, enabled in value.items():
                if method not in _METHOD_KEYS:
                    raise AppwriteError(
                        "general_argument_invalid",
                        f"Invalid auth method `{method}`: must be one of {', '.join(AUTH_METHODS)}",
                    )
                if not isinstance(enabled, bool):
                    raise AppwriteError(
                        "general_argument_invalid", f"Invalid auth method `{method}`: Value must be a valid boolean"
                    )
                updates[_METHOD_KEYS[method]] = enabled
        elif name in _POLICY_KEYS:
            updates[_POLICY_KEYS[name][0]] = _checked(name, value)
        else:
            known = ", ".join([each.name for each in fields(AuthPolicies)])
            raise AppwriteError("general_argument_invalid", f"Unknown auth policy `{name}`: must be one of {known}")
    defaults = {key: getattr(DEFAULT_POLICIES, name) for name, (key, _) in _POLICY_KEYS.items()}
    defaults.update(dict.fromkeys(_METHOD_KEYS.values(), True))
    with db.write() as conn:
        current = conn.execute(sa.select(projects.c.auths).where(projects.c.id == project_id)).scalar()
        if current is None:
            raise AppwriteError("project_not_found")
        # Keys nib does not know (none today) are kept as they are.
        merged = {**current, **updates}
        stored = {key: value for key, value in merged.items() if key not in defaults or defaults[key] != value}
        conn.execute(projects.update().where(projects.c.id == project_id).values(auths=stored, updated_at=dates.now()))
    policies = _policies_from(stored)
    _policies_cache.put(project_id, policies)
    return policies


def set_project_enabled(db: Database, *, project_id: str, enabled: bool) -> None:
    with db.write() as conn:
        updated = conn.execute(
            projects.update().where(projects.c.id == project_id).values(enabled=enabled, updated_at=dates.now())
        )
        if updated.rowcount == 0:
            raise AppwriteError("project_not_found")


def mfa_custom_enabled(conn: Connection, project_id: str) -> bool:
    """The project's MFA-factors policy for the ``custom`` factor (off unless switched on); the
    other factors (totp, email, phone, recovery codes) are always allowed. 404
    ``project_not_found``."""
    enabled = conn.execute(sa.select(projects.c.mfa_custom).where(projects.c.id == project_id)).scalar()
    if enabled is None:
        raise AppwriteError("project_not_found")
    return bool(enabled)


def set_mfa_custom(db: Database, *, project_id: str, enabled: bool) -> None:
    """Allow or refuse the ``custom`` MFA factor in the project (404 ``project_not_found``)."""
    with db.write() as conn:
        updated = conn.execute(
            projects.update().where(projects.c.id == project_id).values(mfa_custom=enabled, updated_at=dates.now())
        )
        if updated.rowcount == 0:
            raise AppwriteError("project_not_found")


def create_key(
    db: Database,
    *,
    project_id: str,
    name: str,
    scopes: list[str] | None = None,
    expire: datetime | None = None,
) -> dict[str, Any]:
    """A new API key, refused from ``expire`` on (None: never); the returned dict holds the only
    copy of the secret. 400 for unknown scopes or an ``expire`` not in the future."""
    scopes = list(ALL_KEY_SCOPES) if scopes is None else scopes
    unknown = sorted(set(scopes) - set(ALL_KEY_SCOPES))
    if unknown:
        raise AppwriteError("general_argument_invalid", f"Unknown scopes: {', '.join(unknown)}")
    if expire is not None and expire <= dates.now():
        raise AppwriteError("general_argument_invalid", "Invalid `expire` param: Value must be a date in the future.")
    with db.write() as conn:
        return _insert_key(conn, project_id, name, scopes, expire)


def _insert_key(
    conn: Connection, project_id: str, name: str, scopes: list[str], expire: datetime | None = None
) -> dict[str, Any]:
    secret = "nib_" + new_secret(128)
    now = dates.now()
    row = {
        "project_id": project_id,
        "id": unique_id(),
        "name": name,
        "secret_hash": secret_hash(secret),
        "scopes": scopes,
        "expire": expire,
        "created_at": now,
        "updated_at": now,
    }
    if not conn.execute(sa.select(projects.c.seq).where(projects.c.id == project_id)).first():
        raise AppwriteError("project_not_found")
    conn.execute(api_keys.insert().values(row))
    return {
        "$id": row["id"],
        "projectId": project_id,
        "name": name,
        "scopes": scopes,
        "expire": dates.fmt(expire) if expire else None,
        "$createdAt": dates.fmt(now),
        "secret": secret,
    }


def list_keys(db: Database, *, project_id: str) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(
            sa.select(api_keys).where(api_keys.c.project_id == project_id).order_by(api_keys.c.seq)
        ).all()
    return [
        {
            "$id": r.id,
            "projectId": r.project_id,
            "name": r.name,
            "scopes": r.scopes,
            "expire": dates.fmt(r.expire) if r.expire else None,
            "$createdAt": dates.fmt(r.created_at),
        }
        for r in rows
    ]


def delete_key(db: Database, *, project_id: str, key_id: str) -> None:
    with db.write() as conn:
        deleted = conn.execute(api_keys.delete().where(api_keys.c.project_id == project_id, api_keys.c.id == key_id))
        if deleted.rowcount == 0:
            raise AppwriteError("general_argument_invalid", f"Key '{key_id}' not found in project '{project_id}'.")


def bootstrap(db: Database) -> dict[str, Any] | None:
    """On an empty installation, create project ``default`` (with web platform ``localhost``, so
    a local web app works out of the box) and a key with every scope.

    Returns the new key (with its secret) the first time, None afterwards. Processes starting
    together on one database take turns (``Database.exclusive``): the first creates all three
    in one transaction, the others then find the project and return None.
    """
    with db.exclusive() as conn:
        if conn.execute(sa.select(projects.c.seq).limit(1)).first():
            return None
        _insert_project(conn, DEFAULT_PROJECT, "Default")
        insert_platform(conn, project_id=DEFAULT_PROJECT, hostname="localhost", name="Localhost")
        return _insert_key(conn, DEFAULT_PROJECT, "Default key", list(ALL_KEY_SCOPES))
