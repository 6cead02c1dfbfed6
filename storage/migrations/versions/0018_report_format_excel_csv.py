"""scheduled reports may be sent as the Excel CSV

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02

`staff.report_format` and `reports.format` held at most 8 characters, too few for "csv-excel"
(';' separators, a decimal comma in pl/uk/ru, a byte-order mark): a coordinator may now choose
it for the reports that come on a schedule, as for those asked for.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0018'
down_revision: Union[str, Sequence[str], None] = '0017'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.alter_column('report_format',
               existing_type=sa.String(length=8),
               type_=sa.String(length=16),
               existing_nullable=True)
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.alter_column('format',
               existing_type=sa.String(length=8),
               type_=sa.String(length=16),
               existing_nullable=False)


def downgrade() -> None:
    """Downgrade schema: a stored Excel CSV choice becomes the default (PDF)."""
    op.execute("UPDATE staff SET report_format = NULL WHERE length(report_format) > 8")
    op.execute("DELETE FROM reports WHERE length(format) > 8")  # compiled again when due
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.alter_column('format',
               existing_type=sa.String(length=16),
               type_=sa.String(length=8),
               existing_nullable=False)
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.alter_column('report_format',
               existing_type=sa.String(length=16),
               type_=sa.String(length=8),
               existing_nullable=True)
