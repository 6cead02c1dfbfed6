"""Fuzzing with hypothesis: junk never raises, and the person always gets a localized answer."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.i18n import Translator
from bot.telegram.render import event_from_callback
from conversations import events as ev
from conversations.engine import SaveAnswer, State, handle, required_answers
from conversations.survey import Question, condition_holds, condition_may_hold
from tests.test_engine import SURVEY, WORLD

TEXTS = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.characters(categories=["Cc", "Cf", "Zs", "So", "Lo"]), max_size=50),
    st.just("x" * 10_000),
    st.sampled_from(
        [
            "",
            " ",
            "\u200f\u202eمرحبا",
            "🙂" * 30,
            "/start",
            "/skip junk",
            "1",
            "5",
            "yes",
            "Так",
            "\x00\x07\x1b[2J",
            "\r\n\t",
        ]
    ),
)
VALUES = st.one_of(
    st.text(max_size=64),
    st.sampled_from(
        [
            "yes",
            "no",
            "1",
            "5",
            "dont_know",
            "often",
            "never",
            "work",
            "accept",
            "decline",
            "warszawa",
            "centre",
            "uk",
            "pl",
            "another",
            "subscribe",
            "erase",
            "keep",
            ev.BACK,
            ev.SKIP,
            ev.DONE,
            ev.PAUSE,
            ev.RESUME,
            "!page:3",
            "!start:r_1",
            "!stop",
        ]
    ),
)
TOKENS = st.one_of(st.none(), st.integers(min_value=-5, max_value=10**12))
EVENTS = st.one_of(
    st.builds(
        ev.Start,
        payload=st.one_of(st.none(), st.text(max_size=80)),
        language_code=st.one_of(st.none(), st.text(max_size=10)),
    ),
    st.builds(ev.Choose, token=TOKENS, value=VALUES),
    st.builds(ev.Text, text=TEXTS),
    st.builds(ev.Back, token=TOKENS),
    st.builds(ev.Skip, token=TOKENS),
    st.builds(ev.Done, token=TOKENS),
    st.builds(ev.Page, token=TOKENS, page=st.integers(-3, 99)),
    st.builds(ev.Pause),
    st.builds(ev.Resume),
    st.builds(ev.Cancel),
    st.builds(ev.Help),
    st.builds(ev.Delete),
    st.builds(ev.Unsupported),
    st.builds(
        ev.ChangeLanguage,
        locale=st.one_of(st.none(), st.text(max_size=5), st.sampled_from(["uk", "ru", "en", "pl"])),
    ),
)


@pytest.fixture(scope="module")
def translator() -> Translator:
    return Translator("en")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(EVENTS, st.booleans()), min_size=1, max_size=40))
def test_any_sequence_of_events_never_raises_and_always_answers(
    translator: Translator, steps: list[tuple[ev.Event, bool]]
) -> None:
    state = State(revision=1)
    answers: dict[str, Any] = {}
    for event, aimed in steps:
        if aimed and isinstance(event, ev.Choose):  # aim at the current prompt to get deep
            event = ev.Choose(state.revision, event.value)
        outcome = handle(state, event, WORLD)
        assert outcome.prompts, f"silence after {event!r}"
        for prompt in outcome.prompts:
            for locale in ("uk", "ru", "en", "pl"):
                for line in prompt.lines:
                    assert isinstance(translator.render(line, locale), str)
        for write in outcome.writes:
            if isinstance(write, SaveAnswer):
                assert SURVEY.has(write.question_id)
                answers[write.question_id] = write.value
        state = outcome.state
        response = state.response
        if response is not None and response.status == "completed":
            assert required_answers(SURVEY, response.answers) <= set(response.answers)


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.none(), st.text(max_size=64), st.binary(max_size=64).map(lambda b: b.decode("latin-1"))
    )
)
def test_any_callback_data_decodes_to_an_event_or_nothing(data: str | None) -> None:
    event = event_from_callback(data)
    assert event is None or isinstance(event, ev.Event.__args__)  # type: ignore[attr-defined]


KINDS = st.sampled_from(
    ["text", "press", "command", "deep_link", "photo", "sticker", "edited", "unknown_update"]
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(kind=KINDS, junk=TEXTS, data=VALUES)
async def test_junk_over_telegram_always_gets_a_reply(
    bot: Any, kind: str, junk: str, data: str
) -> None:
    person = bot.person("uk")
    before = len(bot.server.events)
    update: dict[str, Any]
    if kind == "text" and junk.strip():
        update = await person.user.send(junk[:4096])
    elif kind == "press":
        await person.send("/start")
        before = len(bot.server.events)
        update = await person.user.press(f"{data[:40]}|{junk[:20]}")
    elif kind == "command":
        update = await person.user.send(f"/{(data or 'x')[:20]} {junk[:100]}".strip())
    elif kind == "deep_link":
        update = await person.user.send(f"/start {junk[:100]}".strip() or "/start")
    elif kind == "photo":
        update = await person.user.send_photo(caption=junk[:100] or None)
    elif kind == "sticker":
        update = await person.user.send_sticker()
    elif kind == "edited":
        sent = await person.user.send("hello")
        await bot.processor.wait(sent["update_id"])
        message = sent["message"]
        before = len(bot.server.events)
        update = bot.server.push_update(
            {"edited_message": {**message, "text": junk or "x", "edit_date": message["date"] + 1}}
        )
    elif kind == "unknown_update":
        update = bot.server.push_update(
            {
                "my_chat_member": {
                    "chat": person.user.chat,
                    "from": person.user.user,
                    "date": 0,
                    "old_chat_member": {"status": "member", "user": person.user.user},
                    "new_chat_member": {
                        "status": "kicked",
                        "user": person.user.user,
                        "until_date": 0,
                    },
                }
            }
        )
        after = await person.user.send("/start")
        await bot.processor.wait(after["update_id"])
        # The bot does not ask Telegram for member updates (ALLOWED_UPDATES): none arrives.
        assert update["update_id"] not in bot.processor.done
        return
    else:
        update = await person.user.send("/start")
    await bot.processor.wait(update["update_id"])
    assert len(bot.server.events) > before or person.user.callback_answers, (kind, junk, data)


# --- show_if conditions: compiled once, evaluated as the interpreter does ---------------------

QUESTION_IDS = ("a", "b", "c")
VALUES = st.one_of(
    st.none(),
    st.sampled_from(["yes", "no", "x", "y"]),
    st.integers(-3, 6),
    st.booleans(),  # an int to isinstance: the interpreter and the compiled form must agree
    st.tuples(st.sampled_from(["x", "y", "z"])).map(tuple),
    st.lists(st.sampled_from(["x", "y", "z"]), max_size=3).map(tuple),
)
LEAVES = st.one_of(
    st.builds(lambda q, v: {"question": q, "answered": v}, st.sampled_from(QUESTION_IDS), st.booleans()),
    st.builds(lambda q, v: {"question": q, "equals": v}, st.sampled_from(QUESTION_IDS), VALUES.filter(lambda v: v is not None)),
    st.builds(lambda q, v: {"question": q, "in": v}, st.sampled_from(QUESTION_IDS), st.lists(st.sampled_from(["yes", "x", 1, 2]), min_size=1)),
    st.builds(lambda q, v: {"question": q, "not_in": v}, st.sampled_from(QUESTION_IDS), st.lists(st.sampled_from(["yes", "x", 1, 2]), min_size=1)),
    st.builds(lambda q, v: {"question": q, "includes": v}, st.sampled_from(QUESTION_IDS), st.sampled_from(["x", "y"])),
    st.builds(lambda q, v: {"question": q, "at_least": v}, st.sampled_from(QUESTION_IDS), st.integers(-2, 5)),
    st.builds(lambda q, v: {"question": q, "at_most": v}, st.sampled_from(QUESTION_IDS), st.integers(-2, 5)),
)  # fmt: skip
CONDITIONS = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.builds(lambda parts: {"all": parts}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda parts: {"any": parts}, st.lists(inner, min_size=1, max_size=3)),
    ),
    max_leaves=6,
)


@settings(max_examples=2000, deadline=None)
@given(
    condition=CONDITIONS,
    answers=st.dictionaries(st.sampled_from(QUESTION_IDS), VALUES.filter(lambda v: v is not None)),
    open_ids=st.sets(st.sampled_from(QUESTION_IDS)),
)
def test_a_compiled_condition_holds_where_the_interpreted_one_does(
    condition: dict, answers: dict, open_ids: set
) -> None:
    """The engine evaluates show_if through Question.shown (compiled once); reports, imports
    and condition_may_hold read the same condition through condition_holds. Both must agree on
    every condition and answers, and most_questions' shortcut (a condition that reads no open
    question is decided by the compiled form) must agree with condition_may_hold."""
    question = Question(id="q", type="yes_no", text={"en": "?"}, show_if=condition)
    holds = condition_holds(condition, answers)
    assert question.shown(answers) is holds
    read = {q for q in QUESTION_IDS if f"'question': '{q}'" in repr(condition)}
    assert question.depends_on == read
    if open_ids.isdisjoint(question.depends_on):
        assert condition_may_hold(condition, answers, open_ids) is holds
