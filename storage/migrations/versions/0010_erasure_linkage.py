"""erasure and no linkage: subscriptions keep the day, reports keep no file

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-02

- `subscriptions.created_at` (to the microsecond) becomes `subscribed_on` (the day): a finer
  time lined a raw chat id up with the pseudonymous response it was made after.
- `reports.content` goes: a scheduled report's file is built when it is sent, so no stored file
  keeps a comment whose author later sent /delete.
- `rounds.invitations_pruned` counts delivered invitations whose outbox rows retention pruned
  (RETENTION_OUTBOX_DAYS), so a round's invitation count survives the pruning.
- Queued reminders lose their payload ({"started": …}: why they were sent); the sender looks
  the person's progress up when sending. Dedupe keys holding raw chat ids are hashed at the next
  start (bot.services.rekey_outbox), where the pseudonym secret is known; a migration is not
  given it.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subscribed_on', sa.Date(), nullable=True))
    sqlite = op.get_bind().dialect.name == "sqlite"
    day = "date(created_at)" if sqlite else "CAST(created_at AT TIME ZONE 'UTC' AS DATE)"
    op.execute(f"UPDATE subscriptions SET subscribed_on = {day}")
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.alter_column('subscribed_on', existing_type=sa.Date(), nullable=False)
        batch_op.drop_column('created_at')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_column('content')
    op.execute("UPDATE outbox SET payload = '{}' WHERE kind = 'reminder'")
    with op.batch_alter_table('rounds', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('invitations_pruned', sa.Integer(), server_default='0', nullable=False)
        )


def downgrade() -> None:
    """Downgrade schema (report files are gone: the old columns come back empty)."""
    with op.batch_alter_table('rounds', schema=None) as batch_op:
        batch_op.drop_column('invitations_pruned')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('content', sa.LargeBinary(), nullable=False, server_default=sa.text("''"))
        )
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('created_at', sa.DateTime(timezone=True), nullable=True))
    sqlite = op.get_bind().dialect.name == "sqlite"
    moment = (
        "subscribed_on || ' 00:00:00.000000'"
        if sqlite
        else "CAST(subscribed_on AS TIMESTAMP) AT TIME ZONE 'UTC'"
    )
    op.execute(f"UPDATE subscriptions SET created_at = {moment}")
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.alter_column(
            'created_at', existing_type=sa.DateTime(timezone=True), nullable=False
        )
        batch_op.drop_column('subscribed_on')
