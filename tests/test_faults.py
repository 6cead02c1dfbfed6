"""Fault injection in the fake Bot API: 429, 500/502, slow answers, hangs, dropped connections.

The bot keeps serving, nothing is lost, and no invitation is sent twice.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

from bot.telegram.outbox import OutboxSender
from storage.models import utcnow
from tests.fakebotapi import RandomFaults
from tests.respondent_driver import Driver, Plan, expected_answers, stored_answers
from tests.telegram_harness import RunningBot
from tests.test_staff import open_now, subscribe


async def complete(bot: RunningBot, driver: Driver, limit: int = 300) -> None:
    """Step until the survey is complete (each step waits for the bot to handle it)."""
    for _ in range(limit):
        update = await driver.step()
        if update is None:
            return
        await bot.processor.wait(update["update_id"], timeout=30)
    raise AssertionError(f"user {driver.user.id} did not finish in {limit} steps")


async def test_surveys_under_random_faults_lose_nothing(bot: RunningBot) -> None:
    faults = RandomFaults(rate=0.3, seed=7, hang=0.4)
    bot.server.faults.append(faults)
    rng = random.Random(3)
    drivers = [
        Driver(bot.services, bot.server, bot.server.user(language_code="uk"), Plan.random(rng))
        for _ in range(8)
    ]
    await asyncio.gather(*(complete(bot, d) for d in drivers))
    assert sum(faults.seen.values()) >= 10, faults.seen  # the faults did happen
    for driver in drivers:
        status, values = await stored_answers(bot.services, driver.pseudonym)
        assert status == "completed"
        assert values == expected_answers(driver.plan), driver.plan
    bot.server.faults.remove(faults)
    newcomer = bot.person("en")
    await newcomer.send("/start")
    assert newcomer.buttons()[0] == "English"  # still serving


async def test_a_broadcast_under_random_faults_delivers_each_invitation_once(
    bot: RunningBot,
) -> None:
    chats = {50_000 + n: ("uk", "ru", "en", "pl")[n % 4] for n in range(120)}
    await subscribe(bot.services, chats)
    await open_now(bot.services)
    faults = RandomFaults(rate=0.3, seed=11, methods=("sendMessage",), hang=0.3, slow=0.1)
    bot.server.faults.append(faults)
    sender = OutboxSender(bot.services, bot.application.bot, rate=300, retry_base=0.05)
    started = utcnow()
    while (utcnow() - started).total_seconds() < 60:
        await sender.drain()
        async with bot.services.db.unit_of_work() as uow:
            if await uow.outbox.depth() == 0:
                break
        await asyncio.sleep(0.05)
    delivered = Counter(
        int(c.params["chat_id"]) for c in bot.server.calls_to("sendMessage") if c.error is None
    )
    assert delivered == Counter(dict.fromkeys(chats, 1))
    assert faults.seen["429"] and faults.seen["500"] + faults.seen["502"], faults.seen
