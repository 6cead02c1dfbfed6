"""Long polling that confirms an update only after handling it.

PTB's Updater confirms the offset when it fetches a batch, so a crash loses the updates it had
fetched but not yet handled. Here a batch is handled first (one person's updates in order,
different people at once) and only then confirmed with the next getUpdates; after a crash
Telegram sends the batch again, and `processed_updates` makes the repeats no-ops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from telegram import Update
from telegram.error import NetworkError, RetryAfter, TelegramError, TimedOut

from bot.telegram.incoming import incoming_update
from bot.telegram.render import retry_seconds
from bot.transport import call_api

log = logging.getLogger(__name__)
# Updates fetched at once. A batch is handled before the next is fetched, so under load each
# update also waits for the others of its batch: ~20 keep that wait near 15 ms at full speed
# (≈0.7 ms of CPU each), while Telegram keeps the rest queued. Heavier traffic: the webhook.
BATCH = 20


async def poll(
    application: Any, stop: asyncio.Event, long_poll: int = 30, limit: int = BATCH
) -> None:
    """Fetch, handle, confirm — until `stop` is set."""
    try:  # polling and a webhook exclude each other
        await application.bot.delete_webhook(drop_pending_updates=False)
    except TelegramError as error:
        log.warning("could not delete the webhook: %s", error)
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
                allowed_updates=list(Update.ALL_TYPES),
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
            parsed = [incoming_update(data, application.bot) for data in updates]
            await handle_batch(application, [u for u in parsed if u is not None])
            offset = updates[-1]["update_id"] + 1


async def handle_batch(application: Any, updates: list[Update]) -> None:
    """Handle a batch; the per-user processor keeps each person's updates in order."""
    processor = application.update_processor
    await asyncio.gather(
        *(
            processor.process_update(update, application.process_update(update))
            for update in updates
        )
    )
