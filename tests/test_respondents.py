"""What real use found for respondents: the counter, the chosen language, names in sentences."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.rounds import close_round, create_round, open_round, reconcile
from app.services import Services
from bot.telegram.outbox import OutboxSender
from conversations import events as ev
from conversations.engine import (
    FINISHED,
    CityInfo,
    Outcome,
    PracticeInfo,
    State,
    World,
)
from conversations.messages import Joined, Local, Msg, _
from conversations.survey import load_survey_file
from storage.models import OutboxMessage, Respondent, utcnow
from tests.telegram_harness import Person, RunningBot
from tests.test_engine import Player
from tests.test_telegram import LANGUAGE_BUTTON, consent, count, said

DEFAULT_SURVEY, _data = load_survey_file(
    Path(__file__).resolve().parent.parent / "conversations" / "surveys" / "open-cities.yaml"
)
KRAKOW = CityInfo("krakow", {"uk": "Краків", "ru": "Краков", "en": "Kraków", "pl": "Kraków"})
PROGRAMME = PracticeInfo(
    "programme",
    "krakow",
    {
        "uk": "Програма «Відкритий Краків»",
        "ru": "Программа «Открытый Краков»",
        "en": "Open Kraków programme",
        "pl": "Program „Otwarty Kraków”",
    },
    {"en": "A programme"},
)
DEFAULT_WORLD = World(
    cities=(KRAKOW,),
    practices=(PROGRAMME,),
    rounds=(),
    surveys={1: DEFAULT_SURVEY},
    default_survey_id=1,
)
COUNTER = "Question {current} of {total}"
SCALES = ("city_role", "reliable", "fits_needs", "useful")


def counter(outcome: Outcome) -> tuple[int, int] | None:
    """The "question N of M" of the card an event showed."""
    for prompt in outcome.prompts:
        for line in prompt.lines:
            if isinstance(line, Msg) and line.msgid == COUNTER:
                return int(line.params["current"]), int(line.params["total"])
    return None


def at_most(outcome: Outcome) -> int:
    """The intro's "at most N questions"."""
    [count] = [
        line.count
        for prompt in outcome.prompts
        for line in prompt.lines
        if isinstance(line, Msg) and line.plural and "At most" in line.msgid
    ]
    assert count is not None
    return count


def default_survey_paths() -> list[list[tuple[str, str]]]:
    """Every path through the default survey, as (question id, action) pairs: skipping and
    answering each kind of question, knowing the practice or not, having used it or not."""
    paths = []
    for aware, used, rating, areas, comment in itertools.product(
        ("yes", "no"),
        ("several", "once", "never", ev.SKIP),
        ("4", ev.SKIP, "dont_know"),
        ("work", ev.SKIP),
        ("text", ev.SKIP),
    ):
        path = [("aware", aware)]
        if aware == "yes":
            path.append(("used", used))
            path += [(question, rating) for question in SCALES]
            if used in ("several", "once"):
                path.append(("help_areas", areas))
        path.append(("comment", comment))
        if path not in paths:
            paths.append(path)
    return paths


def play(path: list[tuple[str, str]]) -> tuple[int, list[tuple[int, int]]]:
    """Walk one path; the intro's "at most" and every card's (N, M)."""
    player = Player(DEFAULT_WORLD, State(revision=7))
    player.do(ev.Start(payload="p_programme", language_code="en"))
    player.press("en")
    first = player.press("accept")
    player.state.response.id = 1  # type: ignore[union-attr]
    seen = [counter(first)]
    for question, action in path:
        assert player.current == question
        if question == "help_areas" and action != ev.SKIP:
            player.press(action)
            outcome = player.press(ev.DONE)
        elif action == "text":
            outcome = player.do(ev.Text("More opening hours"))
        else:
            outcome = player.press(action)
        if player.state.stage != FINISHED:
            seen.append(counter(outcome))
    assert player.state.stage == FINISHED
    assert None not in seen
    return at_most(first), [c for c in seen if c is not None]


@pytest.mark.parametrize("path", default_survey_paths(), ids=lambda p: "-".join(a for _q, a in p))
def test_the_question_counter_never_jumps_on_any_path_of_the_default_survey(
    path: list[tuple[str, str]],
) -> None:
    most, cards = play(path)
    assert [n for n, _m in cards] == list(range(1, len(path) + 1))  # one step at a time
    totals = [m for _n, m in cards]
    assert totals[0] == most == 8  # "at most 8 questions", then "question 1 of 8"
    assert all(later <= earlier for earlier, later in itertools.pairwise(totals)), totals
    assert cards[-1] == (len(path), len(path))  # the last card is "N of N"
    assert all(n <= m for n, m in cards)


def test_the_counter_follows_a_changed_answer_after_back() -> None:
    player = Player(DEFAULT_WORLD, State(revision=7))
    player.do(ev.Start(payload="p_programme", language_code="en"))
    player.press("en")
    player.press("accept")
    player.state.response.id = 1  # type: ignore[union-attr]
    assert counter(player.press("no")) == (2, 2)  # the comment: the last question
    assert counter(player.press(ev.BACK)) == (1, 2)  # still answered "no"
    assert counter(player.press("yes")) == (2, 8)  # a changed answer may lengthen the path
    assert counter(player.press("never")) == (3, 7)


def test_the_bound_counts_every_question_while_nothing_is_answered() -> None:
    from conversations.engine import most_questions

    assert most_questions(DEFAULT_SURVEY, {}) == 8
    assert most_questions(DEFAULT_SURVEY, {"aware": "no"}, 1) == 2
    assert most_questions(DEFAULT_SURVEY, {"aware": "yes", "used": "never"}, 2) == 7


# --- names in sentences ------------------------------------------------------------------------

NAME_PLACEHOLDERS = ("practice", "practices", "city", "cities")
# Prepositions after which a name would need another case than the nominative.
PREPOSITIONS = {
    "uk": "про в у на з із зі до для від о об по при за над під без через після біля серед щодо",
    "ru": "о об обо в во на с со про для от до по при за над под без через после из у к ко среди",
    "pl": "o w we na z ze do dla od po przy u bez przez za nad pod przed ku dzięki wobec",
    "en": "",
}
QUOTES = "«»„“”‘’\"'"
OPENING, CLOSING = {"«": "»", "„": "”“"}, {"»": "«", "”": "„", "“": "„"}


def name_templates() -> list[tuple[str, str]]:
    """(language, template) of every text that a city or practice name is put into: the
    interface catalogs and the shipped surveys."""
    from babel.messages.pofile import read_po

    from app.services import SHIPPED_SURVEYS
    from conversations.survey import survey_files
    from locales import LOCALES_DIR

    found = []
    for language in PREPOSITIONS:
        with (LOCALES_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
            for message in read_po(handle):
                for text in (
                    message.string if isinstance(message.string, tuple) else (message.string,)
                ):
                    found.append((language, str(text)))
    for path in survey_files(SHIPPED_SURVEYS):
        survey, _raw = load_survey_file(path)
        texts = [survey.intro, survey.title, *(q.text for q in survey.questions)]
        found += [(language, text[language]) for text in texts for language in PREPOSITIONS]
    return [(lang, t) for lang, t in found if any("{" + n + "}" in t for n in NAME_PLACEHOLDERS)]


def name_problems(language: str, template: str) -> list[str]:
    """A name in quote marks (names may hold their own) or after a preposition."""
    problems = []
    for name in NAME_PLACEHOLDERS:
        start = template.find("{" + name + "}")
        while start >= 0:
            before = template[:start].rstrip()
            end = start + len(name) + 2
            if {before[-1:], template[end : end + 1]} & set(QUOTES):
                problems.append(f"{{{name}}} in quote marks")
            words = before.split()
            if words and words[-1].casefold() in PREPOSITIONS[language].split():
                problems.append(f"{{{name}}} after '{words[-1]}'")
            start = template.find("{" + name + "}", end)
    return problems


def nested_quotes(text: str) -> bool:
    """Whether quote marks of one kind open inside the same kind («…«…»…», „…„…”…”)."""
    open_kinds: list[str] = []
    for char in text:
        if char in CLOSING and open_kinds and open_kinds[-1] == CLOSING[char]:
            open_kinds.pop()
        elif char in OPENING:
            if char in open_kinds:
                return True
            open_kinds.append(char)
    return False


def test_names_stand_where_the_nominative_is_grammatical_and_are_never_quoted() -> None:
    templates = name_templates()
    assert len({t for _l, t in templates}) > 20  # the catalogs and the survey were read
    problems = [
        f"{language}: {problem}: {template!r}"
        for language, template in templates
        for problem in name_problems(language, template)
    ]
    assert problems == []


def test_names_with_their_own_quote_marks_are_not_nested_in_the_same_kind() -> None:
    from storage.catalog import DEFAULT_CATALOG, read_catalog

    catalog = read_catalog(DEFAULT_CATALOG)
    names = [p["name"] for c in catalog["cities"] for p in c.get("practices", [])]
    assert any("«" in n["uk"] for n in names) and any("„" in n["pl"] for n in names)
    assert nested_quotes("про «Програма «Відкритий Краків»»")  # what real use found
    for language, template in name_templates():
        for name in names:
            text = template.replace("{practice}", name[language]).replace("{city}", "Kraków")
            assert not nested_quotes(text), text


# --- the chosen language -----------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["uk", "ru", "pl"])
async def test_declining_consent_and_deleting_answer_in_the_chosen_language(
    bot: RunningBot, locale: str
) -> None:
    person = bot.person(language_code="en")  # a phone set to English, a person who reads Polish
    await person.send("/start")
    await person.tap(LANGUAGE_BUTTON[locale])
    await person.tap(said(bot, _("No, thanks"), locale))
    goodbye = _("All right. Nothing about you is stored. If you change your mind, send /start.")
    assert person.last_text == said(bot, goodbye, locale)
    assert await count(bot.services, Respondent) == 0

    await consent(person, bot, locale)
    await person.send("/delete")
    await person.tap(said(bot, _("Yes, delete"), locale))
    deleted = _("Everything about you has been deleted. To take part again, send /start.")
    assert person.last_text == said(bot, deleted, locale)
    assert await count(bot.services, Respondent) == 0


# --- "Remind me" when pausing a survey of a round ----------------------------------------------

ROUND_PRACTICE = "krakow-otwarty-krakow"


async def open_round_now(services: Services, lasts: timedelta = timedelta(days=10)) -> int:
    now = utcnow()
    async with services.db.unit_of_work() as uow:
        survey = await uow.surveys.latest("open-cities")
        assert survey is not None
        round_ = await create_round(
            uow, "test", "krakow", [ROUND_PRACTICE], survey.id, now, now + lasts
        )
        await open_round(uow, services, round_, "test", now)
        return round_.id


async def paused_with_reminder(bot: RunningBot, round_id: int, locale: str) -> Person:
    """Someone who scanned the round's poster, answered one question, paused, asked."""
    person = bot.person(language_code=locale)
    await consent(person, bot, locale, f"/start r_{round_id}")
    await person.tap(said(bot, _("Yes"), locale))
    await person.tap(said(bot, _("Later"), locale))
    assert said(bot, _("Remind me"), locale) in person.buttons()
    await person.tap(said(bot, _("Remind me"), locale))
    assert said(bot, _("Remind me"), locale) not in person.buttons()
    return person


async def requests(services: Services) -> list[tuple[int, int, str]]:
    from storage.models import ReminderRequest

    async with services.db.unit_of_work() as uow:
        rows = (await uow.session.scalars(select(ReminderRequest))).all()
    return sorted((r.round_id, r.chat_id, r.locale) for r in rows)


async def test_a_person_from_a_poster_who_paused_is_reminded_once_in_their_language(
    bot: RunningBot,
) -> None:
    round_id = await open_round_now(bot.services)
    person = await paused_with_reminder(bot, round_id, "pl")
    assert await requests(bot.services) == [(round_id, person.id, "pl")]
    await person.send("/mydata")
    reminded = _(
        "• A reminder before the survey closes in: {cities}", cities=Joined((Local(KRAKOW.name),))
    )
    assert said(bot, reminded, "pl") in person.last_text
    finished = await paused_with_reminder(bot, round_id, "uk")
    await finished.tap(said(bot, _("Continue"), "uk"))
    for label in ("Кілька разів", "4", "4", "4", "4"):
        await finished.tap(label)
    await finished.tap("Робота")
    await finished.tap(said(bot, _("Done"), "uk"))
    await finished.tap(said(bot, _("Skip ›"), "uk"))
    assert await requests(bot.services) == [(round_id, person.id, "pl")]  # finished: forgotten

    async with bot.services.db.unit_of_work() as uow:
        round_ = await uow.rounds.get(round_id)
        assert round_ is not None
        due = round_.closes_at - timedelta(days=round_.remind_days)
    assert (await reconcile(bot.services, due - timedelta(hours=1))).asked_reminders == 0
    assert (await reconcile(bot.services, due)).asked_reminders == 1
    assert (await reconcile(bot.services, due + timedelta(hours=1))).asked_reminders == 0
    assert await requests(bot.services) == []  # the outbox has it now
    await OutboxSender(bot.services, bot.application.bot, rate=200).drain()
    [reminder] = [m for m in bot.server.messages(person.id) if "/start" not in str(m)][-1:]
    assert reminder["text"].startswith("Przypomnienie")
    assert not any("Нагадування" in m.get("text", "") for m in bot.server.messages(finished.id))
    async with bot.services.db.unit_of_work() as uow:
        [row] = (await uow.session.scalars(select(OutboxMessage))).all()
    assert row.payload == {} and row.chat_id == person.id  # what to send, not why
    assert str(person.id) not in row.dedupe_key


async def test_stop_delete_and_closing_the_round_forget_the_request(bot: RunningBot) -> None:
    round_id = await open_round_now(bot.services)
    stopping = await paused_with_reminder(bot, round_id, "en")
    deleting = await paused_with_reminder(bot, round_id, "ru")
    waiting = await paused_with_reminder(bot, round_id, "uk")
    await stopping.send("/stop")
    assert stopping.last_text == said(
        bot, _("Invitations and reminders are stopped. You will not get new ones."), "en"
    )
    await deleting.send("/delete")
    await deleting.tap(said(bot, _("Yes, delete"), "ru"))
    assert await requests(bot.services) == [(round_id, waiting.id, "uk")]
    async with bot.services.db.unit_of_work() as uow:
        round_ = await uow.rounds.get(round_id)
        assert round_ is not None
        await close_round(uow, round_, "test", utcnow(), 5)
    assert await requests(bot.services) == []


async def test_a_reminder_is_offered_only_when_it_can_come_and_it_is_one_message(
    bot: RunningBot,
) -> None:
    last_day = await open_round_now(bot.services, timedelta(minutes=5))  # too late to remind
    person = bot.person("en")
    await consent(person, bot, "en", f"/start r_{last_day}")
    await person.tap("Yes")
    await person.tap("Later")
    assert person.buttons() == ["Continue"]
    async with bot.services.db.unit_of_work() as uow:
        round_ = await uow.rounds.get(last_day)
        assert round_ is not None
        await close_round(uow, round_, "test", utcnow(), 5)

    round_id = await open_round_now(bot.services)
    subscriber = await paused_with_reminder(bot, round_id, "en")
    async with bot.services.db.unit_of_work() as uow:
        await uow.subscriptions.subscribe(subscriber.id, "krakow", "en")
        round_ = await uow.rounds.get(round_id)
        assert round_ is not None
        due = round_.closes_at - timedelta(days=round_.remind_days)
    await reconcile(bot.services, due)  # the subscribers' reminders and the asked one together
    async with bot.services.db.unit_of_work() as uow:
        reminders = (await uow.session.scalars(select(OutboxMessage))).all()
    assert [(r.kind, r.chat_id) for r in reminders] == [("reminder", subscriber.id)]


def test_a_reminder_request_keeps_no_time_finer_than_a_day_and_no_running_number() -> None:
    from sqlalchemy import Date, DateTime

    from storage.models import ReminderRequest

    table = ReminderRequest.__table__
    assert {c.name for c in table.columns} == {"round_id", "chat_id", "locale", "asked_on"}
    assert not any(isinstance(c.type, DateTime) for c in table.columns)
    assert isinstance(table.c.asked_on.type, Date)
    assert {c.name for c in table.primary_key.columns} == {"round_id", "chat_id"}
