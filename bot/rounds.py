"""Round lifecycle: create, open (invite subscribers), remind, close — from any entry point.

Every step is idempotent and keyed on the database (round status, outbox dedupe keys), so the
scheduler can re-derive everything from the tables after a restart, and a step that runs twice
(two processes, a retried job) changes nothing the second time.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from audit.summary import freeze_round
from bot.services import Pseudonymizer, Services
from bot.staff import day_start
from conversations.messages import Local, Msg, Plain, _
from conversations.notices import last_moment
from storage.models import Round, utcnow
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)


class RoundError(ValueError):
    """A round cannot be created or changed as asked; `message` is what staff read (in their
    language in the bot; str() is the English of the command line)."""

    def __init__(self, message: str | Msg) -> None:
        self.message: Msg | Plain = message if isinstance(message, Msg) else Plain(message)
        super().__init__(message if isinstance(message, str) else _english(message))


def _english(message: Msg) -> str:
    """A message in English without the catalogs (msgids are English): dates as ISO dates."""

    def plain(value: object) -> str:
        if isinstance(value, Local):
            return value.texts.get("en") or next(iter(value.texts.values()), "")
        return value.isoformat() if isinstance(value, date) else str(value)

    return message.msgid.format(**{name: plain(v) for name, v in message.params.items()})


@dataclass(frozen=True)
class Reconciled:
    """What one pass of the scheduler did."""

    opened: tuple[int, ...] = ()
    reminded: tuple[int, ...] = ()
    closed: tuple[int, ...] = ()
    asked_reminders: int = 0


async def create_round(
    uow: UnitOfWork,
    actor: str,
    city_id: str,
    practice_ids: Sequence[str],
    survey_id: int,
    opens_at: datetime,
    closes_at: datetime,
    *,
    remind_days: int = 3,
    remind_non_starters: bool = False,
    zone: tzinfo = UTC,
) -> Round:
    """Plan a round after checking its city, practices, survey and dates (no other open or
    planned round of the city at the same time: answers would go to only one); logged."""
    city = await uow.catalog.city(city_id, lock=True)
    if city is None:
        raise RoundError(f"unknown city '{city_id}'")
    active = {p.id for p in await uow.catalog.practices(active_only=True) if p.city_id == city_id}
    chosen = list(dict.fromkeys(practice_ids)) or sorted(active)
    unknown = [p for p in chosen if p not in active]
    if unknown or not chosen:
        raise RoundError(f"not active practices of {city_id}: {', '.join(unknown) or 'none'}")
    if await uow.surveys.get(survey_id) is None:
        raise RoundError(f"unknown survey version {survey_id}")
    if closes_at <= opens_at:
        raise RoundError("the round must close after it opens")
    await _refuse_overlap(uow, city_id, city.name, opens_at, closes_at, zone)
    round_ = await uow.rounds.add(
        city_id,
        survey_id,
        chosen,
        opens_at,
        closes_at,
        remind_days=remind_days,
        remind_non_starters=remind_non_starters,
        created_by=actor,
    )
    await uow.audit_log.add(
        actor,
        "round.create",
        f"round:{round_.id}",
        city=city_id,
        practices=chosen,
        survey_id=survey_id,
        opens_at=opens_at.isoformat(),
        closes_at=closes_at.isoformat(),
    )
    return round_


async def _refuse_overlap(
    uow: UnitOfWork,
    city_id: str,
    city_name: Mapping[str, str],
    opens_at: datetime,
    closes_at: datetime,
    zone: tzinfo,
) -> None:
    """RoundError when an open or planned round of the city overlaps the new one's window."""
    other = await uow.rounds.overlapping(city_id, opens_at, closes_at)
    if other is None:
        return
    raise RoundError(
        _(
            "{city} already has round {id} ({opens} – {closes}). Rounds of one city must not "
            "overlap: let the new round open after {closes}, or close round {id} first.",
            city=Local(city_name),
            id=str(other.id),
            opens=other.opens_at.astimezone(zone).date(),
            closes=last_moment(other.closes_at).astimezone(zone).date(),
        )
    )


async def open_round(
    uow: UnitOfWork, services: Services, round_: Round, actor: str, now: datetime
) -> int:
    """Open a round and queue one invitation per reachable subscriber; returns how many."""
    round_.status, round_.opened_at = "open", now
    if round_.opens_at > now:
        round_.opens_at = now
    invited = 0
    for chat_id, locale in await uow.subscriptions.reachable_in(round_.city_id):
        key = services.pseudonyms.chat_key("invite", round_.id, chat_id)
        invited += await uow.outbox.enqueue("invitation", key, chat_id, locale, round_.id)
    await uow.audit_log.add(actor, "round.open", f"round:{round_.id}", invited=invited)
    log.info("round %s opened; %d invitations queued", round_.id, invited)
    return invited


async def close_round(
    uow: UnitOfWork,
    round_: Round,
    actor: str,
    now: datetime,
    k: int,
    pseudonyms: Pseudonymizer | None = None,
) -> None:
    """Close a round; responses after this count for no round, the reminders asked for it
    are forgotten, and its figures are frozen (every later report of it shows them); with the
    pseudonyms (the bot's callers), the results people asked for are queued."""
    round_.status, round_.closed_at = "closed", now
    if round_.closes_at > now:
        round_.closes_at = now
    await uow.session.flush()
    await freeze_round(uow, round_.id, k, now)
    await uow.reminders.forget_round(round_.id)
    results = await queue_results(uow, round_, pseudonyms) if pseudonyms is not None else 0
    await uow.audit_log.add(actor, "round.close", f"round:{round_.id}", results=results)
    log.info("round %s closed; %d results messages queued", round_.id, results)


async def queue_results(uow: UnitOfWork, round_: Round, pseudonyms: Pseudonymizer) -> int:
    """Once a round's figures are final: queue one message to each person who asked for a
    practice's results (its content is looked up when sent), then forget the requests."""
    queued = 0
    for request in await uow.results_requests.of_round(round_.id):
        # a keyed hash of chat and practice: no raw id in the key, one message per practice
        chat = pseudonyms.of("chat", f"{request.chat_id}:{request.practice_id}")
        key = f"results:{round_.id}:{chat}"
        queued += await uow.outbox.enqueue(
            "results",
            key,
            request.chat_id,
            request.locale,
            round_.id,
            {"practice_id": request.practice_id},
        )
    await uow.results_requests.forget_round(round_.id)
    return queued


async def remind(uow: UnitOfWork, services: Services, round_: Round, now: datetime) -> int:
    """Queue one reminder per subscriber who started and did not finish (and, if the round
    asks for it, per subscriber who never started). Never more than one per person."""
    statuses = await _subscriber_statuses(uow, services, round_)
    queued = 0
    for chat_id, locale, status in statuses:
        if status == "completed" or (status is None and not round_.remind_non_starters):
            continue
        key = services.pseudonyms.chat_key("remind", round_.id, chat_id)
        queued += await uow.outbox.enqueue("reminder", key, chat_id, locale, round_.id)
    round_.reminded_at = now
    await uow.audit_log.add("scheduler", "round.remind", f"round:{round_.id}", queued=queued)
    return queued


def reminder_due(round_: Round, asked_on: date, zone: tzinfo) -> datetime:
    """When the reminder asked for on a day goes out: with the round's own reminders
    (`remind_days` before it closes, or one day when the round reminds nobody), and never on the
    day it was asked."""
    before = timedelta(days=round_.remind_days or 1)
    return max(round_.closes_at - before, day_start(asked_on + timedelta(days=1), zone))


REMINDER_LEAD = timedelta(hours=12)  # a reminder is worth sending with this much time left


def reminder_possible(round_: Round, now: datetime, zone: tzinfo) -> bool:
    """Whether a reminder asked for now would still come at least REMINDER_LEAD before the
    round closes."""
    due = reminder_due(round_, now.astimezone(zone).date(), zone)
    return due <= round_.closes_at - REMINDER_LEAD


async def send_asked_reminders(uow: UnitOfWork, services: Services, now: datetime) -> int:
    """Queue the reminders people asked for that are due, to those who have not finished
    (their pseudonym is recomputed from the chat, as for subscribers); each request is then
    forgotten. Returns how many were queued."""
    queued = 0
    zone = services.settings.tz
    for request, round_ in await uow.reminders.of_open_rounds():
        if reminder_due(round_, request.asked_on, zone) > now:
            continue
        pseudonym = services.pseudonyms.of("tg", request.chat_id)
        statuses = await uow.responses.statuses_in_round(round_.id, [pseudonym])
        if statuses.get(pseudonym) == "in_progress":
            key = services.pseudonyms.chat_key("remind", round_.id, request.chat_id)
            queued += await uow.outbox.enqueue(
                "reminder", key, request.chat_id, request.locale, round_.id
            )
        await uow.reminders.remove(round_.id, request.chat_id)
    return queued


async def _subscriber_statuses(
    uow: UnitOfWork, services: Services, round_: Round
) -> list[tuple[int, str, str | None]]:
    """(chat, locale, best response status in this round) per reachable subscriber.

    Respondents are stored under a keyed pseudonym of their Telegram id; in a private chat the
    chat id is the user id, so the pseudonym is recomputed here instead of storing raw ids."""
    subscribers = await uow.subscriptions.reachable_in(round_.city_id)
    pseudonyms = {services.pseudonyms.of("tg", chat): chat for chat, _ in subscribers}
    statuses = await uow.responses.statuses_in_round(round_.id, list(pseudonyms))
    return [
        (chat, locale, statuses.get(services.pseudonyms.of("tg", chat)))
        for chat, locale in subscribers
    ]


async def reconcile(services: Services, now: datetime | None = None) -> Reconciled:
    """Open, remind and close whatever is due; safe to run any number of times."""
    now = now or utcnow()
    async with services.db.unit_of_work() as uow:
        due = await uow.rounds.due(now)
        opened = [r.id for r in due["open"] if r.closes_at > now]
        for round_ in due["open"]:
            if round_.closes_at > now:
                await open_round(uow, services, round_, "scheduler", now)
        for round_ in due["open"]:
            if round_.closes_at <= now:  # planned, but its whole window passed while we were down
                await close_round(
                    uow,
                    round_,
                    "scheduler",
                    now,
                    services.settings.min_group_size,
                    services.pseudonyms,
                )
        reminded = []
        for round_ in due["remind"]:
            await remind(uow, services, round_, now)
            reminded.append(round_.id)
        asked = await send_asked_reminders(uow, services, now)
        closing = [r for r in due["close"]]
        for round_ in closing:
            await close_round(
                uow, round_, "scheduler", now, services.settings.min_group_size, services.pseudonyms
            )
    return Reconciled(tuple(opened), tuple(reminded), tuple(r.id for r in closing), asked)


@dataclass(frozen=True)
class Retention:
    """What one retention pass removed."""

    unfinished_deleted: int
    comments_erased: int
    updates_pruned: int = 0
    outbox_pruned: int = 0
    reports_pruned: int = 0
    audit_log_pruned: int = 0


async def apply_retention(services: Services, now: datetime | None = None) -> Retention:
    """Delete unfinished responses RETENTION_UNFINISHED_DAYS after their round closed (or after
    their last change, outside rounds), blank comments older than RETENTION_COMMENTS_DAYS (0
    keeps them), and prune handled update ids, finished outbox messages, report records and
    audit log lines after their RETENTION_*_DAYS; logged (counts only) in the audit log."""
    now = now or utcnow()
    settings = services.settings
    keep = timedelta(days=settings.retention_unfinished_days)

    def before(days: int) -> datetime:
        return now - timedelta(days=days)

    async with services.db.unit_of_work() as uow:
        deleted = await uow.responses.delete_unfinished(now - keep, now - keep)
        erased = 0
        if settings.retention_comments_days:
            erased = await uow.responses.erase_comments(before(settings.retention_comments_days))
        done = Retention(
            deleted,
            erased,
            await uow.updates.prune(before(settings.retention_updates_days)),
            await uow.outbox.prune(before(settings.retention_outbox_days)),
            await uow.reports.prune(before(settings.retention_reports_days)),
            await uow.audit_log.prune(before(settings.retention_audit_log_days)),
        )
        if any(asdict(done).values()):
            await uow.audit_log.add("scheduler", "retention", None, **asdict(done))
    return done
