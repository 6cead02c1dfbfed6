"""The outbox sender: delivers queued messages at Telegram's pace, each exactly once.

Delivery of one message: check that it is still wanted (a closed round, /stop, a blocked chat
or a revoked role cancel it) and claim it for this sender (committed, one transaction) → send →
record the outcome (committed). When the database fails:
- before the claim: nothing was sent; the message stays queued and the sender retries later;
- after a successful send: the send is never repeated; the *record* is retried (capped
  backoff) until the database is back, so the message ends up `sent`.
The sender's loop survives any error and retries with capped, jittered backoff.

A claim names its sender (`claimed_by`). Another sender never takes back claims it does not own
until it has run for `orphan_grace` seconds (a former leader records what it had in flight by
then); only a message whose HTTP call was cut by a hard kill, or by a stop that could not wait
for it, can thus arrive twice. On SIGTERM the sender starts nothing new, waits for calls on the
wire up to `stop_grace` seconds and records their outcomes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from app.outbox import Composer, Undeliverable, unwanted
from app.respond import Reply
from app.services import Services
from bot.health import Backoff, pause
from bot.telegram.render import NO_PREVIEW, Renderer, retry_seconds
from bot.transport import call_api
from bot.web.metrics import OUTBOX_SKIPPED, SEND_ERRORS
from storage.db import is_outage
from storage.models import OutboxMessage, utcnow
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 10  # transient errors only; with backoff capped at 10 minutes that is ~1 hour
MAX_BACKOFF = 600.0
TASK = "sender"
STALL_AFTER = 120.0  # seconds without a pass over the queue before /healthz reports the sender
SEND_TIMEOUT = 4.0  # seconds for Telegram to answer a sendMessage: bounded, so a stop is too


@dataclass
class SenderStats:
    """What the sender did (for /metrics and the benchmark)."""

    sent: int = 0
    retried: int = 0
    blocked: int = 0
    failed: int = 0
    skipped: int = 0
    errors: dict[str, int] = field(default_factory=dict)


class RateLimiter:
    """Spaces sends: at most `rate` per second overall and one per `per_chat` seconds per chat."""

    def __init__(
        self, rate: float, per_chat: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = 1.0 / rate
        self.per_chat = per_chat
        self.clock = clock
        self.next_slot = clock()
        self.last_by_chat: dict[int, float] = {}
        self.paused_until = 0.0

    def chat_ready_in(self, chat_id: int) -> float:
        """Seconds until this chat may get another message."""
        last = self.last_by_chat.get(chat_id)
        return 0.0 if last is None else max(0.0, last + self.per_chat - self.clock())

    async def wait_turn(self, chat_id: int, stop: asyncio.Event | None = None) -> bool:
        """Sleep until the next global slot, then book it for this chat; False when `stop`
        was set meanwhile (a flood-control pause must not hold up a shutdown)."""
        now = self.clock()
        slot = max(self.next_slot, now, self.paused_until)
        self.next_slot = slot + self.interval
        if slot > now:
            if stop is None:
                await asyncio.sleep(slot - now)
            elif await pause(stop, slot - now):
                return False
        self.last_by_chat[chat_id] = self.clock()
        if len(self.last_by_chat) > 50_000:  # forget chats not seen for a while
            horizon = self.clock() - self.per_chat
            self.last_by_chat = {c: t for c, t in self.last_by_chat.items() if t > horizon}
        return True

    def pause(self, seconds: float) -> None:
        """Flood control from Telegram: no sends at all for a while."""
        self.paused_until = max(self.paused_until, self.clock() + seconds)


class OutboxSender:
    """Drains the outbox through the Bot API."""

    def __init__(
        self,
        services: Services,
        bot: Bot,
        *,
        rate: float = 28.0,
        concurrency: int = 32,
        batch: int = 200,
        retry_base: float = 2.0,
        orphan_grace: float = 60.0,
        stop_grace: float = 3.5,
        stopping: asyncio.Event | None = None,
    ) -> None:
        self.services = services
        self.bot = bot
        self.limiter = RateLimiter(rate)
        self.slots = asyncio.Semaphore(concurrency)
        self.batch = batch
        self.retry_base = retry_base
        self.orphan_grace = orphan_grace
        self.stop_grace = stop_grace
        self.instance = uuid.uuid4().hex[:16]  # names this sender's claims
        self.stats = SenderStats()
        self.in_flight: set[asyncio.Task[None]] = set()
        self.dispatched: set[int] = set()
        self.wake = asyncio.Event()
        self.stopping = stopping  # the process is stopping (default: whatever stops `run`)
        self.database_away: BaseException | None = None  # a claim failed: stop the pass
        self.composer = Composer(services)

    async def recover(self) -> int:
        """Messages claimed by senders that are gone go back to the queue, and so do this
        sender's own claims that it is not sending (a claim whose commit was acknowledged
        too late, as the connection broke, was never sent)."""
        async with self.services.db.unit_of_work() as uow:
            released = await uow.outbox.release_claims(
                keep_owner=self.instance, keep=sorted(self.dispatched)
            )
        if released:
            log.warning(
                "%d message(s) were mid-send when their sender stopped; sending them again",
                released,
            )
        return released

    async def run(self, stop: asyncio.Event, idle_poll: float = 1.0) -> None:
        """Send until `stop` is set, whatever the database does meanwhile. When the process is
        stopping, wait (briefly) for the sends on the wire and record them; when only this
        run ends (leadership moved), sends under way carry on and record their outcomes."""
        health = self.services.health
        health.watch(TASK, STALL_AFTER)
        backoff = Backoff()
        recovered_at = time.monotonic()
        if self.stopping is None:
            self.stopping = stop
        cancelled = False
        try:
            while not stop.is_set():
                try:
                    if time.monotonic() - recovered_at >= self.orphan_grace:
                        await self.recover()
                        recovered_at = time.monotonic()
                    started_sends = await self.send_due(stop)
                    if self.database_away is not None:
                        raise self.database_away
                except Exception as error:
                    self.database_away = None
                    health.failed(TASK, error)
                    _log_failure("the outbox sender", error)
                    await pause(stop, backoff.next())
                    continue
                backoff.reset()
                health.progress(TASK)
                if not started_sends:
                    await self._idle(stop, idle_poll)
        except asyncio.CancelledError:  # the process is going down
            cancelled = True
            raise
        finally:
            if cancelled or self.stopping.is_set():
                await self.finish_in_flight(self.stop_grace)
            health.unwatch(TASK)

    async def _idle(self, stop: asyncio.Event, seconds: float) -> None:
        """Wait for `seconds`, new mail (`wake`) or the stop, whichever comes first."""
        self.wake.clear()
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wake.wait())]
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()

    async def send_due(self, stop: asyncio.Event | None = None) -> int:
        """Start sending the messages that are due now; returns how many were started."""
        async with self.services.db.unit_of_work() as uow:
            due = await uow.outbox.due(utcnow(), self.batch)
        started = 0
        for message in due:
            if (stop is not None and stop.is_set()) or self.database_away is not None:
                break
            if message.id in self.dispatched:  # its send is under way in this process
                continue
            wait = self.limiter.chat_ready_in(message.chat_id)
            if wait > 0:
                await self._postpone(message.id, wait)
                continue
            if not await self.limiter.wait_turn(message.chat_id, stop):
                break
            await self.slots.acquire()
            task = asyncio.create_task(self._deliver(message))
            self.in_flight.add(task)
            self.dispatched.add(message.id)
            task.add_done_callback(partial(self._done, message_id=message.id))
            started += 1
            self.services.health.progress(TASK)
        return started

    async def drain(self) -> None:
        """Send everything that is due, and wait for it (tests and the benchmark)."""
        while await self.send_due():
            pass
        await self.finish_in_flight()

    async def finish_in_flight(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait for sends already on the wire (even when we are being cancelled); after
        `timeout` seconds the rest are cut, and their messages stay claimed."""
        if not self.in_flight:
            return
        tasks = set(self.in_flight)
        waiting = asyncio.ensure_future(asyncio.wait(tasks, timeout=timeout))
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(waiting)
        cut = [task for task in tasks if not task.done()]
        for task in cut:
            task.cancel()
        if cut:
            log.error(
                "stopped with %d send(s) unfinished; they stay claimed and are sent again "
                "after the next start (one may then arrive twice)",
                len(cut),
            )
            await asyncio.wait(cut, timeout=1.0)

    def _done(self, task: asyncio.Task[None], *, message_id: int) -> None:
        self.in_flight.discard(task)
        self.dispatched.discard(message_id)
        self.slots.release()

    async def _deliver(self, message: OutboxMessage) -> None:
        """Prepare, claim, send and record one message."""
        try:
            prepared = await self._prepare(message)
            if prepared is None or not await self._claim(message):
                return
        except Exception as error:  # nothing was sent; the message waits for the next pass
            if is_outage(error):
                self.database_away = error  # the loop pauses instead of trying every message
            else:
                self.services.health.failed(TASK, error)
                log.error("could not prepare outbox message %d", message.id, exc_info=error)
            return
        try:
            await prepared()
        except RetryAfter as error:
            SEND_ERRORS.labels("RetryAfter").inc()
            seconds = retry_seconds(error.retry_after)
            self.limiter.pause(seconds)
            self.stats.retried += 1
            await self._record(
                message,
                "pending",
                next_attempt_at=utcnow() + timedelta(seconds=seconds),
                claimed_at=None,
            )
        except Forbidden:
            SEND_ERRORS.labels("Forbidden").inc()
            self.stats.blocked += 1
            await self._record(message, "blocked", error="blocked by the user")
            with contextlib.suppress(Exception):  # a nicety: the next check marks it too
                await self._with_retries(
                    lambda uow: uow.subscriptions.mark_blocked(message.chat_id)
                )
        except BadRequest as error:
            self.stats.failed += 1
            await self._record(message, "failed", error=error.message[:200])
        except (TimedOut, NetworkError) as error:
            await self._retry_later(message, type(error).__name__)
        except Exception as error:  # never lose the row: keep it for a later attempt
            log.exception("unexpected error while sending an outbox message")
            await self._retry_later(message, type(error).__name__)
        else:
            self.stats.sent += 1
            await self._record(message, "sent", sent_at=utcnow())

    async def _prepare(self, message: OutboxMessage) -> Callable[[], Any] | None:
        """What sending this message will call, built before it is claimed (so that a database
        failure here leaves it queued, unsent); None when it cannot be sent at all."""
        try:
            if message.kind == "report":
                return await self._report_call(message)
            return await self._message_call(message)
        except Undeliverable as error:
            self.stats.failed += 1
            await self._record(message, "failed", expect="pending", error=str(error)[:200])
            return None

    async def _claim(self, message: OutboxMessage) -> bool:
        """Claim the message for this sender unless it is no longer wanted (then cancel it);
        one transaction, so nothing changes between the check and the claim."""
        async with self.services.db.unit_of_work() as uow:
            reason = await unwanted(uow, self.services, message)
            if reason is None:
                return await uow.outbox.claim(message.id, utcnow(), self.instance)
            if await uow.outbox.finish(message.id, "cancelled", expect="pending", error=reason):
                self.stats.skipped += 1
                OUTBOX_SKIPPED.labels(reason.split(":")[0]).inc()
                log.info("outbox message %d not sent: %s", message.id, reason)
            return False

    async def _retry_later(self, message: OutboxMessage, kind: str) -> None:
        self.stats.errors[kind] = self.stats.errors.get(kind, 0) + 1
        SEND_ERRORS.labels(kind).inc()
        attempts = message.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            self.stats.failed += 1
            await self._record(message, "failed", attempts=attempts, error=kind)
            return
        self.stats.retried += 1
        delay = timedelta(seconds=min(self.retry_base * 2 ** (attempts - 1), MAX_BACKOFF))
        await self._record(
            message,
            "pending",
            attempts=attempts,
            error=kind,
            next_attempt_at=utcnow() + delay,
            claimed_at=None,
        )

    async def _record(
        self, message: OutboxMessage, status: str, *, expect: str = "sending", **values: Any
    ) -> None:
        """Record an attempt's outcome, retrying through a database outage: the send is never
        repeated because its record failed."""
        owner = self.instance if expect == "sending" else None

        async def finish(uow: UnitOfWork) -> None:
            moved = await uow.outbox.finish(
                message.id, status, expect=expect, owner=owner, **values
            )
            if not moved and status == "sent":
                log.error("message %d was sent, but another sender had taken it back", message.id)

        try:
            recorded = await self._with_retries(finish)
        except Exception:
            log.exception("could not record the outcome of message %d", message.id)
            return
        if not recorded:
            log.error(
                "could not record message %d as %s before stopping (database away); it stays "
                "claimed and is sent again after the next start",
                message.id,
                status,
            )

    async def _with_retries(self, work: Callable[[UnitOfWork], Any]) -> bool:
        """Run `work` in a unit of work until it commits; False when stopping cut it short."""
        backoff = Backoff()
        while True:
            try:
                async with self.services.db.unit_of_work() as uow:
                    await work(uow)
                return True
            except Exception as error:
                if not is_outage(error):
                    raise
                self.services.health.failed(TASK, error)
                if self.stopping is not None and self.stopping.is_set():  # its grace is all
                    if await _sleep_or_cancelled(backoff.next()):
                        return False
                    continue
                await asyncio.sleep(backoff.next())

    async def _postpone(self, message_id: int, seconds: float) -> None:
        async with self.services.db.unit_of_work() as uow:
            later = utcnow() + timedelta(seconds=seconds)
            await uow.outbox.finish(message_id, "pending", expect="pending", next_attempt_at=later)

    async def _message_call(self, message: OutboxMessage) -> Callable[[], Any]:
        """An invitation or reminder, rendered in the message's language."""
        prompt = await self.composer.prompt(message)
        renderer = Renderer(self.services.translator, Reply(message.locale, [prompt]))
        return partial(
            call_api,
            self.bot,
            "sendMessage",
            read_timeout=SEND_TIMEOUT,
            chat_id=message.chat_id,
            text=renderer.text(prompt),
            reply_markup=renderer.keyboard(prompt),
            link_preview_options=NO_PREVIEW,
        )

    async def _report_call(self, message: OutboxMessage) -> Callable[[], Any]:
        """A scheduled report as a document, built now, with a one-line caption."""
        document = await self.composer.document(message)
        return partial(
            self.bot.send_document,
            message.chat_id,
            document.content,
            filename=document.filename,
            caption=document.caption,
        )


def _log_failure(what: str, error: BaseException) -> None:
    """One line for a database outage (it is retried); a traceback for anything else."""
    if is_outage(error):
        log.warning("%s: database unavailable (%s); retrying", what, type(error).__name__)
    else:
        log.error("%s failed; retrying", what, exc_info=error)


async def _sleep_or_cancelled(seconds: float) -> bool:
    """Sleep; True when cancelled meanwhile (the stop's grace period ended)."""
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        return True
    return False
