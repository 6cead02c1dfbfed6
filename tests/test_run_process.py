"""The real process: `auditbot run` (long polling) against a Bot API server on localhost."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from app.config import Settings
from bot.startup import start_services
from storage.models import Answer, Respondent, Response
from tests.conftest import SECRET
from tests.fakebotapi import FakeBotApi, FakeUser

QUIET = 0.3  # seconds without a new bot message: the reply to an action is complete


async def settle(server: FakeBotApi, before: int) -> None:
    """Wait for the bot's reply to begin, then for it to finish."""
    await server.wait_for(lambda: len(server.events) > before, timeout=20)
    while True:
        seen = len(server.events)
        try:
            await server.wait_for(lambda seen=seen: len(server.events) > seen, timeout=QUIET)
        except TimeoutError:
            return


async def act(server: FakeBotApi, action: object) -> None:
    before = len(server.events)
    await action  # type: ignore[misc]
    await settle(server, before)


@pytest.fixture
async def bot_process(
    settings: Settings,
) -> AsyncIterator[tuple[FakeBotApi, asyncio.subprocess.Process]]:
    server = await FakeBotApi().start()
    env = {
        **os.environ,
        "BOT_TOKEN": server.token,
        "TELEGRAM_API_URL": server.url,
        "DATABASE_URL": settings.database_url,
        "PSEUDONYM_SECRET": SECRET,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", env=env, stdout=asyncio.subprocess.DEVNULL
    )
    try:
        await server.wait_for(lambda: server.calls_to("getUpdates"), timeout=60)
        yield server, process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=20)
            except TimeoutError:
                process.kill()
        await server.stop()


def ukrainian(text: str) -> bool:
    lowered = text.lower()
    return bool(re.search(r"[а-яіїєґ]", lowered)) and not re.search(r"[ыэёъ]", lowered)


async def test_a_ukrainian_user_completes_a_survey_through_the_real_process(
    settings: Settings, bot_process: tuple[FakeBotApi, asyncio.subprocess.Process]
) -> None:
    server, process = bot_process
    user: FakeUser = server.user(user_id=700700700, language_code="uk")
    await act(server, user.send("/start"))
    await act(server, user.press_text("Українська"))
    labels = [b["text"] for row in user.last["reply_markup"]["inline_keyboard"] for b in row]
    await act(server, user.press_text(labels[0]))  # agree
    await act(server, user.press_text("Краків"))
    practice = user.last["reply_markup"]["inline_keyboard"][0][0]["text"]
    await act(server, user.press_text(practice))
    yes = user.last["reply_markup"]["inline_keyboard"][0][0]["text"]
    await act(server, user.press_text(yes))
    once = user.last["reply_markup"]["inline_keyboard"][1][0]["text"]
    await act(server, user.press_text(once))
    for score in ("4", "4", "5", "3"):
        await act(server, user.press_text(score))
    first_area = user.last["reply_markup"]["inline_keyboard"][0][0]["text"]
    await act(server, user.press_text(first_area))
    done = user.last["reply_markup"]["inline_keyboard"][9][0]["text"]
    await act(server, user.press_text(done))
    await act(server, user.send("Потрібно більше консультацій українською"))

    texts = [m.get("text", "") for m in user.received]
    assert all(ukrainian(t) for t in texts), [t for t in texts if not ukrainian(t)]
    assert process.returncode is None, "the bot process is still running"

    services = await start_services(settings)
    try:
        async with services.db.unit_of_work() as uow:
            [response] = (await uow.session.scalars(select(Response))).all()
            answers = (await uow.session.scalars(select(Answer))).all()
            [respondent] = (await uow.session.scalars(select(Respondent))).all()
    finally:
        await services.close()
    assert response.status == "completed" and response.locale == "uk"
    assert len(answers) == 8
    assert respondent.pseudonym == services.pseudonyms.of("tg", 700700700)
    for row in (response, respondent, *answers):
        values = " ".join(str(getattr(row, c.key)) for c in row.__table__.columns)
        assert "700700700" not in values
