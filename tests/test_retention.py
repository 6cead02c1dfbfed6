"""Retention: unfinished responses and old comments go when the settings say; logged."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.rounds import apply_retention, close_round
from bot.services import Services
from storage.models import Answer, AuditLog, Response, utcnow
from tests.test_audit import A, add_response, make_round, person


async def test_unfinished_responses_go_90_days_after_their_round_closed(
    services: Services,
) -> None:
    round_id = await make_round(services, 20)
    await add_response(services, "done", A, round_id, person("yes", "once", (4, 4, 4, 4)))
    await add_response(services, "half", A, round_id, {"aware": "yes"}, status="in_progress")
    await add_response(services, "always-on", A, None, {"aware": "no"}, status="in_progress")
    async with services.db.unit_of_work() as uow:
        round_ = await uow.rounds.get(round_id)
        assert round_ is not None
        await close_round(uow, round_, "test", utcnow() - timedelta(days=1), 5)

    soon = await apply_retention(services, utcnow() + timedelta(days=70))  # closed 10 days ago
    assert soon.unfinished_deleted == 0
    later = await apply_retention(services, utcnow() + timedelta(days=95))
    assert later.unfinished_deleted == 2  # the round's half response and the idle always-on one
    async with services.db.unit_of_work() as uow:
        statuses = (await uow.session.scalars(select(Response.status))).all()
        log = (
            await uow.session.scalars(select(AuditLog).where(AuditLog.action == "retention"))
        ).all()
    assert statuses == ["completed"]
    assert log[0].details["unfinished_deleted"] == 2


async def test_comments_are_blanked_after_their_retention(services: Services) -> None:
    round_id = await make_round(services, 5)
    await add_response(
        services,
        "writer",
        A,
        round_id,
        person("yes", "once", (4, 4, 4, 4), "Please open on Saturdays"),
    )
    kept = await apply_retention(services, utcnow() + timedelta(days=700))
    assert kept.comments_erased == 0
    erased = await apply_retention(services, utcnow() + timedelta(days=731))
    assert erased.comments_erased == 1
    async with services.db.unit_of_work() as uow:
        answers = {a.question_id: a for a in (await uow.session.scalars(select(Answer))).all()}
    assert answers["comment"].value_text is None
    assert answers["city_role"].value_number == 4  # the ratings stay
