"""Scheduled work on PTB's JobQueue (APScheduler): rounds open, remind and close by themselves.

Nothing is scheduled from memory: every minute (and right at start) the job re-derives what is
due from the database, so a restart or a deploy loses nothing and a missed moment is caught up.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.reports import compile_due_reports
from bot.rounds import apply_retention, reconcile
from bot.services import Services
from bot.telegram.context import AuditContext
from bot.telegram.outbox import OutboxSender

log = logging.getLogger(__name__)
RECONCILE_EVERY = 60.0
REPORTS_EVERY = 600.0
RETENTION_EVERY = 6 * 3600.0


def schedule_jobs(application: Any, sender: OutboxSender | None = None) -> None:
    """Register the recurring jobs."""
    application.bot_data["sender"] = sender
    application.job_queue.run_repeating(
        reconcile_rounds, interval=RECONCILE_EVERY, first=0.5, name="rounds"
    )
    application.job_queue.run_repeating(
        compile_reports, interval=REPORTS_EVERY, first=5.0, name="reports"
    )
    application.job_queue.run_repeating(
        retention, interval=RETENTION_EVERY, first=30.0, name="retention"
    )


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


async def compile_reports(context: AuditContext) -> None:
    """Compile the weekly, final and annual reports that are due, and wake the sender."""
    compiled = await compile_due_reports(context.services)
    sender: OutboxSender | None = context.bot_data.get("sender")
    if compiled and sender is not None:
        sender.wake.set()


async def retention(context: AuditContext) -> None:
    """Remove what the retention settings say is no longer to be kept."""
    done = await apply_retention(context.services)
    if done.unfinished_deleted or done.comments_erased:
        log.info(
            "retention: %d unfinished responses deleted, %d comments erased",
            done.unfinished_deleted,
            done.comments_erased,
        )
