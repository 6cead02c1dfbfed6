"""results requests: people who asked, at the end of a survey, for a practice's final results

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02

A row keeps the round, the practice and the chat, the language and the day asked — no running id
and no finer time, like reminder requests (docs/privacy.md) — until the round's final figures are
frozen and the message is queued, or the person sends /stop or /delete.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0015'
down_revision: Union[str, Sequence[str], None] = '0014'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('results_requests',
    sa.Column('round_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('practice_id', sa.String(length=40), nullable=False),
    sa.Column('chat_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('asked_on', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['round_id'], ['rounds.id'], name=op.f('fk_results_requests_round_id_rounds'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('round_id', 'practice_id', 'chat_id', name=op.f('pk_results_requests')),
    sqlite_with_rowid=False,
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('results_requests')
