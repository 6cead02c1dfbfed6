"""Writes that lose to another process's are retried, not failed (app/pipeline.py): what counts
as a lost race, on real databases, and two workers taking the first events of one new person
at the same moment."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text

from storage.db import Database, is_outage, lost_a_race
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
