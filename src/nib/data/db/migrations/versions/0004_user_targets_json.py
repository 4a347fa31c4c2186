"""user targets json

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# A user's targets as the JSON array of Target models, oldest first; ``{r}`` is the row naming
# the user (its project and ``{user}`` column).
_SQLITE_TARGETS = """coalesce((SELECT json_group_array(json_object(
    '$id', t.id,
    '$createdAt', substr(t.created_at, 1, 10) || 'T' || substr(t.created_at, 12, 12) || '+00:00',
    '$updatedAt', substr(t.updated_at, 1, 10) || 'T' || substr(t.updated_at, 12, 12) || '+00:00',
    'name', t.name, 'userId', t.user_id, 'providerId', t.provider_id, 'providerType', t.provider_type,
    'identifier', t.identifier, 'expired', json(CASE WHEN t.expired THEN 'true' ELSE 'false' END)))
  FROM (SELECT * FROM targets WHERE project_id = {r}.project_id AND user_id = {r}.{user} ORDER BY seq) AS t), '[]')"""

_PG_TARGETS = """coalesce((SELECT json_agg(json_build_object(
    '$id', t.id,
    '$createdAt', to_char(t.created_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"+00:00"'),
    '$updatedAt', to_char(t.updated_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"+00:00"'),
    'name', t.name, 'userId', t.user_id, 'providerId', t.provider_id, 'providerType', t.provider_type,
    'identifier', t.identifier, 'expired', t.expired) ORDER BY t.seq)::text
  FROM targets t WHERE t.project_id = {r}.project_id AND t.user_id = {r}.{user}), '[]')"""

_SQLITE = [
    f"CREATE TRIGGER IF NOT EXISTS targets_json_{name} AFTER {event} ON targets BEGIN "
    f"UPDATE users SET targets_json = {_SQLITE_TARGETS.format(r=row, user='user_id')} "
    f"WHERE project_id = {row}.project_id AND id = {row}.user_id; END"
    for name, event, row in (("ai", "INSERT", "new"), ("au", "UPDATE", "new"), ("ad", "DELETE", "old"))
]

_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION nib_user_targets() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r targets%ROWTYPE;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    UPDATE users SET targets_json = {_PG_TARGETS.format(r="r", user="user_id")}
    WHERE project_id = r.project_id AND id = r.user_id;
    RETURN NULL;
END $$
"""

_POSTGRESQL = [
    _PG_FUNCTION,
    "DROP TRIGGER IF EXISTS targets_json ON targets",
    "CREATE TRIGGER targets_json AFTER INSERT OR UPDATE OR DELETE ON targets "
    "FOR EACH ROW EXECUTE FUNCTION nib_user_targets()",
]


def upgrade() -> None:
    # A plain ADD COLUMN (never a table rebuild, which would drop the users' triggers).
    op.add_column("users", sa.Column("targets_json", sa.Text(), server_default="[]", nullable=False))
    if op.get_bind().dialect.name == "postgresql":
        statements, backfill = _POSTGRESQL, _PG_TARGETS.format(r="users", user="id")
    else:
        statements, backfill = _SQLITE, _SQLITE_TARGETS.format(r="users", user="id")
    for statement in statements:
        op.execute(statement)
    # After the triggers: a target written meanwhile is either in the backfill or in a trigger.
    op.execute(f"UPDATE users SET targets_json = {backfill}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS targets_json ON targets")
        op.execute("DROP FUNCTION IF EXISTS nib_user_targets()")
    else:
        for name in ("ai", "au", "ad"):
            op.execute(f"DROP TRIGGER IF EXISTS targets_json_{name}")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("targets_json")
