"""Teams: teams, their prefs and the number of confirmed members.

Functions take keyword arguments and a ``Database``; they know nothing of HTTP. ``roles`` is the
caller's role set (auth.roles) or ``None`` for an API key, which bypasses permissions. Access is
decided by ``auth.permissions.allowed`` against the permissions Appwrite gives a team document
(``access.team_permissions``): its members read it, its owners update and delete it. A team
the caller may not read does not exist for it (404 ``team_not_found``); a member without the
needed permission gets 401 ``user_unauthorized``.

Writes that touch a team's memberships or ``total`` lock the team row first (``lock_team``), so
concurrent invitations, acceptances and deletions of one team run one after the other on
PostgreSQL too (SQLite runs one writer at a time anyway) and ``total`` always counts the
confirmed memberships.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ..auth.permissions import allowed
from ..auth.tables import memberships
from ..data import search
from ..data.db import Database
from ..data.listing import ids_in, list_rows
from ..data.query import STRING, Attribute, ListSpec, ParsedQueries, standard_attributes
from ..data.rows import Row
from ..data.totals import project_total
from ..tools import dates
from ..tools.errors import AppwriteError
from ..tools.ids import unique_id
from .access import readable_team_ids, require, team_permissions
from .tables import teams

OWNER = "owner"

TEAM_LIST = ListSpec(
    entity="Team",
    table=teams,
    attributes={
        **standard_attributes(teams),
        "name": Attribute(teams.c.name, STRING),
        "total": Attribute(teams.c.total, "integer"),
    },
)


def count_teams(db: Database, *, project_id: str) -> int:
    """How many teams the project has (the maintained count, not a scan)."""
    return project_total(db, teams.name, project_id)


def stored_team(conn: Connection, project_id: str, team_id: str, *, lock: bool = False) -> Row | None:
    """The team's row (None when there is none); ``lock`` keeps it locked until the transaction
    ends (PostgreSQL ``FOR UPDATE``)."""
    statement = sa.select(teams).where(teams.c.project_id == project_id, teams.c.id == team_id)
    row = conn.execute(statement.with_for_update() if lock else statement).mappings().first()
    return dict(row) if row is not None else None


def team_row(conn: Connection, project_id: str, team_id: str, roles: list[str] | None, *, lock: bool = False) -> Row:
    """The team if it exists and ``roles`` may read it, else 404 ``team_not_found``. ``lock``
    keeps the row locked until the transaction ends."""
    row = stored_team(conn, project_id, team_id, lock=lock)
    if row is None or not allowed(roles, team_permissions(team_id), "read"):
        raise AppwriteError("team_not_found")
    return row


def lock_team(conn: Connection, project_id: str, team_id: str, roles: list[str] | None) -> Row:
    """``team_row`` locked: the first step of every write to a team's memberships or total."""
    return team_row(conn, project_id, team_id, roles, lock=True)


def change_total(conn: Connection, project_id: str, team_id: str, delta: int, *, touch: bool = True) -> None:
    """Add ``delta`` to the team's confirmed-member count (never below 0); ``touch``: the team's
    ``$updatedAt`` moves too (an import keeps the exported one)."""
    total = teams.c.total + delta
    values: dict[str, Any] = {"total": sa.case((total > 0, total), else_=0)}
    if touch:
        values["updated_at"] = dates.now()
    conn.execute(teams.update().where(teams.c.project_id == project_id, teams.c.id == team_id).values(values))


def remove_user_memberships(conn: Connection, project_id: str, user_id: str) -> None:
    """A deleted user's memberships go, and the teams it had joined count one member less
    (registered with ``data.hooks.on_user_deleted``: runs in the user's delete transaction)."""
    mine = (memberships.c.project_id == project_id, memberships.c.user_id == user_id)
    # Teams before memberships, the order of every team write, so a concurrent acceptance is
    # either counted below or waits for this delete.
    team_ids = sa.select(memberships.c.team_id).where(*mine)
    conn.execute(
        sa.select(teams.c.seq)
        .where(teams.c.project_id == project_id, teams.c.id.in_(team_ids))
        .order_by(teams.c.seq)
        .with_for_update()
    )
    confirmed = (
        conn.execute(sa.select(memberships.c.team_id).where(*mine, memberships.c.confirm.is_(True)).with_for_update())
        .scalars()
        .all()
    )
    if confirmed:
        conn.execute(
            teams.update()
            .where(teams.c.project_id == project_id, teams.c.id.in_(confirmed))
            .values(total=sa.case((teams.c.total > 0, teams.c.total - 1), else_=0), updated_at=dates.now())
        )
    conn.execute(memberships.delete().where(*mine))


def membership_values(
    *,
    project_id: str,
    membership_id: str,
    team_id: str,
    user_id: str,
    roles: list[str],
    confirm: bool,
    secret_digest: str | None,
) -> dict[str, Any]:
    """A ``memberships`` row: invited now, joined now when confirmed at once."""
    now = dates.now()
    return {
        "project_id": project_id,
        "id": membership_id,
        "created_at": now,
        "updated_at": now,
        "team_id": team_id,
        "user_id": user_id,
        "roles": roles,
        "invited": now,
        "joined": now if confirm else None,
        "confirm": confirm,
        "secret_hash": secret_digest,
        "search": search.normalize(membership_id, user_id),
    }


# ---------------------------------------------------------------------------------------------
# Teams


def create_team(
    db: Database, *, project_id: str, team_id: str, name: str, roles: list[str], creator: Row | None
) -> Row:
    """A new team. A signed-in ``creator`` becomes a confirmed member with ``roles`` plus
    ``owner`` (team ``total`` 1); an API key creates an empty team (``creator`` None, total 0)."""
    team_id = unique_id() if team_id == "unique()" else team_id
    now = dates.now()
    row = {
        "project_id": project_id,
        "id": team_id,
        "created_at": now,
        "updated_at": now,
        "name": name,
        "total": 0 if creator is None else 1,
        "prefs": {},
        "search": search.normalize(team_id, name),
    }
    try:
        with db.write() as conn:
            conn.execute(teams.insert().values(row))
            if creator is not None:
                member_roles = roles if OWNER in roles else [*roles, OWNER]
                values = membership_values(
                    project_id=project_id,
                    membership_id=unique_id(),
                    team_id=team_id,
                    user_id=creator["id"],
                    roles=member_roles,
                    confirm=True,
                    secret_digest=None,
                )
                conn.execute(memberships.insert().values(values))
    except IntegrityError:
        raise AppwriteError("team_already_exists") from None  # a concurrent create won
    return row


def list_teams(
    db: Database, *, project_id: str, roles: list[str] | None, queries: ParsedQueries, search: str | None
) -> tuple[int, list[Row]]:
    """The teams the caller may read (a user: those it is a confirmed member of)."""
    restriction = None if roles is None else ids_in(readable_team_ids(roles))
    return list_rows(
        db, TEAM_LIST, scope={"project_id": project_id}, queries=queries, search=search, restriction=restriction
    )


def get_team(db: Database, *, project_id: str, team_id: str, roles: list[str] | None) -> Row:
    with db.read() as conn:
        return team_row(conn, project_id, team_id, roles)


def update_team(
    db: Database,
    *,
    project_id: str,
    team_id: str,
    roles: list[str] | None,
    name: str | None = None,
    prefs: dict | None = None,
    unchanged_since: datetime | None = None,
) -> Row:
    """Rename the team and/or replace its prefs (owners only); with ``unchanged_since``, only if
    the team was not updated after it (409 ``document_update_conflict``)."""
    with db.write() as conn:
        team = lock_team(conn, project_id, team_id, roles)
        require(roles, team_permissions(team_id), "update")
        if unchanged_since is not None and team["updated_at"] > unchanged_since:
            raise AppwriteError("document_update_conflict")
        values: dict[str, Any] = {"updated_at": dates.now()}
        if name is not None:
            values.update(name=name, search=search.normalize(team_id, name))
        if prefs is not None:
            values["prefs"] = prefs
        conn.execute(teams.update().where(teams.c.project_id == project_id, teams.c.id == team_id).values(values))
    return {**team, **values}


def delete_team(db: Database, *, project_id: str, team_id: str, roles: list[str] | None) -> Row:
    """Delete the team (owners only) and, in the same transaction, all its memberships: their
    users lose the team's roles at once. Returns the deleted team."""
    with db.write() as conn:
        team = lock_team(conn, project_id, team_id, roles)
        require(roles, team_permissions(team_id), "delete")
        conn.execute(
            memberships.delete().where(memberships.c.project_id == project_id, memberships.c.team_id == team_id)
        )
        conn.execute(teams.delete().where(teams.c.project_id == project_id, teams.c.id == team_id))
    return team
