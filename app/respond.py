"""One event, one transaction: load the respondent's state, run the engine, store the outcome.

Shared by every adapter (Telegram, console), so they all behave the same.
"""

from __future__ import annotations

import logging
import time as time_module
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any

from app.nominations import taking_nominations
from app.pipeline import Pipeline
from app.rounds import reminder_possible
from app.services import DEFAULT_SURVEY_KEY, Services
from app.staff import pseudonym_actor
from conversations import engine
from conversations import events as ev
from conversations.engine import (
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
    visible_path,
)
from conversations.notices import last_moment
from conversations.survey import AnswerValue, Survey, survey_from_dict
from storage import answers
from storage.answers import Transaction
from storage.models import TELEGRAM, Response, utcnow
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Identity:
    """Who sent an event: a pseudonym for the answers, the chat only for subscriptions."""

    pseudonym: str
    chat_id: int | None = None
    update_id: int | None = None
    channel: str = TELEGRAM  # PREVIEW: the console's answers, never counted


@dataclass
class Reply:
    """What to show after an event, and in which language."""

    locale: str
    prompts: list[Prompt] = field(default_factory=list)
    echo: Prompt | None = None
    duplicate: bool = False
    callback_prefix: str = ""  # marks buttons of a separate dialogue (staff)


# An adapter may set a callback to learn that the event's transaction has committed, before
# the reply is shown (long polling then confirms the update to Telegram).
committed: ContextVar[Callable[[], None] | None] = ContextVar("committed", default=None)


async def respond(
    services: Services, identity: Identity, event: ev.Event, language_code: str | None = None
) -> Reply:
    """Handle one event through the answer pipeline (app/pipeline.py): stored, then replied."""
    if services.pipeline is None:
        services.pipeline = answer_pipeline(services)
    reply: Reply = await services.pipeline.run(Item(identity, event, language_code))
    if (settle := committed.get()) is not None:
        settle()
    return reply


@dataclass(frozen=True)
class Item:
    """One event on its way through the pipeline."""

    identity: Identity
    event: ev.Event
    language_code: str | None


def answer_pipeline(services: Services) -> Pipeline:
    """The process's pipeline: every event of every adapter goes through it. Before each
    batch the catalog is read (when this process's copy is old), outside the transaction."""

    async def prepare() -> Catalog:
        return await catalog_now(services)

    def decide(connection: Transaction, catalog: Catalog, item: Item) -> Reply:
        return handle_event(services, connection, catalog, item)

    return Pipeline(prepare, decide, services.db.write, answers.batch)


def handle_event(
    services: Services, connection: Transaction, catalog: Catalog, item: Item
) -> Reply:
    """One event inside the batch's transaction: claim the update, load, decide, apply."""
    identity, event = item.identity, item.event
    if identity.update_id is not None and not answers.claim(connection, identity.update_id):
        return Reply(services.translator.default_locale, duplicate=True)
    stored = answers.load_state(connection, identity.pseudonym)
    state = _state(stored)
    if answers_a_question(state, event):
        world = survey_world(services, connection, catalog, state, identity, subscribed=())
        outcome = engine.handle(state, event, world)
        if _finishes(state, outcome) and identity.chat_id is not None:
            # Only the end of a survey asks which cities the chat gets invitations for: read
            # them then, and decide again (the engine is pure) rather than for every answer.
            subscribed = answers.cities_of(connection, identity.chat_id)
            world = survey_world(services, connection, catalog, state, identity, subscribed)
            outcome = engine.handle(state, event, world)
    else:
        world = load_world(services, connection, identity, catalog)
        outcome = engine.handle(state, event, world)
    store_outcome(connection, identity, outcome, world, stored, services.settings.tz)
    return Reply(
        reply_locale(services, state, outcome, item.language_code), outcome.prompts, outcome.echo
    )


def reply_locale(
    services: Services, before: State, outcome: Outcome, language_code: str | None
) -> str:
    """The language of the reply: the one chosen now, else the one the person had chosen before
    the event (declining consent or /delete erases it, and the goodbye must still be in it)."""
    return services.translator.choose_locale(outcome.state.locale or before.locale, language_code)


def _state(stored: answers.StoredState | None) -> State:
    """The engine's state from the stored rows (a fresh one for a newcomer)."""
    if stored is None:
        return State(revision=_fresh_revision())
    progress = stored.progress
    response = None
    if stored.response is not None:
        response = _response_state(stored.response, stored.answers)
    return State(
        stage=progress.stage,
        locale=stored.locale,
        consented=stored.consented,
        city_id=progress.city_id,
        practice_id=progress.practice_id,
        round_id=progress.round_id,
        page=progress.page,
        revision=progress.revision,
        response=response,
    )


SURVEY_EVENTS = (ev.Choose, ev.Text, ev.Back, ev.Skip, ev.Done, ev.Unsupported)
CATALOG_TTL = 30.0  # seconds a process trusts its copy of the catalog


def answers_a_question(state: State, event: ev.Event) -> bool:
    """An event inside a survey needs only the catalog, the current survey and, for the end of
    the survey, the cities the chat is subscribed to."""
    return (
        state.stage == engine.QUESTION
        and state.response is not None
        and state.response.status == "in_progress"
        and isinstance(event, SURVEY_EVENTS)
    )


def survey_world(
    services: Services,
    connection: Transaction,
    catalog: Catalog,
    state: State,
    identity: Identity,
    subscribed: Iterable[str],
) -> World:
    """The world of an event inside a survey: the catalog, that one survey and the cities the
    chat is subscribed to."""
    assert state.response is not None
    survey_id = state.response.survey_id
    return World(
        cities=catalog[0],
        practices=catalog[1],
        rounds=(),
        surveys=_surveys(services, connection, {survey_id}),
        default_survey_id=survey_id,
        min_group_size=services.settings.min_group_size,
        can_subscribe=identity.chat_id is not None,
        subscribed=frozenset(subscribed),
        nominations_open=_nominations_open(services, identity),
    )


def _finishes(before: State, outcome: Outcome) -> bool:
    """Whether an event completed the response."""
    after = outcome.state.response
    return (
        after is not None
        and after.status == "completed"
        and before.response is not None
        and before.response.status != "completed"
    )


Catalog = tuple[tuple[CityInfo, ...], tuple[PracticeInfo, ...]]


def _nominations_open(services: Services, identity: Identity) -> bool:
    """Whether the end of a survey offers /propose: an edition takes proposals (as of the last
    catalog read) and the person is in Telegram."""
    return identity.chat_id is not None and bool(services.cache.get("nominations_open"))


def _fresh_catalog(services: Services) -> Catalog | None:
    """This process's copy of the catalog unless it is CATALOG_TTL old (a catalog change shows
    within that time in every process)."""
    cached = services.cache.get("catalog")
    if cached is not None and cached[0] > time_module.monotonic():
        return cached[1], cached[2]
    return None


async def catalog_now(services: Services) -> Catalog:
    """Cities with active practices, and those practices: this process's copy, read again
    (without the write lock) when it is old."""
    if (catalog := _fresh_catalog(services)) is not None:
        return catalog
    async with services.db.reading() as uow:
        practices = [p for p in await uow.catalog.practices(active_only=True)]
        with_practices = {p.city_id for p in practices}
        cities = tuple(
            CityInfo(c.id, c.name) for c in await uow.catalog.cities() if c.id in with_practices
        )
        # refreshed with the catalog: whether a survey's end offers /propose
        services.cache["nominations_open"] = await taking_nominations(uow, utcnow())
    infos = tuple(PracticeInfo(p.id, p.city_id, p.name, p.description) for p in practices)
    services.cache["catalog"] = (time_module.monotonic() + CATALOG_TTL, cities, infos)
    return cities, infos


def load_world(
    services: Services, connection: Transaction, identity: Identity, catalog: Catalog
) -> World:
    """The catalog, open rounds, surveys in use and the respondent's own history."""
    now = utcnow()
    zone = services.settings.tz
    rounds = answers.open_rounds(connection, now)
    default = answers.latest_survey(connection, DEFAULT_SURVEY_KEY)
    if default is None:
        raise RuntimeError(f"the default survey '{DEFAULT_SURVEY_KEY}' is not in the database")
    year_start = datetime.combine(
        now.astimezone(zone).date().replace(month=1, day=1), time(), tzinfo=zone
    )
    own = answers.own_responses(connection, identity.pseudonym, year_start)
    unfinished_rows = [r for r in own if r.status == "in_progress"]
    given = answers.answers_of(connection, [r.id for r in unfinished_rows])
    survey_ids = {default.id, *(r.survey_id for r, _ in rounds), *(r.survey_id for r in own)}
    chat = identity.chat_id
    return World(
        cities=catalog[0],
        practices=catalog[1],
        rounds=tuple(
            RoundInfo(
                r.id,
                r.city_id,
                frozenset(ids),
                r.survey_id,
                open_until=last_moment(r.closes_at),
                remindable=reminder_possible(r, now, zone),
            )
            for r, ids in rounds
        ),
        surveys=_surveys(services, connection, survey_ids),
        default_survey_id=default.id,
        min_group_size=services.settings.min_group_size,
        unfinished={
            (r.practice_id, r.round_id): _response_state(
                r, [a for a in given if a.response_id == r.id]
            )
            for r in unfinished_rows
        },
        completed=frozenset((r.practice_id, r.round_id) for r in own if r.status == "completed"),
        can_subscribe=chat is not None,
        subscribed=frozenset(answers.cities_of(connection, chat) if chat else ()),
        reminders=frozenset(answers.reminded_rounds(connection, chat) if chat else ()),
        results_requests=frozenset(answers.results_asked(connection, chat) if chat else ()),
        nominations_open=_nominations_open(services, identity),
    )


def _surveys(
    services: Services, connection: Transaction, survey_ids: set[int]
) -> dict[int, Survey]:
    """Survey versions by id, read only when this process has not parsed them yet."""
    missing = survey_ids - set(_known_surveys(services))
    definitions = answers.survey_definitions(connection, missing) if missing else {}
    return _parsed_surveys(services, survey_ids, definitions)


def _known_surveys(services: Services) -> dict[int, Survey]:
    """A version that responses point at never changes, and versions are only stored at start,
    so a process keeps each one it has parsed."""
    known: dict[int, Survey] = services.cache.setdefault("surveys", {})
    return known


def _parsed_surveys(
    services: Services, survey_ids: set[int], definitions: Mapping[int, Any]
) -> dict[int, Survey]:
    known = _known_surveys(services)
    for survey_id, definition in definitions.items():
        known[survey_id] = survey_from_dict(definition)
    return {survey_id: known[survey_id] for survey_id in survey_ids if survey_id in known}


def store_outcome(
    connection: Transaction,
    identity: Identity,
    outcome: Outcome,
    world: World,
    stored: answers.StoredState | None,
    tz: tzinfo = UTC,
) -> None:
    """Persist the new state and every answer written or removed (`tz`: the configured time
    zone, in which a reminder or results request keeps the day it was asked)."""
    if any(isinstance(w, ForgetRespondent) for w in outcome.writes):
        forget(connection, identity)
        return
    _store_requests(connection, identity, outcome, tz)
    state = outcome.state
    _store_respondent(connection, identity, state, stored)
    response = state.response
    response_id = None if response is None else response.id
    if response is not None and response_id is None:
        response_id = answers.add_response(
            connection,
            {
                "round_id": response.round_id,
                "practice_id": response.practice_id,
                "pseudonym": identity.pseudonym,
                "survey_id": response.survey_id,
                "survey_version": answers.survey_version(connection, response.survey_id),
                "locale": state.locale or "en",
                "current_question": response.current,
                "channel": identity.channel,
            },
        )
    progress = {
        "stage": state.stage,
        "city_id": state.city_id,
        "practice_id": state.practice_id,
        "round_id": state.round_id,
        "page": state.page,
        "response_id": response_id,
        "revision": state.revision,
    }
    answers.save_progress(connection, identity.pseudonym, progress, new=stored is None)
    if response is not None and response_id is not None:
        _store_answers(connection, identity, outcome, world, stored, response_id)


def _store_respondent(
    connection: Transaction,
    identity: Identity,
    state: State,
    stored: answers.StoredState | None,
) -> None:
    """The respondent's language, and the moment they consented when they just did (it is never
    moved later; withdrawing consent erases the row instead)."""
    consents = state.consented and not (stored is not None and stored.consented)
    consent_at = answers.now(connection) if consents else None
    if stored is None:
        values = {"locale": state.locale, "consent_at": consent_at}
        answers.save_respondent(connection, identity.pseudonym, values, new=True)
        return
    changed: dict[str, Any] = {"locale": state.locale} if state.locale != stored.locale else {}
    if consent_at is not None:
        changed["consent_at"] = consent_at
    answers.save_respondent(connection, identity.pseudonym, changed, new=False)


def _store_requests(
    connection: Transaction, identity: Identity, outcome: Outcome, tz: tzinfo
) -> None:
    """Subscriptions, reminder and results requests the event asked for (Telegram only)."""
    chat = identity.chat_id
    if chat is None:
        return
    for write in outcome.writes:
        if isinstance(write, Subscribe):
            answers.subscribe(connection, chat, write.city_id, write.locale)
        elif isinstance(write, RequestReminder):
            answers.request_reminder(connection, write.round_id, chat, write.locale, _today(tz))
        elif isinstance(write, RequestResults):
            answers.request_results(
                connection, write.round_id, write.practice_id, chat, write.locale, _today(tz)
            )


def _today(tz: tzinfo) -> date:
    """The local date, for the rows that keep only the day a chat asked (docs/privacy.md)."""
    return utcnow().astimezone(tz).date()


def _store_answers(
    connection: Transaction,
    identity: Identity,
    outcome: Outcome,
    world: World,
    stored: answers.StoredState | None,
    response_id: int,
) -> None:
    """The answers written or removed, and the response's status and current question."""
    response = outcome.state.response
    assert response is not None
    survey = world.surveys[response.survey_id]
    for write in outcome.writes:
        if isinstance(write, SaveAnswer):
            kind = survey.question(write.question_id).type
            columns = answer_columns(kind, write.value)
            answers.save_answer(connection, response_id, write.question_id, columns)
        elif isinstance(write, DeleteAnswers):
            answers.delete_answers(connection, response_id, write.question_ids)
    completed = response.status == "completed"
    if completed and response.round_id is not None and identity.chat_id is not None:
        answers.remove_reminder(connection, response.round_id, identity.chat_id)  # not needed
    before = None  # a response the event moved to: its status is read
    if response.id is None:
        before = "in_progress"  # just started
    elif stored is not None and stored.response is not None and stored.response.id == response_id:
        before = stored.response.status
    answers.update_response(connection, response_id, response.status, response.current, before)


async def my_data(services: Services, identity: Identity, language_code: str | None) -> Reply:
    """/mydata: what is stored about this person, their answers included, in their language."""
    async with services.db.unit_of_work() as uow:
        respondent = await uow.respondents.get(identity.pseudonym)
        since = datetime.min.replace(tzinfo=UTC)
        own = await uow.responses.of_respondent(identity.pseudonym, since=since)
        cities = await uow.subscriptions.cities_of(identity.chat_id) if identity.chat_id else []
        catalog = {c.id: c.name for c in await uow.catalog.cities()}
        names = [name for city_id, name in catalog.items() if city_id in cities]
        reminded = []
        for round_id in await uow.reminders.rounds_of(identity.chat_id) if identity.chat_id else []:
            round_ = await uow.rounds.get(round_id)
            reminded.append(catalog.get(round_.city_id, {}) if round_ else {})
        practices = {p.id: p.name for p in await uow.catalog.practices()}
        asked = await uow.results_requests.of_chat(identity.chat_id) if identity.chat_id else []
        results = tuple(practices.get(practice_id, {}) for _round, practice_id in asked)
        responses = await _own_responses(uow, services, own, catalog)
    data = StoredData(
        locale=respondent.locale if respondent else None,
        consent_at=respondent.consent_at if respondent else None,
        completed=sum(1 for r in own if r.status == "completed"),
        unfinished=sum(1 for r in own if r.status == "in_progress"),
        subscribed=tuple(names),
        reminders=tuple(reminded),
        results=results,
        responses=responses,
    )
    locale = services.translator.choose_locale(data.locale, language_code)
    return Reply(locale, my_data_prompts(data))


async def _own_responses(
    uow: UnitOfWork,
    services: Services,
    own: Sequence[Response],
    city_names: Mapping[str, Mapping[str, str]],
) -> tuple[OwnResponse, ...]:
    """A person's responses with their answers in survey order, oldest first."""
    rows = sorted(own, key=lambda r: (r.started_at, r.id))
    answers = await uow.responses.answers([r.id for r in rows])
    wanted = {r.survey_id for r in rows}
    missing = wanted - set(_known_surveys(services))
    definitions = (
        {row.id: row.definition for row in await uow.surveys.many(missing)} if missing else {}
    )
    surveys = _parsed_surveys(services, wanted, definitions)
    practices = {p.id: p for p in await uow.catalog.practices()}
    result = []
    for row in rows:
        given = {a.question_id: answer_value(a) for a in answers if a.response_id == row.id}
        path = visible_path(surveys[row.survey_id], given)
        practice = practices.get(row.practice_id)
        result.append(
            OwnResponse(
                practice=practice.name if practice else {},
                city=city_names.get(practice.city_id, {}) if practice else {},
                completed=row.status == "completed",
                answers=tuple((q, given[q.id]) for q in path if q.id in given),
            )
        )
    return tuple(result)


async def stop_invitations(services: Services, identity: Identity) -> int:
    """/stop: no more invitations, reminders or results to this chat (a results message already
    queued is cancelled); returns how many cities it was subscribed to and reminders and results
    it had asked for."""
    if identity.chat_id is None:
        return 0
    async with services.db.unit_of_work() as uow:
        stopped = await uow.subscriptions.opt_out(identity.chat_id)
        stopped += await uow.results_requests.forget_chat(identity.chat_id)
        stopped += await uow.outbox.cancel_pending(identity.chat_id, ("results",))
        return stopped + await uow.reminders.forget_chat(identity.chat_id)


def forget(connection: Transaction, identity: Identity) -> None:
    """Erase everything stored about a person (/delete): respondent, progress, responses and
    answers (with their counts, masked comments and moderation), subscriptions, reminders
    and results asked for, every message queued or kept for their chat (a queued one is then never sent:
    the sender claims only rows that still exist), and the audit lines about their refused
    commands. Scheduled reports keep no files, so none holds their comments (app/reports.py);
    published figures of closed rounds are aggregates of k or more and stay (docs/privacy.md)."""
    answers.forget_respondent(connection, identity.pseudonym)
    answers.forget_actor(connection, pseudonym_actor(identity.pseudonym))
    if identity.chat_id is not None:
        answers.forget_chat(connection, identity.chat_id)


def answer_columns(question_type: str, value: AnswerValue | None) -> dict[str, Any]:
    """The answer columns for a value: number, option, options or text; none when skipped."""
    columns: dict[str, Any] = {
        "value_number": None,
        "value_option": None,
        "value_options": None,
        "value_text": None,
        "skipped": value is None,
    }
    if isinstance(value, int):
        columns["value_number"] = value
    elif isinstance(value, tuple):
        columns["value_options"] = list(value)
    elif value is not None and question_type == "text":
        columns["value_text"] = value
    elif value is not None:
        columns["value_option"] = value
    return columns


def answer_value(answer: Any) -> AnswerValue | None:
    """The engine's value for a stored answer (None when skipped)."""
    if answer.skipped:
        return None
    if answer.value_number is not None:
        return answer.value_number
    if answer.value_options is not None:
        return tuple(answer.value_options)
    return answer.value_option if answer.value_option is not None else answer.value_text


def _response_state(row: Any, answers: Iterable[Any]) -> ResponseState:
    """A stored response (a row with the model's column names) and its answers for the engine."""
    return ResponseState(
        id=row.id,
        survey_id=row.survey_id,
        practice_id=row.practice_id,
        round_id=row.round_id,
        current=row.current_question,
        status=row.status,
        answers={a.question_id: answer_value(a) for a in answers},
    )


def _fresh_revision() -> int:
    """A starting revision unlikely to match buttons left from an erased earlier conversation."""
    return int(utcnow().timestamp()) % 1_000_000_000
