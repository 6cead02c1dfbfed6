"""The annual evaluation's tables by intent: editions and their phases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Edition


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
