"""Audit summaries against hand-computed figures on a small fixture (real database)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from app.respond import answer_columns
from app.rounds import create_round
from app.services import Services
from app.summaries import published_report, round_period
from audit.model import held_up
from audit.stats import median_of, scale_stats, t_quantile
from audit.summary import COMMENT_KEY, city_period, comment_answer_id, year_period
from storage.models import utcnow

A = "krakow-otwarty-krakow"
B = "krakow-punkt-informacyjny-cudzoziemcow"
SCALES = ("city_role", "reliable", "fits_needs", "useful")
TYPES = {
    "aware": "yes_no",
    "used": "single_choice",
    "comment": "text",
    **dict.fromkeys(SCALES, "scale"),
}


async def add_response(
    services: Services,
    who: str,
    practice: str,
    round_id: int | None,
    answers: dict[str, Any],
    locale: str = "uk",
    status: str = "completed",
) -> None:
    """One respondent's stored response, written in the order the bot writes it."""
    pseudonym = services.pseudonyms.of("fixture", who)
    async with services.db.unit_of_work() as uow:
        survey = await uow.surveys.latest("open-cities")
        assert survey is not None
        await uow.respondents.save(
            pseudonym, {"locale": locale, "consent_at": utcnow()}, {"stage": "finished"}
        )
        response_id = await uow.responses.add(
            round_id=round_id,
            practice_id=practice,
            pseudonym=pseudonym,
            survey_id=survey.id,
            survey_version=survey.version,
            locale=locale,
        )
        for question, value in answers.items():
            await uow.responses.save_answer(
                response_id, question, answer_columns(TYPES[question], value)
            )
        if status == "completed":
            await uow.responses.update(response_id, status=status, completed_at=utcnow())


def person(
    aware: str,
    used: str | None,
    ratings: tuple[Any, ...],
    comment: str | None = None,
) -> dict[str, Any]:
    answers: dict[str, Any] = {"aware": aware}
    if used:
        answers["used"] = used
    answers.update(zip(SCALES, ratings, strict=True))
    if comment:
        answers["comment"] = comment
    return answers


async def make_round(services: Services, days_ago: int) -> int:
    start = utcnow() - timedelta(days=days_ago)
    async with services.db.unit_of_work() as uow:
        survey = await uow.surveys.latest("open-cities")
        assert survey is not None
        round_ = await create_round(
            uow, "test", "krakow", [A, B], survey.id, start, start + timedelta(days=10)
        )
    return round_.id


@pytest.fixture
async def fixture(services: Services) -> dict[str, int]:
    """Round 1 (earlier): A rated 3 on everything by 5 people. Round 2: A by 6 people (hand-
    computed below), B by 4 people (one fewer than k = 5, so suppressed)."""
    first, second = await make_round(services, 60), await make_round(services, 10)
    for n in range(5):
        await add_response(services, f"r1-{n}", A, first, person("yes", "once", (3, 3, 3, 3)))
    people = [
        person("yes", "several", (5, 5, 2, 4), "Call me +48 600 100 200, ok?"),
        person("yes", "several", (4, 5, 3, 4), '=HYPERLINK("http://x")'),
        person("yes", "several", (4, 4, 3, 4), "Write to jan@example.com or @janek"),
        person("yes", "once", (4, 4, 4, 4)),
        person("yes", "never", (3, 3, 4, 4)),
        person("yes", "never", (4, 3, "dont_know", 4)),
    ]
    for n, answers in enumerate(people):
        await add_response(services, f"r2-{n}", A, second, answers, locale="pl" if n == 5 else "uk")
    for n in range(4):
        await add_response(
            services, f"b-{n}", B, second, person("yes", "once", (5, 5, 5, 5), "Secret detail")
        )
    await add_response(services, "unfinished", A, second, {"aware": "yes"}, status="in_progress")
    return {"first": first, "second": second}


async def round_report(services: Services, round_id: int) -> Any:
    async with services.db.reading() as uow:
        period = await round_period(uow, round_id, services.settings.tz)
    return await published_report(services.db, period, 5, services.settings.tz)


def test_statistics_from_counts_match_the_textbook() -> None:
    stats = scale_stats({5: 1, 4: 4, 3: 1})
    assert stats is not None
    assert stats.mean == pytest.approx(4.0)
    assert stats.sd == pytest.approx(0.632456, abs=1e-6)
    assert stats.ci_low == pytest.approx(4.0 - 2.571 * 0.632456 / 6**0.5, abs=1e-6)
    assert median_of((1, 1, 0, 0, 0)) == 1.5 and median_of((0, 0, 3, 0, 0)) == 3
    assert t_quantile(4) == 2.776 and t_quantile(200) == 1.96


async def test_round_summary_matches_hand_computed_figures(
    services: Services, fixture: dict[str, int]
) -> None:
    report = await round_report(services, fixture["second"])
    practice = next(p for p in report.practices if p.practice_id == A)
    assert (practice.started, practice.completed) == (7, 6)
    assert practice.completion_rate == pytest.approx(6 / 7)
    assert practice.awareness == pytest.approx(1.0)
    assert practice.usage == pytest.approx(4 / 6)

    engagement = practice.criteria["engagement"]
    assert engagement is not None
    assert (engagement.n, engagement.mean, engagement.median) == (6, pytest.approx(4.0), 4.0)
    assert engagement.ci_low == pytest.approx(3.336170, abs=1e-5)
    assert engagement.ci_high == pytest.approx(4.663830, abs=1e-5)
    assert engagement.distribution == (0, 0, 1, 4, 1)

    sustainability = practice.criteria["sustainability"]
    assert sustainability is not None
    assert sustainability.ci_low == pytest.approx(3.061204, abs=1e-5)

    comprehensiveness = practice.criteria["comprehensiveness"]
    assert comprehensiveness is not None
    assert (comprehensiveness.n, comprehensiveness.mean) == (5, pytest.approx(3.2))
    assert comprehensiveness.median == 3.0
    assert comprehensiveness.dont_know_share == pytest.approx(1 / 6)
    assert comprehensiveness.ci_low == pytest.approx(2.161315, abs=1e-5)
    assert comprehensiveness.ci_high == pytest.approx(4.238685, abs=1e-5)

    overall = practice.criteria["overall"]
    assert overall is not None and (overall.mean, overall.ci_low, overall.ci_high) == (4, 4, 4)

    assert practice.composite is not None
    assert practice.composite.score == pytest.approx(70.0)  # (75 + 75 + 55 + 75) / 4
    assert practice.composite.ci_low == pytest.approx(62.857084, abs=1e-5)
    assert practice.composite.ci_high == pytest.approx(77.142916, abs=1e-5)


async def test_trend_against_the_previous_round(
    services: Services, fixture: dict[str, int]
) -> None:
    report = await round_report(services, fixture["second"])
    practice = next(p for p in report.practices if p.practice_id == A)
    assert practice.trend is not None
    assert practice.trend.previous_round_id == fixture["first"]
    assert practice.trend.previous_score == pytest.approx(50.0)
    assert practice.trend.delta == pytest.approx(20.0)
    assert practice.trend.arrow == "↑" and practice.trend.overlap is False


async def test_suppression_at_k_minus_one_and_at_k(
    services: Services, fixture: dict[str, int]
) -> None:
    report = await round_report(services, fixture["second"])
    small = next(p for p in report.practices if p.practice_id == B)
    assert small.suppressed and small.completed is None and small.started is None
    assert small.composite is None and small.criteria == {} and small.awareness is None
    big = next(p for p in report.practices if p.practice_id == A)
    assert not big.suppressed
    # One Polish answer is below k, and 6 − 5 would give it away: the next smallest goes too.
    assert big.languages == {"uk": None, "pl": None}
    assert [p.practice_id for p in report.not_enough()] == [B]
    assert [p.practice_id for p in report.ranked()] == [A]


async def test_comments_are_masked_and_only_from_groups_large_enough(
    services: Services, fixture: dict[str, int]
) -> None:
    report = await round_report(services, fixture["second"])
    texts = sorted(c.text for c in report.comments)
    assert len(texts) == 3 and all(c.practice_id == A for c in report.comments)
    phone = next(t for t in texts if "Call me" in t)
    assert "600" not in phone and "[phone]" in phone
    mail = next(t for t in texts if "Write to" in t)
    assert "jan@example.com" not in mail and "@janek" not in mail
    assert not any("Secret" in t for t in texts)


async def test_hidden_comments_stay_hidden(services: Services, fixture: dict[str, int]) -> None:
    report = await round_report(services, fixture["second"])
    target = report.comments[0].id
    async with services.db.unit_of_work() as uow:
        answer_id = comment_answer_id(await uow.settings.get(COMMENT_KEY), target)
        assert answer_id is not None and answer_id != target
        assert await uow.audit.set_hidden(answer_id, True, "tg:1")
    report = await round_report(services, fixture["second"])
    assert [c.hidden for c in report.comments] == [True, False, False]


async def test_year_and_city_summaries(services: Services, fixture: dict[str, int]) -> None:
    year = utcnow().astimezone(services.settings.tz).year
    zone = services.settings.tz
    yearly = await published_report(services.db, year_period(year, zone, ["krakow"]), 5, zone)
    city = await published_report(services.db, city_period("krakow"), 5, zone)
    a_year = next(p for p in yearly.practices if p.practice_id == A)
    assert a_year.completed in (6, 11)  # round 1 may fall in the previous calendar year
    a_city = next(p for p in city.practices if p.practice_id == A)
    assert a_city.completed == 11
    assert a_city.trend is not None and a_city.trend.delta == pytest.approx(20.0)


def test_a_distinguished_practice_held_up_rule() -> None:
    from audit.model import PracticeSummary
    from audit.stats import Composite

    practice = PracticeSummary(
        "c",
        {},
        "p",
        {},
        {},
        None,
        5,
        5,
        False,
        composite=Composite(49.9, 40, 60, 4),
        distinguished_in=2015,
    )
    assert held_up(practice) is False
    practice.composite = Composite(50.0, 40, 60, 4)
    assert held_up(practice) is True
    practice.active = False
    assert held_up(practice) is False
