"""storage: buckets, files, their chunks and permissions

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
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
        "buckets",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", _DATETIME, nullable=False),
        sa.Column("updated_at", _DATETIME, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("permissions", _JSON, nullable=False),
        sa.Column("file_security", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("maximum_file_size", sa.BigInteger(), nullable=False),
        sa.Column("allowed_file_extensions", _JSON, nullable=False),
        sa.Column("compression", sa.String(length=8), server_default="none", nullable=False),
        sa.Column("encryption", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("antivirus", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("search", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_buckets")),
        sa.UniqueConstraint("project_id", "id", name=op.f("uq_buckets_project_id_id")),
    )
    op.create_table(
        "files",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("bucket_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", _DATETIME, nullable=False),
        sa.Column("updated_at", _DATETIME, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("permissions", _JSON, nullable=False),
        sa.Column("status", sa.String(length=16), server_default="uploading", nullable=False),
        sa.Column("mime_type", sa.String(length=255), server_default="", nullable=False),
        sa.Column("signature", sa.String(length=32), server_default="", nullable=False),
        sa.Column("size_original", sa.BigInteger(), nullable=False),
        sa.Column("size_actual", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("chunks_total", sa.Integer(), nullable=False),
        sa.Column("chunks_uploaded", sa.Integer(), server_default="0", nullable=False),
        sa.Column("chunks_contiguous", sa.Integer(), server_default="0", nullable=False),
        sa.Column("chunk_size", sa.BigInteger(), nullable=False),
        sa.Column("object", sa.String(length=255), nullable=False),
        sa.Column("upload_handle", sa.Text(), server_default="", nullable=False),
        sa.Column("completing_until", _DATETIME, nullable=True),
        sa.Column("compression", sa.String(length=8), server_default="none", nullable=False),
        sa.Column("encryption", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("transform", _JSON, nullable=True),
        sa.Column("search", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_files")),
        sa.UniqueConstraint("project_id", "bucket_id", "id", name=op.f("uq_files_project_id_bucket_id_id")),
    )
    op.create_table(
        "file_chunks",
        sa.Column("file_seq", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_seq"], ["files.seq"], name=op.f("fk_file_chunks_file_seq_files"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("file_seq", "number", name=op.f("pk_file_chunks")),
    )
    op.create_table(
        "file_permissions",
        sa.Column("file_seq", sa.Integer(), nullable=False),
        sa.Column("permission", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_seq"], ["files.seq"], name=op.f("fk_file_permissions_file_seq_files"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("file_seq", "permission", name=op.f("pk_file_permissions")),
    )
    op.create_index("ix_file_permissions_permission", "file_permissions", ["permission", "file_seq"], unique=False)
    for table in ("buckets", "files"):
        for statement in _fts_ddl(table, op.get_bind().dialect.name):
            op.execute(statement)


def downgrade() -> None:
    for table in ("buckets", "files"):
        if op.get_bind().dialect.name == "sqlite":
            for suffix in ("ai", "ad", "au"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_fts_{suffix}")
            op.execute(f"DROP TABLE IF EXISTS {table}_fts")
    op.drop_index("ix_file_permissions_permission", table_name="file_permissions")
    op.drop_table("file_permissions")
    op.drop_table("file_chunks")
    op.drop_table("files")
    op.drop_table("buckets")
