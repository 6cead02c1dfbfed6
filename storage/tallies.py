"""Running counts behind the audit summaries, kept in the transaction that changes a response.

A summary reads these few thousand rows instead of every answer:
- response_tallies: responses per round, practice, month started, language and status;
- answer_tallies: what AuditRepository.raw_value_counts counts (non-skipped answers with a number
  or an option, of completed responses) per round, practice, survey version, month, question
  and value;
- masked_comments: the free-text answers of completed responses, contacts masked once when the
  response is completed instead of at every summary.

A month is the local month (YYYY-MM) in which a response started, in the time zone the tallies
were counted in (the app setting "tally_timezone"), so a local calendar year is a sum of months.
`recount` rebuilds everything from the raw rows; start-up runs it when the configured TIMEZONE
differs from the counted one (first start after migration 0005, or TIMEZONE changed), and
`auditbot db recount` runs it by hand (e.g. after a bulk import or a change to masking). While
no zone is counted nothing is maintained and the summaries read the raw rows.

Answers of a completed response never change: the engine drops every press on an earlier
question once a response is completed (its current question is None and the stage FINISHED),
so answers are counted once, at completion, and subtracted when the response goes.

Inside the answer pipeline's batches (`counted_at_the_end`) the counts of all the batch's events
are added up and written when the batch ends, each table in one statement with its keys in
order: two processes' batches then lock the same tally rows in the same order and cannot
deadlock on them (PostgreSQL would end one of them after deadlock_timeout, a second's stall).
What an event reads to count (its answers) is still read when the event happens.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.cells import NO_ROUND, ROUND_PERIOD, Cell
from storage.masking import mask_contacts
from storage.models import (
    PREVIEW,
    Answer,
    AnswerTally,
    AppSetting,
    CellChange,
    MaskedComment,
    Response,
    ResponseTally,
)

ZONE_KEY = "tally_timezone"
_ZONE = select(AppSetting.value).where(AppSetting.key == ZONE_KEY)
_T = TypeVar("_T")
COMPLETED = "completed"
NO_NUMBER = -(2**31)  # an answer without a number (scales are 1-5)
NO_OPTION = ""  # an answer without an option
_RESPONSE_KEY = ("practice_id", "round_id", "period", "locale", "status")
_ANSWER_KEY = (
    "practice_id",
    "survey_id",
    "question_id",
    "value_number",
    "value_option",
    "period",
    "round_id",
)
_CELL_KEY = ("practice_id", "round_id", "period")
# Each counted table: its key columns and its count column, in the order they are written.
_COUNTED = (
    (ResponseTally, _RESPONSE_KEY, "n"),
    (CellChange, _CELL_KEY, "changes"),
    (AnswerTally, _ANSWER_KEY, "n"),
)
_ROWS_PER_STATEMENT = 500  # PostgreSQL takes at most 32,767 parameters in one statement
_UNREAD = object()


# What a value count groups by, in the answers and in the tallies (the tallies' key order).
VALUE_KEY = (
    Response.practice_id,
    Response.survey_id,
    Answer.question_id,
    Answer.value_number,
    Answer.value_option,
)
TALLIED_VALUE_KEY = (
    AnswerTally.practice_id,
    AnswerTally.survey_id,
    AnswerTally.question_id,
    AnswerTally.value_number,
    AnswerTally.value_option,
)


def dialect_insert(bind: AsyncSession | Connection, model: Any) -> Any:
    """A dialect-specific INSERT that supports ON CONFLICT (for a session or a connection)."""
    dialect = bind.dialect.name if isinstance(bind, Connection) else bind.get_bind().dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(model)


def period_of(moment: datetime, zone: ZoneInfo) -> str:
    """The local month of a moment, 'YYYY-MM'."""
    return moment.astimezone(zone).strftime("%Y-%m")


def month_period(moment: datetime, zone: ZoneInfo) -> str | None:
    """The month that starts at this moment (local midnight of a 1st), else None."""
    local = moment.astimezone(zone)
    return local.strftime("%Y-%m") if local.day == 1 and local.time() == time() else None


def months(
    first: datetime, last: datetime, zone: ZoneInfo
) -> Iterator[tuple[str, datetime, datetime]]:
    """(period, start, end) of every local month from the one of `first` to the one of `last`."""
    month = first.astimezone(zone).date().replace(day=1)
    while month <= last.astimezone(zone).date():
        following = (month + timedelta(days=32)).replace(day=1)
        start = datetime.combine(month, time(), tzinfo=zone)
        yield month.strftime("%Y-%m"), start, datetime.combine(following, time(), tzinfo=zone)
        month = following


def counted_responses() -> ColumnElement[bool]:
    """The responses anything counts: all but the console preview's (`auditbot chat` stores
    its answers like any other so that it behaves the same, but they are not data). Every
    count reads through here: the tallies below, and AuditRepository's raw queries."""
    return Response.channel != PREVIEW


def counted(response: Response) -> bool:
    """counted_responses for one loaded response."""
    return response.channel != PREVIEW


def counted_answers() -> ColumnElement[bool]:
    """The answers a value count counts (of completed responses)."""
    return and_(
        Answer.skipped.is_(False),
        (Answer.value_number.is_not(None)) | (Answer.value_option.is_not(None)),
    )


# connection.info's key for the counts of a batch (`counted_at_the_end`).
DEFERRED = "deferred_to_commit"


class TallyChanges:
    """Counts to add to the tallies, per table and key, written in key order (`write`). Inside a
    batch (`counted_at_the_end`) they are the batch's, gone with it if it is rolled back."""

    def __init__(self) -> None:
        self.added: list[tuple[Any, tuple[Any, ...], int]] = []
        self.zone: Any = _UNREAD  # the counted time zone, read once per batch

    def add(self, model: Any, key: tuple[Any, ...], n: int) -> None:
        self.added.append((model, key, n))

    def write(self, connection: Connection) -> None:
        """One upsert per table, keys in one total order shared by every process."""
        totals: dict[Any, Counter[tuple[Any, ...]]] = {}
        for model, key, n in self.added:
            totals.setdefault(model, Counter())[key] += n
        self.added.clear()
        for model, names, column in _COUNTED:
            counts = sorted(totals.get(model, Counter()).items(), key=_in_key_order)
            rows = [{**dict(zip(names, key, strict=True)), column: n} for key, n in counts if n]
            for start in range(0, len(rows), _ROWS_PER_STATEMENT):
                statement = dialect_insert(connection, model).values(
                    rows[start : start + _ROWS_PER_STATEMENT]
                )
                counted = getattr(model, column)
                connection.execute(
                    statement.on_conflict_do_update(
                        index_elements=list(names),
                        set_={column: counted + getattr(statement.excluded, column)},
                    )
                )


def _in_key_order(item: tuple[tuple[Any, ...], int]) -> tuple[Any, ...]:
    return tuple((value is not None, value) for value in item[0])


@contextmanager
def counted_at_the_end(connection: Connection) -> Iterator[None]:
    """Within it, the tallies' counts are gathered and written when it ends without an error
    (see the module's docstring); the answer pipeline runs each batch inside it."""
    changes = TallyChanges()
    connection.info[DEFERRED] = changes
    try:
        yield
    finally:
        del connection.info[DEFERRED]
    changes.write(connection)


class TallyCounter:
    """Keeps the tallies in step with responses and answers, over a synchronous connection
    inside the caller's transaction (the answer pipeline's writer, or `Tallies` below)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.batch: TallyChanges | None = connection.info.get(DEFERRED)

    def zone(self) -> ZoneInfo | None:
        """The time zone the tallies are counted in; None while they are not counted."""
        if self.batch is not None and self.batch.zone is not _UNREAD:
            return self.batch.zone
        value = self.connection.scalar(_ZONE)
        zone = ZoneInfo(value) if value else None
        if self.batch is not None:
            self.batch.zone = zone
        return zone

    @contextmanager
    def _counting(self) -> Iterator[TallyChanges]:
        """Where counts go: the batch's, or written at once."""
        if self.batch is not None:
            yield self.batch
            return
        changes = TallyChanges()
        yield changes
        changes.write(self.connection)

    def response_added(self, response: Response) -> None:
        """A response started."""
        zone = self.zone()
        if zone is not None and counted(response):
            with self._counting() as changes:
                changes.add(ResponseTally, _response_key(response, zone), 1)

    def status_changed(self, response: Response, before: str) -> None:
        """A response moved from status `before` to its current one (e.g. completed)."""
        zone = self.zone()
        if zone is None or not counted(response):
            return
        completes_or_reopens = (before == COMPLETED) != (response.status == COMPLETED)
        sign = 1 if response.status == COMPLETED else -1
        with self._counting() as changes:
            changes.add(ResponseTally, _response_key(response, zone), 1)
            changes.add(ResponseTally, _response_key(response, zone, before), -1)
            if completes_or_reopens:
                changes.add(CellChange, _cell_key(response, zone), sign)
                period = period_of(response.started_at, zone)
                self._count_answers(changes, Answer.response_id == response.id, period, sign)
        if not completes_or_reopens:
            return
        if sign > 0:
            self._copy_comments(Answer.response_id == response.id)
        else:
            self.connection.execute(
                delete(MaskedComment).where(
                    MaskedComment.answer_id.in_(
                        select(Answer.id).where(Answer.response_id == response.id)
                    )
                )
            )

    def responses_removed(self, responses: Sequence[Response]) -> None:
        """Responses are about to be deleted with their answers (their comments go by cascade)."""
        zone = self.zone()
        responses = [r for r in responses if counted(r)]
        if zone is None or not responses:
            return
        with self._counting() as changes:
            for response in sorted(responses, key=lambda r: r.id):
                changes.add(ResponseTally, _response_key(response, zone), -1)
                if response.status == COMPLETED:
                    changes.add(CellChange, _cell_key(response, zone), -1)
                    period = period_of(response.started_at, zone)
                    self._count_answers(changes, Answer.response_id == response.id, period, -1)

    def comments_erased(self, answered_before: datetime) -> None:
        """Free-text answers given before a moment were blanked (retention)."""
        self.connection.execute(
            delete(MaskedComment).where(MaskedComment.answered_at < answered_before)
        )

    def ensure(self, zone: ZoneInfo) -> bool:
        """Recount unless counted in `zone` already; True when recounted. A second process
        starting at the same time waits on the setting's row, then finds the work done."""
        claim = dialect_insert(self.connection, AppSetting).values(key=ZONE_KEY, value="")
        self.connection.execute(claim.on_conflict_do_nothing())
        locked = select(AppSetting.value).where(AppSetting.key == ZONE_KEY).with_for_update()
        if self.connection.scalar(locked) == zone.key:
            return False
        self.recount(zone)
        return True

    def recount(self, zone: ZoneInfo) -> None:
        """Rebuild every tally from the raw rows, by local month in `zone`."""
        if self.connection.dialect.name == "postgresql":
            # Writers finish first and wait for us: no response changes between count and commit.
            self.connection.execute(text("LOCK TABLE responses IN SHARE MODE"))
        for model in (ResponseTally, AnswerTally, MaskedComment, CellChange):
            self.connection.execute(delete(model))
        first, last = (
            self.connection.execute(
                select(func.min(Response.started_at), func.max(Response.started_at))
            )
        ).one()
        for period, start, end in months(first, last, zone) if first and last else ():
            in_month = and_(
                Response.started_at >= start, Response.started_at < end, counted_responses()
            )
            self._recount_responses(in_month, period)
            done = and_(in_month, Response.status == COMPLETED)
            self._recount_answers(done, period)
            self._copy_comments(done)
        self._all_cells_changed()
        statement = dialect_insert(self.connection, AppSetting).values(key=ZONE_KEY, value=zone.key)
        self.connection.execute(
            statement.on_conflict_do_update(index_elements=["key"], set_={"value": zone.key})
        )

    def _all_cells_changed(self) -> None:
        """After a recount every cell is checked again: its changes are its completed responses."""
        is_round = ResponseTally.round_id != NO_ROUND
        period = case((is_round, literal(ROUND_PERIOD)), else_=ResponseTally.period)
        query = (
            select(
                ResponseTally.practice_id, ResponseTally.round_id, period, func.sum(ResponseTally.n)
            )
            .where(ResponseTally.status == COMPLETED)
            .group_by(ResponseTally.practice_id, ResponseTally.round_id, period)
            .having(func.sum(ResponseTally.n) > 0)
        )
        self.connection.execute(
            insert(CellChange).from_select(["practice_id", "round_id", "period", "changes"], query)
        )

    def _recount_responses(self, where: ColumnElement[bool], period: str) -> None:
        query = (
            select(
                Response.practice_id,
                func.coalesce(Response.round_id, NO_ROUND),
                literal(period),
                Response.locale,
                Response.status,
                func.count(),
            )
            .where(where)
            .group_by(Response.round_id, Response.practice_id, Response.locale, Response.status)
        )
        self.connection.execute(insert(ResponseTally).from_select([*_RESPONSE_KEY, "n"], query))

    def _count_answers(
        self, changes: TallyChanges, where: ColumnElement[bool], period: str, sign: int
    ) -> None:
        """Count (or subtract) the values of the completed responses matching `where`, read now."""
        for row in self.connection.execute(_answer_groups(where, period, sign)):
            changes.add(AnswerTally, tuple(row[:-1]), row[-1])

    def _recount_answers(self, where: ColumnElement[bool], period: str) -> None:
        """The value counts of every completed response matching `where` (the tallies empty)."""
        query = _answer_groups(where, period, 1)
        self.connection.execute(insert(AnswerTally).from_select([*_ANSWER_KEY, "n"], query))

    def _copy_comments(self, where: ColumnElement[bool]) -> None:
        """Store the masked free-text answers of the responses matching `where`."""
        query = (
            select(
                Answer.id,
                Response.round_id,
                Response.practice_id,
                Answer.question_id,
                Response.started_at,
                Answer.value_text,
                Answer.answered_at,
            )
            .join(Response, Response.id == Answer.response_id)
            .where(where, Answer.value_text.is_not(None))
        )
        rows = [_masked(row) for row in self.connection.execute(query)]
        if rows:
            self.connection.execute(insert(MaskedComment), rows)


class Tallies:
    """TallyCounter for the async units of work: the same code, run through the session's
    connection (each statement then awaits the driver, as every other repository's does)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _run(self, work: Callable[[TallyCounter], _T]) -> _T:
        await self.session.flush()  # what the session holds is in the rows counted
        return await self.session.run_sync(lambda sync: work(TallyCounter(sync.connection())))

    async def zone(self) -> ZoneInfo | None:
        """The time zone the tallies are counted in; None while they are not counted."""
        return await self._run(TallyCounter.zone)

    async def response_added(self, response: Response) -> None:
        """A response started."""
        await self._run(lambda tallies: tallies.response_added(response))

    async def status_changed(self, response: Response, before: str) -> None:
        """A response moved from status `before` to its current one (e.g. completed)."""
        await self._run(lambda tallies: tallies.status_changed(response, before))

    async def responses_removed(self, responses: Sequence[Response]) -> None:
        """Responses are about to be deleted with their answers."""
        await self._run(lambda tallies: tallies.responses_removed(responses))

    async def comments_erased(self, answered_before: datetime) -> None:
        """Free-text answers given before a moment were blanked (retention)."""
        await self._run(lambda tallies: tallies.comments_erased(answered_before))

    async def ensure(self, zone: ZoneInfo) -> bool:
        """Recount unless counted in `zone` already; True when recounted."""
        return await self._run(lambda tallies: tallies.ensure(zone))

    async def recount(self, zone: ZoneInfo) -> None:
        """Rebuild every tally from the raw rows, by local month in `zone`."""
        await self._run(lambda tallies: tallies.recount(zone))


def cell_of(response: Response, zone: ZoneInfo) -> Cell:
    """The publishable cell of a response: its round's, else its month's."""
    if response.round_id:
        return Cell(response.practice_id, response.round_id, ROUND_PERIOD)
    return Cell(response.practice_id, NO_ROUND, period_of(response.started_at, zone))


def _cell_key(response: Response, zone: ZoneInfo) -> tuple[Any, ...]:
    cell = cell_of(response, zone)
    return (cell.practice_id, cell.round_id, cell.period)


def _response_key(response: Response, zone: ZoneInfo, status: str | None = None) -> tuple[Any, ...]:
    return (
        response.practice_id,
        response.round_id or NO_ROUND,
        period_of(response.started_at, zone),
        response.locale,
        status or response.status,
    )


def _answer_groups(where: ColumnElement[bool], period: str, sign: int) -> Select[*tuple[Any, ...]]:
    """Per round, practice, survey version, question and value: how many answers (× sign)."""
    keys = (*VALUE_KEY, Response.round_id)
    return (
        select(
            Response.practice_id,
            Response.survey_id,
            Answer.question_id,
            func.coalesce(Answer.value_number, NO_NUMBER),
            func.coalesce(Answer.value_option, NO_OPTION),
            literal(period),
            func.coalesce(Response.round_id, NO_ROUND),
            func.count() * sign,
        )
        .join(Response, Response.id == Answer.response_id)
        .where(where, counted_answers())
        .group_by(*keys)
        .order_by(*keys)
    )


def _masked(row: Iterable[Any]) -> dict[str, Any]:
    answer_id, round_id, practice_id, question_id, started_at, value, answered_at = row
    return {
        "answer_id": answer_id,
        "round_id": round_id,
        "practice_id": practice_id,
        "question_id": question_id,
        "started_at": started_at,
        "text": mask_contacts(value),
        "answered_at": answered_at,
        "answered_on": answered_at.date(),
    }
