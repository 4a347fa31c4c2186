"""Users: create, read, update and delete users and everything they own.

Functions take keyword arguments and a ``Database``; they know nothing of HTTP. Rows are
returned as mappings; models.py turns them into Appwrite JSON. Password hashing happens before
a write transaction opens, so the database lock is never held for the length of a hash.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ..core import dates, passwords, search
from ..core.db import Database
from ..core.db.schema import (
    audit_logs,
    authenticators,
    identities,
    memberships,
    sessions,
    targets,
    teams,
    tokens,
    users,
)
from ..core.errors import AppwriteError
from ..core.ids import new_secret, secret_hash, unique_id
from ..core.query import Attribute, ListSpec, ParsedQueries, list_rows

Row = Mapping[str, Any]

_STRING, _BOOL, _DATE = "string", "boolean", "datetime"


def _common(table: sa.Table) -> dict[str, Attribute]:
    return {
        "$id": Attribute(table.c.id, _STRING),
        "$createdAt": Attribute(table.c.created_at, _DATE),
        "$updatedAt": Attribute(table.c.updated_at, _DATE),
    }


USER_LIST = ListSpec(
    entity="User",
    table=users,
    attributes={
        **_common(users),
        "name": Attribute(users.c.name, _STRING),
        "email": Attribute(users.c.email, _STRING),
        "phone": Attribute(users.c.phone, _STRING),
        "status": Attribute(users.c.status, _BOOL),
        "emailVerification": Attribute(users.c.email_verification, _BOOL),
        "phoneVerification": Attribute(users.c.phone_verification, _BOOL),
        "passwordUpdate": Attribute(users.c.password_update, _DATE),
        "registration": Attribute(users.c.registration, _DATE),
        "labels": Attribute(users.c.labels, "string[]"),
        "accessedAt": Attribute(users.c.accessed_at, _DATE),
    },
)
TARGET_LIST = ListSpec(
    entity="Target",
    table=targets,
    attributes={
        **_common(targets),
        "userId": Attribute(targets.c.user_id, _STRING),
        "providerId": Attribute(targets.c.provider_id, _STRING),
        "identifier": Attribute(targets.c.identifier, _STRING),
        "providerType": Attribute(targets.c.provider_type, _STRING),
    },
)
IDENTITY_LIST = ListSpec(
    entity="User",
    table=identities,
    attributes={
        **_common(identities),
        "userId": Attribute(identities.c.user_id, _STRING),
        "provider": Attribute(identities.c.provider, _STRING),
        "providerUid": Attribute(identities.c.provider_uid, _STRING),
        "providerEmail": Attribute(identities.c.provider_email, _STRING),
        "providerAccessTokenExpiry": Attribute(identities.c.provider_access_token_expiry, _DATE),
    },
)
LOG_LIST = ListSpec(entity="Log", table=audit_logs, attributes={}, methods=frozenset({"limit", "offset"}), default_limit=5000)
MEMBERSHIP_LIST = ListSpec(
    entity="Membership",
    table=memberships,
    attributes={
        **_common(memberships),
        "userId": Attribute(memberships.c.user_id, _STRING),
        "teamId": Attribute(memberships.c.team_id, _STRING),
        "invited": Attribute(memberships.c.invited, _DATE),
        "joined": Attribute(memberships.c.joined, _DATE),
        "confirm": Attribute(memberships.c.confirm, _BOOL),
        "roles": Attribute(memberships.c.roles, "string[]"),
    },
)

ARGON2 = "argon2"


# ---------------------------------------------------------------------------------------------
# Reading


def _user_row(conn: Connection, project_id: str, user_id: str) -> Row:
    row = conn.execute(sa.select(users).where(users.c.project_id == project_id, users.c.id == user_id)).mappings().first()
    if row is None:
        raise AppwriteError("user_not_found")
    return row


def _targets_of(conn: Connection, project_id: str, user_ids: list[str]) -> dict[str, list[Row]]:
    found: dict[str, list[Row]] = {uid: [] for uid in user_ids}
    if user_ids:
        statement = (
            sa.select(targets)
            .where(targets.c.project_id == project_id, targets.c.user_id.in_(user_ids))
            .order_by(targets.c.seq)
        )
        for t in conn.execute(statement).mappings():
            found[t["user_id"]].append(t)
    return found


def get_user(db: Database, *, project_id: str, user_id: str) -> tuple[Row, list[Row]]:
    """The user and its targets."""
    with db.read() as conn:
        row = _user_row(conn, project_id, user_id)
        return row, _targets_of(conn, project_id, [user_id])[user_id]


def list_users(
    db: Database, *, project_id: str, queries: ParsedQueries, search: str | None
) -> tuple[int, list[tuple[Row, list[Row]]]]:
    with db.read() as conn:
        total, rows = list_rows(conn, USER_LIST, where=users.c.project_id == project_id, queries=queries, search=search)
        rows = [r._mapping for r in rows]
        owned = _targets_of(conn, project_id, [r["id"] for r in rows])
    return total, [(r, owned[r["id"]]) for r in rows]


# ---------------------------------------------------------------------------------------------
# Creating


def _search_text(user_id: str, email: str | None, name: str, phone: str | None, labels: list[str]) -> str:
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
) -> tuple[Row, list[Row]]:
    """A new user with a plain password (hashed with argon2id) or an imported hash kept as-is.

    ``hash_options`` must include ``type`` for imports. Email/phone targets are created too.
    """
    if imported_hash is not None:
        stored, options = imported_hash, hash_options
    else:
        stored = passwords.hash_password(password) if password is not None else None
        options = dict(passwords.ARGON2_DEFAULT_OPTIONS)
    algorithm = options["type"] if imported_hash is not None else ARGON2
    user_id = unique_id() if user_id == "unique()" else user_id
    name = name or ""
    now = dates.now()
    row = {
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
        "accessed_at": None,
        "search": _search_text(user_id, email, name, phone, []),
    }
    try:
        with db.write() as conn:
            duplicate = conn.execute(
                sa.select(users.c.seq).where(
                    users.c.project_id == project_id,
                    sa.or_(
                        users.c.id == user_id,
                        users.c.email == (email or None),
                        users.c.phone == (phone or None),
                    ),
                )
            ).first()
            if duplicate:
                raise AppwriteError("user_already_exists")
            conn.execute(users.insert().values(row))
            for provider_type, identifier in (("email", email), ("sms", phone)):
                if identifier:
                    _add_auto_target(conn, project_id, user_id, provider_type, identifier, now)
    except IntegrityError:
        # Lost a race with a concurrent create of the same id/email/phone.
        raise AppwriteError("user_already_exists") from None
    return get_user(db, project_id=project_id, user_id=user_id)


def _add_auto_target(conn: Connection, project_id: str, user_id: str, provider_type: str, identifier: str, now) -> None:
    """An email/sms target for the user, unless another target already holds the identifier."""
    exists = conn.execute(
        sa.select(targets.c.seq).where(targets.c.project_id == project_id, targets.c.identifier == identifier)
    ).first()
    if exists:
        return
    conn.execute(
        targets.insert().values(
            project_id=project_id,
            id=unique_id(),
            created_at=now,
            updated_at=now,
            user_id=user_id,
            name="",
            provider_id=None,
            provider_type=provider_type,
            identifier=identifier,
            expired=False,
        )
    )


# ---------------------------------------------------------------------------------------------
# Updating


def _update(conn: Connection, project_id: str, user_id: str, values: dict) -> None:
    """Apply column changes, recomputing the search text when a searchable field moves."""
    current = _user_row(conn, project_id, user_id)
    merged = {**current, **values}
    values = {
        **values,
        "updated_at": dates.now(),
        "search": _search_text(user_id, merged["email"], merged["name"], merged["phone"], merged["labels"]),
    }
    conn.execute(users.update().where(users.c.project_id == project_id, users.c.id == user_id).values(values))


def update_user(db: Database, *, project_id: str, user_id: str, **values: Any) -> tuple[Row, list[Row]]:
    """Set plain columns (name, status, labels, email_verification, phone_verification, mfa)."""
    with db.write() as conn:
        _update(conn, project_id, user_id, values)
    return get_user(db, project_id=project_id, user_id=user_id)


def update_password(db: Database, *, project_id: str, user_id: str, password: str) -> tuple[Row, list[Row]]:
    """``""`` clears the password (no more password logins); otherwise store argon2id."""
    with db.read() as conn:
        _user_row(conn, project_id, user_id)
    stored = passwords.hash_password(password) if password else ""
    with db.write() as conn:
        _update(
            conn,
            project_id,
            user_id,
            {
                "password": stored,
                "hash": ARGON2,
                "hash_options": dict(passwords.ARGON2_DEFAULT_OPTIONS),
                "password_update": dates.now(),
            },
        )
    return get_user(db, project_id=project_id, user_id=user_id)


def _replace_contact(
    db: Database, *, project_id: str, user_id: str, column: str, provider_type: str, value: str, user_conflict: str
) -> tuple[Row, list[Row]]:
    """Shared by email and phone updates: uniqueness checks, flag reset, target kept in sync."""
    verification = "email_verification" if column == "email" else "phone_verification"
    now = dates.now()
    try:
        with db.write() as conn:
            current = _user_row(conn, project_id, user_id)
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
                clash = conn.execute(
                    sa.select(users.c.seq).where(
                        users.c.project_id == project_id, users.c[column] == value, users.c.id != user_id
                    )
                ).first()
                if clash:
                    raise AppwriteError(user_conflict)
                if conn.execute(
                    sa.select(targets.c.seq).where(targets.c.project_id == project_id, targets.c.identifier == value)
                ).first():
                    raise AppwriteError("user_target_already_exists")
            _update(conn, project_id, user_id, {column: value or None, verification: False})
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
                _add_auto_target(conn, project_id, user_id, provider_type, value, now)
    except IntegrityError:
        raise AppwriteError(user_conflict) from None
    return get_user(db, project_id=project_id, user_id=user_id)


def update_email(db: Database, *, project_id: str, user_id: str, email: str) -> tuple[Row, list[Row]]:
    return _replace_contact(
        db, project_id=project_id, user_id=user_id, column="email", provider_type="email", value=email,
        user_conflict="user_email_already_exists",
    )


def update_phone(db: Database, *, project_id: str, user_id: str, phone: str) -> tuple[Row, list[Row]]:
    return _replace_contact(
        db, project_id=project_id, user_id=user_id, column="phone", provider_type="sms", value=phone,
        user_conflict="user_phone_already_exists",
    )


def get_prefs(db: Database, *, project_id: str, user_id: str) -> dict:
    with db.read() as conn:
        return _user_row(conn, project_id, user_id)["prefs"] or {}


def update_prefs(db: Database, *, project_id: str, user_id: str, prefs: dict) -> dict:
    with db.write() as conn:
        _update(conn, project_id, user_id, {"prefs": prefs})
    return prefs


# ---------------------------------------------------------------------------------------------
# Deleting


def delete_user(db: Database, *, project_id: str, user_id: str) -> None:
    """Remove the user and everything it owns in one transaction; team totals follow."""
    with db.write() as conn:
        _user_row(conn, project_id, user_id)
        confirmed = conn.execute(
            sa.select(memberships.c.team_id).where(
                memberships.c.project_id == project_id,
                memberships.c.user_id == user_id,
                memberships.c.confirm.is_(True),
            )
        ).scalars().all()
        if confirmed:
            conn.execute(
                teams.update()
                .where(teams.c.project_id == project_id, teams.c.id.in_(confirmed))
                .values(total=sa.case((teams.c.total > 0, teams.c.total - 1), else_=0), updated_at=dates.now())
            )
        for table in (sessions, tokens, targets, identities, authenticators, memberships):
            conn.execute(table.delete().where(table.c.project_id == project_id, table.c.user_id == user_id))
        conn.execute(users.delete().where(users.c.project_id == project_id, users.c.id == user_id))


# ---------------------------------------------------------------------------------------------
# Sessions and tokens


def list_sessions(db: Database, *, project_id: str, user_id: str) -> list[Row]:
    with db.read() as conn:
        _user_row(conn, project_id, user_id)
        statement = (
            sa.select(sessions)
            .where(sessions.c.project_id == project_id, sessions.c.user_id == user_id)
            .order_by(sessions.c.seq)
        )
        return list(conn.execute(statement).mappings())


def create_session(
    db: Database,
    *,
    project_id: str,
    user_id: str,
    provider: str,
    factors: list[str],
    duration: int,
    ip: str,
    client: dict,
    provider_uid: str = "",
) -> tuple[Row, str]:
    """A session and its raw secret (stored only as a SHA-256 digest)."""
    secret = new_secret(256)
    now = dates.now()
    row = {
        "project_id": project_id,
        "id": unique_id(),
        "created_at": now,
        "updated_at": now,
        "user_id": user_id,
        "secret_hash": secret_hash(secret),
        "expire": dates.later(duration),
        "provider": provider,
        "provider_uid": provider_uid,
        "provider_access_token": "",
        "provider_access_token_expiry": None,
        "provider_refresh_token": "",
        "ip": ip,
        "client": client,
        "factors": factors,
        "mfa_updated_at": None,
    }
    with db.write() as conn:
        _user_row(conn, project_id, user_id)
        conn.execute(sessions.insert().values(row))
    return row, secret


def delete_sessions(db: Database, *, project_id: str, user_id: str) -> None:
    with db.write() as conn:
        _user_row(conn, project_id, user_id)
        conn.execute(sessions.delete().where(sessions.c.project_id == project_id, sessions.c.user_id == user_id))


def delete_session(db: Database, *, project_id: str, user_id: str, session_id: str) -> None:
    """Only the user's own session (as newer Appwrite): another user's session is not found."""
    with db.write() as conn:
        _user_row(conn, project_id, user_id)
        deleted = conn.execute(
            sessions.delete().where(
                sessions.c.project_id == project_id, sessions.c.user_id == user_id, sessions.c.id == session_id
            )
        )
        if deleted.rowcount == 0:
            raise AppwriteError("user_session_not_found")


def create_token(
    db: Database, *, project_id: str, user_id: str, length: int, expire: int, ip: str, user_agent: str
) -> tuple[Row, str]:
    """A generic token, exchangeable once for a session (POST /account/sessions/token)."""
    secret = new_secret(length)
    now = dates.now()
    row = {
        "project_id": project_id,
        "id": unique_id(),
        "created_at": now,
        "updated_at": now,
        "user_id": user_id,
        "type": "generic",
        "secret_hash": secret_hash(secret),
        "expire": dates.later(expire),
        "phrase": "",
        "ip": ip,
        "user_agent": user_agent,
    }
    with db.write() as conn:
        _user_row(conn, project_id, user_id)
        conn.execute(tokens.insert().values(row))
    return row, secret


# ---------------------------------------------------------------------------------------------
# MFA


def mfa_factors(db: Database, *, project_id: str, user_id: str) -> dict[str, bool]:
    with db.read() as conn:
        row = _user_row(conn, project_id, user_id)
        totp = conn.execute(
            sa.select(authenticators.c.seq).where(
                authenticators.c.project_id == project_id,
                authenticators.c.user_id == user_id,
                authenticators.c.type == "totp",
                authenticators.c.verified.is_(True),
            )
        ).first()
    return {
        "totp": totp is not None,
        "email": bool(row["email"]) and row["email_verification"],
        "phone": bool(row["phone"]) and row["phone_verification"],
        "recovery_code": bool(row["mfa_recovery_codes"]),
    }


def _new_recovery_codes() -> list[str]:
    return [new_secret(10) for _ in range(6)]


def get_recovery_codes(db: Database, *, project_id: str, user_id: str) -> list[str]:
    with db.read() as conn:
        codes = _user_row(conn, project_id, user_id)["mfa_recovery_codes"]
    if not codes:
        raise AppwriteError("user_recovery_codes_not_found")
    return codes


def create_recovery_codes(db: Database, *, project_id: str, user_id: str) -> list[str]:
    codes = _new_recovery_codes()
    with db.write() as conn:
        if _user_row(conn, project_id, user_id)["mfa_recovery_codes"]:
            raise AppwriteError("user_recovery_codes_already_exists")
        _update(conn, project_id, user_id, {"mfa_recovery_codes": codes})
    return codes


def regenerate_recovery_codes(db: Database, *, project_id: str, user_id: str) -> list[str]:
    codes = _new_recovery_codes()
    with db.write() as conn:
        if not _user_row(conn, project_id, user_id)["mfa_recovery_codes"]:
            raise AppwriteError("user_recovery_codes_not_found")
        _update(conn, project_id, user_id, {"mfa_recovery_codes": codes})
    return codes


def delete_authenticator(db: Database, *, project_id: str, user_id: str, type: str) -> None:
    with db.write() as conn:
        _user_row(conn, project_id, user_id)
        deleted = conn.execute(
            authenticators.delete().where(
                authenticators.c.project_id == project_id,
                authenticators.c.user_id == user_id,
                authenticators.c.type == type,
            )
        )
        if deleted.rowcount == 0:
            raise AppwriteError("user_authenticator_not_found")


# ---------------------------------------------------------------------------------------------
# Memberships and logs


def list_memberships(
    db: Database, *, project_id: str, user_id: str, queries: ParsedQueries, search: str | None
) -> tuple[int, list[Row]]:
    """The user's memberships joined with team name and user details."""
    with db.read() as conn:
        user = _user_row(conn, project_id, user_id)
        total, rows = list_rows(
            conn,
            MEMBERSHIP_LIST,
            where=sa.and_(memberships.c.project_id == project_id, memberships.c.user_id == user_id),
            queries=queries,
            search=search,
        )
        team_ids = [r.team_id for r in rows]
        names = dict(
            conn.execute(
                sa.select(teams.c.id, teams.c.name).where(teams.c.project_id == project_id, teams.c.id.in_(team_ids))
            ).all()
        )
    enriched = [
        {
            **r._mapping,
            "user_name": user["name"],
            "user_email": user["email"],
            "user_phone": user["phone"],
            "user_accessed_at": user["accessed_at"],
            "team_name": names.get(r.team_id, ""),
        }
        for r in rows
    ]
    return total, enriched


def list_logs(db: Database, *, project_id: str, user_id: str, queries: ParsedQueries) -> tuple[int, list[Row]]:
    """Audit entries whose actor is this user, newest first."""
    with db.read() as conn:
        _user_row(conn, project_id, user_id)
        where = sa.and_(audit_logs.c.project_id == project_id, audit_logs.c.user_id == user_id)
        total = conn.execute(sa.select(sa.func.count()).select_from(audit_logs).where(where)).scalar_one()
        statement = (
            sa.select(audit_logs)
            .where(where)
            .order_by(audit_logs.c.seq.desc())
            .limit(queries.limit)
            .offset(queries.offset)
        )
        return total, list(conn.execute(statement).mappings())


# ---------------------------------------------------------------------------------------------
# Targets


def _target_row(conn: Connection, project_id: str, user_id: str, target_id: str) -> Row:
    row = conn.execute(
        sa.select(targets).where(
            targets.c.project_id == project_id, targets.c.user_id == user_id, targets.c.id == target_id
        )
    ).mappings().first()
    if row is None:
        raise AppwriteError("user_target_not_found")
    return row


def list_targets(db: Database, *, project_id: str, user_id: str, queries: ParsedQueries) -> tuple[int, list[Row]]:
    with db.read() as conn:
        _user_row(conn, project_id, user_id)
        total, rows = list_rows(
            conn,
            TARGET_LIST,
            where=sa.and_(targets.c.project_id == project_id, targets.c.user_id == user_id),
            queries=queries,
        )
        return total, [r._mapping for r in rows]


def get_target(db: Database, *, project_id: str, user_id: str, target_id: str) -> Row:
    with db.read() as conn:
        _user_row(conn, project_id, user_id)
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
    now = dates.now()
    try:
        with db.write() as conn:
            _user_row(conn, project_id, user_id)
            clash = conn.execute(
                sa.select(targets.c.seq).where(
                    targets.c.project_id == project_id,
                    sa.or_(targets.c.id == target_id, targets.c.identifier == identifier),
                )
            ).first()
            if clash:
                raise AppwriteError("user_target_already_exists")
            conn.execute(
                targets.insert().values(
                    project_id=project_id,
                    id=target_id,
                    created_at=now,
                    updated_at=now,
                    user_id=user_id,
                    name=name or "",
                    provider_id=provider_id,
                    provider_type=provider_type,
                    identifier=identifier,
                    expired=False,
                )
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
            _user_row(conn, project_id, user_id)
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


def delete_target(db: Database, *, project_id: str, user_id: str, target_id: str) -> None:
    with db.write() as conn:
        _user_row(conn, project_id, user_id)
        _target_row(conn, project_id, user_id, target_id)
        conn.execute(targets.delete().where(targets.c.project_id == project_id, targets.c.id == target_id))


# ---------------------------------------------------------------------------------------------
# Identities


def list_identities(
    db: Database, *, project_id: str, queries: ParsedQueries
) -> tuple[int, list[Row]]:
    with db.read() as conn:
        total, rows = list_rows(conn, IDENTITY_LIST, where=identities.c.project_id == project_id, queries=queries)
        return total, [r._mapping for r in rows]


def delete_identity(db: Database, *, project_id: str, identity_id: str) -> None:
    with db.write() as conn:
        deleted = conn.execute(
            identities.delete().where(identities.c.project_id == project_id, identities.c.id == identity_id)
        )
        if deleted.rowcount == 0:
            raise AppwriteError("user_identity_not_found")
