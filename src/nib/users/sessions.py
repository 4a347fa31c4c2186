"""Sessions and tokens a server creates for a user; secrets are stored as SHA-256 digests."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..auth.projects import policies_on
from ..auth.tables import sessions, tokens, users
from ..data.batches import delete_batch
from ..data.db import Database
from ..data.rows import Row
from ..tools import dates
from ..tools.errors import AppwriteError
from ..tools.ids import new_secret, secret_hash, unique_id
from .service import user_row


def list_sessions(db: Database, *, project_id: str, user_id: str) -> list[Row]:
    with db.read() as conn:
        user_row(conn, project_id, user_id)
        statement = (
            sa.select(sessions)
            .where(sessions.c.project_id == project_id, sessions.c.user_id == user_id)
            .order_by(sessions.c.seq)
        )
        return [dict(row) for row in conn.execute(statement).mappings()]


def insert_session(conn: Connection, row: Row) -> None:
    """Insert the session, drop the user's oldest beyond the project's sessions limit (Appwrite's
    ``maxSessions``, 10 by default) and mark the access."""
    conn.execute(sessions.insert().values(row))
    project_id, user_id = row["project_id"], row["user_id"]
    limit = policies_on(conn, project_id).sessions_limit
    kept = (
        sa.select(sessions.c.seq)
        .where(sessions.c.project_id == project_id, sessions.c.user_id == user_id)
        .order_by(sessions.c.seq.desc())
        .limit(limit)
        .subquery()
    )
    conn.execute(
        sessions.delete().where(
            sessions.c.project_id == project_id,
            sessions.c.user_id == user_id,
            sessions.c.seq.not_in(sa.select(kept.c.seq)),
        )
    )
    now = dates.now()
    conn.execute(
        users.update()
        .where(users.c.project_id == project_id, users.c.id == user_id)
        .values(accessed_at=now, updated_at=now)
    )


def new_session(
    *,
    project_id: str,
    user_id: str,
    provider: str,
    factors: list[str],
    duration: int,
    ip: str,
    client: dict,
    provider_uid: str = "",
) -> tuple[Row, str]:
    """A session row to insert and its raw secret (stored only as a SHA-256 digest)."""
    secret = new_secret(256)
    now = dates.now()
    row = {
        "project_id": project_id,
        "id": unique_id(),
        "created_at": now,
        "updated_at": now,
        "user_id": user_id,
        "secret_hash": secret_hash(secret),
        "expire": now + timedelta(seconds=duration),
        "provider": provider,
        "provider_uid": provider_uid,
        "provider_access_token": "",
        "provider_access_token_expiry": None,
        "provider_refresh_token": "",
        "ip": ip,
        "client": client,
        "factors": factors,
        "mfa_updated_at": None,
    }
    return row, secret


def create_session(db: Database, *, project_id: str, user_id: str, **fields) -> tuple[Row, str]:
    """A session for an existing user (``fields`` as for ``new_session``) and its raw secret."""
    row, secret = new_session(project_id=project_id, user_id=user_id, **fields)
    with db.write() as conn:
        user_row(conn, project_id, user_id)
        conn.execute(sessions.insert().values(row))
    return row, secret


def get_session(db: Database, *, project_id: str, user_id: str, session_id: str) -> Row:
    """One of the user's sessions (404 ``user_session_not_found``)."""
    with db.read() as conn:
        row = (
            conn.execute(
                sa.select(sessions).where(
                    sessions.c.project_id == project_id, sessions.c.user_id == user_id, sessions.c.id == session_id
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        raise AppwriteError("user_session_not_found")
    return dict(row)


def jwt_session_id(db: Database, *, project_id: str, user_id: str, session_id: str) -> str:
    """The session a server-made JWT names: ``recent`` = the user's newest (``""`` when it has
    none), else that session of the user. 404 ``user_not_found`` first, then
    ``user_session_not_found``."""
    with db.read() as conn:
        user_row(conn, project_id, user_id)
        mine = sa.select(sessions.c.id).where(sessions.c.project_id == project_id, sessions.c.user_id == user_id)
        if session_id == "recent":
            return conn.execute(mine.order_by(sessions.c.seq.desc()).limit(1)).scalar() or ""
        if conn.execute(mine.where(sessions.c.id == session_id)).scalar() is None:
            raise AppwriteError("user_session_not_found")
    return session_id


def delete_sessions(db: Database, *, project_id: str, user_id: str) -> list[Row]:
    """Delete all the user's sessions; returns them."""
    with db.write() as conn:
        user_row(conn, project_id, user_id)
        statement = sessions.delete().where(sessions.c.project_id == project_id, sessions.c.user_id == user_id)
        return [dict(row) for row in conn.execute(statement.returning(*sessions.c)).mappings()]


def delete_session(db: Database, *, project_id: str, user_id: str, session_id: str) -> Row:
    """Only the user's own session (as newer Appwrite): another user's session is not found.
    Returns the deleted session."""
    with db.write() as conn:
        user_row(conn, project_id, user_id)
        deleted = (
            conn.execute(
                sessions.delete()
                .where(sessions.c.project_id == project_id, sessions.c.user_id == user_id, sessions.c.id == session_id)
                .returning(*sessions.c)
            )
            .mappings()
            .first()
        )
    if deleted is None:
        raise AppwriteError("user_session_not_found")
    return dict(deleted)


def create_token(
    db: Database, *, project_id: str, user_id: str, length: int, expire: int, ip: str, user_agent: str
) -> tuple[Row, str]:
    """A generic token, exchangeable once for a session (POST /account/sessions/token)."""
    secret, now = new_secret(length), dates.now()
    expires = now + timedelta(seconds=expire)
    row = insert_token(db, project_id, user_id, "generic", secret, expires, ip=ip, user_agent=user_agent, now=now)
    return row, secret


def insert_token(
    db: Database,
    project_id: str,
    user_id: str,
    kind: str,
    secret: str,
    expire: datetime,
    *,
    ip: str,
    user_agent: str,
    phrase: str = "",
    now: datetime | None = None,
) -> Row:
    """Store a token of ``kind`` (generic, magic-url, email, recovery, verification) for an existing
    user (404 if it is gone); the secret only as its SHA-256 digest. ``now``: its creation time,
    when ``expire`` was computed from it."""
    row = token_row(project_id, user_id, kind, secret, expire, ip=ip, user_agent=user_agent, phrase=phrase, now=now)
    with db.write() as conn:
        user_row(conn, project_id, user_id)
        conn.execute(tokens.insert().values(row))
    return row


def token_row(
    project_id: str,
    user_id: str,
    kind: str,
    secret: str,
    expire: datetime,
    *,
    ip: str,
    user_agent: str,
    phrase: str = "",
    now: datetime | None = None,
) -> Row:
    """The ``tokens`` row of a new token (its secret as the SHA-256 digest)."""
    now = now or dates.now()
    return {
        "project_id": project_id,
        "id": unique_id(),
        "created_at": now,
        "updated_at": now,
        "user_id": user_id,
        "type": kind,
        "secret_hash": secret_hash(secret),
        "expire": expire,
        "phrase": phrase,
        "ip": ip,
        "user_agent": user_agent,
    }


def sweep_expired_sessions(db: Database, now: datetime, limit: int) -> int:
    """Delete up to ``limit`` sessions that expired before ``now`` (as Appwrite's maintenance
    does); how many went. The clean-up job calls it batch after batch."""
    return len(delete_batch(db, sessions, sessions.c.expire < now, limit))


def sweep_expired_tokens(db: Database, now: datetime, limit: int) -> int:
    """Delete up to ``limit`` tokens of every kind (server-made, magic URL, e-mail and phone codes,
    verification, recovery, OAuth2, passkey) that expired before ``now``; how many went. No
    route can use an expired token, and none lists them."""
    return len(delete_batch(db, tokens, tokens.c.expire < now, limit))
