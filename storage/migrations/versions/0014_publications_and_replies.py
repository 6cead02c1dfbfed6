"""publications of results and the cities' replies to them

Revision ID: 0014
Revises: 0016
Create Date: 2026-12-02

`publications`: what staff made public (a closed round's final figures, or a year's); the
public results pages show nothing else. `practice_replies`: a city's short public response to a
practice's published results of a year, per language, shown once staff approved it.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0014'
down_revision: Union[str, Sequence[str], None] = '0016'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('publications',
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('key', sa.String(length=16), nullable=False),
    sa.Column('published_by', sa.String(length=40), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'key', name=op.f('pk_publications')),
    )
    op.create_table('practice_replies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('practice_id', sa.String(length=40), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('proposed_by', sa.String(length=40), nullable=False),
    sa.Column('proposed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.String(length=40), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_practice_replies_practice_id_practices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_practice_replies')),
    )
    op.create_index(op.f('ix_practice_replies_practice_id'), 'practice_replies', ['practice_id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(op.f('ix_practice_replies_practice_id'), table_name='practice_replies')
    op.drop_table('practice_replies')
    op.drop_table('publications')
