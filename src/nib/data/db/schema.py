"""The one ``metadata`` every table is declared on, shared by SQLite and PostgreSQL, with the
data layer's own tables.

Each package declares the tables it owns on this metadata: auth/tables.py the identity and access
tables, teams/, account/ and storage/ theirs in their own ``tables`` module.

Conventions: every resource table (made by ``resource_table``) has an internal ``seq`` (insertion
order, default sort and cursor tie-breaker), ``project_id`` (every query filters on it: projects
are isolated), the public ``id`` (Appwrite's ``$id``, unique per project) and
``created_at``/``updated_at``. Searchable tables carry ``search``: normalised text maintained by
the services and indexed by FTS5 or a tsvector GIN index (see data/search.py). Secrets are stored
only as SHA-256 hex digests. Schema changes go through Alembic migrations in
``migrations/versions``.
"""

from __future__ import annotations

import sqlalchemy as sa

from .types import JSONValue, UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def resource_table(name: str, *columns: sa.schema.SchemaItem, searchable: bool = False) -> sa.Table:
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


# Rows per project of the counted tables (users, teams, files), kept exact by triggers (data/totals.py).
totals = sa.Table(
    "totals",
    metadata,
    sa.Column("table_name", sa.String(64), primary_key=True),
    sa.Column("project_id", sa.String(36), primary_key=True),
    sa.Column("total", sa.Integer, nullable=False),
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
    # The user an impersonator acted as; the user_* columns name the impersonator (the real actor).
    sa.Column("impersonated_user_id", sa.String(36), nullable=False, server_default=""),
    sa.Column("mode", sa.String(16), nullable=False, server_default="default"),
    sa.Column("ip", sa.String(45), nullable=False, server_default=""),
    sa.Column("time", UTCDateTime, nullable=False),
    sa.Column("client", JSONValue, nullable=False),
    sa.Index("ix_audit_logs_actor", "project_id", "user_id", "seq"),
    sa.Index("ix_audit_logs_resource", "project_id", "resource", "seq"),
    # The console's overview: sign-ins per day, the project's latest entries.
    sa.Index("ix_audit_logs_project_event_time", "project_id", "event", "time"),
    sa.Index("ix_audit_logs_project_seq", "project_id", "seq"),
)

# Instance-wide values every process must share, e.g. the generated signing secret when
# NIB_SECRET is not set.
instance_values = sa.Table(
    "instance_values",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
