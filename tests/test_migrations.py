"""Every migration goes down and up again with data present, on SQLite and PostgreSQL, and
`auditbot db downgrade REV` does it from the command line."""

from __future__ import annotations

from datetime import datetime, timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from app.services import Services
from bot.cli import _revisions
from bot.startup import start_services
from storage.models import Base, utcnow
from tests.conftest import make_settings
from tests.test_audit import A, add_response, make_round, person
from tests.test_cli import auditbot
from tests.test_staff import open_now, subscribe


async def fill(services: Services) -> None:
    """A little of everything: a round with invitations sent, completed and unfinished
    responses, staff, the audit log, a compiled report, a sign-in link."""
    await subscribe(services, {901: "en", 902: "pl"}, city="lublin")
    await open_now(services, city="lublin")
    round_id = await make_round(services, 3)
    for n in range(3):
        await add_response(
            services, f"m{n}", A, round_id, person("yes", "once", (4, 4, 5, 3), "ok")
        )
    await add_response(services, "half", A, round_id, {"aware": "yes"}, status="in_progress")
    async with services.db.unit_of_work() as uow:
        await uow.staff.put(77, "coordinator", ["krakow"])
        await uow.reports.add("test:r", "round", "r", "pl", "pdf", "r.pdf")
        await uow.web.add_token("f" * 64, 77, _soon())
        [message, *_] = await uow.outbox.due(_soon(), 10)
        await uow.outbox.claim(message.id, _soon(), "sender")
        await uow.outbox.finish(message.id, "sent")


def _soon() -> datetime:
    return utcnow() + timedelta(minutes=5)


async def counts(services: Services) -> dict[str, int]:
    """Rows per table (tables that exist)."""
    async with services.db.engine.connect() as connection:
        tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
        return {
            table: int(
                (await connection.execute(text(f'SELECT count(*) FROM "{table}"'))).scalar() or 0
            )
            for table in sorted(tables)
            if table != "alembic_version"
        }


async def test_every_migration_goes_down_and_up_again_with_data(database_url: str) -> None:
    services = await start_services(make_settings(database_url))
    try:
        await fill(services)
        full = await counts(services)
        revisions = _revisions()
        assert revisions[-1] == await services.db.revision()
        for target in reversed(revisions[:-1]):
            await services.db.downgrade(target)
            assert await services.db.revision() == target
            kept = await counts(services)
            await services.db.upgrade()
            again = await counts(services)
            for table, rows in kept.items():
                assert again[table] == rows, (target, table)  # nothing lost on the way up
            assert {t: again[t] for t in full if t not in kept} == dict.fromkeys(
                [t for t in full if t not in kept], 0
            )
        for table in ("rounds", "responses", "answers", "subscriptions", "respondents"):
            assert again[table] == full[table], table  # tables of 0001 kept their rows
        async with services.db.engine.connect() as connection:
            diff = await connection.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
            )
        assert diff == []
        async with services.db.unit_of_work() as uow:  # a round from before 0002 is usable
            rounds = await uow.rounds.listing()
        assert {r.remind_days for r in rounds} == {3}
    finally:
        await services.close()


async def test_db_downgrade_from_the_command_line(database_url: str) -> None:
    settings = make_settings(database_url)
    services = await start_services(settings)
    try:
        await fill(services)
        before = await counts(services)
    finally:
        await services.close()
    asked = auditbot(settings, "db", "downgrade", "0001")
    assert asked.returncode == 1 and "take a backup first" in asked.stdout  # no: aborted
    wrong = auditbot(settings, "db", "downgrade", "0099", "--yes")
    assert wrong.returncode == 2
    assert wrong.stderr.strip() == (
        f"unknown revision '0099'; use one of {', '.join(_revisions())} or base"
    )
    down = auditbot(settings, "db", "downgrade", "0001", "--yes")
    assert down.returncode == 0, down.stderr
    assert down.stdout.strip().endswith("database is at revision 0001")
    up = auditbot(settings, "db", "upgrade")
    assert up.returncode == 0, up.stderr
    services = await start_services(settings)
    try:
        after = await counts(services)
    finally:
        await services.close()
    assert after["responses"] == before["responses"] and after["rounds"] == before["rounds"]
    assert after["outbox"] == 0  # added by 0002: its rows went with it
