"""Plays people against the real PTB Application over HTTP (fake Bot API server, real database)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any

from telegram import Update

from app.config import Settings
from app.services import Services
from bot.startup import start_services
from bot.telegram.app import build_application, prepare
from bot.telegram.jobs import schedule_jobs
from bot.telegram.outbox import OutboxSender
from bot.telegram.polling import poll
from bot.telegram.processor import PerUserUpdateProcessor
from tests.conftest import make_settings
from tests.fakebotapi import FakeBotApi, FakeUser

JSON = dict[str, Any]


class RecordingProcessor(PerUserUpdateProcessor):
    """The production processor, telling tests when an update has been fully handled."""

    def __init__(self) -> None:
        super().__init__(256)
        self.done: set[int] = set()
        self.changed = asyncio.Condition()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        try:
            await super().do_process_update(update, coroutine)
        finally:
            if isinstance(update, Update):
                async with self.changed:
                    self.done.add(update.update_id)
                    self.changed.notify_all()

    async def wait(self, update_id: int, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout), self.changed:
            await self.changed.wait_for(lambda: update_id in self.done)


class Person:
    """A Telegram user; each action waits until the bot has handled it."""

    def __init__(self, bot: RunningBot, user: FakeUser) -> None:
        self.bot = bot
        self.user = user

    @property
    def id(self) -> int:
        return self.user.id

    async def send(self, text: str) -> JSON:
        return await self._handled(self.user.send(text))

    async def tap(self, label: str) -> JSON:
        """Press the button with this visible text on the latest keyboard."""
        return await self._handled(self.user.press_text(label))

    async def press(self, callback_data: str, message: JSON | int | None = None) -> JSON:
        return await self._handled(self.user.press(callback_data, message))

    async def send_photo(self) -> JSON:
        return await self._handled(self.user.send_photo())

    async def send_sticker(self) -> JSON:
        return await self._handled(self.user.send_sticker())

    async def _handled(self, action: Awaitable[JSON]) -> JSON:
        update = await action
        await self.bot.processor.wait(update["update_id"])
        return update

    @property
    def received(self) -> list[JSON]:
        return self.user.received

    @property
    def last_text(self) -> str:
        last = self.user.last
        assert last is not None
        return str(last.get("text", ""))

    def buttons(self, message: JSON | None = None) -> list[str]:
        """Visible labels of the latest keyboard (or of a message)."""
        target = message or next(
            (m for m in reversed(self.received) if m.get("reply_markup")), None
        )
        if target is None or not target.get("reply_markup"):
            return []
        rows = target["reply_markup"]["inline_keyboard"]
        return [button["text"] for row in rows for button in row]

    def texts(self) -> list[str]:
        return [str(m.get("text", "")) for m in self.received]


class RunningBot:
    """The real Application, polling the fake server, on a real database."""

    def __init__(
        self,
        server: FakeBotApi,
        services: Services,
        processor: RecordingProcessor,
        application: Any,
    ) -> None:
        self.server = server
        self.services = services
        self.processor = processor
        self.application = application

    def person(self, language_code: str | None = "uk", user_id: int | None = None) -> Person:
        return Person(self, self.server.user(user_id=user_id, language_code=language_code))


@asynccontextmanager
async def running_bot(
    database_url: str, server: FakeBotApi | None = None, *, jobs: bool = False, **overrides: Any
) -> AsyncIterator[RunningBot]:
    """Start services and the Application against a fake Bot API; stop both afterwards."""
    own_server = server is None
    server = server or await FakeBotApi().start()
    settings: Settings = make_settings(
        database_url, bot_token=server.token, telegram_api_url=server.url, **overrides
    )
    services = await start_services(settings)
    processor = RecordingProcessor()
    application = build_application(settings, services, processor)
    try:
        async with application:
            await prepare(application)
            stop = asyncio.Event()
            sender = OutboxSender(services, application.bot, rate=200)
            if jobs:  # as `auditbot run` does: the scheduler and the outbox sender
                schedule_jobs(application, sender)
            await application.start()
            sending = asyncio.create_task(sender.run(stop, idle_poll=0.2)) if jobs else None
            polling = asyncio.create_task(poll(application, stop, long_poll=1))
            try:
                yield RunningBot(server, services, processor, application)
            finally:
                stop.set()
                await polling
                if sending is not None:
                    await sending
                await application.stop()
    finally:
        await services.close()
        if own_server:
            await server.stop()
