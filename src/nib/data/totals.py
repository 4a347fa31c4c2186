"""Row counts per project kept by the database itself, for the totals of unfiltered lists.

Counting the rows of a project for a list's ``total`` (capped at 5000) reads up to 5000 index
entries on every request; the ``totals`` table holds the exact count instead, maintained by
triggers in the same transaction as each insert or delete, so it is right whatever writes the
rows (services, the benchmark's direct inserts) and under concurrent writers: SQLite runs one
writer at a time, and on PostgreSQL the counter row's lock orders concurrent transactions.
A project's ``project_id`` never changes, so updates leave the counts alone.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from .db import Database
from .db.schema import totals

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")

# One trigger function for every counted table (its name comes from TG_TABLE_NAME).
_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION nib_count_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO totals (table_name, project_id, total) VALUES (TG_TABLE_NAME, NEW.project_id, 1)
        ON CONFLICT (table_name, project_id) DO UPDATE SET total = totals.total + 1;
    ELSE
        UPDATE totals SET total = total - 1 WHERE table_name = TG_TABLE_NAME AND project_id = OLD.project_id;
    END IF;
    RETURN NULL;
END $$
"""


def counter_ddl(table_name: str, dialect_name: str) -> list[str]:
    """DDL that keeps ``totals`` counting ``table_name``'s rows per project; run once after
    creating ``totals`` and the table. Safe on a table that already holds rows (they are counted).
    """
    if not _IDENTIFIER.fullmatch(table_name):
        raise ValueError(f"not a plain table name: {table_name!r}")
    t = table_name
    backfill = (
        f"INSERT INTO totals (table_name, project_id, total) SELECT '{t}', project_id, count(*) FROM {t} "
        f"WHERE true GROUP BY project_id "
        f"ON CONFLICT (table_name, project_id) DO UPDATE SET total = excluded.total"
    )
    if dialect_name == "sqlite":
        return [
            f"CREATE TRIGGER IF NOT EXISTS {t}_total_ai AFTER INSERT ON {t} BEGIN "
            f"INSERT INTO totals (table_name, project_id, total) VALUES ('{t}', new.project_id, 1) "
            f"ON CONFLICT (table_name, project_id) DO UPDATE SET total = total + 1; END",
            f"CREATE TRIGGER IF NOT EXISTS {t}_total_ad AFTER DELETE ON {t} BEGIN "
            f"UPDATE totals SET total = total - 1 WHERE table_name = '{t}' AND project_id = old.project_id; END",
            backfill,
        ]
    if dialect_name == "postgresql":
        return [
            _PG_FUNCTION,
            f"DROP TRIGGER IF EXISTS {t}_total ON {t}",
            f"CREATE TRIGGER {t}_total AFTER INSERT OR DELETE ON {t} FOR EACH ROW EXECUTE FUNCTION nib_count_rows()",
            # CREATE TRIGGER locks out writers until the migration commits: every row counts once.
            backfill,
        ]
    raise ValueError(f"row totals are not available on {dialect_name!r}")


def project_total(db: Database, table_name: str, project_id: str) -> int:
    """The project's row count of a counted table (one primary-key read); 0 when it never had one."""
    query = sa.select(totals.c.total).where(totals.c.table_name == table_name, totals.c.project_id == project_id)
    with db.read() as conn:
        return int(conn.execute(query).scalar() or 0)
