"""Long polling that confirms an update only after its transaction has committed.

PTB's Updater confirms the offset when it fetches a batch, so a crash loses the updates it had
fetched but not yet handled. Here a batch is handled first (one person's updates in order,
different people at once) and confirmed with the next getUpdates only once every update in it
is committed (or handled, for updates that write nothing); after a crash Telegram sends the
unconfirmed batch again, and `processed_updates` makes the repeats no-ops. A committed update
whose reply was cut by the crash would, redelivered, be such a no-op anyway, so the replies of
one batch need not hold back the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from telegram import Update
from telegram.error import NetworkError, RetryAfter, TelegramError, TimedOut

from bot.flow import committed
from bot.telegram.incoming import ALLOWED_UPDATES, IncomingUpdates
from bot.telegram.render import retry_seconds
from bot.transport import call_api

log = logging.getLogger(__name__)
# Updates fetched at once. Under load an update waits for the others of its batch to be
# dispatched and written: with 8 that wait is ~4 ms at the median and the throughput the same as
# with 16 or 24 (docs/benchmarks.md), while Telegram keeps the rest queued. The next batch comes
# one round trip after a batch commits, so polling handles at most 8 updates per round trip to
# the Bot API (~160 a second at 50 ms): plenty for surveys; heavier traffic: the webhook.
BATCH = 8


async def poll(
    application: Any, stop: asyncio.Event, long_poll: int = 30, limit: int = BATCH
) -> None:
    """Fetch, handle, confirm — until `stop` is set; then let the replies in flight finish."""
    try:  # polling and a webhook exclude each other
        await application.bot.delete_webhook(drop_pending_updates=False)
    except TelegramError as error:
        log.warning("could not delete the webhook: %s", error)
    replying: set[asyncio.Task[None]] = set()
    try:
        await _poll(application, stop, long_poll, limit, replying)
    finally:
        if replying:
            await asyncio.wait(replying)


async def _poll(
    application: Any, stop: asyncio.Event, long_poll: int, limit: int, replying: set[Any]
) -> None:
    incoming = IncomingUpdates(application.bot)
    offset: int | None = None
    delay = 1.0
    while not stop.is_set():
        fetch = asyncio.ensure_future(
            call_api(
                application.bot,
                "getUpdates",
                read_timeout=long_poll + 10,
                offset=offset,
                timeout=long_poll,
                limit=limit,
                allowed_updates=list(ALLOWED_UPDATES),
            )
        )
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait((fetch, stopping), return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not fetch.done():  # stopping: what was fetched is not confirmed, so comes again
            fetch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await fetch
            return
        try:
            updates = fetch.result()
        except RetryAfter as error:
            await asyncio.sleep(retry_seconds(error.retry_after))
            continue
        except (TimedOut, NetworkError) as error:
            log.warning("getUpdates failed (%s); retrying in %.0f s", type(error).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
            continue
        delay = 1.0
        if updates:
            parsed = [incoming.parse(data) for data in updates]
            await handle_batch(application, [u for u in parsed if u is not None], replying)
            offset = updates[-1]["update_id"] + 1


async def handle_batch(application: Any, updates: list[Update], replying: set[Any]) -> None:
    """Start handling a batch (the per-user processor keeps each person's updates in order) and
    return once every update is committed or fully handled. Its replies may still be on their
    way — tasks in `replying` — while the next batch is fetched and handled: the bot works on
    one batch while the Bot API answers the previous one's calls."""
    loop = asyncio.get_running_loop()
    settled: list[asyncio.Future[None]] = []
    for update in updates:
        done: asyncio.Future[None] = loop.create_future()
        task = asyncio.create_task(_handle(application, update, done))
        replying.add(task)
        task.add_done_callback(replying.discard)
        settled.append(done)
    await asyncio.wait(settled)


async def _handle(application: Any, update: Update, done: asyncio.Future[None]) -> None:
    """Handle one update; `done` is set when its transaction commits, or when it is handled."""

    def settle() -> None:
        if not done.done():
            done.set_result(None)

    committed.set(settle)
    try:
        await application.update_processor.process_update(
            update, application.process_update(update)
        )
    finally:
        settle()
