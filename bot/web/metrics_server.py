"""/metrics on a port of its own (METRICS_HOST:METRICS_PORT), never next to the public webhook
and dashboard: what a process is doing is for the operator's Prometheus, not for the internet.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.config import ConfigError
from app.services import Services
from bot.web.metrics import OUTBOX_DEPTH, REGISTRY, pipeline_figures
from storage.db import is_outage

log = logging.getLogger(__name__)

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
    body = generate_latest(REGISTRY) + pipeline_figures(services.pipeline)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


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
