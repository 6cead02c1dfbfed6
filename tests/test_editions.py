"""Editions of the annual evaluation: opened with phases and weights, moved by the scheduler,
weights frozen when the jury phase opens, closed; from the use cases and the command line."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from subprocess import CompletedProcess

import pytest
from sqlalchemy import select

from app import editions
from app.config import Settings
from app.editions import EditionError, Schedule, Weights
from app.services import Services
from storage.models import AuditLog, Edition
from tests.telegram_harness import running_bot
from tests.test_cli import auditbot, ok

START = datetime(2099, 1, 10, tzinfo=UTC)
SCHEDULE = Schedule(
    nominations_open_at=START,
    analysis_open_at=START + timedelta(days=50),
    jury_open_at=START + timedelta(days=80),
    closes_at=START + timedelta(days=110),
)
BEFORE = START - timedelta(days=1)


async def open_2099(services: Services) -> None:
    async with services.db.unit_of_work() as uow:
        await editions.open_edition(uow, "test", 2099, SCHEDULE, Weights(60, 40), BEFORE)


async def status(services: Services, year: int = 2099) -> Edition:
    async with services.db.unit_of_work() as uow:
        edition = await uow.editions.get(year)
        assert edition is not None
        return edition


async def logged(services: Services) -> list[tuple[str, str, str | None, dict[str, object]]]:
    async with services.db.unit_of_work() as uow:
        rows = (await uow.session.scalars(select(AuditLog).order_by(AuditLog.id))).all()
        return [(r.actor, r.action, r.target, r.details) for r in rows]


async def test_phases_follow_the_dates_and_the_weights_freeze_at_the_jury(
    services: Services,
) -> None:
    await open_2099(services)
    assert (await status(services)).status == "planned"
    moments = [
        (START - timedelta(seconds=1), []),
        (START, [(2099, "nominations")]),
        (START + timedelta(days=1), []),  # nothing new: runs any number of times
        (SCHEDULE.analysis_open_at, [(2099, "analysis")]),
        (SCHEDULE.jury_open_at + timedelta(hours=1), [(2099, "jury")]),
        (SCHEDULE.closes_at, [(2099, "closed")]),
        (SCHEDULE.closes_at + timedelta(days=1), []),
    ]
    for moment, expected in moments:
        assert list(await editions.reconcile_editions(services.db, moment)) == expected
    edition = await status(services)
    assert edition.status == "closed" and edition.closed_at == SCHEDULE.closes_at
    assert edition.weights_frozen_at == SCHEDULE.jury_open_at + timedelta(hours=1)
    log = [(actor, action, details) for actor, action, _t, details in await logged(services)]
    assert log[0][:2] == ("test", "edition.open")
    assert log[0][2]["jury_weight"] == 60 and log[0][2]["residents_weight"] == 40
    assert log[1:] == [
        ("scheduler", "edition.phase", {"before": "planned", "after": "nominations"}),
        ("scheduler", "edition.phase", {"before": "nominations", "after": "analysis"}),
        ("scheduler", "edition.weights_frozen", {"jury": 60, "residents": 40}),
        ("scheduler", "edition.phase", {"before": "analysis", "after": "jury"}),
        ("scheduler", "edition.phase", {"before": "jury", "after": "closed"}),
    ]


async def test_weights_change_until_the_jury_phase_opens_and_are_refused_after(
    services: Services,
) -> None:
    await open_2099(services)
    async with services.db.unit_of_work() as uow:
        await editions.set_weights(uow, "staff:1", 2099, Weights(50, 50), START)
    assert (await status(services)).jury_weight == 50
    jury_time = SCHEDULE.jury_open_at + timedelta(minutes=5)
    with pytest.raises(EditionError) as refused:
        async with services.db.unit_of_work() as uow:
            await editions.set_weights(uow, "staff:1", 2099, Weights(70, 30), jury_time)
    assert str(refused.value) == (
        "the weights of the 2099 edition were frozen when its jury phase opened (2099-03-31); "
        "they stay jury 50 / residents 50"
    )
    edition = await status(services)
    assert (edition.jury_weight, edition.residents_weight) == (50, 50)
    actions = [(action, details) for _a, action, _t, details in await logged(services)]
    assert (
        "edition.weights",
        {"before": {"jury": 60, "residents": 40}, "after": {"jury": 50, "residents": 50}},
    ) in actions
    assert not any(d.get("after") == {"jury": 70, "residents": 30} for _a, d in actions)


@pytest.mark.parametrize(
    ("year", "schedule", "weights", "problem"),
    [
        (1999, SCHEDULE, Weights(60, 40), "--year: 1999 is not a year between 2000 and 2100"),
        (2099, SCHEDULE, Weights(60, 50), "must add up to 100 (got 60 + 50 = 110)"),
        (2099, SCHEDULE, Weights(120, -20), "percentages between 0 and 100"),
        (
            2099,
            Schedule(START, START + timedelta(days=90), START + timedelta(days=80), START),
            Weights(60, 40),
            "the jury phase must begin after the analysis phase begins",
        ),
    ],
)
async def test_a_wrong_edition_is_refused_with_what_to_fix(
    services: Services, year: int, schedule: Schedule, weights: Weights, problem: str
) -> None:
    with pytest.raises(EditionError, match=re.escape(problem)):
        async with services.db.unit_of_work() as uow:
            await editions.open_edition(uow, "test", year, schedule, weights, BEFORE)
    async with services.db.unit_of_work() as uow:
        assert await uow.editions.listing() == []


async def test_one_edition_a_year_and_close_ends_it_now(services: Services) -> None:
    await open_2099(services)
    with pytest.raises(EditionError, match="the 2099 edition exists already"):
        await open_2099(services)
    now = START + timedelta(days=3)
    async with services.db.unit_of_work() as uow:
        await editions.close_edition(uow, "staff:1", 2099, now)
    edition = await status(services)
    assert (edition.status, edition.closes_at, edition.weights_frozen_at) == ("closed", now, now)
    with pytest.raises(EditionError, match="closed already"):
        async with services.db.unit_of_work() as uow:
            await editions.close_edition(uow, "staff:1", 2099, now)


async def test_the_scheduler_job_of_the_running_bot_moves_an_edition(database_url: str) -> None:
    async with running_bot(database_url, jobs=True) as bot:
        now = datetime.now(UTC)
        schedule = Schedule(
            now - timedelta(days=60), now - timedelta(days=10), now, now + timedelta(days=9)
        )
        async with bot.services.db.unit_of_work() as uow:
            await editions.open_edition(uow, "test", 2098, schedule, Weights(60, 40), now)
        # opened in the jury phase right away; and the job, run now, finds nothing more to do
        [job] = bot.application.job_queue.get_jobs_by_name("editions")
        await job.run(bot.application)
        edition = await status(bot.services, 2098)
        assert edition.status == "jury" and edition.weights_frozen_at is not None
        async with bot.services.db.unit_of_work() as uow:
            edition = await uow.editions.get(2098)
            assert edition is not None
            edition.closes_at = now - timedelta(seconds=1)  # as if the last day had passed
        await job.run(bot.application)
        assert (await status(bot.services, 2098)).status == "closed"


def open_by_cli(settings: Settings, *more: str) -> CompletedProcess[str]:
    """`auditbot edition open` for 2099, with phases from March to April (and `more`)."""
    return auditbot(
        settings,
        *("edition", "open", "--year", "2099", "--analysis-from", "2099-03-01"),
        *("--jury-from", "2099-04-01", "--jury-until", "2099-04-30"),
        *("--jury-weight", "60", "--residents-weight", "40", *more),
    )


def set_weights(settings: Settings, jury: int, residents: int) -> CompletedProcess[str]:
    return auditbot(
        settings,
        "edition",
        "weights",
        "--year",
        "2099",
        "--jury-weight",
        str(jury),
        "--residents-weight",
        str(residents),
    )


def test_the_command_line_opens_shows_lists_and_closes_editions(settings: Settings) -> None:
    opened = ok(open_by_cli(settings, "--nominations-from", "2099-01-10"))
    assert opened.splitlines() == [
        "edition 2099 is planned",
        "2099\tplanned\t2099-01-10\t2099-03-01\t2099-04-01\t2099-04-30\tjury 60 / residents 40",
    ]
    changed = ok(set_weights(settings, 50, 50))
    assert changed.strip().endswith("jury 50 / residents 50")
    assert "2099\tplanned\t2099-01-10" in ok(
        auditbot(settings, "edition", "show", "--year", "2099")
    )
    assert ok(auditbot(settings, "edition", "list")).startswith("2099\tplanned")
    bad = auditbot(settings, "edition", "show", "--year", "2098")
    assert bad.returncode == 2 and "there is no 2098 edition" in bad.stderr
    bad = set_weights(settings, 50, 60)
    assert bad.returncode == 2 and "must add up to 100" in bad.stderr
    assert ok(auditbot(settings, "edition", "close", "--year", "2099")).strip() == (
        "edition 2099 is closed"
    )
    listing = ok(auditbot(settings, "edition", "list"))
    assert listing.startswith("2099\tclosed") and "(frozen)" in listing
    frozen = set_weights(settings, 70, 30)
    assert frozen.returncode == 2 and "were frozen" in frozen.stderr
    log = ok(auditbot(settings, "audit-log")).splitlines()
    assert [line.split("\t")[2] for line in log][:4] == [
        "edition.phase",
        "edition.weights_frozen",
        "edition.weights",
        "edition.open",
    ]


def test_help_of_the_edition_commands_shows_an_example(settings: Settings) -> None:
    assert "Example: auditbot edition open --year 2027" in ok(
        auditbot(settings, "edition", "--help")
    )
    for command in ("open", "show", "close", "list", "weights"):
        assert "Example: auditbot edition " + command in ok(
            auditbot(settings, "edition", command, "--help")
        )
