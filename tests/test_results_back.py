"""Results back to respondents: at the end of a round's survey a person may ask for the results;
when the round's figures are frozen each gets one message in their language — the practice's
published figures, or that too few answered — through the outbox; /stop and /delete are honoured."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import Date, DateTime, select

from app.rounds import close_round, create_round, open_round
from app.services import Services
from bot.telegram.outbox import OutboxSender
from conversations.messages import _
from storage.models import OutboxMessage, ResultsRequest, utcnow
from tests.telegram_harness import Person, RunningBot, running_bot
from tests.test_audit import A, B, add_response, person
from tests.test_telegram import consent, said

ASK = _("Send me the results when they are ready")
PUBLIC = "https://audit.example.org"


@pytest.fixture
async def bot(database_url: str) -> AsyncIterator[RunningBot]:
    async with running_bot(database_url, public_url=PUBLIC) as running:
        yield running


async def open_round_of(services: Services, practice: str) -> int:
    now = utcnow()
    async with services.db.unit_of_work() as uow:
        survey = await uow.surveys.latest("open-cities")
        assert survey is not None
        round_ = await create_round(
            uow, "test", "krakow", [practice], survey.id, now, now + timedelta(days=10)
        )
        await open_round(uow, services, round_, "test", now)
        return round_.id


async def finished_and_asked(bot: RunningBot, round_id: int, locale: str) -> Person:
    """Someone who took the round's survey to the end and asked for the results."""
    respondent = bot.person(language_code=locale)
    await consent(respondent, bot, locale, f"/start r_{round_id}")
    await respondent.tap(said(bot, _("Yes"), locale))
    await respondent.tap(respondent.buttons()[1])  # how often they used it
    for _rating in range(4):
        await respondent.tap("4")
    await respondent.tap(respondent.buttons()[0])  # what for: the first option
    await respondent.tap(said(bot, _("Done"), locale))
    await respondent.tap(said(bot, _("Skip ›"), locale))  # no comment
    assert said(bot, ASK, locale) in respondent.buttons()
    await respondent.tap(said(bot, ASK, locale))
    assert said(bot, ASK, locale) not in respondent.buttons()  # asked once
    return respondent


async def close(bot: RunningBot, round_id: int) -> None:
    async with bot.services.db.unit_of_work() as uow:
        round_ = await uow.rounds.get(round_id)
        assert round_ is not None
        k = bot.services.settings.min_group_size
        await close_round(uow, round_, "test", utcnow(), k, bot.services.pseudonyms)


def results_messages(bot: RunningBot, respondent: Person, marker: str) -> list[str]:
    texts = [m.get("text", "") for m in bot.server.messages(respondent.id)]
    return [text for text in texts if marker in text]


async def requests(services: Services) -> list[tuple[int, str, int, str]]:
    async with services.db.unit_of_work() as uow:
        rows = (await uow.session.scalars(select(ResultsRequest))).all()
    return sorted((r.round_id, r.practice_id, r.chat_id, r.locale) for r in rows)


async def test_each_person_who_asked_gets_one_results_message_in_their_language(
    bot: RunningBot,
) -> None:
    round_id = await open_round_of(bot.services, A)
    asked = {
        locale: await finished_and_asked(bot, round_id, locale) for locale in ("uk", "ru", "pl")
    }
    deleting = await finished_and_asked(bot, round_id, "en")
    for n in range(3):  # others who answered on paper: 6 completed with the three above
        await add_response(bot.services, f"paper-{n}", A, round_id, person("yes", "once", (4,) * 4))
    assert len(await requests(bot.services)) == 4
    await asked["pl"].send("/mydata")  # the request is part of what is stored about them
    assert "Wyniki do wysłania, gdy będą gotowe: Program „Otwarty Kraków”" in asked["pl"].last_text
    await deleting.send("/delete")
    await deleting.tap(said(bot, _("Yes, delete"), "en"))
    assert len(await requests(bot.services)) == 3  # /delete erased the request

    await close(bot, round_id)
    assert await requests(bot.services) == []  # queued now: nothing more is kept for it
    sender = OutboxSender(bot.services, bot.application.bot, rate=200)
    await sender.drain()
    await close(bot, round_id)  # closing again (a retried job) queues nothing twice
    await OutboxSender(bot.services, bot.application.bot, rate=200).drain()

    for locale, respondent in asked.items():
        ready = said(bot, _("All the results: {link}", link="§"), locale).split("§")[0]
        [message] = results_messages(bot, respondent, ready)
        assert "100" in message and f"{PUBLIC}/results/rounds/{round_id}" in message
    assert "Усі результати" in results_messages(bot, asked["uk"], "Усі")[0]
    assert "Все результаты" in results_messages(bot, asked["ru"], "Все")[0]
    assert "Wszystkie wyniki" in results_messages(bot, asked["pl"], "Wszystkie")[0]
    assert results_messages(bot, deleting, "All the results") == []
    assert results_messages(bot, deleting, PUBLIC) == []
    async with bot.services.db.unit_of_work() as uow:
        rows = (await uow.session.scalars(select(OutboxMessage))).all()
    results = [r for r in rows if r.kind == "results"]
    assert len(results) == 3 and {r.status for r in results} == {"sent"}
    assert all(str(r.chat_id) not in r.dedupe_key for r in results)


async def test_a_practice_below_k_gets_the_too_few_message_and_stop_cancels(
    bot: RunningBot,
) -> None:
    round_id = await open_round_of(bot.services, B)
    few = await finished_and_asked(bot, round_id, "uk")
    stopping = await finished_and_asked(bot, round_id, "pl")
    await close(bot, round_id)  # two answers, k = 5: nothing is published
    await stopping.send("/stop")  # after the message was queued, before it is sent
    await OutboxSender(bot.services, bot.application.bot, rate=200).drain()
    texts = [m.get("text", "") for m in bot.server.messages(few.id)]
    too_few = [t for t in texts if "Відповіло занадто мало людей" in t]
    assert len(too_few) == 1 and "/results/rounds/" in too_few[0]
    assert not any(
        "ankieta się zakończyła" in m.get("text", "") for m in bot.server.messages(stopping.id)
    )


def test_a_results_request_keeps_no_time_finer_than_a_day_and_no_running_number() -> None:
    table = ResultsRequest.__table__
    assert {c.name for c in table.columns} == {
        "round_id",
        "practice_id",
        "chat_id",
        "locale",
        "asked_on",
    }
    assert not any(isinstance(c.type, DateTime) for c in table.columns)
    assert isinstance(table.c.asked_on.type, Date)
    assert {c.name for c in table.primary_key.columns} == {"round_id", "practice_id", "chat_id"}
