"""SQLite's batched hot path writes exactly what the general path writes, once per update."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.respond import Identity, Reply, respond
from app.services import Services
from bot.startup import start_services
from conversations import events as ev
from storage.models import Answer, ProcessedUpdate, Progress, Response
from tests.conftest import make_settings
from tests.test_flow import PRACTICE, Person

SCRIPT = (
    "yes",
    "once",
    "4",
    ev.BACK,
    "5",
    "dont_know",
    ev.SKIP,
    ev.BACK,
    "3",
    "2",
    "work",
    "language",
    "work",
    ev.DONE,
    ev.PAUSE,
)


@pytest.fixture
async def two(tmp_path: Path) -> AsyncIterator[tuple[Services, Services]]:
    """Two fresh SQLite databases: one with the hot path, one with the general path only."""
    fast = await start_services(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'fast.db'}"))
    slow = await start_services(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'slow.db'}"))
    slow.batcher = None
    try:
        yield fast, slow
    finally:
        await fast.close()
        await slow.close()


def shown(reply: Reply) -> Any:
    """What a reply shows, without revision tokens (they start from the clock)."""
    prompts = [(p.lines, p.buttons, p.kind) for p in reply.prompts]
    echo = reply.echo.lines if reply.echo else None
    return reply.locale, prompts, echo, reply.duplicate


async def table(services: Services) -> dict[str, Any]:
    """The rows an answer touches, without ids, clocks and revisions."""
    async with services.db.unit_of_work() as uow:
        progress = [
            (p.stage, p.city_id, p.practice_id, p.round_id, p.page, p.response_id)
            for p in (await uow.session.scalars(select(Progress))).all()
        ]
        responses = [
            (r.status, r.current_question, r.practice_id, r.locale, r.completed_at is None)
            for r in (await uow.session.scalars(select(Response))).all()
        ]
        answers = sorted(
            (
                a.question_id,
                a.value_number,
                a.value_option,
                a.value_options,
                a.value_text,
                a.skipped,
            )
            for a in (await uow.session.scalars(select(Answer))).all()
        )
    return {"progress": progress, "responses": responses, "answers": answers}


async def test_the_hot_path_writes_what_the_general_path_writes(
    two: tuple[Services, Services],
) -> None:
    fast, slow = two
    people = [Person(fast), Person(slow)]
    for person in people:
        await person.into_survey("uk")
    for action in SCRIPT:
        replies = [await person.press(action) for person in people]
        assert shown(replies[0]) == shown(replies[1]), action
        assert await table(fast) == await table(slow), action
    for person in people:  # resume, answer the rest, complete: the general path's events
        await person.do(ev.Resume())
    replies = [await person.do(ev.Text("Дякую")) for person in people]
    assert shown(replies[0]) == shown(replies[1])
    assert await table(fast) == await table(slow)
    assert (await table(fast))["responses"][0][0] == "completed"
    assert fast.batcher.handled >= 10  # the answers and Backs went through the hot path
    assert slow.batcher is None


async def test_answers_that_arrive_together_commit_together_and_once(tmp_path: Path) -> None:
    services = await start_services(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"))
    try:
        people = [Person(services, f"p{n}") for n in range(30)]
        for person in people:
            await person.into_survey("pl")
            await person.press("yes")
            await person.press("several")
        batches = services.batcher.batches
        tokens = [person.token for person in people]

        async def press(n: int, update_id: int) -> Reply:
            identity = Identity(people[n].identity.pseudonym, update_id=update_id)
            return await respond(services, identity, ev.Choose(tokens[n], str(1 + n % 5)))

        first = await asyncio.gather(*(press(n, 1000 + n) for n in range(30)))
        assert services.batcher.batches - batches < 30  # batched: fewer commits than answers
        assert not any(reply.duplicate for reply in first)
        again = await asyncio.gather(*(press(n, 1000 + n) for n in range(30)))  # redelivered
        assert all(reply.duplicate for reply in again)
        async with services.db.unit_of_work() as uow:
            rated = await uow.session.scalars(
                select(Answer.value_number).where(Answer.question_id == "city_role")
            )
            assert sorted(rated.all()) == sorted(1 + n % 5 for n in range(30))
            claimed = await uow.session.scalar(select(func.count(ProcessedUpdate.update_id)))
            assert claimed == 30
    finally:
        await services.close()


async def test_a_stale_button_changes_nothing_on_the_hot_path(tmp_path: Path) -> None:
    services = await start_services(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}"))
    try:
        anna = Person(services)
        await anna.do(ev.Start(payload=f"p_{PRACTICE}"))
        await anna.press("en")
        await anna.press("accept")
        stale = anna.token
        await anna.press("yes")
        handled = services.batcher.handled
        reply = await anna.do(ev.Choose(stale, "no"))  # the old "aware" keyboard, pressed again
        assert services.batcher.handled == handled + 1
        assert reply.prompts and reply.prompts[-1].kind == "question"
        async with services.db.unit_of_work() as uow:
            aware = await uow.session.scalar(
                select(Answer.value_option).where(Answer.question_id == "aware")
            )
        assert aware == "yes"
    finally:
        await services.close()
