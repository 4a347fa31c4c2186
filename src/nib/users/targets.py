"""Messaging targets (email, sms, push recipients) of a user."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ..auth.tables import targets
from ..data.db import Database
from ..data.listing import list_rows
from ..data.query import STRING, Attribute, ListSpec, ParsedQueries, standard_attributes
from ..data.rows import Row
from ..tools import dates
from ..tools.errors import AppwriteError
from ..tools.ids import unique_id
from .service import insert_target, user_row

TARGET_LIST = ListSpec(
    entity="Target",
    table=targets,
    attributes={
        **standard_attributes(targets),
        "userId": Attribute(targets.c.user_id, STRING),
        "providerId": Attribute(targets.c.provider_id, STRING),
        "identifier": Attribute(targets.c.identifier, STRING),
        "providerType": Attribute(targets.c.provider_type, STRING),
    },
)


def _target_row(conn: Connection, project_id: str, user_id: str, target_id: str) -> Row:
    row = (
        conn.execute(
            sa.select(targets).where(
                targets.c.project_id == project_id, targets.c.user_id == user_id, targets.c.id == target_id
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise AppwriteError("user_target_not_found")
    return dict(row)


def list_targets(db: Database, *, project_id: str, user_id: str, queries: ParsedQueries) -> tuple[int, list[Row]]:
    with db.read() as conn:
        user_row(conn, project_id, user_id)
    return list_rows(db, TARGET_LIST, scope={"project_id": project_id, "user_id": user_id}, queries=queries)


def get_target(db: Database, *, project_id: str, user_id: str, target_id: str) -> Row:
    with db.read() as conn:
        user_row(conn, project_id, user_id)
        return _target_row(conn, project_id, user_id, target_id)


def create_target(
    db: Database,
    *,
    project_id: str,
    user_id: str,
    target_id: str,
    provider_type: str,
    identifier: str,
    provider_id: str | None,
    name: str | None,
) -> Row:
    """A messaging target; messaging providers do not exist in nib, so ``providerId`` is kept as given."""
    target_id = unique_id() if target_id == "unique()" else target_id
    try:
        with db.write() as conn:
            user_row(conn, project_id, user_id)
            clash = conn.execute(
                sa.select(targets.c.seq).where(
                    targets.c.project_id == project_id,
                    sa.or_(targets.c.id == target_id, targets.c.identifier == identifier),
                )
            ).first()
            if clash:
                raise AppwriteError("user_target_already_exists")
            insert_target(
                conn,
                project_id=project_id,
                user_id=user_id,
                target_id=target_id,
                provider_type=provider_type,
                identifier=identifier,
                provider_id=provider_id,
                name=name or "",
            )
    except IntegrityError:
        raise AppwriteError("user_target_already_exists") from None
    return get_target(db, project_id=project_id, user_id=user_id, target_id=target_id)


def update_target(
    db: Database, *, project_id: str, user_id: str, target_id: str, changes: dict[str, Any], validate_identifier
) -> Row:
    """Change identifier / providerId / name; the identifier is re-validated for the target's type."""
    try:
        with db.write() as conn:
            user_row(conn, project_id, user_id)
            current = _target_row(conn, project_id, user_id, target_id)
            if "identifier" in changes:
                changes["identifier"] = validate_identifier(current["provider_type"], changes["identifier"])
                clash = conn.execute(
                    sa.select(targets.c.seq).where(
                        targets.c.project_id == project_id,
                        targets.c.identifier == changes["identifier"],
                        targets.c.id != target_id,
                    )
                ).first()
                if clash:
                    raise AppwriteError("user_target_already_exists")
            if changes:
                conn.execute(
                    targets.update()
                    .where(targets.c.project_id == project_id, targets.c.id == target_id)
                    .values(**changes, updated_at=dates.now())
                )
    except IntegrityError:
        raise AppwriteError("user_target_already_exists") from None
    return get_target(db, project_id=project_id, user_id=user_id, target_id=target_id)


def delete_target(db: Database, *, project_id: str, user_id: str, target_id: str) -> Row:
    """Delete one of the user's targets; returns it."""
    with db.write() as conn:
        user_row(conn, project_id, user_id)
        row = _target_row(conn, project_id, user_id, target_id)
        conn.execute(targets.delete().where(targets.c.project_id == project_id, targets.c.id == target_id))
    return row
