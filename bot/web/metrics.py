"""Prometheus metrics: updates handled, handler latency, outbox depth, send errors by kind.

Served on a port of their own (METRICS_HOST:METRICS_PORT), never next to the public webhook
and dashboard: what a process is doing is for the operator's Prometheus, not for the internet.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from bot.config import ConfigError
from bot.services import Services
from storage.db import is_outage

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)

UPDATES = Counter(
    "auditbot_updates_handled", "Telegram updates handled", ["kind"], registry=REGISTRY
)
LATENCY = Histogram(
    "auditbot_handler_seconds",
    "Time from receiving an update to the end of its handling",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
OUTBOX_DEPTH = Gauge("auditbot_outbox_depth", "Messages waiting to be sent", registry=REGISTRY)
SEND_ERRORS = Counter(
    "auditbot_send_errors", "Bot API errors while sending", ["kind"], registry=REGISTRY
)


def update_kind(update: object) -> str:
    """A low-cardinality label for an update: message, callback_query, edited_message, …"""
    for kind in ("callback_query", "message", "edited_message", "my_chat_member"):
        if getattr(update, kind, None) is not None:
            return kind
    return "other"


TASK_PROGRESS = Gauge(
    "auditbot_task_last_progress_timestamp_seconds",
    "When a background task (sender, polling, scheduler jobs, leadership) last made progress",
    ["task"],
    registry=REGISTRY,
)
TASK_STALLED = Gauge(
    "auditbot_task_stalled",
    "1 while a background task has made no progress for longer than it should",
    ["task"],
    registry=REGISTRY,
)
TASK_FAILURES = Counter(
    "auditbot_task_failures",
    "Failed attempts of background tasks, by kind of error",
    ["task", "kind"],
    registry=REGISTRY,
)
UNCONFIRMED = Counter(
    "auditbot_updates_unconfirmed",
    "Updates left for Telegram to deliver again because the database failed while handling them",
    ["transport"],
    registry=REGISTRY,
)
OUTBOX_SKIPPED = Counter(
    "auditbot_outbox_skipped",
    "Queued messages not sent because they were no longer wanted at send time",
    ["reason"],
    registry=REGISTRY,
)


_SERVICES = web.AppKey("services", Services)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition. Reading the outbox's depth takes no write lock; while the
    database is away the other metrics are served all the same (they matter most then)."""
    services = request.app[_SERVICES]
    services.health.stalled()  # brings the stalled gauges up to date
    try:
        async with services.db.reading() as uow:
            OUTBOX_DEPTH.set(await uow.outbox.depth())
    except Exception as error:
        if not is_outage(error):
            raise
    return web.Response(
        body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


@asynccontextmanager
async def metrics_server(services: Services, port: int | None) -> AsyncIterator[None]:
    """Serve /metrics on METRICS_HOST and `port` while the context lasts (nothing when the
    port is None: METRICS_PORT is not set)."""
    if port is None:
        yield
        return
    app = web.Application()
    app[_SERVICES] = services
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host = services.settings.metrics_host
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as error:
        await runner.cleanup()
        raise ConfigError(
            f"METRICS_PORT: cannot listen on {host}:{port} ({error.strerror})"
        ) from None
    log.info("metrics on http://%s:%s/metrics", host, port)
    try:
        yield
    finally:
        await runner.cleanup()
