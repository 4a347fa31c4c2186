"""Users: create, read, update and delete users and everything they own.

Functions take keyword arguments and a ``Database``; they know nothing of HTTP. They return
rows; the routes turn them into Appwrite JSON (models.py). Password hashing happens before
a write transaction opens, so the database lock is never held for the length of a hash.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ..auth import passwords
from ..auth.projects import AuthPolicies, auth_policies, policies_on
from ..auth.tables import authenticators, identities, passkeys, sessions, targets, tokens, users
from ..data import search
from ..data.db import Database
from ..data.db.schema import totals
from ..data.db.types import day_text
from ..data.hooks import user_deleted
from ..data.listing import list_rows
from ..data.query import BOOL, DATE, STRING, Attribute, ListSpec, ParsedQueries, standard_attributes
from ..data.rows import Row
from ..tools import dates
from ..tools.errors import AppwriteError
from ..tools.ids import unique_id
from ..tools.validators import has_personal_data
from . import rendered

ARGON2 = "argon2"


USER_LIST = ListSpec(
    entity="User",
    table=users,
    attributes={
        **standard_attributes(users),
        "name": Attribute(users.c.name, STRING),
        "email": Attribute(users.c.email, STRING),
        "phone": Attribute(users.c.phone, STRING),
        "status": Attribute(users.c.status, BOOL),
        "emailVerification": Attribute(users.c.email_verification, BOOL),
        "phoneVerification": Attribute(users.c.phone_verification, BOOL),
        "passwordUpdate": Attribute(users.c.password_update, DATE),
        "registration": Attribute(users.c.registration, DATE),
        "labels": Attribute(users.c.labels, "string[]"),
        "accessedAt": Attribute(users.c.accessed_at, DATE),
        "impersonator": Attribute(users.c.impersonator, BOOL),
    },
    counted=True,
)
# ---------------------------------------------------------------------------------------------
# Reading


_USER_BY_ID = sa.select(users).where(
    users.c.project_id == sa.bindparam("project_id"), users.c.id == sa.bindparam("user_id")
)
_TARGET_COLUMNS = [column.label(f"target_{column.name}") for column in targets.c]
_TARGET_KEYS = [(f"target_{column.name}", column.name) for column in targets.c]
# Users with their targets in one statement on the driver path (Database.fetch): one row per
# target, or one row with NULL target columns.
_WITH_TARGETS = users.outerjoin(
    targets, sa.and_(targets.c.project_id == users.c.project_id, targets.c.user_id == users.c.id)
)
_USER_WITH_TARGETS = (
    sa.select(users, *_TARGET_COLUMNS)
    .select_from(_WITH_TARGETS)
    .where(users.c.project_id == sa.bindparam("project_id"), users.c.id == sa.bindparam("user_id"))
    .order_by(targets.c.seq)
)
# What the User model shows (no internal columns: seq, project_id, search, recovery codes).
_MODEL_COLUMNS = [
    column for column in users.c if column.name not in ("seq", "project_id", "search", "mfa_recovery_codes")
]
# By dialect and whether the model has the impersonation fields (response format 1.9.0+).
_LIST_COLUMNS = {
    **{("sqlite", newer): (rendered.user_json(impersonation=newer),) for newer in (True, False)},
    **{("postgresql", newer): _MODEL_COLUMNS for newer in (True, False)},
}


def signups_per_day(db: Database, *, project_id: str, since: datetime) -> dict[str, int]:
    """Users registered per UTC day (``YYYY-MM-DD``) from ``since`` on, over the
    (project, registration) index; days without any are absent."""
    day = day_text(users.c.registration, db.dialect).label("day")
    query = (
        sa.select(day, sa.func.count().label("total"))
        .where(users.c.project_id == project_id, users.c.registration >= since)
        .group_by(day)
    )
    with db.read() as conn:
        return {row.day: int(row.total) for row in conn.execute(query)}


def user_row(conn: Connection, project_id: str, user_id: str) -> Row:
    row = conn.execute(_USER_BY_ID, {"project_id": project_id, "user_id": user_id}).mappings().first()
    if row is None:
        raise AppwriteError("user_not_found")
    return dict(row)


def _grouped(rows: list[dict]) -> dict[str, tuple[Row, list[Row]]]:
    """Joined user/target rows -> {user id: (user, targets)}."""
    found: dict[str, tuple[Row, list[Row]]] = {}
    for row in rows:
        user, owned = found.setdefault(row["id"], (row, []))
        if row["target_id"] is not None:
            owned.append({name: row[key] for key, name in _TARGET_KEYS})
    return found


def get_user(db: Database, *, project_id: str, user_id: str) -> tuple[Row, list[Row]]:
    """The user and its targets."""
    found = _grouped(db.fetch(_USER_WITH_TARGETS, {"project_id": project_id, "user_id": user_id}))
    if user_id not in found:
        raise AppwriteError("user_not_found")
    return found[user_id]


def list_users(
    db: Database, *, project_id: str, queries: ParsedQueries, search: str | None, impersonation: bool = True
) -> tuple[int, list[Row]]:
    """One page of users, in one statement with their targets: on SQLite each row holds the
    finished User model (``user``, ``users/rendered.py``; ``impersonation`` as in
    ``models.user``), on PostgreSQL the user's columns and ``targets_json``, the rendered targets
    (``models.listed_user`` tells them apart)."""
    return list_rows(
        db,
        USER_LIST,
        scope={"project_id": project_id},
        queries=queries,
        search=search,
        columns=_LIST_COLUMNS[db.dialect, impersonation],
    )


# The columns of a table of users (the console's): no secrets, no targets.
_SUMMARY_COLUMNS = [
    users.c[name] for name in ("id", "created_at", "name", "email", "phone", "status", "email_verification", "labels")
]


def list_user_summaries(
    db: Database, *, project_id: str, queries: ParsedQueries, search: str | None
) -> tuple[int, list[Row]]:
    """One page of users filtered, searched, ordered and counted as ``list_users`` does, as
    plain rows of ``_SUMMARY_COLUMNS`` (``id``, ``created_at``, ``name``, ``email``, ``phone``,
    ``status``, ``email_verification``, ``labels``)."""
    return list_rows(
        db, USER_LIST, scope={"project_id": project_id}, queries=queries, search=search, columns=_SUMMARY_COLUMNS
    )


def count_users(db: Database, *, project_id: str) -> int:
    """The project's exact number of users (``totals``, kept by the database itself; a list's
    ``total`` is this capped at 5000 when unfiltered)."""
    with db.read() as conn:
        found = conn.execute(
            sa.select(totals.c.total).where(totals.c.table_name == users.name, totals.c.project_id == project_id)
        ).scalar()
    return int(found or 0)


# ---------------------------------------------------------------------------------------------
# Creating


def search_text(user_id: str, email: str | None, name: str, phone: str | None, labels: list[str]) -> str:
    return search.normalize(user_id, email, name, phone, *(f"label:{label}" for label in labels))


def create_user(
    db: Database,
    *,
    project_id: str,
    user_id: str,
    email: str | None = None,
    phone: str | None = None,
    password: str | None = None,
    name: str | None = None,
    imported_hash: str | None = None,
    hash_options: dict | None = None,
    accessed: bool = False,
    limited: bool = False,
    then: Callable[[Connection], None] | None = None,
) -> tuple[Row, list[Row]]:
    """A new user with a plain password (hashed with argon2id) or an imported hash kept as-is.

    ``hash_options`` must include ``type`` for imports. Email/phone targets are created too.
    ``accessed``: the user is acting now (sign-up), so ``accessedAt`` starts at creation.
    ``limited``: a sign-up, refused once the project holds its user limit (400
    ``user_count_exceeded``); the Users API is not limited (Appwrite).
    ``then``: more writes in the same transaction (e.g. the first session of an anonymous user);
    the user returned is the row as inserted, before them.
    A plain password must pass the project's personal-data check (400 ``password_personal_data``)
    and starts the user's password history when the project keeps one.
    """
    policies = auth_policies(db, project_id)
    stored: str | None
    if imported_hash is not None:
        assert hash_options is not None, "an imported hash comes with its options"
        stored, options, algorithm = imported_hash, hash_options, hash_options["type"]
    else:
        stored = passwords.hash_password(password) if password is not None else None
        options, algorithm = dict(passwords.ARGON2_DEFAULT_OPTIONS), ARGON2
    user_id = unique_id() if user_id == "unique()" else user_id
    name = name or ""
    now = dates.now()
    row: Row = {
        "project_id": project_id,
        "id": user_id,
        "created_at": now,
        "updated_at": now,
        "name": name,
        "email": email or None,
        "phone": phone or None,
        "password": stored,
        "hash": algorithm,
        "hash_options": options,
        "registration": now,
        "status": True,
        "labels": [],
        "password_update": now if stored is not None else None,
        "email_verification": False,
        "phone_verification": False,
        "mfa": False,
        "prefs": {},
        "accessed_at": now if accessed else None,
        "search": search_text(user_id, email, name, phone, []),
        "password_history": [stored] if stored is not None and policies.password_history else [],
    }
    owned: list[Row] = []
    try:
        with db.write() as conn:
            if limited:
                refuse_beyond_limit(conn, project_id)
            if password is not None and imported_hash is None:
                refuse_personal_data(policies, password, user_id=user_id, email=email, name=name, phone=phone)
            same = [users.c.id == user_id]
            same += [users.c.email == email] if email else []
            same += [users.c.phone == phone] if phone else []
            duplicate = conn.execute(
                sa.select(users.c.seq).where(users.c.project_id == project_id, sa.or_(*same))
            ).first()
            if duplicate:
                raise AppwriteError("user_already_exists")
            # The row as stored (JSONB reorders hash_options' keys on PostgreSQL), as get_user reads it.
            created = dict(conn.execute(users.insert().values(row).returning(*_MODEL_COLUMNS)).mappings().one())
            for provider_type, identifier in (("email", email), ("sms", phone)):
                if identifier and (target := _add_auto_target(conn, project_id, user_id, provider_type, identifier)):
                    owned.append(target)
            if then is not None:
                then(conn)
    except IntegrityError:
        # Lost a race with a concurrent create of the same id/email/phone.
        raise AppwriteError("user_already_exists") from None
    return created, owned


def refuse_beyond_limit(conn: Connection, project_id: str, message: str | None = None) -> None:
    """400 ``user_count_exceeded`` (with ``message``, else the catalogue's) once the project holds
    as many users as its limit allows (the counter the database keeps, read in ``conn``)."""
    limit = policies_on(conn, project_id).user_limit
    if not limit:
        return
    total = conn.execute(
        sa.select(totals.c.total).where(totals.c.table_name == "users", totals.c.project_id == project_id)
    ).scalar()
    if (total or 0) >= limit:
        raise AppwriteError("user_count_exceeded", message)


def refuse_personal_data(
    policies: AuthPolicies, password: str, *, user_id: str, email: str | None, name: str | None, phone: str | None
) -> None:
    """400 ``password_personal_data`` when the project checks personal data and the password
    contains some of the user's."""
    if policies.personal_data_check and has_personal_data(
        password, user_id=user_id, email=email, name=name, phone=phone
    ):
        raise AppwriteError("password_personal_data")


def insert_target(
    conn: Connection,
    *,
    project_id: str,
    user_id: str,
    target_id: str,
    provider_type: str,
    identifier: str,
    provider_id: str | None = None,
    name: str = "",
) -> Row:
    """One row in ``targets`` (automatic ones for email/sms, or created through the API)."""
    now = dates.now()
    row = {
        "project_id": project_id,
        "id": target_id,
        "created_at": now,
        "updated_at": now,
        "user_id": user_id,
        "name": name,
        "provider_id": provider_id,
        "provider_type": provider_type,
        "identifier": identifier,
        "expired": False,
    }
    conn.execute(targets.insert().values(row))
    return row


def _add_auto_target(
    conn: Connection, project_id: str, user_id: str, provider_type: str, identifier: str
) -> Row | None:
    """An email/sms target for the user, unless another target already holds the identifier."""
    exists = conn.execute(
        sa.select(targets.c.seq).where(targets.c.project_id == project_id, targets.c.identifier == identifier)
    ).first()
    if exists:
        return None
    return insert_target(
        conn,
        project_id=project_id,
        user_id=user_id,
        target_id=unique_id(),
        provider_type=provider_type,
        identifier=identifier,
    )


# ---------------------------------------------------------------------------------------------
# Updating


def update_columns(conn: Connection, project_id: str, user_id: str, values: dict) -> None:
    """Apply column changes, recomputing the search text when a searchable field moves."""
    current = user_row(conn, project_id, user_id)
    merged = {**current, **values}
    values = {
        **values,
        "updated_at": dates.now(),
        "search": search_text(user_id, merged["email"], merged["name"], merged["phone"], merged["labels"]),
    }
    conn.execute(users.update().where(users.c.project_id == project_id, users.c.id == user_id).values(values))


def update_user(db: Database, *, project_id: str, user_id: str, **values: Any) -> tuple[Row, list[Row]]:
    """Set plain columns (name, status, labels, email_verification, phone_verification, mfa)."""
    with db.write() as conn:
        update_columns(conn, project_id, user_id, values)
    return get_user(db, project_id=project_id, user_id=user_id)


def update_password(
    db: Database, *, project_id: str, user_id: str, password: str, history_first: bool = False
) -> tuple[Row, list[Row]]:
    """``""`` clears the password (no more password logins); otherwise store argon2id.

    The project's policies apply: the personal-data check (400 ``password_personal_data``) and
    the password history (400 ``password_recently_used``). Appwrite checks personal data first
    on the Users API and the history first on the Account API (``history_first``).
    """
    with db.read() as conn:
        user = user_row(conn, project_id, user_id)
    policies = auth_policies(db, project_id)
    if not history_first:
        refuse_personal_data(
            policies, password, user_id=user_id, email=user["email"], name=user["name"], phone=user["phone"]
        )
    values = password_columns(password, user=user, policies=policies)
    if history_first:
        refuse_personal_data(
            policies, password, user_id=user_id, email=user["email"], name=user["name"], phone=user["phone"]
        )
    with db.write() as conn:
        update_columns(conn, project_id, user_id, values)
    return get_user(db, project_id=project_id, user_id=user_id)


def password_columns(password: str, *, user: Row | None = None, policies: AuthPolicies | None = None) -> dict:
    """The columns of a new argon2id password (``""`` = no password); hashes, so call it
    before a write transaction opens.

    With the ``user`` and its project's ``policies``, the password history applies: a password
    matching one of the user's last N (400 ``password_recently_used``) is refused, and the new
    hash joins the history, trimmed to N (newest first). Clearing the password leaves it alone.
    """
    values: dict[str, Any] = {
        "password": passwords.hash_password(password) if password else "",
        "hash": ARGON2,
        "hash_options": dict(passwords.ARGON2_DEFAULT_OPTIONS),
        "password_update": dates.now(),
    }
    if user is not None and policies is not None and password:
        kept = policies.password_history
        history = list(user.get("password_history") or [])
        # Appwrite verifies the history with the user's algorithm as it is before the change.
        for previous in history:
            if passwords.verify_password(password, previous, user["hash"], user["hash_options"]):
                raise AppwriteError("password_recently_used")
        values["password_history"] = ([values["password"]] + history)[:kept]
    return values


def _replace_contact(
    db: Database,
    *,
    project_id: str,
    user_id: str,
    column: str,
    provider_type: str,
    value: str,
    user_conflict: str,
    also: dict | None = None,
) -> tuple[Row, list[Row]]:
    """Shared by email and phone updates: uniqueness checks, flag reset, target kept in sync.

    ``also``: more columns written in the same transaction."""
    verification = "email_verification" if column == "email" else "phone_verification"
    now = dates.now()
    try:
        with db.write() as conn:
            current = user_row(conn, project_id, user_id)
            if value:
                if column == "email":
                    taken = conn.execute(
                        sa.select(identities.c.seq).where(
                            identities.c.project_id == project_id,
                            identities.c.provider_email == value,
                            identities.c.user_id != user_id,
                        )
                    ).first()
                    if taken:
                        raise AppwriteError("user_email_already_exists")
                # Appwrite's order: any target holding the value first, then the users' unique index.
                if conn.execute(
                    sa.select(targets.c.seq).where(targets.c.project_id == project_id, targets.c.identifier == value)
                ).first():
                    raise AppwriteError("user_target_already_exists")
                clash = conn.execute(
                    sa.select(users.c.seq).where(
                        users.c.project_id == project_id, users.c[column] == value, users.c.id != user_id
                    )
                ).first()
                if clash:
                    raise AppwriteError(user_conflict)
            update_columns(conn, project_id, user_id, {column: value or None, verification: False, **(also or {})})
            own_target = sa.and_(
                targets.c.project_id == project_id,
                targets.c.user_id == user_id,
                targets.c.provider_type == provider_type,
                targets.c.identifier == (current[column] or ""),
            )
            if not value:
                conn.execute(targets.delete().where(own_target))
            elif current[column] and conn.execute(sa.select(targets.c.seq).where(own_target)).first():
                conn.execute(targets.update().where(own_target).values(identifier=value, updated_at=now))
            else:
                _add_auto_target(conn, project_id, user_id, provider_type, value)
    except IntegrityError:
        raise AppwriteError(user_conflict) from None
    return get_user(db, project_id=project_id, user_id=user_id)


def update_email(
    db: Database, *, project_id: str, user_id: str, email: str, password: str | None = None
) -> tuple[Row, list[Row]]:
    """New e-mail (unverified); with ``password``, that password is set in the same write."""
    return _replace_contact(
        db,
        project_id=project_id,
        user_id=user_id,
        column="email",
        provider_type="email",
        value=email,
        user_conflict="user_email_already_exists",
        also=password_columns(password) if password is not None else None,
    )


def update_phone(db: Database, *, project_id: str, user_id: str, phone: str) -> tuple[Row, list[Row]]:
    return _replace_contact(
        db,
        project_id=project_id,
        user_id=user_id,
        column="phone",
        provider_type="sms",
        value=phone,
        user_conflict="user_phone_already_exists",
    )


def get_prefs(db: Database, *, project_id: str, user_id: str) -> dict:
    with db.read() as conn:
        return user_row(conn, project_id, user_id)["prefs"] or {}


def update_prefs(db: Database, *, project_id: str, user_id: str, prefs: dict) -> dict:
    with db.write() as conn:
        update_columns(conn, project_id, user_id, {"prefs": prefs})
    return prefs


# ---------------------------------------------------------------------------------------------
# Deleting


def delete_user(db: Database, *, project_id: str, user_id: str) -> tuple[Row, list[Row]]:
    """Remove the user and everything it owns in one transaction, with what other domains keep
    of it (``data.hooks.on_user_deleted``: its memberships, its teams' totals). Returns the
    deleted user and its targets, as ``get_user``."""
    with db.write() as conn:
        params = {"project_id": project_id, "user_id": user_id}
        found = _grouped([dict(row) for row in conn.execute(_USER_WITH_TARGETS, params).mappings()])
        if user_id not in found:
            raise AppwriteError("user_not_found")
        remove_user(conn, project_id, user_id)
    return found[user_id]


def remove_user(conn: Connection, project_id: str, user_id: str) -> None:
    """Delete the user's row, what it owns and what other domains keep of it, in the caller's
    write transaction."""
    user_deleted(conn, project_id, user_id)
    for table in (sessions, tokens, targets, identities, authenticators, passkeys):
        conn.execute(table.delete().where(table.c.project_id == project_id, table.c.user_id == user_id))
    conn.execute(users.delete().where(users.c.project_id == project_id, users.c.id == user_id))
