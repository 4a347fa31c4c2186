"""A project's teams and memberships as records of nib's export format
(docs/export-format.md), and such records imported.

A team's ``total`` (its confirmed members) is never taken from a record: a new team counts the
confirmed memberships stored, and each membership written adds to (or takes from) its team's
total in the same transaction, under the team-row lock every membership write takes, so the
total matches the memberships however an import ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ..auth.tables import memberships
from ..data import search
from ..data.db import Database
from ..data.rows import Row
from ..data.transfer import Conflict, Outcome, comparable, date_field, field, key_field, pages, record_date
from ..tools.errors import AppwriteError
from ..users.service import user_row
from .service import change_total, lock_team, stored_team
from .tables import teams


def export_teams(db: Database, *, project_id: str) -> Iterator[dict[str, Any]]:
    """Every team of the project as a record, in creation order."""
    for page in pages(db, teams, project_id):
        yield from (_team_record(row) for row in page)


def export_memberships(db: Database, *, project_id: str) -> Iterator[dict[str, Any]]:
    """Every membership of the project as a record, in creation order (an invitation's secret
    stays here: the invitee needs a new one)."""
    for page in pages(db, memberships, project_id):
        yield from (_membership_record(row) for row in page)


def count_memberships(db: Database, *, project_id: str) -> int:
    with db.read() as conn:
        statement = sa.select(sa.func.count()).where(memberships.c.project_id == project_id)
        return int(conn.execute(statement).scalar_one())


def import_team(db: Database, *, project_id: str, record: dict[str, Any], overwrite: bool) -> Outcome:
    """Store the team of ``record`` (its name, prefs and dates; ``total`` counts the memberships
    here). ``Conflict`` when its ID is stored with other content, unless ``overwrite``."""
    team_id = key_field(record, "$id")
    name = field(record, "name", str)
    values = {
        "created_at": date_field(record, "$createdAt"),
        "updated_at": date_field(record, "$updatedAt", record.get("$createdAt")),
        "name": name,
        "prefs": field(record, "prefs", dict, {}),
        "search": search.normalize(team_id, name),
    }
    try:
        with db.write() as conn:
            current = stored_team(conn, project_id, team_id, lock=True)
            if current is None:
                total = _confirmed(conn, project_id, team_id)
                conn.execute(teams.insert().values(project_id=project_id, id=team_id, total=total, **values))
                return "created"
            if comparable(_team_record({**current, **values})) == comparable(_team_record(current)):
                return "unchanged"
            if not overwrite:
                raise Conflict(f"team {team_id} is stored with other content")
            conn.execute(teams.update().where(teams.c.seq == current["seq"]).values(values))
    except IntegrityError:
        raise Conflict(f"team {team_id} was created while importing it") from None
    return "overwritten"


def import_membership(db: Database, *, project_id: str, record: dict[str, Any], overwrite: bool) -> Outcome:
    """Store the membership of ``record`` in its team (which must be stored, as its user).
    ``Conflict`` when its ID is stored with other content, or the user already has another
    membership of the team, unless ``overwrite`` (the other one is then replaced).
    An unconfirmed invitation comes without its secret: the invitee needs a new invitation."""
    membership_id = key_field(record, "$id")
    team_id = key_field(record, "teamId")
    user_id = key_field(record, "userId")
    roles = field(record, "roles", list, [])
    if not all(isinstance(role, str) for role in roles):
        raise ValueError("field 'roles' must hold strings")
    row = {
        "project_id": project_id,
        "id": membership_id,
        "created_at": date_field(record, "$createdAt"),
        "updated_at": date_field(record, "$updatedAt", record.get("$createdAt")),
        "team_id": team_id,
        "user_id": user_id,
        "roles": roles,
        "invited": date_field(record, "invited", None),
        "joined": date_field(record, "joined", None),
        "confirm": field(record, "confirm", bool, True),
        "secret_hash": None,
        "search": search.normalize(membership_id, user_id),
    }
    wanted = comparable(_membership_record(row))
    try:
        with db.write() as conn:
            try:
                lock_team(conn, project_id, team_id, None)
            except AppwriteError:
                raise ValueError(f"team {team_id} is not stored") from None
            try:
                user_row(conn, project_id, user_id)
            except AppwriteError:
                raise ValueError(f"user {user_id} is not stored") from None
            same = sa.or_(
                memberships.c.id == membership_id,
                sa.and_(memberships.c.team_id == team_id, memberships.c.user_id == user_id),
            )
            stored = [
                dict(found)
                for found in conn.execute(
                    sa.select(memberships).where(memberships.c.project_id == project_id, same).with_for_update()
                ).mappings()
            ]
            if not stored:
                conn.execute(memberships.insert().values(row))
                change_total(conn, project_id, team_id, int(row["confirm"]), touch=False)
                return "created"
            if len(stored) == 1 and comparable(_membership_record(stored[0])) == wanted:
                return "unchanged"
            if not overwrite:
                raise Conflict("; ".join(_clash(found, membership_id) for found in stored))
            conn.execute(memberships.delete().where(memberships.c.seq.in_([found["seq"] for found in stored])))
            conn.execute(memberships.insert().values(row))
            for found in stored:
                change_total(conn, project_id, found["team_id"], -int(found["confirm"]), touch=False)
            change_total(conn, project_id, team_id, int(row["confirm"]), touch=False)
    except IntegrityError:
        raise Conflict(f"membership {membership_id} was created while importing it") from None
    return "overwritten"


def _clash(stored: Row, membership_id: str) -> str:
    if stored["id"] == membership_id:
        return f"membership {membership_id} is stored with other content"
    return f"user {stored['user_id']} already has membership {stored['id']} of team {stored['team_id']}"


def _confirmed(conn: Connection, project_id: str, team_id: str) -> int:
    statement = sa.select(sa.func.count()).where(
        memberships.c.project_id == project_id, memberships.c.team_id == team_id, memberships.c.confirm.is_(True)
    )
    return int(conn.execute(statement).scalar_one())


def _team_record(row: Row) -> dict[str, Any]:
    return {
        "$id": row["id"],
        "$createdAt": record_date(row["created_at"]),
        "$updatedAt": record_date(row["updated_at"]),
        "name": row["name"],
        "prefs": row["prefs"] or {},
    }


def _membership_record(row: Row) -> dict[str, Any]:
    return {
        "$id": row["id"],
        "$createdAt": record_date(row["created_at"]),
        "$updatedAt": record_date(row["updated_at"]),
        "teamId": row["team_id"],
        "userId": row["user_id"],
        "roles": row["roles"],
        "invited": record_date(row["invited"]),
        "joined": record_date(row["joined"]),
        "confirm": row["confirm"],
    }
