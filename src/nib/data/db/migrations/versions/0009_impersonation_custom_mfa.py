"""impersonation and the custom MFA factor

Revision ID: 0009
Revises: 0008

* ``users.impersonator``: the user may act as another user of the project (indexed, as it is a
  filter of ``GET /users``).
* ``audit_logs.impersonated_user_id``: the user an impersonator acted as (``""`` otherwise); the
  row's user columns name the impersonator, the real actor.
* ``projects.mfa_custom``: the project's MFA-factors policy for the ``custom`` factor (off by default).
* ``challenges.code_sealed``: a custom challenge's code, sealed with the server secret, because the
  server reads it back (``GET /users/{userId}/mfa/challenges/{challengeId}``).
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("impersonator", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("ix_users_project_id_impersonator", "users", ["project_id", "impersonator"])
    op.add_column("audit_logs", sa.Column("impersonated_user_id", sa.String(36), nullable=False, server_default=""))
    op.add_column("projects", sa.Column("mfa_custom", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("challenges", sa.Column("code_sealed", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy of `users` would lose its triggers.
    op.drop_column("challenges", "code_sealed")
    op.drop_column("projects", "mfa_custom")
    op.drop_column("audit_logs", "impersonated_user_id")
    op.drop_index("ix_users_project_id_impersonator", table_name="users")
    op.drop_column("users", "impersonator")
