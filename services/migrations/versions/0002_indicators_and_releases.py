"""indicators and releases: the aggregate table dashboards read, and frozen releases

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('indicator_cell',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('indicator', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('month', sa.SmallInteger(), nullable=False),
    sa.Column('grouping', sa.Integer(), nullable=False),
    sa.Column('dim1', sa.String(length=64), nullable=True),
    sa.Column('dim2', sa.String(length=64), nullable=True),
    sa.Column('dim3', sa.String(length=64), nullable=True),
    sa.Column('dim4', sa.String(length=64), nullable=True),
    sa.Column('dim5', sa.String(length=64), nullable=True),
    sa.Column('dim6', sa.String(length=64), nullable=True),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('observations', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('indicator_cell', schema=None) as batch_op:
        batch_op.create_index('ix_indicator_cell_lookup', ['indicator', 'grouping', 'year', 'month'], unique=False)
        batch_op.create_index('ix_indicator_cell_slice', ['indicator', 'year', 'month'], unique=False)

    op.create_table('indicator_slice',
    sa.Column('indicator', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('month', sa.SmallInteger(), nullable=False),
    sa.Column('cells', sa.Integer(), nullable=False),
    sa.Column('computed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('indicator', 'year', 'month')
    )
    op.create_table('release',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('indicator', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('scope', sa.JSON(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('release_date', sa.Date(), nullable=True),
    sa.Column('cells', sa.Integer(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('approved_by', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('approved_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('published_by', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('published_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('indicator', 'version', name='uq_release_indicator_version')
    )
    with op.batch_alter_table('release', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_release_indicator'), ['indicator'], unique=False)

    op.create_table('release_cell',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('release_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('month', sa.SmallInteger(), nullable=False),
    sa.Column('grouping', sa.Integer(), nullable=False),
    sa.Column('dim1', sa.String(length=64), nullable=True),
    sa.Column('dim2', sa.String(length=64), nullable=True),
    sa.Column('dim3', sa.String(length=64), nullable=True),
    sa.Column('dim4', sa.String(length=64), nullable=True),
    sa.Column('dim5', sa.String(length=64), nullable=True),
    sa.Column('dim6', sa.String(length=64), nullable=True),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('observations', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['release_id'], ['release.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('release_cell', schema=None) as batch_op:
        batch_op.create_index('ix_release_cell_lookup', ['release_id', 'grouping', 'year', 'month'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('release_cell', schema=None) as batch_op:
        batch_op.drop_index('ix_release_cell_lookup')

    op.drop_table('release_cell')
    with op.batch_alter_table('release', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_release_indicator'))

    op.drop_table('release')
    op.drop_table('indicator_slice')
    with op.batch_alter_table('indicator_cell', schema=None) as batch_op:
        batch_op.drop_index('ix_indicator_cell_slice')
        batch_op.drop_index('ix_indicator_cell_lookup')

    op.drop_table('indicator_cell')
