"""MFA as the Users service sees it: factors, recovery codes, authenticators.

The connection-level helpers (``lock_user``, ``factors``, ``consume_recovery_code``) are shared
with the Account service, which changes the same rows inside its own transactions.
"""

from __future__ import annotations

import hmac

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..auth.projects import mfa_custom_enabled
from ..auth.tables import authenticators, users
from ..data.db import Database
from ..data.rows import Row
from ..tools.errors import AppwriteError
from ..tools.ids import new_secret
from .service import update_columns, user_row


def lock_user(conn: Connection, project_id: str, user_id: str) -> Row:
    """The users row, locked until the write transaction ends (404 ``user_not_found``).

    PostgreSQL: ``FOR UPDATE``, so read-modify-writes of one user's MFA state queue instead of
    losing an update; SQLite's write transaction already holds the database's only write lock.
    """
    row = locked_user(conn, project_id, user_id)
    if row is None:
        raise AppwriteError("user_not_found")
    return row


def locked_user(conn: Connection, project_id: str, user_id: str) -> Row | None:
    """``lock_user`` for a user that may not exist: None then."""
    statement = sa.select(users).where(users.c.project_id == project_id, users.c.id == user_id).with_for_update()
    row = conn.execute(statement).mappings().first()
    return dict(row) if row is not None else None


def factors(conn: Connection, user: Row) -> dict[str, bool]:
    """What the user can prove: a verified TOTP authenticator, a verified e-mail or phone,
    whether recovery codes are left, and whether the project allows the ``custom`` factor (a code
    the app delivers itself, so every user has it when allowed)."""
    totp = conn.execute(
        sa.select(authenticators.c.seq).where(
            authenticators.c.project_id == user["project_id"],
            authenticators.c.user_id == user["id"],
            authenticators.c.type == "totp",
            authenticators.c.verified.is_(True),
        )
    ).first()
    return {
        "totp": totp is not None,
        "email": bool(user["email"]) and user["email_verification"],
        "phone": bool(user["phone"]) and user["phone_verification"],
        "recovery_code": bool(user["mfa_recovery_codes"]),
        "custom": mfa_custom_enabled(conn, user["project_id"]),
    }


def mfa_factors(db: Database, *, project_id: str, user_id: str) -> dict[str, bool]:
    with db.read() as conn:
        return factors(conn, user_row(conn, project_id, user_id))


def _new_recovery_codes() -> list[str]:
    return [new_secret(10) for _ in range(6)]


def get_recovery_codes(db: Database, *, project_id: str, user_id: str) -> list[str]:
    with db.read() as conn:
        codes = user_row(conn, project_id, user_id)["mfa_recovery_codes"]
    if not codes:
        raise AppwriteError("user_recovery_codes_not_found")
    return codes


def create_recovery_codes(db: Database, *, project_id: str, user_id: str) -> list[str]:
    codes = _new_recovery_codes()
    with db.write() as conn:
        if lock_user(conn, project_id, user_id)["mfa_recovery_codes"]:
            raise AppwriteError("user_recovery_codes_already_exists")
        update_columns(conn, project_id, user_id, {"mfa_recovery_codes": codes})
    return codes


def regenerate_recovery_codes(db: Database, *, project_id: str, user_id: str) -> list[str]:
    codes = _new_recovery_codes()
    with db.write() as conn:
        if not lock_user(conn, project_id, user_id)["mfa_recovery_codes"]:
            raise AppwriteError("user_recovery_codes_not_found")
        update_columns(conn, project_id, user_id, {"mfa_recovery_codes": codes})
    return codes


def consume_recovery_code(conn: Connection, user: Row, code: str) -> bool:
    """Use up ``code`` if it is one of the user's recovery codes; False when it is not.

    ``user`` is the row as ``lock_user`` returned it in this write transaction: the lock means two
    requests using the same code cannot both succeed.
    """
    codes = user["mfa_recovery_codes"] or []
    given = code.encode()
    if not any(hmac.compare_digest(stored.encode(), given) for stored in codes):
        return False
    remaining = [c for c in codes if c != code]
    update_columns(conn, user["project_id"], user["id"], {"mfa_recovery_codes": remaining})
    return True


def delete_authenticator(db: Database, *, project_id: str, user_id: str, type: str) -> None:
    with db.write() as conn:
        user_row(conn, project_id, user_id)
        deleted = conn.execute(
            authenticators.delete().where(
                authenticators.c.project_id == project_id,
                authenticators.c.user_id == user_id,
                authenticators.c.type == type,
            )
        )
        if deleted.rowcount == 0:
            raise AppwriteError("user_authenticator_not_found")
