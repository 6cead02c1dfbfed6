"""Nominations: residents propose practices in the bot (/propose), staff review them
(/nominations, `auditbot nominations`), and each proposer is told the outcome in their
language through the outbox."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import select

from app import editions, nominations
from app.editions import EditionError, Schedule, Weights
from app.nominations import NominationError
from bot.config import Settings
from bot.services import Services
from conversations import nomination
from conversations.messages import _
from conversations.notices import nomination_outcome
from storage.models import AuditLog, EditionPractice, Nomination, OutboxMessage, utcnow
from tests.respondent_driver import Driver, Plan
from tests.telegram_harness import Person, RunningBot, running_bot
from tests.test_cli import auditbot, ok
from tests.test_editions import open_by_cli
from tests.test_faults import complete
from tests.test_telegram import said

ADMIN = 9001
YEAR = 2099


async def open_nominations(services: Services, year: int = YEAR) -> None:
    """An edition whose nominations opened yesterday."""
    now = utcnow()
    schedule = Schedule(
        now - timedelta(days=1),
        now + timedelta(days=30),
        now + timedelta(days=60),
        now + timedelta(days=90),
    )
    async with services.db.unit_of_work() as uow:
        await editions.open_edition(uow, "test", year, schedule, Weights(60, 40), now)


async def propose_in_bot(
    bot: RunningBot,
    person: Person,
    locale: str,
    city: str,
    name: str = "Welcome point for newcomers",
) -> None:
    """Walk the /propose dialogue with good answers, one bad answer on the way."""
    await person.send("/propose")
    await person.tap(city)
    await person.send(name)
    await person.send("Advice in Ukrainian and Russian on residence permits, twice a week.")
    await person.tap(said(bot, nomination.RUNNER_NAMES["ngo"], locale))
    await person.send("next year")  # not a year: a clear answer, and the question again
    assert said(bot, nomination.since_problem("x", utcnow().date()) or _(""), locale) in recent(
        person
    )
    await person.send("2019")
    await person.send("example.org")  # no https://
    assert said(bot, nomination.link_problem("example.org") or _(""), locale) in recent(person)
    await person.send("https://example.org/welcome")
    await person.tap(person.buttons()[0])  # the first kind of practice
    await person.tap(said(bot, _("Send the proposal"), locale))


def recent(person: Person) -> str:
    """The last two messages the person received (a notice, then the question again)."""
    return "\n".join(person.texts()[-2:])


async def stored(services: Services) -> list[Nomination]:
    async with services.db.unit_of_work() as uow:
        return list((await uow.session.scalars(select(Nomination).order_by(Nomination.id))).all())


@pytest.fixture
async def bot(database_url: str):  # type: ignore[no-untyped-def]
    async with running_bot(database_url, jobs=True, admin_ids=str(ADMIN)) as running:
        yield running


async def test_residents_propose_staff_decide_and_the_proposers_are_told_in_their_language(
    bot: RunningBot,
) -> None:
    await open_nominations(bot.services)
    ukrainian, russian = bot.person("uk", user_id=3101), bot.person("ru", user_id=3102)
    await propose_in_bot(bot, ukrainian, "uk", "Краків")
    thanks = _(
        "Thank you! Your proposal has been sent. Our team will review it and tell you here what "
        "they decide."
    )
    assert ukrainian.last_text == said(bot, thanks, "uk")
    await propose_in_bot(bot, russian, "ru", "Люблин")
    assert russian.last_text == said(bot, thanks, "ru")
    first, second = await stored(bot.services)
    assert (first.locale, first.city_id, first.runner, first.since) == ("uk", "krakow", "ngo", 2019)
    assert (second.locale, second.city_id, second.chat_id) == ("ru", "lublin", 3102)
    # the proposer's key is its own kind of pseudonym, not the survey's
    assert first.proposer not in (None, bot.services.pseudonyms.of("tg", 3101))

    staff = bot.person("en", user_id=ADMIN)
    await staff.send("/nominations")
    assert "#1 Welcome point for newcomers (Kraków, An NGO, since 2019)" in staff.last_text
    assert "#2 Welcome point for newcomers (Lublin" in staff.last_text

    now, second_reason = utcnow(), "It is already in the catalog."
    async with bot.services.db.unit_of_work() as uow:
        await nominations.accept(uow, "tg:9001", first.id, now)
        await nominations.reject(uow, "tg:9001", second.id, second_reason, now)
    told_ru = said(
        bot, nomination_outcome("rejected", second.name, YEAR, second_reason).lines[0], "ru"
    )
    told_uk = said(bot, nomination_outcome("accepted", first.name, YEAR, "").lines[0], "uk")
    await bot.server.wait_for(lambda: russian.last_text == told_ru)
    await bot.server.wait_for(lambda: ukrainian.last_text == told_uk)
    assert "Причина: It is already in the catalog." in told_ru and "2099" in told_uk
    first, second = await stored(bot.services)
    assert (first.status, first.practice_id, first.chat_id) == (
        "accepted",
        "krakow-nominated-1",
        None,
    )
    assert (second.status, second.reason, second.chat_id) == (
        "rejected",
        "It is already in the catalog.",
        None,
    )
    async with bot.services.db.unit_of_work() as uow:
        practice = await uow.catalog.practice("krakow-nominated-1")
        assert practice is not None and practice.name == {"uk": "Welcome point for newcomers"}
        listed = (await uow.session.scalars(select(EditionPractice))).all()
        assert [(e.edition_year, e.practice_id, e.origin) for e in listed] == [
            (YEAR, "krakow-nominated-1", "nominated")
        ]
        log = (await uow.session.scalars(select(AuditLog).order_by(AuditLog.id))).all()
        assert [(r.actor, r.action, r.target) for r in log if "nomination" in r.action] == [
            ("telegram", "nomination.propose", "nomination:1"),
            ("telegram", "nomination.propose", "nomination:2"),
            ("tg:9001", "nomination.accept", "nomination:1"),
            ("tg:9001", "nomination.reject", "nomination:2"),
        ]
        sent = (await uow.session.scalars(select(OutboxMessage))).all()
        assert sorted((m.kind, m.locale, m.chat_id) for m in sent) == [
            ("nomination", "ru", 3102),
            ("nomination", "uk", 3101),
        ]
    await staff.send("/nominations")
    assert staff.last_text == said(bot, _("No proposals are waiting for a decision."), "en")


async def test_propose_is_refused_when_no_edition_takes_nominations(bot: RunningBot) -> None:
    person = bot.person("pl", user_id=3201)
    await person.send("/propose")
    refusal = _(
        "Proposals are not being collected right now. Please try again when the next edition opens."
    )
    assert person.last_text == said(bot, refusal, "pl")
    resident = bot.person("uk", user_id=3202)
    await resident.send("/nominations")
    assert resident.last_text == said(
        bot, _("Sorry, this command is only for the Open Cities team."), "uk"
    )


def proposal(name: str = "Welcome point", locale: str = "en") -> nomination.Proposal:
    return nomination.Proposal(
        city_id="krakow",
        name=name,
        description="Advice for newcomers, twice a week.",
        runner="community",
        since=2020,
        link="https://example.org",
        category_id="service_point",
        locale=locale,
    )


async def test_proposals_are_limited_per_person_and_checked(services: Services) -> None:
    await open_nominations(services)
    now = utcnow()
    async with services.db.unit_of_work() as uow:
        for number in range(nominations.PER_DAY):
            await nominations.propose(
                uow,
                proposal(f"Practice {number}"),
                source="telegram",
                proposer="p1",
                chat_id=1,
                now=now,
            )
    with pytest.raises(NominationError, match="You have sent 3 proposals today"):
        async with services.db.unit_of_work() as uow:
            await nominations.propose(
                uow, proposal(), source="telegram", proposer="p1", chat_id=1, now=now
            )
    async with services.db.unit_of_work() as uow:  # another person, and a day later: fine
        await nominations.propose(
            uow, proposal(), source="telegram", proposer="p2", chat_id=2, now=now
        )
        later = now + timedelta(days=1, minutes=1)
        await nominations.propose(
            uow, proposal(), source="telegram", proposer="p1", chat_id=1, now=later
        )
    bad = [
        (proposal(name="x"), "Please write the name in 3 to 120 characters."),
        (
            nomination.Proposal(**{**proposal().__dict__, "link": "ftp://x"}),
            "Please send a web address that starts with https://",
        ),
        (nomination.Proposal(**{**proposal().__dict__, "since": 1850}), "from 1990 to"),
        (nomination.Proposal(**{**proposal().__dict__, "city_id": "atlantis"}), "Unknown city"),
    ]
    for wrong, problem in bad:
        with pytest.raises(NominationError, match=problem):
            async with services.db.unit_of_work() as uow:
                await nominations.propose(
                    uow, wrong, source="cli", proposer=None, chat_id=None, now=now
                )


async def test_merge_folds_a_duplicate_and_decisions_are_made_once(services: Services) -> None:
    await open_nominations(services)
    now = utcnow()
    async with services.db.unit_of_work() as uow:
        kept = await nominations.propose(
            uow, proposal(), source="cli", proposer=None, chat_id=None, now=now
        )
        twin = await nominations.propose(
            uow, proposal(locale="pl"), source="telegram", proposer="p", chat_id=55, now=now
        )
    async with services.db.unit_of_work() as uow:
        merged = await nominations.merge(uow, "staff", twin.id, kept.id, now)
        assert (merged.status, merged.merged_into, merged.chat_id) == ("merged", kept.id, None)
        [message] = (await uow.session.scalars(select(OutboxMessage))).all()
        assert (message.chat_id, message.locale, message.payload["outcome"]) == (55, "pl", "merged")
    for decide, problem in (
        (lambda uow: nominations.accept(uow, "staff", twin.id, now), "is merged already"),
        (lambda uow: nominations.merge(uow, "staff", kept.id, kept.id, now), "not another"),
        (lambda uow: nominations.reject(uow, "staff", kept.id, "  ", now), "--reason"),
        (lambda uow: nominations.accept(uow, "staff", 999, now), "no nomination 999"),
    ):
        with pytest.raises(EditionError, match=problem):
            async with services.db.unit_of_work() as uow:
                await decide(uow)


def test_the_command_line_lists_and_decides_nominations(settings: Settings) -> None:
    ok(open_by_cli(settings))

    async def two() -> None:
        from bot.services import start_services

        services = await start_services(settings)
        try:
            async with services.db.unit_of_work() as uow:
                for name in ("Welcome point", "Welcome point (again)", "Language café"):
                    await nominations.propose(
                        uow, proposal(name), source="cli", proposer=None, chat_id=None, now=utcnow()
                    )
        finally:
            await services.close()

    import asyncio

    asyncio.run(two())
    listing = ok(auditbot(settings, "nominations", "list", "--year", str(YEAR)))
    assert listing.splitlines()[0].startswith("1\tpending\tkrakow\tservice_point\tWelcome point\t")
    assert ok(auditbot(settings, "nominations", "accept", "1")).startswith("1\taccepted")
    assert "into 1" in ok(auditbot(settings, "nominations", "merge", "2", "--into", "1"))
    rejected = ok(auditbot(settings, "nominations", "reject", "3", "--reason", "One-off event."))
    assert rejected.strip().endswith("One-off event.")
    again = auditbot(settings, "nominations", "accept", "3")
    assert again.returncode == 2 and "nomination 3 is rejected already" in again.stderr
    pending = ok(
        auditbot(settings, "nominations", "list", "--year", str(YEAR), "--status", "pending")
    )
    assert pending.strip() == "no nominations"
    for command in ("list", "accept", "reject", "merge"):
        assert "Example: auditbot nominations " + command in ok(
            auditbot(settings, "nominations", command, "--help")
        )
    assert "Example: auditbot nominations" in ok(auditbot(settings, "nominations", "--help"))


async def test_the_end_of_a_survey_offers_propose_while_nominations_are_open(
    database_url: str,
) -> None:
    async with running_bot(database_url) as bot:
        await survey_then_offer(bot)


async def survey_then_offer(bot: RunningBot) -> None:
    """A survey finished before an edition takes proposals, and one finished after."""
    offer = _("Do you know a practice worth evaluating? Send /propose to tell us.")
    plan = Plan.random(random.Random(16))
    before = Driver(bot.services, bot.server, bot.server.user(language_code="uk"), plan)
    await complete(bot, before)
    texts = [m.get("text", "") for m in bot.server.messages(before.user.id)]
    assert not any(said(bot, offer, plan.locale) in t for t in texts)

    await open_nominations(bot.services)
    bot.services.cache.pop("catalog", None)  # as if CATALOG_TTL had passed
    after = Driver(bot.services, bot.server, bot.server.user(language_code="ru"), plan)
    await complete(bot, after)
    texts = [m.get("text", "") for m in bot.server.messages(after.user.id)]
    assert any(said(bot, offer, plan.locale) in t for t in texts)
