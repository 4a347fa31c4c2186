"""console overview: per-day sign-up and sign-in counts, recent activity, teams and files totals

Revision ID: 0013
Revises: 0012

The console's project overview reads, for a project of any size, without touching its rows:

* ``ix_users_project_id_registration``: sign-ups per day, counted over an index range;
* ``ix_audit_logs_project_event_time``: sign-ins per day (the ``session.create`` entries);
* ``ix_audit_logs_project_seq``: the project's latest audit entries;
* ``totals`` rows for ``teams`` and ``files``, kept by the same triggers as ``users``'.
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_COUNTED = ("teams", "files")

# The per-project row counter of migration 0003, for more tables (same function on PostgreSQL).
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


def _counter_ddl(t: str, dialect: str) -> list[str]:
    backfill = (
        f"INSERT INTO totals (table_name, project_id, total) SELECT '{t}', project_id, count(*) FROM {t} "
        f"WHERE true GROUP BY project_id "
        f"ON CONFLICT (table_name, project_id) DO UPDATE SET total = excluded.total"
    )
    if dialect == "postgresql":
        return [
            _PG_FUNCTION,
            f"DROP TRIGGER IF EXISTS {t}_total ON {t}",
            f"CREATE TRIGGER {t}_total AFTER INSERT OR DELETE ON {t} FOR EACH ROW EXECUTE FUNCTION nib_count_rows()",
            # After the trigger: CREATE TRIGGER locks out writers until the commit, so every row counts once.
            backfill,
        ]
    return [
        f"CREATE TRIGGER IF NOT EXISTS {t}_total_ai AFTER INSERT ON {t} BEGIN "
        f"INSERT INTO totals (table_name, project_id, total) VALUES ('{t}', new.project_id, 1) "
        f"ON CONFLICT (table_name, project_id) DO UPDATE SET total = total + 1; END",
        f"CREATE TRIGGER IF NOT EXISTS {t}_total_ad AFTER DELETE ON {t} BEGIN "
        f"UPDATE totals SET total = total - 1 WHERE table_name = '{t}' AND project_id = old.project_id; END",
        backfill,
    ]


def upgrade() -> None:
    op.create_index("ix_users_project_id_registration", "users", ["project_id", "registration"])
    op.create_index("ix_audit_logs_project_event_time", "audit_logs", ["project_id", "event", "time"])
    op.create_index("ix_audit_logs_project_seq", "audit_logs", ["project_id", "seq"])
    dialect = op.get_bind().dialect.name
    for table in _COUNTED:
        for statement in _counter_ddl(table, dialect):
            op.execute(statement)


def downgrade() -> None:
    for table in _COUNTED:
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_total ON {table}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_total_ai")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_total_ad")
        op.execute(f"DELETE FROM totals WHERE table_name = '{table}'")
    op.drop_index("ix_audit_logs_project_seq", table_name="audit_logs")
    op.drop_index("ix_audit_logs_project_event_time", table_name="audit_logs")
    op.drop_index("ix_users_project_id_registration", table_name="users")
