"""Users as finished JSON, for pages of users (``GET /users``).

A page of 25 users with their targets cost more to query target by target and to turn into
Python objects and back into JSON than everything else in the request (bench/RESULTS.md). So:

* ``users.targets_json`` holds each user's targets as the JSON array of Target models (the keys,
  order and values of ``models.target``), kept by triggers on ``targets`` (created by migration
  0004) in the same transaction as every insert, update or delete — right whatever writes the
  rows, like ``data/totals.py``. A page reads it as raw JSON instead of its users' targets.
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


def user_json(*, impersonation: bool) -> sa.Label:
    """SQLite: one column, ``user``, the User model of the row as JSON text (``models.user``)."""
    u = users.c
    newer = {"impersonator": _boolean(u.impersonator), "impersonatorUserId": sa.null()} if impersonation else {}
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
                **newer,
            }
        )
    )
    return sa.type_coerce(model, RawJSON).label("user")
