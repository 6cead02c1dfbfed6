"""The answer pipeline against the pure engine: several people's random conversations go through
app/respond.py and app/pipeline.py (batched, on SQLite and on PostgreSQL), and every reply and
every stored row must be what conversations/engine.py decides on in-memory tables.

The model below keeps each person's rows (respondent, progress, responses, answers,
subscriptions, reminders, results asked for) as plain data, builds the World the engine should
see from them and from the catalog the test created, runs `engine.handle`, and applies the
outcome's writes as the storage contract says. People act concurrently (one event each per
tick, fired with asyncio.gather), so a batch of the pipeline holds several events.

The model always gives the engine the whole World (rounds, own history, subscriptions, …),
also where the pipeline loads less for an answer inside a survey (app/respond.py's
survey_world): so the test also checks that the smaller world decides the same.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.respond import Identity, Reply, my_data, respond, stop_invitations
from app.rounds import create_round, open_round, reminder_possible
from app.services import SHIPPED_SURVEYS, Services
from bot.startup import start_services
from conversations import engine
from conversations import events as ev
from conversations.engine import (
    QUESTION,
    CityInfo,
    DeleteAnswers,
    ForgetRespondent,
    Outcome,
    OwnResponse,
    PracticeInfo,
    Prompt,
    RequestReminder,
    RequestResults,
    ResponseState,
    RoundInfo,
    SaveAnswer,
    State,
    StoredData,
    Subscribe,
    World,
    my_data_prompts,
)
from conversations.notices import last_moment
from conversations.survey import AnswerValue, load_survey_file
from storage.catalog import load_catalog
from storage.models import (
    TELEGRAM,
    Answer,
    ProcessedUpdate,
    Progress,
    ReminderRequest,
    Respondent,
    Response,
    ResultsRequest,
    Subscription,
    utcnow,
)
from tests.conftest import make_settings, reset_postgresql

SURVEY, _definition = load_survey_file(SHIPPED_SURVEYS / "open-cities.yaml")
LANGUAGES = ("uk", "ru", "en", "pl")
CLIENT_LANGUAGES = ("uk", "pl-PL", None, "de", "ru")  # person n's Telegram language
DATABASES = itertools.count()


# --- the world of one example ----------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """Cities with their number of practices, how many of the first city's practices an open
    round covers (0: no round), and how many people talk to the bot."""

    practices_per_city: tuple[int, ...]
    round_practices: int
    people: int

    def cities(self) -> list[str]:
        return [f"city{c}" for c in range(len(self.practices_per_city))]

    def practices(self, city: int) -> list[str]:
        return [f"p{city}{n}" for n in range(self.practices_per_city[city])]


def names(text: str) -> dict[str, str]:
    return dict.fromkeys(LANGUAGES, text)


def catalog_data(setup: Setup) -> dict[str, Any]:
    """A small catalog in the file format: one category, the cities and their practices."""
    cities = [
        {
            "id": city_id,
            "name": names(f"Town {city_id[-1]}"),
            "practices": [
                {
                    "id": practice_id,
                    "category": "point",
                    "name": names(f"Service {practice_id}"),
                    "description": names(f"What {practice_id} does"),
                }
                for practice_id in setup.practices(c)
            ],
        }
        for c, city_id in enumerate(setup.cities())
    ]
    return {"categories": [{"id": "point", "name": names("Point")}], "cities": cities}


async def fresh_services(database_url: str, tmp_path: Path) -> Services:
    """Started services on an empty database of the parametrised kind, without the shipped
    catalog (each example makes its own)."""
    if database_url.startswith("sqlite"):
        database_url = f"sqlite+aiosqlite:///{tmp_path / f'oracle-{next(DATABASES)}.sqlite3'}"
    else:
        await reset_postgresql(database_url)
    return await start_services(make_settings(database_url), load_default_catalog=False)


@dataclass(frozen=True)
class Facts:
    """What the test created, as the engine must see it."""

    cities: tuple[CityInfo, ...]
    practices: tuple[PracticeInfo, ...]
    rounds: tuple[RoundInfo, ...]
    survey_id: int
    survey_version: int
    min_group_size: int


async def build_world(services: Services, setup: Setup) -> Facts:
    """Load the catalog, open the round if there is one; the facts the model works with."""
    data = catalog_data(setup)
    now = utcnow()
    async with services.db.unit_of_work() as uow:
        await load_catalog(uow, data)
        survey = await uow.surveys.latest("open-cities")
        assert survey is not None
        rounds: tuple[RoundInfo, ...] = ()
        if setup.round_practices:
            chosen = setup.practices(0)[: setup.round_practices]
            round_ = await create_round(
                uow, "test", "city0", chosen, survey.id, now, now + timedelta(days=10)
            )
            await open_round(uow, services, round_, "test", now)
            remindable = reminder_possible(round_, now, services.settings.tz)
            info = RoundInfo(
                round_.id,
                "city0",
                frozenset(chosen),
                survey.id,
                open_until=last_moment(round_.closes_at),
                remindable=remindable,
            )
            rounds = (info,)
        survey_id, version = survey.id, survey.version
    cities = tuple(CityInfo(c["id"], c["name"]) for c in data["cities"])
    practices = [
        (position, PracticeInfo(p["id"], c["id"], p["name"], p["description"]))
        for c in data["cities"]
        for position, p in enumerate(c["practices"])
    ]
    ordered = tuple(p for _position, p in sorted(practices, key=lambda x: (x[0], x[1].id)))
    return Facts(cities, ordered, rounds, survey_id, version, services.settings.min_group_size)


# --- the model: one person's rows as plain data -------------------------------------------------

PENDING = -1  # a response the model created; its id comes from the database's sequence


@dataclass
class ModelResponse:
    practice_id: str
    round_id: int | None
    survey_id: int
    locale: str
    status: str
    current: str | None
    answers: dict[str, AnswerValue | None] = field(default_factory=dict)


@dataclass
class Person:
    """One respondent: what the model stores about them and what they see."""

    pseudonym: str
    chat_id: int
    language_code: str | None
    respondent: tuple[str | None, bool] | None = None  # (locale, consented)
    progress: dict[str, Any] | None = None
    responses: dict[int, ModelResponse] = field(default_factory=dict)
    subscriptions: dict[str, tuple[str, bool]] = field(default_factory=dict)  # city → locale, on
    reminders: dict[int, str] = field(default_factory=dict)
    results: dict[tuple[int, str], str] = field(default_factory=dict)
    screen: list[Prompt] = field(default_factory=list)  # the prompts of the latest reply
    history: list[Prompt] = field(default_factory=list)  # earlier prompts with buttons
    last: tuple[int, ev.Event] | None = None  # the latest delivered update

    def state(self) -> State | None:
        """The engine's state from the model's rows (None: a newcomer, no rows)."""
        if self.respondent is None or self.progress is None:
            return None
        progress = dict(self.progress)
        response_id = progress.pop("response_id")
        row = self.responses.get(response_id) if response_id is not None else None
        response = None if row is None else response_state(response_id, row)
        locale, consented = self.respondent
        return State(locale=locale, consented=consented, response=response, **progress)

    def world(self, facts: Facts) -> World:
        """The World the pipeline should build for this person now."""
        own = self.responses.items()
        return World(
            cities=facts.cities,
            practices=facts.practices,
            rounds=facts.rounds,
            surveys={facts.survey_id: SURVEY},
            default_survey_id=facts.survey_id,
            min_group_size=facts.min_group_size,
            unfinished={
                (r.practice_id, r.round_id): response_state(i, r)
                for i, r in own
                if r.status == "in_progress"
            },
            completed=frozenset(
                (r.practice_id, r.round_id) for _i, r in own if r.status == "completed"
            ),
            can_subscribe=True,  # every person here writes from a Telegram chat
            subscribed=frozenset(city for city, (_l, on) in self.subscriptions.items() if on),
            reminders=frozenset(self.reminders),
            results_requests=frozenset(self.results),
        )

    def forget(self) -> None:
        """/delete or a declined consent: nothing stays."""
        self.respondent, self.progress = None, None
        self.responses.clear()
        self.subscriptions.clear()
        self.reminders.clear()
        self.results.clear()

    def store(self, outcome: Outcome) -> None:
        """What storing an outcome must leave in the tables."""
        if any(isinstance(w, ForgetRespondent) for w in outcome.writes):
            self.forget()
            return
        for write in outcome.writes:
            if isinstance(write, Subscribe):
                self.subscriptions[write.city_id] = (write.locale, True)
            elif isinstance(write, RequestReminder):
                self.reminders[write.round_id] = write.locale
            elif isinstance(write, RequestResults):
                self.results[(write.round_id, write.practice_id)] = write.locale
        state = outcome.state
        consented = state.consented or (self.respondent is not None and self.respondent[1])
        self.respondent = (state.locale, consented)
        response = state.response
        response_id = None if response is None else (response.id or PENDING)
        self.progress = {
            "stage": state.stage,
            "city_id": state.city_id,
            "practice_id": state.practice_id,
            "round_id": state.round_id,
            "page": state.page,
            "response_id": response_id,
            "revision": state.revision,
        }
        if response is None:
            return
        assert response_id is not None
        if response.id is None:
            self.responses[PENDING] = ModelResponse(
                response.practice_id,
                response.round_id,
                response.survey_id,
                state.locale or "en",
                response.status,
                response.current,
            )
        row = self.responses[response_id]
        for write in outcome.writes:
            if isinstance(write, SaveAnswer):
                row.answers[write.question_id] = write.value
            elif isinstance(write, DeleteAnswers):
                for question_id in write.question_ids:
                    row.answers.pop(question_id, None)
        row.status, row.current = response.status, response.current
        if response.status == "completed" and response.round_id is not None:
            self.reminders.pop(response.round_id, None)

    def adopt(self, response_id: int) -> None:
        """The database's id for the response the model created."""
        self.responses[response_id] = self.responses.pop(PENDING)
        assert self.progress is not None
        if self.progress["response_id"] == PENDING:
            self.progress["response_id"] = response_id

    def stop(self) -> int:
        """/stop: invitations off, reminders and results forgotten; how many there were."""
        stopped = sum(on for _locale, on in self.subscriptions.values())
        stopped += len(self.reminders) + len(self.results)
        self.subscriptions = {c: (locale, False) for c, (locale, _on) in self.subscriptions.items()}
        self.reminders.clear()
        self.results.clear()
        return stopped


def response_state(response_id: int, row: ModelResponse) -> ResponseState:
    return ResponseState(
        response_id,
        row.survey_id,
        row.practice_id,
        row.round_id,
        row.current,
        dict(row.answers),
        row.status,
    )


def answer_row(question_id: str, value: AnswerValue | None) -> tuple[Any, ...]:
    """The answer columns a value must be stored in: number, option, options, text, skipped."""
    if value is None:
        return (None, None, None, None, True)
    if isinstance(value, int):
        return (value, None, None, None, False)
    if isinstance(value, tuple):
        return (None, None, list(value), None, False)
    if SURVEY.question(question_id).type == "text":
        return (None, None, None, value, False)
    return (None, value, None, None, False)


def fresh_revision() -> int:
    """The clock's starting revision of a newcomer, as app/respond.py picks it: it depends on
    the second the event is handled, so the model tries each second the call spanned."""
    return int(utcnow().timestamp()) % 1_000_000_000


# --- actions: what a person does, resolved against what they see --------------------------------

TEXTS = st.sampled_from(
    [
        "",
        "   ",
        "1",
        "2",
        "3",
        "5",
        "12",
        "yes",
        "Так",
        "nie",
        "English",
        "polski",
        "Town 0",
        "town 1",
        "Service p00",
        "Documents, legal stay",
        "Once",
        "A comment about the service",
        "\x00\x07\u200f",
        "x" * 1001,
        "🙂",
    ]
)
VALUES = st.sampled_from(
    [
        "yes",
        "no",
        "1",
        "5",
        "9",
        "dont_know",
        "once",
        "work",
        "housing",
        "accept",
        "decline",
        "city0",
        "p00",
        "p01",
        "uk",
        "en",
        "another",
        "subscribe",
        "remind",
        "results",
        "erase",
        "keep",
        "",
        "junk",
    ]
)
PAYLOADS = st.sampled_from([None, "practice", "city", "round", "round_practice", "zzz"])
NAVIGATION = st.sampled_from([ev.Back, ev.Skip, ev.Done, ev.Pause, ev.Resume])
PRESS = st.tuples(st.just("press"), st.integers(0, 20))
FORWARD = st.just(("press", 0))  # the first button mostly leads on: a language, "I agree", …
ANSWER = st.tuples(st.just("answer"), st.integers(0, 20))  # a fitting answer to the question
ACTIONS = st.one_of(
    FORWARD,
    FORWARD,
    ANSWER,
    ANSWER,
    ANSWER,
    ANSWER,
    PRESS,
    PRESS,
    PRESS,
    st.tuples(st.just("stale"), st.integers(0, 20), st.integers(0, 20)),
    st.tuples(st.just("text"), TEXTS),
    st.tuples(st.just("start"), PAYLOADS, st.integers(0, 2)),
    st.tuples(st.just("nav"), NAVIGATION, st.sampled_from(["current", "none", "old"])),
    st.tuples(st.just("page"), st.integers(-1, 2)),
    st.tuples(st.just("language"), st.sampled_from([None, "uk", "en", "pl", "de"])),
    st.tuples(st.just("choose"), VALUES),
    st.tuples(
        st.just("command"),
        st.sampled_from(["cancel", "help", "delete", "unsupported", "stop", "mydata", "dup"]),
    ),
)
TICKS = st.lists(
    st.lists(st.tuples(st.integers(0, 4), ACTIONS), min_size=1, max_size=5),
    min_size=12,
    max_size=40,
)
# Who walks into a survey first (a deep link to a practice, a language, "I agree"): the random
# part then starts inside surveys as often as outside.
PRELUDE = (("start", "practice", 0), ("press", 0), ("press", 0))
SETUPS = st.builds(
    Setup,
    practices_per_city=st.sampled_from([(1,), (2,), (3,), (1, 1), (1, 2), (2, 1)]),
    round_practices=st.integers(0, 2),
    people=st.integers(2, 5),
).map(
    lambda s: Setup(s.practices_per_city, min(s.round_practices, s.practices_per_city[0]), s.people)
)


NAVIGATING = (ev.BACK, ev.SKIP, ev.PAUSE)


def buttons(prompts: list[Prompt]) -> list[tuple[int, str]]:
    """(token, action) of every button in these prompts."""
    return [
        (p.token, b.action)
        for p in prompts
        if p.token is not None
        for row in p.buttons
        for b in row
    ]


@dataclass(frozen=True)
class Step:
    """One person's action in a tick: an event delivered as an update, or a command that is
    not an event (/stop, /mydata)."""

    person: Person
    event: ev.Event | None
    update_id: int | None
    duplicate: bool = False
    command: str | None = None


class Oracle:
    """Drives the pipeline and the model side by side and compares them."""

    def __init__(self, services: Services, setup: Setup, facts: Facts) -> None:
        self.services = services
        self.facts = facts
        self.people = [
            Person(
                services.pseudonyms.of("oracle", n),
                1000 + n,
                CLIENT_LANGUAGES[n % len(CLIENT_LANGUAGES)],
            )
            for n in range(setup.people)
        ]
        self.update_ids = itertools.count(1)
        self.claimed: set[int] = set()

    def resolve(self, person: Person, action: tuple[Any, ...]) -> Step:
        """The event an abstract action stands for, given what the person sees now."""
        kind = action[0]
        state = person.state()
        revision = state.revision if state else None
        if kind == "command" and action[1] == "dup" and person.last is not None:
            update_id, event = person.last
            return Step(person, event, update_id, duplicate=True)
        if kind == "command" and action[1] in ("stop", "mydata"):
            return Step(person, None, None, command=action[1])
        return Step(person, self._event(person, action, revision), next(self.update_ids))

    def _event(self, person: Person, action: tuple[Any, ...], revision: int | None) -> Any:
        kind = action[0]
        if kind == "answer":
            return self._answer(person, action[1])
        if kind == "press":
            pressable = buttons(person.screen)
            if not pressable:
                return ev.Start(language_code=person.language_code)
            token, chosen = pressable[action[1] % len(pressable)]
            return ev.from_action(token, chosen)
        if kind == "stale":
            old = person.history[-1 - action[1] % len(person.history)] if person.history else None
            if old is None:
                return ev.Choose(-1, "yes")
            token, chosen = buttons([old])[action[2] % len(buttons([old]))]
            return ev.from_action(token, chosen)
        if kind == "text":
            return ev.Text(action[1])
        if kind == "start":
            return ev.Start(self._payload(action[1], action[2]), person.language_code)
        if kind == "nav":
            token = {"current": revision, "none": None, "old": (revision or 1) - 1}[action[2]]
            return action[1](token)
        if kind == "page":
            return ev.Page(revision, action[1])
        if kind == "language":
            return ev.ChangeLanguage(action[1])
        if kind == "choose":
            return ev.Choose(revision, action[1])
        simple = {
            "cancel": ev.Cancel,
            "help": ev.Help,
            "delete": ev.Delete,
            "unsupported": ev.Unsupported,
            "dup": ev.Help,  # nothing delivered yet to deliver again
        }
        return simple[action[1]]()

    def _answer(self, person: Person, n: int) -> ev.Event:
        """Something that answers the current question (so that surveys get finished): a text,
        Done after a choice, or one of the answer buttons; elsewhere the nth button."""
        state = person.state()
        response = state.response if state else None
        if state and state.stage == QUESTION and response and response.current:
            question = SURVEY.question(response.current)
            if question.type == "text":
                return ev.Text("Longer opening hours, please")
            if question.type == "multiple_choice" and response.answers.get(question.id):
                return ev.Done(state.revision)
        pressable = [b for b in buttons(person.screen) if b[1] not in NAVIGATING]
        if not pressable:
            return ev.Start(language_code=person.language_code)
        token, chosen = pressable[n % len(pressable)]
        return ev.from_action(token, chosen)

    def _payload(self, kind: str | None, n: int) -> str | None:
        practices = [p.id for p in self.facts.practices]
        rounds = self.facts.rounds
        round_id = rounds[0].id if rounds else 999
        return {
            None: None,
            "practice": f"p_{practices[n % len(practices)]}",
            "city": f"c_{self.facts.cities[n % len(self.facts.cities)].id}",
            "round": f"r_{round_id}",
            "round_practice": f"r_{round_id}_{practices[n % len(practices)]}",
            "zzz": "zzz_1",
        }[kind]

    async def tick(self, actions: list[tuple[int, tuple[Any, ...]]]) -> None:
        """Each chosen person acts once, all at the same time; then everything is compared."""
        steps: dict[int, Step] = {}
        for index, action in actions:
            person = self.people[index % len(self.people)]
            steps.setdefault(id(person), self.resolve(person, action))
        done = await asyncio.gather(*(self._deliver(step) for step in steps.values()))
        rows = await stored_rows(self.services)
        for step, (observed, seconds) in zip(steps.values(), done, strict=True):
            self._expect(step, observed, seconds, rows)
        self._adopt_new_responses(rows)
        assert rows == self.expected_rows()

    async def _deliver(self, step: Step) -> tuple[Any, range]:
        person = step.person
        identity = Identity(person.pseudonym, person.chat_id)
        if step.command == "stop":
            return await stop_invitations(self.services, identity), range(0)
        if step.command == "mydata":
            reply = await my_data(self.services, identity, person.language_code)
            async with self.services.db.reading() as uow:
                respondent = await uow.respondents.get(person.pseudonym)
            return (reply, respondent.consent_at if respondent else None), range(0)
        assert step.event is not None
        identity = Identity(person.pseudonym, person.chat_id, step.update_id)
        first = fresh_revision()
        reply = await respond(self.services, identity, step.event, person.language_code)
        return reply, range(first, fresh_revision() + 1)

    def _expect(self, step: Step, observed: Any, seconds: range, rows: dict[str, Any]) -> None:
        """Check one reply against the engine, then apply the outcome to the model."""
        person = step.person
        if step.command == "stop":
            assert observed == person.stop()
            return
        if step.command == "mydata":
            reply, consent_at = observed
            data = self.stored_data(person, consent_at)
            assert reply.prompts == my_data_prompts(data)
            language_code = person.language_code
            assert reply.locale == self.services.translator.choose_locale(
                data.locale, language_code
            )
            return
        assert step.event is not None
        assert isinstance(observed, Reply)
        if step.duplicate:
            assert observed.duplicate and not observed.prompts and observed.echo is None
            return
        assert step.update_id is not None
        self.claimed.add(step.update_id)
        person.last = (step.update_id, step.event)
        before = person.state()
        world = person.world(self.facts)
        candidates = [before] if before is not None else [State(revision=r) for r in seconds]
        outcomes = [engine.handle(state, step.event, world) for state in candidates]
        stored = rows["progress"].get(person.pseudonym)
        outcome = next(
            (
                o
                for o in outcomes
                if (o.prompts, o.echo) == (observed.prompts, observed.echo)
                and (stored is None or stored[-1] == o.state.revision)
            ),
            outcomes[0],
        )
        assert not observed.duplicate, step
        assert observed.prompts == outcome.prompts, step
        assert observed.echo == outcome.echo, step
        locale = outcome.state.locale or (before.locale if before else None)
        assert observed.locale == self.services.translator.choose_locale(
            locale, person.language_code
        )
        person.history += [p for p in person.screen if p.token is not None]
        person.screen = list(outcome.prompts)
        person.store(outcome)

    def stored_data(self, person: Person, consent_at: datetime | None) -> StoredData:
        """What /mydata must show, from the model's rows (the moment of consent is the
        database's clock: only whether it is there is modelled)."""
        assert (consent_at is not None) == (person.respondent is not None and person.respondent[1])
        cities = {c.id: c.name for c in self.facts.cities}
        practices = {p.id: p for p in self.facts.practices}
        statuses = [row.status for row in person.responses.values()]
        subscribed = [city for city, (_locale, on) in person.subscriptions.items() if on]
        responses = []
        for _id, row in sorted(person.responses.items()):  # ids follow the order of starting
            practice = practices[row.practice_id]
            path = engine.visible_path(SURVEY, row.answers)
            responses.append(
                OwnResponse(
                    practice=practice.name,
                    city=cities[practice.city_id],
                    completed=row.status == "completed",
                    answers=tuple((q, row.answers[q.id]) for q in path if q.id in row.answers),
                )
            )
        return StoredData(
            locale=person.respondent[0] if person.respondent else None,
            consent_at=consent_at,
            completed=statuses.count("completed"),
            unfinished=statuses.count("in_progress"),
            subscribed=tuple(name for city, name in cities.items() if city in subscribed),
            reminders=tuple(cities[self._round_city(r)] for r in sorted(person.reminders)),
            results=tuple(practices[p].name for _r, p in sorted(person.results)),
            responses=tuple(responses),
        )

    def _round_city(self, round_id: int) -> str:
        return next(r.city_id for r in self.facts.rounds if r.id == round_id)

    def _adopt_new_responses(self, rows: dict[str, Any]) -> None:
        known = {i for person in self.people for i in person.responses if i != PENDING}
        for person in self.people:
            if PENDING not in person.responses:
                continue
            new = [
                i
                for i, row in rows["responses"].items()
                if row[0] == person.pseudonym and i not in known
            ]
            assert len(new) == 1, (person.pseudonym, new)
            person.adopt(new[0])

    def expected_rows(self) -> dict[str, Any]:
        """Every row the model says the tables hold."""
        expected: dict[str, Any] = {
            "respondents": {},
            "progress": {},
            "responses": {},
            "answers": {},
            "subscriptions": {},
            "reminders": {},
            "results": {},
            "updates": set(self.claimed),
        }
        for person in self.people:
            if person.respondent is not None:
                expected["respondents"][person.pseudonym] = person.respondent
            if person.progress is not None:
                expected["progress"][person.pseudonym] = tuple(person.progress.values())
            for response_id, row in person.responses.items():
                expected["responses"][response_id] = (
                    person.pseudonym,
                    row.round_id,
                    row.practice_id,
                    row.survey_id,
                    self.facts.survey_version,
                    row.locale,
                    row.status,
                    row.current,
                    TELEGRAM,
                    row.status == "completed",
                )
                for question_id, value in row.answers.items():
                    expected["answers"][(response_id, question_id)] = answer_row(question_id, value)
            for city_id, (locale, on) in person.subscriptions.items():
                expected["subscriptions"][(person.chat_id, city_id)] = (locale, on, False)
            for round_id, locale in person.reminders.items():
                expected["reminders"][(round_id, person.chat_id)] = locale
            for (round_id, practice_id), locale in person.results.items():
                expected["results"][(round_id, practice_id, person.chat_id)] = locale
        return expected


async def stored_rows(services: Services) -> dict[str, Any]:
    """Every row of the tables an answer may touch, keyed as the model keys them (clocks are
    left out: only whether consent and completion were recorded)."""
    async with services.db.reading() as uow:
        session = uow.session

        async def all_of(model: type) -> list[Any]:
            return list((await session.scalars(select(model))).all())

        return {
            "respondents": {
                r.pseudonym: (r.locale, r.consent_at is not None) for r in await all_of(Respondent)
            },
            "progress": {
                p.pseudonym: (
                    p.stage,
                    p.city_id,
                    p.practice_id,
                    p.round_id,
                    p.page,
                    p.response_id,
                    p.revision,
                )
                for p in await all_of(Progress)
            },
            "responses": {
                r.id: (
                    r.pseudonym,
                    r.round_id,
                    r.practice_id,
                    r.survey_id,
                    r.survey_version,
                    r.locale,
                    r.status,
                    r.current_question,
                    r.channel,
                    r.completed_at is not None,
                )
                for r in await all_of(Response)
            },
            "answers": {
                (a.response_id, a.question_id): (
                    a.value_number,
                    a.value_option,
                    a.value_options,
                    a.value_text,
                    a.skipped,
                )
                for a in await all_of(Answer)
            },
            "subscriptions": {
                (s.chat_id, s.city_id): (s.locale, s.opted_in, s.blocked)
                for s in await all_of(Subscription)
            },
            "reminders": {(r.round_id, r.chat_id): r.locale for r in await all_of(ReminderRequest)},
            "results": {
                (r.round_id, r.practice_id, r.chat_id): r.locale
                for r in await all_of(ResultsRequest)
            },
            "updates": {u.update_id for u in await all_of(ProcessedUpdate)},
        }


# --- the tests -----------------------------------------------------------------------------------


@settings(
    max_examples=35,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(setup=SETUPS, walkers=st.sets(st.integers(0, 4)), ticks=TICKS)
async def test_the_pipeline_stores_and_says_what_the_engine_decides(
    database_url: str,
    tmp_path: Path,
    setup: Setup,
    walkers: set[int],
    ticks: list[list[tuple[int, Any]]],
) -> None:
    services = await fresh_services(database_url, tmp_path)
    try:
        facts = await build_world(services, setup)
        oracle = Oracle(services, setup, facts)
        prelude = [[(n, action) for n in sorted(walkers)] for action in PRELUDE] if walkers else []
        for actions in [*prelude, *ticks]:
            await oracle.tick(actions)
        assert services.pipeline is not None  # every event went through the one pipeline
    finally:
        await services.close()


async def test_five_people_answering_together_share_batches_and_match_the_engine(
    database_url: str, tmp_path: Path
) -> None:
    """The same oracle on a fixed script: five people in a round's survey answer at the same
    moments (their answers share the pipeline's batches), pause, ask for a reminder,
    resume, finish, ask for results and invitations, one deletes everything."""
    services = await fresh_services(database_url, tmp_path)
    try:
        setup = Setup((2,), round_practices=1, people=5)
        oracle = Oracle(services, setup, await build_world(services, setup))
        everyone = range(5)
        script = [
            *PRELUDE,
            *[("answer", n) for n in range(4)],
            ("nav", ev.Pause, "current"),
            ("answer", 1),  # "Remind me"
            ("answer", 0),  # "Continue"
            *[("answer", n) for n in range(5)],  # the last ones, "Done" and a comment
            ("press", 0),  # "Send me the results when they are ready"
            ("press", 0),  # "Invite me to future surveys"
        ]
        for action in script:
            await oracle.tick([(n, action) for n in everyone])
        await oracle.tick([(n, ("press", 0)) for n in (3, 4)])  # "Evaluate another service"
        await oracle.tick([(0, ("command", "delete"))])
        await oracle.tick([(0, ("press", 0))])  # "Yes, delete"
        await oracle.tick([(1, ("command", "stop")), (2, ("command", "dup"))])
        await oracle.tick([(n, ("command", "mydata")) for n in everyone])
        rows = await stored_rows(services)
        statuses = sorted(row[6] for row in rows["responses"].values())
        assert statuses == ["completed"] * 4  # the script got where it meant to
        assert len(rows["results"]) == 3 and len(rows["subscriptions"]) == 4
        assert all(row[0] != oracle.people[0].pseudonym for row in rows["responses"].values())
        pipeline = services.pipeline
        assert pipeline is not None and pipeline.events >= 5 * 8
        assert pipeline.batches < pipeline.events / 2  # several events to a transaction
    finally:
        await services.close()
