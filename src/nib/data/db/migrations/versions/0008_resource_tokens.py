"""file tokens: resource_tokens, one row per token of a file

Revision ID: 0008
Revises: 0007

A token points at its file's row (``file_seq``, cascading: deleting a file or its bucket
deletes the file's tokens); lists of a file's tokens read the ``(file_seq, seq)`` index.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# The column DDL of nib's datetimes: naive UTC ``timestamp`` on PostgreSQL, ISO text on SQLite.
_DATETIME = sa.DateTime(timezone=False).with_variant(sa.String(26), "sqlite")


def upgrade() -> None:
    op.create_table(
        "resource_tokens",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", _DATETIME, nullable=False),
        sa.Column("updated_at", _DATETIME, nullable=False),
        sa.Column("bucket_id", sa.String(length=36), nullable=False),
        sa.Column("file_id", sa.String(length=36), nullable=False),
        sa.Column("bucket_seq", sa.Integer(), nullable=False),
        sa.Column("file_seq", sa.Integer(), nullable=False),
        sa.Column("expire", _DATETIME, nullable=True),
        sa.Column("accessed_at", _DATETIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["file_seq"], ["files.seq"], name=op.f("fk_resource_tokens_file_seq_files"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_resource_tokens")),
        sa.UniqueConstraint("project_id", "id", name=op.f("uq_resource_tokens_project_id_id")),
    )
    op.create_index("ix_resource_tokens_file_seq", "resource_tokens", ["file_seq", "seq"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_resource_tokens_file_seq", table_name="resource_tokens")
    op.drop_table("resource_tokens")
