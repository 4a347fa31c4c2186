"""account platforms challenges

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from nib.data.db.types import UTCDateTime
from nib.tools import dates
from nib.tools.ids import unique_id

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('challenges',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('project_id', sa.String(length=36), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('code_hash', sa.String(length=64), server_default='', nullable=False),
    sa.Column('expire', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_challenges')),
    sa.UniqueConstraint('project_id', 'id', name=op.f('uq_challenges_project_id_id'))
    )
    with op.batch_alter_table('challenges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_challenges_user_id'), ['user_id'], unique=False)

    op.create_table('instance_values',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_instance_values'))
    )
    op.create_table('platforms',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('project_id', sa.String(length=36), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.Column('type', sa.String(length=16), server_default='web', nullable=False),
    sa.Column('name', sa.String(length=128), server_default='', nullable=False),
    sa.Column('hostname', sa.String(length=256), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_platforms')),
    sa.UniqueConstraint('project_id', 'hostname', name=op.f('uq_platforms_project_id_hostname')),
    sa.UniqueConstraint('project_id', 'id', name=op.f('uq_platforms_project_id_id'))
    )

    _register_localhost_for_default_project()


def _register_localhost_for_default_project() -> None:
    """Data step: an existing `default` project gets web platform `localhost`, as a new
    installation does (auth/projects.py bootstrap), so its local web apps keep working."""
    conn = op.get_bind()
    projects = sa.table('projects', sa.column('id', sa.String))
    platforms = sa.table(
        'platforms',
        sa.column('project_id', sa.String),
        sa.column('id', sa.String),
        sa.column('created_at', UTCDateTime()),
        sa.column('updated_at', UTCDateTime()),
        sa.column('type', sa.String),
        sa.column('name', sa.String),
        sa.column('hostname', sa.String),
    )
    if conn.execute(sa.select(projects.c.id).where(projects.c.id == 'default')).first() is None:
        return
    registered = sa.select(platforms.c.id).where(
        platforms.c.project_id == 'default', platforms.c.hostname == 'localhost'
    )
    if conn.execute(registered).first() is not None:
        return
    now = dates.now()
    conn.execute(platforms.insert().values(
        project_id='default', id=unique_id(), created_at=now, updated_at=now,
        type='web', name='Localhost', hostname='localhost',
    ))


def downgrade() -> None:
    op.drop_table('platforms')
    op.drop_table('instance_values')
    op.drop_table('challenges')
