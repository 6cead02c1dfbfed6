"""Staff over Telegram: roles, the /round dialogue, invitations through the outbox, reminders."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.rounds import create_round, open_round, reconcile
from app.services import Services
from bot.telegram.outbox import OutboxSender
from conversations.messages import _
from storage.models import AuditLog, OutboxMessage, Round, Subscription, utcnow
from tests.fakebotapi import FakeBotApi
from tests.telegram_harness import Person, RunningBot, running_bot

ADMIN = 9001
CITY = "krakow"


@pytest.fixture
async def bot(database_url: str):  # type: ignore[no-untyped-def]
    async with running_bot(database_url, admin_ids=str(ADMIN)) as running:
        yield running


async def subscribe(services: Services, chats: dict[int, str], city: str = CITY) -> None:
    async with services.db.unit_of_work() as uow:
        for chat_id, locale in chats.items():
            await uow.subscriptions.subscribe(chat_id, city, locale)


async def open_now(services: Services, city: str = CITY, **options: object) -> Round:
    now = utcnow()
    async with services.db.unit_of_work() as uow:
        survey = await uow.surveys.latest("open-cities")
        assert survey is not None
        round_ = await create_round(
            uow,
            "test",
            city,
            [],
            survey.id,
            now - timedelta(minutes=1),
            now + timedelta(days=14),
            **options,
        )  # type: ignore[arg-type]
        await open_round(uow, services, round_, "test", now)
    return round_


def sender_for(bot: RunningBot, rate: float = 500.0) -> OutboxSender:
    return OutboxSender(bot.services, bot.application.bot, rate=rate)


def sent_to(server: FakeBotApi) -> Counter[int]:
    return Counter(
        int(c.params["chat_id"]) for c in server.calls_to("sendMessage") if c.error is None
    )


async def audit(services: Services) -> list[tuple[str, str, str | None]]:
    async with services.db.unit_of_work() as uow:
        rows = (await uow.session.scalars(select(AuditLog).order_by(AuditLog.id))).all()
    return [(r.actor, r.action, r.target) for r in rows]


async def test_a_resident_cannot_open_a_round_and_the_attempt_is_logged(bot: RunningBot) -> None:
    person = bot.person("en")
    await person.send("/round")
    assert person.last_text == "Sorry, this command is only for the Open Cities team."
    pseudonym = bot.services.pseudonyms.of("tg", person.id)
    logged = await audit(bot.services)
    assert (f"p:{pseudonym}", "denied", "round") in logged  # under the pseudonym …
    assert not any(str(person.id) in str(line) for line in logged)  # … never the raw id
    async with bot.services.db.unit_of_work() as uow:
        assert (await uow.session.scalars(select(Round))).all() == []


async def test_staff_open_a_round_by_dialogue_and_subscribers_are_invited_in_their_language(
    bot: RunningBot,
) -> None:
    admin = bot.person("en", user_id=ADMIN)
    await admin.send("/grant 4242 staff krakow")
    assert "4242" in admin.last_text
    subscribers = {501: "uk", 502: "ru", 503: "pl", 504: "uk"}
    await subscribe(bot.services, subscribers)
    await subscribe(bot.services, {601: "en"}, city="gdansk")  # another city: not invited

    worker = bot.person("en", user_id=4242)
    await worker.send("/round")
    assert "Which city?" in worker.last_text
    assert worker.buttons() == ["Kraków"]
    await worker.tap("Kraków")
    await worker.tap("All")
    await worker.tap("Done")
    await worker.tap(worker.buttons()[0])  # the survey
    await worker.tap("Today")
    await worker.send("2099-12-31")  # typed closing date
    assert "Please check" in worker.last_text
    await worker.tap("Create the round")
    assert "Invitations are on their way to 4 subscribers" in worker.last_text

    sender = sender_for(bot)
    await sender.drain()
    delivered = sent_to(bot.server)
    assert {chat: delivered[chat] for chat in subscribers} == {chat: 1 for chat in subscribers}
    assert 601 not in sent_to(bot.server)
    texts = {chat: bot.server.messages(chat)[-1]["text"] for chat in subscribers}
    translator = bot.services.translator
    for chat, locale in subscribers.items():
        start = translator.render(_("Take the survey"), locale)
        buttons = [
            b["text"]
            for row in bot.server.messages(chat)[-1]["reply_markup"]["inline_keyboard"]
            for b in row
        ]
        assert start in buttons, (locale, buttons)
    assert "Кракові" in texts[501] or "Краків" in texts[501]
    assert "Краков" in texts[502]
    assert "Kraków" in texts[503]
    actions = [a[1] for a in await audit(bot.services)]
    assert actions[:1] == ["staff.grant"] and "round.create" in actions and "round.open" in actions


async def test_an_invitation_button_starts_the_survey_for_that_round(bot: RunningBot) -> None:
    person = bot.person("pl")
    await subscribe(bot.services, {person.id: "pl"})
    round_ = await open_now(bot.services)
    await sender_for(bot).drain()
    invitation = bot.server.messages(person.id)[-1]
    take = invitation["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    await person.press(take, invitation)
    assert bot.server.message(person.id, invitation["message_id"])["text"] == invitation["text"]
    await person.tap("Polski")
    await person.tap(bot.services.translator.render(_("I agree"), "pl"))
    async with bot.services.db.unit_of_work() as uow:
        progress = await uow.respondents.progress(bot.services.pseudonyms.of("tg", person.id))
    assert progress is not None and progress.round_id == round_.id


async def test_stop_button_under_an_invitation_opts_out(bot: RunningBot) -> None:
    person = bot.person("en")
    await subscribe(bot.services, {person.id: "en"})
    await open_now(bot.services)
    await sender_for(bot).drain()
    invitation = bot.server.messages(person.id)[-1]
    stop = invitation["reply_markup"]["inline_keyboard"][1][0]["callback_data"]
    await person.press(stop, invitation)
    async with bot.services.db.unit_of_work() as uow:
        [subscription] = (await uow.session.scalars(select(Subscription))).all()
    assert not subscription.opted_in


async def test_a_sender_killed_mid_broadcast_delivers_each_invitation_exactly_once(
    bot: RunningBot,
) -> None:
    chats = {700_000 + n: "uk" for n in range(60)}
    await subscribe(bot.services, chats)
    await open_now(bot.services)
    bot.server.delay = 0.01  # each call takes a moment, so the kill lands mid-broadcast
    first = sender_for(bot, rate=200)
    stop = asyncio.Event()
    running = asyncio.create_task(first.run(stop))
    await bot.server.wait_for(lambda: len(sent_to(bot.server)) >= 15, timeout=20)
    running.cancel()  # the process dies (as SIGTERM would end it)
    with pytest.raises(asyncio.CancelledError):
        await running
    delivered_before_restart = sum(sent_to(bot.server).values())
    assert 15 <= delivered_before_restart < 60

    second = sender_for(bot, rate=200)
    await second.recover()
    await second.drain()
    assert sent_to(bot.server) == Counter({chat: 1 for chat in chats})
    async with bot.services.db.unit_of_work() as uow:
        statuses = Counter((await uow.session.scalars(select(OutboxMessage.status))).all())
    assert statuses == Counter({"sent": 60})


async def test_a_message_caught_mid_send_by_a_crash_is_sent_again(bot: RunningBot) -> None:
    await subscribe(bot.services, {801: "en"})
    await open_now(bot.services)
    async with bot.services.db.unit_of_work() as uow:
        [message] = await uow.outbox.due(utcnow(), 10)
        # claimed, then the process died
        assert await uow.outbox.claim(message.id, utcnow(), "a-sender-that-died")
    sender = sender_for(bot)
    assert await sender.recover() == 1
    await sender.drain()
    assert sent_to(bot.server) == Counter({801: 1})


async def test_retry_after_is_honoured_and_forbidden_marks_the_subscriber_blocked(
    bot: RunningBot,
) -> None:
    await subscribe(bot.services, {901: "en", 902: "en", 903: "en"})
    await open_now(bot.services)
    bot.server.fail_next("sendMessage", status=429, retry_after=1, chat_id=901)
    bot.server.block(902)
    sender = sender_for(bot)
    started = time.monotonic()
    await sender.drain()
    assert sent_to(bot.server) == Counter({903: 1})  # 901 waits for its retry_after
    while sent_to(bot.server)[901] == 0 and time.monotonic() - started < 10:
        await asyncio.sleep(0.1)
        await sender.drain()
    assert time.monotonic() - started >= 1.0
    assert sent_to(bot.server) == Counter({901: 1, 903: 1})
    async with bot.services.db.unit_of_work() as uow:
        blocked = (
            await uow.session.scalars(
                select(Subscription.chat_id).where(Subscription.blocked.is_(True))
            )
        ).all()
        statuses = dict(
            (await uow.session.execute(select(OutboxMessage.chat_id, OutboxMessage.status))).all()
        )
    assert blocked == [902]
    assert statuses == {901: "sent", 902: "blocked", 903: "sent"}


async def test_reminders_reach_only_unfinished_respondents_once(bot: RunningBot) -> None:
    finisher, quitter, stranger = bot.person("en"), bot.person("en"), bot.person("en")
    await subscribe(bot.services, {p.id: "en" for p in (finisher, quitter, stranger)})
    round_ = await open_now(bot.services)
    await sender_for(bot).drain()
    for person in (finisher, quitter):
        invitation = bot.server.messages(person.id)[-1]
        await person.press(
            invitation["reply_markup"]["inline_keyboard"][0][0]["callback_data"], invitation
        )
        await person.tap("English")
        await person.tap("I agree")
        await person.press(
            next(
                b["callback_data"]
                for b in _buttons(person)
                if b["callback_data"].endswith("|krakow-otwarty-krakow")
            )
        )
    await finisher.tap("No")
    await finisher.send("Fine")
    await quitter.tap("Yes")

    before = sent_to(bot.server)
    reminder_time = round_.closes_at - timedelta(days=2)
    first = await reconcile(bot.services, reminder_time)
    second = await reconcile(bot.services, reminder_time + timedelta(hours=1))
    assert first.reminded == (round_.id,) and second.reminded == ()
    await sender_for(bot).drain()
    reminders = sent_to(bot.server) - before
    assert reminders == Counter({quitter.id: 1})
    assert "not finished" in bot.server.messages(quitter.id)[-1]["text"]


def _buttons(person: Person) -> list[dict[str, str]]:
    message = next(m for m in reversed(person.received) if m.get("reply_markup"))
    return [b for row in message["reply_markup"]["inline_keyboard"] for b in row]


async def test_rounds_open_and_close_themselves_at_their_dates(bot: RunningBot) -> None:
    await subscribe(bot.services, {1001: "pl"})
    now = utcnow()
    async with bot.services.db.unit_of_work() as uow:
        survey = await uow.surveys.latest("open-cities")
        assert survey is not None
        round_ = await create_round(
            uow, "test", CITY, [], survey.id, now + timedelta(days=1), now + timedelta(days=8)
        )
    assert (await reconcile(bot.services, now)).opened == ()
    opened = await reconcile(bot.services, now + timedelta(days=1, minutes=1))
    assert opened.opened == (round_.id,)
    closed = await reconcile(bot.services, now + timedelta(days=8, minutes=1))
    assert closed.closed == (round_.id,)
    async with bot.services.db.unit_of_work() as uow:
        stored = await uow.rounds.get(round_.id)
        queued = await uow.outbox.round_counts(round_.id, "invitation")
    assert stored is not None and stored.status == "closed"
    assert queued == {"pending": 1}
    again = await reconcile(bot.services, now + timedelta(days=9))
    assert again == type(again)()  # nothing left to do, nothing done twice


async def test_status_shows_counts_only(bot: RunningBot) -> None:
    admin = bot.person("en", user_id=ADMIN)
    await subscribe(bot.services, {1101: "en", 1102: "en"})
    await open_now(bot.services)
    await sender_for(bot).drain()
    await admin.send("/status")
    assert "Invitations sent: 2" in admin.last_text
    # Counts as published (audit/disclosure.py): nothing before k people completed.
    assert "fewer than 5 completed responses published so far" in admin.last_text
    assert "started 0" not in admin.last_text


async def test_poster_command_sends_a_pdf(bot: RunningBot) -> None:
    admin = bot.person("en", user_id=ADMIN)
    await admin.send("/poster krakow krakow-otwarty-krakow")
    [document] = bot.server.calls_to("sendDocument")
    [upload] = document.files.values()
    assert upload.content.startswith(b"%PDF")
    assert ("tg:9001", "poster", "city:krakow") in await audit(bot.services)


async def test_the_scheduler_opens_a_due_round_and_the_sender_invites(database_url: str) -> None:
    async with running_bot(database_url, jobs=True) as bot:
        await subscribe(bot.services, {1201: "uk"})
        now = utcnow()
        async with bot.services.db.unit_of_work() as uow:
            survey = await uow.surveys.latest("open-cities")
            assert survey is not None
            await create_round(uow, "test", CITY, [], survey.id, now, now + timedelta(days=7))
        # The job registered at start runs again on its interval; run it now instead of waiting.
        [job] = bot.application.job_queue.get_jobs_by_name("rounds")
        await job.run(bot.application)
        await bot.server.wait_for(lambda: bot.server.messages(1201), timeout=10)
        assert "Take the survey" not in bot.server.messages(1201)[0]["text"]
        assert sent_to(bot.server) == Counter({1201: 1})


async def test_a_staff_command_holds_no_transaction_while_it_talks_to_telegram(
    bot: RunningBot,
) -> None:
    """/poster's upload is slow (Telegram is held for seconds); meanwhile the SQLite writer is
    free and a respondent's answers are committed: neither the Bot API call nor the PDF is made
    inside the command's write transaction."""
    from tests.test_telegram import answers, said, to_first_question

    respondent = bot.person("uk")
    await to_first_question(respondent, bot, "uk")
    bot.server.delays["sendDocument"] = 4.0  # below the client's timeout for an upload
    admin = bot.person("en", user_id=ADMIN)
    update = await admin.user.send("/poster krakow")
    poster = asyncio.create_task(bot.processor.wait(update["update_id"], timeout=30))
    await bot.server.wait_for(lambda: bot.server.calls_to("sendDocument"), timeout=20)
    if bot.services.db.is_sqlite:  # the single writer is free: a write transaction starts at once
        path = bot.services.db.engine.url.database
        connection = sqlite3.connect(path, timeout=0.2, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("ROLLBACK")
        finally:
            connection.close()
    await respondent.tap(said(bot, _("Yes"), "uk"))
    assert len(await answers(bot.services)) == 1  # committed while the upload is still held
    assert not poster.done()  # the staff command is still waiting for Telegram
    await poster
    [document] = bot.server.calls_to("sendDocument")
    assert next(iter(document.files.values())).content.startswith(b"%PDF")
    assert ("tg:9001", "poster", "city:krakow") in await audit(bot.services)
