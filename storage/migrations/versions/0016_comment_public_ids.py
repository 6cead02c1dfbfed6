"""comments keep their public id once published

Revision ID: 0016
Revises: 0012
Create Date: 2026-12-02

`masked_comments.public_id`: the keyed permutation of the answer id that reports show
(audit.disclosure.public_id), stored when a version showing the comment is published; a year's
report read ~28k of them and computed each one every time. Existing rows stay empty: reports
compute a missing id on the spot, and the next publication stores it.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0016'
down_revision: Union[str, Sequence[str], None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('masked_comments', sa.Column('public_id', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    # a plain DROP COLUMN (SQLite >= 3.35) instead of a batch copy of a large table
    op.execute('ALTER TABLE masked_comments DROP COLUMN public_id')
