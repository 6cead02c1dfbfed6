"""The outbox sender: delivers queued messages at Telegram's pace, each exactly once.

Delivery of one message: claim it (status 'sending', committed) → send → record the outcome
(committed). A crash between claiming and recording leaves the message 'sending'; at the next
start those go back to the queue, so a message that was in flight at the moment of a hard kill
may arrive twice — the only window, and it spans one HTTP call. A graceful stop (SIGTERM,
cancellation) lets in-flight sends finish and be recorded, so nothing is sent twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.flow import Reply
from bot.services import Services
from bot.telegram.render import NO_PREVIEW, Renderer, retry_seconds
from bot.transport import call_api
from bot.web.metrics import SEND_ERRORS
from conversations import notices
from conversations.engine import Prompt
from conversations.messages import _
from storage.models import OutboxMessage, utcnow

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 10  # transient errors only; with backoff capped at 10 minutes that is ~1 hour
MAX_BACKOFF = 600.0


@dataclass
class SenderStats:
    """What the sender did (for /metrics and the benchmark)."""

    sent: int = 0
    retried: int = 0
    blocked: int = 0
    failed: int = 0
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

    async def wait_turn(self, chat_id: int) -> None:
        """Sleep until the next global slot, then book it for this chat."""
        now = self.clock()
        slot = max(self.next_slot, now, self.paused_until)
        self.next_slot = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)
        self.last_by_chat[chat_id] = self.clock()
        if len(self.last_by_chat) > 50_000:  # forget chats not seen for a while
            horizon = self.clock() - self.per_chat
            self.last_by_chat = {c: t for c, t in self.last_by_chat.items() if t > horizon}

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
    ) -> None:
        self.services = services
        self.bot = bot
        self.limiter = RateLimiter(rate)
        self.slots = asyncio.Semaphore(concurrency)
        self.batch = batch
        self.retry_base = retry_base
        self.stats = SenderStats()
        self.in_flight: set[asyncio.Task[None]] = set()
        self.dispatched: set[int] = set()
        self.wake = asyncio.Event()
        self.rounds: dict[int, tuple[dict[str, str], list[dict[str, str]], datetime]] = {}

    async def recover(self) -> int:
        """At start: messages caught mid-send by a crash go back to the queue."""
        async with self.services.db.unit_of_work() as uow:
            released = await uow.outbox.release_claims()
        if released:
            log.warning(
                "%d message(s) were mid-send at the last stop; sending them again", released
            )
        return released

    async def run(self, stop: asyncio.Event, idle_poll: float = 1.0) -> None:
        """Send until `stop` is set; in-flight sends finish before returning."""
        await self.recover()
        try:
            while not stop.is_set():
                if not await self.send_due():
                    self.wake.clear()
                    waiters = [
                        asyncio.ensure_future(stop.wait()),
                        asyncio.ensure_future(self.wake.wait()),
                    ]
                    await asyncio.wait(
                        waiters, timeout=idle_poll, return_when=asyncio.FIRST_COMPLETED
                    )
                    for waiter in waiters:
                        waiter.cancel()
        finally:
            await self.finish_in_flight()

    async def send_due(self) -> int:
        """Start sending the messages that are due now; returns how many were started."""
        async with self.services.db.unit_of_work() as uow:
            due = await uow.outbox.due(utcnow(), self.batch)
        started = 0
        for message in due:
            if message.id in self.dispatched:  # its send is under way in this process
                continue
            wait = self.limiter.chat_ready_in(message.chat_id)
            if wait > 0:
                await self._postpone(message.id, wait)
                continue
            await self.limiter.wait_turn(message.chat_id)
            await self.slots.acquire()
            task = asyncio.create_task(self._deliver(message))
            self.in_flight.add(task)
            self.dispatched.add(message.id)
            task.add_done_callback(partial(self._done, message_id=message.id))
            started += 1
        return started

    async def drain(self) -> None:
        """Send everything that is due, and wait for it (tests and the benchmark)."""
        while await self.send_due():
            pass
        await self.finish_in_flight()

    async def finish_in_flight(self) -> None:
        """Wait for sends already on the wire, even when we are being cancelled."""
        if self.in_flight:
            await asyncio.shield(asyncio.gather(*self.in_flight, return_exceptions=True))

    def _done(self, task: asyncio.Task[None], *, message_id: int) -> None:
        self.in_flight.discard(task)
        self.dispatched.discard(message_id)
        self.slots.release()

    async def _deliver(self, message: OutboxMessage) -> None:
        """Claim, send and record one message."""
        async with self.services.db.unit_of_work() as uow:
            if not await uow.outbox.claim(message.id, utcnow()):
                return
        try:
            await self._send(message)
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
            async with self.services.db.unit_of_work() as uow:
                await uow.subscriptions.mark_blocked(message.chat_id)
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

    async def _record(self, message: OutboxMessage, status: str, **values: Any) -> None:
        async with self.services.db.unit_of_work() as uow:
            await uow.outbox.finish(message.id, status, **values)

    async def _postpone(self, message_id: int, seconds: float) -> None:
        async with self.services.db.unit_of_work() as uow:
            later = utcnow() + timedelta(seconds=seconds)
            await uow.outbox.finish(message_id, "pending", expect="pending", next_attempt_at=later)

    async def _send(self, message: OutboxMessage) -> None:
        if message.kind == "report":
            await self._send_report(message)
            return
        prompt = await self._compose(message)
        renderer = Renderer(self.services.translator, Reply(message.locale, [prompt]))
        await call_api(
            self.bot,
            "sendMessage",
            chat_id=message.chat_id,
            text=renderer.text(prompt),
            reply_markup=renderer.keyboard(prompt),
            link_preview_options=NO_PREVIEW,
        )

    async def _send_report(self, message: OutboxMessage) -> None:
        """A compiled report as a document, with a one-line caption."""
        async with self.services.db.unit_of_work() as uow:
            report = await uow.reports.get(int(message.payload["report_id"]))
        if report is None:
            raise BadRequest("the report of this message no longer exists")
        caption = self.services.translator.render(
            _("Open Cities audit summary: {name}", name=report.filename), message.locale
        )
        await self.bot.send_document(
            message.chat_id, report.content, filename=report.filename, caption=caption
        )

    async def _compose(self, message: OutboxMessage) -> Prompt:
        """The message for a queued row, from the round it belongs to."""
        if message.round_id is None:
            raise BadRequest("an outbox message without a round")
        city, practices, closes_at = await self._round_facts(message.round_id)
        if message.kind == "invitation":
            return notices.invitation(message.round_id, city, practices, closes_at)
        started = bool(message.payload.get("started"))
        return notices.reminder(message.round_id, city, closes_at, started=started)

    async def _round_facts(
        self, round_id: int
    ) -> tuple[dict[str, str], list[dict[str, str]], datetime]:
        """City name, practice names and closing time of a round (cached per round)."""
        if round_id not in self.rounds:
            async with self.services.db.unit_of_work() as uow:
                round_ = await uow.rounds.get(round_id)
                if round_ is None:
                    raise BadRequest("the round of this message no longer exists")
                city = await uow.catalog.city(round_.city_id)
                practices = [
                    await uow.catalog.practice(p) for p in await uow.rounds.practice_ids(round_id)
                ]
            assert city is not None
            names = [p.name for p in practices if p is not None]
            self.rounds[round_id] = (city.name, names, round_.closes_at)
        return self.rounds[round_id]
