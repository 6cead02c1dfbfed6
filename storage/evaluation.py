"""The annual evaluation's tables by intent: editions, their practices, nominations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Analysis,
    Edition,
    EditionPractice,
    Juror,
    JuryScore,
    Nomination,
    Reanalysis,
)
from storage.repositories import MAX_SERIAL


class EditionRepository:
    """Editions of the annual evaluation, one per year."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, year: int, *, lock: bool = False) -> Edition | None:
        """One edition (locked for this transaction when asked)."""
        return await self.session.get(Edition, year, with_for_update=lock)

    async def add(self, edition: Edition) -> Edition:
        """Store a new edition."""
        self.session.add(edition)
        await self.session.flush()
        return edition

    async def listing(self) -> Sequence[Edition]:
        """Every edition, newest first."""
        return (await self.session.scalars(select(Edition).order_by(Edition.year.desc()))).all()

    async def unfinished(self, moment: datetime) -> Sequence[Edition]:
        """Editions not closed whose nominations have opened by a moment (locked: one pass of
        the scheduler moves each)."""
        query = (
            select(Edition)
            .where(Edition.status != "closed", Edition.nominations_open_at <= moment)
            .order_by(Edition.year)
            .with_for_update()
        )
        return (await self.session.scalars(query)).all()


class NominationRepository:
    """Proposed practices and the practices of each edition."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, nomination: Nomination) -> Nomination:
        """Store a new proposal."""
        self.session.add(nomination)
        await self.session.flush()
        return nomination

    async def get(self, nomination_id: int, *, lock: bool = False) -> Nomination | None:
        """One proposal (locked for this transaction when asked)."""
        if not 0 < nomination_id <= MAX_SERIAL:
            return None
        return await self.session.get(Nomination, nomination_id, with_for_update=lock)

    async def of_edition(self, year: int, status: str | None = None) -> Sequence[Nomination]:
        """An edition's proposals, oldest first, optionally only those with one status."""
        query = select(Nomination).where(Nomination.edition_year == year)
        if status is not None:
            query = query.where(Nomination.status == status)
        return (await self.session.scalars(query.order_by(Nomination.id))).all()

    async def count_since(self, proposer: str, since: datetime) -> int:
        """How many proposals one person made since a moment."""
        query = select(func.count(Nomination.id)).where(
            Nomination.proposer == proposer, Nomination.created_at >= since
        )
        return int(await self.session.scalar(query) or 0)

    async def add_practice(self, year: int, practice_id: str, origin: str) -> None:
        """Put a practice on an edition's list (once)."""
        if await self.session.get(EditionPractice, (year, practice_id)) is None:
            self.session.add(
                EditionPractice(edition_year=year, practice_id=practice_id, origin=origin)
            )
            await self.session.flush()

    async def practices(self, year: int) -> Sequence[EditionPractice]:
        """The practices of an edition, in the order they were added."""
        query = select(EditionPractice).where(EditionPractice.edition_year == year)
        return (await self.session.scalars(query.order_by(EditionPractice.practice_id))).all()


class JuryRepository:
    """Jurors of each edition and their scores."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def jurors(self, year: int) -> Sequence[Juror]:
        """An edition's jurors, by letter."""
        query = select(Juror).where(Juror.edition_year == year).order_by(Juror.label)
        return (await self.session.scalars(query)).all()

    async def juror(self, year: int, user_id: int, *, lock: bool = False) -> Juror | None:
        """One juror of an edition (locked for this transaction when asked)."""
        return await self.session.get(Juror, (year, user_id), with_for_update=lock)

    async def add_juror(self, juror: Juror) -> Juror:
        """Store a new juror."""
        self.session.add(juror)
        await self.session.flush()
        return juror

    async def scores(self, year: int, user_id: int | None = None) -> Sequence[JuryScore]:
        """An edition's scores (and recusals), of one juror when named."""
        query = select(JuryScore).where(JuryScore.edition_year == year)
        if user_id is not None:
            query = query.where(JuryScore.telegram_user_id == user_id)
        order = (JuryScore.telegram_user_id, JuryScore.practice_id, JuryScore.criterion)
        return (await self.session.scalars(query.order_by(*order))).all()

    async def put_score(self, row: JuryScore) -> None:
        """Store a score, replacing the juror's earlier one for the practice and criterion."""
        key = (row.edition_year, row.telegram_user_id, row.practice_id, row.criterion)
        existing = await self.session.get(JuryScore, key)
        if existing is None:
            self.session.add(row)
        else:
            existing.score, existing.justification = row.score, row.justification
            existing.updated_at = row.updated_at
        await self.session.flush()

    async def clear_practice(self, year: int, user_id: int, practice_id: str) -> None:
        """Forget a juror's scores (and recusal) of one practice."""
        await self.session.execute(
            delete(JuryScore).where(
                JuryScore.edition_year == year,
                JuryScore.telegram_user_id == user_id,
                JuryScore.practice_id == practice_id,
            )
        )


class AnalysisRepository:
    """Stage one (the analysis of nominated practices) and the re-analysis verdicts."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, year: int, practice_id: str, *, lock: bool = False) -> Analysis | None:
        """The analysis of one practice in an edition (locked for this transaction when asked)."""
        return await self.session.get(Analysis, (year, practice_id), with_for_update=lock)

    async def add(self, analysis: Analysis) -> Analysis:
        """Store a new analysis."""
        self.session.add(analysis)
        await self.session.flush()
        return analysis

    async def of_edition(self, year: int) -> Sequence[Analysis]:
        """An edition's analyses, by practice."""
        query = select(Analysis).where(Analysis.edition_year == year)
        return (await self.session.scalars(query.order_by(Analysis.practice_id))).all()

    async def verdict(
        self, year: int, practice_id: str, *, lock: bool = False
    ) -> Reanalysis | None:
        """An edition's re-analysis verdict on one practice."""
        return await self.session.get(Reanalysis, (year, practice_id), with_for_update=lock)

    async def add_verdict(self, verdict: Reanalysis) -> Reanalysis:
        """Store a new re-analysis verdict."""
        self.session.add(verdict)
        await self.session.flush()
        return verdict

    async def verdicts(
        self, year: int | None = None, practice_id: str | None = None
    ) -> Sequence[Reanalysis]:
        """Re-analysis verdicts of an edition and/or of a practice, oldest edition first."""
        query = select(Reanalysis)
        if year is not None:
            query = query.where(Reanalysis.edition_year == year)
        if practice_id is not None:
            query = query.where(Reanalysis.practice_id == practice_id)
        order = (Reanalysis.edition_year, Reanalysis.practice_id)
        return (await self.session.scalars(query.order_by(*order))).all()

    async def analyses_of(self, practice_id: str) -> Sequence[Analysis]:
        """Every edition's analysis of one practice, oldest first."""
        query = select(Analysis).where(Analysis.practice_id == practice_id)
        return (await self.session.scalars(query.order_by(Analysis.edition_year))).all()

    async def editions_of(self, practice_id: str) -> Sequence[EditionPractice]:
        """The editions a practice was on the list of, oldest first."""
        query = select(EditionPractice).where(EditionPractice.practice_id == practice_id)
        return (await self.session.scalars(query.order_by(EditionPractice.edition_year))).all()
