"""Stage one (the analysis of each nominated practice) and the re-analysis of the practices
distinguished in earlier editions: stored, logged, with the residents' figures of the year
beside them under the disclosure rule, and each practice's history across editions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app import analysis, editions, evaluation
from app.analysis import AnalysisError
from app.config import Settings
from app.editions import Schedule, Weights
from app.services import Services
from storage.models import AuditLog, utcnow
from tests.test_audit import A, B, add_response, person
from tests.test_cli import auditbot, ok

NOW = utcnow()
YEAR = NOW.year  # the residents' figures are the year's: answers given now count
EARLIER = YEAR - 1


async def analysis_phase(services: Services, year: int = YEAR) -> None:
    """An edition in its analysis phase with A and B nominated; A answered by 6 residents,
    B by 4 (fewer than k = 5: not shown)."""
    schedule = Schedule(
        NOW - timedelta(days=30),
        NOW - timedelta(days=1),
        NOW + timedelta(days=10),
        NOW + timedelta(days=20),
    )
    async with services.db.unit_of_work() as uow:
        await editions.open_edition(uow, "test", year, schedule, Weights(60, 40), NOW)
        for practice in (A, B):
            await uow.nominations.add_practice(year, practice, "nominated")


async def residents(services: Services) -> None:
    for n in range(6):
        await add_response(services, f"a{n}", A, None, person("yes", "once", (4, 4, 5, 3)))
    for n in range(4):
        await add_response(services, f"b{n}", B, None, person("yes", "once", (2, 2, 2, 2)))


async def logged(services: Services, action: str) -> list[AuditLog]:
    async with services.db.unit_of_work() as uow:
        query = select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)
        return list((await uow.session.scalars(query)).all())


async def refused(services: Services, work, problem: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AnalysisError, match=problem):
        async with services.db.unit_of_work() as uow:
            await work(uow)


async def test_analysis_per_criterion_with_the_residents_figures_beside_it(
    services: Services,
) -> None:
    await analysis_phase(services)
    await residents(services)
    evidence = ["https://example.org/budget", "https://example.org/report"]
    async with services.db.unit_of_work() as uow:
        await analysis.record_analysis(
            uow,
            "tg:1",
            YEAR,
            A,
            NOW,
            criterion="engagement",
            notes="The city funds it.",
            evidence=evidence,
        )
        await analysis.record_analysis(
            uow, "tg:1", YEAR, A, NOW, criterion="sustainability", notes="Runs since 2015."
        )
        await analysis.record_analysis(uow, "tg:1", YEAR, A, NOW, recommendation="recommend")
        # revised: the later notes replace the earlier ones of the criterion
        await analysis.record_analysis(
            uow, "tg:2", YEAR, A, NOW, criterion="engagement", notes="The city funds and runs it."
        )
    k = services.settings.min_group_size
    async with services.db.unit_of_work() as uow:
        view = await analysis.analysis_of(uow, YEAR, A, services.settings.tz, k)
        other = await analysis.analysis_of(uow, YEAR, B, services.settings.tz, k)
    assert view.analysis is not None
    assert view.analysis.criteria == {
        "engagement": {"notes": "The city funds and runs it.", "evidence": []},
        "sustainability": {"notes": "Runs since 2015.", "evidence": []},
    }
    assert (view.analysis.recommendation, view.analysis.updated_by) == ("recommend", "tg:2")
    assert view.residents.n == 6 and view.residents.composite is not None
    assert 0 <= view.residents.composite.score <= 100
    # B: four residents, below k — nothing of them comes out; and no analysis yet
    assert (other.residents.n, other.residents.composite, other.analysis) == (0, None, None)
    rows = await logged(services, "analysis.record")
    assert [(r.actor, r.target, r.details.get("criterion")) for r in rows] == [
        ("tg:1", f"practice:{A}", "engagement"),
        ("tg:1", f"practice:{A}", "sustainability"),
        ("tg:1", f"practice:{A}", None),
        ("tg:2", f"practice:{A}", "engagement"),
    ]
    assert rows[0].details["evidence"] == 2
    assert rows[2].details["recommendation"] == "recommend"


async def test_bad_analysis_input_gets_a_clear_answer(services: Services) -> None:
    await analysis_phase(services)

    def record(practice: str = A, **given: object):  # type: ignore[no-untyped-def]
        return lambda uow: analysis.record_analysis(uow, "t", YEAR, practice, NOW, **given)

    await refused(services, record(criterion="beauty", notes="x"), "use one of engagement")
    await refused(services, record(recommendation="maybe"), "use one of recommend")
    await refused(services, record(), "give --criterion")
    await refused(services, record(criterion="engagement"), "give --notes or --evidence")
    await refused(services, record(notes="Some notes."), "belong to a criterion")
    await refused(
        services,
        record(criterion="engagement", evidence=["ftp://example.org"]),
        "is not a web address",
    )
    await refused(
        services, record(criterion="engagement", notes="x" * 2001), "at most 2000 characters"
    )
    await refused(
        services, record("gdansk-unknown", recommendation="recommend"), "is not nominated"
    )
    async with services.db.unit_of_work() as uow:
        await editions.close_edition(uow, "test", YEAR, NOW)
    await refused(services, record(recommendation="recommend"), "is closed")
    assert await logged(services, "analysis.record") == []


async def test_the_command_line_records_and_shows_the_analysis(
    services: Services, settings: Settings
) -> None:
    await analysis_phase(services)
    await residents(services)
    assert "Example: auditbot analysis record" in ok(auditbot(settings, "analysis", "--help"))
    assert "Example:" in ok(auditbot(settings, "analysis", "record", "--help"))
    recorded = auditbot(
        settings,
        *("analysis", "record", "--edition", str(YEAR), "--practice", A),
        *("--criterion", "comprehensiveness", "--notes", "Advice, courses and a helpline."),
        *("--evidence", "https://example.org/a", "--recommendation", "more-evidence"),
    )
    assert ok(recorded).strip() == f"analysis of {A} in {YEAR} recorded"
    shown = ok(auditbot(settings, "analysis", "show", "--edition", str(YEAR), "--practice", A))
    lines = shown.splitlines()
    assert lines[0].startswith(f"{A}\t")
    assert lines[1].startswith("  residents: composite ") and lines[1].endswith("n=6")
    assert lines[2] == "  recommendation: more-evidence"
    assert "  comprehensiveness: Advice, courses and a helpline." in lines
    assert "    evidence: https://example.org/a" in lines
    assert "  engagement: not analysed yet" in lines
    every = ok(auditbot(settings, "analysis", "show", "--edition", str(YEAR)))
    assert "  residents: fewer than k=5 answers this year, not shown" in every
    bad = auditbot(
        settings,
        *("analysis", "record", "--edition", str(YEAR), "--practice", A),
        *("--criterion", "beauty", "--notes", "x"),
    )
    assert bad.returncode == 2 and bad.stderr.strip().startswith("--criterion: 'beauty'")
    assert len(bad.stderr.strip().splitlines()) == 1


async def distinguished_earlier(services: Services) -> None:
    """A nominated and distinguished in last year's edition; this year's edition open."""
    await analysis_phase(services, EARLIER)
    async with services.db.unit_of_work() as uow:
        await evaluation.confirm_distinction(uow, "test", EARLIER, A)
    await analysis_phase(services, YEAR)


async def test_distinguished_practices_are_re_analysed_the_next_year(services: Services) -> None:
    await distinguished_earlier(services)
    await residents(services)
    zone, k = services.settings.tz, services.settings.min_group_size
    async with services.db.unit_of_work() as uow:
        [item] = await analysis.reanalysis_list(uow, YEAR, zone, k)
        assert await analysis.reanalysis_list(uow, EARLIER, zone, k) == []
    assert (item.practice.id, item.distinguished_in, item.verdict) == (A, EARLIER, None)
    assert item.residents.n == 6 and item.residents.composite is not None
    async with services.db.unit_of_work() as uow:
        await analysis.record_verdict(
            uow, "tg:1", YEAR, A, "continued", "", ["https://example.org/2"], NOW
        )
    async with services.db.unit_of_work() as uow:
        await analysis.record_verdict(uow, "tg:2", YEAR, A, "changed", "Now also online.", [], NOW)
    async with services.db.unit_of_work() as uow:
        [item] = await analysis.reanalysis_list(uow, YEAR, zone, k)
    assert item.verdict is not None
    assert (item.verdict.verdict, item.verdict.notes, item.verdict.evidence) == (
        "changed",
        "Now also online.",
        [],
    )
    rows = await logged(services, "reanalysis.record")
    assert [(r.actor, r.details["before"], r.details["verdict"]) for r in rows] == [
        ("tg:1", None, "continued"),
        ("tg:2", "continued", "changed"),
    ]

    def verdict(practice: str, value: str, notes: str = "Checked.", year: int = YEAR):  # type: ignore[no-untyped-def]
        return lambda uow: analysis.record_verdict(uow, "t", year, practice, value, notes, [], NOW)

    await refused(services, verdict(A, "thriving"), "use one of continued, changed")
    await refused(services, verdict(A, "continued", ""), "give the evidence")
    await refused(services, verdict(B, "continued"), "not on the .* re-analysis list")
    await refused(services, verdict(A, "continued", year=EARLIER), "not on the .* re-analysis")

    async with services.db.unit_of_work() as uow:
        practice, history = await analysis.history(uow, A)
    assert practice.id == A
    assert [(h.year, h.nominated, h.distinguished, h.verdict) for h in history] == [
        (EARLIER, True, True, None),
        (YEAR, True, False, "changed"),
    ]


async def test_the_command_line_lists_and_records_re_analyses(
    services: Services, settings: Settings
) -> None:
    await distinguished_earlier(services)
    await residents(services)
    assert "Example: auditbot reanalysis record" in ok(auditbot(settings, "reanalysis", "--help"))
    listed = ok(auditbot(settings, "reanalysis", "list", "--edition", str(YEAR))).splitlines()
    assert listed[0].endswith(f"distinguished in {EARLIER}\tverdict: not yet")
    assert listed[1].startswith("  residents: composite ") and listed[1].endswith("n=6")
    recorded = auditbot(
        settings,
        *("reanalysis", "record", "--edition", str(YEAR), "--practice", A),
        *("--verdict", "discontinued", "--notes", "Closed in May."),
        *("--evidence", "https://example.org/closed"),
    )
    assert ok(recorded).strip() == f"{A}: discontinued in {YEAR}"
    listed = ok(auditbot(settings, "reanalysis", "list", "--edition", str(YEAR))).splitlines()
    assert listed[0].endswith("verdict: discontinued")
    assert (
        "  notes: Closed in May." in listed and "  evidence: https://example.org/closed" in listed
    )
    history = ok(auditbot(settings, "practice", "history", A)).splitlines()
    assert history[1:] == [
        f"{EARLIER}\tnominated (recommendation: none); distinguished",
        f"{YEAR}\tnominated (recommendation: none); re-analysed: discontinued — Closed in May.",
    ]
    bad = auditbot(
        settings, "reanalysis", "record", "--edition", str(YEAR), "--practice", B,
        "--verdict", "continued", "--notes", "x",
    )  # fmt: skip
    assert bad.returncode == 2 and "not on the" in bad.stderr
    unknown = auditbot(settings, "practice", "history", "nope")
    assert unknown.returncode == 2 and "nope is not a practice" in unknown.stderr
