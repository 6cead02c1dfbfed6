"""What one event of a respondent reads and writes, as SQLAlchemy Core over a synchronous
connection inside the caller's transaction.

The answer pipeline (app/pipeline.py) runs these for batches of events: on SQLite on the
writer's own thread (Database.write, one hop per batch instead of one per statement), on
PostgreSQL through AsyncConnection.run_sync. The async repositories run the same functions
through their session where they need them, so every write here exists once.

The statements are built once (module level, bound parameters); those every answer runs go
through storage/prepared.py, which on SQLite compiles them once and runs them on the cursor.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Integer,
    Table,
    and_,
    bindparam,
    delete,
    func,
    literal_column,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.models import (
    TELEGRAM,
    Answer,
    AuditLog,
    OutboxMessage,
    ProcessedUpdate,
    Progress,
    ReminderRequest,
    Respondent,
    Response,
    ResultsRequest,
    Round,
    RoundPractice,
    Subscription,
    Survey,
    utcnow,
)
from storage.prepared import change, fetch
from storage.tallies import TallyCounter, counted_at_the_end

# What the pipeline's functions are handed: a connection inside the batch's transaction (the
# layers above name it without importing SQLAlchemy).
Transaction = Connection

MOMENT = "batch_moment"  # connection.info's key for the moment of a batch (see `batch`)

R = cast(Table, Respondent.__table__)
P = cast(Table, Progress.__table__)
S = cast(Table, Response.__table__)
A = cast(Table, Answer.__table__)

# --- reading --------------------------------------------------------------------------------

_STATE = (
    select(
        R.c.locale,
        R.c.consent_at.is_not(None).label("consented"),
        P.c.stage,
        P.c.city_id,
        P.c.practice_id,
        P.c.round_id,
        P.c.page,
        P.c.revision,
        S.c.id,
        S.c.survey_id,
        S.c.practice_id.label("response_practice_id"),
        S.c.round_id.label("response_round_id"),
        S.c.current_question,
        S.c.status,
    )
    .select_from(P.join(R, R.c.pseudonym == P.c.pseudonym).outerjoin(S, S.c.id == P.c.response_id))
    .where(P.c.pseudonym == bindparam("pseudonym"))
    .with_for_update(of=P)  # PostgreSQL: one event of a person at a time (SQLite: one writer)
)
_ANSWER_COLUMNS = (
    A.c.response_id,
    A.c.question_id,
    A.c.value_number,
    A.c.value_option,
    A.c.value_options,
    A.c.value_text,
    A.c.skipped,
)


@cache
def _answers_of_one(dialect: str) -> Any:
    """The answers of one response as an event reads them (all of them, at every event), with
    as little as possible left to convert row by row in Python: `skipped` as stored (0/1 on
    SQLite, a bool on PostgreSQL: either is its truth value), and on SQLite the text 'null' an
    empty JSON column holds read as NULL (PostgreSQL's driver decodes JSON itself)."""
    options: Any = A.c.value_options
    if dialect == "sqlite":
        options = type_coerce(func.nullif(options, literal_column("'null'")), options.type)
    return select(
        A.c.question_id,
        A.c.value_number,
        A.c.value_option,
        options.label("value_options"),
        A.c.value_text,
        type_coerce(A.c.skipped, Integer).label("skipped"),
    ).where(A.c.response_id == bindparam("response_id"))


_CITIES_OF = select(Subscription.city_id).where(
    Subscription.chat_id == bindparam("chat_id"), Subscription.opted_in.is_(True)
)
_REMINDED_ROUNDS = (
    select(ReminderRequest.round_id)
    .where(ReminderRequest.chat_id == bindparam("chat_id"))
    .order_by(ReminderRequest.round_id)
)
_RESULTS_ASKED = (
    select(ResultsRequest.round_id, ResultsRequest.practice_id)
    .where(ResultsRequest.chat_id == bindparam("chat_id"))
    .order_by(ResultsRequest.round_id, ResultsRequest.practice_id)
)


@dataclass(frozen=True)
class StoredState:
    """A respondent's stored conversation: their row, progress, current response, its answers.
    `progress` and `response` are rows with the models' column names."""

    locale: str | None
    consented: bool
    progress: Any
    response: Any | None
    answers: Sequence[Any]


def load_state(connection: Connection, pseudonym: str) -> StoredState | None:
    """What a person's next event starts from (locked for the transaction on PostgreSQL);
    None for someone without progress."""
    rows = fetch(connection, _STATE, {"pseudonym": pseudonym})
    if not rows:
        return None
    row = rows[0]
    response = None
    answers: Sequence[Any] = ()
    if row.id is not None:
        response = _ResponseRow(
            row.id,
            row.survey_id,
            row.response_practice_id,
            row.response_round_id,
            row.current_question,
            row.status,
        )
        statement = _answers_of_one(connection.dialect.name)
        answers = fetch(connection, statement, {"response_id": row.id})
    return StoredState(row.locale, bool(row.consented), row, response, answers)


@dataclass(frozen=True)
class _ResponseRow:
    """The current response's columns an event needs (the model's names)."""

    id: int
    survey_id: int
    practice_id: str
    round_id: int | None
    current_question: str | None
    status: str


def answers_of(connection: Connection, response_ids: Sequence[int]) -> Sequence[Any]:
    """The answers of some responses."""
    if not response_ids:
        return []
    query = select(*_ANSWER_COLUMNS).where(A.c.response_id.in_(response_ids))
    return connection.execute(query).all()


def own_responses(connection: Connection, pseudonym: str, since: datetime) -> Sequence[Any]:
    """A respondent's responses: all round ones, and always-on ones started since a moment."""
    query = select(S).where(
        S.c.pseudonym == pseudonym, or_(S.c.round_id.is_not(None), S.c.started_at >= since)
    )
    return connection.execute(query).all()


def open_rounds(connection: Connection, moment: datetime) -> list[tuple[Any, list[str]]]:
    """Rounds open at a moment, each with its practice ids."""
    query = select(Round.__table__).where(
        Round.status == "open", Round.opens_at <= moment, Round.closes_at > moment
    )
    rounds = connection.execute(query).all()
    if not rounds:
        return []
    links = connection.execute(
        select(RoundPractice.round_id, RoundPractice.practice_id).where(
            RoundPractice.round_id.in_([r.id for r in rounds])
        )
    ).all()
    return [(r, [p for round_id, p in links if round_id == r.id]) for r in rounds]


def latest_survey(connection: Connection, key: str) -> Any | None:
    """The newest version of a survey: (id, version)."""
    query = (
        select(Survey.id, Survey.version)
        .where(Survey.key == key)
        .order_by(Survey.version.desc())
        .limit(1)
    )
    return connection.execute(query).first()


def survey_definitions(connection: Connection, survey_ids: Iterable[int]) -> dict[int, Any]:
    """The definitions of some survey versions, by id."""
    query = select(Survey.id, Survey.definition).where(Survey.id.in_(list(survey_ids)))
    return {row.id: row.definition for row in connection.execute(query)}


def cities_of(connection: Connection, chat_id: int) -> list[str]:
    """The cities a chat is opted in to."""
    return [row.city_id for row in fetch(connection, _CITIES_OF, {"chat_id": chat_id})]


def reminded_rounds(connection: Connection, chat_id: int) -> list[int]:
    """The rounds a chat asked to be reminded of, in round order."""
    return list(connection.scalars(_REMINDED_ROUNDS, {"chat_id": chat_id}))


def results_asked(connection: Connection, chat_id: int) -> list[tuple[int, str]]:
    """(round, practice) of every results request of a chat, in that order."""
    return [(r, p) for r, p in connection.execute(_RESULTS_ASKED, {"chat_id": chat_id})]


# --- writing --------------------------------------------------------------------------------


@cache
def _upserts(dialect: str) -> dict[str, Any]:
    """The statements with ON CONFLICT, built once per dialect."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    claim = insert(ProcessedUpdate).on_conflict_do_nothing()
    answer = insert(A)
    answer = answer.on_conflict_do_update(
        index_elements=[A.c.response_id, A.c.question_id],
        set_={name: answer.excluded[name] for name in (*ANSWER_VALUES, "answered_at")},
    )
    subscribe = insert(Subscription)
    subscribe = subscribe.on_conflict_do_update(
        index_elements=[Subscription.chat_id, Subscription.city_id],
        set_={"locale": subscribe.excluded.locale, "opted_in": True, "blocked": False},
    )
    remind = insert(ReminderRequest)
    remind = remind.on_conflict_do_update(
        index_elements=[ReminderRequest.round_id, ReminderRequest.chat_id],
        set_={"locale": remind.excluded.locale},
    )
    results = insert(ResultsRequest)
    results = results.on_conflict_do_update(
        index_elements=[
            ResultsRequest.round_id,
            ResultsRequest.practice_id,
            ResultsRequest.chat_id,
        ],
        set_={"locale": results.excluded.locale},
    )
    return {
        "claim": claim,
        "answer": answer,
        "subscribe": subscribe,
        "remind": remind,
        "results": results,
    }


ANSWER_VALUES = ("value_number", "value_option", "value_options", "value_text", "skipped")
RESPONDENT_VALUES = ("locale", "consent_at")
PROGRESS_VALUES = ("stage", "city_id", "practice_id", "round_id", "page", "response_id", "revision")


def _update_by_key(key: Any, names: Sequence[str]) -> Any:
    """UPDATE of the row whose `key` column is the parameter "key", setting the named columns
    from parameters of the same names."""
    return update(key.table).where(key == bindparam("key")).values({n: bindparam(n) for n in names})


_SAVE_PROGRESS = _update_by_key(P.c.pseudonym, (*PROGRESS_VALUES, "updated_at"))
_SAVE_RESPONDENT = _update_by_key(R.c.pseudonym, RESPONDENT_VALUES)
_SAVE_RESPONSE = _update_by_key(S.c.id, ("status", "current_question", "updated_at"))
_COMPLETE_RESPONSE = (
    update(S)
    .where(S.c.id == bindparam("key"), S.c.completed_at.is_(None))
    .values(completed_at=bindparam("completed_at"))
)


@contextmanager
def batch(connection: Connection) -> Iterator[None]:
    """One batch of the answer pipeline: its rows are stamped with one moment (its events are
    committed together; the moment is turned into the database's text once, and the events of
    a batch cannot be told apart by their times), and the tallies are counted at its end."""
    connection.info[MOMENT] = utcnow()
    try:
        with counted_at_the_end(connection):
            yield
    finally:
        del connection.info[MOMENT]


def now(connection: Connection) -> datetime:
    """The time to stamp rows with: the batch's moment inside a batch, else the current time."""
    moment: datetime | None = connection.info.get(MOMENT)
    return moment or utcnow()


def claim(connection: Connection, update_id: int) -> bool:
    """Record an update id; False when it was recorded before (a duplicate)."""
    statement = _upserts(connection.dialect.name)["claim"]
    values = {"update_id": update_id, "processed_at": now(connection)}
    return bool(change(connection, statement, values))


def save_respondent(
    connection: Connection, pseudonym: str, values: dict[str, Any], *, new: bool
) -> None:
    """Create (`new`) or update a respondent's row: locale and consent_at (an update may set
    only one of them)."""
    if new:
        connection.execute(R.insert(), {"pseudonym": pseudonym, **values})
    elif set(values) == set(RESPONDENT_VALUES):
        change(connection, _SAVE_RESPONDENT, {"key": pseudonym, **values})
    elif values:
        connection.execute(update(R).where(R.c.pseudonym == pseudonym).values(values))


def save_progress(
    connection: Connection, pseudonym: str, values: dict[str, Any], *, new: bool
) -> None:
    """Create (`new`) or update where a respondent is in the conversation."""
    moment = now(connection)
    if new:
        connection.execute(P.insert(), {"pseudonym": pseudonym, **values})
    elif set(values) == set(PROGRESS_VALUES):
        change(connection, _SAVE_PROGRESS, {"key": pseudonym, "updated_at": moment, **values})
    elif values:
        statement = update(P).where(P.c.pseudonym == pseudonym)
        connection.execute(statement.values({**values, "updated_at": moment}))


def add_response(connection: Connection, values: dict[str, Any]) -> int:
    """Start a response; its id. The tallies count it."""
    moment = now(connection)
    row = {"status": "in_progress", "channel": TELEGRAM, "started_at": moment, "updated_at": moment}
    row |= values
    response_id = int(connection.execute(S.insert().returning(S.c.id), row).scalar_one())
    TallyCounter(connection).response_added(SimpleNamespace(id=response_id, **row))  # type: ignore[arg-type]
    return response_id


def save_answer(connection: Connection, response_id: int, question_id: str, values: dict) -> None:
    """Store or replace one answer (a second press on the same question replaces, never adds);
    `values`: the columns of ANSWER_VALUES."""
    row = {"response_id": response_id, "question_id": question_id, "answered_at": now(connection)}
    change(connection, _upserts(connection.dialect.name)["answer"], {**row, **values})


def delete_answers(connection: Connection, response_id: int, question_ids: Sequence[str]) -> None:
    """Remove answers that the respondent's path no longer includes."""
    connection.execute(
        delete(A).where(and_(A.c.response_id == response_id, A.c.question_id.in_(question_ids)))
    )


def update_response(
    connection: Connection,
    response_id: int,
    status: str,
    current: str | None,
    before: str | None,
    *,
    completed_at: datetime | None = None,
) -> None:
    """A response's status and current question. Completion is stamped once: a later event
    (e.g. asking for invitations after finishing) must not move it next to the time of a row
    that holds the raw chat id (docs/privacy.md); `completed_at`: when, if not now (an
    interview imported later). The tallies follow a change of status from `before` (None: read
    it first)."""
    if before is None:
        before = connection.scalar(select(S.c.status).where(S.c.id == response_id))
    moment = now(connection)
    values = {"key": response_id, "status": status, "current_question": current}
    change(connection, _SAVE_RESPONSE, {**values, "updated_at": moment})
    if status == "completed":
        stamp = {"key": response_id, "completed_at": completed_at or moment}
        connection.execute(_COMPLETE_RESPONSE, stamp)
    if status != before:
        row = connection.execute(select(S).where(S.c.id == response_id)).one()
        TallyCounter(connection).status_changed(row, before)  # type: ignore[arg-type]


def subscribe(connection: Connection, chat_id: int, city_id: str, locale: str) -> None:
    """Opt a chat in to invitations for a city (again, if it had opted out). The day only: see
    Subscription."""
    row = {"chat_id": chat_id, "city_id": city_id, "locale": locale, "opted_in": True}
    row |= {"blocked": False, "subscribed_on": utcnow().date()}
    connection.execute(_upserts(connection.dialect.name)["subscribe"], row)


def request_reminder(
    connection: Connection, round_id: int, chat_id: int, locale: str, asked_on: date
) -> None:
    """Remember that a chat wants one reminder before a round closes."""
    row = {"round_id": round_id, "chat_id": chat_id, "locale": locale, "asked_on": asked_on}
    connection.execute(_upserts(connection.dialect.name)["remind"], row)


def remove_reminder(connection: Connection, round_id: int, chat_id: int) -> None:
    """Forget one reminder request (its reminder is queued, or the survey is finished)."""
    connection.execute(
        delete(ReminderRequest).where(
            ReminderRequest.round_id == round_id, ReminderRequest.chat_id == chat_id
        )
    )


def request_results(
    connection: Connection,
    round_id: int,
    practice_id: str,
    chat_id: int,
    locale: str,
    asked_on: date,
) -> None:
    """Remember that a chat wants a practice's results when its round's figures are final."""
    row = {"round_id": round_id, "practice_id": practice_id, "chat_id": chat_id}
    row |= {"locale": locale, "asked_on": asked_on}
    connection.execute(_upserts(connection.dialect.name)["results"], row)


def forget_respondent(connection: Connection, pseudonym: str) -> None:
    """Erase a respondent with their progress, responses and answers (the tallies forget them;
    their masked comments go by cascade)."""
    own = connection.execute(select(S).where(S.c.pseudonym == pseudonym)).all()
    TallyCounter(connection).responses_removed(own)  # type: ignore[arg-type]
    response_ids = select(S.c.id).where(S.c.pseudonym == pseudonym)
    connection.execute(delete(A).where(A.c.response_id.in_(response_ids)))
    connection.execute(delete(S).where(S.c.pseudonym == pseudonym))
    connection.execute(delete(P).where(P.c.pseudonym == pseudonym))
    connection.execute(delete(R).where(R.c.pseudonym == pseudonym))


def forget_chat(connection: Connection, chat_id: int) -> None:
    """Erase what is kept for a chat: subscriptions, reminder and results requests, and every
    message queued or kept for it (a queued one is then never sent)."""
    for model in (Subscription, ReminderRequest, ResultsRequest, OutboxMessage):
        connection.execute(delete(model).where(model.chat_id == chat_id))


def forget_actor(connection: Connection, actor: str) -> None:
    """Erase every audit-log line about one actor."""
    connection.execute(delete(AuditLog).where(AuditLog.actor == actor))


def survey_version(connection: Connection, survey_id: int) -> int:
    """The version number of a stored survey."""
    return int(
        connection.execute(select(Survey.version).where(Survey.id == survey_id)).scalar_one()
    )
