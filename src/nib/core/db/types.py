"""Column types shared by every table, identical on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB


class UTCDateTime(sa.TypeDecorator):
    """Stores naive UTC (microseconds); returns aware UTC datetimes.

    Naive storage keeps SQLite's text form sortable and comparable and maps to PostgreSQL
    ``timestamp`` without surprises from the session time zone.
    """

    impl = sa.DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


# JSON documents (prefs, labels, hash options); JSONB on PostgreSQL for containment operators.
JSONValue = sa.JSON().with_variant(JSONB(), "postgresql")
