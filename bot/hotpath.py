"""Answers in batches (SQLite): events inside a survey that arrive together commit together.

Each event still commits before its reply is sent — a batch is simply the events that came
in while the previous batch was being written, so under load one commit and one hand-off to
the database thread serve many answers, and when it is quiet a batch is one event. What the
hot path cannot decide alone (a first answer that creates the response, the last one that
completes it, a change of language, anything outside a survey) it declines, and the general
path in app/respond.py handles that event as before.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from app.respond import (
    SURVEY_EVENTS,
    Identity,
    Reply,
    _response_state,
    _state,
    answer_columns,
    answers_a_question,
    catalog_now,
    reply_locale,
    survey_world,
)
from app.services import Services
from conversations import engine
from conversations import events as ev
from conversations.engine import DeleteAnswers, Outcome, SaveAnswer, State
from storage.db import is_outage
from storage.hotpath import Declined, StoredProgress, StoredState, Writer, run_on_writer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Item:
    """One event waiting for the next batch."""

    identity: Identity
    event: ev.Event
    language_code: str | None


class AnswerBatcher:
    """Collects survey events of concurrent updates and handles them in one transaction."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._waiting: list[tuple[Item, asyncio.Future[Reply | None]]] = []
        self._draining: asyncio.Task[None] | None = None
        self.batches = 0  # transactions written (for tests and /metrics)
        self.handled = 0  # events answered here rather than on the general path

    @staticmethod
    def takes(event: ev.Event) -> bool:
        """Whether an event may be an answer inside a survey (else: the general path)."""
        return isinstance(event, SURVEY_EVENTS)

    async def respond(
        self, identity: Identity, event: ev.Event, language_code: str | None
    ) -> Reply | None:
        """The reply once the event is committed; None when the general path must handle it."""
        future: asyncio.Future[Reply | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((Item(identity, event, language_code), future))
        if self._draining is None:
            self._draining = asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        """Write batches until nobody waits; events arriving meanwhile form the next one."""
        batch: list[tuple[Item, asyncio.Future[Reply | None]]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                replies = await self._write([item for item, _future in batch])
                self.batches += 1
                self.handled += sum(reply is not None for reply in replies)
                for (_item, future), reply in zip(batch, replies, strict=True):
                    if not future.done():
                        future.set_result(reply)
        finally:
            self._draining = None
            for _item, future in batch + self._waiting:  # cancelled at shutdown: nobody hangs
                future.cancel()

    async def _write(self, items: list[Item]) -> list[Reply | None]:
        """One transaction for the batch; on any failure of the whole, every event declines."""
        services = self.services
        try:
            catalog = await catalog_now(services)
            decide = Decision(services, catalog)
            results = await run_on_writer(services.db.engine, decide, items)
        except Exception as error:
            if is_outage(error):  # the general path meets it too, and leaves them unconfirmed
                log.warning("a batch of answers met the database away (%s)", type(error).__name__)
            else:
                log.exception("a batch of answers failed; its events take the general path")
            return [None] * len(items)
        replies: list[Reply | None] = []
        for result in results:
            if isinstance(result, Reply):
                replies.append(result)
                continue
            if not isinstance(result, Declined):
                log.warning("hot path error %s; the general path takes the event", type(result))
            replies.append(None)
        return replies


class Decision:
    """Decides one event on the database's thread: claim, load, run the engine, write."""

    def __init__(self, services: Services, catalog: Any) -> None:
        self.services = services
        self.catalog = catalog
        self.surveys = services.cache.get("surveys", {})

    def __call__(self, writer: Writer, item: Item) -> Reply:
        identity = item.identity
        if identity.update_id is not None and not writer.claim(identity.update_id):
            return Reply(self.services.translator.default_locale, duplicate=True)
        stored = writer.load(identity.pseudonym)
        if stored is None:
            raise Declined
        state = _state(stored.locale, stored.consented, stored, _response_of(stored))
        if not answers_a_question(state, item.event):
            raise Declined
        assert state.response is not None
        survey = self.surveys.get(state.response.survey_id)
        if survey is None:
            raise Declined
        world = survey_world(
            self.services,
            identity,
            self.catalog,
            {state.response.survey_id: survey},
            frozenset(),  # only a completed response offers invitations, and that declines
        )
        outcome = engine.handle(state, item.event, world)
        if not stays_in_survey(state, outcome):
            raise Declined
        self._store(writer, identity, outcome)
        locale = reply_locale(self.services, state, outcome, item.language_code)
        return Reply(locale, outcome.prompts, outcome.echo)

    def _store(self, writer: Writer, identity: Identity, outcome: Outcome) -> None:
        """What store_outcome writes for an event that stays inside its response."""
        state = outcome.state
        response = state.response
        assert response is not None and response.id is not None
        progress = StoredProgress(
            state.stage,
            state.city_id,
            state.practice_id,
            state.round_id,
            state.page,
            response.id,
            state.revision,
        )
        writer.save_progress(identity.pseudonym, progress)
        survey = self.surveys[response.survey_id]
        for write in outcome.writes:
            if isinstance(write, SaveAnswer):
                kind = survey.question(write.question_id).type
                writer.save_answer(
                    response.id, write.question_id, answer_columns(kind, write.value)
                )
            elif isinstance(write, DeleteAnswers):
                writer.delete_answers(response.id, write.question_ids)
        writer.save_response(response.id, response.status, response.current)


def _response_of(stored: StoredState) -> Any:
    return None if stored.response is None else _response_state(stored.response, stored.answers)


def stays_in_survey(before: State, outcome: Outcome) -> bool:
    """An outcome the hot path may write: the same response, still in progress, no other
    writes, and the respondent's language and consent unchanged."""
    after = outcome.state
    return (
        after.response is not None
        and before.response is not None
        and after.response.id == before.response.id
        and after.response.status == "in_progress"
        and after.locale == before.locale
        and after.consented == before.consented
        and all(isinstance(w, SaveAnswer | DeleteAnswers) for w in outcome.writes)
    )
