"""Long polling that confirms an update only after its transaction has committed.

PTB's Updater confirms the offset when it fetches a batch, so a crash loses the updates it had
fetched but not yet handled. Here a batch is handled first (one person's updates in order,
different people at once) and confirmed with the next getUpdates only once every update in it
is committed (or handled, for updates that write nothing); after a crash Telegram sends the
unconfirmed batch again, and `processed_updates` makes the repeats no-ops. A committed update
whose reply was cut by the crash would, redelivered, be such a no-op anyway, so the replies of
one batch need not hold back the next.

When the database fails while an update is handled, the offset stops before that update: it
comes again with the next getUpdates, after a capped, jittered pause, until it commits. The
updates after it that were handled are remembered and not handled twice. Errors of the Bot API
(network, 5xx, 409 Conflict while another process polls the same token) are retried the same
way; polling never ends on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.error import Conflict, RetryAfter, TelegramError

from bot.health import Backoff, pause
from bot.telegram import outcome
from bot.telegram.incoming import ALLOWED_UPDATES, IncomingUpdates
from bot.telegram.render import retry_seconds
from bot.transport import call_api
from bot.web.metrics import UNCONFIRMED

log = logging.getLogger(__name__)
# Updates fetched at once. Under load an update waits for the others of its batch to be
# dispatched and written: with 8 that wait is ~4 ms at the median and the throughput the same as
# with 16 or 24 (docs/benchmarks.md), while Telegram keeps the rest queued. The next batch comes
# one round trip after a batch commits, so polling handles at most 8 updates per round trip to
# the Bot API (~160 a second at 50 ms): plenty for surveys; heavier traffic: the webhook.
BATCH = 8
TASK = "polling"
REPLY_GRACE = 3.0  # seconds a stop waits for replies on their way


@dataclass
class Offset:
    """Where polling stands: the next offset to confirm, and the updates past it that were
    handled already (kept across runs of `poll` in one process)."""

    next: int | None = None
    handled: set[int] = field(default_factory=set)


async def poll(
    application: Any,
    stop: asyncio.Event,
    long_poll: int = 30,
    limit: int = BATCH,
    offset: Offset | None = None,
) -> None:
    """Fetch, handle, confirm — until `stop` is set; then let the replies in flight finish."""
    try:  # polling and a webhook exclude each other
        await application.bot.delete_webhook(drop_pending_updates=False)
    except TelegramError as error:
        log.warning("could not delete the webhook: %s", error)
    health = application.bot_data["services"].health
    health.watch(TASK, long_poll + 90)
    replying: set[asyncio.Task[None]] = set()
    try:
        await Poller(application, stop, long_poll, limit, replying, offset or Offset()).run()
    finally:
        health.unwatch(TASK)
        if replying:
            await asyncio.wait(replying, timeout=REPLY_GRACE)


class Poller:
    """The getUpdates loop and the offset it confirms."""

    def __init__(
        self,
        application: Any,
        stop: asyncio.Event,
        long_poll: int,
        limit: int,
        replying: set[Any],
        offset: Offset,
    ) -> None:
        self.application = application
        self.stop = stop
        self.long_poll = long_poll
        self.limit = limit
        self.replying = replying
        self.incoming = IncomingUpdates(application.bot)
        self.health = application.bot_data["services"].health
        self.offset = offset
        self.backoff = Backoff(first=1.0, cap=30.0)

    async def run(self) -> None:
        """Until stopped."""
        while not self.stop.is_set():
            updates = await self._fetch()
            if updates is None:
                continue
            self.health.progress(TASK)
            if updates and not await self._handle(updates):
                await pause(self.stop, self.backoff.next())  # the database is away
            elif updates:
                self.backoff.reset()

    async def _fetch(self) -> list[dict[str, Any]] | None:
        """The next updates; None when stopping or after an error (already waited out)."""
        fetch = asyncio.ensure_future(
            call_api(
                self.application.bot,
                "getUpdates",
                read_timeout=self.long_poll + 10,
                offset=self.offset.next,
                timeout=self.long_poll,
                limit=self.limit,
                allowed_updates=list(ALLOWED_UPDATES),
            )
        )
        stopping = asyncio.ensure_future(self.stop.wait())
        await asyncio.wait((fetch, stopping), return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not fetch.done():  # stopping: what was fetched is not confirmed, so comes again
            fetch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await fetch
            return None
        try:
            updates: list[dict[str, Any]] = fetch.result()
        except RetryAfter as error:
            await pause(self.stop, retry_seconds(error.retry_after))
            return None
        except Conflict as error:
            delay = self.backoff.next()
            log.error(
                "Telegram refuses getUpdates (409 Conflict: %s): another process uses this bot "
                "token (polling elsewhere, or a webhook is set); retrying in %.0f s",
                error.message,
                delay,
            )
            self.health.failed(TASK, error)
            await pause(self.stop, delay)
            return None
        except TelegramError as error:
            delay = self.backoff.next()
            log.warning("getUpdates failed (%s); retrying in %.0f s", type(error).__name__, delay)
            self.health.failed(TASK, error)
            await pause(self.stop, delay)
            return None
        return updates

    async def _handle(self, updates: list[dict[str, Any]]) -> bool:
        """Handle a batch and move the offset past what may be confirmed; False when an
        update must come again (the database failed while handling it)."""
        offset = self.offset
        fresh = [data for data in updates if data["update_id"] not in offset.handled]
        parsed = [(data["update_id"], self.incoming.parse(data)) for data in fresh]
        results = await handle_batch(
            self.application, [u for _id, u in parsed if u is not None], self.replying
        )
        unconfirmed = sorted(r.update_id for r in results if not r.handling.confirm)
        if not unconfirmed:
            offset.next = updates[-1]["update_id"] + 1
            offset.handled.clear()
            return True
        UNCONFIRMED.labels("polling").inc(len(unconfirmed))
        first = unconfirmed[0]
        offset.next = first
        offset.handled = {
            update_id
            for update_id in (*offset.handled, *(i for i, _u in parsed))
            if update_id > first and update_id not in unconfirmed
        }
        return False


class Result:
    """An update of a batch and how its handling went."""

    def __init__(self, update_id: int) -> None:
        self.update_id = update_id
        self.handling = outcome.Handling()


async def handle_batch(application: Any, updates: list[Update], replying: set[Any]) -> list[Result]:
    """Start handling a batch (the per-user processor keeps each person's updates in order) and
    return once every update is committed or fully handled. Its replies may still be on their
    way — tasks in `replying` — while the next batch is fetched and handled: the bot works on
    one batch while the Bot API answers the previous one's calls."""
    loop = asyncio.get_running_loop()
    settled: list[asyncio.Future[None]] = []
    results = []
    for update in updates:
        done: asyncio.Future[None] = loop.create_future()
        result = Result(update.update_id)
        task = asyncio.create_task(_handle(application, update, done, result))
        replying.add(task)
        task.add_done_callback(replying.discard)
        settled.append(done)
        results.append(result)
    if settled:
        await asyncio.wait(settled)
    return results


async def _handle(
    application: Any, update: Update, done: asyncio.Future[None], result: Result
) -> None:
    """Handle one update; `done` is set when its transaction commits, or when it is handled."""

    def settle() -> None:
        if not done.done():
            done.set_result(None)

    result.handling = outcome.track(on_commit=settle)
    try:
        await application.update_processor.process_update(
            update, application.process_update(update)
        )
    finally:
        settle()
