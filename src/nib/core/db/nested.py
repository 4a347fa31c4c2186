"""Rows owned by each row of a page, selected inside the page's statement as one JSON column.

A page of 25 users and then their targets is two statements, and the second (an expanded IN
of 25 ids, then 50 driver rows turned into dicts) costs more in Python than in the database.
``Nested`` is a correlated subquery that aggregates the owned rows of each selected row into a
JSON array of objects by column key, in the given order; ``rows`` turns one such array back into
the values the columns hold (aware datetimes, booleans), as ``Database.run`` returns them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by

from .types import UTCDateTime, utc_from_text

Row = dict[str, Any]


class Nested:
    """The rows of ``select`` (correlated to the outer statement's table) as one JSON column.

    ``select``'s selected columns are the keys of each row; ``order`` must be among them.
    """

    def __init__(self, select: sa.Select, order: sa.ColumnElement) -> None:
        if any(isinstance(column.type, sa.JSON) for column in select.selected_columns):
            raise ValueError("JSON columns would nest as text on SQLite")
        self._inner = select.add_columns(order.label("_order")).order_by(order).subquery("nested")
        self._columns = [column for column in self._inner.c if column.key != "_order"]
        self._conversions = [
            (column.key, convert) for column in self._columns if (convert := _converter(column.type)) is not None
        ]

    def column(self, dialect: str, name: str) -> sa.Label:
        """The JSON array column named ``name`` for a statement on ``dialect``; ``[]`` for no rows."""
        pairs = [item for column in self._columns for item in (sa.literal_column(f"'{column.key}'"), column)]
        if dialect == "postgresql":
            aggregate = sa.func.json_agg(aggregate_order_by(sa.func.json_build_object(*pairs), self._inner.c._order))
        else:
            # SQLite keeps a FROM subquery's ORDER BY for aggregates other than count/min/max.
            aggregate = sa.func.json_group_array(sa.func.json_object(*pairs))
        array = sa.func.coalesce(aggregate, sa.literal_column("'[]'"))  # json_agg of no rows is NULL
        # Typed JSON so that Prepared decodes it where the driver does not (SQLite).
        return sa.type_coerce(sa.select(array).select_from(self._inner).scalar_subquery(), sa.JSON).label(name)

    def rows(self, value: list[Row]) -> list[Row]:
        """One decoded JSON array as rows by column key, with datetimes and booleans restored."""
        for row in value:
            for key, convert in self._conversions:
                found = row[key]
                if found is not None:
                    row[key] = convert(found)
        return value


def _converter(column_type) -> Callable[[Any], Any] | None:
    if isinstance(column_type, UTCDateTime):
        return utc_from_text  # SQLite's stored text, ISO 8601 from PostgreSQL
    if isinstance(column_type, sa.Boolean):
        return bool  # SQLite's json_object has no booleans: 0 and 1
    return None
