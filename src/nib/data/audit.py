"""The audit log: who did what, from where.

Routes declare their audit event (``audit=("user.update", "user/{userId}")``); after a
successful request the pipeline calls ``record``. Entries whose actor is a user back
``GET /users/{userId}/logs`` (and the account logs); API-key actions are kept too, with the key's
ID, but belong to no user's log, as in Appwrite. An action taken while impersonating is the
impersonator's entry; the target is kept in ``impersonated_user_id``, outside the Log model.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..tools import dates
from ..tools.useragent import parse_user_agent
from .db import Database
from .db.schema import audit_logs


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
