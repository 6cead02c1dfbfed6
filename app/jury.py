"""The jury: an edition's five jurors score each nominated practice on the three criteria.

A juror scores 1–5 with a one-sentence reason per criterion, or recuses themself from a
practice they are involved with; scores can be revised until the juror submits, and submitting
locks them. Before the edition closes nobody sees another juror's scores — staff see counts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from app.editions import CLOSED, JURY, EditionError, existing, phase_at
from app.services import Services
from storage.models import Juror, JuryScore, utcnow
from storage.repositories import telegram_id
from storage.uow import UnitOfWork

CRITERIA = ("engagement", "sustainability", "comprehensiveness")  # as the survey tags them
RECUSED = "recused"
LABELS = "ABCDE"  # the action's jury has five members, named by letter in reports
JUSTIFICATION_LIMITS = (5, 300)


class JuryError(EditionError):
    """A juror's action that cannot be done; the text says why."""


@dataclass(frozen=True)
class JuryProgress:
    """How far one juror is, in counts only (what staff may see before the close)."""

    label: str
    scored: int  # practices with all three criteria scored
    recused: int
    submitted: bool


async def add_juror(
    uow: UnitOfWork,
    actor: str,
    year: int,
    user_id: int,
    now: datetime,
    locale: str | None = None,
) -> Juror:
    """Make someone a juror of an edition (at most five, before it closes); logged."""
    edition = await existing(uow, year, lock=True)
    if edition.status == CLOSED:
        raise JuryError(f"the {year} edition is closed")
    if not telegram_id(user_id) or user_id <= 0:
        raise JuryError(f"{user_id} is not a Telegram user id")
    jurors = await uow.jury.jurors(year)
    if any(j.telegram_user_id == user_id for j in jurors):
        raise JuryError(f"{user_id} is a juror of {year} already")
    if len(jurors) >= len(LABELS):
        raise JuryError(f"the {year} jury has {len(LABELS)} members already")
    juror = await uow.jury.add_juror(
        Juror(
            edition_year=year,
            telegram_user_id=user_id,
            label=LABELS[len(jurors)],
            added_by=actor,
            added_at=now,
            locale=locale,
        )
    )
    await uow.audit_log.add(actor, "jury.add", f"user:{user_id}", edition=year, label=juror.label)
    return juror


async def current_edition(uow: UnitOfWork) -> int:
    """The year of the edition a juror granted now joins: the newest one not closed."""
    for edition in await uow.editions.listing():
        if edition.status != CLOSED:
            return edition.year
    raise JuryError("no edition is open; open one with `auditbot edition open` first")


def remember_locale(juror: Juror, locale: str) -> None:
    """Keep the language a juror uses, for the reminders they get."""
    if juror.locale != locale:
        juror.locale = locale


async def _scoring_juror(uow: UnitOfWork, year: int, user_id: int, now: datetime) -> Juror:
    """The juror, if they may still change their scores now."""
    edition = await existing(uow, year)
    juror = await uow.jury.juror(year, user_id, lock=True)
    if juror is None:
        raise JuryError(f"{user_id} is not a juror of {year}")
    if phase_at(edition, now) != JURY:
        raise JuryError(f"the {year} edition is not in its jury phase")
    if juror.submitted_at is not None:
        raise JuryError("the scores were submitted and are locked")
    return juror


async def _nominated(uow: UnitOfWork, year: int, practice_id: str) -> None:
    """JuryError unless the practice is on the edition's list."""
    if practice_id not in {p.practice_id for p in await uow.nominations.practices(year)}:
        raise JuryError(f"{practice_id} is not a practice of the {year} edition")


async def score(
    uow: UnitOfWork,
    year: int,
    user_id: int,
    practice_id: str,
    criterion: str,
    value: int,
    justification: str,
    now: datetime,
) -> None:
    """Record (or revise) one score with its one-sentence reason; a recusal is withdrawn."""
    await _scoring_juror(uow, year, user_id, now)
    await _nominated(uow, year, practice_id)
    if criterion not in CRITERIA:
        raise JuryError(f"unknown criterion {criterion}; use one of {', '.join(CRITERIA)}")
    if not 1 <= value <= 5:
        raise JuryError("a score is a whole number from 1 to 5")
    reason = justification.strip()
    if not JUSTIFICATION_LIMITS[0] <= len(reason) <= JUSTIFICATION_LIMITS[1]:
        raise JuryError("give the reason in one sentence (5 to 300 characters)")
    mine = await uow.jury.scores(year, user_id)
    if any(s.practice_id == practice_id and s.criterion == RECUSED for s in mine):
        await uow.jury.clear_practice(year, user_id, practice_id)
    await uow.jury.put_score(_row(year, user_id, practice_id, criterion, value, reason, now))


def _row(
    year: int,
    user_id: int,
    practice_id: str,
    criterion: str,
    value: int | None,
    reason: str | None,
    now: datetime,
) -> JuryScore:
    """A score row (a recusal has no score and no reason)."""
    return JuryScore(
        edition_year=year,
        telegram_user_id=user_id,
        practice_id=practice_id,
        criterion=criterion,
        score=value,
        justification=reason,
        updated_at=now,
    )


async def recuse(uow: UnitOfWork, year: int, user_id: int, practice_id: str, now: datetime) -> None:
    """ "I am involved with this practice": drop the juror's scores of it; logged."""
    juror = await _scoring_juror(uow, year, user_id, now)
    await _nominated(uow, year, practice_id)
    await uow.jury.clear_practice(year, user_id, practice_id)
    await uow.jury.put_score(_row(year, user_id, practice_id, RECUSED, None, None, now))
    await uow.audit_log.add(
        f"tg:{user_id}", "jury.recuse", f"practice:{practice_id}", edition=year, juror=juror.label
    )


async def submit(uow: UnitOfWork, year: int, user_id: int, now: datetime) -> Juror:
    """Lock a juror's scores once every practice is scored on all criteria or recused; logged."""
    juror = await _scoring_juror(uow, year, user_id, now)
    practices = [p.practice_id for p in await uow.nominations.practices(year)]
    done = _done_practices(await uow.jury.scores(year, user_id))
    missing = [p for p in practices if p not in done]
    if missing:
        raise JuryError(f"not yet scored on every criterion: {', '.join(missing)}")
    juror.submitted_at = now
    await uow.audit_log.add(
        f"tg:{user_id}", "jury.submit", f"edition:{year}", juror=juror.label, practices=len(done)
    )
    return juror


def _done_practices(rows: Sequence[JuryScore]) -> dict[str, str]:
    """Practices a juror has finished: 'scored' (every criterion) or 'recused'."""
    criteria: dict[str, set[str]] = {}
    for row in rows:
        criteria.setdefault(row.practice_id, set()).add(row.criterion)
    done = {}
    for practice, given in criteria.items():
        if RECUSED in given:
            done[practice] = RECUSED
        elif given >= set(CRITERIA):
            done[practice] = "scored"
    return done


async def finished_practices(uow: UnitOfWork, year: int, user_id: int) -> dict[str, str]:
    """The practices a juror has finished: 'scored' or 'recused'."""
    return _done_practices(await uow.jury.scores(year, user_id))


async def juror_now(uow: UnitOfWork, user_id: int, now: datetime) -> Juror | None:
    """The person's jury seat in the edition whose jury phase is open now, if any."""
    for edition in await uow.editions.listing():
        if phase_at(edition, now) == JURY:
            return await uow.jury.juror(edition.year, user_id)
    return None


async def own_scores(uow: UnitOfWork, year: int, user_id: int) -> Sequence[JuryScore]:
    """A juror's own scores (anyone may always see their own)."""
    if await uow.jury.juror(year, user_id) is None:
        raise JuryError(f"{user_id} is not a juror of {year}")
    return await uow.jury.scores(year, user_id)


async def scores_of(
    uow: UnitOfWork, year: int, viewer: int, juror_id: int, now: datetime
) -> Sequence[JuryScore]:
    """Another juror's scores, for a juror: only once the jury phase has closed."""
    edition = await existing(uow, year)
    if viewer == juror_id:
        return await own_scores(uow, year, viewer)
    if phase_at(edition, now) != CLOSED:
        raise JuryError("jurors see each other's scores only after the jury phase closes")
    return await uow.jury.scores(year, juror_id)


async def progress(uow: UnitOfWork, year: int) -> list[JuryProgress]:
    """Each juror's progress in counts (what staff see; never the scores)."""
    await existing(uow, year)
    result = []
    for juror in await uow.jury.jurors(year):
        done = _done_practices(await uow.jury.scores(year, juror.telegram_user_id))
        recused = sum(1 for state in done.values() if state == RECUSED)
        result.append(
            JuryProgress(juror.label, len(done) - recused, recused, juror.submitted_at is not None)
        )
    return result


@dataclass(frozen=True)
class Reminder:
    """A juror to remind: who, in which language, of which edition and until when."""

    year: int
    user_id: int
    locale: str | None
    until: datetime


async def jurors_to_remind(uow: UnitOfWork, now: datetime) -> list[Reminder]:
    """The jurors of every edition in its jury phase who have not submitted yet."""
    due = []
    for edition in await uow.editions.listing():
        if phase_at(edition, now) != JURY:
            continue
        for juror in await uow.jury.jurors(edition.year):
            if juror.submitted_at is None:
                due.append(
                    Reminder(edition.year, juror.telegram_user_id, juror.locale, edition.closes_at)
                )
    return due


JURY_REMINDER = "jury_reminder"  # the outbox kind


REMIND_FROM_HOUR = 10  # local time: a reminder is not the first thing after midnight


async def queue_reminders(
    uow: UnitOfWork,
    now: datetime,
    zone: tzinfo,
    fallback_locale: Callable[[int], Awaitable[str]],
) -> int:
    """Queue, through the outbox, one reminder a day at most (from REMIND_FROM_HOUR local
    time) to each juror who has not submitted while the jury phase is open, in the juror's
    language (the one they used in /jury, else `fallback_locale`); returns how many were
    queued now."""
    local = now.astimezone(zone)
    if local.hour < REMIND_FROM_HOUR:
        return 0
    today = local.date()
    queued = 0
    for due in await jurors_to_remind(uow, now):
        locale = due.locale or await fallback_locale(due.user_id)
        queued += await uow.outbox.enqueue(
            JURY_REMINDER,
            f"jury:{due.year}:{due.user_id}:{today.isoformat()}",
            due.user_id,
            locale,
            None,
            {"year": due.year, "until": due.until.isoformat()},
        )
    return queued


async def still_to_remind(uow: UnitOfWork, year: int, user_id: int, now: datetime) -> bool:
    """Whether a queued reminder still makes sense at send time (jury open, not submitted)."""
    edition = await uow.editions.get(year)
    juror = await uow.jury.juror(year, user_id)
    return (
        edition is not None
        and juror is not None
        and juror.submitted_at is None
        and phase_at(edition, now) == JURY
    )


async def queue_juror_reminders(services: Services, now: datetime | None = None) -> int:
    """Queue the jurors' reminders due now; a juror who never used /jury is written to in the
    language of their survey answers, else the default one."""
    now = now or utcnow()
    async with services.db.unit_of_work() as uow:

        async def survey_locale(user_id: int) -> str:
            respondent = await uow.respondents.get(services.pseudonyms.of("tg", user_id))
            stored = respondent.locale if respondent is not None else None
            return services.translator.choose_locale(stored, None)

        return await queue_reminders(uow, now, services.settings.tz, survey_locale)
