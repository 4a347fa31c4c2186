"""Column types shared by every table, identical on SQLite and PostgreSQL."""

from __future__ import annotations

import functools
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Stores naive UTC (microseconds); returns aware UTC datetimes.

    Naive storage maps to PostgreSQL ``timestamp`` without surprises from the session time zone.
    On SQLite the value is ISO text (``YYYY-MM-DD HH:MM:SS.ffffff``): sortable, comparable, and
    parsed with ``datetime.fromisoformat`` rather than SQLAlchemy's slower regular expression.
    """

    impl = sa.DateTime(timezone=False)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(26))
        return dialect.type_descriptor(sa.DateTime(timezone=False))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | str | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        if dialect.name == "sqlite":
            return value.isoformat(sep=" ", timespec="microseconds")
        return value

    def process_result_value(self, value: datetime | str | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            return utc_from_text(value)
        return value.replace(tzinfo=timezone.utc)


# A row's datetimes mostly repeat (created = updated = registration, its targets' too): a cache
# hit costs less than parsing, and hands ``dates.fmt`` the same object, whose hash is kept.
@functools.lru_cache(maxsize=4096)
def utc_from_text(value: str) -> datetime:
    """Stored text (SQLite's ``YYYY-MM-DD HH:MM:SS.ffffff``, or ISO 8601 from PostgreSQL's JSON)
    as an aware UTC datetime."""
    # Appending the offset is several times faster than parsing then replace(tzinfo=…).
    return datetime.fromisoformat(value + "+00:00")


class RawJSON(sa.types.TypeDecorator[str]):
    """JSON text that is only ever sent on, never read by nib: stored as text and handed to the
    response as ``orjson.Fragment`` (no decode, no re-encode)."""

    impl = sa.Text
    cache_ok = True


def sqlite_datetime_text(column: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    """``dates.fmt`` in SQLite: stored ``YYYY-MM-DD HH:MM:SS.ffffff`` -> ``YYYY-MM-DDTHH:MM:SS.mmm+00:00``."""
    return sa.func.substr(column, 1, 10) + "T" + sa.func.substr(column, 12, 12) + "+00:00"


# JSON documents (prefs, labels, hash options); JSONB on PostgreSQL for containment operators.
JSONValue = sa.JSON().with_variant(JSONB(), "postgresql")


def day_text(column: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[str]:
    """A stored datetime's UTC day as ``YYYY-MM-DD`` text, for grouping by day on both databases."""
    if dialect == "sqlite":
        return sa.func.substr(column, 1, 10)
    return sa.func.to_char(column, "YYYY-MM-DD")
