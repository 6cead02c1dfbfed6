"""One leader at a time for the scheduler and the outbox sender.

PostgreSQL: a session-level advisory lock held on a connection of its own (released when the
process dies, so another takes over). SQLite is one process by design; a lock file next to the
database keeps a second process from sending too.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)
LOCK_KEY = 0x0A0D17  # an arbitrary, stable number naming "the Open Cities scheduler"


class LeaderLock:
    """Try to become the leader; hold it until `release`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.connection: AsyncConnection | None = None
        self.file: Any = None

    async def acquire(self) -> bool:
        """True when this process is now the leader."""
        if self.engine.dialect.name == "postgresql":
            return await self._acquire_advisory()
        return self._acquire_file()

    async def release(self) -> None:
        """Give up leadership."""
        if self.connection is not None:
            await self.connection.execute(
                text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY}
            )
            await self.connection.close()
            self.connection = None
        if self.file is not None:
            fcntl.flock(self.file, fcntl.LOCK_UN)
            self.file.close()
            self.file = None

    async def _acquire_advisory(self) -> bool:
        if self.connection is None:
            self.connection = await self.engine.connect()
            await self.connection.execution_options(isolation_level="AUTOCOMMIT")
        got = await self.connection.scalar(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}
        )
        return bool(got)

    def _acquire_file(self) -> bool:
        database = make_url(str(self.engine.url)).database or "memory"
        path = (
            Path(f"{database}.leader")
            if database != ":memory:"
            else Path(f"/tmp/auditbot-{os.getpid()}.leader")
        )
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self.file = handle
        return True
