"""editions of the annual evaluation, their practices and nominations

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-02

A year's edition of the evaluation: the moments its nominations, analysis and jury phases begin
and when it closes, its status (the phase it is in), and the jury and residents weights,
frozen when the jury phase opens. The practices of each edition (nominated or up for
re-analysis), the nominations proposed for it (with what is needed to tell the proposer the
outcome), its jurors and their scores.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision: str = '0011'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('editions',
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('nominations_open_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('analysis_open_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('jury_open_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closes_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('jury_weight', sa.Integer(), nullable=False),
    sa.Column('residents_weight', sa.Integer(), nullable=False),
    sa.Column('weights_frozen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('year', name=op.f('pk_editions')),
    )
    op.create_table('edition_practices',
    sa.Column('edition_year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('practice_id', sa.String(length=40), nullable=False),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['edition_year'], ['editions.year'], name=op.f('fk_edition_practices_edition_year_editions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_edition_practices_practice_id_practices')),
    sa.PrimaryKeyConstraint('edition_year', 'practice_id', name=op.f('pk_edition_practices')),
    )
    op.create_table('nominations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('edition_year', sa.Integer(), nullable=False),
    sa.Column('city_id', sa.String(length=24), nullable=False),
    sa.Column('category_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('runner', sa.String(length=16), nullable=False),
    sa.Column('since', sa.Integer(), nullable=False),
    sa.Column('link', sa.Text(), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('proposer', sa.String(length=64), nullable=True),
    sa.Column('chat_id', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('merged_into', sa.Integer(), nullable=True),
    sa.Column('practice_id', sa.String(length=40), nullable=True),
    sa.Column('decided_by', sa.String(length=40), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_nominations_category_id_categories')),
    sa.ForeignKeyConstraint(['city_id'], ['cities.id'], name=op.f('fk_nominations_city_id_cities')),
    sa.ForeignKeyConstraint(['edition_year'], ['editions.year'], name=op.f('fk_nominations_edition_year_editions')),
    sa.ForeignKeyConstraint(['merged_into'], ['nominations.id'], name=op.f('fk_nominations_merged_into_nominations')),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_nominations_practice_id_practices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_nominations')),
    )
    op.create_table('jurors',
    sa.Column('edition_year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('telegram_user_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('label', sa.String(length=1), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('added_by', sa.String(length=40), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['edition_year'], ['editions.year'], name=op.f('fk_jurors_edition_year_editions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('edition_year', 'telegram_user_id', name=op.f('pk_jurors')),
    )
    op.create_table('jury_scores',
    sa.Column('edition_year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('telegram_user_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('practice_id', sa.String(length=40), nullable=False),
    sa.Column('criterion', sa.String(length=24), nullable=False),
    sa.Column('score', sa.Integer(), nullable=True),
    sa.Column('justification', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_jury_scores_practice_id_practices')),
    sa.PrimaryKeyConstraint('edition_year', 'telegram_user_id', 'practice_id', 'criterion', name=op.f('pk_jury_scores')),
    )
    with op.batch_alter_table('nominations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_nominations_edition_year'), ['edition_year'], unique=False)
        batch_op.create_index(batch_op.f('ix_nominations_proposer'), ['proposer'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('nominations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_nominations_proposer'))
        batch_op.drop_index(batch_op.f('ix_nominations_edition_year'))
    op.drop_table('nominations')
    op.drop_table('jury_scores')
    op.drop_table('jurors')
    op.drop_table('edition_practices')
    op.drop_table('editions')
