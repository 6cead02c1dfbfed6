"""erasure and no linkage: subscriptions keep the day and no running id, reports keep no file

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02

- `subscriptions.created_at` (to the microsecond) becomes `subscribed_on` (the day), and the
  running `id` goes (the key is chat and city; SQLite keeps the rows in key order): a finer time,
  or a number in the order people subscribed, lined a raw chat id up with the pseudonymous
  response it was made after.
- `reports.content` goes: a scheduled report's file is built when it is sent, so no stored file
  keeps a comment whose author later sent /delete.
- `rounds.invitations_pruned` counts delivered invitations whose outbox rows retention pruned
  (RETENTION_OUTBOX_DAYS), so a round's invitation count survives the pruning.
- Queued reminders lose their payload ({"started": …}: why they were sent); the sender looks
  the person's progress up when sending. Dedupe keys holding raw chat ids are hashed at the next
  start (app.services.rekey_outbox), where the pseudonym secret is known; a migration is not
  given it.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0012'
down_revision: Union[str, Sequence[str], None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

COLUMNS = "chat_id, city_id, locale, opted_in, blocked, subscribed_on"


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subscribed_on', sa.Date(), nullable=True))
    sqlite = op.get_bind().dialect.name == "sqlite"
    day = "date(created_at)" if sqlite else "CAST(created_at AT TIME ZONE 'UTC' AS DATE)"
    op.execute(f"UPDATE subscriptions SET subscribed_on = {day}")
    _rebuild_subscriptions(keyed=True)
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_column('content')
    op.execute("UPDATE outbox SET payload = '{}' WHERE kind = 'reminder'")
    with op.batch_alter_table('rounds', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('invitations_pruned', sa.Integer(), server_default='0', nullable=False)
        )


def downgrade() -> None:
    """Downgrade schema (report files are gone: the old columns come back empty)."""
    # A plain DROP COLUMN (SQLite >= 3.35): a batch copy of `rounds` would have to drop the
    # table that later tables' foreign keys point to, which SQLite refuses.
    op.execute('ALTER TABLE rounds DROP COLUMN invitations_pruned')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('content', sa.LargeBinary(), nullable=False, server_default=sa.text("''"))
        )
    _rebuild_subscriptions(keyed=False)
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


def _rebuild_subscriptions(keyed: bool) -> None:
    """Recreate `subscriptions` (with `subscribed_on`) keyed by chat and city, without a running
    id and, on SQLite, without a rowid (`keyed`); or as before, with its running id. Copied
    through a plain table: on PostgreSQL the new table's constraint names are the old one's."""
    op.execute(f"CREATE TABLE subscriptions_copy AS SELECT {COLUMNS} FROM subscriptions")
    op.drop_table('subscriptions')
    columns: list[sa.schema.SchemaItem] = [
        sa.Column('chat_id', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('city_id', sa.String(length=24), nullable=False),
        sa.Column('locale', sa.String(length=8), nullable=False),
        sa.Column('opted_in', sa.Boolean(), nullable=False),
        sa.Column('blocked', sa.Boolean(), nullable=False),
        sa.Column('subscribed_on', sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ['city_id'], ['cities.id'], name=op.f('fk_subscriptions_city_id_cities')
        ),
    ]
    if keyed:
        op.create_table(
            'subscriptions',
            *columns,
            sa.PrimaryKeyConstraint('chat_id', 'city_id', name=op.f('pk_subscriptions')),
            sqlite_with_rowid=False,
        )
    else:
        op.create_table(
            'subscriptions',
            sa.Column('id', sa.Integer(), nullable=False),
            *columns,
            sa.PrimaryKeyConstraint('id', name=op.f('pk_subscriptions')),
            sa.UniqueConstraint('chat_id', 'city_id', name=op.f('uq_subscriptions_chat_id')),
        )
        with op.batch_alter_table('subscriptions', schema=None) as batch_op:
            batch_op.create_index(
                batch_op.f('ix_subscriptions_chat_id'), ['chat_id'], unique=False
            )
    op.execute(
        f"INSERT INTO subscriptions ({COLUMNS}) SELECT {COLUMNS} FROM subscriptions_copy "
        "ORDER BY chat_id, city_id"
    )
    op.drop_table('subscriptions_copy')
