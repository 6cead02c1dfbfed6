"""Published versions of the cells' figures, and the changes each cell saw since its latest one.

Reports read only the versions (audit/disclosure.py says when a cell gets a new one); the live
counts behind a new version come from the tallies (storage/tallies.py), per cell.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, func, or_, select, update

from audit.disclosure import Cell, Decision, Version
from storage.models import (
    AnswerTally,
    CellChange,
    MaskedComment,
    Practice,
    PublishedCell,
    Response,
    ResponseTally,
    Round,
)
from storage.repositories import _Repository
from storage.tallies import (
    NO_NUMBER,
    NO_OPTION,
    NO_ROUND,
    ROUND_PERIOD,
    Tallies,
    counted_responses,
    dialect_insert,
    period_of,
)


@dataclass(frozen=True)
class CellScope:
    """Which cells a report covers: some rounds, or the rounds opened and the months (outside
    rounds) within a window, of some cities (None: no restriction)."""

    round_ids: tuple[int, ...] | None = None
    since: datetime | None = None
    until: datetime | None = None
    city_ids: tuple[str, ...] | None = None


@dataclass
class LiveCell:
    """A cell's live counts: value counts (survey, question, number, option, n), responses
    (status, locale, n) and the answer ids of its comments."""

    values: list[tuple[int, str, int | None, str | None, int]] = field(default_factory=list)
    responses: list[tuple[str, str, int]] = field(default_factory=list)
    comment_ids: list[int] = field(default_factory=list)
    channels: dict[str, int] = field(default_factory=dict)  # completed responses per channel


_VERSION_COLUMNS = (
    PublishedCell.practice_id,
    PublishedCell.round_id,
    PublishedCell.period,
    PublishedCell.version,
    PublishedCell.final,
    PublishedCell.figures,
    PublishedCell.comment_ids,
    PublishedCell.published_at,
)


def _version(row: Any) -> Version:
    """A version from a plain row of _VERSION_COLUMNS."""
    return Version(
        Cell(row.practice_id, row.round_id, row.period),
        row.version,
        row.final,
        row.figures,
        tuple(row.comment_ids),  # JSON numbers: ints already
        row.published_at,
    )


class PublishedRepository(_Repository):
    """Versions and changes of the publishable cells."""

    def _where(self, table: Any, scope: CellScope, zone: ZoneInfo) -> ColumnElement[bool]:
        """The cells of a scope, on a table keyed by practice, round and period."""
        clauses: list[ColumnElement[bool]] = []
        if scope.round_ids is not None:
            clauses.append(table.round_id.in_(scope.round_ids))
        if scope.since is not None or scope.until is not None:
            rounds = select(Round.id)
            months = [table.round_id == NO_ROUND]
            if scope.since is not None:
                rounds = rounds.where(Round.opens_at >= scope.since)
                months.append(table.period >= period_of(scope.since, zone))
            if scope.until is not None:
                rounds = rounds.where(Round.opens_at < scope.until)
                months.append(table.period < period_of(scope.until, zone))
            clauses.append(or_(table.round_id.in_(rounds), and_(*months)))
        if scope.city_ids is not None:
            in_cities = select(Practice.id).where(Practice.city_id.in_(scope.city_ids))
            clauses.append(table.practice_id.in_(in_cities))
        return and_(True, *clauses)

    async def latest(self, scope: CellScope, zone: ZoneInfo) -> list[Version]:
        """The latest version of every cell in a scope."""
        newest = (
            select(func.max(PublishedCell.id))
            .where(self._where(PublishedCell, scope, zone))
            .group_by(PublishedCell.practice_id, PublishedCell.round_id, PublishedCell.period)
        )
        query = select(*_VERSION_COLUMNS).where(PublishedCell.id.in_(newest))
        connection = await self.session.connection()  # plain rows: no ORM loading machinery
        return [_version(row) for row in await connection.execute(query)]

    async def history(self, cells: Sequence[Cell]) -> dict[Cell, list[Version]]:
        """Every version of some cells, oldest first."""
        result: dict[Cell, list[Version]] = {cell: [] for cell in cells}
        rounds = {c.round_id for c in cells}
        query = (
            select(*_VERSION_COLUMNS)
            .where(PublishedCell.round_id.in_(rounds))
            .order_by(PublishedCell.version)
        )
        for row in await (await self.session.connection()).execute(query):
            version = _version(row)
            if version.cell in result:
                result[version.cell].append(version)
        return result

    async def due(self, scope: CellScope, zone: ZoneInfo, k: int) -> dict[Cell, int]:
        """Cells of a scope that may need a new version, with the changes counted for them: k or
        more changes, or a closed round's cell that has no final version yet."""
        query = select(
            CellChange.practice_id, CellChange.round_id, CellChange.period, CellChange.changes
        ).where(self._where(CellChange, scope, zone), CellChange.changes >= k)
        due = {Cell(p, r, period): n for p, r, period, n in await self.session.execute(query)}
        # A closed round whose cells were never frozen (closed before disclosure control, or
        # without answers then): looked up per round, not per response.
        finals = select(PublishedCell.id).where(
            PublishedCell.round_id == Round.id, PublishedCell.final.is_(True)
        )
        closed = select(Round.id).where(Round.status == "closed", ~finals.exists())
        if scope.round_ids is not None:
            closed = closed.where(Round.id.in_(scope.round_ids))
        if scope.city_ids is not None:
            closed = closed.where(Round.city_id.in_(scope.city_ids))
        if scope.since is not None:
            closed = closed.where(Round.opens_at >= scope.since)
        if scope.until is not None:
            closed = closed.where(Round.opens_at < scope.until)
        for round_id in (await self.session.scalars(closed)).all():
            for cell in await self.round_cells(round_id):
                due.setdefault(cell, 0)
        return due

    async def round_cells(self, round_id: int) -> list[Cell]:
        """The cells of a round that have completed responses."""
        query = (
            select(Response.practice_id)
            .where(
                Response.round_id == round_id,
                Response.status == "completed",
                counted_responses(),
            )
            .distinct()
        )
        return [Cell(p, round_id, ROUND_PERIOD) for p in await self.session.scalars(query)]

    async def live(self, cells: Sequence[Cell]) -> dict[Cell, LiveCell]:
        """The live counts of some cells, from the tallies."""
        result: dict[Cell, LiveCell] = {cell: LiveCell() for cell in cells}
        by_round = defaultdict(set)
        for cell in cells:
            by_round[cell.round_id].add(cell.practice_id)
        for round_id, practices in by_round.items():
            await self._live_of_round(round_id, sorted(practices), result)
        return result

    async def _live_of_round(
        self, round_id: int, practices: list[str], into: dict[Cell, LiveCell]
    ) -> None:
        """The live counts of one round's cells (round 0: the months outside rounds)."""

        def period(value: str) -> str:
            return value if round_id == NO_ROUND else ROUND_PERIOD

        values = (
            select(
                AnswerTally.practice_id,
                AnswerTally.period,
                AnswerTally.survey_id,
                AnswerTally.question_id,
                func.nullif(AnswerTally.value_number, NO_NUMBER),
                func.nullif(AnswerTally.value_option, NO_OPTION),
                AnswerTally.n,
            )
            .where(AnswerTally.round_id == round_id, AnswerTally.practice_id.in_(practices))
            .where(AnswerTally.n > 0)
        )
        for practice, month, survey, question, number, option, n in await self.session.execute(
            values
        ):
            cell = into.get(Cell(practice, round_id, period(month)))
            if cell is not None:
                cell.values.append((survey, question, number, option, n))
        responses = select(
            ResponseTally.practice_id,
            ResponseTally.period,
            ResponseTally.status,
            ResponseTally.locale,
            ResponseTally.n,
        ).where(
            ResponseTally.round_id == round_id,
            ResponseTally.practice_id.in_(practices),
            ResponseTally.n > 0,
        )
        for practice, month, status, locale, n in await self.session.execute(responses):
            cell = into.get(Cell(practice, round_id, period(month)))
            if cell is not None:
                cell.responses.append((status, locale, n))
        round_match = (
            MaskedComment.round_id.is_(None)
            if round_id == NO_ROUND
            else MaskedComment.round_id == round_id
        )
        comments = select(
            MaskedComment.answer_id, MaskedComment.practice_id, MaskedComment.started_at
        ).where(round_match, MaskedComment.practice_id.in_(practices))
        zone = await self._zone()
        channels = select(Response.practice_id, Response.channel, Response.started_at).where(
            Response.round_id.is_(None) if round_id == NO_ROUND else Response.round_id == round_id,
            Response.practice_id.in_(practices),
            Response.status == "completed",
            counted_responses(),
        )
        for practice, channel, started_at in await self.session.execute(channels):
            month = period_of(started_at, zone) if zone else ""
            cell = into.get(Cell(practice, round_id, period(month)))
            if cell is not None:
                cell.channels[channel] = cell.channels.get(channel, 0) + 1
        for answer_id, practice, started_at in await self.session.execute(comments):
            month = period_of(started_at, zone) if zone else ""
            cell = into.get(Cell(practice, round_id, period(month)))
            if cell is not None:
                cell.comment_ids.append(answer_id)

    async def _zone(self) -> ZoneInfo | None:
        return await Tallies(self.session).zone()

    async def add(self, cell: Cell, version: int, decision: Decision, now: datetime) -> bool:
        """Store a new version unless another process stored that version first."""
        statement = dialect_insert(self.session, PublishedCell).values(
            practice_id=cell.practice_id,
            round_id=cell.round_id,
            period=cell.period,
            version=version,
            final=decision.final,
            figures=decision.figures,
            comment_ids=list(decision.comment_ids),
            published_at=now,
        )
        result = await self.session.execute(statement.on_conflict_do_nothing())
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def seen(self, cell: Cell, changes: int) -> None:
        """The changes counted for a cell are in its latest version now (those counted since
        stay)."""
        await self.session.execute(
            update(CellChange)
            .where(
                CellChange.practice_id == cell.practice_id,
                CellChange.round_id == cell.round_id,
                CellChange.period == cell.period,
            )
            .values(
                changes=case((CellChange.changes > changes, CellChange.changes - changes), else_=0)
            )
        )
