"""users list indexes

Revision ID: 0012
Revises: 0011

Indexes that serve a page of a project's users in list order (``seq``) whatever the query
planner knows of the table (nib never runs ANALYZE, so SQLite plans without statistics):

* ``users (project_id, seq)``: a page of the project's users, at any offset, walks the project's
  entries in order instead of sorting every user of the project (the other indexes that start
  with ``project_id`` looked as good to a planner without statistics);
* ``users (project_id, status, seq)``: the same for a status filter, and the capped total of the
  few blocked users without reading every user.
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_users_project_id_seq", "users", ["project_id", "seq"])
    op.create_index("ix_users_project_id_status", "users", ["project_id", "status", "seq"])


def downgrade() -> None:
    op.drop_index("ix_users_project_id_status", table_name="users")
    op.drop_index("ix_users_project_id_seq", table_name="users")
