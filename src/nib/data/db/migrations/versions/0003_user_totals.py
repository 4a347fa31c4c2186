"""user totals

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Counts the rows already there; the triggers keep the count from then on.
_BACKFILL = (
    "INSERT INTO totals (table_name, project_id, total) SELECT 'users', project_id, count(*) FROM users "
    "WHERE true GROUP BY project_id "
    "ON CONFLICT (table_name, project_id) DO UPDATE SET total = excluded.total"
)

_SQLITE = [
    "CREATE TRIGGER IF NOT EXISTS users_total_ai AFTER INSERT ON users BEGIN "
    "INSERT INTO totals (table_name, project_id, total) VALUES ('users', new.project_id, 1) "
    "ON CONFLICT (table_name, project_id) DO UPDATE SET total = total + 1; END",
    "CREATE TRIGGER IF NOT EXISTS users_total_ad AFTER DELETE ON users BEGIN "
    "UPDATE totals SET total = total - 1 WHERE table_name = 'users' AND project_id = old.project_id; END",
    _BACKFILL,
]

# One trigger function that any counted table can use: the table's name comes from TG_TABLE_NAME.
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

_POSTGRESQL = [
    _PG_FUNCTION,
    "DROP TRIGGER IF EXISTS users_total ON users",
    "CREATE TRIGGER users_total AFTER INSERT OR DELETE ON users FOR EACH ROW EXECUTE FUNCTION nib_count_rows()",
    # After the trigger: CREATE TRIGGER locks out writers until the commit, so every row counts once.
    _BACKFILL,
]


def upgrade() -> None:
    op.create_table(
        "totals",
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("table_name", "project_id", name=op.f("pk_totals")),
    )
    for statement in _POSTGRESQL if op.get_bind().dialect.name == "postgresql" else _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS users_total ON users")
        op.execute("DROP FUNCTION IF EXISTS nib_count_rows()")
    else:
        op.execute("DROP TRIGGER IF EXISTS users_total_ai")
        op.execute("DROP TRIGGER IF EXISTS users_total_ad")
    op.drop_table("totals")
