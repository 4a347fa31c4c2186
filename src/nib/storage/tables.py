"""The storage tables: buckets, files, and what is kept per file and per bucket beside them."""

from __future__ import annotations

import sqlalchemy as sa

from ..data.db.schema import metadata, resource_table
from ..data.db.types import JSONValue, UTCDateTime

# Buckets hold their settings; files are unique per bucket.
buckets = resource_table(
    "buckets",
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("permissions", JSONValue, nullable=False),
    sa.Column("file_security", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("maximum_file_size", sa.BigInteger, nullable=False),
    sa.Column("allowed_file_extensions", JSONValue, nullable=False),
    sa.Column("compression", sa.String(8), nullable=False, server_default="none"),
    sa.Column("encryption", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("antivirus", sa.Boolean, nullable=False, server_default=sa.true()),
    searchable=True,
)

# A file row exists from its first uploaded chunk on; ``status`` is "uploading" until every
# chunk is in and the object is assembled, then "ready" (signature and mimeType set). The bytes
# live on the device at ``object`` (under ``<project>/<bucket>/<file>/``); ``upload_handle`` is the
# device's multi-part handle while uploading. ``transform`` is the transforms module's record of
# how the stored object differs from the original (compression, encryption parameters).
files = sa.Table(
    "files",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.String(36), nullable=False),
    sa.Column("bucket_id", sa.String(36), nullable=False),
    sa.Column("id", sa.String(36), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("permissions", JSONValue, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="uploading"),
    sa.Column("mime_type", sa.String(255), nullable=False, server_default=""),
    sa.Column("signature", sa.String(32), nullable=False, server_default=""),
    sa.Column("size_original", sa.BigInteger, nullable=False),
    sa.Column("size_actual", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("chunks_total", sa.Integer, nullable=False),
    sa.Column("chunks_uploaded", sa.Integer, nullable=False, server_default="0"),
    # Chunks 1..n all received: what an upload in progress shows as chunksUploaded, because the
    # SDKs resume from chunksUploaded x chunk size and parallel chunks can leave gaps.
    sa.Column("chunks_contiguous", sa.Integer, nullable=False, server_default="0"),
    sa.Column("chunk_size", sa.BigInteger, nullable=False),
    sa.Column("object", sa.String(255), nullable=False),
    sa.Column("upload_handle", sa.Text, nullable=False, server_default=""),
    # While one request assembles the chunks (storage/chunks.py): until when it holds that job.
    sa.Column("completing_until", UTCDateTime, nullable=True),
    sa.Column("compression", sa.String(8), nullable=False, server_default="none"),
    sa.Column("encryption", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("transform", JSONValue, nullable=True),
    sa.Column("search", sa.Text, nullable=False, server_default=""),
    sa.UniqueConstraint("project_id", "bucket_id", "id"),
)

# Each bucket's totalSize: the sum of its files' size_original, kept by triggers on files
# (migration 0006), so a bucket read never sums its files.
bucket_sizes = sa.Table(
    "bucket_sizes",
    metadata,
    sa.Column("project_id", sa.String(36), primary_key=True),
    sa.Column("bucket_id", sa.String(36), primary_key=True),
    sa.Column("total_size", sa.BigInteger, nullable=False),
)

# The chunks of an upload received so far: the primary key makes a repeated chunk count once,
# whichever process receives it.
file_chunks = sa.Table(
    "file_chunks",
    metadata,
    sa.Column("file_seq", sa.Integer, sa.ForeignKey("files.seq", ondelete="CASCADE"), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
)

# Each file's permissions, one row per normalised permission string, for the lists of
# fileSecurity buckets: ``permission IN auth.permissions.granting(...)`` is an index probe per role.
file_permissions = sa.Table(
    "file_permissions",
    metadata,
    sa.Column("file_seq", sa.Integer, sa.ForeignKey("files.seq", ondelete="CASCADE"), primary_key=True),
    sa.Column("permission", sa.String(255), primary_key=True),
    sa.Index("ix_file_permissions_permission", "permission", "file_seq"),
)

# File tokens (the Tokens service): each names one file by its row (``file_seq``), so a file
# deleted and uploaded again under the same ID is another file; deleting a file (or its bucket)
# deletes its tokens. ``expire`` NULL = never; the JWT handed out as the token's secret is
# computed from these columns on every output (storage/file_tokens.py), never stored.
resource_tokens = resource_table(
    "resource_tokens",
    sa.Column("bucket_id", sa.String(36), nullable=False),
    sa.Column("file_id", sa.String(36), nullable=False),
    sa.Column("bucket_seq", sa.Integer, nullable=False),
    sa.Column("file_seq", sa.Integer, sa.ForeignKey("files.seq", ondelete="CASCADE"), nullable=False),
    sa.Column("expire", UTCDateTime, nullable=True),
    sa.Column("accessed_at", UTCDateTime, nullable=True),
    sa.Index("ix_resource_tokens_file_seq", "file_seq", "seq"),
)
