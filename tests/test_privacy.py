"""Privacy that holds after /delete, in a copy of the database, and in the console preview
(issue #12: "Erasure leaves data", "Linkage from a database copy", "The console preview writes
real responses"; docs/privacy.md)."""

from __future__ import annotations

import json
import random
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from audit.summary import round_period, summarize
from bot.config import Settings
from bot.reports import build, compile_due_reports
from bot.rounds import close_round, reconcile
from bot.services import Services, start_services
from bot.staff import COORDINATOR
from bot.telegram.outbox import OutboxSender
from conversations.messages import _
from storage.models import (
    PREVIEW,
    AuditLog,
    Base,
    OutboxMessage,
    ReminderRequest,
    Report,
    Response,
    Subscription,
    utcnow,
)
from storage.reporting import Scope
from tests.respondent_driver import PRACTICE, Driver, Plan
from tests.telegram_harness import Person, RunningBot, running_bot
from tests.test_console import ANSWERS, run_chat
from tests.test_faults import complete
from tests.test_respondents import open_round_now
from tests.test_telegram import consent, said

CHAT = 4_242_424_242  # distinctive: no timestamp or serial id contains it
COORDINATOR_ID = 818_181_818
FIRST_COMMENT = "Zamknięte w soboty, szkoda (always-on)"
ROUND_COMMENT = "Potrzebny tłumacz w okienku nr 7 (round)"
ANSWERS_EN = ("Yes", "Once", "5", "5", "5", "5", "Work", "Done")


async def dump(services: Services) -> list[tuple[str, str, str]]:
    """(table, column, value as text) of every value in every table of the schema."""
    found = []
    async with services.db.unit_of_work() as uow:
        for table in Base.metadata.sorted_tables:
            for row in (await uow.session.execute(select(table))).mappings():
                for column, value in row.items():
                    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                    found.append((table.name, str(column), text))
    return found


async def finish_with_comment(bot: RunningBot, person: Person, comment: str) -> None:
    for label in ANSWERS_EN:
        await person.tap(label)
    await person.send(comment)


async def history(bot: RunningBot) -> tuple[Person, int]:
    """A realistic history of one person (English, chat CHAT) among four others: answered with
    a comment, subscribed, invited, paused with "Remind me", reminded, answered with a comment
    again, refused a staff command; the round closed and its final report was compiled and sent
    to a coordinator."""
    services = bot.services
    async with services.db.unit_of_work() as uow:
        await uow.staff.put(COORDINATOR_ID, COORDINATOR, [])
    person = bot.person("en", user_id=CHAT)
    await consent(person, bot, "en", f"/start p_{PRACTICE}")
    await finish_with_comment(bot, person, FIRST_COMMENT)
    await person.tap(said(bot, _("Invite me to future surveys"), "en"))
    round_id = await open_round_now(services)
    await drain(bot)
    assert any("survey has started" in t for t in person.texts())  # invited
    await person.send(f"/start r_{round_id}")
    await person.tap("Yes")
    await person.tap("Later")
    await person.tap("Remind me")
    async with services.db.unit_of_work() as uow:
        assert await uow.reminders.rounds_of(CHAT) == [round_id]
        round_ = await uow.rounds.get(round_id)
        assert round_ is not None
        due = round_.closes_at - timedelta(days=round_.remind_days)
    await reconcile(services, due)
    await drain(bot)
    assert any(t.startswith("Reminder: you have not finished") for t in person.texts())
    await person.send("/resume")
    for label in ANSWERS_EN[1:]:
        await person.tap(label)
    await person.send(ROUND_COMMENT)
    rng = random.Random(12)
    for _n in range(4):  # enough people for the round's practice to be reported
        plan = Plan.random(rng)
        await complete(bot, Driver(services, bot.server, bot.server.user(), plan))
    await person.send("/report")
    assert "only for the Open Cities team" in person.last_text
    async with services.db.unit_of_work() as uow:
        round_ = await uow.rounds.get(round_id)
        assert round_ is not None
        await close_round(uow, round_, "test", utcnow(), services.settings.min_group_size)
    assert await compile_due_reports(services) == [f"final:round:{round_id}"]
    await drain(bot)
    assert bot.server.calls_to("sendDocument")  # the coordinator got the final report
    return person, round_id


async def drain(bot: RunningBot) -> OutboxSender:
    """Send what is due with a fresh sender (no chat waits for its per-chat pause)."""
    sender = OutboxSender(bot.services, bot.application.bot, rate=200)
    await sender.drain()
    return sender


def traces(services: Services) -> dict[str, str]:
    """What would identify the person: pseudonym, chat id, keyed chat hash, comments."""
    return {
        "pseudonym": services.pseudonyms.of("tg", CHAT),
        "chat id": str(CHAT),
        "chat key": services.pseudonyms.of("chat", CHAT),
        "comment": FIRST_COMMENT,
        "round comment": ROUND_COMMENT,
    }


def found(values: list[tuple[str, str, str]], needles: dict[str, str]) -> list[tuple[str, ...]]:
    return [
        (what, table, column)
        for table, column, text in values
        for what, needle in needles.items()
        if needle in text
    ]


async def test_after_delete_no_table_holds_the_pseudonym_chat_id_or_comment(
    database_url: str,
) -> None:
    async with running_bot(database_url) as bot:
        person, round_id = await history(bot)
        needles = traces(bot.services)
        before = found(await dump(bot.services), needles)
        for table in ("respondents", "subscriptions", "outbox", "audit_log", "answers"):
            assert table in {t for _w, t, _c in before}, table  # the scan sees what is there
        await person.send("/delete")
        await person.tap(said(bot, _("Yes, delete"), "en"))
        assert found(await dump(bot.services), needles) == []
        async with bot.services.db.unit_of_work() as uow:  # the others' data stays
            assert len((await uow.session.scalars(select(Response))).all()) == 4
        # The final report, built again now (the stored record keeps no file), lacks the comment.
        async with bot.services.db.reading() as uow:
            report = await summarize(
                uow, await round_period(uow, round_id, bot.services.settings.tz), 2
            )
        assert all(ROUND_COMMENT not in c.text for c in report.comments)


async def test_a_queued_invitation_of_an_erased_chat_is_never_sent(database_url: str) -> None:
    async with running_bot(database_url) as bot:
        person = bot.person("en", user_id=CHAT)
        await consent(person, bot, "en", f"/start p_{PRACTICE}")
        await finish_with_comment(bot, person, FIRST_COMMENT)
        await person.tap(said(bot, _("Invite me to future surveys"), "en"))
        await open_round_now(bot.services)  # the invitation is queued …
        sender = OutboxSender(bot.services, bot.application.bot, rate=200)
        async with bot.services.db.unit_of_work() as uow:
            due = await uow.outbox.due(utcnow(), 10)  # … and a sender has read it
        assert [m.chat_id for m in due] == [CHAT]
        assert all(str(CHAT) not in m.dedupe_key for m in due)
        assert all(m.payload == {} for m in due)
        await person.send("/report")  # refused: logged under the pseudonym, not the id
        async with bot.services.db.unit_of_work() as uow:
            actors = (await uow.session.scalars(select(AuditLog.actor))).all()
        assert f"tg:{CHAT}" not in actors
        assert f"p:{bot.services.pseudonyms.of('tg', CHAT)}" in actors
        await person.send("/delete")
        await person.tap(said(bot, _("Yes, delete"), "en"))
        sent_before = len(bot.server.messages(CHAT))
        await sender.drain()
        assert len(bot.server.messages(CHAT)) == sent_before
        assert sender.stats.sent == 0


async def test_a_database_copy_ties_no_raw_id_to_a_response_finer_than_a_day(
    database_url: str,
) -> None:
    async with running_bot(database_url) as bot:
        round_id = await open_round_now(bot.services)
        person = bot.person("en", user_id=CHAT)
        await consent(person, bot, "en", f"/start r_{round_id}")
        await person.tap("Yes")
        await person.tap("Later")
        await person.tap("Remind me")
        await person.send("/resume")
        for label in ANSWERS_EN[1:]:
            await person.tap(label)
        await person.tap(said(bot, _("Skip ›"), "en"))
        completed_at = await _completed_at(bot.services)
        await person.tap(said(bot, _("Invite me to future surveys"), "en"))
        await person.send("/mydata")
        assert await _completed_at(bot.services) == completed_at  # set once
        async with bot.services.db.unit_of_work() as uow:
            subscriptions = (await uow.session.scalars(select(Subscription))).all()
        assert [s.chat_id for s in subscriptions] == [CHAT]
    # Every table holding a raw chat id for a respondent keeps no time finer than a day and no
    # running number (whose order would follow the order of the responses).
    for model in (Subscription, ReminderRequest):
        for column in model.__table__.columns:
            assert column.type.python_type is not datetime, (model, column.name)
        assert {c.name for c in model.__table__.primary_key} >= {"chat_id"}, model
    assert subscriptions[0].subscribed_on == completed_at.date() or (
        subscriptions[0].subscribed_on - completed_at.date() == timedelta(days=1)
    )
    assert isinstance(subscriptions[0].subscribed_on, date)


async def _completed_at(services: Services) -> datetime:
    async with services.db.unit_of_work() as uow:
        [response] = (await uow.session.scalars(select(Response))).all()
    assert response.completed_at is not None
    return response.completed_at


async def test_reminders_say_nothing_of_why_and_are_worded_when_sent(database_url: str) -> None:
    async with running_bot(database_url) as bot:
        round_id = await open_round_now(bot.services)
        person = bot.person("en", user_id=CHAT)
        await consent(person, bot, "en", f"/start r_{round_id}")
        await person.tap("Yes")
        await person.tap("Later")
        await person.tap("Remind me")
        async with bot.services.db.unit_of_work() as uow:
            round_ = await uow.rounds.get(round_id)
            assert round_ is not None
            due = round_.closes_at - timedelta(days=round_.remind_days)
        await reconcile(bot.services, due)
        async with bot.services.db.unit_of_work() as uow:
            [row] = (
                await uow.session.scalars(
                    select(OutboxMessage).where(OutboxMessage.kind == "reminder")
                )
            ).all()
        assert row.payload == {} and str(CHAT) not in row.dedupe_key
        await OutboxSender(bot.services, bot.application.bot, rate=200).drain()
        assert person.texts()[-1].startswith("Reminder: you have not finished")
        async with bot.services.db.unit_of_work() as uow:
            [sent] = (
                await uow.session.scalars(
                    select(OutboxMessage).where(OutboxMessage.kind == "reminder")
                )
            ).all()
        assert sent.status == "sent" and sent.claimed_at is None  # sent: only the day is kept
        for moment in (sent.sent_at, sent.next_attempt_at):
            assert moment is not None and moment.time() == datetime.min.time()


async def test_five_console_previews_do_not_make_a_round_reportable(settings: Settings) -> None:
    services = await start_services(settings)
    try:
        round_id = await open_round_now(services)
    finally:
        await services.close()
    for n in range(5):
        result = run_chat(settings, ANSWERS, "--lang", "pl", "--user", f"tester{n}")
        assert result.returncode == 0, result.stderr
    services = await start_services(settings)
    try:
        async with services.db.reading() as uow:
            rows = (await uow.session.scalars(select(Response))).all()
            report = await summarize(
                uow, await round_period(uow, round_id, settings.tz), settings.min_group_size
            )
            counts = await uow.rounds.progress_counts(round_id)
            raw = await uow.audit.raw_response_counts(Scope(round_ids=(round_id,)))
    finally:
        await services.close()
    assert len(rows) == 5 and {r.channel for r in rows} == {PREVIEW}  # stored as previews …
    assert {r.round_id for r in rows} == {round_id} and {r.status for r in rows} == {"completed"}
    assert all(p.completed is None or p.completed == 0 for p in report.practices)  # … not counted
    assert all(p.composite is None for p in report.practices)
    assert report.comments == [] and counts == {} and raw == []


async def test_the_stored_report_record_keeps_no_file(database_url: str) -> None:
    assert "content" not in Report.__table__.columns


async def test_mydata_shows_each_question_and_answer_in_the_persons_language(
    bot: RunningBot,
) -> None:
    person = bot.person("pl")
    await consent(person, bot, "pl", f"/start p_{PRACTICE}")
    for label in ("Tak", "Raz", "5", "4", "3", "2", "Praca", "Gotowe"):
        await person.tap(label)
    await person.send("Więcej godzin otwarcia")
    await person.send("/mydata")
    answers = "\n".join(person.texts()[-2:])
    assert "czy było Ci to znane już wcześniej? — Tak" in answers  # question and answer, in Polish
    assert "Program „Otwarty Kraków”" in answers  # the practice named in the question
    assert "— Więcej godzin otwarcia" in answers and "— Praca" in answers and "— 3" in answers
    assert "1 ukończona ankieta" in person.last_text or "ukończon" in person.last_text


async def test_the_console_has_mydata_and_delete(settings: Settings) -> None:
    result = run_chat(settings, [*ANSWERS, "/mydata", "/delete", "1"], "--lang", "pl")
    assert result.returncode == 0, result.stderr
    assert "czy było Ci to znane już wcześniej? — Tak" in result.stdout
    assert "— Więcej godzin" in result.stdout
    services = await start_services(settings)
    try:
        async with services.db.reading() as uow:
            assert (await uow.session.scalars(select(Response))).all() == []  # deleted
    finally:
        await services.close()


async def test_dedupe_keys_queued_with_raw_chat_ids_are_hashed_at_start(
    settings: Settings,
) -> None:
    services = await start_services(settings)
    try:
        round_id = await open_round_now(services)
        async with services.db.unit_of_work() as uow:  # as versions before 0010 queued them
            await uow.outbox.enqueue(
                "invitation", f"invite:{round_id}:{CHAT}", CHAT, "en", round_id
            )
            await uow.outbox.enqueue(
                "reminder", f"remind:{round_id}:-{CHAT}", -CHAT, "en", round_id
            )
    finally:
        await services.close()
    services = await start_services(settings)
    try:
        async with services.db.reading() as uow:
            keys = set((await uow.session.scalars(select(OutboxMessage.dedupe_key))).all())
        chat_key = services.pseudonyms.chat_key
    finally:
        await services.close()
    assert keys == {chat_key("invite", round_id, CHAT), chat_key("remind", round_id, -CHAT)}


async def test_a_report_before_and_after_a_delete_sent_in_the_bot_gives_no_one_away(
    database_url: str,
) -> None:
    """Issue 12's third attack, played as it happens: k + 1 people answer in the bot, the one
    with unusual ratings sends /delete; the round's report downloaded before and after does not
    differ by that person (their comment goes with them)."""
    async with running_bot(database_url) as bot:
        services = bot.services
        k = services.settings.min_group_size
        round_id = await open_round_now(services)
        person = bot.person("en", user_id=CHAT)
        await consent(person, bot, "en", f"/start r_{round_id}")
        for label in ("Yes", "Once", "1", "1", "1", "1", "Work", "Done"):
            await person.tap(label)
        await person.send(ROUND_COMMENT)
        rng = random.Random(5)
        for _n in range(k):
            plan = Plan.random(rng)
            await complete(bot, Driver(services, bot.server, bot.server.user(), plan))

        async def download() -> dict[str, Any]:
            async with services.db.reading() as uow:
                period = await round_period(uow, round_id, services.settings.tz)
            _name, content = await build(services, period, "json", "en")
            document: dict[str, Any] = json.loads(content)
            return document

        before = await download()
        await person.send("/delete")
        await person.tap(said(bot, _("Yes, delete"), "en"))
        after = await download()
    shown_before = next(p for p in before["practices"] if p["practice_id"] == PRACTICE)
    shown_after = next(p for p in after["practices"] if p["practice_id"] == PRACTICE)
    assert shown_before["completed"] == k + 1
    rated = [c for c in shown_before["criteria"].values() if c is not None]
    assert rated and all(c["distribution"][0] >= 1 for c in rated)  # the unusual "1"s count
    assert shown_after == shown_before  # nothing to subtract
    assert any(ROUND_COMMENT in c["text"] for c in before["comments"])
    assert all(ROUND_COMMENT not in c["text"] for c in after["comments"])
