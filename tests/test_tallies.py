"""The audit tallies always equal the raw GROUP BY over responses and answers (the oracle):
through the real flow (start, answer, go back, complete, /delete), retention, a migration from
before the tallies, a change of TIMEZONE and `auditbot db recount`."""

from __future__ import annotations

from datetime import timedelta

from alembic import command
from sqlalchemy import Connection

from app.rounds import apply_retention
from app.services import Services
from audit.summary import city_period, year_period
from bot.startup import start_services
from conversations import events as ev
from storage.db import alembic_config
from storage.models import utcnow
from storage.reporting import Scope
from tests.conftest import make_settings
from tests.test_audit import A, add_response, make_round, person
from tests.test_cli import auditbot, ok
from tests.test_flow import Person

COMMENTS = ["comment"]


async def assert_tallies_match(services: Services, round_id: int | None = None) -> int:
    """Every tallied figure equals its raw query in several scopes; returns how many value
    counts the widest scope has (so that a test can tell it compared something)."""
    zone = services.settings.tz
    scopes = [
        Scope(),
        year_period(utcnow().astimezone(zone).year, zone).scope,
        city_period("gdansk").scope,
        city_period("krakow").scope,
        *([Scope(round_ids=(round_id,))] if round_id else []),
    ]
    async with services.db.reading() as uow:
        assert await uow.tallies.zone() == zone, "the tallies are counted, not bypassed"
        for scope in scopes:
            audit = uow.audit
            assert sorted(await audit.value_counts(scope), key=repr) == sorted(
                await audit.raw_value_counts(scope), key=repr
            )
            assert sorted(await audit.response_counts(scope), key=repr) == sorted(
                await audit.raw_response_counts(scope), key=repr
            )
            assert sorted(await audit.locale_counts(scope)) == sorted(
                await audit.raw_locale_counts(scope)
            )
            assert [tuple(c) for c in await audit.comments(scope, COMMENTS)] == [
                tuple(c) for c in await audit.raw_comments(scope, COMMENTS)
            ]
        return len(await uow.audit.value_counts(Scope()))


async def complete(person_: Person, locale: str, actions: list[str], comment: str) -> None:
    """Take the survey to the end (the comment is required)."""
    await person_.into_survey(locale)
    for action in actions:
        await person_.press(action)
    await person_.do(ev.Text(comment))


async def test_tallies_follow_the_flow_deletion_and_retention(services: Services) -> None:
    anna, boris, carla, dmitri = (Person(services, n) for n in ("anna", "boris", "carla", "dm"))
    await complete(
        anna,
        "pl",
        ["yes", "once", "4", "5", "dont_know", "3", "work", ev.DONE],
        "Tel. +48 600 100 200",
    )
    assert await assert_tallies_match(services) > 0

    await boris.into_survey("uk")
    for action in (
        "yes",
        "several",
        "5",
        ev.BACK,
        "2",
        "4",
        ev.BACK,
        ev.BACK,
        ev.BACK,
        ev.BACK,
        "no",
    ):
        await boris.press(action)  # back to the start: "no" drops the later answers
    await boris.press("work")
    await boris.press(ev.DONE)
    await boris.do(ev.Text("Nothing more"))
    await assert_tallies_match(services)

    await complete(carla, "en", ["yes", "never", "1", "2", "3", "4"], "Open on Saturdays")
    await dmitri.into_survey("ru")
    await dmitri.press("yes")  # stays unfinished
    await assert_tallies_match(services)

    stale = anna.token
    await anna.do(ev.Text("one more thing"))  # after completion nothing is stored any more
    await anna.do(ev.from_action(stale, "1"))
    await assert_tallies_match(services)

    await carla.do(ev.Delete())
    await carla.press("erase")
    await assert_tallies_match(services)

    round_id = await make_round(services, 3)
    for n in range(3):
        await add_response(
            services, f"r{n}", A, round_id, person("yes", "once", (n + 1,) * 4, "Good")
        )
    await add_response(services, "half", A, round_id, {"aware": "yes"}, status="in_progress")
    await assert_tallies_match(services, round_id)

    later = await apply_retention(services, utcnow() + timedelta(days=800))
    assert (later.unfinished_deleted, later.comments_erased) == (1, 5)  # dmitri's; 5 comments
    await assert_tallies_match(services, round_id)


async def some_answers(services: Services) -> int:
    """A few completed and unfinished responses, in and outside a round."""
    await complete(Person(services, "eva"), "pl", ["yes", "once", "4", "5", "3", "3"], "Ok")
    await Person(services, "fedir").into_survey("uk")
    round_id = await make_round(services, 2)
    for n in range(2):
        await add_response(services, f"q{n}", A, round_id, person("yes", "never", (5, 4, 3, 2)))
    return round_id


def downgrade_to_0004(connection: Connection) -> None:
    """Back to the schema released before the tallies."""
    command.downgrade(alembic_config(connection), "0004")


async def test_tallies_are_counted_after_the_migration_and_when_timezone_changes(
    database_url: str,
) -> None:
    services = await start_services(make_settings(database_url))
    try:
        round_id = await some_answers(services)
        async with services.db.engine.begin() as connection:
            await connection.run_sync(downgrade_to_0004)
    finally:
        await services.close()

    migrated = await start_services(make_settings(database_url))  # 0005, then counted
    try:
        assert await assert_tallies_match(migrated, round_id) > 0
    finally:
        await migrated.close()

    moved = await start_services(make_settings(database_url, timezone="America/New_York"))
    try:
        assert await assert_tallies_match(moved, round_id) > 0
    finally:
        await moved.close()


async def test_recount_from_the_command_line(database_url: str) -> None:
    settings = make_settings(database_url)
    services = await start_services(settings)
    try:
        round_id = await some_answers(services)
        async with services.db.unit_of_work() as uow:
            await uow.tallies.recount(settings.tz)  # the same recount, run twice, stays exact
        assert "recounted in Europe/Warsaw" in ok(auditbot(settings, "db", "recount"))
        assert await assert_tallies_match(services, round_id) > 0
    finally:
        await services.close()


async def test_a_response_reopened_and_completed_again_is_counted_once(services: Services) -> None:
    await complete(Person(services, "gosia"), "pl", ["no"], "Nie wiedziałam")
    async with services.db.unit_of_work() as uow:
        [response] = await uow.responses.of_respondent(
            services.pseudonyms.of("test", "gosia"), since=utcnow() - timedelta(days=1)
        )
        await uow.responses.update(response.id, status="in_progress")
    assert await assert_tallies_match(services) == 0
    async with services.db.unit_of_work() as uow:
        await uow.responses.update(response.id, status="completed")
    assert await assert_tallies_match(services) == 1
