"""published cells

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

Disclosure control: the published versions of each cell's figures (a round × practice, or a
month × practice outside rounds) and how many completed responses each cell gained or lost
since its latest version. Reports read the versions, never the live counts.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'cell_changes',
        sa.Column('practice_id', sa.String(length=40), nullable=False),
        sa.Column('round_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('period', sa.String(length=7), nullable=False),
        sa.Column('changes', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('practice_id', 'round_id', 'period', name=op.f('pk_cell_changes')),
    )
    op.create_table(
        'published_cells',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('practice_id', sa.String(length=40), nullable=False),
        sa.Column('round_id', sa.Integer(), nullable=False),
        sa.Column('period', sa.String(length=7), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('final', sa.Boolean(), nullable=False),
        sa.Column('figures', sa.JSON(), nullable=False),
        sa.Column('comment_ids', sa.JSON(), nullable=False),
        sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_published_cells')),
        sa.UniqueConstraint(
            'practice_id', 'round_id', 'period', 'version',
            name=op.f('uq_published_cells_practice_id'),
        ),
    )
    with op.batch_alter_table('published_cells', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_published_cells_round_id'), ['round_id'], unique=False)
    # Start-up recounts the tallies when they are not counted in its zone: forgetting the zone
    # makes it count each cell's changes too, so every cell with answers is published afresh.
    op.execute("UPDATE app_settings SET value = '' WHERE key = 'tally_timezone'")


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('published_cells', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_published_cells_round_id'))
    op.drop_table('published_cells')
    op.drop_table('cell_changes')
