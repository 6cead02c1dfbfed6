"""The respondent's conversation as a pure state machine: (state, event, world) → outcome.

Nothing here touches Telegram or the database. The caller loads a `State` and a `World`,
calls `handle`, persists `Outcome.state` and `Outcome.writes` in one transaction, and renders
`Outcome.prompts` in the respondent's language.

Buttons carry the state's `revision` as their token. Every handled event bumps the revision, so
a press on an older message (a double tap, a stale keyboard) is recognised and answered with the
current prompt instead of being recorded twice.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property

from conversations import events as ev
from conversations.messages import DeepLink, Joined, Local, Msg, Plain, Text, _, _n
from conversations.survey import (
    DONT_KNOW,
    NO,
    SCALE,
    YES,
    AnswerValue,
    Question,
    Survey,
    condition_may_hold,
    read_number,
    within_bounds,
)

LANGUAGE_NAMES = {"uk": "Українська", "ru": "Русский", "en": "English", "pl": "Polski"}
PAGE_SIZE = 8
ACCEPT, DECLINE, ANOTHER, SUBSCRIBE = "accept", "decline", "another", "subscribe"
REMIND, RESULTS = "remind", "results"
ERASE, KEEP = "erase", "keep"

# Stages of a conversation.
LANGUAGE, CONSENT, CITY, PRACTICE = "language", "consent", "city", "practice"
QUESTION, PAUSED, FINISHED, IDLE = "question", "paused", "finished", "idle"
CONFIRM_DELETE = "delete"

SKIPPED = None  # a skipped question is stored as an answer without a value


@dataclass(frozen=True)
class CityInfo:
    """A city that has practices to evaluate."""

    id: str
    name: Mapping[str, str]


@dataclass(frozen=True)
class PracticeInfo:
    """An active practice of a city."""

    id: str
    city_id: str
    name: Mapping[str, str]
    description: Mapping[str, str]


@dataclass(frozen=True)
class RoundInfo:
    """A round that is open now."""

    id: int
    city_id: str
    practice_ids: frozenset[str]
    survey_id: int
    open_until: datetime | None = None  # its last moment, for "closes on 31 March"
    remindable: bool = False  # a reminder asked for today could still come before it closes


@dataclass
class ResponseState:
    """A response being given; `id` is None until the caller has stored it."""

    id: int | None
    survey_id: int
    practice_id: str
    round_id: int | None
    current: str | None
    answers: dict[str, AnswerValue | None] = field(default_factory=dict)
    status: str = "in_progress"


@dataclass
class State:
    """Where one respondent is; loaded from and saved to the database around every event."""

    stage: str = LANGUAGE
    locale: str | None = None
    consented: bool = False
    city_id: str | None = None
    practice_id: str | None = None
    round_id: int | None = None
    page: int = 0
    revision: int = 0
    response: ResponseState | None = None


@dataclass(frozen=True)
class World:
    """Read-only facts the engine consults: the catalog, open rounds, surveys, own history."""

    cities: tuple[CityInfo, ...]
    practices: tuple[PracticeInfo, ...]
    rounds: tuple[RoundInfo, ...]
    surveys: Mapping[int, Survey]
    default_survey_id: int
    min_group_size: int = 5
    unfinished: Mapping[tuple[str, int | None], ResponseState] = field(default_factory=dict)
    completed: frozenset[tuple[str, int | None]] = frozenset()
    can_subscribe: bool = False  # the channel can deliver invitations (Telegram, not the console)
    subscribed: frozenset[str] = frozenset()  # cities this chat already gets invitations for
    reminders: frozenset[int] = frozenset()  # rounds this chat asked to be reminded of
    # (round, practice) whose final results this chat asked to be sent
    results_requests: frozenset[tuple[int, str]] = frozenset()
    nominations_open: bool = False  # an edition takes proposals (and the channel has /propose)

    def city(self, city_id: str | None) -> CityInfo | None:
        """The city with this id, if it has practices."""
        return next((c for c in self.cities if c.id == city_id), None)

    def practice(self, practice_id: str | None) -> PracticeInfo | None:
        """The active practice with this id."""
        return self._practices_by_id.get(practice_id)

    @cached_property
    def _practices_by_id(self) -> dict[str | None, PracticeInfo]:
        """Looked up for every question's text: a dict, not a scan of the catalog."""
        return {p.id: p for p in reversed(self.practices)}  # the first of a duplicate id wins

    def practices_of(self, city_id: str | None) -> list[PracticeInfo]:
        """The active practices of a city, in catalog order."""
        return [p for p in self.practices if p.city_id == city_id]

    def round(self, round_id: int | None) -> RoundInfo | None:
        """The open round with this id."""
        return next((r for r in self.rounds if r.id == round_id), None)


@dataclass(frozen=True)
class Button:
    """A button: what it says and the action it sends back."""

    label: Text
    action: str


_SCALE_ROW = tuple(Button(Plain(str(n)), str(n)) for n in SCALE)  # the same for every question


@dataclass(frozen=True)
class Prompt:
    """A message for the respondent; `token` is the revision its buttons answer to."""

    lines: tuple[Text, ...]
    buttons: tuple[tuple[Button, ...], ...] = ()
    token: int | None = None
    kind: str = "message"  # "question" | "message" | "notice"
    expects_text: bool = False


@dataclass(frozen=True)
class SaveAnswer:
    """Store (or replace) the answer to a question; value None means skipped."""

    question_id: str
    value: AnswerValue | None


@dataclass(frozen=True)
class DeleteAnswers:
    """Remove answers to questions that the respondent's path no longer includes."""

    question_ids: tuple[str, ...]


@dataclass(frozen=True)
class ForgetRespondent:
    """Erase the respondent and everything stored about them."""


@dataclass(frozen=True)
class Subscribe:
    """Invite this chat to future rounds in a city, in the respondent's language."""

    city_id: str
    locale: str


@dataclass(frozen=True)
class RequestReminder:
    """Remind this chat once before a round closes, in the respondent's language."""

    round_id: int
    locale: str


@dataclass(frozen=True)
class RequestResults:
    """Send this chat a practice's final results when its round's figures are frozen, in the
    respondent's language."""

    round_id: int
    practice_id: str
    locale: str


Write = SaveAnswer | DeleteAnswers | ForgetRespondent | Subscribe | RequestReminder | RequestResults


@dataclass
class Outcome:
    """What an event changed and what to show."""

    state: State
    writes: list[Write] = field(default_factory=list)
    prompts: list[Prompt] = field(default_factory=list)
    echo: Prompt | None = (
        None  # the answered question with its answer, to replace the pressed message
    )


@dataclass(frozen=True)
class OwnResponse:
    """One of a person's responses as /mydata shows it: the practice, and each answer with
    its question, in survey order."""

    practice: Mapping[str, str]
    city: Mapping[str, str]
    completed: bool
    answers: tuple[tuple[Question, AnswerValue | None], ...]


@dataclass(frozen=True)
class StoredData:
    """What is stored about one person, for /mydata."""

    locale: str | None
    consent_at: datetime | None
    completed: int
    unfinished: int
    subscribed: tuple[Mapping[str, str], ...]  # names of the cities with invitations
    reminders: tuple[Mapping[str, str], ...] = ()  # cities of the rounds with a reminder asked
    results: tuple[Mapping[str, str], ...] = ()  # practices whose results were asked for
    responses: tuple[OwnResponse, ...] = ()


def my_data_prompts(data: StoredData) -> list[Prompt]:
    """The answer to /mydata: each response with its answers (one message each, to stay within
    a message's length), then everything else in plain words and how to delete it."""
    return [*(_own_response_prompt(r) for r in data.responses), my_data_prompt(data)]


def _own_response_prompt(response: OwnResponse) -> Prompt:
    heading = (
        _(
            "Your answers about {practice} ({city}):",
            practice=Local(response.practice),
            city=Local(response.city),
        )
        if response.completed
        else _(
            "Your answers so far about {practice} ({city}), not finished:",
            practice=Local(response.practice),
            city=Local(response.city),
        )
    )
    lines: list[Text] = [heading]
    for question, value in response.answers:
        text = Local(
            question.text, {"practice": Local(response.practice), "city": Local(response.city)}
        )
        lines.append(
            _("• {question} — {answer}", question=text, answer=answer_label(question, value))
        )
    return Prompt(tuple(lines))


def answer_label(question: Question, value: AnswerValue | None) -> Text:
    """An answer as words: the option's label, the number, the text, or "skipped"."""
    if value is None:
        return _("skipped")
    if value == DONT_KNOW:
        return _("I don't know")
    if question.type == "yes_no":
        return _("Yes") if value == YES else _("No")
    if isinstance(value, int):
        return Plain(str(value))
    labels = {o.id: o.label for o in question.options}
    if isinstance(value, tuple):
        return Joined(tuple(Local(labels[v]) for v in value))
    return Local(labels[value]) if value in labels else Plain(value)


def my_data_prompt(data: StoredData) -> Prompt:
    """The answer to /mydata: everything stored, in plain words, and how to delete it."""
    if data.locale is None and not data.subscribed and not data.reminders and not data.results:
        return Prompt((_("Nothing is stored about you."),))
    lines: list[Text] = [_("This is what is stored about you:")]
    if data.locale:
        lines.append(_("• Language: {language}", language=Plain(LANGUAGE_NAMES[data.locale])))
    if data.consent_at:
        lines.append(_("• Agreed to take part: {date}", date=data.consent_at))
    lines.append(
        _n(
            "• {count} completed survey",
            "• {count} completed surveys",
            data.completed,
        )
    )
    if data.unfinished:
        lines.append(
            _n("• {count} unfinished survey", "• {count} unfinished surveys", data.unfinished)
        )
    if data.subscribed:
        lines.append(
            _(
                "• Invitations to new surveys in: {cities}",
                cities=Joined(tuple(Local(name) for name in data.subscribed)),
            )
        )
    if data.reminders:
        lines.append(
            _(
                "• A reminder before the survey closes in: {cities}",
                cities=Joined(tuple(Local(name) for name in data.reminders)),
            )
        )
    if data.results:
        lines.append(
            _(
                "• Results to send you when they are ready: {practices}",
                practices=Joined(tuple(Local(name) for name in data.results)),
            )
        )
    lines.append(
        _(
            "Your answers are stored under a code, not under your name or Telegram number. "
            "To delete everything, send /delete."
        )
    )
    return Prompt(tuple(lines))


def handle(state: State, event: ev.Event, world: World) -> Outcome:
    """Apply one event to a respondent's state: the new state is `Outcome.state`, a copy; the
    caller's `state` (its response and answers included) is left as it was."""
    return _Conversation(_copy(state), world).handle(event)


def _copy(state: State) -> State:
    """A state the conversation may change: its own response and answers (answer values are
    immutable: numbers, strings, tuples)."""
    response = state.response
    if response is not None:
        response = replace(response, answers=dict(response.answers))
    return replace(state, response=response)


def progress_of(
    survey: Survey, response: ResponseState, visible: list[Question] | None = None
) -> tuple[int, int]:
    """(N, M) of "question N of M": N is the current question's place on the respondent's path
    (the visible path when the caller has it already); M counts every question that may still be
    asked, so it never grows while the person answers, and it is the path's length once the
    answers decide it."""
    if visible is None:
        visible = visible_path(survey, response.answers)
    current = survey.index(response.current) if response.current else len(survey.questions)
    before = sum(1 for q in visible if q.type != "info" and survey.index(q.id) < current)
    return before + 1, most_questions(survey, response.answers, current)


def most_questions(
    survey: Survey, answers: Mapping[str, AnswerValue | None], current: int = 0
) -> int:
    """How many questions may still be on the path, given the answers so far: a question counts
    unless the answers already hide it. Questions from `current` on that have no answer yet
    are open: a condition on them may go either way."""
    given: dict[str, AnswerValue] = {}
    open_ids: set[str] = set()
    count = 0
    for index, question in enumerate(survey.questions):
        if open_ids.isdisjoint(question.depends_on):
            shown: bool | None = question.shown(given)
        else:  # it reads an open question, so it has a condition
            assert question.show_if is not None
            shown = condition_may_hold(question.show_if, given, open_ids)
        if shown is False:
            continue
        count += question.type != "info"
        if shown is None or (question.id not in answers and index >= current):
            open_ids.add(question.id)
        elif (value := answers.get(question.id)) is not None:
            given[question.id] = value
    return count


def visible_path(survey: Survey, answers: Mapping[str, AnswerValue | None]) -> list[Question]:
    """The questions asked given these answers, in order. A condition sees only the answers of
    earlier questions that are themselves asked: a hidden question's old answer counts for
    nothing, so a chain of conditions falls together."""
    given: dict[str, AnswerValue] = {}
    path = []
    for question in survey.questions:
        if question.shown(given):
            path.append(question)
            if (value := answers.get(question.id)) is not None:
                given[question.id] = value
    return path


def required_answers(survey: Survey, answers: Mapping[str, AnswerValue | None]) -> set[str]:
    """The question ids a completed response must hold: every visible non-information question."""
    return {q.id for q in visible_path(survey, answers) if q.type != "info"}


class _Conversation:
    """One event applied to one state; methods are named after what the respondent does."""

    def __init__(self, state: State, world: World) -> None:
        self.state = state
        self.world = world
        self.out = Outcome(state)

    # --- dispatch -------------------------------------------------------------------------

    def handle(self, event: ev.Event) -> Outcome:
        """Route an event; a stale button gets the current prompt instead of a second answer."""
        token = getattr(event, "token", None)
        if token is not None and token != self.state.revision:
            self._notice(_("This button is out of date. Here is where you are now."))
            self._show_current()
            return self.out
        self.state.revision += 1
        match event:
            case ev.Start():
                self._start(event)
            case ev.ChangeLanguage():
                self._change_language(event.locale)
            case ev.Cancel():
                self._cancel()
            case ev.Help():
                self._help()
            case ev.Delete():
                self._ask_delete()
            case ev.Unsupported():
                self._notice(_("I can only read text and button presses."))
                self._show_current()
            case _ if self.state.locale is None and self.state.stage != LANGUAGE:
                self._ask_language(None)
            case _:
                self._in_stage(event)
        return self.out

    def _in_stage(self, event: ev.Event) -> None:
        handlers = {
            LANGUAGE: self._on_language,
            CONSENT: self._on_consent,
            CITY: self._on_city,
            PRACTICE: self._on_practice,
            QUESTION: self._on_question,
            PAUSED: self._on_paused,
            FINISHED: self._on_finished,
            IDLE: self._on_idle,
            CONFIRM_DELETE: self._on_confirm_delete,
        }
        handlers[self.state.stage](event)

    # --- start, language, consent ---------------------------------------------------------

    def _start(self, event: ev.Start) -> None:
        if event.payload:
            self._apply_deep_link(event.payload)
        if self.state.locale is None:
            self._ask_language(event.language_code)
        elif not self.state.consented:
            self._ask_consent()
        elif self._has_unfinished() and not event.payload:
            self._offer_resume()
        else:
            self._continue_after_consent()

    def _apply_deep_link(self, payload: str) -> None:
        kind, _sep, ident = payload.partition("_")
        found = False
        if kind == "c" and (city := self.world.city(ident)):
            self._preselect(city.id, None, None)
            found = True
        elif kind == "p" and (practice := self.world.practice(ident)):
            self._preselect(practice.city_id, practice.id, None)
            found = True
        elif kind == "r":
            found = self._apply_round_link(ident)
        if not found:
            self._preselect(None, None, None)
            self._notice(
                _("This link is unknown or has expired, so let's start from the beginning.")
            )

    def _apply_round_link(self, ident: str) -> bool:
        """r_<round> or r_<round>_<practice> (a practice's poster during a round). A practice
        whose round has closed still opens, outside the round."""
        number, _sep, practice_id = ident.partition("_")
        round_ = self.world.round(ev.whole_number(number))
        practice = self.world.practice(practice_id) if practice_id else None
        if round_ is not None and (practice is None or practice.id in round_.practice_ids):
            only = next(iter(round_.practice_ids)) if len(round_.practice_ids) == 1 else None
            self._preselect(round_.city_id, practice.id if practice else only, round_.id)
            return True
        if practice is not None:
            self._preselect(practice.city_id, practice.id, None)
            return True
        return False

    def _preselect(
        self, city_id: str | None, practice_id: str | None, round_id: int | None
    ) -> None:
        self.state.city_id, self.state.practice_id, self.state.round_id = (
            city_id,
            practice_id,
            round_id,
        )

    def _ask_language(self, language_code: str | None) -> None:
        self.state.stage = LANGUAGE
        order = sorted(LANGUAGE_NAMES, key=lambda code: code != _base_language(language_code))
        rows = tuple((Button(Plain(LANGUAGE_NAMES[code]), code),) for code in order)
        if _base_language(language_code) in LANGUAGE_NAMES:  # shown in that language
            self._prompt([_("Choose your language:")], rows)
        else:
            self._prompt(
                [Plain("Оберіть мову · Выберите язык · Choose your language · Wybierz język")],
                rows,
            )

    def _change_language(self, locale: str | None) -> None:
        if locale is None:
            self._ask_language(self.state.locale)
        else:
            self._set_language(locale)

    def _on_language(self, event: ev.Event) -> None:
        choice = event.value if isinstance(event, ev.Choose) else None
        if isinstance(event, ev.Text):
            choice = _match_language(event.text)
        if choice in LANGUAGE_NAMES:
            self._set_language(choice)
        else:
            self._ask_language(self.state.locale)

    def _set_language(self, locale: str) -> None:
        if locale not in LANGUAGE_NAMES:
            self._ask_language(self.state.locale)
            return
        self.state.locale = locale
        response = self.state.response
        if not self.state.consented:
            self._ask_consent()
        elif (
            response
            and response.status == "in_progress"
            and self.state.stage in (LANGUAGE, QUESTION, PAUSED)
        ):
            self._notice(_("Language changed. Your answers are kept."))
            self._ask_current_question()
        else:
            self._continue_after_consent()

    def _ask_consent(self) -> None:
        self.state.stage = CONSENT
        text = _(
            "Before we start, please read this.\n\n"
            "• This survey is about how your city helps migrants. It takes about 3 minutes.\n"
            "• We do not store your name or your Telegram number next to your answers. "
            "Answers are kept under a code (a pseudonym).\n"
            "• We only publish totals for groups of at least {k} people. "
            "Nobody can see what one person answered.\n"
            "• You can see your answers with /mydata and delete everything with /delete at any "
            "time. Totals of {k} or more people are not personal data, so the final results "
            "of a survey round that has closed stay as they are after /delete.\n\n"
            "Do you agree to take part?",
            k=self.world.min_group_size,
        )
        self._prompt([text], ((Button(_("I agree"), ACCEPT), Button(_("No, thanks"), DECLINE)),))

    def _on_consent(self, event: ev.Event) -> None:
        if isinstance(event, ev.Choose) and event.value == ACCEPT:
            self.state.consented = True
            self._continue_after_consent()
        elif isinstance(event, ev.Choose) and event.value == DECLINE:
            self.out.writes.append(ForgetRespondent())
            self.out.state = State(stage=IDLE, revision=self.state.revision)
            self._prompt(
                [_("All right. Nothing about you is stored. If you change your mind, send /start.")]
            )
        else:
            self._notice(_("Please choose one of the buttons below the message."))
            self._ask_consent()

    def _continue_after_consent(self) -> None:
        if self.state.practice_id and self.world.practice(self.state.practice_id):
            self._begin_practice(self.state.practice_id)
        elif self.state.city_id and self.world.city(self.state.city_id):
            self._ask_practice()
        else:
            self._ask_city()

    # --- city and practice ----------------------------------------------------------------

    def _ask_city(self, page: int | None = None) -> None:
        self.state.stage = CITY
        cities = self.world.cities
        if not cities:
            self.state.stage = IDLE
            self._prompt([_("There is nothing to evaluate yet. Please come back later.")])
            return
        self.state.page = _clamp_page(page if page is not None else self.state.page, len(cities))
        chunk = cities[self.state.page * PAGE_SIZE : (self.state.page + 1) * PAGE_SIZE]
        rows: list[tuple[Button, ...]] = [(Button(Local(c.name), c.id),) for c in chunk]
        rows += _pager(self.state.page, len(cities))
        self._prompt([_("Which city do you live in?")], tuple(rows))

    def _on_city(self, event: ev.Event) -> None:
        if isinstance(event, ev.Page):
            self._ask_city(event.page)
        elif isinstance(event, ev.Choose) and self.world.city(event.value):
            self._choose_city(event.value)
        elif isinstance(event, ev.Text) and (city := self._match_city(event.text)):
            self._choose_city(city.id)
        else:
            self._notice(_("Please choose your city with the buttons."))
            self._ask_city()

    def _choose_city(self, city_id: str) -> None:
        self.state.city_id, self.state.page = city_id, 0
        self._ask_practice()

    def _ask_practice(self, page: int | None = None) -> None:
        self.state.stage = PRACTICE
        city = self.world.city(self.state.city_id)
        practices = self.world.practices_of(self.state.city_id)
        if city is None or not practices:
            self._ask_city()
            return
        self.state.page = _clamp_page(page if page is not None else self.state.page, len(practices))
        chunk = practices[self.state.page * PAGE_SIZE : (self.state.page + 1) * PAGE_SIZE]
        lines: list[Text] = [
            _("Which service in {city} would you like to evaluate?", city=Local(city.name))
        ]
        for number, practice in enumerate(chunk, start=self.state.page * PAGE_SIZE + 1):
            lines.append(
                _(
                    "{number}. {name} — {description}",
                    number=number,
                    name=Local(practice.name),
                    description=Local(practice.description),
                )
            )
        rows: list[tuple[Button, ...]] = [(Button(Local(p.name), p.id),) for p in chunk]
        rows += _pager(self.state.page, len(practices))
        rows.append((Button(_("‹ Another city"), ev.BACK),))
        self._prompt(lines, tuple(rows))

    def _on_practice(self, event: ev.Event) -> None:
        if isinstance(event, ev.Page):
            self._ask_practice(event.page)
        elif isinstance(event, ev.Back):
            self.state.page = 0
            self._ask_city()
        elif isinstance(event, ev.Choose) and self._practice_here(event.value):
            self._begin_practice(event.value)
        elif isinstance(event, ev.Text) and (practice := self._match_practice(event.text)):
            self._begin_practice(practice.id)
        else:
            self._notice(_("Please choose a service with the buttons."))
            self._ask_practice()

    def _practice_here(self, practice_id: str) -> bool:
        practice = self.world.practice(practice_id)
        return practice is not None and practice.city_id == self.state.city_id

    def _begin_practice(self, practice_id: str) -> None:
        practice = self.world.practice(practice_id)
        assert practice is not None
        self.state.city_id, self.state.practice_id = practice.city_id, practice.id
        round_ = self._round_for(practice)
        self.state.round_id = round_.id if round_ else None
        key = (practice.id, self.state.round_id)
        if key in self.world.completed:
            self.state.practice_id = None
            self._notice(
                _("You have already evaluated this service. Thank you! You can choose another one.")
            )
            self._ask_practice()
            return
        unfinished = self.world.unfinished.get(key)
        if unfinished is not None:
            self.state.response = unfinished
            self._notice(_("Welcome back! You can continue where you stopped."))
            self._ask_current_question()
            return
        survey_id = round_.survey_id if round_ else self.world.default_survey_id
        survey = self.world.surveys[survey_id]
        self.state.response = ResponseState(
            None, survey_id, practice.id, self.state.round_id, current=survey.questions[0].id
        )
        most = most_questions(survey, {})
        self._prompt(
            [
                Local(
                    survey.intro,
                    {
                        "practice": Local(practice.name),
                        "city": Local(self._city_name(practice.city_id)),
                    },
                ),
                _n(
                    "At most {count} question. You can skip a question, go back, or continue later.",
                    "At most {count} questions. You can skip a question, go back, or continue later.",
                    most,
                ),
            ]
        )
        self._ask_current_question()

    def _round_for(self, practice: PracticeInfo) -> RoundInfo | None:
        chosen = self.world.round(self.state.round_id)
        if chosen and practice.id in chosen.practice_ids:
            return chosen
        return next((r for r in self.world.rounds if practice.id in r.practice_ids), None)

    # --- the survey -----------------------------------------------------------------------

    def _survey(self) -> Survey:
        assert self.state.response is not None
        return self.world.surveys[self.state.response.survey_id]

    def _current(self) -> Question:
        assert self.state.response is not None and self.state.response.current is not None
        return self._survey().question(self.state.response.current)

    def _on_question(self, event: ev.Event) -> None:
        response = self.state.response
        if response is None or response.current is None:
            self._continue_after_consent()
            return
        question = self._current()
        match event:
            case ev.Choose():
                self._choose(question, event.value)
            case ev.Text():
                self._type(question, event.text)
            case ev.Done():
                self._confirm(question)
            case ev.Back():
                self._go_back(question)
            case ev.Skip():
                self._skip(question)
            case ev.Pause():
                self._pause()
            case ev.Resume():
                self._ask_current_question()
            case _:
                self._ask_current_question()

    def _choose(self, question: Question, value: str) -> None:
        if question.type == "multiple_choice" and value in question.option_ids:
            self._toggle(question, value)
        elif question.type == "scale" and ev.whole_number(value) in SCALE:
            self._answer(question, int(value))
        elif question.type == "scale" and value == DONT_KNOW and question.dont_know:
            self._answer(question, DONT_KNOW)
        elif question.type in ("single_choice", "yes_no") and value in question.option_ids:
            self._answer(question, value)
        else:
            self._hint(_("Please use the buttons below the question."))

    def _type(self, question: Question, text: str) -> None:
        cleaned = _clean_text(text)
        if question.type == "text":
            if not cleaned:
                self._hint(_("Please type your answer as a message, or press Skip."))
            elif len(cleaned) > question.max_length:
                self._hint(
                    _n(
                        "This is too long: please write at most {count} character.",
                        "This is too long: please write at most {count} characters.",
                        question.max_length,
                    )
                )
            else:
                self._answer(question, cleaned)
            return
        if question.type == "number":
            self._type_number(question, cleaned)
            return
        action = self._typed_choice(question, cleaned)
        if action is None:
            self._hint(_("Please answer with the buttons below the question."))
        else:
            self._on_question(ev.from_action(None, action))

    def _type_number(self, question: Question, text: str) -> None:
        value = read_number(question, text)
        if value is None and read_number(replace(question, decimal=True), text) is not None:
            self._hint(_("Please type a whole number, without decimals."))
        elif value is None:
            self._hint(_("Please type a number, for example 12."))
        elif not within_bounds(question, value):
            self._hint(_("This number is outside the allowed range."))
        else:
            self._answer(question, value)

    def _typed_choice(self, question: Question, text: str) -> str | None:
        """Typed numbers and labels count as presses (handy in the console and on old phones)."""
        buttons = [b for row in self._answer_buttons(question) for b in row]
        number = ev.whole_number(text)
        if number is not None and question.type != "scale" and 1 <= number <= len(buttons):
            return buttons[number - 1].action
        if question.type == "scale" and number is not None:
            return text
        folded = _fold(text)
        for button in buttons:
            label = button.label
            if isinstance(label, Local) and folded in {_fold(t) for t in label.texts.values()}:
                return button.action
        return (
            {
                "yes": YES,
                "no": NO,
                "так": YES,
                "ні": NO,
                "да": YES,
                "нет": NO,
                "tak": YES,
                "nie": NO,
            }.get(folded)
            if question.type == "yes_no"
            else None
        )

    def _toggle(self, question: Question, option: str) -> None:
        assert self.state.response is not None
        current = self.state.response.answers.get(question.id)
        chosen = list(current) if isinstance(current, tuple) else []
        if option in chosen:
            chosen.remove(option)
        elif question.max is not None and len(chosen) >= question.max:
            self._hint(
                _n(
                    "You can choose at most {count} option.",
                    "You can choose at most {count} options.",
                    question.max,
                )
            )
            return
        else:
            chosen.append(option)
        value = tuple(o for o in question.option_ids if o in chosen)
        self._store(question, value if value else None)
        if not value:
            self.out.writes[-1:] = [DeleteAnswers((question.id,))]
            self.state.response.answers.pop(question.id, None)
        self._ask_current_question()

    def _confirm(self, question: Question) -> None:
        if question.type == "info":
            self._advance(question)
            return
        if question.type != "multiple_choice":
            self._ask_current_question()
            return
        assert self.state.response is not None
        chosen = self.state.response.answers.get(question.id)
        count = len(chosen) if isinstance(chosen, tuple) else 0
        if count < max(question.min, 1):
            self._hint(
                _n(
                    "Please choose at least {count} option, or press Skip.",
                    "Please choose at least {count} options, or press Skip.",
                    max(question.min, 1),
                )
            )
            return
        self._echo(question)
        self._advance(question)

    def _answer(self, question: Question, value: AnswerValue) -> None:
        self._store(question, value)
        self._echo(question)
        self._advance(question)

    def _skip(self, question: Question) -> None:
        if question.type == "info":
            self._advance(question)
        elif not question.skippable:
            self._hint(_("This question is needed for the survey. Please answer it."))
        else:
            self._store(question, SKIPPED)
            self._echo(question)
            self._advance(question)

    def _store(self, question: Question, value: AnswerValue | None) -> None:
        assert self.state.response is not None
        self.state.response.answers[question.id] = value
        self.out.writes.append(SaveAnswer(question.id, value))

    def _advance(self, question: Question) -> None:
        """Go to the next question on the path, dropping answers the path no longer asks."""
        response = self.state.response
        survey = self._survey()
        assert response is not None
        path = visible_path(survey, response.answers)
        on_path = {q.id for q in path}
        hidden = tuple(sorted(qid for qid in response.answers if qid not in on_path))
        if hidden:
            self.out.writes.append(DeleteAnswers(hidden))
            for qid in hidden:
                del response.answers[qid]
        position = survey.index(question.id)
        following = [q for q in path if survey.index(q.id) > position]
        if following:
            response.current = following[0].id
            self._ask_current_question(path)
        else:
            self._finish()

    def _go_back(self, question: Question) -> None:
        response = self.state.response
        survey = self._survey()
        assert response is not None
        position = survey.index(question.id)
        earlier = [
            q for q in visible_path(survey, response.answers) if survey.index(q.id) < position
        ]
        if earlier:
            response.current = earlier[-1].id
            self._ask_current_question()
        else:
            self.state.page = 0
            self._ask_practice()

    def _pause(self) -> None:
        self.state.stage = PAUSED
        rows = [(Button(_("Continue"), ev.RESUME),)]
        if self._reminder_round() is not None:
            rows.append((Button(_("Remind me"), REMIND),))
        self._prompt(
            [
                _(
                    "Saved. Your answers are kept. "
                    "Continue any time with /resume or the button below."
                )
            ],
            tuple(rows),
        )

    def _reminder_round(self) -> RoundInfo | None:
        """The open round of the paused response, if a reminder can be offered for it: the
        channel delivers, one can still come before it closes, none is asked for already."""
        response = self.state.response
        round_ = self.world.round(response.round_id) if response else None
        if round_ is None or not round_.remindable or not self.world.can_subscribe:
            return None
        return None if round_.id in self.world.reminders else round_

    def _ask_reminder(self) -> None:
        round_ = self._reminder_round()
        if round_ is None or self.state.locale is None:
            self._pause()
            return
        self.out.writes.append(RequestReminder(round_.id, self.state.locale))
        self._prompt(
            [
                _(
                    "Done. If you have not finished by then, I will remind you once before the "
                    "survey closes on {date}. To cancel the reminder, send /stop.",
                    date=round_.open_until,
                )
                if round_.open_until
                else _(
                    "Done. If you have not finished by then, I will remind you once before the "
                    "survey closes. To cancel the reminder, send /stop."
                )
            ],
            ((Button(_("Continue"), ev.RESUME),),),
        )

    def _finish(self) -> None:
        response = self.state.response
        assert response is not None
        response.status, response.current = "completed", None
        self.state.stage = FINISHED
        self.state.practice_id = None
        thanks = _(
            "Thank you! Your answers are saved. "
            "They help to make city services better for migrants."
        )
        share = _(
            "Do you know someone who uses this service too? Send them this link: {link}",
            link=DeepLink(f"p_{response.practice_id}"),
        )
        lines: list[Text] = [thanks, share]
        if self.world.nominations_open:
            lines.append(_("Do you know a practice worth evaluating? Send /propose to tell us."))
        self._prompt(lines, self._finished_buttons())

    def _finished_buttons(self) -> tuple[tuple[Button, ...], ...]:
        rows: list[tuple[Button, ...]] = []
        city = self.state.city_id
        if self._results_offer() is not None:
            rows.append((Button(_("Send me the results when they are ready"), RESULTS),))
        if self.world.can_subscribe and city and city not in self.world.subscribed:
            rows.append((Button(_("Invite me to future surveys"), SUBSCRIBE),))
        rows.append((Button(_("Evaluate another service"), ANOTHER),))
        return tuple(rows)

    def _results_offer(self) -> tuple[int, str] | None:
        """(round, practice) of the finished response whose results can still be asked for: a
        round's (the always-on survey has no final figures), on a channel that can deliver."""
        response = self.state.response
        if response is None or response.round_id is None or not self.world.can_subscribe:
            return None
        key = (response.round_id, response.practice_id)
        return None if key in self.world.results_requests else key

    def _ask_results(self) -> None:
        offer = self._results_offer()
        if offer is None or self.state.locale is None:
            self._prompt(
                [_("Thank you for taking part! To evaluate another service, send /start.")]
            )
            return
        self.out.writes.append(RequestResults(*offer, self.state.locale))
        self.world = replace(self.world, results_requests=self.world.results_requests | {offer})
        self._prompt(
            [
                _(
                    "Done. When the survey is over and the results are ready, I will send them "
                    "to you once. To cancel, send /stop."
                )
            ],
            self._finished_buttons(),
        )

    def _ask_current_question(self, path: list[Question] | None = None) -> None:
        self.state.stage = QUESTION
        question = self._current()
        response = self.state.response
        assert response is not None
        current, total = progress_of(self._survey(), response, path)
        lines: list[Text] = []
        if question.type != "info":
            lines.append(_("Question {current} of {total}", current=current, total=total))
        lines.append(self._question_text(question))
        lines.extend(self._instructions(question))
        rows = [*self._answer_buttons(question), self._nav_buttons(question)]
        self._prompt(
            lines,
            tuple(r for r in rows if r),
            kind="question",
            expects_text=question.type in ("text", "number"),
        )

    def _question_text(self, question: Question) -> Local:
        practice = self.world.practice(self.state.practice_id) if self.state.practice_id else None
        name = practice.name if practice else {}
        city = self._city_name(practice.city_id) if practice else {}
        return Local(question.text, {"practice": Local(name), "city": Local(city)})

    def _instructions(self, question: Question) -> list[Text]:
        if question.type == "scale":
            return [
                _(
                    "1 = {low}, 5 = {high}",
                    low=Local(question.labels["low"]),
                    high=Local(question.labels["high"]),
                )
            ]
        if question.type == "multiple_choice":
            return [
                _n(
                    "Choose up to {count} option, then press Done.",
                    "Choose up to {count} options, then press Done.",
                    question.max or len(question.options),
                )
            ]
        if question.type == "text":
            return [_("Type your answer as a message.")]
        if question.type == "number":
            return [_number_instruction(question)]
        return []

    def _answer_buttons(self, question: Question) -> list[tuple[Button, ...]]:
        if question.type == "yes_no":
            return [(Button(_("Yes"), YES), Button(_("No"), NO))]
        if question.type == "scale":
            rows = [_SCALE_ROW]
            if question.dont_know:
                rows.append((Button(_("I don't know"), DONT_KNOW),))
            return rows
        if question.type == "single_choice":
            return [(Button(Local(o.label), o.id),) for o in question.options]
        if question.type == "multiple_choice":
            assert self.state.response is not None
            given = self.state.response.answers.get(question.id)
            chosen = given if isinstance(given, tuple) else ()
            rows = [
                (
                    Button(
                        _("✓ {label}", label=Local(o.label)) if o.id in chosen else Local(o.label),
                        o.id,
                    ),
                )
                for o in question.options
            ]
            return [*rows, (Button(_("Done"), ev.DONE),)]
        if question.type == "info":
            return [(Button(_("Continue"), ev.DONE),)]
        return []

    def _nav_buttons(self, question: Question) -> tuple[Button, ...]:
        nav = [Button(_("‹ Back"), ev.BACK)]
        if question.skippable:
            nav.append(Button(_("Skip ›"), ev.SKIP))
        nav.append(Button(_("Later"), ev.PAUSE))
        return tuple(nav)

    def _echo(self, question: Question) -> None:
        """The answered question with the answer, to replace the message it was asked in."""
        assert self.state.response is not None
        value = self.state.response.answers.get(question.id)
        self.out.echo = Prompt(
            (
                self._question_text(question),
                _("Your answer: {answer}", answer=answer_label(question, value)),
            )
        )

    # --- other stages ---------------------------------------------------------------------

    def _on_paused(self, event: ev.Event) -> None:
        if isinstance(event, ev.Resume | ev.Back | ev.Done) or (
            isinstance(event, ev.Choose) and event.value == ev.RESUME
        ):
            self._ask_current_question()
        elif isinstance(event, ev.Choose) and event.value == REMIND:
            self._ask_reminder()
        else:
            self._pause()

    def _on_finished(self, event: ev.Event) -> None:
        if isinstance(event, ev.Choose) and event.value == ANOTHER:
            self.state.page = 0
            self._ask_practice()
        elif isinstance(event, ev.Choose) and event.value == SUBSCRIBE:
            self._subscribe()
        elif isinstance(event, ev.Choose) and event.value == RESULTS:
            self._ask_results()
        elif isinstance(event, ev.Resume) and self._has_unfinished():
            self._offer_resume()
        else:
            self._prompt(
                [_("Thank you for taking part! To evaluate another service, send /start.")]
            )

    def _subscribe(self) -> None:
        city = self.world.city(self.state.city_id)
        if city is None or not self.world.can_subscribe or self.state.locale is None:
            self._prompt([_("Invitations are not available at the moment.")])
            return
        self.out.writes.append(Subscribe(city.id, self.state.locale))
        self._prompt(
            [
                _(
                    "Done. When a new survey starts in {city}, I will send you an invitation. "
                    "To stop invitations, send /stop.",
                    city=Local(city.name),
                )
            ],
            ((Button(_("Evaluate another service"), ANOTHER),),),
        )

    def _help(self) -> None:
        self._prompt(
            [
                _(
                    "This bot asks migrants how useful their city's services for foreigners are. "
                    "Your answers are stored under a code, not under your name, and help the Open Cities audit. "
                    "Only totals of groups of at least {k} people are published. "
                    "/delete erases everything stored about you; the final results of a survey "
                    "round that has closed stay as they are, because totals of {k} or more people "
                    "are not personal data.\n\n"
                    "/start – start a survey\n"
                    "/resume – continue where you stopped\n"
                    "/language – change the language\n"
                    "/mydata – see what is stored about you and your answers\n"
                    "/delete – delete your data\n"
                    "/stop – stop invitations\n"
                    "/cancel – stop what you are doing",
                    k=self.world.min_group_size,
                )
            ]
        )

    def _ask_delete(self) -> None:
        self.state.stage = CONFIRM_DELETE
        self._prompt(
            [
                _(
                    "This deletes everything stored about you: your language, your answers and "
                    "your invitations. It cannot be undone. Delete everything?"
                )
            ],
            ((Button(_("Yes, delete"), ERASE), Button(_("No, keep"), KEEP)),),
        )

    def _on_confirm_delete(self, event: ev.Event) -> None:
        if isinstance(event, ev.Choose) and event.value == ERASE:
            self.out.writes.append(ForgetRespondent())
            self.out.state = State(stage=IDLE, revision=self.state.revision)
            self._prompt(
                [_("Everything about you has been deleted. To take part again, send /start.")]
            )
        elif isinstance(event, ev.Choose) and event.value == KEEP:
            self._prompt([_("Nothing was deleted.")])
            if self._has_unfinished():
                self._offer_resume()
            else:
                self.state.stage = IDLE
        else:
            self._notice(_("Please choose one of the buttons below the message."))
            self._ask_delete()

    def _on_idle(self, event: ev.Event) -> None:
        wants_resume = isinstance(event, ev.Resume) or (
            isinstance(event, ev.Choose) and event.value == ev.RESUME
        )
        if wants_resume and self._has_unfinished():
            self._ask_current_question()
        elif isinstance(event, ev.Choose) and event.value == ANOTHER:
            self._continue_after_consent()
        else:
            self._prompt([_("To start a survey, send /start.")])

    def _has_unfinished(self) -> bool:
        response = self.state.response
        return response is not None and response.status == "in_progress"

    def _offer_resume(self) -> None:
        response = self.state.response
        assert response is not None
        self.state.stage = IDLE
        practice = self.world.practice(response.practice_id)
        current, total = progress_of(self.world.surveys[response.survey_id], response)
        self._prompt(
            [
                _(
                    "You have an unfinished survey about {practice} (question {current} of {total}).",
                    practice=Local(practice.name if practice else {}),
                    current=current,
                    total=total,
                )
            ],
            ((Button(_("Continue"), ev.RESUME),), (Button(_("Choose another service"), ANOTHER),)),
        )

    def _cancel(self) -> None:
        if self._has_unfinished() and self.state.stage in (QUESTION, PAUSED):
            self._pause()
            return
        self.state.stage = IDLE
        self._prompt([_("Stopped. To start again, send /start.")])

    def _show_current(self) -> None:
        """Show the prompt of the current stage again (after a stale press or a hint)."""
        stage = self.state.stage
        if self.state.locale is None or stage == LANGUAGE:
            self._ask_language(self.state.locale)
        elif stage == CONSENT:
            self._ask_consent()
        elif stage == CITY:
            self._ask_city()
        elif stage == PRACTICE:
            self._ask_practice()
        elif stage == QUESTION and self._has_unfinished():
            self._ask_current_question()
        elif stage == PAUSED:
            self._pause()
        elif stage == CONFIRM_DELETE:
            self._ask_delete()
        else:
            self._prompt([_("To start a survey, send /start.")])

    # --- helpers --------------------------------------------------------------------------

    def _hint(self, message: Msg) -> None:
        self._notice(message)
        self._ask_current_question()

    def _notice(self, message: Msg) -> None:
        self.out.prompts.append(Prompt((message,), kind="notice"))

    def _prompt(
        self,
        lines: Sequence[Text],
        buttons: tuple[tuple[Button, ...], ...] = (),
        *,
        kind: str = "message",
        expects_text: bool = False,
    ) -> None:
        token = self.state.revision if buttons else None
        self.out.prompts.append(Prompt(tuple(lines), buttons, token, kind, expects_text))

    def _city_name(self, city_id: str) -> Mapping[str, str]:
        city = self.world.city(city_id)
        return city.name if city else {}

    def _match_city(self, text: str) -> CityInfo | None:
        folded = _fold(text)
        cities = self.world.cities
        number = ev.whole_number(folded)
        if number is not None and 1 <= number <= len(cities):
            return cities[number - 1]
        return next((c for c in cities if folded in {_fold(n) for n in c.name.values()}), None)

    def _match_practice(self, text: str) -> PracticeInfo | None:
        folded = _fold(text)
        practices = self.world.practices_of(self.state.city_id)
        number = ev.whole_number(folded)
        if number is not None and 1 <= number <= len(practices):
            return practices[number - 1]
        return next((p for p in practices if folded in {_fold(n) for n in p.name.values()}), None)


def _number_instruction(question: Question) -> Msg:
    """How to answer a number question, with its bounds."""
    low = None if question.lowest is None else Plain(str(question.lowest))
    high = None if question.highest is None else Plain(str(question.highest))
    if low is not None and high is not None:
        return _("Type a number from {min} to {max}.", min=low, max=high)
    if low is not None:
        return _("Type a number of at least {min}.", min=low)
    if high is not None:
        return _("Type a number of at most {max}.", max=high)
    return _("Type a number.")


def _pager(page: int, count: int) -> list[tuple[Button, ...]]:
    pages = (count + PAGE_SIZE - 1) // PAGE_SIZE
    row = []
    if page > 0:
        row.append(Button(_("‹ Previous"), f"{ev.PAGE_PREFIX}{page - 1}"))
    if page + 1 < pages:
        row.append(Button(_("More ›"), f"{ev.PAGE_PREFIX}{page + 1}"))
    return [tuple(row)] if row else []


def _clamp_page(page: int, count: int) -> int:
    return max(0, min(page, (count - 1) // PAGE_SIZE))


def _base_language(language_code: str | None) -> str | None:
    return (language_code or "").replace("_", "-").split("-")[0].lower() or None


def _match_language(text: str) -> str | None:
    folded = _fold(text)
    for code, name in LANGUAGE_NAMES.items():
        if folded in (code, _fold(name)):
            return code
    return None


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().casefold()


def _clean_text(text: str) -> str:
    """Drop control characters (keeping line breaks) and surrounding blanks."""
    kept = (
        ch
        for ch in text
        if ch in "\n\t" or unicodedata.category(ch)[0] != "C" or unicodedata.category(ch) == "Cf"
    )
    return "".join(kept).strip()
