"""Retention: unfinished responses, old comments, handled update ids, finished outbox messages,
report records and audit lines go when the settings say; logged by counts only."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.rounds import Retention, apply_retention, close_round
from app.services import Services
from storage.models import Answer, AuditLog, Response, utcnow
from tests.test_audit import A, add_response, make_round, person
from tests.test_staff import open_now, subscribe


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


async def test_update_ids_finished_messages_report_records_and_audit_lines_are_pruned(
    services: Services,
) -> None:
    subscribers = {n: "en" for n in (70_001, 70_002, 70_003)}
    await subscribe(services, subscribers)
    await open_now(services)  # three invitations queued
    async with services.db.unit_of_work() as uow:
        await uow.updates.claim(123_456)
        await uow.reports.add("final:round:1", "round", "1", "en", "pdf", "r.pdf")
        first, second, third = await uow.outbox.due(utcnow(), 10)
        for message in (first, second):
            await uow.outbox.claim(message.id, utcnow(), "test")
            await uow.outbox.finish(message.id, "sent", sent_at=utcnow())
        round_id = first.round_id
        assert round_id is not None
    invited = await _invited(services, round_id)
    assert invited == 2

    kept = await apply_retention(services, utcnow() + timedelta(days=6))
    assert (kept.updates_pruned, kept.outbox_pruned, kept.reports_pruned) == (0, 0, 0)
    later = await apply_retention(services, utcnow() + timedelta(days=31))
    assert (later.updates_pruned, later.outbox_pruned, later.reports_pruned) == (1, 2, 0)
    async with services.db.unit_of_work() as uow:
        assert [m.id for m in await uow.outbox.due(utcnow(), 10)] == [third.id]  # still to send
    assert await _invited(services, round_id) == invited  # the count survives the pruning
    much_later = await apply_retention(services, utcnow() + timedelta(days=731))
    assert much_later.reports_pruned == 1 and much_later.audit_log_pruned >= 2
    async with services.db.unit_of_work() as uow:
        lines = (await uow.session.scalars(select(AuditLog))).all()
    # What is left is the last pass's own line: counts, nothing about anyone.
    assert [line.action for line in lines] == ["retention"]
    assert set(lines[0].details) == set(Retention.__dataclass_fields__)


async def _invited(services: Services, round_id: int) -> int:
    async with services.db.reading() as uow:
        return (await uow.audit.invitations_sent([round_id])).get(round_id, 0)
