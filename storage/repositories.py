"""Repositories: every query the application makes, by intent. They never commit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Answer,
    AppSetting,
    Category,
    City,
    Practice,
    ProcessedUpdate,
    Progress,
    Respondent,
    Response,
    Round,
    RoundPractice,
    Subscription,
    Survey,
    utcnow,
)


class _Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _insert(self, model: Any) -> Any:
        """A dialect-specific INSERT that supports ON CONFLICT."""
        dialect = self.session.get_bind().dialect.name
        return (pg_insert if dialect == "postgresql" else sqlite_insert)(model)


class SettingsRepository(_Repository):
    """Facts the bot keeps about itself."""

    async def get(self, key: str) -> str | None:
        """The stored value, or None."""
        row = await self.session.get(AppSetting, key)
        return row.value if row else None

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

    async def city(self, city_id: str) -> City | None:
        """One city."""
        return await self.session.get(City, city_id)

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
        return await self.session.get(Survey, survey_id)

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

    async def open_at(self, moment: datetime) -> Sequence[tuple[Round, list[str]]]:
        """Rounds open at a moment, each with its practice ids."""
        query = select(Round).where(
            Round.status == "open", Round.opens_at <= moment, Round.closes_at > moment
        )
        rounds = (await self.session.scalars(query)).all()
        if not rounds:
            return []
        links = (
            await self.session.execute(
                select(RoundPractice.round_id, RoundPractice.practice_id).where(
                    RoundPractice.round_id.in_([r.id for r in rounds])
                )
            )
        ).all()
        return [(r, [p for rid, p in links if rid == r.id]) for r in rounds]

    async def add(
        self,
        city_id: str,
        survey_id: int,
        practice_ids: Sequence[str],
        opens_at: datetime,
        closes_at: datetime,
        status: str = "planned",
    ) -> Round:
        """Create a round."""
        round_ = Round(
            city_id=city_id,
            survey_id=survey_id,
            opens_at=opens_at,
            closes_at=closes_at,
            status=status,
        )
        self.session.add(round_)
        await self.session.flush()
        self.session.add_all(RoundPractice(round_id=round_.id, practice_id=p) for p in practice_ids)
        await self.session.flush()
        return round_


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
        """Create or update the respondent and their progress."""
        row = await self.get(pseudonym)
        if row is None:
            self.session.add(Respondent(pseudonym=pseudonym, **respondent))
            await self.session.flush()
        else:
            for name, value in respondent.items():
                setattr(row, name, value)
        state = await self.session.get(Progress, pseudonym)
        if state is None:
            self.session.add(Progress(pseudonym=pseudonym, **progress))
        else:
            for name, value in progress.items():
                setattr(state, name, value)
            state.updated_at = utcnow()
        await self.session.flush()

    async def forget(self, pseudonym: str) -> None:
        """Erase the respondent with their progress, responses and answers."""
        response_ids = select(Response.id).where(Response.pseudonym == pseudonym)
        await self.session.execute(delete(Answer).where(Answer.response_id.in_(response_ids)))
        await self.session.execute(delete(Response).where(Response.pseudonym == pseudonym))
        await self.session.execute(delete(Progress).where(Progress.pseudonym == pseudonym))
        await self.session.execute(delete(Respondent).where(Respondent.pseudonym == pseudonym))


class ResponseRepository(_Repository):
    """Responses and their answers."""

    async def get(self, response_id: int) -> Response | None:
        """One response."""
        return await self.session.get(Response, response_id)

    async def add(self, **values: Any) -> Response:
        """Start a response."""
        response = Response(**values)
        self.session.add(response)
        await self.session.flush()
        return response

    async def update(self, response_id: int, **values: Any) -> None:
        """Change a response's status or current question."""
        response = await self.session.get(Response, response_id)
        assert response is not None
        for name, value in values.items():
            setattr(response, name, value)
        response.updated_at = utcnow()

    async def answers(self, response_ids: Sequence[int]) -> Sequence[Answer]:
        """The answers of some responses."""
        if not response_ids:
            return []
        query = select(Answer).where(Answer.response_id.in_(response_ids))
        return (await self.session.scalars(query)).all()

    async def of_respondent(self, pseudonym: str, *, since: datetime) -> Sequence[Response]:
        """A respondent's responses: all round ones, and always-on ones started since a date."""
        query = select(Response).where(
            Response.pseudonym == pseudonym,
            or_(Response.round_id.is_not(None), Response.started_at >= since),
        )
        return (await self.session.scalars(query)).all()

    async def save_answer(self, response_id: int, question_id: str, values: dict[str, Any]) -> None:
        """Store or replace one answer (a second press on the same question replaces, never adds)."""
        row = {
            "response_id": response_id,
            "question_id": question_id,
            "answered_at": utcnow(),
            **values,
        }
        statement = self._insert(Answer).values(**row)
        statement = statement.on_conflict_do_update(
            index_elements=[Answer.response_id, Answer.question_id],
            set_={
                name: statement.excluded[name]
                for name in row
                if name not in ("response_id", "question_id")
            },
        )
        await self.session.execute(statement)

    async def delete_answers(self, response_id: int, question_ids: Sequence[str]) -> None:
        """Remove answers that the respondent's path no longer includes."""
        await self.session.execute(
            delete(Answer).where(
                and_(Answer.response_id == response_id, Answer.question_id.in_(question_ids))
            )
        )

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
        statement = self._insert(Subscription).values(
            chat_id=chat_id,
            city_id=city_id,
            locale=locale,
            opted_in=True,
            blocked=False,
            created_at=utcnow(),
        )
        statement = statement.on_conflict_do_update(
            index_elements=[Subscription.chat_id, Subscription.city_id],
            set_={"locale": locale, "opted_in": True, "blocked": False},
        )
        await self.session.execute(statement)

    async def cities_of(self, chat_id: int) -> list[str]:
        """The cities a chat is opted in to."""
        query = select(Subscription.city_id).where(
            Subscription.chat_id == chat_id, Subscription.opted_in.is_(True)
        )
        return list((await self.session.scalars(query)).all())

    async def opt_out(self, chat_id: int) -> int:
        """Stop every invitation to a chat; returns how many subscriptions were active."""
        result = await self.session.execute(
            update(Subscription)
            .where(Subscription.chat_id == chat_id, Subscription.opted_in.is_(True))
            .values(opted_in=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def mark_blocked(self, chat_id: int) -> None:
        """The person blocked the bot: send them nothing more."""
        await self.session.execute(
            update(Subscription).where(Subscription.chat_id == chat_id).values(blocked=True)
        )

    async def forget_chat(self, chat_id: int) -> None:
        """Remove every subscription of a chat."""
        await self.session.execute(delete(Subscription).where(Subscription.chat_id == chat_id))


class UpdateLog(_Repository):
    """Update ids already handled, so a redelivered update is not handled twice."""

    async def claim(self, update_id: int) -> bool:
        """Record an update id; False when it was recorded before (a duplicate)."""
        statement = (
            self._insert(ProcessedUpdate)
            .values(update_id=update_id, processed_at=utcnow())
            .on_conflict_do_nothing()
        )
        result = await self.session.execute(statement)
        return bool(result.rowcount)  # type: ignore[attr-defined]
