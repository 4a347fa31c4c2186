"""The audit log: who did what, from where.

Routes declare their audit event (``audit=("user.update", "user/{userId}")``); after a
successful request the pipeline calls ``record``. Entries whose actor is a user back
``GET /users/{userId}/logs`` (and the account logs); API-key actions are kept too, with the key's
ID, but belong to no user's log, as in Appwrite. An action taken while impersonating is the
impersonator's entry; the target is kept in ``impersonated_user_id``, outside the Log model.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ..tools import dates
from ..tools.useragent import parse_user_agent
from .batches import delete_batch
from .db import Database
from .db.schema import audit_logs
from .db.types import day_text


@dataclass(frozen=True)
class Actor:
    """Who acted: a user (id, email, name), a console administrator (id, email, name), an API
    key (key_id) or a guest."""

    type: str  # "user" | "admin" | "key" | "guest"
    user_id: str = ""
    email: str = ""
    name: str = ""
    key_id: str = ""


def record(
    db: Database,
    *,
    project_id: str,
    event: str,
    resource: str,
    actor: Actor,
    ip: str,
    user_agent: str,
    impersonated: str = "",
) -> None:
    """One entry; ``impersonated``: the user an impersonator (``actor``) acted as."""
    client = parse_user_agent(user_agent)
    with db.write() as conn:
        conn.execute(
            audit_logs.insert().values(
                project_id=project_id,
                event=event,
                resource=resource,
                user_id=actor.user_id,
                user_email=actor.email,
                user_name=actor.name,
                user_type=actor.type,
                key_id=actor.key_id,
                impersonated_user_id=impersonated,
                # Appwrite marks what its console did as mode "admin".
                mode="admin" if actor.type == "admin" else "default",
                ip=ip,
                time=dates.now(),
                client=client,
            )
        )


def latest(db: Database, project_id: str, limit: int = 20) -> list[dict[str, Any]]:
    """The project's newest ``limit`` entries, newest first (an index range, however long the log)."""
    query = (
        sa.select(audit_logs)
        .where(audit_logs.c.project_id == project_id)
        .order_by(audit_logs.c.seq.desc())
        .limit(limit)
    )
    with db.read() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def per_day(db: Database, project_id: str, event: str, since: datetime) -> dict[str, int]:
    """How many ``event`` entries the project has per UTC day (``YYYY-MM-DD``) from ``since`` on;
    days without any are absent."""
    day = day_text(audit_logs.c.time, db.dialect).label("day")
    query = (
        sa.select(day, sa.func.count().label("total"))
        .where(audit_logs.c.project_id == project_id, audit_logs.c.event == event, audit_logs.c.time >= since)
        .group_by(day)
    )
    with db.read() as conn:
        return {row.day: int(row.total) for row in conn.execute(query)}


def sweep(db: Database, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` entries recorded before ``before`` (the retention, Appwrite's
    ``_APP_MAINTENANCE_RETENTION_AUDIT``); how many went."""
    return len(delete_batch(db, audit_logs, audit_logs.c.time < before, limit))
