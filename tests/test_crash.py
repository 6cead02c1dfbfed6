"""Crash safety: 500 people answer through the real `auditbot run` while it is SIGKILLed 5 times.

Afterwards every person finishes; no answer is lost or doubled, and every completed response
holds exactly the answers its path through the survey requires.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.config import Settings
from bot.startup import start_services
from storage.models import Answer, Progress, Response
from tests.conftest import SECRET
from tests.fakebotapi import FakeBotApi
from tests.respondent_driver import Driver, Plan, expected_answers

PEOPLE = 500
KILLS = 5
PATIENCE = 10.0  # seconds before an input that changed nothing (a stale press) is sent again
# A hang guard, not a speed target (bench/ measures speed): the run fails when no one's survey
# moves for this long. Alone on a 2-core machine the test takes 100–175 s; under load much longer.
STALL = 120.0
DEADLINE = 1200.0  # and a backstop for a bot that keeps moving without finishing anyone


class BotProcess:
    """`auditbot run` as a child process that can be killed and started again."""

    def __init__(self, settings: Settings, server: FakeBotApi) -> None:
        self.env = {
            **os.environ,
            "BOT_TOKEN": server.token,
            "TELEGRAM_API_URL": server.url,
            "DATABASE_URL": settings.database_url,
            "PSEUDONYM_SECRET": SECRET,
        }
        self.server = server
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self) -> None:
        polls = len(self.server.calls_to("getUpdates"))
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        self.starts += 1
        await self.server.wait_for(
            lambda: len(self.server.calls_to("getUpdates")) > polls, timeout=60
        )

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()


async def snapshot(engine: AsyncEngine) -> dict[str, tuple[Any, Any, Any]]:
    """Per pseudonym: (progress, response, help areas chosen), read without locking anyone."""
    async with engine.connect() as connection:
        progress = {
            p.pseudonym: p
            for p in (
                await connection.execute(
                    select(
                        Progress.pseudonym, Progress.stage, Progress.revision, Progress.response_id
                    )
                )
            ).all()
        }
        responses = {
            r.id: r
            for r in (
                await connection.execute(
                    select(Response.id, Response.status, Response.current_question)
                )
            ).all()
        }
        areas = dict(
            (
                await connection.execute(
                    select(Answer.response_id, Answer.value_options).where(
                        Answer.question_id == "help_areas"
                    )
                )
            ).all()
        )
    return {
        pseudonym: (p, responses.get(p.response_id), areas.get(p.response_id))
        for pseudonym, p in progress.items()
    }


# The test guards itself on progress (STALL) with DEADLINE as a backstop; the suite's 300 s
# per-test timeout would cut it short on a loaded machine before either guard can speak.
@pytest.mark.timeout(DEADLINE + STALL)
async def test_killed_five_times_nothing_is_lost_or_doubled(settings: Settings) -> None:
    services = await start_services(settings)  # migrated, catalog loaded, like a deployment
    reader = create_async_engine(settings.database_url)
    rng = random.Random(2026)
    async with FakeBotApi() as server:
        bot = BotProcess(settings, server)
        drivers = [
            Driver(services, server, server.user(language_code="uk"), Plan.random(rng))
            for _ in range(PEOPLE)
        ]
        by_pseudonym = {d.pseudonym: d for d in drivers}
        seen: dict[str, tuple[Any, float]] = {}  # pseudonym → (revision, when we last acted)
        kill_at = sorted(rng.uniform(0.05, 0.85) for _ in range(KILLS))
        await bot.start()
        try:
            done, started = 0, time.monotonic()
            progressed = started
            while done < PEOPLE:
                assert time.monotonic() - progressed < STALL, f"stuck at {done} finished"
                assert time.monotonic() - started < DEADLINE, f"only {done} finished"
                if kill_at and done >= kill_at[0] * PEOPLE:
                    kill_at.pop(0)
                    await bot.kill()  # mid-stream: updates queued, some half handled
                    await bot.start()
                state = await snapshot(reader)
                done_before, done = done, 0
                for pseudonym, driver in by_pseudonym.items():
                    progress, response, areas = state.get(pseudonym, (None, None, None))
                    if response is not None and response.status == "completed":
                        done += 1
                        continue
                    revision = progress.revision if progress else None
                    last = seen.get(pseudonym)
                    if last and last[0] != revision:
                        progressed = time.monotonic()
                    if last and last[0] == revision and time.monotonic() - last[1] < PATIENCE:
                        continue  # still waiting for the bot to handle our last input
                    await driver.act(progress, response, areas)
                    seen[pseudonym] = (revision, time.monotonic())
                if done > done_before:
                    progressed = time.monotonic()
                await asyncio.sleep(0.2)
        finally:
            await bot.stop()
    assert bot.starts == KILLS + 1
    try:
        for driver in drivers:
            async with services.db.unit_of_work() as uow:
                responses = (
                    await uow.session.scalars(
                        select(Response).where(Response.pseudonym == driver.pseudonym)
                    )
                ).all()
                assert len(responses) == 1, "one response per person, never two"
                rows = (
                    await uow.session.scalars(
                        select(Answer).where(Answer.response_id == responses[0].id)
                    )
                ).all()
            stored = {
                a.question_id: None
                if a.skipped
                else (
                    a.value_number
                    if a.value_number is not None
                    else a.value_options or a.value_option or a.value_text
                )
                for a in rows
            }
            assert responses[0].status == "completed"
            assert stored == expected_answers(driver.plan), driver.user.id
    finally:
        await reader.dispose()
        await services.close()
