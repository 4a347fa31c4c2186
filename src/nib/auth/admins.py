"""Console administrators: accounts, sign-in, sessions, the first-start set-up link.

Administrators sign in to the web console (``/console``) and belong to no project. A console
session is a random secret in an HttpOnly cookie, kept here as its SHA-256 digest; each session
also has a CSRF token (an HMAC of the secret, so pages can render it without storing it), which
every state change must carry. The same session, with ``X-Appwrite-Mode: admin``, lets the
console's own scripts call the REST API as an administrator (``admin_principal``).

Password hashing is slow on purpose: call these functions from a worker thread.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..data.batches import delete_batch
from ..data.db import Database
from ..data.db.schema import instance_values
from ..tools import dates
from ..tools.errors import AppwriteError
from ..tools.ids import new_secret, secret_hash, unique_id
from ..tools.validators import Invalid, email
from .passwords import hash_password, verify_password
from .principals import ALL_KEY_SCOPES, KEY_BASE_SCOPES, Principal
from .tables import console_admins, console_sessions

SESSION_SECONDS = 7 * 24 * 3600
SETUP_SECONDS = 3600
SETUP_SHARED_SECONDS = 60  # processes starting within this share the first one's set-up token
SETUP_INVALID = "The set-up link is invalid, expired or already used."
COOKIE = "nib_console"
_SETUP = "console_setup"  # instance_values: digest of the one-time set-up token and its expiry
_decoy: list[str] = []  # a hash to verify for an unknown e-mail (made on first use)


@dataclass(frozen=True)
class Admin:
    id: str
    email: str
    name: str


@dataclass(frozen=True)
class SignedIn:
    """A console session: who, and the session's CSRF token."""

    admin: Admin
    csrf: str


def _admin(row: Any) -> Admin:
    return Admin(id=row.id, email=row.email, name=row.name)


def _valid_email(address: str) -> str:
    try:
        return email(address).lower()
    except Invalid as invalid:
        raise AppwriteError("general_argument_invalid", f"Invalid `email` param: {invalid}") from None


def _valid_password(password: str) -> None:
    if not 8 <= len(password.encode()) <= 256:
        raise AppwriteError("general_argument_invalid", "Password must be between 8 and 256 characters long.")


def create_admin(db: Database, *, email: str, password: str, name: str = "") -> Admin:
    """A new administrator; 409 ``user_already_exists`` when the e-mail is taken."""
    with db.write() as conn:
        return _insert_admin(conn, email=email, password=password, name=name)


def _insert_admin(conn: Connection, *, email: str, password: str, name: str) -> Admin:
    address = _valid_email(email)
    _valid_password(password)
    if len(name) > 128:
        raise AppwriteError("general_argument_invalid", "Invalid `name` param: at most 128 characters.")
    if conn.execute(sa.select(console_admins.c.seq).where(console_admins.c.email == address)).first():
        raise AppwriteError("user_already_exists", "An administrator with this e-mail already exists.")
    now = dates.now()
    admin = Admin(id=unique_id(), email=address, name=name)
    row = {
        "id": admin.id,
        "email": address,
        "name": name,
        "password": hash_password(password),
        "created_at": now,
        "updated_at": now,
    }
    conn.execute(console_admins.insert().values(row))
    return admin


def list_admins(db: Database) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(sa.select(console_admins).order_by(console_admins.c.seq)).all()
    return [{"id": r.id, "email": r.email, "name": r.name, "created_at": r.created_at} for r in rows]


def delete_admin(db: Database, *, ref: str) -> Admin:
    """Delete an administrator by ID or e-mail, with their sessions; 404 ``user_not_found``."""
    with db.write() as conn:
        row = conn.execute(
            sa.select(console_admins).where(sa.or_(console_admins.c.id == ref, console_admins.c.email == ref.lower()))
        ).first()
        if row is None:
            raise AppwriteError("user_not_found", f"No administrator '{ref}'.")
        conn.execute(console_sessions.delete().where(console_sessions.c.admin_id == row.id))
        conn.execute(console_admins.delete().where(console_admins.c.id == row.id))
    return _admin(row)


def has_admins(db: Database) -> bool:
    with db.read() as conn:
        return conn.execute(sa.select(console_admins.c.seq).limit(1)).first() is not None


def sign_in(db: Database, *, email: str, password: str, ip: str) -> tuple[str, SignedIn]:
    """A new session for the right e-mail and password: (cookie secret, session); 401
    ``user_invalid_credentials`` otherwise (same answer and cost for an unknown e-mail)."""
    with db.read() as conn:
        row = conn.execute(sa.select(console_admins).where(console_admins.c.email == email.strip().lower())).first()
    # An unknown e-mail costs one verification too: timing tells nothing of who exists.
    if row is None and not _decoy:
        _decoy.append(hash_password(secrets.token_hex(16)))
    stored = row.password if row is not None else _decoy[0]
    if not verify_password(password, stored, "argon2", {}) or row is None:
        raise AppwriteError("user_invalid_credentials")
    return _new_session(db, _admin(row), ip)


def _new_session(db: Database, admin: Admin, ip: str) -> tuple[str, SignedIn]:
    secret = new_secret(64)
    csrf = _csrf(secret)
    now = dates.now()
    with db.write() as conn:
        conn.execute(
            console_sessions.insert().values(
                admin_id=admin.id,
                secret_hash=secret_hash(secret),
                csrf_hash=secret_hash(csrf),
                expire=now + timedelta(seconds=SESSION_SECONDS),
                ip=ip[:45],
                created_at=now,
            )
        )
    return secret, SignedIn(admin, csrf)


def _csrf(secret: str) -> str:
    return hmac.new(secret.encode(), b"nib console csrf", hashlib.sha256).hexdigest()


def session(db: Database, secret: str | None) -> SignedIn | None:
    """The live session of a cookie value, or None."""
    if not secret:
        return None
    statement = (
        sa.select(console_admins, console_sessions.c.expire, console_sessions.c.csrf_hash)
        .select_from(console_sessions.join(console_admins, console_admins.c.id == console_sessions.c.admin_id))
        .where(console_sessions.c.secret_hash == secret_hash(secret))
    )
    with db.read() as conn:
        row = conn.execute(statement).first()
    if row is None or row.expire < dates.now():
        return None
    csrf = _csrf(secret)
    if not hmac.compare_digest(secret_hash(csrf), row.csrf_hash):
        return None
    return SignedIn(_admin(row), csrf)


def csrf_matches(signed_in: SignedIn, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(signed_in.csrf, str(token))


def sign_out(db: Database, secret: str) -> None:
    with db.write() as conn:
        conn.execute(console_sessions.delete().where(console_sessions.c.secret_hash == secret_hash(secret)))


def admin_principal(db: Database, base: Principal, secret: str, csrf: str | None, method: str) -> Principal:
    """The principal of a REST request the console makes as an administrator: every key scope
    in ``base``'s project (the project as resolved without credentials). A state change must carry
    the session's CSRF token. 401 ``general_unauthorized_scope`` for a missing or expired session."""
    signed_in = session(db, secret)
    if signed_in is None or (method not in ("GET", "HEAD") and not csrf_matches(signed_in, csrf)):
        raise AppwriteError(
            "general_unauthorized_scope", "The console session is missing, expired or lacks its CSRF token."
        )
    return Principal(
        project_id=base.project_id,
        role="apps",
        scopes=KEY_BASE_SCOPES | frozenset(ALL_KEY_SCOPES),
        admin={"id": signed_in.admin.id, "email": signed_in.admin.email, "name": signed_in.admin.name},
    )


def new_setup_token(db: Database) -> str | None:
    """While no administrator exists: a fresh one-time set-up token valid ``SETUP_SECONDS``,
    replacing any earlier one; None once an administrator exists. Processes starting together
    (several workers or nodes) take turns: one made within the last ``SETUP_SHARED_SECONDS`` is
    kept, and the others get ``""`` (its link was printed by the process that made it)."""
    now = dates.now()
    with db.exclusive() as conn:
        if conn.execute(sa.select(console_admins.c.seq).limit(1)).first() is not None:
            return None
        current = conn.execute(sa.select(instance_values.c.value).where(instance_values.c.name == _SETUP)).scalar()
        if current is not None:
            made = datetime.fromisoformat(current.partition("|")[2]) - timedelta(seconds=SETUP_SECONDS)
            if now - made < timedelta(seconds=SETUP_SHARED_SECONDS):
                return ""
            conn.execute(instance_values.delete().where(instance_values.c.name == _SETUP))
        token = new_secret(48)
        expire = now + timedelta(seconds=SETUP_SECONDS)
        conn.execute(instance_values.insert().values(name=_SETUP, value=f"{secret_hash(token)}|{expire.isoformat()}"))
    return token


def setup_token_valid(db: Database, token: str) -> bool:
    with db.read() as conn:
        value = conn.execute(sa.select(instance_values.c.value).where(instance_values.c.name == _SETUP)).scalar()
    if not value or not token:
        return False
    digest, _, expire = value.partition("|")
    return hmac.compare_digest(digest, secret_hash(token)) and datetime.fromisoformat(expire) > dates.now()


def complete_setup(db: Database, *, token: str, email: str, password: str, name: str, ip: str) -> tuple[str, SignedIn]:
    """Create the first administrator with the set-up token (used up) and sign them in; 401
    ``user_invalid_token`` for a wrong, expired or used token. Bad input leaves the token usable."""
    _valid_email(email)
    _valid_password(password)
    if not setup_token_valid(db, token) or has_admins(db):
        raise AppwriteError("user_invalid_token", SETUP_INVALID)
    # The token is used up in the transaction that creates the administrator: of two requests
    # racing with it, one deletes the row and the other finds nothing to delete.
    with db.write() as conn:
        used = conn.execute(instance_values.delete().where(instance_values.c.name == _SETUP))
        if used.rowcount != 1:
            raise AppwriteError("user_invalid_token", SETUP_INVALID)
        admin = _insert_admin(conn, email=email, password=password, name=name)
    return _new_session(db, admin, ip)


def sweep_expired_sessions(db: Database, now: datetime, limit: int) -> int:
    """Delete up to ``limit`` console sessions that expired before ``now``; how many went."""
    return len(delete_batch(db, console_sessions, console_sessions.c.expire < now, limit))


def sweep_expired_setup(db: Database, now: datetime) -> int:
    """Forget the set-up link when it expired before ``now``: 1, else 0 (there is one at most; a
    process starting without administrators makes a new one anyway)."""
    with db.write() as conn:
        value = conn.execute(sa.select(instance_values.c.value).where(instance_values.c.name == _SETUP)).scalar()
        if value is None or datetime.fromisoformat(str(value).partition("|")[2]) >= now:
            return 0
        gone = conn.execute(
            instance_values.delete().where(instance_values.c.name == _SETUP, instance_values.c.value == value)
        )
        return gone.rowcount
