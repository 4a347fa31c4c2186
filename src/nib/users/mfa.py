"""MFA as the Users service sees it: factors, recovery codes, authenticators."""

from __future__ import annotations

import sqlalchemy as sa

from ..core.db import Database
from ..core.db.schema import authenticators
from ..core.errors import AppwriteError
from ..core.ids import new_secret
from .service import update_columns, user_row


def mfa_factors(db: Database, *, project_id: str, user_id: str) -> dict[str, bool]:
    with db.read() as conn:
        row = user_row(conn, project_id, user_id)
        totp = conn.execute(
            sa.select(authenticators.c.seq).where(
                authenticators.c.project_id == project_id,
                authenticators.c.user_id == user_id,
                authenticators.c.type == "totp",
                authenticators.c.verified.is_(True),
            )
        ).first()
    return {
        "totp": totp is not None,
        "email": bool(row["email"]) and row["email_verification"],
        "phone": bool(row["phone"]) and row["phone_verification"],
        "recovery_code": bool(row["mfa_recovery_codes"]),
    }


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
        if user_row(conn, project_id, user_id)["mfa_recovery_codes"]:
            raise AppwriteError("user_recovery_codes_already_exists")
        update_columns(conn, project_id, user_id, {"mfa_recovery_codes": codes})
    return codes


def regenerate_recovery_codes(db: Database, *, project_id: str, user_id: str) -> list[str]:
    codes = _new_recovery_codes()
    with db.write() as conn:
        if not user_row(conn, project_id, user_id)["mfa_recovery_codes"]:
            raise AppwriteError("user_recovery_codes_not_found")
        update_columns(conn, project_id, user_id, {"mfa_recovery_codes": codes})
    return codes


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
