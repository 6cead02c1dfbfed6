"""SQLite's hot path: a batch of survey answers in one transaction on the writer's own thread.

Through the async ORM one statement costs ~150 µs of Python (greenlet hand-off, aiosqlite's
thread hop, compiling, result rows); the same statement run by `sqlite3` on the connection's
thread costs ~2 µs. So an answer inside a survey — by far the most frequent event — is handled
here: the whole batch (claim the update, load the state, run the caller's decision, write) runs
in one hop to the writer's thread and commits once. Each event sits in its own SAVEPOINT, so an
event the caller cannot decide here is rolled back alone and handled by the general path
(app/respond.py), which stays the reference: tests check that both write the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import Answer, utcnow

_DIALECT = sqlite.dialect()


def _stored(column: Any) -> Callable[[Any], Any]:
    """How SQLAlchemy stores a Python value in this column on SQLite (same bytes as the ORM)."""
    process = column.type.dialect_impl(_DIALECT).bind_processor(_DIALECT)
    return process or (lambda value: value)


def _loaded(column: Any) -> Callable[[Any], Any]:
    """How SQLAlchemy reads this column back on SQLite."""
    process = column.type.dialect_impl(_DIALECT).result_processor(_DIALECT, None)
    return process or (lambda value: value)


def _answer(row: tuple[Any, ...]) -> StoredAnswer:
    """An answer row; only a multiple-choice answer has options to decode."""
    if row[3] is None:
        return StoredAnswer._make(row)
    return StoredAnswer(row[0], row[1], row[2], _OPTIONS_OUT(row[3]), row[4], row[5])


_TIME = _stored(Answer.__table__.c.answered_at)
_OPTIONS_IN = _stored(Answer.__table__.c.value_options)
_NO_OPTIONS = _OPTIONS_IN(None)  # what the ORM stores for an answer without options
_OPTIONS_OUT = _loaded(Answer.__table__.c.value_options)

CLAIM = (
    "INSERT INTO processed_updates (update_id, processed_at) VALUES (?, ?) ON CONFLICT DO NOTHING"
)
LOAD = """
SELECT r.locale, r.consent_at IS NOT NULL, p.stage, p.city_id, p.practice_id, p.round_id,
       p.page, p.revision, s.id, s.survey_id, s.practice_id, s.round_id, s.current_question,
       s.status
FROM progress p JOIN respondents r ON r.pseudonym = p.pseudonym
LEFT JOIN responses s ON s.id = p.response_id
WHERE p.pseudonym = ?
"""
# The ORM stores JSON 'null' for an answer without options; NULLIF makes that a NULL here.
ANSWERS = (
    "SELECT question_id, value_number, value_option, NULLIF(value_options, 'null'), value_text, "
    "skipped = 1 FROM answers WHERE response_id = ?"
)
SAVE_PROGRESS = (
    "UPDATE progress SET stage = ?, city_id = ?, practice_id = ?, round_id = ?, page = ?, "
    "response_id = ?, revision = ?, updated_at = ? WHERE pseudonym = ?"
)
SAVE_ANSWER = """
INSERT INTO answers (response_id, question_id, value_number, value_option, value_options,
                     value_text, skipped, answered_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (response_id, question_id) DO UPDATE SET
  value_number = excluded.value_number, value_option = excluded.value_option,
  value_options = excluded.value_options, value_text = excluded.value_text,
  skipped = excluded.skipped, answered_at = excluded.answered_at
"""
SAVE_RESPONSE = (
    "UPDATE responses SET status = ?, current_question = ?, completed_at = ?, updated_at = ? "
    "WHERE id = ?"
)


class StoredAnswer(NamedTuple):
    """An answer row as the flow reads it (the ORM's attribute names)."""

    question_id: str
    value_number: int | None
    value_option: str | None
    value_options: list[Any] | None
    value_text: str | None
    skipped: bool


@dataclass(frozen=True)
class StoredResponse:
    """A response row as the flow reads it (the ORM's attribute names)."""

    id: int
    survey_id: int
    practice_id: str
    round_id: int | None
    current_question: str | None
    status: str


@dataclass(frozen=True)
class StoredState:
    """Everything a survey event reads: respondent, progress, current response, its answers."""

    locale: str | None
    consented: bool
    stage: str
    city_id: str | None
    practice_id: str | None
    round_id: int | None
    page: int
    revision: int
    response: StoredResponse | None
    answers: tuple[StoredAnswer, ...]


@dataclass(frozen=True)
class StoredProgress:
    """The progress columns an event writes."""

    stage: str
    city_id: str | None
    practice_id: str | None
    round_id: int | None
    page: int
    response_id: int | None
    revision: int


class Writer:
    """What a decision may do inside its event's savepoint (one sqlite3 connection)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.now = _TIME(utcnow())  # one batch, one transaction, one moment

    def claim(self, update_id: int) -> bool:
        """Record an update id; False when it was handled before."""
        cursor = self.connection.execute(CLAIM, (update_id, self.now))
        return bool(cursor.rowcount)

    def load(self, pseudonym: str) -> StoredState | None:
        """The respondent's stored state; None for someone without progress."""
        row = self.connection.execute(LOAD, (pseudonym,)).fetchone()
        if row is None:
            return None
        response = StoredResponse(*row[8:]) if row[8] is not None else None
        answers: tuple[StoredAnswer, ...] = ()
        if response is not None:
            rows = self.connection.execute(ANSWERS, (response.id,)).fetchall()
            answers = tuple(map(_answer, rows))
        locale, consented, stage, city_id, practice_id, round_id, page, revision = row[:8]
        return StoredState(
            locale,
            bool(consented),
            stage,
            city_id,
            practice_id,
            round_id,
            page,
            revision,
            response,
            answers,
        )

    def save_progress(self, pseudonym: str, progress: StoredProgress) -> None:
        """Where the respondent is now."""
        self.connection.execute(
            SAVE_PROGRESS,
            (
                progress.stage,
                progress.city_id,
                progress.practice_id,
                progress.round_id,
                progress.page,
                progress.response_id,
                progress.revision,
                self.now,
                pseudonym,
            ),
        )

    def save_answer(self, response_id: int, question_id: str, columns: dict[str, Any]) -> None:
        """Store or replace one answer (the columns of `answer_columns`)."""
        options = columns["value_options"]
        self.connection.execute(
            SAVE_ANSWER,
            (
                response_id,
                question_id,
                columns["value_number"],
                columns["value_option"],
                _NO_OPTIONS if options is None else _OPTIONS_IN(options),
                columns["value_text"],
                columns["skipped"],
                self.now,
            ),
        )

    def delete_answers(self, response_id: int, question_ids: Sequence[str]) -> None:
        """Remove answers the respondent's path no longer includes."""
        marks = ", ".join("?" for _ in question_ids)
        self.connection.execute(
            f"DELETE FROM answers WHERE response_id = ? AND question_id IN ({marks})",  # marks only
            (response_id, *question_ids),
        )

    def save_response(self, response_id: int, status: str, current: str | None) -> None:
        """The response's status and current question (never completed here)."""
        self.connection.execute(SAVE_RESPONSE, (status, current, None, self.now, response_id))


class Declined(Exception):
    """The decision cannot be taken on the hot path; the event goes to the general path."""


def run_batch(connection: Any, decide: Callable[[Writer, Any], Any], items: Sequence[Any]) -> list:
    """On the writer's thread: one transaction, one savepoint per item; an item whose decision
    raises is rolled back alone and reported as the exception (Declined or an error)."""
    writer = Writer(connection)
    results: list[Any] = []
    connection.execute("BEGIN IMMEDIATE")
    try:
        for item in items:
            connection.execute("SAVEPOINT event")
            try:
                results.append(decide(writer, item))
            except Exception as error:  # handed to the general path
                connection.execute("ROLLBACK TO SAVEPOINT event")
                results.append(error)
            connection.execute("RELEASE SAVEPOINT event")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return results


async def run_on_writer(
    engine: AsyncEngine, decide: Callable[[Writer, Any], Any], items: Sequence[Any]
) -> list:
    """Run `run_batch` on the SQLite writer connection's own thread, in one hop."""
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection  # the aiosqlite.Connection
        # aiosqlite runs everything on one thread per connection; `_execute` is how it hands
        # a function to that thread (its public methods are each one statement, one hop).
        return await driver._execute(run_batch, driver._conn, decide, items)  # type: ignore[union-attr]
