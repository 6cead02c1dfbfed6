"""The jury in the bot beyond scoring: the analysis summary before each practice, /grant juror
for staff, and the daily reminders to jurors who have not submitted (through the outbox, in
their language) — over the fake Bot API."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import select

from app import analysis, jury
from app.jury import queue_juror_reminders
from conversations import notices
from conversations.messages import _
from storage.models import AuditLog, OutboxMessage
from tests.telegram_harness import RunningBot, running_bot
from tests.test_jury import JURORS, NOW, PRACTICES, YEAR, jury_phase, name_of, score_all
from tests.test_staff import sender_for, sent_to
from tests.test_telegram import said

ADMIN = 9001


async def test_the_juror_reads_the_analysis_summary_before_scoring(database_url: str) -> None:
    async with running_bot(database_url, jobs=True) as bot:
        assert bot.application.job_queue.get_jobs_by_name("jury_reminders")  # scheduled
        await jury_phase(bot.services)
        async with bot.services.db.unit_of_work() as uow:
            await analysis.record_analysis(
                uow,
                "test",
                YEAR,
                PRACTICES[0],
                NOW,
                criterion="sustainability",
                notes="Funded by the city since 2019.",
            )
            await analysis.record_analysis(
                uow, "test", YEAR, PRACTICES[0], NOW, recommendation="recommend"
            )
        person = bot.person("ru", user_id=JURORS[0])
        await person.send("/jury")
        await person.tap(next(b for b in person.buttons() if name_of(0, "ru") in b))
        shown = person.last_text
        assert said(bot, _("Analysis (stage one):"), "ru") in shown
        criterion = said(bot, _("Long-term character"), "ru")
        assert f"{criterion}: Funded by the city since 2019." in shown
        assert said(bot, _("The analysis recommends this practice."), "ru") in shown
        assert said(bot, _("Score this practice"), "ru") in person.buttons()
        await person.tap(said(bot, _("‹ Back"), "ru"))
        await person.tap(next(b for b in person.buttons() if name_of(1, "ru") in b))
        assert said(bot, _("Analysis (stage one):"), "ru") not in person.last_text  # none yet


async def grant_text(bot: RunningBot, sender: int, text: str) -> str:
    person = bot.person("en", user_id=sender)
    await person.send(text)
    return person.last_text


async def test_staff_grant_a_juror_of_the_current_edition(database_url: str) -> None:
    async with running_bot(database_url, admin_ids=str(ADMIN)) as bot:
        no_edition = await grant_text(bot, ADMIN, "/grant 6001 juror")
        assert no_edition.startswith("Not done: no edition is open")
        async with bot.services.db.unit_of_work() as uow:
            await uow.staff.put(4242, "staff", ["krakow"])
            await uow.staff.put(4343, "coordinator", [])
        await jury_phase(bot.services)  # five jurors seated already: make room
        async with bot.services.db.unit_of_work() as uow:
            for juror in await uow.jury.jurors(YEAR):
                if juror.label in "DE":
                    await uow.session.delete(juror)
        assert await grant_text(bot, ADMIN, "/grant 6001 juror") == (
            f"Done: 6001 is Juror D of the {YEAR} edition."
        )
        assert await grant_text(bot, 4242, "/grant 6002 JUROR") == (
            f"Done: 6002 is Juror E of the {YEAR} edition."
        )
        assert await grant_text(bot, 4242, "/grant 6003 juror") == (
            f"Not done: the {YEAR} jury has 5 members already"
        )
        refused = await grant_text(bot, 4343, "/grant 6004 juror")
        assert refused == "Sorry, this command is only for the Open Cities team."
        assert (await grant_text(bot, 4242, "/grant abc juror")).startswith("Usage: /grant")
        # other roles stay the admins' alone
        refused = await grant_text(bot, 4242, "/grant 6005 staff")
        assert refused == "Sorry, this command is only for the Open Cities team."
        async with bot.services.db.unit_of_work() as uow:
            rows = (
                await uow.session.scalars(
                    select(AuditLog).where(AuditLog.action == "jury.add").order_by(AuditLog.id)
                )
            ).all()
            assert [(r.actor, r.target, r.details) for r in rows[-2:]] == [
                (f"tg:{ADMIN}", "user:6001", {"edition": YEAR, "label": "D"}),
                ("tg:4242", "user:6002", {"edition": YEAR, "label": "E"}),
            ]
            assert {j.telegram_user_id for j in await uow.jury.jurors(YEAR)} >= {6001, 6002}


def at(hour: int, days: int = 0) -> datetime:
    """A moment of local time (the settings' zone), today or some days on."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Europe/Warsaw")
    day = NOW.astimezone(zone).date() + timedelta(days=days)
    return datetime.combine(day, time(hour), zone)


async def queued(bot: RunningBot) -> list[OutboxMessage]:
    async with bot.services.db.unit_of_work() as uow:
        query = select(OutboxMessage).where(OutboxMessage.kind == jury.JURY_REMINDER)
        return list((await uow.session.scalars(query.order_by(OutboxMessage.id))).all())


async def test_jurors_who_have_not_submitted_are_reminded_once_a_day_in_their_language(
    database_url: str,
) -> None:
    async with running_bot(database_url, timezone="Europe/Warsaw") as bot:
        await jury_phase(bot.services)
        polish = bot.person("pl", user_id=JURORS[0])
        await polish.send("/jury")  # the juror's language is kept for the reminders
        ukrainian = bot.person("uk", user_id=JURORS[1])
        await ukrainian.send("/jury")
        await ukrainian.send("/cancel")
        services = bot.services
        # the fifth juror submits: not reminded
        for practice in PRACTICES:
            await score_all(services, JURORS[4], practice, 4)
        async with services.db.unit_of_work() as uow:
            await jury.submit(uow, YEAR, JURORS[4], NOW)

        assert await queue_juror_reminders(services, at(8, 1)) == 0  # not before 10 o'clock
        assert await queue_juror_reminders(services, at(11, 1)) == 4
        assert await queue_juror_reminders(services, at(18, 1)) == 0  # once a day at most
        rows = await queued(bot)
        assert {r.chat_id: r.locale for r in rows} == {
            JURORS[0]: "pl",
            JURORS[1]: "uk",
            JURORS[2]: "en",  # never used /jury, no survey: the default language
            JURORS[3]: "en",
        }
        # the fourth juror submits before the sender runs: their reminder is not sent
        for practice in PRACTICES:
            await score_all(services, JURORS[3], practice, 3)
        async with services.db.unit_of_work() as uow:
            await jury.submit(uow, YEAR, JURORS[3], NOW)
        before = sent_to(bot.server)
        await sender_for(bot).drain()
        delivered = sent_to(bot.server) - before
        assert dict(delivered) == {JURORS[0]: 1, JURORS[1]: 1, JURORS[2]: 1}
        async with services.db.unit_of_work() as uow:
            edition = await uow.editions.get(YEAR)
        assert edition is not None
        reminder = notices.jury_reminder(YEAR, edition.closes_at)
        assert bot.server.messages(JURORS[0])[-1]["text"] == bot.services.translator.render(
            reminder.lines[0], "pl"
        )
        assert bot.server.messages(JURORS[1])[-1]["text"] == bot.services.translator.render(
            reminder.lines[0], "uk"
        )
        # the next day, again — for those still not submitted
        assert await queue_juror_reminders(services, at(11, 2)) == 3


async def test_a_juror_without_a_role_gets_a_dashboard_link_and_others_do_not(
    database_url: str,
) -> None:
    async with running_bot(database_url, public_url="https://audit.example.org") as bot:
        await jury_phase(bot.services)
        juror = bot.person("pl", user_id=JURORS[0])
        await juror.send("/dashboard")
        assert "https://audit.example.org/dashboard/login/" in juror.last_text
        stranger = bot.person("pl", user_id=9099)
        await stranger.send("/dashboard")
        assert "/dashboard/login/" not in stranger.last_text
