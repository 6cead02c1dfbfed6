"""The jury of an edition: five jurors, scores with reasons, recusal, submission that locks,
scores hidden from other jurors until the close, counts only for staff."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app import editions, evaluation, jury
from app.config import Settings
from app.editions import Schedule, Weights
from app.jury import JuryError
from app.services import Services
from conversations.messages import _
from storage.models import AuditLog, utcnow
from tests.telegram_harness import Person, RunningBot, running_bot
from tests.test_cli import auditbot, ok
from tests.test_editions import open_by_cli
from tests.test_telegram import said

YEAR = 2098
NOW = utcnow()
PRACTICES = ("krakow-otwarty-krakow", "lublin-info-integracja")
JURORS = (5101, 5102, 5103, 5104, 5105)


async def jury_phase(services: Services) -> None:
    """An edition in its jury phase (since yesterday), with two practices and five jurors."""
    schedule = Schedule(
        NOW - timedelta(days=60),
        NOW - timedelta(days=30),
        NOW - timedelta(days=1),
        NOW + timedelta(days=10),
    )
    async with services.db.unit_of_work() as uow:
        await editions.open_edition(uow, "test", YEAR, schedule, Weights(60, 40), NOW)
        for practice in PRACTICES:
            await uow.nominations.add_practice(YEAR, practice, "nominated")
        for user in JURORS:
            await jury.add_juror(uow, "cli", YEAR, user, NOW)


async def score_all(services: Services, user: int, practice: str, value: int) -> None:
    async with services.db.unit_of_work() as uow:
        for criterion in jury.CRITERIA:
            await jury.score(
                uow, YEAR, user, practice, criterion, value, "Works well for newcomers.", NOW
            )


async def refused(services: Services, work, problem: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(JuryError, match=problem):
        async with services.db.unit_of_work() as uow:
            await work(uow)


async def test_five_jurors_named_by_letter_and_no_sixth(services: Services) -> None:
    await jury_phase(services)
    async with services.db.unit_of_work() as uow:
        jurors = await uow.jury.jurors(YEAR)
        assert [(j.label, j.telegram_user_id) for j in jurors] == list(
            zip("ABCDE", JURORS, strict=True)
        )
    await refused(services, lambda uow: jury.add_juror(uow, "cli", YEAR, 5106, NOW), "5 members")
    await refused(services, lambda uow: jury.add_juror(uow, "cli", YEAR, 5101, NOW), "already")
    async with services.db.unit_of_work() as uow:
        log = (
            await uow.session.scalars(select(AuditLog).where(AuditLog.action == "jury.add"))
        ).all()
        assert [(r.target, r.details["label"]) for r in log] == [
            (f"user:{u}", label) for u, label in zip(JURORS, "ABCDE", strict=True)
        ]


async def test_scores_are_revised_until_submit_which_locks_them(services: Services) -> None:
    await jury_phase(services)
    first, second = PRACTICES
    juror = JURORS[0]
    await score_all(services, juror, first, 2)
    await score_all(services, juror, first, 4)  # revised
    await refused(services, lambda uow: jury.submit(uow, YEAR, juror, NOW), second)
    async with services.db.unit_of_work() as uow:
        await jury.recuse(uow, YEAR, juror, second, NOW)
        await jury.submit(uow, YEAR, juror, NOW)
    async with services.db.unit_of_work() as uow:
        mine = await jury.own_scores(uow, YEAR, juror)
        assert sorted((s.practice_id, s.criterion, s.score) for s in mine) == [
            (first, "comprehensiveness", 4),
            (first, "engagement", 4),
            (first, "sustainability", 4),
            (second, "recused", None),
        ]
    await refused(
        services,
        lambda uow: jury.score(uow, YEAR, juror, first, "engagement", 1, "Changed my mind.", NOW),
        "submitted and are locked",
    )
    async with services.db.unit_of_work() as uow:
        actions = [
            (r.actor, r.action, r.target)
            for r in (await uow.session.scalars(select(AuditLog).order_by(AuditLog.id))).all()
            if r.action in ("jury.recuse", "jury.submit")
        ]
    assert actions == [
        (f"tg:{juror}", "jury.recuse", f"practice:{second}"),
        (f"tg:{juror}", "jury.submit", f"edition:{YEAR}"),
    ]


async def test_jurors_do_not_see_each_others_scores_before_the_close(services: Services) -> None:
    await jury_phase(services)
    await score_all(services, JURORS[1], PRACTICES[0], 5)
    await refused(
        services,
        lambda uow: jury.scores_of(uow, YEAR, JURORS[0], JURORS[1], NOW),
        "only after the jury phase closes",
    )
    async with services.db.unit_of_work() as uow:  # their own: always
        assert len(await jury.scores_of(uow, YEAR, JURORS[1], JURORS[1], NOW)) == 3
        progress = await jury.progress(uow, YEAR)  # staff: counts only
    assert progress[:2] == [
        jury.JuryProgress("A", scored=0, recused=0, submitted=False),
        jury.JuryProgress("B", scored=1, recused=0, submitted=False),
    ]
    after_close = NOW + timedelta(days=11)
    async with services.db.unit_of_work() as uow:
        seen = await jury.scores_of(uow, YEAR, JURORS[0], JURORS[1], after_close)
    assert {s.score for s in seen} == {5}


@pytest.mark.parametrize(
    ("user", "practice", "criterion", "value", "reason", "problem"),
    [
        (5999, PRACTICES[0], "engagement", 3, "Fine.", "is not a juror"),
        (JURORS[0], "gdansk-nowhere", "engagement", 3, "Fine.", "not a practice of the 2098"),
        (JURORS[0], PRACTICES[0], "beauty", 3, "Fine.", "unknown criterion"),
        (JURORS[0], PRACTICES[0], "engagement", 6, "Fine.", "from 1 to 5"),
        (JURORS[0], PRACTICES[0], "engagement", 3, " ", "one sentence"),
    ],
)
async def test_a_wrong_score_is_refused_with_the_reason(
    services: Services,
    user: int,
    practice: str,
    criterion: str,
    value: int,
    reason: str,
    problem: str,
) -> None:
    await jury_phase(services)
    await refused(
        services,
        lambda uow: jury.score(uow, YEAR, user, practice, criterion, value, reason, NOW),
        problem,
    )


async def test_scoring_is_only_in_the_jury_phase(services: Services) -> None:
    await jury_phase(services)
    later = NOW + timedelta(days=12)
    await refused(
        services,
        lambda uow: jury.score(uow, YEAR, JURORS[0], PRACTICES[0], "engagement", 3, "Fine.", later),
        "not in its jury phase",
    )


def test_the_command_line_adds_jurors_and_shows_counts(settings: Settings) -> None:
    ok(open_by_cli(settings))
    assert ok(auditbot(settings, "jury", "add", "5101", "--edition", "2099")).strip() == (
        "5101 is Juror A of 2099"
    )
    bad = auditbot(settings, "jury", "add", "5101", "--edition", "2099")
    assert bad.returncode == 2 and "is a juror of 2099 already" in bad.stderr
    assert ok(auditbot(settings, "jury", "progress", "--edition", "2099")).strip() == (
        "Juror A\tscored 0\trecused 0\tnot submitted"
    )
    assert "Example: auditbot jury add" in ok(auditbot(settings, "jury", "--help"))
    for command in ("add", "progress"):
        assert "Example: auditbot jury " + command in ok(
            auditbot(settings, "jury", command, "--help")
        )


async def test_the_ranking_of_the_edition_uses_non_recused_jurors_and_flags_few_residents(
    services: Services,
) -> None:
    await jury_phase(services)
    first, second = PRACTICES
    for user, value in zip(JURORS, (5, 4, 4, 5, 3), strict=True):  # 100, 75, 75, 100, 50
        await score_all(services, user, first, value)
    for user in JURORS[:4]:
        await score_all(services, user, second, 2)  # 25 each
    async with services.db.unit_of_work() as uow:
        await jury.recuse(uow, YEAR, JURORS[4], second, NOW)
        ranking = await evaluation.combined_ranking(uow, YEAR, services.settings.tz, k=5)
    # both practices are in the catalog's "info_integration" category; no survey answers, so
    # the residents' part is below k and each is ranked on the jury alone
    [(category, rows)] = ranking.by_category.items()
    assert category == "info_integration"
    assert [(r.entry.practice_id, r.rank, r.jury_only) for r in rows] == [
        (first, 1, True),
        (second, 2, True),
    ]
    assert rows[0].combined.score == pytest.approx((100 + 75 + 75 + 100 + 50) / 5)  # 80
    assert (rows[1].combined.score, rows[1].entry.jury.n) == (pytest.approx(25.0), 4)  # type: ignore[union-attr]
    assert ranking.alpha is not None
    async with services.db.unit_of_work() as uow:
        await evaluation.confirm_distinction(uow, "cli", YEAR, first)
        practice = await uow.catalog.practice(first)
        assert practice is not None and practice.distinguished_in == YEAR
        [logged] = (
            await uow.session.scalars(
                select(AuditLog).where(AuditLog.action == "edition.distinguish")
            )
        ).all()
        assert (logged.target, logged.details) == (f"practice:{first}", {"edition": YEAR})


def test_the_command_line_shows_the_ranking(settings: Settings) -> None:
    ok(open_by_cli(settings))
    shown = ok(auditbot(settings, "edition", "ranking", "--year", "2099"))
    assert shown.splitlines() == [
        "edition 2099; jurors' agreement (Krippendorff's alpha, ordinal): n/a"
    ]
    bad = auditbot(settings, "edition", "distinguish", "--year", "2099", "--practice", "nope")
    assert bad.returncode == 2 and "nope is not a practice of the 2099 edition" in bad.stderr


async def score_in_bot(bot: RunningBot, person: Person, locale: str, recuse_second: bool) -> None:
    """A juror's whole /jury session: scores the first practice (one short reason on the way),
    scores or steps aside from the second, and submits."""
    await person.send("/jury")
    for index in (0, 1):
        practice = next(b for b in person.buttons() if name_of(index, locale) in b)
        await person.tap(practice)
        if index == 1 and recuse_second:
            await person.tap(said(bot, _("I am involved with this practice"), locale))
            continue
        await person.tap(said(bot, _("Score this practice"), locale))
        for value in ("4", "3", "5"):
            await person.tap(value)
            if value == "4" and index == 0:
                await person.send("ok")  # too short: asked again
                assert said(bot, _("Please write one sentence (5 to 300 characters)."), locale) in (
                    "\n".join(person.texts()[-2:])
                )
            await person.send("It reaches many newcomers every week.")
    await person.tap(said(bot, _("Submit my scores"), locale))
    assert person.last_text == said(
        bot, _("Thank you! Your scores are submitted and locked."), locale
    )


def name_of(index: int, locale: str) -> str:
    """The practice's name in the juror's language, as the catalog has it."""
    names = {
        0: {
            "uk": "Відкритий Краків",
            "ru": "Открытый Краков",
            "en": "Open Kraków",
            "pl": "Otwarty Kraków",
        },
        1: {
            "uk": "Інформаційно-інтеграційні",
            "ru": "Информационная и интеграционная",
            "en": "Information and integration",
            "pl": "informacyjno-integracyjne",
        },
    }
    return names[index][locale]


async def test_jurors_score_in_the_bot_in_their_languages(database_url: str) -> None:
    async with running_bot(database_url) as bot:
        await jury_phase(bot.services)
        languages = dict(zip(JURORS[:4], ("uk", "ru", "pl", "en"), strict=True))
        for user, locale in languages.items():
            person = bot.person(locale, user_id=user)
            await score_in_bot(bot, person, locale, recuse_second=user == JURORS[1])
            await person.send("/jury")  # submitted: locked
            assert person.last_text == said(
                bot, _("Thank you! Your scores are submitted and locked."), locale
            )
        stranger = bot.person("pl", user_id=5999)
        await stranger.send("/jury")
        assert stranger.last_text == said(
            bot, _("You are not a juror of an edition whose jury is open now."), "pl"
        )
        async with bot.services.db.unit_of_work() as uow:
            progress = await jury.progress(uow, YEAR)
            scores = await uow.jury.scores(YEAR, JURORS[0])
        assert progress == [
            jury.JuryProgress("A", 2, 0, True),
            jury.JuryProgress("B", 1, 1, True),
            jury.JuryProgress("C", 2, 0, True),
            jury.JuryProgress("D", 2, 0, True),
            jury.JuryProgress("E", 0, 0, False),
        ]
        assert sorted((s.practice_id, s.criterion, s.score) for s in scores)[:3] == [
            (PRACTICES[0], "comprehensiveness", 5),
            (PRACTICES[0], "engagement", 4),
            (PRACTICES[0], "sustainability", 3),
        ]
