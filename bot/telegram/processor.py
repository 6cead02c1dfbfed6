"""Updates of one person in order, different people at the same time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.web.metrics import LATENCY, UPDATES, update_kind


class PerUserUpdateProcessor(BaseUpdateProcessor):
    """Runs updates concurrently, but one at a time per user (a FIFO lock per user id)."""

    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Wait for this user's earlier updates, then process (timed for /metrics)."""
        started = time.perf_counter()
        try:
            await self._in_turn(update, coroutine)
        finally:
            UPDATES.labels(update_kind(update)).inc()
            LATENCY.observe(time.perf_counter() - started)

    async def _in_turn(self, update: object, coroutine: Awaitable[Any]) -> None:
        user = update.effective_user if isinstance(update, Update) else None
        if user is None:
            await coroutine
            return
        lock = self._locks.setdefault(user.id, asyncio.Lock())
        self._waiting[user.id] = self._waiting.get(user.id, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._waiting[user.id] -= 1
            if self._waiting[user.id] == 0:
                del self._waiting[user.id]
                del self._locks[user.id]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""
