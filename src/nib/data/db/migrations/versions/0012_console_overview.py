"""console overview: per-day sign-up and sign-in counts, recent activity, teams and files totals

Revision ID: 0012
Revises: 0011

The console's project overview reads, for a project of any size, without touching its rows:

* ``ix_users_project_id_registration``: sign-ups per day, counted over an index range;
* ``ix_audit_logs_project_event_time``: sign-ins per day (the ``session.create`` entries);
* ``ix_audit_logs_project_seq``: the project's latest audit entries;
* ``totals`` rows for ``teams`` and ``files``, kept by the same triggers as ``users``'.
"""

from alembic import op

from nib.data.totals import counter_ddl

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_COUNTED = ("teams", "files")


def upgrade() -> None:
    op.create_index("ix_users_project_id_registration", "users", ["project_id", "registration"])
    op.create_index("ix_audit_logs_project_event_time", "audit_logs", ["project_id", "event", "time"])
    op.create_index("ix_audit_logs_project_seq", "audit_logs", ["project_id", "seq"])
    dialect = op.get_bind().dialect.name
    for table in _COUNTED:
        for statement in counter_ddl(table, dialect):
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
