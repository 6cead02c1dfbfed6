"""Scheduled work on PTB's JobQueue (APScheduler): rounds open, remind and close by themselves,
the editions of the annual evaluation move through their phases, and jurors who have not
submitted are reminded once a day.

Nothing is scheduled from memory: every minute (and right at start) the job re-derives what is
due from the database, so a restart or a deploy loses nothing and a missed moment is caught up.
A job that fails (the database is away) logs one line and runs again at its next interval;
each job reports its progress, so /healthz tells when one keeps failing.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from app.editions import reconcile_editions
from app.jury import queue_juror_reminders
from app.reports import compile_due_reports
from app.rounds import apply_retention, reconcile
from app.services import Services
from bot.telegram.context import AuditContext
from bot.telegram.outbox import OutboxSender
from storage.db import is_outage

log = logging.getLogger(__name__)
RECONCILE_EVERY = 60.0
REPORTS_EVERY = 600.0
RETENTION_EVERY = 6 * 3600.0


Job = Callable[[AuditContext], Awaitable[None]]


def schedule_jobs(application: Any, sender: OutboxSender | None = None) -> list[Any]:
    """Register the recurring jobs; returns them (the leader removes them when it stops)."""
    application.bot_data["sender"] = sender
    health = application.bot_data["services"].health
    jobs = []
    for job, every, first in (
        (reconcile_rounds, RECONCILE_EVERY, 0.5),
        (move_editions, RECONCILE_EVERY, 1.0),
        (compile_reports, REPORTS_EVERY, 5.0),
        (remind_jurors, REPORTS_EVERY, 10.0),
        (retention, RETENTION_EVERY, 30.0),
    ):
        name = JOB_NAMES[job]
        health.watch(name, 3 * every)  # two missed runs are bad luck; three are a problem
        jobs.append(
            application.job_queue.run_repeating(
                watched(name, job), interval=every, first=first, name=name
            )
        )
    return jobs


def watched(name: str, job: Job) -> Job:
    """A job that reports progress, and logs a failure in one line instead of raising it."""

    @functools.wraps(job)
    async def run(context: AuditContext) -> None:
        health = context.services.health
        try:
            await job(context)
        except Exception as error:
            health.failed(name, error)
            if is_outage(error):
                log.warning(
                    "job %s: database unavailable (%s); next run in its interval",
                    name,
                    type(error).__name__,
                )
            else:
                log.exception("job %s failed; next run in its interval", name)
            return
        health.progress(name)

    return run


async def reconcile_rounds(context: AuditContext) -> None:
    """Open, remind and close the rounds that are due; wake the sender if there is mail."""
    services: Services = context.services
    done = await reconcile(services)
    if done.opened or done.reminded or done.closed or done.asked_reminders:
        log.info(
            "rounds: opened %s, reminded %s, closed %s; %d reminder(s) asked for queued",
            done.opened,
            done.reminded,
            done.closed,
            done.asked_reminders,
        )
    sender: OutboxSender | None = context.bot_data.get("sender")
    if sender is not None:
        sender.wake.set()


async def move_editions(context: AuditContext) -> None:
    """Move the editions of the annual evaluation into the phases their dates give."""
    moved = await reconcile_editions(context.services.db)
    if moved:
        log.info("editions: %s", ", ".join(f"{year} now {phase}" for year, phase in moved))


async def remind_jurors(context: AuditContext) -> None:
    """Queue the day's reminders to jurors who have not submitted, and wake the sender."""
    queued = await queue_juror_reminders(context.services)
    if queued:
        log.info("jury: %d reminder(s) queued", queued)
        sender: OutboxSender | None = context.bot_data.get("sender")
        if sender is not None:
            sender.wake.set()


async def compile_reports(context: AuditContext) -> None:
    """Compile the weekly, final and annual reports that are due, and wake the sender."""
    compiled = await compile_due_reports(context.services)
    sender: OutboxSender | None = context.bot_data.get("sender")
    if compiled and sender is not None:
        sender.wake.set()


async def retention(context: AuditContext) -> None:
    """Remove what the retention settings say is no longer to be kept (counts only are logged)."""
    done = await apply_retention(context.services)
    if any(asdict(done).values()):
        log.info("retention: %s", ", ".join(f"{name} {n}" for name, n in asdict(done).items() if n))


JOB_NAMES: dict[Job, str] = {
    reconcile_rounds: "rounds",
    move_editions: "editions",
    compile_reports: "reports",
    remind_jurors: "jury_reminders",
    retention: "retention",
}
