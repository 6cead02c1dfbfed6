"""Nominations: anyone proposes a practice for an edition; staff accept, reject or merge.

Accepting adds the practice to the catalog and to the edition's list; the proposer is told
each outcome in their language through the outbox, and their chat is forgotten as soon as that
message is queued. Proposals are limited per person (a keyed pseudonym of its own kind).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from app.editions import JURY, NOMINATIONS, PHASES, EditionError, existing, phase_at
from conversations.messages import Local, Msg, _
from conversations.nomination import (
    RUNNERS,
    Proposal,
    description_problem,
    link_problem,
    name_problem,
    since_problem,
)
from storage.models import Edition, Nomination, Practice
from storage.uow import UnitOfWork

PER_DAY = 3  # proposals one person may make in 24 hours
PENDING, ACCEPTED, REJECTED, MERGED = "pending", "accepted", "rejected", "merged"
NOMINATED = "nominated"
ACTIONS = {ACCEPTED: "nomination.accept", REJECTED: "nomination.reject", MERGED: "nomination.merge"}
CATALOG_END = 100_000  # accepted practices come after the loaded catalog


class NominationError(ValueError):
    """A proposal or a decision that cannot be made; `message` is what people read (in their
    language in the bot; str() is the English of the command line)."""

    def __init__(self, message: Msg) -> None:
        self.message = message
        super().__init__(english(message))


def english(message: Msg) -> str:
    """A message in English without the catalogs (msgids are English)."""

    def plain(value: object) -> str:
        if isinstance(value, Local):
            return value.texts.get("en") or next(iter(value.texts.values()), "")
        return str(value)

    return message.msgid.format(**{name: plain(v) for name, v in message.params.items()})


async def taking_nominations(uow: UnitOfWork, now: datetime) -> bool:
    """Whether an edition takes proposals now."""
    return any(phase_at(e, now) == NOMINATIONS for e in await uow.editions.listing())


async def edition_taking_nominations(uow: UnitOfWork, now: datetime) -> Edition:
    """The edition whose nominations are open now, or NominationError."""
    for edition in await uow.editions.listing():
        if phase_at(edition, now) == NOMINATIONS:
            return edition
    raise NominationError(
        _(
            "Proposals are not being collected right now. Please try again when the next edition opens."
        )
    )


async def propose(
    uow: UnitOfWork,
    proposal: Proposal,
    *,
    source: str,
    proposer: str | None,
    chat_id: int | None,
    now: datetime,
) -> Nomination:
    """Record a proposal for the edition taking nominations; checked, limited, logged."""
    edition = await edition_taking_nominations(uow, now)
    await _check(uow, proposal, now)
    if proposer is not None:
        await within_limit(uow, proposer, now)
    nomination = await uow.nominations.add(
        Nomination(
            edition_year=edition.year,
            city_id=proposal.city_id,
            category_id=proposal.category_id,
            name=proposal.name.strip(),
            description=proposal.description.strip(),
            runner=proposal.runner,
            since=proposal.since,
            link=proposal.link.strip(),
            locale=proposal.locale,
            source=source,
            proposer=proposer,
            chat_id=chat_id,
            status=PENDING,
            created_at=now,
        )
    )
    await uow.audit_log.add(
        source, "nomination.propose", f"nomination:{nomination.id}", edition=edition.year
    )
    return nomination


async def within_limit(uow: UnitOfWork, proposer: str, now: datetime) -> None:
    """NominationError when a person has made as many proposals as a day allows."""
    if await uow.nominations.count_since(proposer, now - timedelta(days=1)) >= PER_DAY:
        raise NominationError(
            _(
                "Thank you! You have sent {count} proposals today; please send more tomorrow.",
                count=str(PER_DAY),
            )
        )


async def _check(uow: UnitOfWork, proposal: Proposal, now: datetime) -> None:
    """NominationError for the first field that cannot be used."""
    if await uow.catalog.city(proposal.city_id) is None:
        raise NominationError(_("Unknown city: {city}", city=proposal.city_id))
    if proposal.category_id not in {c.id for c in await uow.catalog.categories()}:
        raise NominationError(
            _("Unknown kind of practice: {category}", category=proposal.category_id)
        )
    if proposal.runner not in RUNNERS:
        raise NominationError(_("Who runs it: choose city, ngo, community or other."))
    for problem in (
        name_problem(proposal.name),
        description_problem(proposal.description),
        since_problem(str(proposal.since), now.date()),
        link_problem(proposal.link),
    ):
        if problem is not None:
            raise NominationError(problem)


async def listing(uow: UnitOfWork, year: int, status: str | None = None) -> Sequence[Nomination]:
    """An edition's proposals, oldest first."""
    await existing(uow, year)
    return await uow.nominations.of_edition(year, status)


async def pending(uow: UnitOfWork, nomination_id: int) -> tuple[Nomination, Edition]:
    """A proposal waiting for a decision, in an edition that is still before its jury."""
    nomination = await uow.nominations.get(nomination_id, lock=True)
    if nomination is None:
        raise EditionError(f"there is no nomination {nomination_id}")
    if nomination.status != PENDING:
        raise EditionError(f"nomination {nomination_id} is {nomination.status} already")
    edition = await existing(uow, nomination.edition_year)
    if PHASES.index(edition.status) >= PHASES.index(JURY):
        raise EditionError(
            f"the {edition.year} edition is in its {edition.status} phase; "
            "nominations are decided before the jury"
        )
    return nomination, edition


async def accept(uow: UnitOfWork, actor: str, nomination_id: int, now: datetime) -> Nomination:
    """Add the proposed practice to the catalog, nominated for the edition; logged, told."""
    nomination, edition = await pending(uow, nomination_id)
    practice_id = f"{nomination.city_id}-nominated-{nomination.id}"
    await uow.catalog.upsert(
        Practice,
        practice_id,
        {
            "city_id": nomination.city_id,
            "category_id": nomination.category_id,
            "name": {nomination.locale: nomination.name},
            "description": {nomination.locale: nomination.description},
            "active": True,
            "source": nomination.link,
            "position": CATALOG_END + nomination.id,
        },
    )
    await uow.nominations.add_practice(edition.year, practice_id, NOMINATED)
    nomination.practice_id = practice_id
    await _decide(uow, actor, nomination, ACCEPTED, now, practice=practice_id)
    return nomination


async def reject(
    uow: UnitOfWork, actor: str, nomination_id: int, reason: str, now: datetime
) -> Nomination:
    """Turn a proposal down with a reason the proposer reads; logged, told."""
    if not reason.strip():
        raise EditionError("--reason: say why, in a sentence the proposer will read")
    nomination, _edition = await pending(uow, nomination_id)
    nomination.reason = reason.strip()
    await _decide(uow, actor, nomination, REJECTED, now, reason=nomination.reason)
    return nomination


async def merge(
    uow: UnitOfWork, actor: str, nomination_id: int, into: int, now: datetime
) -> Nomination:
    """Fold a duplicate into another proposal of the same edition; logged, told."""
    nomination, _edition = await pending(uow, nomination_id)
    target = await uow.nominations.get(into)
    if target is None or into == nomination_id or target.edition_year != nomination.edition_year:
        raise EditionError(f"--into: {into} is not another nomination of the same edition")
    if target.status in (REJECTED, MERGED):
        raise EditionError(f"--into: nomination {into} is {target.status}")
    nomination.merged_into = into
    await _decide(uow, actor, nomination, MERGED, now, into=into)
    return nomination


async def _decide(
    uow: UnitOfWork,
    actor: str,
    nomination: Nomination,
    outcome: str,
    now: datetime,
    **details: object,
) -> None:
    """Record a decision, queue the message to the proposer and forget their chat."""
    nomination.status, nomination.decided_by, nomination.decided_at = outcome, actor, now
    if nomination.chat_id is not None:
        await uow.outbox.enqueue(
            "nomination",
            f"nomination:{nomination.id}",
            nomination.chat_id,
            nomination.locale,
            None,
            {
                "outcome": outcome,
                "name": nomination.name,
                "year": nomination.edition_year,
                "reason": nomination.reason or "",
            },
        )
        nomination.chat_id = None
    await uow.audit_log.add(actor, ACTIONS[outcome], f"nomination:{nomination.id}", **details)
