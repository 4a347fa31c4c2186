"""oauth2: per-project provider configuration, the provider of an OAuth2 token, one identity per provider account

Revision ID: 0010
Revises: 0009

``oauth2_providers`` holds each project's provider settings (the secret sealed with the server
secret). ``tokens.provider`` remembers which provider an ``oauth2`` token came from, so the
session it is exchanged for names that provider. A provider account (provider + its user ID) can
belong to one identity per project only.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# The column DDL of nib's datetimes: naive UTC ``timestamp`` on PostgreSQL, ISO text on SQLite.
_DATETIME = sa.DateTime(timezone=False).with_variant(sa.String(26), "sqlite")


def upgrade() -> None:
    op.create_table(
        "oauth2_providers",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", _DATETIME, nullable=False),
        sa.Column("updated_at", _DATETIME, nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("app_id", sa.String(length=256), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_oauth2_providers")),
        sa.UniqueConstraint("project_id", "id", name=op.f("uq_oauth2_providers_project_id_id")),
        sa.UniqueConstraint("project_id", "provider", name=op.f("uq_oauth2_providers_project_id_provider")),
    )
    op.add_column("tokens", sa.Column("provider", sa.String(length=32), server_default="", nullable=False))
    op.create_index("ux_identities_provider_uid", "identities", ["project_id", "provider", "provider_uid"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_identities_provider_uid", table_name="identities")
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_column("provider")
    op.drop_table("oauth2_providers")
