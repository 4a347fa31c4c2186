"""initial schema

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The column DDL of nib's datetimes: naive UTC ``timestamp`` on PostgreSQL, ISO text on SQLite.
_DATETIME = sa.DateTime(timezone=False).with_variant(sa.String(26), "sqlite")
# JSON documents; JSONB on PostgreSQL for its containment operators.
_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def _fts_ddl(table: str, dialect_name: str) -> list[str]:
    """Full-text index over ``table.search``: an external-content FTS5 table kept by triggers on
    SQLite, a GIN index on the column's space-separated words on PostgreSQL."""
    if dialect_name == "postgresql":
        return [
            f"CREATE INDEX IF NOT EXISTS {table}_search_idx ON {table} "
            f"USING GIN (array_to_tsvector(array_remove(string_to_array(search, ' '), '')))"
        ]
    fts = f"{table}_fts"
    return [
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5(search, content='{table}', "
        f"content_rowid='seq', tokenize=\"unicode61 remove_diacritics 0 tokenchars '_'\")",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_ai AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {fts}(rowid, search) VALUES (new.seq, new.search); END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_ad AFTER DELETE ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, search) VALUES ('delete', old.seq, old.search); END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_au AFTER UPDATE OF search ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, search) VALUES ('delete', old.seq, old.search); "
        f"INSERT INTO {fts}(rowid, search) VALUES (new.seq, new.search); END",
        f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",
    ]


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", _DATETIME, nullable=False),
        sa.Column("updated_at", _DATETIME, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", _JSON, nullable=False),
        sa.Column("expire", _DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("project_id", "id", name=op.f("uq_api_keys_project_id_id")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_api_keys_secret_hash")),
    )
    op.create_table(
        "audit_logs",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("resource", sa.String(length=128), server_default="", nullable=False),
        sa.Column("user_id", sa.String(length=36), server_default="", nullable=False),
        sa.Column("user_email", sa.String(length=320), server_default="", nullable=False),
        sa.Column("user_name", sa.String(length=128), server_default="", nullable=False),
        sa.Column("user_type", sa.String(length=8), nullable=False),
        sa.Column("key_id", sa.String(length=36), server_default="", nullable=False),
        sa.Column("mode", sa.String(length=16), server_default="default", nullable=False),
        sa.Column("ip", sa.String(length=45), server_default="", nullable=False),
        sa.Column("time", _DATETIME, nullable=False),
        sa.Column("client", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_logs")),
    )
    with op.batch_alter_table("audit_logs", schema=None) as batch_op:
        batch_op.create_index("ix_audit_logs_actor", ["project_id", "user_id", "seq"], unique=False)
        batch_op.create_index("ix_audit_logs_resource", ["project_id", "resource", "seq"], unique=False)

    op.create_table(
        "authenticators",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", _DATETIME, nullable=False),
        sa.Column("updated_at", _DATETIME, nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("verified", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_authenticators")),
        sa.UniqueConstraint("project_id", "id", name=op.f("uq_authenticators_project_id_id")),
        sa.UniqueConstraint("project_id", "user_id", "type", name=op.f("uq_authenticators_project_id_user_id_type")),
    )
    with op.batch_alter_table("authenticators", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_authenticators_user_id"), ["user_id"], unique=False)

    op.create_table(
        "identities",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", _DATETIME, nullable=False),
        sa.Column("updated_at", _DATETIME, nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("provider_uid", sa.String(length=320), nullable=False),
        sa.Column("provider_email", sa.String(length=320), server_default="", nullable=False),
        sa.Column("provider_access_token", sa.Text(), server_default="", nullable=False),
        sa.Column("provider_access_token_expiry", _DATETIME, nullable=True),
        sa.Column("provider_refresh_token", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_identities")),
        sa.UniqueConstraint("project_id", "id", name=op.f("uq_identities_project_id_id")),
    )
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_identities_user_id"), ["user_id"], unique=False)

    op.create_table(
        "memberships",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", _DATETIME, nullable=False),
        sa.Column("updated_at", _DATETIME, nullable=False),
        sa.Column("team_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("roles", _JSON, nullable=False),
        sa.Column("invited", _DATETIME, nullable=True),
        sa.Column("joined", _DATETIME, nullable=True),
        sa.Column("confirm", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=True),
        sa.Column("search", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_memberships")),
        sa.UniqueConstraint("project_id", "id", name=op.f("uq_memberships_project_id_id")),
        sa.UniqueConstraint("project_id", "team_id", "user_id", name=op.f("uq_memberships_project_id_team_id_user_id")),
    )
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_memberships_team_id"), ["team_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_memberships_user_id"), ["user_id"], unique=False)

    op.create_table(
        "projects",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", _DATETIME, nullable=False),
        sa.Column("updated_at", _DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_projects")),
        sa.UniqueConstraint("id", name=op.f("uq_projects_id")),
    )
    op.create_table(
        "sessions",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", _DATETIME, nullable=False),
        sa.Column("updated_at", _DATETIME, nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("expire", _DATETIME, nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("provider_uid", sa.String(length=320), server_default="", nullable=False),
        sa.Column("provider_access_token", sa.Text(), server_default="", nullable=False),
        sa.Column("provider_access_token_expiry", _DATETIME, nullable=True),
        sa.Column("provider_refresh_token", sa.Text(), server_default="", nullable=False),
        sa.Column("ip", sa.String(length=45), server_default="", nullable=False),
        sa.Column("client", _JSON, nullable=False),
        sa.Column("factors", _JSON, nullable=False),
        sa.Column("mfa_updated_at", _DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_sessions")),
        sa.UniqueConstraint("project_id", "id", name=op.f("uq_sessions_project_id_id")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_sessions_secret_hash")),
    )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "targets",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", _DATETIME, nullable=False),
        sa.Column("updated_at", _DATETIME, nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=128), server_default="", nullable=False),
        sa.Column("provider_id", sa.String(length=36), nullable=True),
        sa.Column("provider_type", sa.String(length=8), nullable=False),
        sa.Column("identifier", sa.String(length=320), nullable=False),
        sa.Column("expired", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_targets")),
        sa.UniqueConstraint("project_id", "id", name=op.f("uq_targets_project_id_id")),
        sa.UniqueConstraint("project_id", "identifier", name=op.f("uq_targets_project_id_identifier")),
    )
    with op.batch_alter_table("targets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_targets_user_id"), ["user_id"], unique=False)

    op.create_table(
        "teams",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", _DATETIME, nullable=False),
        sa.Column("updated_at", _DATETIME, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("total", sa.Integer(), server_default="0", nullable=False),
        sa.Column("prefs", _JSON, nullable=False),
        sa.Column("search", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_teams")),
        sa.UniqueConstraint("project_id", "id", name=op.f("uq_teams_project_id_id")),
    )
    op.create_table(
        "tokens",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", _DATETIME, nullable=False),
        sa.Column("updated_at", _DATETIME, nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("expire", _DATETIME, nullable=False),
        sa.Column("phrase", sa.String(length=64), server_default="", nullable=False),
        sa.Column("ip", sa.String(length=45), server_default="", nullable=False),
        sa.Column("user_agent", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_tokens")),
        sa.UniqueConstraint("project_id", "id", name=op.f("uq_tokens_project_id_id")),
    )
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tokens_secret_hash"), ["secret_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "users",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", _DATETIME, nullable=False),
        sa.Column("updated_at", _DATETIME, nullable=False),
        sa.Column("name", sa.String(length=128), server_default="", nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=16), nullable=True),
        sa.Column("password", sa.Text(), nullable=True),
        sa.Column("hash", sa.String(length=16), server_default="argon2", nullable=False),
        sa.Column("hash_options", _JSON, nullable=False),
        sa.Column("registration", _DATETIME, nullable=False),
        sa.Column("status", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("labels", _JSON, nullable=False),
        sa.Column("password_update", _DATETIME, nullable=True),
        sa.Column("email_verification", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("phone_verification", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("mfa", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("mfa_recovery_codes", _JSON, nullable=True),
        sa.Column("prefs", _JSON, nullable=False),
        sa.Column("accessed_at", _DATETIME, nullable=True),
        sa.Column("search", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_users")),
        sa.UniqueConstraint("project_id", "email", name=op.f("uq_users_project_id_email")),
        sa.UniqueConstraint("project_id", "id", name=op.f("uq_users_project_id_id")),
        sa.UniqueConstraint("project_id", "phone", name=op.f("uq_users_project_id_phone")),
    )

    # Full-text indexes (FTS5 on SQLite, tsvector GIN on PostgreSQL) for the searchable tables.
    for table in ("users", "teams", "memberships"):
        for statement in _fts_ddl(table, op.get_bind().dialect.name):
            op.execute(statement)


def downgrade() -> None:
    op.drop_table("users")
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tokens_user_id"))
        batch_op.drop_index(batch_op.f("ix_tokens_secret_hash"))

    op.drop_table("tokens")
    op.drop_table("teams")
    with op.batch_alter_table("targets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_targets_user_id"))

    op.drop_table("targets")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sessions_user_id"))

    op.drop_table("sessions")
    op.drop_table("projects")
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_memberships_user_id"))
        batch_op.drop_index(batch_op.f("ix_memberships_team_id"))

    op.drop_table("memberships")
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identities_user_id"))

    op.drop_table("identities")
    with op.batch_alter_table("authenticators", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_authenticators_user_id"))

    op.drop_table("authenticators")
    with op.batch_alter_table("audit_logs", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_logs_resource")
        batch_op.drop_index("ix_audit_logs_actor")

    op.drop_table("audit_logs")
    op.drop_table("api_keys")
