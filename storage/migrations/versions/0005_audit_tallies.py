"""audit tallies and masked comments

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

The tables start empty: they are counted from the existing rows at the next start (app/services.py
runs storage.tallies' recount, which needs the configured TIMEZONE that a migration does not
know), and until then summaries read the raw rows.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('response_tallies',
    sa.Column('practice_id', sa.String(length=40), nullable=False),
    sa.Column('round_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('practice_id', 'round_id', 'period', 'locale', 'status', name=op.f('pk_response_tallies')),
    sqlite_with_rowid=False,
    )
    op.create_table('answer_tallies',
    sa.Column('practice_id', sa.String(length=40), nullable=False),
    sa.Column('survey_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('question_id', sa.String(length=16), nullable=False),
    sa.Column('value_number', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('value_option', sa.String(length=16), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('round_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('practice_id', 'survey_id', 'question_id', 'value_number', 'value_option', 'period', 'round_id', name=op.f('pk_answer_tallies')),
    sqlite_with_rowid=False,
    )
    op.create_table('masked_comments',
    sa.Column('answer_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=True),
    sa.Column('practice_id', sa.String(length=40), nullable=False),
    sa.Column('question_id', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_on', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['answer_id'], ['answers.id'], name=op.f('fk_masked_comments_answer_id_answers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('answer_id', name=op.f('pk_masked_comments'))
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('masked_comments')
    op.drop_table('answer_tallies')
    op.drop_table('response_tallies')
    op.execute("DELETE FROM app_settings WHERE key = 'tally_timezone'")
