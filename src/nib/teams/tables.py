"""The teams table (memberships are auth's: roles read them for every request)."""

from __future__ import annotations

import sqlalchemy as sa

from ..data.db.schema import resource_table
from ..data.db.types import JSONValue

teams = resource_table(
    "teams",
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("total", sa.Integer, nullable=False, server_default="0"),
    sa.Column("prefs", JSONValue, nullable=False),
    searchable=True,
)
