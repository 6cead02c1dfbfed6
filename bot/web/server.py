"""`auditbot serve` and `auditbot scheduler`: one aiohttp application, one or more workers.

- POST /telegram/webhook: the secret header is checked (constant time); the update is handled
  before the answer, so an update Telegram sees as delivered has been committed; when the
  database failed while handling it, the answer is 503 and Telegram delivers it again.
- /dashboard…: the coordinator dashboard (bot/web/dashboard.py).
- /results…: the published results, for anyone (bot/web/public.py).
- GET /healthz: the database answers, this process's background tasks make progress, and
  the leader's heartbeat is fresh and reports none of its tasks stuck.
- /metrics is served on a port of its own (bot/web/metrics.py), not here.

Workers share the port (SO_REUSEPORT) and the PostgreSQL database; updates of one person are
serialised by a row lock on their progress. Exactly one process — the leader, holding a
database lock — runs the scheduler and the outbox sender.
"""

from __future__ import annotations

import hmac
import logging
import math
import os
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from bot.config import ConfigError, Settings
from bot.services import Services
from bot.telegram import outcome
from bot.telegram.app import running
from bot.telegram.incoming import ALLOWED_UPDATES, IncomingUpdates
from bot.telegram.leadership import HEARTBEAT_KEY, Leadership, read_heartbeat
from bot.web.dashboard import Dashboard
from bot.web.metrics import UNCONFIRMED
from bot.web.public import PublicPages
from bot.web.security import add_security_headers
from storage.db import is_outage
from storage.models import utcnow

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SERVICES = web.AppKey("services", Services)
TELEGRAM: web.AppKey[Any] = web.AppKey("telegram")
INCOMING = web.AppKey("incoming", IncomingUpdates)
# Telegram's updates nest a dozen levels at most and its numbers fit 64 bits; anything beyond
# is not an update and is refused before it reaches PTB or the database.
MAX_DEPTH = 32
INT64 = range(-(2**63), 2**63)


def build_web_app(services: Services, application: Any | None) -> web.Application:
    """The aiohttp application: webhook (when a Telegram application is given), dashboard,
    health and metrics."""
    app = web.Application(client_max_size=1024 * 1024, middlewares=[database_away])
    app[SERVICES] = services
    app[TELEGRAM] = application
    if application is not None:
        app[INCOMING] = IncomingUpdates(application.bot)
        app.router.add_post("/telegram/webhook", webhook)
    app.router.add_get("/healthz", healthz)
    app.router.add_routes(Dashboard(services).routes())
    app.router.add_routes(PublicPages(services).routes())
    add_security_headers(app, https=(services.settings.dashboard_url or "").startswith("https:"))
    return app


@web.middleware
async def database_away(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A request that met the database away gets a plain 503 and one log line, not a 500 with
    a traceback (Telegram delivers a webhook update again after a 5xx)."""
    try:
        return await handler(request)
    except Exception as error:
        if not is_outage(error):
            raise
        kind = type(error).__name__
        log.warning("%s %s: database unavailable (%s)", request.method, request.path, kind)
        return web.Response(status=503, text="The database is unavailable; try again shortly.")


async def webhook(request: web.Request) -> web.Response:
    """A Telegram update: 401 without the right secret; otherwise handled, then 200."""
    services: Services = request.app[SERVICES]
    secret = services.settings.webhook_secret or ""
    given = request.headers.get(SECRET_HEADER, "")
    if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
        return web.json_response({"ok": False}, status=401)
    try:
        data = orjson.loads(await request.read())
    except orjson.JSONDecodeError:  # also past orjson's depth limit or 64-bit numbers
        return web.json_response({"ok": False, "error": "not JSON"}, status=400)
    if not isinstance(data, dict) or not within_bounds(data):
        return web.json_response({"ok": False, "error": "not an update"}, status=400)
    application = request.app[TELEGRAM]
    update = request.app[INCOMING].parse(data)
    if update is None:
        return web.json_response({"ok": True})
    processor = application.update_processor
    handling = outcome.track()
    await processor.process_update(update, application.process_update(update))
    if not handling.confirm:  # Telegram delivers it again later
        UNCONFIRMED.labels("webhook").inc()
        return web.json_response({"ok": False, "error": "database unavailable"}, status=503)
    return web.json_response({"ok": True})


def within_bounds(data: object) -> bool:
    """No deeper than MAX_DEPTH and every number within the signed 64-bit range (checked
    without recursion, so a deep document cannot exhaust the stack)."""
    pending: list[tuple[object, int]] = [(data, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                return False
            items = value.values() if isinstance(value, dict) else value
            pending.extend((item, depth + 1) for item in items)
        elif not _in_int64(value):
            return False
    return True


def _in_int64(value: object) -> bool:
    """Numbers must fit a signed 64-bit integer (floats too: ids do not come as 1e19)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return True
    if isinstance(value, float):
        return math.isfinite(value) and abs(value) < 2**63
    return value in INT64


async def healthz(request: web.Request) -> web.Response:
    """200 when the database answers, this process's background tasks make progress, and the
    leader beat within the last minute with none of its tasks stuck; else 503 saying what.
    Read without the write lock: a busy writer must not make the bot look dead."""
    services: Services = request.app[SERVICES]
    checks: dict[str, Any] = {"database": "ok", "scheduler": "ok"}
    beat = None
    try:
        async with services.db.reading() as uow:
            beat = await uow.settings.get(HEARTBEAT_KEY)
    except Exception as error:  # any failure of the database is the answer here
        checks["database"] = type(error).__name__
        checks["scheduler"] = "unknown"
    else:
        checks["scheduler"] = read_heartbeat(beat, utcnow())
    if stalled := services.health.stalled():
        checks["tasks"] = stalled
    healthy = checks["database"] == "ok" and checks["scheduler"] == "ok" and not stalled
    return web.json_response(checks, status=200 if healthy else 503)


async def serve(
    settings: Settings,
    host: str,
    port: int,
    *,
    scheduler: bool = True,
    worker: int = 0,
) -> None:
    """One worker: the web application, the webhook's PTB application, maybe the leader. The
    first worker registers the webhook; each serves /metrics on METRICS_PORT + its number."""
    if settings.bot_token is None:
        raise ConfigError("BOT_TOKEN: needed to serve the Telegram webhook")
    if settings.webhook_secret is None:
        raise ConfigError("WEBHOOK_SECRET: needed so that only Telegram can call the webhook")
    async with running(settings, worker) as (services, application, stop):
        if worker == 0 and settings.webhook_url:
            await application.bot.set_webhook(
                settings.webhook_url,
                secret_token=settings.webhook_secret,
                allowed_updates=list(ALLOWED_UPDATES),
            )
        runner = web.AppRunner(build_web_app(services, application), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port, reuse_port=True).start()
        except OSError as error:
            await runner.cleanup()
            raise ConfigError(
                f"--port: cannot listen on {host}:{port} ({error.strerror})"
            ) from None
        log.info("serving on %s:%s (pid %s)", host, port, os.getpid())
        if scheduler:
            await Leadership(services, application).run(stop)
        else:
            await stop.wait()
        await runner.cleanup()


async def run_scheduler(settings: Settings) -> None:
    """The scheduler and the outbox sender as a process of their own (one leader at a time)."""
    if settings.bot_token is None:
        raise ConfigError("BOT_TOKEN: needed to send invitations and reports")
    async with running(settings) as (services, application, stop):
        await Leadership(services, application).run(stop)
