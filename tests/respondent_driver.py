"""A patient respondent: reads where they are from the database and presses the right button.

Replies can be lost (faults, a killed process), so the driver does not rely on seeing them: the
button data of a prompt is its revision and an action, which the driver builds from the stored
progress. What each person answers is fixed in advance, so a test can check every stored
answer afterwards.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from app.services import Services
from conversations import events as ev
from conversations.engine import ANOTHER, FINISHED
from conversations.survey import Survey, survey_from_dict
from storage.models import Answer, Progress, Response
from tests.fakebotapi import FakeBotApi, FakeUser

PRACTICE = "krakow-otwarty-krakow"


@dataclass
class Plan:
    """What one person answers: by question id, a button action or a text."""

    answers: dict[str, str]
    locale: str = "en"

    @classmethod
    def random(cls, rng: random.Random) -> Plan:
        """A plausible person: knows the practice or not, rates, comments sometimes."""
        aware = rng.random() < 0.8
        answers = {"aware": "yes" if aware else "no"}
        if aware:
            answers["used"] = rng.choice(["several", "once", "never"])
            for question in ("city_role", "reliable", "fits_needs", "useful"):
                answers[question] = rng.choice(["1", "2", "3", "4", "5", "dont_know", ev.SKIP])
            if answers["used"] != "never":
                answers["help_areas"] = rng.choice(["work", "housing", "info"])
        answers["comment"] = f"comment {rng.randrange(10**6)}" if rng.random() < 0.5 else ev.SKIP
        return cls(answers, rng.choice(["uk", "ru", "en", "pl"]))


@dataclass
class Driver:
    """Moves one Telegram user through the survey, step by step, from the stored state."""

    services: Services
    server: FakeBotApi
    user: FakeUser
    plan: Plan
    steps: int = 0
    toggled: set[str] = field(default_factory=set)

    @property
    def pseudonym(self) -> str:
        return self.services.pseudonyms.of("tg", self.user.id)

    async def state(self) -> tuple[Progress | None, Response | None, list[Answer]]:
        async with self.services.db.unit_of_work() as uow:
            progress = await uow.respondents.progress(self.pseudonym)
            response = None
            if progress is not None and progress.response_id is not None:
                response = await uow.responses.get(progress.response_id)
            answers = list(await uow.responses.answers([response.id])) if response else []
        return progress, response, answers

    async def step(self) -> dict[str, Any] | None:
        """Send the next input; None when the survey is complete."""
        progress, response, answers = await self.state()
        chosen = next((a.value_options for a in answers if a.question_id == "help_areas"), None)
        return await self.act(progress, response, chosen)

    async def act(
        self, progress: Progress | None, response: Response | None, help_areas: list[str] | None
    ) -> dict[str, Any] | None:
        """Send what this person does next in the given state; None when they are done."""
        self.steps += 1
        if response is not None and response.status == "completed":
            return None
        if progress is None or self.user.last is None:
            return await self.user.send(f"/start p_{PRACTICE}")
        token, stage = progress.revision, progress.stage
        if stage == "language":
            return await self._press(token, self.plan.locale)
        if stage == "consent":
            return await self._press(token, "accept")
        if stage == "paused":
            return await self.user.send("/resume")
        if stage == FINISHED:
            return await self._press(token, ANOTHER)
        if stage != "question" or response is None or response.current_question is None:
            return await self.user.send(f"/start p_{PRACTICE}")
        return await self._answer(token, response.current_question, help_areas)

    async def _answer(
        self, token: int, question: str, help_areas: list[str] | None
    ) -> dict[str, Any]:
        planned = self.plan.answers.get(question, ev.SKIP)
        if question == "help_areas":
            if help_areas and planned in help_areas:
                return await self._press(token, ev.DONE)
            return await self._press(token, planned)
        if question == "comment" and planned != ev.SKIP:
            return await self.user.send(planned)
        return await self._press(token, planned)

    async def _press(self, token: int, action: str) -> dict[str, Any]:
        data = f"{token}|{action}"
        target = self.user.last
        if target is None:
            return await self.user.send("/resume")
        return await self.user.press(data, target)


def expected_answers(plan: Plan) -> dict[str, Any]:
    """The stored value of each answer the plan leads to (skips stored as None)."""
    expected: dict[str, Any] = {}
    for question, action in plan.answers.items():
        if action == ev.SKIP:
            expected[question] = None
        elif action.isdigit():
            expected[question] = int(action)
        elif question == "help_areas":
            expected[question] = [action]
        else:
            expected[question] = action
    return expected


async def stored_answers(services: Services, pseudonym: str) -> tuple[str, dict[str, Any]]:
    """(response status, {question: stored value}) of a person's response."""
    async with services.db.unit_of_work() as uow:
        [response] = (
            await uow.session.scalars(select(Response).where(Response.pseudonym == pseudonym))
        ).all()
        rows = (
            await uow.session.scalars(select(Answer).where(Answer.response_id == response.id))
        ).all()
    values: dict[str, Any] = {}
    for row in rows:
        if row.skipped:
            values[row.question_id] = None
        else:
            values[row.question_id] = (
                row.value_number
                if row.value_number is not None
                else row.value_options or row.value_option or row.value_text
            )
    return response.status, values


async def default_survey(services: Services) -> Survey:
    async with services.db.unit_of_work() as uow:
        row = await uow.surveys.latest("open-cities")
        assert row is not None
        return survey_from_dict(row.definition)
