"""reminder requests; coordinators' report language and format

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

A person who pauses a survey of a round may ask to be reminded once before it closes
(`reminder_requests`: no surrogate key, the day asked only). Coordinators choose the language
and format of their scheduled reports (`staff.report_locale`, `staff.report_format`; empty
means REPORT_LOCALE and PDF), so a scheduled report is stored once per language and format.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('reminder_requests',
    sa.Column('round_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('chat_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('asked_on', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['round_id'], ['rounds.id'], name=op.f('fk_reminder_requests_round_id_rounds'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('round_id', 'chat_id', name=op.f('pk_reminder_requests')),
    sqlite_with_rowid=False,
    )
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('report_locale', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('report_format', sa.String(length=8), nullable=True))
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_reports_period_key'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_reports_period_key'), ['period_key', 'locale', 'format'])


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_reports_period_key'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_reports_period_key'), ['period_key'])
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_column('report_format')
        batch_op.drop_column('report_locale')
    op.drop_table('reminder_requests')
