"""user targets json

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from nib.data.db.types import RawJSON
from nib.users.rendered import targets_json_ddl

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (never a table rebuild, which would drop the users' triggers).
    op.add_column('users', sa.Column('targets_json', RawJSON(), server_default='[]', nullable=False))
    for statement in targets_json_ddl(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER IF EXISTS targets_json ON targets')
        op.execute('DROP FUNCTION IF EXISTS nib_user_targets()')
    else:
        for name in ('ai', 'au', 'ad'):
            op.execute(f'DROP TRIGGER IF EXISTS targets_json_{name}')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('targets_json')
