"""Background tasks report progress here: /healthz and /metrics tell a task that is stuck or
failing apart from one that is merely alive. Also the capped, jittered backoff they retry with.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.web.metrics import TASK_FAILURES, TASK_PROGRESS, TASK_STALLED


@dataclass
class TaskState:
    """One watched task: how long it may go without progress, and what happened last."""

    within: float
    last_progress: float
    last_error: str | None = None


class Health:
    """The background tasks of this process and whether each is making progress."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.tasks: dict[str, TaskState] = {}

    def watch(self, name: str, within: float) -> None:
        """A task starts: it must make progress at least every `within` seconds."""
        self.tasks[name] = TaskState(within, self.clock())
        TASK_PROGRESS.labels(name).set_to_current_time()
        TASK_STALLED.labels(name).set(0)

    def unwatch(self, name: str) -> None:
        """A task ends on purpose (stopping, or leadership moved to another process)."""
        if self.tasks.pop(name, None) is not None:
            TASK_STALLED.labels(name).set(0)

    def progress(self, name: str) -> None:
        """The task did a unit of its work."""
        state = self.tasks.get(name)
        if state is not None:
            state.last_progress, state.last_error = self.clock(), None
            TASK_PROGRESS.labels(name).set_to_current_time()

    def failed(self, name: str, error: BaseException) -> None:
        """An attempt failed (the task retries by itself)."""
        kind = type(error).__name__
        TASK_FAILURES.labels(name, kind).inc()
        state = self.tasks.get(name)
        if state is not None:
            state.last_error = kind

    def stalled(self) -> dict[str, str]:
        """Tasks without progress for too long, with why (their last error, if any)."""
        now = self.clock()
        stalled = {}
        for name, state in self.tasks.items():
            late = now - state.last_progress > state.within
            TASK_STALLED.labels(name).set(int(late))
            if late:
                idle = f"no progress for {now - state.last_progress:.0f} s"
                stalled[name] = f"{idle} ({state.last_error})" if state.last_error else idle
        return stalled


class Backoff:
    """Capped exponential backoff with jitter: 0.5, 1, 2, 4 … `cap` seconds, each drawn from
    its upper half, so processes that failed together do not retry together."""

    def __init__(
        self, first: float = 0.5, cap: float = 10.0, rng: Callable[[], float] = random.random
    ) -> None:
        self.first = first
        self.cap = cap
        self.rng = rng
        self.failures = 0

    def next(self) -> float:
        """The delay before the next attempt."""
        delay = min(self.cap, self.first * 2**self.failures)
        self.failures += 1
        return delay * (0.5 + self.rng() / 2)

    def reset(self) -> None:
        """Success: start from the first delay again."""
        self.failures = 0


async def pause(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep for `seconds` unless `stop` is set first; True when stopping."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()
