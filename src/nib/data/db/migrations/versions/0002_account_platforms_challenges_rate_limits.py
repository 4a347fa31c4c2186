"""account platforms challenges

Revision ID: 0002
Revises: 0001
"""

import secrets
import time
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The column DDL of nib's datetimes: naive UTC ``timestamp`` on PostgreSQL, ISO text on SQLite.
_DATETIME = sa.DateTime(timezone=False).with_variant(sa.String(26), "sqlite")


def upgrade() -> None:
    op.create_table(
        "challenges",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", _DATETIME, nullable=False),
        sa.Column("updated_at", _DATETIME, nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("code_hash", sa.String(length=64), server_default="", nullable=False),
        sa.Column("expire", _DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_challenges")),
        sa.UniqueConstraint("project_id", "id", name=op.f("uq_challenges_project_id_id")),
    )
    with op.batch_alter_table("challenges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_challenges_user_id"), ["user_id"], unique=False)

    op.create_table(
        "instance_values",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_instance_values")),
    )
    op.create_table(
        "platforms",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", _DATETIME, nullable=False),
        sa.Column("updated_at", _DATETIME, nullable=False),
        sa.Column("type", sa.String(length=16), server_default="web", nullable=False),
        sa.Column("name", sa.String(length=128), server_default="", nullable=False),
        sa.Column("hostname", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_platforms")),
        sa.UniqueConstraint("project_id", "hostname", name=op.f("uq_platforms_project_id_hostname")),
        sa.UniqueConstraint("project_id", "id", name=op.f("uq_platforms_project_id_id")),
    )

    _register_localhost_for_default_project()


def _register_localhost_for_default_project() -> None:
    """Data step: an existing `default` project gets web platform `localhost`, as a new
    installation does (the bootstrap in auth/projects.py), so its local web apps keep working."""
    conn = op.get_bind()
    projects = sa.table("projects", sa.column("id", sa.String))
    platforms = sa.table(
        "platforms",
        sa.column("project_id", sa.String),
        sa.column("id", sa.String),
        sa.column("created_at", _DATETIME),
        sa.column("updated_at", _DATETIME),
        sa.column("type", sa.String),
        sa.column("name", sa.String),
        sa.column("hostname", sa.String),
    )
    if conn.execute(sa.select(projects.c.id).where(projects.c.id == "default")).first() is None:
        return
    registered = sa.select(platforms.c.id).where(
        platforms.c.project_id == "default", platforms.c.hostname == "localhost"
    )
    if conn.execute(registered).first() is not None:
        return
    now = _now(conn.dialect.name)
    conn.execute(
        platforms.insert().values(
            project_id="default",
            id=_unique_id(),
            created_at=now,
            updated_at=now,
            type="web",
            name="Localhost",
            hostname="localhost",
        )
    )


def _now(dialect_name: str) -> datetime | str:
    """The current UTC time to the millisecond, stored as nib stores datetimes: naive, and as
    ``YYYY-MM-DD HH:MM:SS.ffffff`` text on SQLite."""
    t = datetime.now(timezone.utc).replace(tzinfo=None)
    t = t.replace(microsecond=t.microsecond - t.microsecond % 1000)
    return t.isoformat(sep=" ", timespec="microseconds") if dialect_name == "sqlite" else t


def _unique_id() -> str:
    """An ID shaped like nib's: PHP ``uniqid()`` (8 hex of seconds, 5 of microseconds) and 7
    random hex, 20 characters."""
    seconds, micros = divmod(time.time_ns() // 1000, 1_000_000)
    return f"{seconds:08x}{micros:05x}{secrets.token_hex(4)[:7]}"


def downgrade() -> None:
    op.drop_table("platforms")
    op.drop_table("instance_values")
    op.drop_table("challenges")
