"""Repositories: every query the application makes, by intent. They never commit."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import and_, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import answers
from storage.models import (
    Answer,
    AppSetting,
    AuditLog,
    Category,
    City,
    LoginToken,
    OutboxMessage,
    Practice,
    ProcessedUpdate,
    Progress,
    ReminderRequest,
    Respondent,
    Response,
    ResultsRequest,
    Round,
    RoundPractice,
    Staff,
    StaffDialog,
    Subscription,
    Survey,
    WebSession,
    utcnow,
)
from storage.tallies import Tallies, counted_responses, dialect_insert

_T = TypeVar("_T")
_KNOWN = select(Respondent.pseudonym).where(Respondent.pseudonym == bindparam("pseudonym"))

# Serial ids are PostgreSQL `integer`s: a larger number names no row (and would fail there).
MAX_SERIAL = 2**31 - 1


def serial(number: int) -> bool:
    """Whether a number can be a row id (ids typed by people or URLs can be anything)."""
    return 0 < number <= MAX_SERIAL


def telegram_id(number: int) -> bool:
    """Whether a number fits a Telegram id column (`bigint`)."""
    return -(2**63) <= number < 2**63


class _Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _store(self, work: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """Run one of storage/answers.py's functions (the answer pipeline's store, written
        once) in this session's transaction, after what the session holds is flushed."""
        await self.session.flush()
        return await self.session.run_sync(lambda sync: work(sync.connection(), *args, **kwargs))

    def _insert(self, model: Any) -> Any:
        """A dialect-specific INSERT that supports ON CONFLICT."""
        return dialect_insert(self.session, model)


class SettingsRepository(_Repository):
    """Facts the bot keeps about itself."""

    async def get(self, key: str) -> str | None:
        """The stored value, or None."""
        row = await self.session.get(AppSetting, key)
        return row.value if row else None

    async def put(self, key: str, value: str) -> None:
        """Store a value, replacing any earlier one."""
        statement = self._insert(AppSetting).values(key=key, value=value)
        await self.session.execute(
            statement.on_conflict_do_update(index_elements=[AppSetting.key], set_={"value": value})
        )

    async def set_once(self, key: str, value: str) -> str:
        """Store a value unless one exists; return the value that is stored (first writer wins)."""
        await self.session.execute(
            self._insert(AppSetting).values(key=key, value=value).on_conflict_do_nothing()
        )
        stored = await self.get(key)
        assert stored is not None
        return stored


class CatalogRepository(_Repository):
    """Cities, categories and practices."""

    async def categories(self) -> Sequence[Category]:
        """Every category."""
        return (await self.session.scalars(select(Category).order_by(Category.id))).all()

    async def cities(self) -> Sequence[City]:
        """Every city in catalog order."""
        return (await self.session.scalars(select(City).order_by(City.position, City.id))).all()

    async def practices(self, *, active_only: bool = False) -> Sequence[Practice]:
        """Practices in catalog order."""
        query = select(Practice).order_by(Practice.position, Practice.id)
        if active_only:
            query = query.where(Practice.active.is_(True))
        return (await self.session.scalars(query)).all()

    async def city(self, city_id: str, *, lock: bool = False) -> City | None:
        """One city (locked for this transaction when asked, e.g. while planning its rounds)."""
        return await self.session.get(City, city_id, with_for_update=lock)

    async def practice(self, practice_id: str) -> Practice | None:
        """One practice."""
        return await self.session.get(Practice, practice_id)

    async def upsert(
        self, model: type[Category] | type[City] | type[Practice], key: str, values: dict[str, Any]
    ) -> str:
        """Insert or update one row; returns 'added', 'changed' or 'unchanged'."""
        row = await self.session.get(model, key)
        if row is None:
            self.session.add(model(id=key, **values))
            await self.session.flush()
            return "added"
        changed = False
        for name, value in values.items():
            if getattr(row, name) != value:
                setattr(row, name, value)
                changed = True
        await self.session.flush()
        return "changed" if changed else "unchanged"


class SurveyRepository(_Repository):
    """Survey versions."""

    async def latest(self, key: str) -> Survey | None:
        """The newest version of a survey."""
        query = select(Survey).where(Survey.key == key).order_by(Survey.version.desc()).limit(1)
        return (await self.session.scalars(query)).first()

    async def get(self, survey_id: int) -> Survey | None:
        """One version."""
        return await self.session.get(Survey, survey_id) if serial(survey_id) else None

    async def many(self, survey_ids: Iterable[int]) -> Sequence[Survey]:
        """Several versions at once."""
        ids = list(set(survey_ids))
        if not ids:
            return []
        return (await self.session.scalars(select(Survey).where(Survey.id.in_(ids)))).all()

    async def has_responses(self, survey_id: int) -> bool:
        """Whether anyone has started this version (it is then immutable)."""
        query = select(Response.id).where(Response.survey_id == survey_id).limit(1)
        return (await self.session.scalar(query)) is not None

    async def add(
        self, key: str, version: int, content_hash: str, definition: dict[str, Any]
    ) -> Survey:
        """Store a new version."""
        survey = Survey(key=key, version=version, content_hash=content_hash, definition=definition)
        self.session.add(survey)
        await self.session.flush()
        return survey

    async def all_versions(self) -> Sequence[Survey]:
        """Every stored version, newest first per key."""
        query = select(Survey).order_by(Survey.key, Survey.version.desc())
        return (await self.session.scalars(query)).all()


class RoundRepository(_Repository):
    """Survey rounds."""

    async def get(self, round_id: int) -> Round | None:
        """One round."""
        return await self.session.get(Round, round_id) if serial(round_id) else None

    async def practice_ids(self, round_id: int) -> list[str]:
        """The practices evaluated in a round, in catalog order."""
        query = (
            select(RoundPractice.practice_id)
            .join(Practice, Practice.id == RoundPractice.practice_id)
            .where(RoundPractice.round_id == round_id)
            .order_by(Practice.position, Practice.id)
        )
        return list((await self.session.scalars(query)).all())

    async def overlapping(
        self, city_id: str, opens_at: datetime, closes_at: datetime
    ) -> Round | None:
        """An open or planned round of a city whose window overlaps [opens_at, closes_at)."""
        query = (
            select(Round)
            .where(
                Round.city_id == city_id,
                Round.status.in_(("planned", "open")),
                Round.opens_at < closes_at,
                Round.closes_at > opens_at,
            )
            .order_by(Round.opens_at)
            .limit(1)
        )
        return (await self.session.scalars(query)).first()

    async def listing(self, city_ids: Sequence[str] | None = None) -> Sequence[Round]:
        """Rounds, newest first, optionally only in some cities."""
        query = select(Round).order_by(Round.opens_at.desc(), Round.id.desc())
        if city_ids is not None:
            query = query.where(Round.city_id.in_(city_ids))
        return (await self.session.scalars(query)).all()

    async def due(self, moment: datetime) -> dict[str, Sequence[Round]]:
        """Rounds that should open, be reminded of, or close at a moment."""
        opening = select(Round).where(Round.status == "planned", Round.opens_at <= moment)
        closing = select(Round).where(Round.status == "open", Round.closes_at <= moment)
        reminding = select(Round).where(
            Round.status == "open", Round.reminded_at.is_(None), Round.remind_days > 0
        )
        reminders = [
            r
            for r in (await self.session.scalars(reminding)).all()
            if r.closes_at - timedelta(days=r.remind_days) <= moment < r.closes_at
        ]
        return {
            "open": (await self.session.scalars(opening.with_for_update())).all(),
            "remind": reminders,
            "close": (await self.session.scalars(closing.with_for_update())).all(),
        }

    async def add(
        self,
        city_id: str,
        survey_id: int,
        practice_ids: Sequence[str],
        opens_at: datetime,
        closes_at: datetime,
        status: str = "planned",
        **options: Any,
    ) -> Round:
        """Create a round."""
        round_ = Round(
            city_id=city_id,
            survey_id=survey_id,
            opens_at=opens_at,
            closes_at=closes_at,
            status=status,
            **options,
        )
        self.session.add(round_)
        await self.session.flush()
        self.session.add_all(RoundPractice(round_id=round_.id, practice_id=p) for p in practice_ids)
        await self.session.flush()
        return round_

    async def covering(self, practice_id: str, moment: datetime) -> Round | None:
        """The round that evaluated a practice at a moment (the latest opened, if several)."""
        query = (
            select(Round)
            .join(RoundPractice, RoundPractice.round_id == Round.id)
            .where(
                RoundPractice.practice_id == practice_id,
                Round.opens_at <= moment,
                Round.closes_at > moment,
            )
            .order_by(Round.opens_at.desc(), Round.id.desc())
            .limit(1)
        )
        return (await self.session.scalars(query)).first()

    async def progress_counts(self, round_id: int) -> dict[str, dict[str, int]]:
        """Per practice: responses started and completed in a round."""
        query = (
            select(Response.practice_id, Response.status, func.count(Response.id))
            .where(Response.round_id == round_id, counted_responses())
            .group_by(Response.practice_id, Response.status)
        )
        counts: dict[str, dict[str, int]] = {}
        for practice_id, status, number in (await self.session.execute(query)).all():
            entry = counts.setdefault(practice_id, {"started": 0, "completed": 0})
            entry["started"] += number
            if status == "completed":
                entry["completed"] += number
        return counts


class RespondentRepository(_Repository):
    """Respondents (pseudonyms) and where each one is in the conversation."""

    async def get(self, pseudonym: str) -> Respondent | None:
        """The respondent, if known."""
        return await self.session.get(Respondent, pseudonym)

    async def progress(self, pseudonym: str) -> Progress | None:
        """Where the respondent is, locked for this transaction where the database can."""
        query = select(Progress).where(Progress.pseudonym == pseudonym).with_for_update()
        return (await self.session.scalars(query)).first()

    async def save(
        self, pseudonym: str, respondent: dict[str, Any], progress: dict[str, Any]
    ) -> None:
        """Create or update the respondent and their progress (storage/answers.py)."""
        new = await self.session.scalar(_KNOWN, {"pseudonym": pseudonym}) is None
        await self._store(answers.save_respondent, pseudonym, respondent, new=new)
        await self._store(answers.save_progress, pseudonym, progress, new=new)

    async def forget(self, pseudonym: str) -> None:
        """Erase the respondent with their progress, responses and answers."""
        await self._store(answers.forget_respondent, pseudonym)


class ResponseRepository(_Repository):
    """Responses and their answers."""

    async def get(self, response_id: int) -> Response | None:
        """One response."""
        return await self.session.get(Response, response_id) if serial(response_id) else None

    async def add(self, **values: Any) -> int:
        """Start a response (the tallies count it); its id."""
        return int(await self._store(answers.add_response, values))

    async def update(
        self,
        response_id: int,
        *,
        status: str,
        current_question: str | None = None,
        completed_at: datetime | None = None,
    ) -> None:
        """Change a response's status (its current question stays unless given); the tallies
        follow the status (storage/answers.py)."""
        if current_question is None:
            current_question = await self.session.scalar(
                select(Response.current_question).where(Response.id == response_id)
            )
        await self._store(
            answers.update_response,
            response_id,
            status,
            current_question,
            None,
            completed_at=completed_at,
        )

    async def answers(self, response_ids: Sequence[int]) -> Sequence[Any]:
        """The answers of some responses (rows with the answers' column names)."""
        return await self._store(answers.answers_of, list(response_ids))

    async def of_respondent(self, pseudonym: str, *, since: datetime) -> Sequence[Any]:
        """A respondent's responses (rows): all round ones, and always-on ones started since a
        date."""
        return await self._store(answers.own_responses, pseudonym, since)

    async def statuses_in_round(self, round_id: int, pseudonyms: Sequence[str]) -> dict[str, str]:
        """For each pseudonym that answered in a round: 'completed' or 'in_progress'."""
        result: dict[str, str] = {}
        for chunk in range(0, len(pseudonyms), 500):
            query = select(Response.pseudonym, Response.status).where(
                Response.round_id == round_id,
                Response.pseudonym.in_(pseudonyms[chunk : chunk + 500]),
            )
            for pseudonym, status in (await self.session.execute(query)).all():
                if result.get(pseudonym) != "completed":
                    result[pseudonym] = status
        return result

    async def save_answer(self, response_id: int, question_id: str, values: dict[str, Any]) -> None:
        """Store or replace one answer (a second press on the same question replaces, never adds)."""
        await self._store(answers.save_answer, response_id, question_id, values)

    async def delete_unfinished(
        self, round_closed_before: datetime, untouched_before: datetime
    ) -> int:
        """Delete unfinished responses of rounds closed before a moment, and unfinished
        always-on responses untouched since a moment; returns how many."""
        closed_rounds = select(Round.id).where(
            Round.status == "closed", Round.closes_at < round_closed_before
        )
        stale = select(Response).where(
            Response.status == "in_progress",
            or_(
                Response.round_id.in_(closed_rounds),
                and_(Response.round_id.is_(None), Response.updated_at < untouched_before),
            ),
        )
        rows = (await self.session.scalars(stale)).all()
        await Tallies(self.session).responses_removed(rows)
        ids = [r.id for r in rows]
        for chunk in range(0, len(ids), 500):
            part = ids[chunk : chunk + 500]
            await self.session.execute(delete(Answer).where(Answer.response_id.in_(part)))
            await self.session.execute(delete(Response).where(Response.id.in_(part)))
        return len(ids)

    async def erase_comments(self, answered_before: datetime) -> int:
        """Blank free-text answers given before a moment (the rest of the answer stays).

        A free-text answer has no number or option, so no value count changes."""
        await Tallies(self.session).comments_erased(answered_before)
        result = await self.session.execute(
            update(Answer)
            .where(Answer.value_text.is_not(None), Answer.answered_at < answered_before)
            .values(value_text=None, skipped=True)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def count(self, *, status: str | None = None) -> int:
        """How many responses there are (optionally with a status)."""
        query = select(func.count(Response.id))
        if status:
            query = query.where(Response.status == status)
        return int(await self.session.scalar(query) or 0)


class SubscriptionRepository(_Repository):
    """Residents who want invitations (raw chat ids live here and in staff only)."""

    async def subscribe(self, chat_id: int, city_id: str, locale: str) -> None:
        """Opt a chat in to invitations for a city (again, if it had opted out)."""
        await self._store(answers.subscribe, chat_id, city_id, locale)

    async def cities_of(self, chat_id: int) -> list[str]:
        """The cities a chat is opted in to."""
        return await self._store(answers.cities_of, chat_id)

    async def reachable_in(self, city_id: str) -> Sequence[tuple[int, str]]:
        """(chat id, locale) of every opted-in, not blocked subscriber of a city."""
        query = (
            select(Subscription.chat_id, Subscription.locale)
            .where(
                Subscription.city_id == city_id,
                Subscription.opted_in.is_(True),
                Subscription.blocked.is_(False),
            )
            .order_by(Subscription.chat_id)
        )
        return [(chat, locale) for chat, locale in (await self.session.execute(query)).all()]

    async def blocked_in(self, city_id: str) -> int:
        """How many subscribers of a city have blocked the bot."""
        query = (
            select(func.count())
            .select_from(Subscription)
            .where(Subscription.city_id == city_id, Subscription.blocked.is_(True))
        )
        return int(await self.session.scalar(query) or 0)

    async def opt_out(self, chat_id: int) -> int:
        """Stop every invitation to a chat; returns how many subscriptions were active."""
        result = await self.session.execute(
            update(Subscription)
            .where(Subscription.chat_id == chat_id, Subscription.opted_in.is_(True))
            .values(opted_in=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def opted_out(self, chat_id: int, city_id: str) -> bool:
        """Whether a chat has stopped messages about a city (/stop); one that never
        subscribed (e.g. asked for a reminder only) has not."""
        query = (
            select(func.count())
            .select_from(Subscription)
            .where(
                Subscription.chat_id == chat_id,
                Subscription.city_id == city_id,
                Subscription.opted_in.is_(False),
            )
        )
        return bool(await self.session.scalar(query))

    async def is_blocked(self, chat_id: int) -> bool:
        """Whether this chat has blocked the bot (as far as we know)."""
        query = (
            select(func.count())
            .select_from(Subscription)
            .where(Subscription.chat_id == chat_id, Subscription.blocked.is_(True))
        )
        return bool(await self.session.scalar(query))

    async def mark_blocked(self, chat_id: int) -> None:
        """The person blocked the bot: send them nothing more."""
        await self.session.execute(
            update(Subscription).where(Subscription.chat_id == chat_id).values(blocked=True)
        )


class ReminderRepository(_Repository):
    """Reminders people asked for when pausing a survey of a round (raw chat ids, no times)."""

    async def rounds_of(self, chat_id: int) -> list[int]:
        """The rounds a chat asked to be reminded of, in round order (/mydata lists them)."""
        return await self._store(answers.reminded_rounds, chat_id)

    async def of_open_rounds(self) -> Sequence[tuple[ReminderRequest, Round]]:
        """Every request of a round that is open, with its round."""
        query = (
            select(ReminderRequest, Round)
            .join(Round, Round.id == ReminderRequest.round_id)
            .where(Round.status == "open")
            .order_by(ReminderRequest.round_id, ReminderRequest.chat_id)
        )
        return [(request, round_) for request, round_ in (await self.session.execute(query)).all()]

    async def remove(self, round_id: int, chat_id: int) -> None:
        """Forget one request (its reminder is queued, or the survey is finished)."""
        await self._store(answers.remove_reminder, round_id, chat_id)

    async def forget_round(self, round_id: int) -> None:
        """Forget every request of a round (it closed)."""
        await self.session.execute(
            delete(ReminderRequest).where(ReminderRequest.round_id == round_id)
        )

    async def forget_chat(self, chat_id: int) -> int:
        """Forget every request of a chat (/stop, /delete); returns how many there were."""
        result = await self.session.execute(
            delete(ReminderRequest).where(ReminderRequest.chat_id == chat_id)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


class ResultsRequestRepository(_Repository):
    """People who asked, at the end of a survey, for a practice's final results (raw chat ids,
    no times)."""

    async def of_chat(self, chat_id: int) -> list[tuple[int, str]]:
        """(round, practice) of every request of a chat, in that order (/mydata lists them)."""
        return await self._store(answers.results_asked, chat_id)

    async def of_round(self, round_id: int) -> Sequence[ResultsRequest]:
        """Every request of a round, in key order."""
        query = (
            select(ResultsRequest)
            .where(ResultsRequest.round_id == round_id)
            .order_by(ResultsRequest.practice_id, ResultsRequest.chat_id)
        )
        return (await self.session.scalars(query)).all()

    async def forget_round(self, round_id: int) -> None:
        """Forget every request of a round (its messages are queued)."""
        await self.session.execute(
            delete(ResultsRequest).where(ResultsRequest.round_id == round_id)
        )

    async def forget_chat(self, chat_id: int) -> int:
        """Forget every request of a chat (/stop, /delete); returns how many there were."""
        result = await self.session.execute(
            delete(ResultsRequest).where(ResultsRequest.chat_id == chat_id)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


class StaffRepository(_Repository):
    """People with roles, and the guided dialogues they are in."""

    async def get(self, user_id: int) -> Staff | None:
        """A staff member by Telegram user id."""
        if not telegram_id(user_id):
            return None
        query = select(Staff).where(Staff.telegram_user_id == user_id)
        return (await self.session.scalars(query)).first()

    async def put(self, user_id: int, role: str, cities: Sequence[str]) -> None:
        """Grant a role (replacing an earlier one)."""
        row = await self.get(user_id)
        if row is None:
            self.session.add(Staff(telegram_user_id=user_id, role=role, cities=list(cities)))
        else:
            row.role, row.cities = role, list(cities)
        await self.session.flush()

    async def set_report_preferences(
        self, user_id: int, locale: str | None = None, fmt: str | None = None
    ) -> bool:
        """Change the language or the format (whichever is given) of a staff member's
        scheduled reports; False when they have no role."""
        row = await self.get(user_id)
        if row is None:
            return False
        row.report_locale = locale or row.report_locale
        row.report_format = fmt or row.report_format
        await self.session.flush()
        return True

    async def remove(self, user_id: int) -> bool:
        """Take a role away; False when there was none."""
        result = await self.session.execute(delete(Staff).where(Staff.telegram_user_id == user_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def listing(self) -> Sequence[Staff]:
        """Everyone with a role."""
        return (await self.session.scalars(select(Staff).order_by(Staff.id))).all()

    async def with_role(self, role: str) -> Sequence[Staff]:
        """Everyone with one role."""
        query = select(Staff).where(Staff.role == role).order_by(Staff.id)
        return (await self.session.scalars(query)).all()

    async def dialog(self, user_id: int) -> StaffDialog | None:
        """The guided dialogue a staff member is in, locked for this transaction."""
        query = select(StaffDialog).where(StaffDialog.telegram_user_id == user_id).with_for_update()
        return (await self.session.scalars(query)).first()

    async def save_dialog(self, user_id: int, kind: str, data: dict[str, Any]) -> None:
        """Store where a staff member is in a dialogue."""
        row = await self.session.get(StaffDialog, user_id)
        if row is None:
            self.session.add(StaffDialog(telegram_user_id=user_id, kind=kind, data=data))
        else:
            row.kind, row.data, row.updated_at = kind, data, utcnow()
        await self.session.flush()

    async def end_dialog(self, user_id: int) -> None:
        """Forget a finished or abandoned dialogue."""
        await self.session.execute(
            delete(StaffDialog).where(StaffDialog.telegram_user_id == user_id)
        )


class AuditLogRepository(_Repository):
    """What staff did, for accountability."""

    async def add(self, actor: str, action: str, target: str | None = None, **details: Any) -> None:
        """Record one action."""
        self.session.add(
            AuditLog(
                actor=actor, action=action, target=target, details=details, created_at=utcnow()
            )
        )
        await self.session.flush()

    async def prune(self, before: datetime) -> int:
        """Forget lines older than a moment; how many."""
        result = await self.session.execute(delete(AuditLog).where(AuditLog.created_at < before))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def latest(self, limit: int = 100) -> Sequence[AuditLog]:
        """The most recent entries, newest first."""
        query = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)
        return (await self.session.scalars(query)).all()


class OutboxRepository(_Repository):
    """Messages waiting to be delivered; each dedupe key is delivered once."""

    async def enqueue(
        self,
        kind: str,
        dedupe_key: str,
        chat_id: int,
        locale: str,
        round_id: int | None = None,
        payload: dict[str, Any] | None = None,
    ) -> bool:
        """Queue a message unless one with this key exists; True when queued now."""
        statement = (
            self._insert(OutboxMessage)
            .values(
                kind=kind,
                dedupe_key=dedupe_key,
                chat_id=chat_id,
                locale=locale,
                round_id=round_id,
                payload=payload or {},
                status="pending",
                attempts=0,
                next_attempt_at=utcnow(),
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=[OutboxMessage.dedupe_key])
        )
        result = await self.session.execute(statement)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def due(self, moment: datetime, limit: int) -> Sequence[OutboxMessage]:
        """Pending messages whose time has come, oldest first."""
        query = (
            select(OutboxMessage)
            .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= moment)
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        return (await self.session.scalars(query)).all()

    async def claim(self, message_id: int, moment: datetime, owner: str) -> bool:
        """Mark a message as being sent by `owner`; False when another sender took it first."""
        result = await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.status == "pending")
            .values(status="sending", claimed_at=moment, claimed_by=owner)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def finish(
        self,
        message_id: int,
        status: str,
        *,
        expect: str = "sending",
        owner: str | None = None,
        **values: Any,
    ) -> bool:
        """Move a message on from the status `expect` (and, when given, from `owner`'s claim):
        the outcome of one attempt. False when something else moved it first."""
        query = update(OutboxMessage).where(
            OutboxMessage.id == message_id, OutboxMessage.status == expect
        )
        if owner is not None:
            query = query.where(OutboxMessage.claimed_by == owner)
        claim = {} if status == "sending" else {"claimed_by": None}
        if status not in ("pending", "sending"):  # done: keep no finer time than the day
            values = {**values, **_done_times(values.get("sent_at"))}
        result = await self.session.execute(query.values(status=status, **claim, **values))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def release_claims(self, keep_owner: str | None = None, keep: Sequence[int] = ()) -> int:
        """Messages claimed by senders that are gone go back to the queue (a message whose
        send was cut by a hard kill is thus sent at least once); `keep_owner`'s claims of the
        messages `keep` (those it is sending) stay."""
        query = update(OutboxMessage).where(OutboxMessage.status == "sending")
        if keep_owner is not None:
            query = query.where(
                or_(
                    OutboxMessage.claimed_by.is_(None),
                    OutboxMessage.claimed_by != keep_owner,
                    OutboxMessage.id.not_in(keep),
                )
            )
        result = await self.session.execute(
            query.values(status="pending", claimed_at=None, claimed_by=None)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def cancel_pending(self, chat_id: int, kinds: Sequence[str]) -> int:
        """Cancel a chat's messages of some kinds that are not sent yet (/stop); the sender
        claims only pending rows, so none of them goes out. Returns how many."""
        result = await self.session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.chat_id == chat_id,
                OutboxMessage.kind.in_(kinds),
                OutboxMessage.status == "pending",
            )
            .values(status="cancelled", error="stopped: the person sent /stop", **_done_times(None))
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def prune(self, before: datetime) -> int:
        """Forget messages that were done with (sent, cancelled, failed, blocked) before a
        moment; how many."""
        done_at = func.coalesce(OutboxMessage.sent_at, OutboxMessage.created_at)
        done = and_(OutboxMessage.status.not_in(("pending", "sending")), done_at < before)
        invitations = (
            select(OutboxMessage.round_id, func.count(OutboxMessage.id))
            .where(done, OutboxMessage.kind == "invitation", OutboxMessage.status == "sent")
            .group_by(OutboxMessage.round_id)
        )
        for round_id, n in (await self.session.execute(invitations)).all():
            await self.session.execute(
                update(Round)
                .where(Round.id == round_id)
                .values(invitations_pruned=Round.invitations_pruned + n)
            )
        result = await self.session.execute(delete(OutboxMessage).where(done))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def rekey(self, kind: str, key_of: Callable[[int, int], str]) -> int:
        """Replace the dedupe keys `<kind>:<round>:<chat id>` of older versions by
        `key_of(round, chat)` (a keyed hash); how many."""
        query = select(OutboxMessage).where(OutboxMessage.dedupe_key.like(f"{kind}:%"))
        changed = 0
        for row in (await self.session.scalars(query)).all():
            _kind, round_id, chat = row.dedupe_key.split(":", 2)
            if chat.lstrip("-").isdigit():
                row.dedupe_key = key_of(int(round_id), int(chat))
                changed += 1
        await self.session.flush()
        return changed

    async def depth(self) -> int:
        """How many messages wait to be sent."""
        query = select(func.count(OutboxMessage.id)).where(
            OutboxMessage.status.in_(("pending", "sending"))
        )
        return int(await self.session.scalar(query) or 0)

    async def round_counts(self, round_id: int, kind: str) -> dict[str, int]:
        """Messages of one kind for a round, by status."""
        query = (
            select(OutboxMessage.status, func.count(OutboxMessage.id))
            .where(OutboxMessage.round_id == round_id, OutboxMessage.kind == kind)
            .group_by(OutboxMessage.status)
        )
        return {status: n for status, n in (await self.session.execute(query)).all()}


def _done_times(sent_at: datetime | None) -> dict[str, Any]:
    """The times a finished message keeps: the day it was sent (for retention), no claim and no
    attempt time; a finer time would line the chat up with a response begun right after it."""
    start = (sent_at or utcnow()).replace(hour=0, minute=0, second=0, microsecond=0)
    return {"sent_at": start if sent_at else None, "claimed_at": None, "next_attempt_at": start}


class WebAuthRepository(_Repository):
    """Dashboard sign-in links and sessions (only hashes of the secrets are stored)."""

    async def add_token(self, token_hash: str, user_id: int, expires_at: datetime) -> None:
        """Store a one-time sign-in link."""
        self.session.add(
            LoginToken(token_hash=token_hash, telegram_user_id=user_id, expires_at=expires_at)
        )
        await self.session.flush()

    async def token_usable(self, token_hash: str, now: datetime) -> bool:
        """Whether a sign-in link exists, is unused and has not expired (spends nothing)."""
        row = await self.session.get(LoginToken, token_hash)
        return row is not None and row.used_at is None and row.expires_at > now

    async def use_token(self, token_hash: str, now: datetime) -> int | None:
        """Spend a sign-in link; the user id, or None when unknown, expired or already used."""
        result = await self.session.execute(
            update(LoginToken)
            .where(
                LoginToken.token_hash == token_hash,
                LoginToken.used_at.is_(None),
                LoginToken.expires_at > now,
            )
            .values(used_at=now)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        row = await self.session.get(LoginToken, token_hash)
        return row.telegram_user_id if row else None

    async def add_session(
        self, session_hash: str, user_id: int, csrf: str, locale: str, expires_at: datetime
    ) -> None:
        """Open a dashboard session."""
        self.session.add(
            WebSession(
                session_hash=session_hash,
                telegram_user_id=user_id,
                csrf_token=csrf,
                locale=locale,
                created_at=utcnow(),
                expires_at=expires_at,
            )
        )
        await self.session.flush()

    async def get_session(self, session_hash: str, now: datetime) -> WebSession | None:
        """A session that has not expired."""
        row = await self.session.get(WebSession, session_hash)
        return row if row is not None and row.expires_at > now else None

    async def end_session(self, session_hash: str) -> None:
        """Sign out."""
        await self.session.execute(
            delete(WebSession).where(WebSession.session_hash == session_hash)
        )

    async def end_sessions_of(self, user_id: int) -> int:
        """Sign a person out everywhere and void their unused links; how many sessions ended."""
        await self.session.execute(delete(LoginToken).where(LoginToken.telegram_user_id == user_id))
        result = await self.session.execute(
            delete(WebSession).where(WebSession.telegram_user_id == user_id)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def forget_expired(self, now: datetime) -> None:
        """Drop spent links and old sessions."""
        await self.session.execute(delete(LoginToken).where(LoginToken.expires_at < now))
        await self.session.execute(delete(WebSession).where(WebSession.expires_at < now))


class UpdateLog(_Repository):
    """Update ids already handled, so a redelivered update is not handled twice."""

    async def prune(self, before: datetime) -> int:
        """Forget update ids handled before a moment (Telegram no longer redelivers them)."""
        result = await self.session.execute(
            delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < before)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def claim(self, update_id: int) -> bool:
        """Record an update id; False when it was recorded before (a duplicate)."""
        return await self._store(answers.claim, update_id)
