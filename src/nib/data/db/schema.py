"""The one schema, shared by SQLite and PostgreSQL.

Conventions: every resource table has an internal ``seq`` (insertion order, default sort and
cursor tie-breaker), ``project_id`` (every query filters on it: projects are isolated), the public
``id`` (Appwrite's ``$id``, unique per project) and ``created_at``/``updated_at``. Searchable
tables carry ``search``: normalised text maintained by the services and indexed by FTS5 or a
tsvector GIN index (see data/search.py). Secrets are stored only as SHA-256 hex digests.
Schema changes go through Alembic migrations in ``migrations/versions``.
"""

from __future__ import annotations

import sqlalchemy as sa

from .types import JSONValue, RawJSON, UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _resource(name: str, *columns: sa.schema.SchemaItem, searchable: bool = False) -> sa.Table:
    """A project-scoped resource table with the shared leading columns."""
    extra = [sa.Column("search", sa.Text, nullable=False, server_default="")] if searchable else []
    return sa.Table(
        name,
        metadata,
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        *columns,
        *extra,
        sa.UniqueConstraint("project_id", "id"),
    )


projects = sa.Table(
    "projects",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

api_keys = _resource(
    "api_keys",
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("scopes", JSONValue, nullable=False),
    sa.Column("expire", UTCDateTime, nullable=True),
)

users = _resource(
    "users",
    sa.Column("name", sa.String(128), nullable=False, server_default=""),
    sa.Column("email", sa.String(320), nullable=True),
    sa.Column("phone", sa.String(16), nullable=True),
    sa.Column("password", sa.Text, nullable=True),
    sa.Column("hash", sa.String(16), nullable=False, server_default="argon2"),
    sa.Column("hash_options", JSONValue, nullable=False),
    sa.Column("registration", UTCDateTime, nullable=False),
    sa.Column("status", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("labels", JSONValue, nullable=False),
    sa.Column("password_update", UTCDateTime, nullable=True),
    sa.Column("email_verification", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("phone_verification", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("mfa", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("mfa_recovery_codes", JSONValue, nullable=True),
    sa.Column("prefs", JSONValue, nullable=False),
    sa.Column("accessed_at", UTCDateTime, nullable=True),
    # The user's targets as the JSON array of Target models, kept by triggers on `targets`
    # (users/rendered.py): a page of users reads it instead of its users' targets.
    sa.Column("targets_json", RawJSON, nullable=False, server_default="[]"),
    sa.UniqueConstraint("project_id", "email"),
    sa.UniqueConstraint("project_id", "phone"),
    searchable=True,
)

# Rows per project of the counted tables (users), kept exact by triggers (data/totals.py).
totals = sa.Table(
    "totals",
    metadata,
    sa.Column("table_name", sa.String(64), primary_key=True),
    sa.Column("project_id", sa.String(36), primary_key=True),
    sa.Column("total", sa.Integer, nullable=False),
)

sessions = _resource(
    "sessions",
    sa.Column("user_id", sa.String(36), nullable=False, index=True),
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("expire", UTCDateTime, nullable=False),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("provider_uid", sa.String(320), nullable=False, server_default=""),
    sa.Column("provider_access_token", sa.Text, nullable=False, server_default=""),
    sa.Column("provider_access_token_expiry", UTCDateTime, nullable=True),
    sa.Column("provider_refresh_token", sa.Text, nullable=False, server_default=""),
    sa.Column("ip", sa.String(45), nullable=False, server_default=""),
    # The 12 device fields parsed from the User-Agent plus countryCode (tools/useragent.py).
    sa.Column("client", JSONValue, nullable=False),
    sa.Column("factors", JSONValue, nullable=False),
    sa.Column("mfa_updated_at", UTCDateTime, nullable=True),
)

tokens = _resource(
    "tokens",
    sa.Column("user_id", sa.String(36), nullable=False, index=True),
    # generic (server-created), magic-url, email, recovery, verification, …
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False, index=True),
    sa.Column("expire", UTCDateTime, nullable=False),
    sa.Column("phrase", sa.String(64), nullable=False, server_default=""),
    sa.Column("ip", sa.String(45), nullable=False, server_default=""),
    sa.Column("user_agent", sa.Text, nullable=False, server_default=""),
)

targets = _resource(
    "targets",
    sa.Column("user_id", sa.String(36), nullable=False, index=True),
    sa.Column("name", sa.String(128), nullable=False, server_default=""),
    sa.Column("provider_id", sa.String(36), nullable=True),
    sa.Column("provider_type", sa.String(8), nullable=False),
    sa.Column("identifier", sa.String(320), nullable=False),
    sa.Column("expired", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("project_id", "identifier"),
)

identities = _resource(
    "identities",
    sa.Column("user_id", sa.String(36), nullable=False, index=True),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("provider_uid", sa.String(320), nullable=False),
    sa.Column("provider_email", sa.String(320), nullable=False, server_default=""),
    sa.Column("provider_access_token", sa.Text, nullable=False, server_default=""),
    sa.Column("provider_access_token_expiry", UTCDateTime, nullable=True),
    sa.Column("provider_refresh_token", sa.Text, nullable=False, server_default=""),
)

authenticators = _resource(
    "authenticators",
    sa.Column("user_id", sa.String(36), nullable=False, index=True),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("verified", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("secret", sa.Text, nullable=False),
    sa.UniqueConstraint("project_id", "user_id", "type"),
)

teams = _resource(
    "teams",
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("total", sa.Integer, nullable=False, server_default="0"),
    sa.Column("prefs", JSONValue, nullable=False),
    searchable=True,
)

memberships = _resource(
    "memberships",
    sa.Column("team_id", sa.String(36), nullable=False, index=True),
    sa.Column("user_id", sa.String(36), nullable=False, index=True),
    sa.Column("roles", JSONValue, nullable=False),
    sa.Column("invited", UTCDateTime, nullable=True),
    sa.Column("joined", UTCDateTime, nullable=True),
    sa.Column("confirm", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("secret_hash", sa.String(64), nullable=True),
    sa.UniqueConstraint("project_id", "team_id", "user_id"),
    searchable=True,
)

audit_logs = sa.Table(
    "audit_logs",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.String(36), nullable=False),
    sa.Column("event", sa.String(64), nullable=False),
    sa.Column("resource", sa.String(128), nullable=False, server_default=""),
    sa.Column("user_id", sa.String(36), nullable=False, server_default=""),
    sa.Column("user_email", sa.String(320), nullable=False, server_default=""),
    sa.Column("user_name", sa.String(128), nullable=False, server_default=""),
    # user | key | guest: who acted.
    sa.Column("user_type", sa.String(8), nullable=False),
    # The API key that acted, when user_type is "key" (Appwrite keeps no such entries).
    sa.Column("key_id", sa.String(36), nullable=False, server_default=""),
    sa.Column("mode", sa.String(16), nullable=False, server_default="default"),
    sa.Column("ip", sa.String(45), nullable=False, server_default=""),
    sa.Column("time", UTCDateTime, nullable=False),
    sa.Column("client", JSONValue, nullable=False),
    sa.Index("ix_audit_logs_actor", "project_id", "user_id", "seq"),
    sa.Index("ix_audit_logs_resource", "project_id", "resource", "seq"),
)

# Web platforms of a project: the hostnames browsers may call from (CORS, origin check) and
# that redirect URLs in e-mails (verification, recovery, magic URL, invitations) may point to.
platforms = _resource(
    "platforms",
    sa.Column("type", sa.String(16), nullable=False, server_default="web"),
    sa.Column("name", sa.String(128), nullable=False, server_default=""),
    sa.Column("hostname", sa.String(256), nullable=False),
    sa.UniqueConstraint("project_id", "hostname"),
)

# Pending MFA challenges (Appwrite's `challenges` collection); single use, expire after 1 h.
challenges = _resource(
    "challenges",
    sa.Column("user_id", sa.String(36), nullable=False, index=True),
    # totp | email | phone | recoveryCode
    sa.Column("type", sa.String(16), nullable=False),
    # SHA-256 of the code sent by e-mail/SMS; empty for totp and recovery codes.
    sa.Column("code_hash", sa.String(64), nullable=False, server_default=""),
    sa.Column("expire", UTCDateTime, nullable=False),
)

# Instance-wide values every process must share, e.g. the generated signing secret when
# NIB_SECRET is not set.
instance_values = sa.Table(
    "instance_values",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# Storage. Buckets hold their settings; files are unique per bucket.
buckets = _resource(
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
