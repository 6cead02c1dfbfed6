"""The pure conversation engine: every question type, show_if, navigation, invalid input."""

from __future__ import annotations

from copy import deepcopy
from dataclasses import replace

import pytest

from conversations import events as ev
from conversations.engine import (
    CONSENT,
    FINISHED,
    LANGUAGE,
    PAUSED,
    PRACTICE,
    QUESTION,
    CityInfo,
    DeleteAnswers,
    ForgetRespondent,
    Outcome,
    PracticeInfo,
    ResponseState,
    RoundInfo,
    SaveAnswer,
    State,
    World,
    handle,
    required_answers,
)
from conversations.messages import Msg
from conversations.survey import load_survey_file
from tests.conftest import DATA

SURVEY, _ = load_survey_file(DATA / "all_types.yaml")
WARSAW = CityInfo("warszawa", {"uk": "Варшава", "ru": "Варшава", "en": "Warsaw", "pl": "Warszawa"})
CENTRE = PracticeInfo(
    "centre",
    "warszawa",
    {"en": "Centre", "uk": "Центр", "ru": "Центр", "pl": "Centrum"},
    {"en": "A centre"},
)
WORLD = World(
    cities=(WARSAW,), practices=(CENTRE,), rounds=(), surveys={1: SURVEY}, default_survey_id=1
)


class Player:
    """Plays one respondent against the engine, keeping state between events."""

    def __init__(self, world: World = WORLD, state: State | None = None) -> None:
        self.world = world
        self.state = state or State(revision=100)
        self.answers: dict[str, object] = {}
        self.last: Outcome | None = None

    def do(self, event: ev.Event) -> Outcome:
        """Apply an event; keep the stored answers the way the database would."""
        outcome = handle(self.state, event, self.world)
        for write in outcome.writes:
            if isinstance(write, SaveAnswer):
                self.answers[write.question_id] = write.value
            elif isinstance(write, DeleteAnswers):
                for qid in write.question_ids:
                    self.answers.pop(qid, None)
        self.state = outcome.state
        self.last = outcome
        return outcome

    def press(self, value: str) -> Outcome:
        """Press a button of the latest prompt."""
        return self.do(ev.from_action(self.state.revision, value))

    @property
    def current(self) -> str | None:
        """The id of the question being asked."""
        return self.state.response.current if self.state.response else None

    def notices(self) -> list[str]:
        """The msgids of notices in the last outcome."""
        assert self.last is not None
        return [
            line.msgid
            for p in self.last.prompts
            if p.kind == "notice"
            for line in p.lines
            if isinstance(line, Msg)
        ]

    def into_survey(self) -> None:
        """Language, consent, city, practice: arrive at the first question."""
        self.do(ev.Start(language_code="uk"))
        self.press("en")
        self.press("accept")
        self.press("warszawa")
        self.press("centre")
        self.state.response.id = 1  # type: ignore[union-attr]  # the caller stores it


def test_start_offers_the_clients_language_first() -> None:
    player = Player()
    outcome = player.do(ev.Start(language_code="ru-RU"))
    assert player.state.stage == LANGUAGE
    assert [row[0].action for row in outcome.prompts[-1].buttons] == ["ru", "uk", "en", "pl"]


def test_consent_then_city_and_practice_lead_to_the_first_question() -> None:
    player = Player()
    player.do(ev.Start())
    player.press("pl")
    assert player.state.stage == CONSENT and player.state.locale == "pl"
    player.press("accept")
    assert player.state.consented
    player.press("warszawa")
    assert player.state.stage == PRACTICE
    player.press("centre")
    assert player.state.stage == QUESTION and player.current == "hello"


def test_declining_consent_forgets_the_respondent() -> None:
    player = Player()
    player.do(ev.Start())
    player.press("en")
    outcome = player.press("decline")
    assert any(isinstance(w, ForgetRespondent) for w in outcome.writes)
    assert player.state.locale is None and not player.state.consented


def test_full_path_with_every_question_type() -> None:
    player = Player()
    player.into_survey()
    player.press(ev.DONE)  # info
    player.press("yes")
    player.press("often")
    player.press("5")
    assert player.current == "praise"  # show_if at_least 4
    player.press(ev.DONE)
    assert player.current == "areas"
    player.press("work")
    player.press("school")
    player.press(ev.DONE)
    player.do(ev.Text("  All good  "))
    assert player.state.stage == FINISHED
    assert player.state.response.status == "completed"  # type: ignore[union-attr]
    assert player.answers == {
        "aware": "yes",
        "used": "often",
        "score": 5,
        "areas": ("work", "school"),
        "note": "All good",
    }
    assert set(player.answers) == required_answers(SURVEY, player.answers)  # type: ignore[arg-type]


def test_show_if_hides_questions_and_no_path_skips_to_the_end() -> None:
    player = Player()
    player.into_survey()
    player.press(ev.DONE)
    player.press("no")
    assert player.current == "note"


def test_a_hidden_answer_no_longer_shows_the_questions_that_depend_on_it() -> None:
    player = Player()
    player.into_survey()
    player.press(ev.DONE)
    player.press("yes")
    player.press("often")  # "areas" is asked when used == often
    player.press(ev.BACK)
    player.press(ev.BACK)
    assert player.current == "aware"
    player.press("no")  # hides "used", and with it "areas"
    assert "used" not in player.answers
    assert player.current == "note"


def test_typed_digits_in_other_scripts_are_not_numbers() -> None:
    assert ev.whole_number("12") == 12 and ev.whole_number("-7", signed=True) == -7
    for text in ("¹", "٣", "１", "--5", "-", "", " 1"):
        assert ev.whole_number(text, signed=True) is None, text
    player = Player()
    player.do(ev.Start(language_code="uk"))
    player.press("en")
    player.press("accept")
    outcome = player.do(ev.Text("¹"))  # a service typed as a superscript one: asked again
    assert outcome.prompts and player.state.practice_id is None


def test_scale_dont_know_is_an_answer() -> None:
    player = Player()
    player.into_survey()
    player.press(ev.DONE)
    player.press("yes")
    player.press("never")
    player.press("dont_know")
    assert player.answers["score"] == "dont_know"
    assert player.current == "note"  # dont_know satisfies neither at_least nor at_most


def test_back_returns_to_the_previous_visible_question_and_keeps_answers() -> None:
    player = Player()
    player.into_survey()
    player.press(ev.DONE)
    player.press("yes")
    player.press("often")
    assert player.current == "score"
    player.press(ev.BACK)
    assert player.current == "used"
    player.press(ev.BACK)
    assert player.current == "aware"
    assert player.answers == {"aware": "yes", "used": "often"}


def test_changing_an_answer_removes_answers_the_path_no_longer_asks() -> None:
    player = Player()
    player.into_survey()
    player.press(ev.DONE)
    player.press("yes")
    player.press("often")
    player.press(ev.BACK)
    player.press(ev.BACK)
    outcome = player.press("no")
    assert DeleteAnswers(("used",)) in outcome.writes
    assert player.answers == {"aware": "no"}


def test_skip_records_a_skip_and_required_questions_refuse_it() -> None:
    player = Player()
    player.into_survey()
    player.press(ev.DONE)
    player.press(ev.SKIP)
    assert player.current == "aware"
    assert "This question is needed for the survey. Please answer it." in player.notices()
    player.press("yes")
    player.press(ev.SKIP)
    assert player.answers["used"] is None and player.current == "score"


def test_multiple_choice_respects_min_and_max() -> None:
    player = Player()
    player.into_survey()
    for action in (ev.DONE, "yes", "often", "3"):
        player.press(action)
    assert player.current == "areas"
    player.press(ev.DONE)
    assert player.current == "areas" and player.notices()
    player.press("work")
    player.press("home")
    player.press("school")
    assert player.answers["areas"] == ("work", "home")
    assert "You can choose at most {count} option." in player.notices()
    player.press("work")  # a second press unticks
    assert player.answers["areas"] == ("home",)


def test_text_answers_are_capped_and_cleaned() -> None:
    player = Player()
    player.into_survey()
    player.press(ev.DONE)
    player.press("no")
    player.do(ev.Text("x" * 21))
    assert player.current == "note" and "note" not in player.answers
    player.do(ev.Text("\u0000\u200f  مرحبا\u0007 "))
    assert player.answers["note"] == "\u200f  مرحبا"


@pytest.mark.parametrize("question", ["hello", "aware", "used", "score", "areas", "note"])
def test_invalid_input_at_every_prompt_type_gets_a_hint_and_no_answer(question: str) -> None:
    player = Player()
    player.into_survey()
    response = player.state.response
    assert response is not None
    response.current = question
    response.answers = {"aware": "yes", "used": "often", "score": 5}
    player.answers = dict(response.answers)
    before = dict(player.answers)
    junk = "🙂" * 21 if question == "note" else "🙂🙂🙂"  # any text answers a text question
    for event in (
        ev.Choose(player.state.revision, "not-an-option"),
        ev.Text(junk),
        ev.Choose(player.state.revision, "99"),
        ev.Unsupported(),
    ):
        outcome = player.do(event)
        assert outcome.prompts, "never silence"
        assert player.current == question
    assert player.answers == before


def test_a_stale_button_is_not_recorded_twice() -> None:
    player = Player()
    player.into_survey()
    player.press(ev.DONE)
    token = player.state.revision
    player.do(ev.Choose(token, "yes"))
    outcome = player.do(ev.Choose(token, "no"))  # the same keyboard pressed again
    assert player.answers == {"aware": "yes"}
    assert not outcome.writes
    assert "This button is out of date. Here is where you are now." in player.notices()


def test_pause_and_resume_return_to_the_same_question() -> None:
    player = Player()
    player.into_survey()
    player.press(ev.DONE)
    player.press("yes")
    player.press(ev.PAUSE)
    assert player.state.stage == PAUSED
    player.do(ev.Resume())
    assert player.state.stage == QUESTION and player.current == "used"


def test_language_change_mid_survey_keeps_answers_and_question() -> None:
    player = Player()
    player.into_survey()
    player.press(ev.DONE)
    player.press("yes")
    player.do(ev.ChangeLanguage())
    assert player.state.stage == LANGUAGE
    player.press("uk")
    assert player.state.locale == "uk" and player.current == "used"
    assert player.answers == {"aware": "yes"}


def test_deep_links_preselect_city_practice_and_round() -> None:
    world = replace(WORLD, rounds=(RoundInfo(7, "warszawa", frozenset({"centre"}), 1),))
    player = Player(world, State(locale="en", consented=True, stage="idle", revision=5))
    player.do(ev.Start(payload="r_7"))
    assert player.state.round_id == 7 and player.current == "hello"
    assert player.state.response.round_id == 7  # type: ignore[union-attr]

    player = Player(world, State(locale="en", consented=True, stage="idle", revision=5))
    player.do(ev.Start(payload="c_warszawa"))
    assert player.state.stage == PRACTICE


def test_unknown_deep_link_falls_back_with_one_explanation() -> None:
    player = Player(state=State(locale="en", consented=True, stage="idle", revision=5))
    player.do(ev.Start(payload="p_nowhere"))
    assert player.notices() == [
        "This link is unknown or has expired, so let's start from the beginning."
    ]
    assert player.state.stage == "city"


def test_an_evaluated_practice_is_not_answered_twice() -> None:
    world = replace(WORLD, completed=frozenset({("centre", None)}))
    player = Player(world, State(locale="en", consented=True, stage="idle", revision=5))
    player.do(ev.Start(payload="p_centre"))
    assert player.state.response is None and player.state.stage == PRACTICE


def test_choosing_an_unfinished_practice_resumes_it() -> None:
    unfinished = ResponseState(
        3, 1, "centre", None, current="score", answers={"aware": "yes", "used": None}
    )
    world = replace(WORLD, unfinished={("centre", None): unfinished})
    player = Player(world, State(locale="en", consented=True, stage="idle", revision=5))
    player.do(ev.Start(payload="p_centre"))
    assert player.state.response is unfinished and player.current == "score"


def test_a_number_question_takes_typed_numbers_within_its_bounds() -> None:
    from dataclasses import replace as copy

    from conversations.survey import Question, read_number, within_bounds

    years = Question("years", "number", {"en": "Years?"}, tag="other", lowest=0, highest=80)
    assert read_number(years, " 12 ") == 12 and read_number(years, "1 5") == 15
    assert read_number(years, "2,5") is None and read_number(years, "twelve") is None
    assert not within_bounds(years, 81) and within_bounds(years, 0)
    hours = copy(years, decimal=True)
    assert read_number(hours, "2,50") == "2.5" and within_bounds(hours, "79.9")


def test_a_decision_leaves_the_callers_state_unchanged() -> None:
    player = Player()
    player.into_survey()
    player.press(ev.DONE)
    player.press("yes")  # an answer in the state's response
    before = player.state
    snapshot = deepcopy(before)
    answers_before = before.response.answers  # type: ignore[union-attr]
    for event in (
        ev.from_action(before.revision, "often"),  # an answer
        ev.from_action(before.revision, ev.BACK),  # back: the current question moves
        ev.from_action(before.revision - 1, "no"),  # a stale press
        ev.ChangeLanguage("pl"),
        ev.Delete(),
    ):
        outcome = handle(before, event, WORLD)
        assert before == snapshot, event  # nothing of the input changed …
        assert before.response is not None and before.response.answers is answers_before
        assert outcome.state is not before  # … the decision is a new state
    outcome = handle(before, ev.from_action(before.revision, "often"), WORLD)
    assert outcome.state.response is not None
    assert outcome.state.response.answers == {**snapshot.response.answers, "used": "often"}  # type: ignore[union-attr]
    assert outcome.state.revision == snapshot.revision + 1
