"""Memberships: reading them, changing their roles, leaving.
Creating and accepting them is invitations.py.

Functions take keyword arguments and a ``Database`` and never see HTTP. ``roles`` is the caller's
role set, ``None`` for an API key (see service.py for locking and access rules).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..auth.credentials import HAS_VERIFIED_TOTP
from ..auth.permissions import allowed
from ..auth.tables import memberships, users
from ..data.db import Database
from ..data.listing import list_rows
from ..data.query import BOOL, DATE, STRING, Attribute, ListSpec, ParsedQueries, standard_attributes
from ..data.rows import Row
from ..tools import dates
from ..tools.errors import AppwriteError
from ..users.service import user_row
from .access import membership_permissions, require, team_permissions
from .service import change_total, lock_team, team_row
from .tables import teams

MEMBERSHIP_LIST = ListSpec(
    entity="Membership",
    table=memberships,
    attributes={
        **standard_attributes(memberships),
        "userId": Attribute(memberships.c.user_id, STRING),
        "teamId": Attribute(memberships.c.team_id, STRING),
        "invited": Attribute(memberships.c.invited, DATE),
        "joined": Attribute(memberships.c.joined, DATE),
        "confirm": Attribute(memberships.c.confirm, BOOL),
        "roles": Attribute(memberships.c.roles, "string[]"),
    },
)

# What a Membership shows of its user and team, for a page of memberships in two statements.
_PEOPLE = sa.select(
    users.c.id,
    users.c.name,
    users.c.email,
    users.c.phone,
    users.c.accessed_at,
    users.c.mfa,
    users.c.email_verification,
    users.c.phone_verification,
    HAS_VERIFIED_TOTP,
).where(users.c.project_id == sa.bindparam("project_id"), users.c.id.in_(sa.bindparam("ids", expanding=True)))
_TEAM_NAMES = sa.select(teams.c.id, teams.c.name).where(
    teams.c.project_id == sa.bindparam("project_id"), teams.c.id.in_(sa.bindparam("ids", expanding=True))
)


def _mfa(person: Row) -> bool:
    """The user's MFA flag, unless no second factor is usable (Appwrite's list/get rule)."""
    usable = (
        person["has_totp"]
        or (bool(person["email"]) and person["email_verification"])
        or (bool(person["phone"]) and person["phone_verification"])
    )
    return bool(person["mfa"] and usable)


def with_people(db: Database, project_id: str, rows: list[Row], *, mfa: bool) -> list[Row]:
    """Membership rows with their user's name, e-mail, phone and last access, the team's name
    and, when ``mfa`` (get and list), the user's effective MFA flag (else ``False``)."""
    if not rows:
        return []
    params = {"project_id": project_id}
    people = {p["id"]: p for p in db.fetch(_PEOPLE, {**params, "ids": list({r["user_id"] for r in rows})})}
    names = {t["id"]: t["name"] for t in db.fetch(_TEAM_NAMES, {**params, "ids": list({r["team_id"] for r in rows})})}
    enriched = []
    for row in rows:
        person = people.get(row["user_id"])
        enriched.append(
            {
                **row,
                "user_name": person["name"] if person else "",
                "user_email": person["email"] if person else "",
                "user_phone": person["phone"] if person else "",
                "user_accessed_at": person["accessed_at"] if person else None,
                "team_name": names.get(row["team_id"], ""),
                "mfa": bool(mfa and person and _mfa(person)),
            }
        )
    return enriched


def membership_row(
    conn: Connection, project_id: str, membership_id: str, missing: str, roles: list[str] | None, *, lock: bool = False
) -> Row:
    """The membership if it exists and ``roles`` may read it (locked until the transaction ends
    with ``lock``), else 404 ``missing``."""
    statement = sa.select(memberships).where(memberships.c.project_id == project_id, memberships.c.id == membership_id)
    found = conn.execute(statement.with_for_update() if lock else statement).mappings().first()
    row = dict(found) if found is not None else None
    if row is None or not allowed(roles, membership_permissions(row), "read"):
        raise AppwriteError(missing)
    return row


# ---------------------------------------------------------------------------------------------
# Reading


def list_memberships(
    db: Database,
    *,
    project_id: str,
    team_id: str,
    roles: list[str] | None,
    queries: ParsedQueries,
    search: str | None,
) -> tuple[int, list[Row]]:
    """The team's memberships, pending and confirmed, in creation order (members only)."""
    with db.read() as conn:
        team_row(conn, project_id, team_id, roles)
    total, rows = list_rows(
        db, MEMBERSHIP_LIST, scope={"project_id": project_id, "team_id": team_id}, queries=queries, search=search
    )
    return total, with_people(db, project_id, rows, mfa=True)


def list_user_memberships(
    db: Database, *, project_id: str, user_id: str, queries: ParsedQueries, search: str | None
) -> tuple[int, list[Row]]:
    """A user's memberships in every team, with their user and team details (for API keys, or
    the user itself)."""
    with db.read() as conn:
        user_row(conn, project_id, user_id)
    total, rows = list_rows(
        db, MEMBERSHIP_LIST, scope={"project_id": project_id, "user_id": user_id}, queries=queries, search=search
    )
    return total, with_people(db, project_id, rows, mfa=False)


def get_membership(db: Database, *, project_id: str, team_id: str, membership_id: str, roles: list[str] | None) -> Row:
    """One membership of the team: 404 ``membership_not_found`` also for another team's."""
    with db.read() as conn:
        team_row(conn, project_id, team_id, roles)
        row = membership_row(conn, project_id, membership_id, "membership_not_found", roles)
    if row["team_id"] != team_id:
        raise AppwriteError("membership_not_found")
    return with_people(db, project_id, [row], mfa=True)[0]


# ---------------------------------------------------------------------------------------------
# Changing


def update_roles(
    db: Database, *, project_id: str, team_id: str, membership_id: str, roles: list[str] | None, member_roles: list[str]
) -> Row:
    """Replace the membership's roles, as given (team owners and API keys only)."""
    with db.write() as conn:
        lock_team(conn, project_id, team_id, roles)
        membership = membership_row(conn, project_id, membership_id, "membership_not_found", roles, lock=True)
        if membership["team_id"] != team_id:
            raise AppwriteError("team_membership_mismatch")
        user_row(conn, project_id, membership["user_id"])
        require(roles, team_permissions(team_id), "update", "User is not allowed to modify roles")
        changes = {"roles": member_roles, "updated_at": dates.now()}
        conn.execute(memberships.update().where(memberships.c.seq == membership["seq"]).values(changes))
    return with_people(db, project_id, [{**membership, **changes}], mfa=False)[0]


def delete_membership(
    db: Database, *, project_id: str, team_id: str, membership_id: str, roles: list[str] | None
) -> Row:
    """Remove a membership (its user leaving, or a team owner removing it); a confirmed one
    no longer counts in the team's ``total``. Errors in Appwrite's order: membership, its user,
    team, mismatch, permission. Returns the deleted membership as ``get_membership``."""
    with db.write() as conn:
        found = membership_row(conn, project_id, membership_id, "team_invite_not_found", roles)
        user_row(conn, project_id, found["user_id"])
        lock_team(conn, project_id, team_id, roles)
        membership = membership_row(conn, project_id, membership_id, "team_invite_not_found", roles, lock=True)
        if membership["team_id"] != team_id:
            raise AppwriteError("team_membership_mismatch")
        require(roles, membership_permissions(membership), "delete")
        conn.execute(memberships.delete().where(memberships.c.seq == membership["seq"]))
        if membership["confirm"]:
            change_total(conn, project_id, team_id, -1)
    return with_people(db, project_id, [membership], mfa=True)[0]
