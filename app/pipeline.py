"""The one answer pipeline: every event is claimed, loaded, decided and applied here, in batches.

Events that arrive while a batch is being written form the next batch, and a batch is one
transaction with one commit, on SQLite and on PostgreSQL alike: under load one commit serves
many events, when it is quiet a batch is one event. When an event fails (a bug, or it lost to
another process's concurrent write: a unique key taken, a deadlock) the batch is rolled back,
that event gets its error (one that lost a race goes in the next batch) and the others are
written again as a batch. Events need no savepoint of their own: on PostgreSQL two extra round
trips per event, a fifth of the pipeline's time (docs/benchmarks.md), against one more
transaction when an event fails, which is rare. A reply is handed back only after its batch
has committed, so an adapter never confirms an update or answers a person before what they
said is stored.

The batch runs as one synchronous function over a connection (storage/answers.py, through
Database.write): on SQLite on the writer's own thread, one hop from the event loop for the
whole batch; on PostgreSQL through run_sync (docs/architecture.md, docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from storage.db import is_outage, lost_a_race

log = logging.getLogger(__name__)

ATTEMPTS = 5  # an event that lost to another process's write (storage.db.lost_a_race) is retried

Write = Callable[[Callable[[Any], Any]], Awaitable[Any]]  # Database.write


@dataclass
class _Waiting:
    """One event waiting for a batch, and how its caller learns the outcome."""

    item: Any
    future: asyncio.Future[Any]
    attempts: int = 0


@dataclass
class Pipeline:
    """Runs `decide(connection, context, item)` for every item in batched transactions;
    `context` is what `prepare` read before the batch's transaction, `scope` what the batch's
    events run inside (storage/answers.py `batch`: one moment, the tallies counted at the end)."""

    prepare: Callable[[], Awaitable[Any]]
    decide: Callable[[Any, Any, Any], Any]
    write: Write
    scope: Callable[[Any], AbstractContextManager[Any]] = nullcontext
    batches: int = 0  # transactions committed (tests and /metrics read these three)
    events: int = 0  # events committed
    retries: int = 0  # events that lost to another process's write and went in a later batch
    _waiting: list[_Waiting] = field(default_factory=list)
    _draining: asyncio.Task[None] | None = None

    async def run(self, item: Any) -> Any:
        """What `decide` returned for this item, once its batch has committed."""
        waiting = _Waiting(item, asyncio.get_running_loop().create_future())
        self._waiting.append(waiting)
        if self._draining is None:
            self._draining = asyncio.get_running_loop().create_task(self._drain())
        return await waiting.future

    async def _drain(self) -> None:
        """Write batches until nobody waits; events arriving meanwhile form the next one."""
        batch: list[_Waiting] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                await self._write(batch)
        finally:
            self._draining = None
            for waiting in batch + self._waiting:  # cancelled at shutdown: nobody hangs
                if not waiting.future.done():
                    waiting.future.cancel()

    async def _write(self, batch: list[_Waiting]) -> None:
        """One transaction for the batch. When an event fails, it gets its error and the rest
        go again as a batch. When the transaction itself fails, an outage fails every event
        (nothing is committed, the adapters leave the updates unconfirmed); anything else (e.g.
        the tallies written at the end lost to another process) writes each event alone."""
        while batch:
            try:
                results = await self._transaction(batch)
            except _EventFailed as failed:
                self._finish([batch[failed.index]], [failed.error])
                batch = batch[: failed.index] + batch[failed.index + 1 :]
                continue
            except Exception as error:
                if len(batch) > 1 and not is_outage(error):
                    log.warning(
                        "a batch failed as a whole (%s); its events go one by one",
                        type(error).__name__,
                    )
                    for waiting in batch:
                        await self._write([waiting])
                    return
                results = [error] * len(batch)
            else:
                self.batches += 1
            self._finish(batch, results)
            return

    def _finish(self, batch: list[_Waiting], results: list[Any]) -> None:
        """Hand each event its result, or put one that lost a race in the next batch."""
        for waiting, result in zip(batch, results, strict=True):
            if lost_a_race(result) and waiting.attempts < ATTEMPTS - 1:
                waiting.attempts += 1
                self.retries += 1
                log.info("an event lost to a concurrent write; it goes in the next batch")
                self._waiting.append(waiting)  # the next batch
                continue
            self.events += not isinstance(result, BaseException)
            _settle(waiting, result)

    async def _transaction(self, batch: list[_Waiting]) -> list[Any]:
        """The batch's events in one transaction; raises _EventFailed for one that raised."""
        context = await self.prepare()

        def work(connection: Any) -> list[Any]:
            with self.scope(connection):
                return self._events(connection, context, batch)

        results: list[Any] = await self.write(work)
        return results

    def _events(self, connection: Any, context: Any, batch: list[_Waiting]) -> list[Any]:
        results: list[Any] = []
        for index, waiting in enumerate(batch):
            try:
                results.append(self.decide(connection, context, waiting.item))
            except Exception as error:
                if is_outage(error):
                    raise  # the transaction is gone: the batch fails as a whole
                raise _EventFailed(index, error) from error
        return results


class _EventFailed(Exception):
    """The event at `index` of a batch raised `error`; the batch's transaction is rolled back."""

    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(index, error)
        self.index = index
        self.error = error


def _settle(waiting: _Waiting, result: Any) -> None:
    """Hand the caller its result, or raise the event's exception in the caller."""
    if waiting.future.done():
        return
    if isinstance(result, BaseException):
        waiting.future.set_exception(result)
    else:
        waiting.future.set_result(result)
