"""Aggregates for the audit, and stored reports.

Python never sees single answers here: every query returns one row per group (practice × survey
version × question × value, …). The groups come from the running tallies (storage/tallies.py),
so a year's summary reads thousands of rows, not millions; a scope the tallies cannot answer
(a window that is not whole local months) is GROUP BY'd over the raw rows, as the tests' oracle.
Comments come with contacts already masked.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from datetime import date, datetime
from itertools import chain
from typing import Any, NamedTuple, TypeVar, TypeVarTuple
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Result,
    Select,
    String,
    and_,
    delete,
    func,
    or_,
    select,
    type_coerce,
    update,
)

from storage.cells import Scope
from storage.masking import mask_contacts
from storage.models import (
    Answer,
    AnswerTally,
    CommentModeration,
    MaskedComment,
    OutboxMessage,
    Practice,
    ReportRecord,
    Response,
    ResponseTally,
    Round,
    RoundPractice,
    utcnow,
)
from storage.repositories import _Repository, serial
from storage.tallies import (
    NO_NUMBER,
    NO_OPTION,
    NO_ROUND,
    TALLIED_VALUE_KEY,
    VALUE_KEY,
    Tallies,
    counted_answers,
    counted_responses,
    month_period,
)

_Query = TypeVar("_Query", bound="Select[*tuple[Any, ...]]")
_Ts = TypeVarTuple("_Ts")


def _day(value: date | str) -> date:
    """A DATE column read as it is stored: text on SQLite, a date on PostgreSQL."""
    return value if isinstance(value, date) else date.fromisoformat(value)


_BATCH = 2000  # rows fetched at a time: fewer calls than one by one, no list of them all


class ValueCount(NamedTuple):
    """How many completed responses gave one value to one question (a tuple: a year has
    thousands of them)."""

    practice_id: str
    survey_id: int
    question_id: str
    number: int | None
    option: str | None
    n: int


_ANSWERS = func.sum(AnswerTally.n)
_TALLIED_VALUES = (
    select(
        AnswerTally.practice_id,
        AnswerTally.survey_id,
        AnswerTally.question_id,
        func.nullif(AnswerTally.value_number, NO_NUMBER),
        func.nullif(AnswerTally.value_option, NO_OPTION),
        _ANSWERS,
    )
    .group_by(*TALLIED_VALUE_KEY)
    .having(_ANSWERS > 0)
)
_RESPONSES = func.sum(ResponseTally.n)
_TALLIED_RESPONSES = (
    select(
        func.nullif(ResponseTally.round_id, NO_ROUND),
        ResponseTally.practice_id,
        ResponseTally.status,
        _RESPONSES,
    )
    .group_by(ResponseTally.status, ResponseTally.round_id, ResponseTally.practice_id)
    .having(_RESPONSES > 0)
)
_TALLIED_LOCALES = (
    select(ResponseTally.practice_id, ResponseTally.locale, _RESPONSES)
    .where(ResponseTally.status == "completed")
    .group_by(ResponseTally.locale, ResponseTally.practice_id)
    .having(_RESPONSES > 0)
)


def _month_start(period: str, zone: ZoneInfo, after: int = 0) -> datetime:
    """The first moment of a month 'YYYY-MM' (or of the month `after` months later)."""
    year, month = (int(part) for part in period.split("-"))
    month += after
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=zone)


def _in_cities(query: _Query, practice_id: Any, scope: Scope) -> _Query:
    """Restrict a query to the practices of a scope's cities."""
    if scope.city_ids is None:
        return query
    return query.where(
        practice_id.in_(select(Practice.id).where(Practice.city_id.in_(scope.city_ids)))
    )


class AuditRepository(_Repository):
    """The figures behind a summary: from the tallies when a scope's time window is whole
    months (storage/tallies.py), else from the raw rows (the raw_* queries, also the tests'
    oracle for the tallies)."""

    def _within(self, query: _Query, scope: Scope, table: Any = Response) -> _Query:
        """Restrict a query over responses (or their masked comments) to a scope (cities
        through a subquery, so that a summary of every city does not join a million answers
        with practices)."""
        if scope.round_ids is not None:
            query = query.where(table.round_id.in_(scope.round_ids))
        if scope.since is not None:
            query = query.where(table.started_at >= scope.since)
        if scope.until is not None:
            query = query.where(table.started_at < scope.until)
        if scope.channel is not None:
            query = query.where(Response.channel == scope.channel)
        if table is Response:  # masked comments are never copied from previews
            query = query.where(counted_responses())
        return _in_cities(query, table.practice_id, scope)

    async def _rows(self, query: Select[*_Ts]) -> Result[*_Ts]:
        """Run a select on the session's connection: plain rows, without the ORM's loading
        machinery (a year's summary reads tens of thousands of them)."""
        connection = await self.session.connection()
        return await connection.execute(query)

    async def _months(self, scope: Scope) -> tuple[str | None, str | None] | None:
        """The first and the first excluded month of a scope when the tallies can answer it."""
        zone = await Tallies(self.session).zone()
        if zone is None or scope.channel is not None:  # the tallies do not count by channel
            return None
        since = month_period(scope.since, zone) if scope.since else None
        until = month_period(scope.until, zone) if scope.until else None
        if (scope.since and since is None) or (scope.until and until is None):
            return None
        return since, until

    async def _from_tallies(
        self, scope: Scope, query: Select[*_Ts], table: Any
    ) -> Result[*_Ts] | None:
        """A query over a tally table, restricted to a scope and run; None when the tallies
        cannot answer for the scope (not counted, or a window that is not whole months)."""
        months = await self._months(scope)
        if months is None:
            return None
        since, until = months
        if scope.round_ids is not None:
            query = query.where(table.round_id.in_(scope.round_ids))
        if since is not None:
            query = query.where(table.period >= since)
        if until is not None:
            query = query.where(table.period < until)
        return await self._rows(_in_cities(query, table.practice_id, scope))

    async def value_counts(self, scope: Scope) -> list[ValueCount]:
        """Per practice, survey version, question and value: how many (completed only)."""
        rows = await self._from_tallies(scope, _TALLIED_VALUES, AnswerTally)
        if rows is None:
            return await self.raw_value_counts(scope)
        return [ValueCount(*row) for row in rows.all()]

    async def raw_value_counts(self, scope: Scope) -> list[ValueCount]:
        """value_counts from the answers themselves."""
        query = (
            select(*VALUE_KEY, func.count(Answer.id))
            .join(Response, Response.id == Answer.response_id)
            .where(Response.status == "completed", counted_answers())
            .group_by(*VALUE_KEY)
        )
        rows = await self._rows(self._within(query, scope))
        return [ValueCount(*row) for row in rows.all()]

    async def response_counts(self, scope: Scope) -> list[tuple[int | None, str, str, int]]:
        """(round, practice, status, how many responses)."""
        rows = await self._from_tallies(scope, _TALLIED_RESPONSES, ResponseTally)
        if rows is None:
            return await self.raw_response_counts(scope)
        return [(round_id, practice, status, n) for round_id, practice, status, n in rows]

    async def raw_response_counts(self, scope: Scope) -> list[tuple[int | None, str, str, int]]:
        """response_counts from the responses themselves."""
        query = (
            select(
                Response.round_id, Response.practice_id, Response.status, func.count(Response.id)
            )
            # An unindexed first key: SQLite then scans the table instead of walking the
            # round_id index row by row (2-3x slower); the result is the same.
            .group_by(Response.status, Response.round_id, Response.practice_id)
        )
        rows = await self._rows(self._within(query, scope))
        return [(round_id, practice, status, n) for round_id, practice, status, n in rows]

    async def locale_counts(self, scope: Scope) -> list[tuple[str, str, int]]:
        """(practice, language, completed responses)."""
        rows = await self._from_tallies(scope, _TALLIED_LOCALES, ResponseTally)
        if rows is None:
            return await self.raw_locale_counts(scope)
        return [(practice, locale, n) for practice, locale, n in rows]

    async def raw_locale_counts(self, scope: Scope) -> list[tuple[str, str, int]]:
        """locale_counts from the responses themselves."""
        query = (
            select(Response.practice_id, Response.locale, func.count(Response.id))
            .where(Response.status == "completed")
            .group_by(Response.locale, Response.practice_id)  # a table scan, as above
        )
        rows = await self._rows(self._within(query, scope))
        return [(practice, locale, n) for practice, locale, n in rows]

    async def invitations_sent(self, round_ids: Sequence[int]) -> dict[int, int]:
        """Delivered invitations per round."""
        if not round_ids:
            return {}
        query = (
            select(OutboxMessage.round_id, func.count(OutboxMessage.id))
            .where(
                OutboxMessage.round_id.in_(round_ids),
                OutboxMessage.kind == "invitation",
                OutboxMessage.status == "sent",
            )
            .group_by(OutboxMessage.round_id)
        )
        rows = (await self.session.execute(query)).all()
        sent = {round_id: n for round_id, n in rows if round_id is not None}
        pruned = select(Round.id, Round.invitations_pruned).where(
            Round.id.in_(round_ids), Round.invitations_pruned > 0
        )
        for round_id, n in (await self.session.execute(pruned)).all():
            sent[round_id] = sent.get(round_id, 0) + n
        return sent

    async def comments(
        self, scope: Scope, question_ids: Sequence[str]
    ) -> Iterable[tuple[int, str, str, date]]:
        """(answer id, practice, text with contacts masked, day answered (UTC)) of completed
        responses to the given questions, from the masked copies once the tallies are counted;
        to be read once (a year has tens of thousands: no list of rows is kept around)."""
        if not question_ids:
            return []
        if await Tallies(self.session).zone() is None or scope.channel is not None:
            return await self.raw_comments(scope, question_ids)
        query = (
            select(
                MaskedComment.answer_id,
                MaskedComment.practice_id,
                MaskedComment.text,
                MaskedComment.answered_on,
            )
            .where(MaskedComment.question_id.in_(question_ids))
            .order_by(MaskedComment.answer_id)
        )
        rows = await self._rows(self._within(query, scope, MaskedComment))
        return chain.from_iterable(rows.partitions(_BATCH))

    async def raw_comments(
        self, scope: Scope, question_ids: Sequence[str]
    ) -> Iterable[tuple[int, str, str, date]]:
        """comments from the answers themselves, masked here (text is never None: see WHERE)."""
        query = (
            select(Answer.id, Response.practice_id, Answer.value_text, Answer.answered_at)
            .join(Response, Response.id == Answer.response_id)
            .where(
                Response.status == "completed",
                Answer.question_id.in_(question_ids),
                Answer.value_text.is_not(None),
            )
            .order_by(Answer.id)
        )
        rows = await self._rows(self._within(query, scope))
        return [
            (answer_id, practice, mask_contacts(text or ""), at.date())
            for answer_id, practice, text, at in rows
        ]

    async def comments_of(
        self, round_ids: Sequence[int], months: Sequence[str], members: Container[int]
    ) -> list[tuple[int, int | None, str, str, date]]:
        """(answer id, stored public id, practice, text with contacts masked, day answered
        (UTC)) of the comments of some rounds and months outside rounds that are `members` (of
        published versions); an erased comment is simply not found. One pass over the masked
        comments."""
        zone = await Tallies(self.session).zone()
        if zone is None or (not round_ids and not months):
            return []
        in_cells: list[ColumnElement[bool]] = []
        if round_ids:
            in_cells.append(MaskedComment.round_id.in_(round_ids))
        if months:
            first, last = _month_start(min(months), zone), _month_start(max(months), zone, 1)
            in_cells.append(
                and_(
                    MaskedComment.round_id.is_(None),
                    MaskedComment.started_at >= first,
                    MaskedComment.started_at < last,
                )
            )
        query = select(
            MaskedComment.answer_id,
            MaskedComment.public_id,
            MaskedComment.practice_id,
            MaskedComment.text,
            # SQLite keeps a date as text, which SQLAlchemy parses with a regular expression
            # per row (a third of reading a year's comments); date.fromisoformat is C.
            type_coerce(MaskedComment.answered_on, String),
        ).where(or_(*in_cells))
        rows = await self._rows(query)
        return [
            (answer_id, public, practice, text, _day(day))
            for answer_id, public, practice, text, day in chain.from_iterable(
                rows.partitions(_BATCH)
            )
            if answer_id in members
        ]

    async def without_public_id(self, answer_ids: Sequence[int]) -> list[int]:
        """Which of these comments have no public id stored yet."""
        missing: list[int] = []
        for start in range(0, len(answer_ids), _BATCH):
            query = select(MaskedComment.answer_id).where(
                MaskedComment.answer_id.in_(answer_ids[start : start + _BATCH]),
                MaskedComment.public_id.is_(None),
            )
            missing += (await self.session.scalars(query)).all()
        return missing

    async def store_public_ids(self, public_ids: Mapping[int, int]) -> None:
        """Keep comments' public ids (answer id → public id)."""
        if public_ids:
            await self.session.execute(  # the ORM's bulk UPDATE by primary key
                update(MaskedComment),
                [{"answer_id": a, "public_id": p} for a, p in public_ids.items()],
            )

    async def hidden_comments(self) -> set[int]:
        """The answer ids of the comments a coordinator hid."""
        query = select(CommentModeration.answer_id).where(CommentModeration.hidden.is_(True))
        return set((await self.session.scalars(query)).all())

    async def practices_of_rounds(self, round_ids: Sequence[int]) -> list[tuple[int, str]]:
        """(round, practice) of every practice evaluated in some rounds."""
        query = select(RoundPractice.round_id, RoundPractice.practice_id).where(
            RoundPractice.round_id.in_(round_ids)
        )
        return [(round_id, practice) for round_id, practice in await self.session.execute(query)]

    async def rounds_of(self, scope: Scope) -> Sequence[Round]:
        """Rounds whose responses fall in a scope (for invitations and trends)."""
        query = select(Round).order_by(Round.opens_at)
        if scope.round_ids is not None:
            query = query.where(Round.id.in_(scope.round_ids))
        if scope.city_ids is not None:
            query = query.where(Round.city_id.in_(scope.city_ids))
        if scope.since is not None:
            query = query.where(
                Round.opens_at < (scope.until or utcnow()), Round.closes_at > scope.since
            )
        return (await self.session.scalars(query)).all()

    async def previous_round(self, round_: Round) -> Round | None:
        """The latest earlier round in the same city."""
        query = (
            select(Round)
            .where(
                Round.city_id == round_.city_id,
                Round.opens_at < round_.opens_at,
                Round.id != round_.id,
            )
            .order_by(Round.opens_at.desc())
            .limit(1)
        )
        return (await self.session.scalars(query)).first()

    async def comment_city(self, answer_id: int) -> str | None:
        """The city a free-text answer is about (to check who may moderate it)."""
        if not serial(answer_id):
            return None
        query = (
            select(Practice.city_id)
            .join(Response, Response.practice_id == Practice.id)
            .join(Answer, Answer.response_id == Response.id)
            .where(Answer.id == answer_id, Answer.value_text.is_not(None))
        )
        return await self.session.scalar(query)

    async def set_hidden(self, answer_id: int, hidden: bool, actor: str) -> bool:
        """Hide or show a comment; False when there is no such answer."""
        if not serial(answer_id) or await self.session.get(Answer, answer_id) is None:
            return False
        row = await self.session.get(CommentModeration, answer_id)
        if row is None:
            self.session.add(
                CommentModeration(
                    answer_id=answer_id, hidden=hidden, changed_by=actor, changed_at=utcnow()
                )
            )
        else:
            row.hidden, row.changed_by, row.changed_at = hidden, actor, utcnow()
        await self.session.flush()
        return True


class ReportRepository(_Repository):
    """Compiled reports, each period once."""

    async def exists(self, period_key: str) -> bool:
        """Whether a report for this period was compiled already."""
        query = select(ReportRecord.id).where(ReportRecord.period_key == period_key)
        return (await self.session.scalar(query)) is not None

    async def add(
        self,
        period_key: str,
        kind: str,
        label: str,
        locale: str,
        fmt: str,
        filename: str,
    ) -> ReportRecord | None:
        """Record a report unless its period exists in this language and format (a racing
        compiler loses quietly)."""
        statement = (
            self._insert(ReportRecord)
            .values(
                period_key=period_key,
                kind=kind,
                label=label,
                locale=locale,
                format=fmt,
                filename=filename,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(
                index_elements=[ReportRecord.period_key, ReportRecord.locale, ReportRecord.format]
            )
        )
        result = await self.session.execute(statement)
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        query = select(ReportRecord).where(
            ReportRecord.period_key == period_key,
            ReportRecord.locale == locale,
            ReportRecord.format == fmt,
        )
        return (await self.session.scalars(query)).first()

    async def get(self, report_id: int) -> ReportRecord | None:
        """One report."""
        return await self.session.get(ReportRecord, report_id)

    async def latest(self, limit: int = 20) -> Sequence[ReportRecord]:
        """The newest reports."""
        query = select(ReportRecord).order_by(ReportRecord.id.desc()).limit(limit)
        return (await self.session.scalars(query)).all()

    async def prune(self, before: datetime) -> int:
        """Forget the records of reports compiled before a moment; how many."""
        result = await self.session.execute(
            delete(ReportRecord).where(ReportRecord.created_at < before)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
