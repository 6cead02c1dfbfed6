"""responses.channel: telegram or face_to_face (imported KoBo/ODK submissions)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

Every existing response came through the bot, so the column starts as 'telegram'.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    # Plain ALTER TABLE on both databases: SQLite's batch mode would copy the table, and
    # dropping the old copy would cascade to the answers.
    op.add_column(
        'responses',
        sa.Column('channel', sa.String(length=16), server_default='telegram', nullable=False),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_column('responses', 'channel')  # SQLite 3.35+ drops a column in place
