"""Events through the real storage: answers are committed, survive restarts and stay single."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.config import Settings
from app.respond import Identity, Reply, respond
from app.services import Services
from bot.startup import start_services
from conversations import events as ev
from storage.models import Answer, Progress, Respondent, Response

PRACTICE = "gdansk-model-integracji-imigrantow"


class Person:
    """A respondent talking to the flow; remembers the latest prompt's token."""

    def __init__(self, services: Services, name: str = "anna") -> None:
        self.services = services
        self.identity = Identity(services.pseudonyms.of("test", name))
        self.reply: Reply | None = None

    async def do(self, event: ev.Event) -> Reply:
        self.reply = await respond(self.services, self.identity, event)
        return self.reply

    @property
    def token(self) -> int | None:
        assert self.reply is not None
        return next((p.token for p in reversed(self.reply.prompts) if p.token is not None), None)

    async def press(self, action: str) -> Reply:
        return await self.do(ev.from_action(self.token, action))

    async def into_survey(self, locale: str = "en") -> None:
        await self.do(ev.Start(payload=f"p_{PRACTICE}"))
        await self.press(locale)
        await self.press("accept")


async def rows(services: Services, model: type) -> list:
    async with services.db.unit_of_work() as uow:
        return list((await uow.session.scalars(select(model))).all())


async def answers_of(services: Services) -> dict[str, object]:
    stored = await rows(services, Answer)
    return {
        a.question_id: (a.value_number, a.value_option, a.value_options, a.value_text, a.skipped)
        for a in stored
    }


async def test_a_completed_response_holds_every_answer(services: Services) -> None:
    anna = Person(services)
    await anna.into_survey("pl")
    for action in ("yes", "once", "4", "5", "dont_know", "3", "work", "language", ev.DONE):
        await anna.press(action)
    await anna.do(ev.Text("Więcej informacji po ukraińsku"))
    [response] = await rows(services, Response)
    assert response.status == "completed" and response.completed_at is not None
    assert response.locale == "pl" and response.practice_id == PRACTICE
    assert await answers_of(services) == {
        "aware": (None, "yes", None, None, False),
        "used": (None, "once", None, None, False),
        "city_role": (4, None, None, None, False),
        "reliable": (5, None, None, None, False),
        "fits_needs": (None, "dont_know", None, None, False),
        "useful": (3, None, None, None, False),
        "help_areas": (None, None, ["work", "language"], None, False),
        "comment": (None, None, None, "Więcej informacji po ukraińsku", False),
    }


async def test_pause_and_resume_after_a_restart(settings: Settings, services: Services) -> None:
    anna = Person(services)
    await anna.into_survey()
    await anna.press("yes")
    await anna.press(ev.SKIP)
    await anna.press(ev.PAUSE)
    await services.close()

    restarted = await start_services(settings)  # a new process: new engine, new session
    try:
        anna = Person(restarted)
        reply = await anna.do(ev.Resume())
        question = [p for p in reply.prompts if p.kind == "question"][-1]
        rendered = restarted.translator.render(question.lines[1], "en")
        assert "city itself" in rendered.lower()
        await anna.press(ev.BACK)
        await anna.press("several")
        assert await answers_of(restarted) == {
            "aware": (None, "yes", None, None, False),
            "used": (None, "several", None, None, False),
        }
    finally:
        await restarted.close()


async def test_the_same_update_is_handled_once(services: Services) -> None:
    anna = Person(services)
    await anna.into_survey()
    token = anna.token
    first = await respond(
        services, Identity(anna.identity.pseudonym, update_id=77), ev.Choose(token, "yes")
    )
    again = await respond(
        services, Identity(anna.identity.pseudonym, update_id=77), ev.Choose(token, "no")
    )
    assert not first.duplicate and again.duplicate
    assert await answers_of(services) == {"aware": (None, "yes", None, None, False)}


async def test_a_double_tap_records_one_answer(services: Services) -> None:
    anna = Person(services)
    await anna.into_survey()
    token = anna.token
    await anna.do(ev.Choose(token, "yes"))
    reply = await anna.do(ev.Choose(token, "yes"))
    assert reply.prompts[0].kind == "notice"
    async with services.db.unit_of_work() as uow:
        count = await uow.session.scalar(select(func.count(Answer.id)))
    assert count == 1


async def test_declining_consent_stores_nothing(services: Services) -> None:
    anna = Person(services)
    await anna.do(ev.Start())
    await anna.press("uk")
    await anna.press("decline")
    assert await rows(services, Respondent) == []
    assert await rows(services, Progress) == []


async def test_raw_ids_never_reach_respondent_tables(services: Services) -> None:
    raw_id = 987654321
    anna = Person(services)
    anna.identity = Identity(services.pseudonyms.of("tg", raw_id), chat_id=raw_id)
    await anna.into_survey()
    await anna.press("yes")
    for model in (Respondent, Progress, Response, Answer):
        for row in await rows(services, model):
            values = [getattr(row, c.key) for c in row.__table__.columns]
            assert str(raw_id) not in " ".join(map(str, values))


@pytest.mark.parametrize("locale", ["uk", "ru", "en", "pl"])
async def test_prompts_come_in_the_chosen_language(services: Services, locale: str) -> None:
    anna = Person(services, f"user-{locale}")
    await anna.into_survey(locale)
    assert anna.reply is not None and anna.reply.locale == locale
