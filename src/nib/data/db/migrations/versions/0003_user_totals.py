"""user totals

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from nib.data.totals import counter_ddl

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('totals',
    sa.Column('table_name', sa.String(length=64), nullable=False),
    sa.Column('project_id', sa.String(length=36), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('table_name', 'project_id', name=op.f('pk_totals'))
    )
    for statement in counter_ddl('users', op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER IF EXISTS users_total ON users')
        op.execute('DROP FUNCTION IF EXISTS nib_count_rows()')
    else:
        op.execute('DROP TRIGGER IF EXISTS users_total_ai')
        op.execute('DROP TRIGGER IF EXISTS users_total_ad')
    op.drop_table('totals')
