"""passkeys: users' WebAuthn credentials and their challenges

Revision ID: 0007
Revises: 0006

``passkeys`` holds several credentials per user (pending until their registration is verified);
``passkey_challenges`` the single-use registration and sign-in challenges.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The column DDL of nib's datetimes: naive UTC ``timestamp`` on PostgreSQL, ISO text on SQLite.
_DATETIME = sa.DateTime(timezone=False).with_variant(sa.String(26), "sqlite")
_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def _resource_columns() -> list[sa.Column]:
    return [
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", _DATETIME, nullable=False),
        sa.Column("updated_at", _DATETIME, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "passkeys",
        *_resource_columns(),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=128), server_default="", nullable=False),
        sa.Column("verified", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("challenge_id", sa.String(length=36), nullable=True),
        sa.Column("user_handle", sa.String(length=64), nullable=False),
        sa.Column("identifier", sa.String(length=64), nullable=True),
        sa.Column("credential_id", sa.Text(), server_default="", nullable=False),
        sa.Column("public_key", sa.Text(), server_default="", nullable=False),
        sa.Column("transports", _JSON, nullable=False),
        sa.Column("sign_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("backup_eligible", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("accessed_at", _DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_passkeys")),
        sa.UniqueConstraint("project_id", "id", name=op.f("uq_passkeys_project_id_id")),
        sa.UniqueConstraint("project_id", "identifier", name=op.f("uq_passkeys_project_id_identifier")),
    )
    op.create_index(op.f("ix_passkeys_user_id"), "passkeys", ["user_id"], unique=False)
    op.create_table(
        "passkey_challenges",
        *_resource_columns(),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=36), server_default="", nullable=False),
        sa.Column("passkey_id", sa.String(length=36), server_default="", nullable=False),
        sa.Column("session_id", sa.String(length=36), server_default="", nullable=False),
        sa.Column("relying_party", sa.String(length=64), nullable=False),
        sa.Column("challenge", sa.String(length=64), nullable=False),
        sa.Column("expire", _DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_passkey_challenges")),
        sa.UniqueConstraint("project_id", "id", name=op.f("uq_passkey_challenges_project_id_id")),
    )
    op.create_index(op.f("ix_passkey_challenges_expire"), "passkey_challenges", ["expire"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_passkey_challenges_expire"), table_name="passkey_challenges")
    op.drop_table("passkey_challenges")
    op.drop_index(op.f("ix_passkeys_user_id"), table_name="passkeys")
    op.drop_table("passkeys")
