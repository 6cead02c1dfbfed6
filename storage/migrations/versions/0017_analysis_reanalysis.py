"""analysis and re-analysis of an edition's practices; jurors' language

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-02

- `analyses`: stage one of an edition — staff's notes and evidence links per criterion for each
  nominated practice, and their recommendation.
- `reanalyses`: an edition's verdict (still carried out, changed, discontinued) on a practice
  distinguished in an earlier edition, with notes and evidence links.
- `jurors.locale`: the language reminders to a juror are written in.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0017'
down_revision: Union[str, Sequence[str], None] = '0015'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('analyses',
    sa.Column('edition_year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('practice_id', sa.String(length=40), nullable=False),
    sa.Column('criteria', sa.JSON(), nullable=False),
    sa.Column('recommendation', sa.String(length=24), nullable=True),
    sa.Column('updated_by', sa.String(length=40), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['edition_year'], ['editions.year'], name=op.f('fk_analyses_edition_year_editions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_analyses_practice_id_practices')),
    sa.PrimaryKeyConstraint('edition_year', 'practice_id', name=op.f('pk_analyses')),
    )
    op.create_table('reanalyses',
    sa.Column('edition_year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('practice_id', sa.String(length=40), nullable=False),
    sa.Column('verdict', sa.String(length=16), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('recorded_by', sa.String(length=40), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['edition_year'], ['editions.year'], name=op.f('fk_reanalyses_edition_year_editions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_reanalyses_practice_id_practices')),
    sa.PrimaryKeyConstraint('edition_year', 'practice_id', name=op.f('pk_reanalyses')),
    )
    op.add_column('jurors', sa.Column('locale', sa.String(length=8), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_column('jurors', 'locale')
    op.drop_table('reanalyses')
    op.drop_table('analyses')
