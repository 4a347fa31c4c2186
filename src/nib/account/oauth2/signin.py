"""Who an OAuth2 sign-in is for, and the identity it leaves.

The order: the user of a session or identity of this provider account; the user whose e-mail
the provider gives, only if the provider says it verified it; the user of an identity with that
e-mail (again only if verified); else nobody (the flow makes a new user). A signed-in caller gets
the identity itself, unless the provider account or its e-mail belongs to someone else. All of it
within the caller's write transaction.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ...auth.tables import identities, sessions, tokens, users
from ...data.rows import Row
from ...tools import dates
from ...tools.errors import AppwriteError
from ...tools.ids import unique_id
from ...users.service import update_columns, user_row
from ...users.sessions import token_row
from ..service import refuse_identity_email
from .providers import ProviderUser


def existing_user(
    conn: Connection,
    project_id: str,
    provider: str,
    profile: ProviderUser,
    caller_id: str | None,
    unverified: str = "user_already_exists",
) -> str | None:
    """The user this sign-in is for (``caller_id``: the signed-in user who started it), None
    when a new one must be made; ``unverified``: the error type when the e-mail is someone
    else's and the provider does not vouch for it."""
    email = profile.email  # lower-cased by the flow, as stored e-mails are: plain index lookups
    of_account = sa.and_(
        identities.c.project_id == project_id,
        identities.c.provider == provider,
        identities.c.provider_uid == profile.id,
    )
    if caller_id is not None:
        user_row(conn, project_id, caller_id)
        holder = conn.execute(sa.select(identities.c.user_id).where(of_account)).scalar()
        taken = email and (
            conn.execute(
                sa.select(users.c.seq).where(
                    users.c.project_id == project_id,
                    users.c.email == email,
                    users.c.id != caller_id,
                )
            ).first()
            or conn.execute(
                sa.select(identities.c.seq).where(
                    identities.c.project_id == project_id,
                    identities.c.provider_email == email,
                    identities.c.user_id != caller_id,
                )
            ).first()
        )
        if taken or (holder is not None and holder != caller_id):
            raise AppwriteError("user_already_exists")
        return caller_id
    found = (
        conn.execute(
            sa.select(sessions.c.user_id).where(
                sessions.c.project_id == project_id,
                sessions.c.provider == provider,
                sessions.c.provider_uid == profile.id,
            )
        ).scalar()
        or conn.execute(sa.select(identities.c.user_id).where(of_account)).scalar()
    )
    if found is not None or not email:
        return found
    by_email = (
        conn.execute(sa.select(users.c.id).where(users.c.project_id == project_id, users.c.email == email)).scalar()
        or conn.execute(
            sa.select(identities.c.user_id).where(
                identities.c.project_id == project_id, identities.c.provider_email == email
            )
        ).scalar()
    )
    if by_email is not None and not profile.verified:
        # Someone else's e-mail, not vouched for by the provider: never linked (account takeover).
        raise AppwriteError(unverified)
    return by_email


def link(conn: Connection, project_id: str, user_id: str, provider: str, profile: ProviderUser, access: dict) -> Row:
    """The identity of this provider account on the user (created or its tokens renewed); the
    user's missing e-mail and name taken from the provider. Returns the user."""
    user = user_row(conn, project_id, user_id)
    if not user["status"]:
        raise AppwriteError("user_blocked")
    now = dates.now()
    mine = sa.and_(
        identities.c.project_id == project_id,
        identities.c.user_id == user_id,
        identities.c.provider == provider,
        identities.c.provider_uid == profile.id,
    )
    if conn.execute(identities.update().where(mine).values(updated_at=now, **access)).rowcount == 0:
        if profile.email:
            refuse_identity_email(conn, project_id, profile.email, user_id=user_id)
        conn.execute(
            identities.insert().values(
                project_id=project_id,
                id=unique_id(),
                created_at=now,
                updated_at=now,
                user_id=user_id,
                provider=provider,
                provider_uid=profile.id,
                provider_email=profile.email,
                **access,
            )
        )
    changes: dict[str, Any] = {}
    if not user["email"] and profile.email:
        changes.update(email=profile.email, email_verification=profile.verified)
    if not user["name"] and profile.name:
        changes["name"] = profile.name
    if changes:
        update_columns(conn, project_id, user_id, changes)
        user = user_row(conn, project_id, user_id)
    return user


def insert_token(
    conn: Connection, project_id: str, user_id: str, provider: str, duration: int, ip: str, user_agent: str
) -> tuple[Row, str]:
    """An ``oauth2`` token (64 hex chars, exchanged once for a session naming the provider);
    returns its row and secret."""
    secret, now = secrets.token_hex(32), dates.now()
    expire = now + timedelta(seconds=duration)
    row = token_row(project_id, user_id, "oauth2", secret, expire, ip=ip, user_agent=user_agent, now=now)
    row["provider"] = provider
    conn.execute(tokens.insert().values(row))
    return row, secret
