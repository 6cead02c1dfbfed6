"""editions of the annual evaluation

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-02

A year's edition of the evaluation: the moments its nominations, analysis and jury phases begin
and when it closes, its status (the phase it is in), and the jury and residents weights,
frozen when the jury phase opens.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision: str = '0011'
down_revision: Union[str, Sequence[str], None] = '0008'
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


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('editions')
