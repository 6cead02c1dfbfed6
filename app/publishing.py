"""Publishing results: staff make a closed round's final figures or a year's public, and a
city may answer a practice's published results (its right of reply), shown once staff approve.

Publishing is a decision, not a copy: the public pages always read their figures through
`audit.summary.published_report` (the disclosure rule, frozen finals for a closed round), so a
published page can never show more than any other output. Every step is in the audit log.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from app.editions import EditionError, check_year
from conversations.engine import LANGUAGE_NAMES
from conversations.messages import Msg, _
from storage.models import PracticeReply
from storage.publishing import APPROVED, PROPOSED, REJECTED
from storage.uow import UnitOfWork

ROUND, YEAR = "round", "year"
REPLY_LIMIT = 1000  # characters: a short statement, not an article


class PublishError(ValueError):
    """Something cannot be published or decided as asked; `message` says why, untranslated."""

    def __init__(self, message: Msg) -> None:
        super().__init__(message.msgid.format(**message.params))
        self.message = message


async def publish_round(uow: UnitOfWork, actor: str, round_id: int, now: datetime) -> bool:
    """Make a closed round's final figures public (logged); False when they were already."""
    round_ = await uow.rounds.get(round_id)
    if round_ is None:
        raise PublishError(_("There is no round {round}.", round=round_id))
    if round_.status != "closed":
        raise PublishError(
            _("Round {round} is not closed yet: only final figures are published.", round=round_id)
        )
    added = await uow.publications.add(ROUND, str(round_id), actor, now)
    if added:
        await uow.audit_log.add(actor, "results.publish", f"round:{round_id}")
    return added


async def publish_year(uow: UnitOfWork, actor: str, year: int, now: datetime) -> bool:
    """Make a year's results (its edition) public (logged); False when they were already."""
    try:
        check_year(year)
    except EditionError:
        raise PublishError(_("{year} is not a year the audit can have.", year=year)) from None
    if year > now.year:
        raise PublishError(_("The year {year} has not begun.", year=year))
    added = await uow.publications.add(YEAR, str(year), actor, now)
    if added:
        await uow.audit_log.add(actor, "results.publish", f"year:{year}")
    return added


async def published_years(uow: UnitOfWork) -> list[int]:
    """The published years, newest first."""
    return sorted((int(key) for key in await uow.publications.keys(YEAR)), reverse=True)


async def published_rounds(uow: UnitOfWork) -> list[int]:
    """The published rounds, newest first."""
    return sorted((int(key) for key in await uow.publications.keys(ROUND)), reverse=True)


async def is_published(uow: UnitOfWork, kind: str, key: int) -> bool:
    """Whether a round or a year is public."""
    return await uow.publications.get(kind, str(key)) is not None


async def propose_reply(
    uow: UnitOfWork,
    actor: str,
    cities: Sequence[str] | None,
    practice_id: str,
    year: int,
    locale: str,
    text: str,
    now: datetime,
) -> PracticeReply:
    """A coordinator's public response to a practice's published results of a year, in one
    language, waiting for staff (logged). `cities`: the cities the actor may speak for (None:
    all)."""
    text = text.strip()
    practice = await uow.catalog.practice(practice_id)
    if practice is None or (cities is not None and practice.city_id not in cities):
        raise PublishError(_("There is no such practice in your cities."))
    if not await is_published(uow, YEAR, year):
        raise PublishError(_("The results of {year} are not published yet.", year=year))
    if locale not in LANGUAGE_NAMES:
        raise PublishError(_("Choose one of the four languages."))
    if not text:
        raise PublishError(_("Write the response first."))
    if len(text) > REPLY_LIMIT:
        raise PublishError(
            _("The response is too long: at most {limit} characters.", limit=REPLY_LIMIT)
        )
    reply = await uow.replies.add(practice_id, year, locale, text, actor, now)
    await uow.audit_log.add(actor, "reply.propose", f"reply:{reply.id}", practice=practice_id)
    return reply


async def decide_reply(
    uow: UnitOfWork, actor: str, reply_id: int, approve: bool, now: datetime
) -> PracticeReply:
    """Staff approve or reject a proposed reply (logged); a decided one stays decided."""
    reply = await uow.replies.get(reply_id, lock=True)
    if reply is None or reply.status != PROPOSED:
        raise PublishError(_("There is no reply {reply} waiting for a decision.", reply=reply_id))
    reply.status = APPROVED if approve else REJECTED
    reply.decided_by, reply.decided_at = actor, now
    action = "reply.approve" if approve else "reply.reject"
    await uow.audit_log.add(actor, action, f"reply:{reply_id}")
    return reply


async def approved_replies(
    uow: UnitOfWork, year: int, practice_ids: Sequence[str] | None = None
) -> dict[str, dict[str, str]]:
    """Per practice, per language: the approved reply of a year's results (the newest one), for
    the public pages and the edition report. Rejected and undecided replies are never here."""
    replies: dict[str, dict[str, str]] = {}
    for reply in await uow.replies.approved(year, practice_ids):
        replies.setdefault(reply.practice_id, {})[reply.locale] = reply.text
    return replies


async def waiting_replies(uow: UnitOfWork) -> list[PracticeReply]:
    """Replies waiting for staff, oldest first."""
    return await uow.replies.listing(PROPOSED)
