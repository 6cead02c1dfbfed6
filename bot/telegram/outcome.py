"""What the transport may confirm to Telegram about one update.

An update is confirmed (long polling: the next offset moves past it; webhook: 200) only when
its transaction committed, or when it was deliberately answered. When the database fails while
it is handled and nothing was committed, it stays unconfirmed, so Telegram delivers it again
and it is handled once the database is back (`processed_updates` keeps that to once).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from app.respond import committed


@dataclass
class Handling:
    """How handling one update went."""

    committed: bool = False  # its transaction committed (app/respond.py says so)
    failed: bool = False  # the database failed before anything was committed

    @property
    def confirm(self) -> bool:
        """Whether Telegram may forget the update."""
        return self.committed or not self.failed


current: ContextVar[Handling | None] = ContextVar("handling", default=None)


def track(on_commit: Callable[[], None] | None = None) -> Handling:
    """Follow the update handled in the current task (set before PTB processes it)."""
    handling = Handling()

    def commit() -> None:
        handling.committed = True
        if on_commit is not None:
            on_commit()

    current.set(handling)
    committed.set(commit)
    return handling
