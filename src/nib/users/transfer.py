"""A project's users as records of nib's export format (docs/export-format.md), and one such
record imported: the user with its password hash and options exactly as they were (so the
password keeps working), labels, prefs, MFA state and recovery codes, TOTP authenticators,
targets and OAuth2 identities (without the provider's tokens).

Sessions, tokens and passkeys are the instance's, not the user's data: an overwritten user keeps
the ones it has here, and none travel.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ..auth import passwords
from ..auth.projects import policies_on
from ..auth.tables import authenticators, identities, targets, users
from ..data.db import Database
from ..data.rows import Row
from ..data.transfer import Conflict, Outcome, comparable, date_field, field, key_field, pages, record_date
from ..tools import dates
from ..tools.ids import unique_id
from .mfa import locked_user
from .service import remove_user, search_text

# What a user owns that its record carries.
_OWNED = (targets, identities, authenticators)


def export_users(db: Database, *, project_id: str) -> Iterator[dict[str, Any]]:
    """Every user of the project as a record, in creation order; read in batches, each batch
    with its users' targets, identities and authenticators."""
    for page in pages(db, users, project_id):
        with db.read() as conn:
            owned = _owned_rows(conn, project_id, [row["id"] for row in page])
        for row in page:
            yield _record(row, *(owned[table.name].get(row["id"], []) for table in _OWNED))


def import_user(db: Database, *, project_id: str, record: dict[str, Any], overwrite: bool) -> Outcome:
    """Store the user of ``record``: ``created`` when new, ``unchanged`` when stored with the same
    content. Otherwise (the ID stored with other content; its e-mail, phone, a target or an
    identity held by another user) ``Conflict``, or with ``overwrite`` the record replaces them
    (a user holding its e-mail or phone is deleted) and ``overwritten``. ``ValueError`` for a
    malformed record."""
    incoming = _parsed(project_id, record)
    user_id = incoming.user["id"]
    wanted = comparable(_record(incoming.user, incoming.targets, incoming.identities, incoming.authenticators))
    try:
        with db.write() as conn:
            current = locked_user(conn, project_id, user_id)
            clashes = _clashes(conn, project_id, incoming)
            if current is not None and not clashes:
                owned = _owned_rows(conn, project_id, [user_id])
                stored = _record(current, *(owned[table.name].get(user_id, []) for table in _OWNED))
                if comparable(stored) == wanted:
                    return "unchanged"
                clashes.insert(0, _Clash(f"user {user_id} is stored with other content"))
            if clashes and not overwrite:
                raise Conflict("; ".join(clash.reason for clash in clashes))
            for clash in clashes:
                clash.remove(conn, project_id)
            _store(conn, project_id, incoming, replace=current is not None)
    except IntegrityError:
        # A concurrent write took one of its unique values between the checks and the insert.
        raise Conflict(f"user {user_id}: a unique value was taken while importing it") from None
    return "overwritten" if clashes else "created"


# ---------------------------------------------------------------------------------------------
# Records


def _record(user: Row, owned_targets: list[Row], owned_identities: list[Row], owned_authenticators: list[Row]) -> dict:
    return {
        "$id": user["id"],
        "$createdAt": record_date(user["created_at"]),
        "$updatedAt": record_date(user["updated_at"]),
        "name": user["name"],
        "email": user["email"] or "",
        "phone": user["phone"] or "",
        "registration": record_date(user["registration"]),
        "status": user["status"],
        "labels": user["labels"],
        "prefs": user["prefs"] or {},
        "passwordUpdate": record_date(user["password_update"]),
        "emailVerification": user["email_verification"],
        "phoneVerification": user["phone_verification"],
        "accessedAt": record_date(user["accessed_at"]),
        "impersonator": user["impersonator"],
        "password": user["password"],
        "hash": user["hash"],
        "hashOptions": user["hash_options"],
        "mfa": user["mfa"],
        "mfaRecoveryCodes": user["mfa_recovery_codes"] or [],
        "authenticators": [
            {"type": row["type"], "verified": row["verified"], "secret": row["secret"]}
            for row in sorted(owned_authenticators, key=lambda row: row["type"])
        ],
        "targets": [
            {
                "$id": row["id"],
                "$createdAt": record_date(row["created_at"]),
                "$updatedAt": record_date(row["updated_at"]),
                "name": row["name"],
                "providerId": row["provider_id"],
                "providerType": row["provider_type"],
                "identifier": row["identifier"],
                "expired": row["expired"],
            }
            for row in sorted(owned_targets, key=lambda row: row["id"])
        ],
        "identities": [
            {
                "$id": row["id"],
                "$createdAt": record_date(row["created_at"]),
                "$updatedAt": record_date(row["updated_at"]),
                "provider": row["provider"],
                "providerUid": row["provider_uid"],
                "providerEmail": row["provider_email"],
            }
            for row in sorted(owned_identities, key=lambda row: row["id"])
        ],
    }


def _owned_rows(conn: Connection, project_id: str, user_ids: list[str]) -> dict[str, dict[str, list[Row]]]:
    """{table name: {user ID: rows}} of the users' targets, identities and authenticators."""
    found: dict[str, dict[str, list[Row]]] = {}
    for table in _OWNED:
        by_user: dict[str, list[Row]] = found.setdefault(table.name, {})
        statement = (
            sa.select(table)
            .where(table.c.project_id == project_id, table.c.user_id.in_(user_ids))
            .order_by(table.c.seq)
        )
        for row in conn.execute(statement).mappings():
            by_user.setdefault(row["user_id"], []).append(dict(row))
    return found


@dataclass
class _Incoming:
    user: Row
    targets: list[Row]
    identities: list[Row]
    authenticators: list[Row]


def _parsed(project_id: str, record: dict[str, Any]) -> _Incoming:
    """The rows a record stands for; ``ValueError`` naming the first bad field."""
    user_id = key_field(record, "$id")
    created = date_field(record, "$createdAt")
    password = field(record, "password", (str, type(None)), None)
    algorithm = field(record, "hash", str, "argon2")
    if algorithm not in passwords.ALGORITHMS:
        raise ValueError(f"field 'hash': unknown algorithm {algorithm!r}")
    options = field(record, "hashOptions", dict, {"type": algorithm})
    name = field(record, "name", str, "")
    email = field(record, "email", str, "") or None
    phone = field(record, "phone", str, "") or None
    labels = field(record, "labels", list, [])
    codes = field(record, "mfaRecoveryCodes", list, [])
    if not all(isinstance(item, str) for item in [*labels, *codes]):
        raise ValueError("fields 'labels' and 'mfaRecoveryCodes' must hold strings")
    user = {
        "project_id": project_id,
        "id": user_id,
        "created_at": created,
        "updated_at": date_field(record, "$updatedAt", record.get("$createdAt")),
        "name": name,
        "email": email,
        "phone": phone,
        "password": password,
        "hash": algorithm,
        "hash_options": options,
        "registration": date_field(record, "registration", record.get("$createdAt")),
        "status": field(record, "status", bool, True),
        "labels": labels,
        # A password without its date would not sign in (no password set yet, as nib reads it).
        "password_update": date_field(record, "passwordUpdate", None) or (created if password else None),
        "email_verification": field(record, "emailVerification", bool, False),
        "phone_verification": field(record, "phoneVerification", bool, False),
        "mfa": field(record, "mfa", bool, False),
        "mfa_recovery_codes": codes or None,
        "prefs": field(record, "prefs", dict, {}),
        "accessed_at": date_field(record, "accessedAt", None),
        "impersonator": field(record, "impersonator", bool, False),
        "search": search_text(user_id, email, name, phone, labels),
    }
    return _Incoming(
        user,
        [_target(project_id, user_id, item) for item in _items(record, "targets")],
        [_identity(project_id, user_id, item) for item in _items(record, "identities")],
        [_authenticator(project_id, user_id, item) for item in _items(record, "authenticators")],
    )


def _items(record: dict[str, Any], name: str) -> list[dict[str, Any]]:
    items = field(record, name, list, [])
    if not all(isinstance(item, dict) for item in items):
        raise ValueError(f"field {name!r} must hold objects")
    return items


def _target(project_id: str, user_id: str, item: dict[str, Any]) -> Row:
    created = date_field(item, "$createdAt")
    return {
        "project_id": project_id,
        "id": key_field(item, "$id"),
        "created_at": created,
        "updated_at": date_field(item, "$updatedAt", item.get("$createdAt")),
        "user_id": user_id,
        "name": field(item, "name", str, ""),
        "provider_id": field(item, "providerId", (str, type(None)), None) or None,
        "provider_type": field(item, "providerType", str),
        "identifier": field(item, "identifier", str),
        "expired": field(item, "expired", bool, False),
    }


def _identity(project_id: str, user_id: str, item: dict[str, Any]) -> Row:
    return {
        "project_id": project_id,
        "id": key_field(item, "$id"),
        "created_at": date_field(item, "$createdAt"),
        "updated_at": date_field(item, "$updatedAt", item.get("$createdAt")),
        "user_id": user_id,
        "provider": field(item, "provider", str),
        "provider_uid": field(item, "providerUid", str),
        "provider_email": field(item, "providerEmail", str, ""),
    }


def _authenticator(project_id: str, user_id: str, item: dict[str, Any]) -> Row:
    # The format gives authenticators no ID or dates (one per type and user): new ones here.
    now = dates.now()
    return {
        "project_id": project_id,
        "id": unique_id(),
        "created_at": now,
        "updated_at": now,
        "user_id": user_id,
        "type": field(item, "type", str),
        "verified": field(item, "verified", bool, False),
        "secret": field(item, "secret", str),
    }


# ---------------------------------------------------------------------------------------------
# Writing


@dataclass
class _Clash:
    """Something stored that the record cannot coexist with, and how to remove it."""

    reason: str
    table: sa.Table | None = None  # None: nothing to remove (the user itself, replaced in place)
    row_id: str = ""

    def remove(self, conn: Connection, project_id: str) -> None:
        if self.table is users:
            remove_user(conn, project_id, self.row_id)
        elif self.table is not None:
            conn.execute(
                self.table.delete().where(self.table.c.project_id == project_id, self.table.c.id == self.row_id)
            )


def _clashes(conn: Connection, project_id: str, incoming: _Incoming) -> list[_Clash]:
    """What other users hold of the record's unique values: its e-mail or phone, its targets'
    IDs or identifiers, its identities' IDs or provider accounts."""
    user_id = incoming.user["id"]
    holders: dict[str, list[str]] = {}  # another user's ID -> what it holds
    for column in ("email", "phone"):
        value = incoming.user[column]
        if value is None:
            continue
        holder = conn.execute(
            sa.select(users.c.id).where(
                users.c.project_id == project_id, users.c[column] == value, users.c.id != user_id
            )
        ).scalar()
        if holder is not None:
            holders.setdefault(holder, []).append(f"the {column} {value}")
    found = [_Clash(f"user {holder} has {' and '.join(held)}", users, holder) for holder, held in holders.items()]
    # What those users own goes with them: no clash of its own.
    others = [user_id, *holders]
    for target in incoming.targets:
        statement = sa.select(targets.c.id, targets.c.user_id).where(
            targets.c.project_id == project_id,
            sa.or_(targets.c.id == target["id"], targets.c.identifier == target["identifier"]),
            targets.c.user_id.not_in(others),
        )
        for other in conn.execute(statement):
            reason = f"target {other.id} of user {other.user_id} has its ID or identifier"
            found.append(_Clash(reason, targets, other.id))
    for identity in incoming.identities:
        statement = sa.select(identities.c.id, identities.c.user_id).where(
            identities.c.project_id == project_id,
            sa.or_(
                identities.c.id == identity["id"],
                sa.and_(
                    identities.c.provider == identity["provider"],
                    identities.c.provider_uid == identity["provider_uid"],
                ),
            ),
            identities.c.user_id.not_in(others),
        )
        for other in conn.execute(statement):
            reason = f"identity {other.id} of user {other.user_id} is the same account"
            found.append(_Clash(reason, identities, other.id))
    return _unique(found)


def _unique(clashes: list[_Clash]) -> list[_Clash]:
    seen: set[tuple[str, str]] = set()
    kept = []
    for clash in clashes:
        key = (clash.table.name if clash.table is not None else "", clash.row_id)
        if key not in seen:
            seen.add(key)
            kept.append(clash)
    return kept


def _store(conn: Connection, project_id: str, incoming: _Incoming, *, replace: bool) -> None:
    """Insert the user and what it owns, or (``replace``) write them over the stored ones."""
    user_id = incoming.user["id"]
    password = incoming.user["password"]
    # The history starts over with the imported password, as the project here keeps one.
    history = [password] if password and policies_on(conn, project_id).password_history else []
    user = {**incoming.user, "password_history": history}
    if replace:
        conn.execute(users.update().where(users.c.project_id == project_id, users.c.id == user_id).values(user))
        for table in _OWNED:
            conn.execute(table.delete().where(table.c.project_id == project_id, table.c.user_id == user_id))
    else:
        conn.execute(users.insert().values(user))
    for table, rows in (
        (targets, incoming.targets),
        (identities, incoming.identities),
        (authenticators, incoming.authenticators),
    ):
        if rows:
            conn.execute(table.insert(), rows)
