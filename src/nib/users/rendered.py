"""Users as finished JSON, for pages of users (``GET /users``).

A page of 25 users with their targets cost more to query target by target and to turn into
Python objects and back into JSON than everything else in the request (bench/RESULTS.md). So:

* ``users.targets_json`` holds each user's targets as the JSON array of Target models (the keys,
  order and values of ``models.target``), kept by triggers on ``targets`` in the same
  transaction as every insert, update or delete — right whatever writes the rows, like
  ``data/totals.py``. A page reads it as raw JSON instead of its users' targets.
* On SQLite the whole User model is built by SQLite's JSON functions (``user_json``) and
  embedded in the response as is; PostgreSQL pages go through ``models.user``.

``tests/api/test_users_list.py`` checks that listed users equal the same users read one by one
(``GET /users/{id}`` joins the targets and renders them in Python).
"""

from __future__ import annotations

import sqlalchemy as sa

from ..auth.tables import users
from ..data.db.types import RawJSON, sqlite_datetime_text


def _pairs(fields: dict[str, sa.ColumnElement]) -> list[sa.ColumnElement]:
    return [item for key, value in fields.items() for item in (sa.literal_column(f"'{key}'"), value)]


def _boolean(column: sa.ColumnElement) -> sa.ColumnElement:
    return sa.func.json(sa.case((column, "true"), else_="false"))


def _date_or_empty(column: sa.ColumnElement) -> sa.ColumnElement:
    return sa.case((column.is_(None), ""), else_=sqlite_datetime_text(column))


def user_json() -> sa.Label:
    """SQLite: one column, ``user``, the User model of the row as JSON text (``models.user``)."""
    u = users.c
    model = sa.func.json_object(
        *_pairs(
            {
                "$id": u.id,
                "$createdAt": sqlite_datetime_text(u.created_at),
                "$updatedAt": sqlite_datetime_text(u.updated_at),
                "name": u.name,
                "password": u.password,
                "hash": u.hash,
                "hashOptions": sa.func.json(u.hash_options),
                "registration": sqlite_datetime_text(u.registration),
                "status": _boolean(u.status),
                "labels": sa.func.json(u.labels),
                "passwordUpdate": _date_or_empty(u.password_update),
                "email": sa.func.coalesce(u.email, ""),
                "phone": sa.func.coalesce(u.phone, ""),
                "emailVerification": _boolean(u.email_verification),
                "phoneVerification": _boolean(u.phone_verification),
                "mfa": _boolean(u.mfa),
                "prefs": sa.func.json(sa.func.coalesce(u.prefs, "{}")),
                "targets": sa.func.json(u.targets_json),
                "accessedAt": _date_or_empty(u.accessed_at),
            }
        )
    )
    return sa.type_coerce(model, RawJSON).label("user")


# A user's Target models, oldest first, for the user named by the trigger's row (``r``).
_SQLITE_TARGETS = """coalesce((SELECT json_group_array(json_object(
    '$id', t.id,
    '$createdAt', substr(t.created_at, 1, 10) || 'T' || substr(t.created_at, 12, 12) || '+00:00',
    '$updatedAt', substr(t.updated_at, 1, 10) || 'T' || substr(t.updated_at, 12, 12) || '+00:00',
    'name', t.name, 'userId', t.user_id, 'providerId', t.provider_id, 'providerType', t.provider_type,
    'identifier', t.identifier, 'expired', json(CASE WHEN t.expired THEN 'true' ELSE 'false' END)))
  FROM (SELECT * FROM targets WHERE project_id = {r}.project_id AND user_id = {r}.{user} ORDER BY seq) AS t), '[]')"""

_PG_TARGETS = """coalesce((SELECT json_agg(json_build_object(
    '$id', t.id,
    '$createdAt', to_char(t.created_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"+00:00"'),
    '$updatedAt', to_char(t.updated_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"+00:00"'),
    'name', t.name, 'userId', t.user_id, 'providerId', t.provider_id, 'providerType', t.provider_type,
    'identifier', t.identifier, 'expired', t.expired) ORDER BY t.seq)::text
  FROM targets t WHERE t.project_id = {r}.project_id AND t.user_id = {r}.{user}), '[]')"""

_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION nib_user_targets() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r targets%ROWTYPE;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    UPDATE users SET targets_json = {_PG_TARGETS.format(r="r", user="user_id")}
    WHERE project_id = r.project_id AND id = r.user_id;
    RETURN NULL;
END $$
"""


def targets_json_ddl(dialect_name: str) -> list[str]:
    """DDL that keeps ``users.targets_json`` right; run once after adding the column (fills it)."""
    if dialect_name == "sqlite":
        statements = [
            f"CREATE TRIGGER IF NOT EXISTS targets_json_{name} AFTER {event} ON targets BEGIN "
            f"UPDATE users SET targets_json = {_SQLITE_TARGETS.format(r=row, user='user_id')} "
            f"WHERE project_id = {row}.project_id AND id = {row}.user_id; END"
            for name, event, row in (("ai", "INSERT", "new"), ("au", "UPDATE", "new"), ("ad", "DELETE", "old"))
        ]
        backfill = _SQLITE_TARGETS.format(r="users", user="id")
    elif dialect_name == "postgresql":
        statements = [
            _PG_FUNCTION,
            "DROP TRIGGER IF EXISTS targets_json ON targets",
            "CREATE TRIGGER targets_json AFTER INSERT OR UPDATE OR DELETE ON targets "
            "FOR EACH ROW EXECUTE FUNCTION nib_user_targets()",
        ]
        backfill = _PG_TARGETS.format(r="users", user="id")
    else:
        raise ValueError(f"targets_json is not available on {dialect_name!r}")
    # After the triggers: a target written meanwhile is either in the backfill or in a trigger.
    return [*statements, f"UPDATE users SET targets_json = {backfill}"]
