"""What staff made public, and the cities' replies to published results (SQL only)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from storage.models import Practice, PracticeReply, Publication
from storage.repositories import _Repository

PROPOSED, APPROVED, REJECTED = "proposed", "approved", "rejected"


class PublicationRepository(_Repository):
    """Rows of `publications`: a kind ("round", "year") and its key."""

    async def add(self, kind: str, key: str, actor: str, now: datetime) -> bool:
        """Publish something once; False when it was published already."""
        statement = self._insert(Publication).values(
            kind=kind, key=key, published_by=actor, published_at=now
        )
        result = await self.session.execute(statement.on_conflict_do_nothing())
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def get(self, kind: str, key: str) -> Publication | None:
        """One publication, if it exists."""
        return await self.session.get(Publication, (kind, key))

    async def keys(self, kind: str) -> list[str]:
        """The keys published of a kind."""
        query = select(Publication.key).where(Publication.kind == kind)
        return list((await self.session.scalars(query)).all())


class ReplyRepository(_Repository):
    """The cities' public responses to a practice's results."""

    async def add(
        self, practice_id: str, year: int, locale: str, text: str, actor: str, now: datetime
    ) -> PracticeReply:
        """A proposed reply."""
        row = PracticeReply(
            practice_id=practice_id,
            year=year,
            locale=locale,
            text=text,
            status=PROPOSED,
            proposed_by=actor,
            proposed_at=now,
        )
        self.session.add(row)
        await self.session.flush()
        return row

    async def get(self, reply_id: int, *, lock: bool = False) -> PracticeReply | None:
        """One reply."""
        query = select(PracticeReply).where(PracticeReply.id == reply_id)
        if lock:
            query = query.with_for_update()
        return (await self.session.scalars(query)).first()

    async def listing(
        self, status: str | None = None, city_ids: Sequence[str] | None = None
    ) -> list[PracticeReply]:
        """Replies, oldest first, maybe of one status and of some cities only."""
        query = select(PracticeReply).order_by(PracticeReply.id)
        if status is not None:
            query = query.where(PracticeReply.status == status)
        if city_ids is not None:
            in_cities = select(Practice.id).where(Practice.city_id.in_(city_ids))
            query = query.where(PracticeReply.practice_id.in_(in_cities))
        return list((await self.session.scalars(query)).all())

    async def approved(self, year: int, practice_ids: Sequence[str] | None) -> list[PracticeReply]:
        """The approved replies of a year, oldest first (a newer one replaces an older one)."""
        query = (
            select(PracticeReply)
            .where(PracticeReply.year == year, PracticeReply.status == APPROVED)
            .order_by(PracticeReply.decided_at, PracticeReply.id)
        )
        if practice_ids is not None:
            query = query.where(PracticeReply.practice_id.in_(practice_ids))
        return list((await self.session.scalars(query)).all())
