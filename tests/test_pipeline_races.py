"""Writes that lose to another process's are retried, not failed (app/pipeline.py): what counts
as a lost race, on real databases, and two workers taking the first events of one new person
at the same moment; and the tallies, which two workers' batches share, counted without a
deadlock."""

from __future__ import annotations

import asyncio
from contextlib import nullcontext
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select, text

from app.pipeline import ATTEMPTS, Pipeline
from storage.db import Database, is_outage, lost_a_race
from storage.models import ResponseTally
from storage.tallies import TallyCounter, counted_at_the_end
from tests.fakebotapi import FakeBotApi
from tests.test_web import Worker, message_update, worker_settings
from tests.test_web import api as api  # a fixture

CLAIM = text(
    "INSERT INTO processed_updates (update_id, processed_at) VALUES (:n, CURRENT_TIMESTAMP)"
)


async def test_a_lost_race_is_told_from_a_bug(database_url: str) -> None:
    database = Database(database_url)
    await database.upgrade()
    try:

        def claim_twice(connection: Any) -> None:
            connection.execute(CLAIM, {"n": 1})
            connection.execute(CLAIM, {"n": 1})

        with pytest.raises(Exception) as taken:
            await database.write(claim_twice)
        assert lost_a_race(taken.value)  # a unique key another write took: do it again
        with pytest.raises(Exception) as bug:
            await database.write(
                lambda connection: connection.execute(text("SELECT x FROM nowhere"))
            )
        assert not lost_a_race(bug.value) and not is_outage(bug.value)
        if not database.is_sqlite:  # SQLite has one writer: it cannot deadlock
            assert lost_a_race(await a_deadlock(database))
    finally:
        await database.dispose()


async def a_deadlock(database: Database) -> BaseException:
    """Two transactions that lock two rows in opposite orders: PostgreSQL ends one of them."""
    await database.write(lambda connection: [connection.execute(CLAIM, {"n": n}) for n in (7, 8)])
    lock = text("SELECT update_id FROM processed_updates WHERE update_id = :n FOR UPDATE")
    async with database.engine.connect() as one, database.engine.connect() as two:
        await one.begin()
        await two.begin()
        await one.execute(lock, {"n": 7})
        await two.execute(lock, {"n": 8})
        outcomes = await asyncio.gather(
            one.execute(lock, {"n": 8}), two.execute(lock, {"n": 7}), return_exceptions=True
        )
    errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert len(errors) == 1, outcomes
    return errors[0]


async def test_first_events_of_one_new_person_on_two_workers_at_once_are_both_answered(
    database_url: str, api: FakeBotApi
) -> None:
    """Both workers find no row for the person and both insert one; the loser's event is
    retried in its next batch and finds the row. Nothing is lost, nothing doubled."""
    settings = worker_settings(database_url, api)
    async with Worker(settings) as first, Worker(settings) as second:
        for person in range(6):
            chat = 950 + person
            one, two = (message_update(400 + 2 * person + n, chat, "/start") for n in (0, 1))
            assert await asyncio.gather(first.deliver(one), second.deliver(two)) == [200, 200]
            assert len(api.messages(chat)) == 2
        async with first.services.db.reading() as uow:
            updates = await uow.session.scalar(text("SELECT count(*) FROM processed_updates"))
            people = await uow.session.scalar(text("SELECT count(*) FROM respondents"))
        assert (updates, people) == (12, 6)


def started(practice_id: str) -> SimpleNamespace:
    """A response of a practice as the tallies see it when it starts."""
    moment = datetime(2026, 5, 4, 12, tzinfo=UTC)
    return SimpleNamespace(
        id=1, practice_id=practice_id, round_id=None, started_at=moment, locale="uk",
        status="in_progress", channel="telegram",
    )  # fmt: skip


def count_starts(connection: Any, practices: tuple[str, ...]) -> None:
    for practice_id in practices:
        TallyCounter(connection).response_added(started(practice_id))  # type: ignore[arg-type]


def one_batch(connection: Any, order: tuple[str, ...]) -> None:
    with counted_at_the_end(connection):
        count_starts(connection, order)


async def two_batches_in_opposite_orders(database: Database, *, at_the_end: bool) -> list[Any]:
    """Two processes' batches start responses of practices a and b in opposite orders, their
    transactions interleaved as two busy workers' are: each counts its first start before the
    other counts its second. Counted at once, each then waits for the row the other holds."""
    scope = counted_at_the_end if at_the_end else nullcontext

    async def batch(
        connection: Any, order: tuple[str, ...], mine: asyncio.Event, theirs: asyncio.Event
    ) -> None:
        counting = scope(connection.sync_connection)
        await connection.run_sync(
            lambda sync: (counting.__enter__(), count_starts(sync, order[:1]))
        )
        mine.set()
        await theirs.wait()
        await connection.run_sync(lambda sync: count_starts(sync, order[1:]))
        await connection.run_sync(lambda sync: counting.__exit__(None, None, None))
        await connection.commit()

    async with database.engine.connect() as one, database.engine.connect() as two:
        first, second = asyncio.Event(), asyncio.Event()
        return await asyncio.gather(
            batch(one, ("a", "b"), first, second),
            batch(two, ("b", "a"), second, first),
            return_exceptions=True,
        )


async def started_per_practice(database: Database) -> dict[str, int]:
    async with database.engine.connect() as connection:
        rows = await connection.execute(select(ResponseTally.practice_id, ResponseTally.n))
        return {practice_id: n for practice_id, n in rows}


async def test_two_workers_batches_count_the_same_tallies_without_a_deadlock(
    database_url: str,
) -> None:
    """A batch's tallies are written at its end in key order (storage/tallies.py), so two
    workers' batches that start responses of the same practices in opposite orders both
    commit; counted as each event happens, the same two transactions deadlock."""
    database = Database(database_url)
    await database.upgrade()
    try:
        await database.write(lambda connection: TallyCounter(connection).ensure(ZoneInfo("UTC")))
        if database.is_sqlite:  # one writer: batches run one after the other
            for order in (("a", "b"), ("b", "a")):
                await database.write(lambda connection, order=order: one_batch(connection, order))
        else:
            control = await two_batches_in_opposite_orders(database, at_the_end=False)
            assert [lost_a_race(outcome) for outcome in control].count(True) == 1, control
            await database.write(lambda connection: connection.execute(delete(ResponseTally)))
            outcomes = await two_batches_in_opposite_orders(database, at_the_end=True)
            assert outcomes == [None, None]
        assert await started_per_practice(database) == {"a": 2, "b": 2}
    finally:
        await database.dispose()


class Bug(Exception):
    """What a bug in one event raises."""


def counting_pipeline(database: Database, failing: dict[str, Exception | None]) -> Pipeline:
    """A pipeline whose event `name` claims update `int(name)` and counts a start of practice
    `name`, then raises `failing[name]` if given (counted_at_the_end, as the answer pipeline)."""

    async def prepare() -> None:
        return None

    def decide(connection: Any, _: None, name: str) -> str:
        connection.execute(CLAIM, {"n": int(name)})
        count_starts(connection, (name,))
        if (error := failing.get(name)) is not None:
            raise error
        return name

    return Pipeline(prepare, decide, database.write, counted_at_the_end)


async def claimed(database: Database) -> list[int]:
    async with database.engine.connect() as connection:
        rows = await connection.execute(text("SELECT update_id FROM processed_updates"))
        return sorted(n for (n,) in rows)


async def test_an_event_that_fails_takes_nothing_of_the_others_with_it(
    database_url: str,
) -> None:
    """Five events arrive together; the third raises (a bug). Its writes and its counts are
    rolled back, its caller gets its error, and the other four commit together."""
    database = Database(database_url)
    await database.upgrade()
    try:
        await database.write(lambda connection: TallyCounter(connection).ensure(ZoneInfo("UTC")))
        pipeline = counting_pipeline(database, {"3": Bug("in the third event")})
        outcomes = await asyncio.gather(
            *(pipeline.run(str(n)) for n in range(1, 6)), return_exceptions=True
        )
        assert outcomes[:2] + outcomes[3:] == ["1", "2", "4", "5"]
        assert isinstance(outcomes[2], Bug)
        assert await claimed(database) == [1, 2, 4, 5]
        assert await started_per_practice(database) == {"1": 1, "2": 1, "4": 1, "5": 1}
        assert (pipeline.batches, pipeline.events, pipeline.retries) == (1, 4, 0)
    finally:
        await database.dispose()


async def test_an_event_that_keeps_losing_a_race_is_retried_then_failed_alone(
    database_url: str,
) -> None:
    """An event whose write takes a unique key that is taken (as when another worker wrote it
    first) goes in the next batch, up to ATTEMPTS times; the events beside it commit at once."""
    database = Database(database_url)
    await database.upgrade()
    try:
        await database.write(lambda connection: TallyCounter(connection).ensure(ZoneInfo("UTC")))
        await database.write(lambda connection: connection.execute(CLAIM, {"n": 7}))
        pipeline = counting_pipeline(database, {})
        outcomes = await asyncio.gather(
            *(pipeline.run(name) for name in ("6", "7", "8")), return_exceptions=True
        )
        assert outcomes[0] == "6" and outcomes[2] == "8"
        assert lost_a_race(outcomes[1])  # update 7 was claimed before: a unique key taken
        assert await claimed(database) == [6, 7, 8]
        assert await started_per_practice(database) == {"6": 1, "8": 1}
        assert pipeline.retries == ATTEMPTS - 1
        assert (pipeline.batches, pipeline.events) == (1, 2)
    finally:
        await database.dispose()
