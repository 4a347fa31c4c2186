"""Deleting rows in small batches, for the clean-up job: many expired rows go without a long
write transaction (on SQLite one blocks every writer; on PostgreSQL it holds many row locks).

A batch reads the keys of up to ``limit`` matching rows outside any write transaction (the scan
that finds them may be long, on a column without an index), then deletes those rows in one short
transaction, where the condition must still hold: a row a request renewed meanwhile stays.
"""

from __future__ import annotations

import sqlalchemy as sa

from .db import Database
from .rows import Row

BATCH = 500  # rows per statement, unless the caller says otherwise


def delete_batch(
    db: Database, table: sa.Table, where: sa.ColumnElement[bool], limit: int, *returning: sa.Column[object]
) -> list[Row]:
    """Delete up to ``limit`` rows of ``table`` (oldest first) matching ``where``; the deleted rows'
    ``seq`` and ``returning`` columns."""
    with db.read() as conn:
        keys = list(conn.execute(sa.select(table.c.seq).where(where).order_by(table.c.seq).limit(limit)).scalars())
    if not keys:
        return []
    with db.write() as conn:
        deleted = conn.execute(table.delete().where(table.c.seq.in_(keys), where).returning(table.c.seq, *returning))
        return [dict(row) for row in deleted.mappings()]
