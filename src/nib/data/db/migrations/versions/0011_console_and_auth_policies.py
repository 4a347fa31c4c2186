"""the console's administrators and sessions; per-project auth policies; password history

Revision ID: 0011
Revises: 0010

* ``console_admins``: the people who sign in to the web console (``/console``); they belong to
  no project. ``console_sessions``: their sessions (secret and CSRF token as SHA-256 digests).
* ``projects.auths``: the project's auth policies and methods as a JSON object holding only what
  was changed from Appwrite's defaults (``auth/projects.py`` reads it with the defaults filled in).
* ``users.password_history``: the hashes of a user's latest passwords, newest first, for the
  password-history policy.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")
# The column DDL of nib's datetimes: naive UTC ``timestamp`` on PostgreSQL, ISO text on SQLite.
_DATETIME = sa.DateTime(timezone=False).with_variant(sa.String(26), "sqlite")


def upgrade() -> None:
    op.create_table(
        "console_admins",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=128), server_default="", nullable=False),
        sa.Column("password", sa.Text(), nullable=False),
        sa.Column("created_at", _DATETIME, nullable=False),
        sa.Column("updated_at", _DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_console_admins")),
        sa.UniqueConstraint("id", name=op.f("uq_console_admins_id")),
        sa.UniqueConstraint("email", name=op.f("uq_console_admins_email")),
    )
    op.create_table(
        "console_sessions",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("admin_id", sa.String(length=36), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("csrf_hash", sa.String(length=64), nullable=False),
        sa.Column("expire", _DATETIME, nullable=False),
        sa.Column("ip", sa.String(length=45), server_default="", nullable=False),
        sa.Column("created_at", _DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_console_sessions")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_console_sessions_secret_hash")),
    )
    op.create_index("ix_console_sessions_admin_id", "console_sessions", ["admin_id"])
    op.add_column("projects", sa.Column("auths", _JSON, nullable=False, server_default=sa.text("'{}'")))
    op.add_column("users", sa.Column("password_history", _JSON, nullable=False, server_default=sa.text("'[]'")))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy of `users` would lose its triggers.
    op.drop_column("users", "password_history")
    op.drop_column("projects", "auths")
    op.drop_index("ix_console_sessions_admin_id", table_name="console_sessions")
    op.drop_table("console_sessions")
    op.drop_table("console_admins")
