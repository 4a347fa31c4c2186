"""A user's passkeys as stored records: list, read, rename, delete.

Shared by the Users API (any user, API key) and the Account API (the signed-in user itself);
registering and signing in with a passkey are account/passkeys.py's. Only verified passkeys are
listed, read or renamed; a pending registration can still be deleted.
"""

from __future__ import annotations

import sqlalchemy as sa

from ..auth.tables import passkeys
from ..data.db import Database
from ..data.listing import list_rows
from ..data.query import DATE, STRING, Attribute, ListSpec, ParsedQueries, standard_attributes
from ..data.rows import Row
from ..tools import dates
from ..tools.errors import AppwriteError
from .service import user_row

PASSKEY_LIST = ListSpec(
    entity="Passkey",
    table=passkeys,
    attributes={
        **standard_attributes(passkeys),
        "name": Attribute(passkeys.c.name, STRING),
        "accessedAt": Attribute(passkeys.c.accessed_at, DATE),
    },
)


def _mine(project_id: str, user_id: str, passkey_id: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (passkeys.c.project_id == project_id, passkeys.c.user_id == user_id, passkeys.c.id == passkey_id)


def list_passkeys(
    db: Database, *, project_id: str, user_id: str, queries: ParsedQueries, total: bool = True
) -> tuple[int, list[Row]]:
    """The user's verified passkeys (404 ``user_not_found`` first); ``total=False`` counts nothing (0)."""
    with db.read() as conn:
        user_row(conn, project_id, user_id)
    count, rows = list_rows(
        db, PASSKEY_LIST, scope={"project_id": project_id, "user_id": user_id, "verified": True}, queries=queries
    )
    return (count if total else 0), rows


def get_passkey(db: Database, *, project_id: str, user_id: str, passkey_id: str) -> Row:
    """One verified passkey of the user: unknown, pending or another user's -> 404 ``user_passkey_not_found``."""
    with db.read() as conn:
        user_row(conn, project_id, user_id)
        row = (
            conn.execute(sa.select(passkeys).where(*_mine(project_id, user_id, passkey_id), passkeys.c.verified))
            .mappings()
            .first()
        )
    if row is None:
        raise AppwriteError("user_passkey_not_found")
    return dict(row)


def rename_passkey(db: Database, *, project_id: str, user_id: str, passkey_id: str, name: str) -> Row:
    """A new name for a verified passkey (the same 404 rules as ``get_passkey``)."""
    with db.write() as conn:
        user_row(conn, project_id, user_id)
        updated = conn.execute(
            passkeys.update()
            .where(*_mine(project_id, user_id, passkey_id), passkeys.c.verified)
            .values(name=name, updated_at=dates.now())
        )
        if updated.rowcount == 0:
            raise AppwriteError("user_passkey_not_found")
    return get_passkey(db, project_id=project_id, user_id=user_id, passkey_id=passkey_id)


def delete_passkey(db: Database, *, project_id: str, user_id: str, passkey_id: str) -> None:
    """Remove a passkey of the user, verified or pending; it can no longer sign in."""
    with db.write() as conn:
        user_row(conn, project_id, user_id)
        deleted = conn.execute(passkeys.delete().where(*_mine(project_id, user_id, passkey_id)))
        if deleted.rowcount == 0:
            raise AppwriteError("user_passkey_not_found")
