"""What a user did and signed in with: audit logs, OAuth identities."""

from __future__ import annotations

import sqlalchemy as sa

from ..auth.tables import identities
from ..data.db import Database
from ..data.db.schema import audit_logs
from ..data.listing import list_rows
from ..data.query import DATE, STRING, Attribute, ListSpec, ParsedQueries, standard_attributes
from ..data.rows import Row
from ..tools.errors import AppwriteError
from .service import user_row

IDENTITY_LIST = ListSpec(
    entity="User",
    table=identities,
    attributes={
        **standard_attributes(identities),
        "userId": Attribute(identities.c.user_id, STRING),
        "provider": Attribute(identities.c.provider, STRING),
        "providerUid": Attribute(identities.c.provider_uid, STRING),
        "providerEmail": Attribute(identities.c.provider_email, STRING),
        "providerAccessTokenExpiry": Attribute(identities.c.provider_access_token_expiry, DATE),
    },
)
LOG_LIST = ListSpec(
    entity="Log", table=audit_logs, attributes={}, methods=frozenset({"limit", "offset"}), default_limit=5000
)


def list_logs(db: Database, *, project_id: str, user_id: str, queries: ParsedQueries) -> tuple[int, list[Row]]:
    """Audit entries whose actor is this user, newest first."""
    with db.read() as conn:
        user_row(conn, project_id, user_id)
        where = sa.and_(audit_logs.c.project_id == project_id, audit_logs.c.user_id == user_id)
        total = conn.execute(sa.select(sa.func.count()).select_from(audit_logs).where(where)).scalar_one()
        statement = (
            sa.select(audit_logs)
            .where(where)
            .order_by(audit_logs.c.seq.desc())
            .limit(queries.limit)
            .offset(queries.offset)
        )
        return total, [dict(row) for row in conn.execute(statement).mappings()]


def user_activity(db: Database, *, project_id: str, user_id: str, limit: int = 25) -> list[Row]:
    """The newest ``limit`` audit entries about the user, newest first: what the user did (its
    own entries, as ``list_logs``) and what was done to it (entries naming ``user/<id>`` as their
    resource: API keys' and administrators' actions). Two indexed reads, merged."""
    with db.read() as conn:
        user_row(conn, project_id, user_id)
        found: dict[int, Row] = {}
        for condition in (audit_logs.c.user_id == user_id, audit_logs.c.resource == f"user/{user_id}"):
            statement = (
                sa.select(audit_logs)
                .where(audit_logs.c.project_id == project_id, condition)
                .order_by(audit_logs.c.seq.desc())
                .limit(limit)
            )
            found.update((row["seq"], dict(row)) for row in conn.execute(statement).mappings())
    return [found[seq] for seq in sorted(found, reverse=True)[:limit]]


def list_identities(
    db: Database, *, project_id: str, queries: ParsedQueries, user_id: str | None = None
) -> tuple[int, list[Row]]:
    """The project's identities, or only ``user_id``'s."""
    scope = {"project_id": project_id} if user_id is None else {"project_id": project_id, "user_id": user_id}
    return list_rows(db, IDENTITY_LIST, scope=scope, queries=queries)


def delete_identity(db: Database, *, project_id: str, identity_id: str, user_id: str | None = None) -> Row:
    """Delete an identity (only one of ``user_id``'s when given): 404 ``user_identity_not_found``.
    Returns the deleted identity."""
    owned = [identities.c.user_id == user_id] if user_id is not None else []
    with db.write() as conn:
        deleted = (
            conn.execute(
                identities.delete()
                .where(identities.c.project_id == project_id, identities.c.id == identity_id, *owned)
                .returning(*identities.c)
            )
            .mappings()
            .first()
        )
    if deleted is None:
        raise AppwriteError("user_identity_not_found")
    return dict(deleted)
