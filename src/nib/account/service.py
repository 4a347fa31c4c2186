"""The Account service: a user acting on itself.

Users are created and updated with the Users service's functions; this module adds what only
the user itself does: sign-in (password, anonymous, token), its sessions and JWTs. Functions
take keyword arguments and a ``Database``; they know nothing of HTTP. Password work (verify,
hash) runs before a write transaction opens, bounded by auth.passwords.
"""

from __future__ import annotations

import functools
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..auth import passwords
from ..auth.tables import identities, sessions, tokens, users
from ..data.db import Database
from ..data.rows import Row
from ..tools import dates
from ..tools.errors import AppwriteError
from ..tools.ids import secret_hash, unique_id
from ..users import service as user_service
from ..users import sessions as sessions_of_users
from ..users.service import ARGON2, update_columns, user_row
from ..users.sessions import insert_session, new_session

# Token type -> (session provider, factors, verification column it proves), as Appwrite maps them.
# A passkey proves two factors (the device and its user verification): the session passes MFA.
# An `oauth2` token's session names the provider the token came from and carries its identity's
# provider tokens, as the newest Appwrite does.
TOKEN_SESSIONS = {
    "generic": ("token", ("token",), None),
    "magic-url": ("magic-url", ("email",), "email_verification"),
    "email": ("email", ("email",), "email_verification"),
    "phone": ("phone", ("phone",), "phone_verification"),
    "oauth2": ("oauth2", ("email", "oauth2"), None),
    "passkey": ("passkey", ("passkey", "userVerification"), None),
}
_IDENTITY_FIELDS = ("provider_uid", "provider_access_token", "provider_refresh_token", "provider_access_token_expiry")


@functools.cache
def _unknown_user_hash() -> str:
    """Verified against when the e-mail is unknown, so both failures cost an argon2 verification."""
    return passwords.hash_password("nib-unknown-user")


# -- sign-up and sign-in --------------------------------------------------------------------------


def create_account(
    db: Database, *, project_id: str, user_id: str, email: str, password: str, name: str | None
) -> tuple[Row, list[Row]]:
    """A new user with e-mail and password (no session)."""
    return user_service.create_user(
        db,
        project_id=project_id,
        user_id=user_id,
        email=email,
        password=password,
        name=name,
        accessed=True,
        limited=True,
        then=lambda conn: refuse_identity_email(conn, project_id, email, user_id=None),
    )


def refuse_identity_email(conn: Connection, project_id: str, email: str, user_id: str | None) -> None:
    """An e-mail that belongs to another user's OAuth identity: a generic 400 (no enumeration)."""
    clauses = [identities.c.project_id == project_id, identities.c.provider_email == email]
    if user_id is not None:
        clauses.append(identities.c.user_id != user_id)
    if conn.execute(sa.select(identities.c.seq).where(*clauses)).first():
        raise AppwriteError("general_bad_request")


def sign_in_with_password(
    db: Database, *, project_id: str, email: str, password: str, duration: int, ip: str, client: dict
) -> tuple[Row, str, Row]:
    """An ``email`` session for the user with this e-mail and password: (session, secret, user).

    Unknown e-mail, no password yet or a wrong one: 401 ``user_invalid_credentials``; blocked:
    401 ``user_blocked``. A password stored with another algorithm is rehashed with argon2.
    """
    with db.read() as conn:
        user = (
            conn.execute(sa.select(users).where(users.c.project_id == project_id, users.c.email == email))
            .mappings()
            .first()
        )
    if user is None or user["password_update"] is None:
        passwords.verify_password(password, _unknown_user_hash(), ARGON2, {})
        raise AppwriteError("user_invalid_credentials")
    if not passwords.verify_password(password, user["password"], user["hash"], user["hash_options"]):
        raise AppwriteError("user_invalid_credentials")
    if not user["status"]:
        raise AppwriteError("user_blocked")
    rehashed = passwords.hash_password(password) if user["hash"] != ARGON2 else None
    row, secret = new_session(
        project_id=project_id,
        user_id=user["id"],
        provider="email",
        factors=["password"],
        duration=duration,
        ip=ip,
        client=client,
        provider_uid=email,
    )
    with db.write() as conn:
        user_row(conn, project_id, user["id"])  # still there after the slow verification
        if rehashed is not None:
            # The password itself is unchanged: passwordUpdate stays (Appwrite).
            update_columns(
                conn,
                project_id,
                user["id"],
                {"password": rehashed, "hash": ARGON2, "hash_options": dict(passwords.ARGON2_DEFAULT_OPTIONS)},
            )
        insert_session(conn, row)
    return row, secret, dict(user)


def sign_in_anonymously(
    db: Database, *, project_id: str, user_id: str, duration: int, ip: str, client: dict
) -> tuple[Row, str, Row]:
    """A new user without e-mail, phone or password and its ``anonymous`` session, in one write."""
    user_id = unique_id() if user_id == "unique()" else user_id
    row, secret = new_session(
        project_id=project_id,
        user_id=user_id,
        provider="anonymous",
        factors=["anonymous"],
        duration=duration,
        ip=ip,
        client=client,
    )
    user, _ = user_service.create_user(
        db,
        project_id=project_id,
        user_id=user_id,
        accessed=True,
        limited=True,
        then=lambda conn: insert_session(conn, row),
    )
    return row, secret, user


def exchange_token(
    db: Database, *, project_id: str, user_id: str, secret: str, duration: int, ip: str, client: dict
) -> tuple[Row, str, Row]:
    """Trade a live token of the user for a session; the token is used up (401 ``user_invalid_token``),
    by one of concurrent exchanges only."""
    now = dates.now()
    with db.write() as conn:
        user = (
            conn.execute(sa.select(users).where(users.c.project_id == project_id, users.c.id == user_id))
            .mappings()
            .first()
        )
        token = None
        if user is not None:
            token = conn.execute(
                sa.select(tokens.c.id, tokens.c.type, tokens.c.provider).where(
                    tokens.c.project_id == project_id,
                    tokens.c.user_id == user_id,
                    tokens.c.secret_hash == secret_hash(secret),
                    tokens.c.expire >= now,
                    tokens.c.type.in_(TOKEN_SESSIONS),
                )
            ).first()
        if user is None or token is None:
            raise AppwriteError("user_invalid_token")
        if not user["status"]:
            raise AppwriteError("user_blocked")
        provider, factors, verification = TOKEN_SESSIONS[token.type]
        used = conn.execute(tokens.delete().where(tokens.c.project_id == project_id, tokens.c.id == token.id))
        if used.rowcount == 0:  # another exchange took it meanwhile
            raise AppwriteError("user_invalid_token")
        if verification is not None:
            update_columns(conn, project_id, user_id, {verification: True})
        row, session_secret = new_session(
            project_id=project_id,
            user_id=user_id,
            provider=token.provider or provider,
            factors=list(factors),
            duration=duration,
            ip=ip,
            client=client,
        )
        if token.type == "passkey":
            row["mfa_updated_at"] = row["created_at"]
        if token.provider:
            # The identity the sign-in just renewed (tokens stay sealed as they are).
            identity = (
                conn.execute(
                    sa.select(*(identities.c[name] for name in _IDENTITY_FIELDS))
                    .where(
                        identities.c.project_id == project_id,
                        identities.c.user_id == user_id,
                        identities.c.provider == token.provider,
                    )
                    .order_by(identities.c.updated_at.desc(), identities.c.seq.desc())
                    .limit(1)
                )
                .mappings()
                .first()
            )
            row.update(identity or {})
        insert_session(conn, row)
    return row, session_secret, dict(user)


# -- sessions -------------------------------------------------------------------------------------


def extend_session(
    db: Database, *, project_id: str, user_id: str, session_id: str, duration: int, also: dict | None = None
) -> Row:
    """Move the session's expiry to ``duration`` seconds from now (``also``: more columns, e.g.
    refreshed provider tokens)."""
    now = dates.now()
    with db.write() as conn:
        updated = conn.execute(
            sessions.update()
            .where(sessions.c.project_id == project_id, sessions.c.user_id == user_id, sessions.c.id == session_id)
            .values(expire=now + timedelta(seconds=duration), updated_at=now, **(also or {}))
        )
        if updated.rowcount == 0:
            raise AppwriteError("user_session_not_found")
    return sessions_of_users.get_session(db, project_id=project_id, user_id=user_id, session_id=session_id)


# -- updates --------------------------------------------------------------------------------------


def check_password(user: Row, password: str | None) -> None:
    """A user with a password must prove it (401 ``user_invalid_credentials``)."""
    if user["password_update"] is None:
        return
    if not password or not passwords.verify_password(password, user["password"], user["hash"], user["hash_options"]):
        raise AppwriteError("user_invalid_credentials")


def update_password(
    db: Database, *, project_id: str, user: Row, password: str, old_password: str | None
) -> tuple[Row, list[Row]]:
    """Set a new password after checking the old one; sessions stay valid. The project's password
    history, then its personal-data check, apply (Appwrite's order on this route)."""
    check_password(user, old_password)
    return user_service.update_password(
        db, project_id=project_id, user_id=user["id"], password=password, history_first=True
    )


def update_email(db: Database, *, project_id: str, user: Row, email: str, password: str) -> tuple[Row, list[Row]]:
    """New e-mail (unverified); a user without a password gets this one (anonymous -> e-mail)."""
    check_password(user, password)
    with db.read() as conn:
        refuse_identity_email(conn, project_id, email, user_id=user["id"])
    new_password = password if user["password_update"] is None else None
    return user_service.update_email(db, project_id=project_id, user_id=user["id"], email=email, password=new_password)


def update_phone(db: Database, *, project_id: str, user: Row, phone: str, password: str) -> tuple[Row, list[Row]]:
    """New phone number (unverified), after the password check."""
    check_password(user, password)
    return user_service.update_phone(db, project_id=project_id, user_id=user["id"], phone=phone)
