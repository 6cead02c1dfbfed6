"""Wiring: build the PTB Application on our aiohttp transport, register handlers, run."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from telegram import BotCommand
from telegram.error import TelegramError
from telegram.ext import (
    ApplicationBuilder,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from app.config import LOCALES, Settings
from app.services import Services
from bot.startup import start_services
from bot.telegram import evaluation_handlers, handlers, report_handlers, staff_handlers
from bot.telegram.context import AuditApplication, AuditContext
from bot.telegram.leadership import Leadership
from bot.telegram.processor import PerUserUpdateProcessor
from bot.telegram.staff_handlers import STAFF_PREFIX
from bot.transport import AiohttpRequest
from bot.web.metrics_server import metrics_server
from conversations.messages import Msg, _

log = logging.getLogger(__name__)

COMMANDS: list[tuple[str, Msg]] = [
    ("start", _("Start a survey")),
    ("resume", _("Continue where you stopped")),
    ("language", _("Change the language")),
    ("propose", _("Propose a practice")),
    ("help", _("What this bot does")),
    ("mydata", _("What is stored about you")),
    ("delete", _("Delete your data")),
    ("stop", _("Stop invitations")),
    ("cancel", _("Stop what you are doing")),
]


def build_application(
    settings: Settings,
    services: Services,
    processor: BaseUpdateProcessor | None = None,
) -> AuditApplication:
    """The PTB Application talking to TELEGRAM_API_URL over aiohttp, with every handler.
    It has no Updater: updates arrive through bot/telegram/polling.py or the webhook."""
    assert settings.bot_token is not None
    transport = (
        AiohttpRequest(connection_pool_size=256),
        AiohttpRequest(connection_pool_size=4, read_timeout=45.0),
    )
    application: AuditApplication = (
        ApplicationBuilder()
        .updater(None)
        .token(settings.bot_token)
        .base_url(f"{settings.telegram_api_url}/bot")
        .base_file_url(f"{settings.telegram_api_url}/file/bot")
        .request(transport[0])
        .get_updates_request(transport[1])
        .context_types(ContextTypes(context=AuditContext))
        .concurrent_updates(processor or PerUserUpdateProcessor(256))
        .build()
    )
    application.bot_data["services"] = services
    application.bot_data["transport"] = transport
    register_handlers(application)
    return application


async def close_transport(application: Any) -> None:
    """Close the HTTP sessions. PTB does it only for an application that started; one whose
    start failed (a token Telegram rejects) would leave them open."""
    for request in application.bot_data["transport"]:
        await request.shutdown()


def register_handlers(application: AuditApplication) -> None:
    """Private chats get the survey; groups a polite pointer; everything else a hint."""
    private = filters.ChatType.PRIVATE
    text = private & filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND
    # Group -1: an open staff dialogue takes typed text and /cancel before the survey does.
    application.add_handler(MessageHandler(text, staff_handlers.on_dialog_text), group=-1)
    application.add_handler(
        CommandHandler("cancel", staff_handlers.on_dialog_cancel, private), group=-1
    )
    for name, callback in (
        ("grant", staff_handlers.on_grant),
        ("revoke", staff_handlers.on_revoke),
        ("round", staff_handlers.on_round),
        ("status", staff_handlers.on_status),
        ("poster", staff_handlers.on_poster),
        ("nominations", staff_handlers.on_nominations),
        ("propose", evaluation_handlers.on_propose),
        ("jury", evaluation_handlers.on_jury),
        ("report", report_handlers.on_report),
        ("report_settings", report_handlers.on_report_settings),
        ("dashboard", report_handlers.on_dashboard),
        ("hide_comment", report_handlers.on_hide_comment),
        ("unhide_comment", report_handlers.on_unhide_comment),
    ):
        application.add_handler(CommandHandler(name, callback, private))
    application.add_handler(
        CallbackQueryHandler(staff_handlers.on_dialog_press, pattern=rf"^{STAFF_PREFIX}")
    )
    application.add_handler(
        CallbackQueryHandler(report_handlers.on_report_press, pattern=report_handlers.PATTERN)
    )
    application.add_handler(CommandHandler("start", handlers.on_start, private))
    application.add_handler(CommandHandler("mydata", handlers.on_mydata, private))
    application.add_handler(CommandHandler("stop", handlers.on_stop, private))
    application.add_handler(
        CommandHandler(list(handlers.COMMAND_EVENTS), handlers.on_command, private)
    )
    application.add_handler(CallbackQueryHandler(handlers.on_press))
    application.add_handler(
        MessageHandler(
            private & filters.UpdateType.MESSAGE & filters.COMMAND, handlers.on_unknown_command
        )
    )
    application.add_handler(
        MessageHandler(private & filters.UpdateType.MESSAGE & filters.TEXT, handlers.on_text)
    )
    application.add_handler(CommandHandler("start", handlers.on_group, ~private))
    # Anything else from a private chat (photos, stickers, voice, edits) gets a hint.
    application.add_handler(MessageHandler(private, handlers.on_other))
    application.add_error_handler(handlers.on_error)


async def prepare(application: Any) -> None:
    """After initialize: learn the bot's address for share links, set the command menus."""
    services: Services = application.bot_data["services"]
    me = await application.bot.get_me()
    services.translator.link_base = f"https://t.me/{me.username}?start="
    await set_commands(application, services)


async def set_commands(application: Any, services: Services) -> None:
    """The command menu, translated per language (and the default language for the rest)."""
    translator = services.translator
    for locale in (None, *LOCALES):
        shown = locale or translator.default_locale
        commands = [BotCommand(name, translator.render(text, shown)) for name, text in COMMANDS]
        try:
            await application.bot.set_my_commands(commands, language_code=locale)
        except TelegramError as error:  # a menu is a nicety; a server without it still works
            log.warning("could not set the command menu (%s): %s", locale, error)


@asynccontextmanager
async def running(
    settings: Settings, worker: int = 0
) -> AsyncIterator[tuple[Services, Any, asyncio.Event]]:
    """Services, /metrics (on METRICS_PORT + the worker's number) and a started Application,
    with an event that SIGINT or SIGTERM sets; all stopped and closed on the way out."""
    services = await start_services(settings)
    application = build_application(settings, services)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    port = settings.metrics_port + worker if settings.metrics_port else None
    try:
        async with metrics_server(services, port), application:
            await prepare(application)
            await application.start()
            # What start-up built (catalogs, PTB, SQLAlchemy) lives as long as the process: keep
            # the cyclic collector from rescanning it (its full passes were the p99 latency).
            gc.freeze()
            try:
                yield services, application, stop
            finally:
                await application.stop()
    finally:
        await close_transport(application)
        await services.close()


async def run_polling(settings: Settings) -> None:
    """Start the bot with long polling and run until SIGINT or SIGTERM. Polling, the scheduler
    and the sender are the leader's: a second copy on the same database waits to take over."""
    async with running(settings) as (services, application, stop):
        log.info("bot is running (long polling)")
        await Leadership(services, application, polling=True).run(stop)
        log.info("stopping")
