"""One event, one transaction: load the respondent's state, run the engine, store the outcome.

Shared by every adapter (Telegram, console), so they all behave the same.
"""

from __future__ import annotations

import logging
import time as time_module
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, tzinfo
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
from storage.models import TELEGRAM, Answer, Response, utcnow
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
    """The process's pipeline: every event of every adapter goes through it."""

    async def decide(uow: UnitOfWork, item: Item) -> Reply:
        return await _respond(services, uow, item.identity, item.event, item.language_code)

    return Pipeline(services.db.unit_of_work, decide)


async def _respond(
    services: Services,
    uow: UnitOfWork,
    identity: Identity,
    event: ev.Event,
    language_code: str | None,
) -> Reply:
    if identity.update_id is not None and not await uow.updates.claim(identity.update_id):
        return Reply(services.translator.default_locale, duplicate=True)
    state = await load_state(uow, identity.pseudonym)
    if answers_a_question(state, event):
        world = await load_survey_world(uow, services, identity, state)
    else:
        world = await load_world(uow, services, identity)
    outcome = engine.handle(state, event, world)
    await store_outcome(uow, identity, outcome, world, services.settings.tz)
    return Reply(
        reply_locale(services, state, outcome, language_code), outcome.prompts, outcome.echo
    )


def reply_locale(
    services: Services, before: State, outcome: Outcome, language_code: str | None
) -> str:
    """The language of the reply: the one chosen now, else the one the person had chosen before
    the event (declining consent or /delete erases it, and the goodbye must still be in it)."""
    return services.translator.choose_locale(outcome.state.locale or before.locale, language_code)


async def load_state(uow: UnitOfWork, pseudonym: str) -> State:
    """The respondent's state as the engine sees it (a fresh one for a newcomer)."""
    respondent = await uow.respondents.get(pseudonym)
    progress = await uow.respondents.progress(pseudonym)
    if respondent is None or progress is None:
        return State(revision=_fresh_revision())
    response = None
    if progress.response_id is not None:
        row = await uow.responses.get(progress.response_id)
        if row is not None:
            answers = await uow.responses.answers([row.id])
            response = _response_state(row, answers)
    return _state(respondent.locale, respondent.consent_at is not None, progress, response)


def _state(
    locale: str | None, consented: bool, progress: Any, response: ResponseState | None
) -> State:
    """The engine's state from stored rows."""
    return State(
        stage=progress.stage,
        locale=locale,
        consented=consented,
        city_id=progress.city_id,
        practice_id=progress.practice_id,
        round_id=progress.round_id,
        page=progress.page,
        revision=progress.revision,
        response=response,
    )


# A pause may offer a reminder of the round, which needs the rounds: it takes the general path.
SURVEY_EVENTS = (ev.Choose, ev.Text, ev.Back, ev.Skip, ev.Done, ev.Unsupported)
CATALOG_TTL = 30.0  # seconds a process trusts its copy of the catalog


def answers_a_question(state: State, event: ev.Event) -> bool:
    """The hot path: an event inside a survey needs only the catalog and the current survey."""
    return (
        state.stage == engine.QUESTION
        and state.response is not None
        and state.response.status == "in_progress"
        and isinstance(event, SURVEY_EVENTS)
    )


async def load_survey_world(
    uow: UnitOfWork, services: Services, identity: Identity, state: State
) -> World:
    """What answering a question can touch: names, the survey, whether invitations are on."""
    assert state.response is not None
    cities, practices = await _catalog(uow, services)
    survey_id = state.response.survey_id
    subscribed = await uow.subscriptions.cities_of(identity.chat_id) if identity.chat_id else ()
    surveys = await _surveys(uow, services, {survey_id})
    return survey_world(services, identity, (cities, practices), surveys, frozenset(subscribed))


def survey_world(
    services: Services,
    identity: Identity,
    catalog: Catalog,
    surveys: dict[int, Survey],
    subscribed: frozenset[str],
) -> World:
    """The world of an event inside a survey: the catalog and that one survey."""
    (survey_id,) = surveys
    return World(
        cities=catalog[0],
        practices=catalog[1],
        rounds=(),
        surveys=surveys,
        default_survey_id=survey_id,
        min_group_size=services.settings.min_group_size,
        can_subscribe=identity.chat_id is not None,
        subscribed=subscribed,
        nominations_open=_nominations_open(services, identity),
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
    """The catalog, read again (without the write lock) only when the copy is old."""
    if (catalog := _fresh_catalog(services)) is not None:
        return catalog
    async with services.db.reading() as uow:
        return await _catalog(uow, services)


async def _catalog(uow: UnitOfWork, services: Services) -> Catalog:
    """Cities with active practices, and those practices (cached, see _fresh_catalog)."""
    if (catalog := _fresh_catalog(services)) is not None:
        return catalog
    practices = [p for p in await uow.catalog.practices(active_only=True)]
    with_practices = {p.city_id for p in practices}
    cities = tuple(
        CityInfo(c.id, c.name) for c in await uow.catalog.cities() if c.id in with_practices
    )
    infos = tuple(PracticeInfo(p.id, p.city_id, p.name, p.description) for p in practices)
    services.cache["catalog"] = (time_module.monotonic() + CATALOG_TTL, cities, infos)
    # refreshed with the catalog: whether a survey's end offers /propose
    services.cache["nominations_open"] = await taking_nominations(uow, utcnow())
    return cities, infos


async def load_world(uow: UnitOfWork, services: Services, identity: Identity) -> World:
    """The catalog, open rounds, surveys in use and the respondent's own history."""
    pseudonym = identity.pseudonym
    cities, practices = await _catalog(uow, services)
    now = utcnow()
    rounds = await uow.rounds.open_at(now)
    default = await uow.surveys.latest(DEFAULT_SURVEY_KEY)
    if default is None:
        raise RuntimeError(f"the default survey '{DEFAULT_SURVEY_KEY}' is not in the database")
    year_start = datetime.combine(
        now.astimezone(services.settings.tz).date().replace(month=1, day=1),
        time(),
        tzinfo=services.settings.tz,
    )
    own = await uow.responses.of_respondent(pseudonym, since=year_start)
    unfinished_rows = [r for r in own if r.status == "in_progress"]
    answers = await uow.responses.answers([r.id for r in unfinished_rows])
    survey_ids = {default.id, *(r.survey_id for r, _ in rounds), *(r.survey_id for r in own)}
    zone = services.settings.tz
    return World(
        cities=cities,
        practices=practices,
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
        surveys=await _surveys(uow, services, survey_ids),
        default_survey_id=default.id,
        min_group_size=services.settings.min_group_size,
        unfinished={
            (r.practice_id, r.round_id): _response_state(
                r, [a for a in answers if a.response_id == r.id]
            )
            for r in unfinished_rows
        },
        completed=frozenset((r.practice_id, r.round_id) for r in own if r.status == "completed"),
        can_subscribe=identity.chat_id is not None,
        subscribed=frozenset(
            await uow.subscriptions.cities_of(identity.chat_id) if identity.chat_id else ()
        ),
        reminders=frozenset(
            await uow.reminders.rounds_of(identity.chat_id) if identity.chat_id else ()
        ),
        results_requests=frozenset(
            await uow.results_requests.of_chat(identity.chat_id) if identity.chat_id else ()
        ),
        nominations_open=_nominations_open(services, identity),
    )


async def _surveys(uow: UnitOfWork, services: Services, survey_ids: set[int]) -> dict[int, Survey]:
    """Survey versions by id. A version that responses point at never changes, and versions
    are only stored at start, so a process keeps each one it has parsed."""
    known: dict[int, Survey] = services.cache.setdefault("surveys", {})
    missing = survey_ids - set(known)
    for row in await uow.surveys.many(missing) if missing else ():
        known[row.id] = survey_from_dict(row.definition)
    return {survey_id: known[survey_id] for survey_id in survey_ids if survey_id in known}


async def store_outcome(
    uow: UnitOfWork, identity: Identity, outcome: Outcome, world: World, tz: tzinfo = UTC
) -> None:
    """Persist the new state and every answer written or removed (`tz`: the configured time
    zone, in which a reminder request keeps the day it was asked)."""
    if any(isinstance(w, ForgetRespondent) for w in outcome.writes):
        await forget(uow, identity)
        return
    for write in outcome.writes:
        if isinstance(write, Subscribe) and identity.chat_id is not None:
            await uow.subscriptions.subscribe(identity.chat_id, write.city_id, write.locale)
        elif isinstance(write, RequestReminder) and identity.chat_id is not None:
            today = utcnow().astimezone(tz).date()
            await uow.reminders.request(write.round_id, identity.chat_id, write.locale, today)
        elif isinstance(write, RequestResults) and identity.chat_id is not None:
            today = utcnow().astimezone(tz).date()
            await uow.results_requests.request(
                write.round_id, write.practice_id, identity.chat_id, write.locale, today
            )
    state = outcome.state
    respondent = await uow.respondents.get(identity.pseudonym)
    consent_at = respondent.consent_at if respondent else None
    if state.consented and consent_at is None:
        consent_at = utcnow()
    await uow.respondents.save(
        identity.pseudonym,
        {"locale": state.locale, "consent_at": consent_at},
        {
            "stage": state.stage,
            "city_id": state.city_id,
            "practice_id": state.practice_id,
            "round_id": state.round_id,
            "page": state.page,
            "response_id": state.response.id if state.response else None,
            "revision": state.revision,
        },
    )
    response = state.response
    if response is None:
        return
    survey = world.surveys[response.survey_id]
    if response.id is None:
        row = await uow.responses.add(
            round_id=response.round_id,
            practice_id=response.practice_id,
            pseudonym=identity.pseudonym,
            survey_id=response.survey_id,
            survey_version=await _version(uow, response.survey_id),
            locale=state.locale or "en",
            current_question=response.current,
            channel=identity.channel,
        )
        response.id = row.id
        await uow.respondents.save(identity.pseudonym, {}, {"response_id": row.id})
    for write in outcome.writes:
        if isinstance(write, SaveAnswer):
            kind = survey.question(write.question_id).type
            await uow.responses.save_answer(
                response.id, write.question_id, answer_columns(kind, write.value)
            )
        elif isinstance(write, DeleteAnswers):
            await uow.responses.delete_answers(response.id, write.question_ids)
    completed = response.status == "completed"
    if completed and response.round_id is not None and identity.chat_id is not None:
        await uow.reminders.remove(response.round_id, identity.chat_id)  # no longer needed
    await uow.responses.update(
        response.id, status=response.status, current_question=response.current
    )


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
    surveys = await _surveys(uow, services, {r.survey_id for r in rows})
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


async def forget(uow: UnitOfWork, identity: Identity) -> None:
    """Erase everything stored about a person (/delete): respondent, progress, responses and
    answers (with their counts, masked comments and moderation), subscriptions, reminders
    and results asked for, every message queued or kept for their chat (a queued one is then never sent:
    the sender claims only rows that still exist), and the audit lines about their refused
    commands. Scheduled reports keep no files, so none holds their comments (app/reports.py);
    published figures of closed rounds are aggregates of k or more and stay (docs/privacy.md)."""
    await uow.respondents.forget(identity.pseudonym)
    await uow.audit_log.forget_actor(pseudonym_actor(identity.pseudonym))
    if identity.chat_id is not None:
        await uow.subscriptions.forget_chat(identity.chat_id)
        await uow.reminders.forget_chat(identity.chat_id)
        await uow.results_requests.forget_chat(identity.chat_id)
        await uow.outbox.forget_chat(identity.chat_id)


async def _version(uow: UnitOfWork, survey_id: int) -> int:
    survey = await uow.surveys.get(survey_id)
    assert survey is not None
    return survey.version


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


def answer_value(answer: Answer) -> AnswerValue | None:
    """The engine's value for a stored answer (None when skipped)."""
    if answer.skipped:
        return None
    if answer.value_number is not None:
        return answer.value_number
    if answer.value_options is not None:
        return tuple(answer.value_options)
    return answer.value_option if answer.value_option is not None else answer.value_text


def _response_state(
    row: Response, answers: Iterable[Answer]
) -> ResponseState:
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
