"""bucket sizes: each bucket's totalSize kept by triggers on files

Revision ID: 0006
Revises: 0005

``bucket_sizes`` holds the sum of ``size_original`` of each bucket's files, so reading a bucket
no longer sums its files. The triggers update it only while the bucket row exists: deleting a
bucket deletes its row first, then its files (whose triggers then leave the counter alone), then
the counter row. On PostgreSQL that keeps one lock order — a file row before the counter row —
in every transaction, so a file delete racing a bucket delete cannot deadlock.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BUCKET_OF = "EXISTS (SELECT 1 FROM buckets WHERE project_id = {row}.project_id AND id = {row}.bucket_id)"
_ADD = (
    "INSERT INTO bucket_sizes (project_id, bucket_id, total_size) VALUES ({row}.project_id, {row}.bucket_id, "
    "{row}.size_original) ON CONFLICT (project_id, bucket_id) DO UPDATE SET "
    "total_size = bucket_sizes.total_size + excluded.total_size"
)
_SUBTRACT = (
    "UPDATE bucket_sizes SET total_size = total_size - {row}.size_original "
    "WHERE project_id = {row}.project_id AND bucket_id = {row}.bucket_id"
)

_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION nib_bucket_size() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') AND {_BUCKET_OF.format(row="OLD")} THEN
        {_SUBTRACT.format(row="OLD")};
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND {_BUCKET_OF.format(row="NEW")} THEN
        {_ADD.format(row="NEW")};
    END IF;
    RETURN NULL;
END $$
"""

_SQLITE_TRIGGERS = [
    f"CREATE TRIGGER files_size_ai AFTER INSERT ON files WHEN {_BUCKET_OF.format(row='new')} "
    f"BEGIN {_ADD.format(row='new')}; END",
    f"CREATE TRIGGER files_size_ad AFTER DELETE ON files WHEN {_BUCKET_OF.format(row='old')} "
    f"BEGIN {_SUBTRACT.format(row='old')}; END",
    f"CREATE TRIGGER files_size_au AFTER UPDATE OF size_original ON files "
    f"WHEN old.size_original != new.size_original AND {_BUCKET_OF.format(row='new')} "
    f"BEGIN {_SUBTRACT.format(row='old')}; {_ADD.format(row='new')}; END",
]

_BACKFILL = (
    "INSERT INTO bucket_sizes (project_id, bucket_id, total_size) "
    "SELECT files.project_id, files.bucket_id, sum(files.size_original) FROM files "
    "JOIN buckets ON buckets.project_id = files.project_id AND buckets.id = files.bucket_id "
    "GROUP BY files.project_id, files.bucket_id"
)


def upgrade() -> None:
    op.create_table(
        "bucket_sizes",
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("bucket_id", sa.String(length=36), nullable=False),
        sa.Column("total_size", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "bucket_id", name=op.f("pk_bucket_sizes")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER files_bucket_size AFTER INSERT OR DELETE OR UPDATE OF size_original ON files "
            "FOR EACH ROW EXECUTE FUNCTION nib_bucket_size()"
        )
    else:
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)
    # After the triggers: CREATE TRIGGER locks out writers on PostgreSQL until the commit.
    op.execute(_BACKFILL)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS files_bucket_size ON files")
        op.execute("DROP FUNCTION IF EXISTS nib_bucket_size()")
    else:
        for name in ("files_size_ai", "files_size_ad", "files_size_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("bucket_sizes")
