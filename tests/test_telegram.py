"""Respondents on Telegram: the real Application over HTTP against a fake Bot API server."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from sqlalchemy import func, select

from app.services import Services
from conversations.messages import Msg, _
from storage.models import Answer, Progress, Respondent, Response, Subscription
from tests.fakebotapi import FakeBotApi
from tests.telegram_harness import Person, RunningBot, running_bot

LANGUAGE_BUTTON = {"uk": "Українська", "ru": "Русский", "en": "English", "pl": "Polski"}
PRACTICE = "gdansk-model-integracji-imigrantow"


def said(bot: RunningBot, message: Msg, locale: str) -> str:
    """What the bot says for a message in a language (through the real catalogs)."""
    return bot.services.translator.render(message, locale)


async def count(services: Services, model: type) -> int:
    async with services.db.unit_of_work() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)


async def answers(services: Services) -> dict[str, tuple[object, ...]]:
    async with services.db.unit_of_work() as uow:
        rows = (await uow.session.scalars(select(Answer))).all()
    return {
        a.question_id: (a.value_number, a.value_option, a.value_options, a.value_text, a.skipped)
        for a in rows
    }


async def consent(person: Person, bot: RunningBot, locale: str, start: str = "/start") -> None:
    await person.send(start)
    await person.tap(LANGUAGE_BUTTON[locale])
    await person.tap(said(bot, _("I agree"), locale))


async def to_first_question(person: Person, bot: RunningBot, locale: str) -> None:
    await consent(person, bot, locale, f"/start p_{PRACTICE}")


def is_ukrainian(text: str) -> bool:
    """Cyrillic without letters that exist only in Russian."""
    return bool(re.search(r"[а-яіїєґ]", text.lower())) and not re.search(r"[ыэёъ]", text.lower())


@pytest.mark.parametrize("locale", ["uk", "ru", "en", "pl"])
async def test_a_respondent_completes_the_survey_in_each_language(
    bot: RunningBot, locale: str
) -> None:
    person = bot.person(language_code=locale)
    await person.send("/start")
    assert person.buttons()[0] == LANGUAGE_BUTTON[locale]  # their own language first
    await person.tap(LANGUAGE_BUTTON[locale])
    assert said(bot, _("I agree"), locale) in person.buttons()
    await person.tap(said(bot, _("I agree"), locale))
    await person.tap({"uk": "Гданськ", "ru": "Гданьск", "en": "Gdańsk", "pl": "Gdańsk"}[locale])
    await person.press(f"{_token(person)}|{PRACTICE}")
    await person.tap(said(bot, _("Yes"), locale))
    await person.press(f"{_token(person)}|several")
    for score in ("4", "5", "3", "4"):
        await person.tap(score)
    await person.press(f"{_token(person)}|work")
    await person.tap(said(bot, _("Done"), locale))
    await person.send("Більше годин роботи" if locale == "uk" else "More opening hours")
    thanks = said(
        bot,
        _(
            "Thank you! Your answers are saved. They help to make city services better for migrants."
        ),
        locale,
    )
    assert thanks in person.last_text
    async with bot.services.db.unit_of_work() as uow:
        [response] = (await uow.session.scalars(select(Response))).all()
    assert response.status == "completed" and response.locale == locale
    assert len(await answers(bot.services)) == 8
    if locale != "en":
        assert said(bot, _("I agree"), locale) != "I agree", "catalog not translated"
    if locale == "uk":
        for text in person.texts():
            assert is_ukrainian(text), text


def _token(person: Person) -> str:
    """The revision token on the latest keyboard."""
    message = next(m for m in reversed(person.received) if m.get("reply_markup"))
    data = message["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    return str(data.split("|")[0])


async def test_raw_telegram_id_is_not_stored_with_answers(bot: RunningBot) -> None:
    person = bot.person(user_id=555000111)
    await to_first_question(person, bot, "uk")
    await person.tap(said(bot, _("Yes"), "uk"))
    async with bot.services.db.unit_of_work() as uow:
        for model in (Respondent, Progress, Response, Answer):
            for row in (await uow.session.scalars(select(model))).all():
                values = " ".join(str(getattr(row, c.key)) for c in row.__table__.columns)
                assert "555000111" not in values


async def test_deep_link_opens_the_practice_and_unknown_link_explains(bot: RunningBot) -> None:
    person = bot.person("en")
    await to_first_question(person, bot, "en")
    assert "Gdańsk" in " ".join(person.texts())  # the intro names the practice and city
    assert said(bot, _("Yes"), "en") in person.buttons()

    stranger = bot.person("en")
    await stranger.send("/start p_does-not-exist")
    first = stranger.received[0]["text"]  # later edited in place by the next steps
    assert first.startswith("This link is unknown or has expired")
    await stranger.tap("English")
    await stranger.tap("I agree")
    assert said(bot, _("Which city do you live in?"), "en") in stranger.last_text


async def test_the_survey_is_one_card_that_changes(bot: RunningBot) -> None:
    person = bot.person("en")
    await to_first_question(person, bot, "en")
    question = next(m for m in reversed(person.received) if m.get("reply_markup"))
    sent = len(bot.server.calls_to("sendMessage"))
    await person.tap("Yes")
    edited = bot.server.message(person.id, question["message_id"])
    assert edited is not None and edited["text"].startswith("Question 2 of")
    assert edited.get("reply_markup")  # the next question's buttons, in the same message
    toasts = [a for a in bot.server.callback_answers if a["user_id"] == person.id]
    assert toasts[-1].get("text") == "Your answer: Yes"  # the pop-up
    assert len(bot.server.calls_to("sendMessage")) == sent  # no new message per answer


async def test_back_skip_later_and_resume_after_a_restart(database_url: str) -> None:
    server = await FakeBotApi().start()
    try:
        async with running_bot(database_url, server) as bot:
            person = bot.person("en")
            await to_first_question(person, bot, "en")
            await person.tap("Yes")
            await person.tap("Skip ›")
            await person.tap("‹ Back")
            assert "use it" in person.last_text.lower() or "used" in person.last_text.lower()
            await person.tap("Later")
            user = person.user
        async with running_bot(database_url, server) as bot:  # a new process, same database
            person = Person(bot, user)
            await person.send("/resume")
            assert "Question 2 of" in person.last_text
            await person.tap("Once")
            stored = await answers(bot.services)
            assert stored["aware"][1] == "yes" and stored["used"][1] == "once"
    finally:
        await server.stop()


async def test_language_switch_mid_survey_keeps_the_answers(bot: RunningBot) -> None:
    person = bot.person("en")
    await to_first_question(person, bot, "en")
    await person.tap("Yes")
    await person.send("/language")
    await person.tap("Polski")
    assert said(bot, _("Question {current} of {total}", current=2, total=8), "pl") in (
        person.last_text
    )
    await person.tap(said(bot, _("Skip ›"), "pl"))
    stored = await answers(bot.services)
    assert stored["aware"][1] == "yes" and stored["used"][4] is True


async def test_delete_erases_everything_about_the_person(bot: RunningBot) -> None:
    person = bot.person("en")
    await to_first_question(person, bot, "en")
    for label in ("Yes", "Once", "5", "5", "5", "5", "Work", "Done", "Skip ›"):
        await person.tap(label)
    await person.tap("Invite me to future surveys")
    assert await count(bot.services, Subscription) == 1
    await person.send("/mydata")
    assert "1 completed survey" in person.last_text
    await person.send("/delete")
    await person.tap("Yes, delete")
    for model in (Respondent, Progress, Response, Answer, Subscription):
        assert await count(bot.services, model) == 0, model
    await person.send("/mydata")
    assert "Nothing is stored about you." in person.last_text


async def test_stale_and_duplicate_presses_record_one_answer(bot: RunningBot) -> None:
    person = bot.person("en")
    await to_first_question(person, bot, "en")
    question = next(m for m in reversed(person.received) if m.get("reply_markup"))
    yes = question["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    no = question["reply_markup"]["inline_keyboard"][0][1]["callback_data"]
    update = await person.press(yes, question)
    bot.server.push_update(update)  # the same update delivered again
    await bot.processor.wait(update["update_id"])
    await person.press(no, question)  # an old keyboard
    assert (await answers(bot.services))["aware"][1] == "yes"
    assert len(await answers(bot.services)) == 1
    answered = {a["callback_query_id"] for a in bot.server.callback_answers}
    pressed = {
        c.params.get("callback_query_id") for c in bot.server.calls_to("answerCallbackQuery")
    }
    assert answered == pressed and len(answered) >= 2, "every press is answered"
    assert any("out of date" in (a.get("text") or "") for a in person.user.callback_answers)


async def test_junk_input_gets_a_localized_hint_never_silence(bot: RunningBot) -> None:
    person = bot.person("uk")
    await to_first_question(person, bot, "uk")
    hint = said(bot, _("Please answer with the buttons below the question."), "uk")
    for junk in ("🙂🙂🙂", "x" * 5000, "مرحبا بالعالم", "/skip now", "/nonsense"):
        before = len(bot.server.events)
        await person.send(junk)
        assert len(bot.server.events) > before, f"no reply to {junk[:20]!r}"
    await person.send("🙂")
    assert hint in person.last_text
    before = len(bot.server.events)
    await person.send_photo()
    await person.send_sticker()
    assert len(bot.server.events) >= before + 2
    assert said(bot, _("I can only read text and button presses."), "uk") in person.last_text
    assert await answers(bot.services) == {}  # junk never becomes an answer
    texts = [t for t in person.texts() if t]
    assert all(is_ukrainian(t) for t in texts), [t for t in texts if not is_ukrainian(t)]


async def test_a_long_text_answer_is_refused_with_the_limit(bot: RunningBot) -> None:
    person = bot.person("en")
    await to_first_question(person, bot, "en")
    await person.tap("No")
    await person.send("x" * 5000)
    assert "too long" in person.last_text
    await person.send("Short and clear ‏עברית")
    assert (await answers(bot.services))["comment"][3] == "Short and clear ‏עברית"


async def test_retry_after_is_honoured(bot: RunningBot) -> None:
    person = bot.person("en")
    await person.send("/start")
    bot.server.fail_next("editMessageText", status=429, retry_after=1, chat_id=person.id)
    started = time.monotonic()
    await person.tap("English")
    assert time.monotonic() - started >= 0.9
    assert said(bot, _("I agree"), "en") in person.buttons()


async def test_a_blocked_bot_marks_the_subscription_and_keeps_running(bot: RunningBot) -> None:
    person = bot.person("en")
    await to_first_question(person, bot, "en")
    await person.tap("No")
    await person.tap("Skip ›")
    await person.tap("Invite me to future surveys")
    bot.server.block(person.id)
    await person.send("/help")
    async with bot.services.db.unit_of_work() as uow:
        [subscription] = (await uow.session.scalars(select(Subscription))).all()
    assert subscription.blocked
    other = bot.person("en")
    await other.send("/start")
    assert other.buttons()[0] == "English"


async def test_a_server_error_is_retried(bot: RunningBot) -> None:
    person = bot.person("en")
    bot.server.fail_next("sendMessage", status=500, chat_id=person.id)
    await person.send("/start")
    assert person.buttons()[0] == "English"


async def test_group_chats_are_pointed_to_a_private_chat(bot: RunningBot) -> None:
    update = bot.server.push_update(
        {
            "message": {
                "message_id": 1,
                "date": int(time.time()),
                "chat": {"id": -100, "type": "group", "title": "Neighbours"},
                "from": {"id": 4242, "is_bot": False, "first_name": "A", "language_code": "pl"},
                "text": "/start",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            }
        }
    )
    await bot.processor.wait(update["update_id"])
    [reply] = bot.server.messages(-100)
    assert reply["text"] == said(
        bot, _("Surveys are private. Please write to me in a private chat."), "pl"
    )
    assert await count(bot.services, Respondent) == 0


async def test_command_menu_is_set_in_every_language(bot: RunningBot) -> None:
    languages = {c.params.get("language_code") for c in bot.server.calls_to("setMyCommands")}
    assert {"uk", "ru", "en", "pl"} <= languages


async def test_one_persons_updates_are_handled_in_order(bot: RunningBot) -> None:
    person = bot.person("en")
    await to_first_question(person, bot, "en")
    await person.tap("Yes")
    await person.tap("Several times")
    # Typed answers pushed at once, as a fast typist on a slow network would send them.
    updates = [await person.user.send(text) for text in ("4", "5", "3", "2")]
    for update in updates:
        await bot.processor.wait(update["update_id"])
    stored = await answers(bot.services)
    assert [stored[q][0] for q in ("city_role", "reliable", "fits_needs", "useful")] == [4, 5, 3, 2]


async def test_many_people_answer_at_the_same_time(bot: RunningBot) -> None:
    people = [bot.person("pl") for _ in range(20)]

    async def complete(person: Person) -> None:
        await to_first_question(person, bot, "pl")
        await person.tap(said(bot, _("No"), "pl"))
        await person.send(f"Uwagi {person.id}")

    await asyncio.gather(*(complete(p) for p in people))
    async with bot.services.db.unit_of_work() as uow:
        responses = (await uow.session.scalars(select(Response))).all()
    assert len(responses) == 20 and all(r.status == "completed" for r in responses)
    assert await count(bot.services, Answer) == 40
    async with bot.services.db.unit_of_work() as uow:
        comments = set((await uow.session.scalars(select(Answer.value_text))).all()) - {None}
    assert comments == {f"Uwagi {p.id}" for p in people}
