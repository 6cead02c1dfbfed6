"""One leader among all processes on a database runs the scheduler's jobs and the outbox sender
(and, for `auditbot run`, long polling: two copies must not poll one token).

Leadership is a database lock (storage/leader.py). The leader checks every few seconds that its
lock's connection is alive; when it is not (the database restarted, the network broke), the
leader stops its duties at once and tries to lead again, like every other process does, so
that exactly one process leads once the database is back. A process that is not the leader
waits and takes over when the leader stops or dies. The leader also writes a heartbeat with the
state of its tasks, which /healthz of every worker reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
from datetime import datetime, timedelta
from typing import Any

from app.services import Services
from bot.health import Backoff, pause
from bot.telegram.jobs import schedule_jobs
from bot.telegram.outbox import OutboxSender
from bot.telegram.polling import Offset, poll
from storage.db import is_outage
from storage.leader import LeaderLock
from storage.models import utcnow

log = logging.getLogger(__name__)
TASK = "leadership"
HEARTBEAT_KEY = "scheduler_heartbeat"
CHECK_EVERY = 5.0  # seconds between the leader's heartbeats and checks of its lock
# Seconds between a follower's attempts to take the lock: one cheap query, and a leader that
# died (a kill, a crash) is replaced within about this long, not a heartbeat later.
TAKE_OVER_EVERY = 1.0
HEARTBEAT_STALE = timedelta(seconds=60)


class Leadership:
    """Tries to lead; while leading, runs the duties and beats; gives them up when the lock
    is lost, and tries again."""

    def __init__(
        self, services: Services, application: Any, *, polling: bool = False, **sender: Any
    ) -> None:
        self.services = services
        self.application = application
        self.polling = polling
        self.lock = LeaderLock(services.db.engine)
        # One sender for the process, not per term: what it had on the wire when the lock was
        # lost is still its own to record (its claims carry its name) in the next term.
        self.sender = OutboxSender(services, application.bot, **sender)
        self.offset = Offset()  # polling's, kept across terms
        self.terms = 0  # how many times this process became the leader (tests)

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: lead whenever the lock can be had."""
        self.sender.stopping = stop
        health = self.services.health
        health.watch(TASK, 4 * CHECK_EVERY + 30)
        backoff = Backoff(cap=CHECK_EVERY)
        said_waiting = False
        try:
            while not stop.is_set():
                try:
                    leading = await self.lock.acquire()
                except Exception as error:
                    health.failed(TASK, error)
                    log.warning("cannot reach the database to lead (%s); retrying", _kind(error))
                    await pause(stop, backoff.next())
                    continue
                backoff.reset()
                health.progress(TASK)
                if not leading:
                    if not said_waiting:
                        log.info(self._waiting_message())
                        said_waiting = True
                    await pause(stop, _jitter(TAKE_OVER_EVERY))
                    continue
                said_waiting = False
                await self._lead(stop)
        finally:
            await self.sender.finish_in_flight(self.sender.stop_grace)
            await self.lock.close()
            health.unwatch(TASK)

    def _waiting_message(self) -> str:
        if self.polling:
            return (
                "another process is running this bot on this database (a second `auditbot "
                "run`, or `auditbot serve`/`scheduler`); this one waits and takes over if it stops"
            )
        return "another process runs the scheduler; this one takes over if it stops"

    async def _lead(self, stop: asyncio.Event) -> None:
        """One term as the leader: start the duties, beat, stop them when `stop` is set or
        the lock is lost."""
        self.terms += 1
        log.info(
            "this process (pid %d) is the leader (scheduler, outbox sender%s)",
            os.getpid(),
            self._polling_note(),
        )
        term = asyncio.Event()
        sender = self.sender
        duties = [asyncio.create_task(sender.run(term), name="sender")]
        if self.polling:
            duties.append(
                asyncio.create_task(
                    poll(self.application, term, offset=self.offset), name="polling"
                )
            )
        jobs = schedule_jobs(self.application, sender)
        try:
            while not stop.is_set():
                await self._beat()
                if await pause(stop, _jitter(CHECK_EVERY)):
                    break
                if not await self.lock.holds():
                    log.warning(
                        "lost the leader lock (the database connection broke); stopping the "
                        "scheduler and sender until this process or another leads again"
                    )
                    break
                if ended := [d.get_name() for d in duties if d.done()]:
                    log.error("%s ended on its own; starting the leader's duties again", ended)
                    break
        finally:
            term.set()
            for job in jobs:
                job.schedule_removal()
            await asyncio.gather(*duties, return_exceptions=True)
            await self.lock.release()

    def _polling_note(self) -> str:
        return ", long polling" if self.polling else ""

    async def _beat(self) -> None:
        """The heartbeat /healthz reads: when, and which of the leader's tasks are stuck."""
        health = self.services.health
        value = json.dumps(
            {"at": utcnow().isoformat(), "pid": os.getpid(), "stalled": health.stalled()}
        )
        try:
            async with self.services.db.unit_of_work() as uow:
                await uow.settings.put(HEARTBEAT_KEY, value)
        except Exception as error:
            health.failed(TASK, error)
            log.warning("could not write the heartbeat (%s)", _kind(error))
            return
        health.progress(TASK)


def read_heartbeat(value: str | None, now: datetime) -> str:
    """The scheduler's state from a stored heartbeat: ok, missing, stale or what is stuck."""
    if value is None:
        return "missing"
    with contextlib.suppress(ValueError):
        beat: dict[str, Any] = (
            json.loads(value) if value.startswith("{") else {"at": value, "stalled": {}}
        )
        if now - datetime.fromisoformat(str(beat["at"])) > HEARTBEAT_STALE:
            return "stale"
        stalled = beat.get("stalled") or {}
        return "ok" if not stalled else "stalled: " + ", ".join(sorted(stalled))
    return "stale"


def _jitter(seconds: float) -> float:
    return seconds * random.uniform(0.8, 1.2)


def _kind(error: BaseException) -> str:
    return type(error).__name__ if is_outage(error) else repr(error)
