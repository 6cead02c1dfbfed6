"""Locks between processes: one leader at a time, and one start-up at a time.

PostgreSQL: session-level advisory locks, each on a connection of its own (released when the
process dies or its connection breaks, so another process takes over). SQLite: lock files next
to the database (`flock`, also released when the process dies).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)
LOCK_KEY = 0x0A0D17  # an arbitrary, stable number naming "the Open Cities scheduler"
STARTUP_KEY = 0x0A0D18  # "an Open Cities process is migrating or loading the catalog"


class LeaderLock:
    """Try to become the leader; hold it until `release` (or until the connection breaks)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.connection: AsyncConnection | None = None
        self.file: IO[str] | None = None
        # PostgreSQL: the lock's connection is held for as long as the process leads; taken
        # from the main pool it would leave one connection fewer for the updates (and the
        # pool would open and close an overflow connection for them again and again).
        self.own_engine: AsyncEngine | None = None
        if engine.dialect.name == "postgresql":
            self.own_engine = create_async_engine(
                engine.url, poolclass=NullPool, connect_args={"timeout": 5.0}
            )

    async def acquire(self) -> bool:
        """True when this process is now the leader (raises when the database is away)."""
        if self.engine.dialect.name == "postgresql":
            return await self._acquire_advisory()
        return self._acquire_file()

    async def holds(self) -> bool:
        """Whether the lock is still ours: its connection answers (a session-level advisory
        lock lasts as long as the session). A broken connection is dropped."""
        if self.file is not None:
            return True
        if self.connection is None:
            return False
        try:
            await self.connection.scalar(text("SELECT 1"))
        except Exception:  # any failure: the session, and with it the lock, is gone
            await self._drop_connection()
            return False
        return True

    async def release(self) -> None:
        """Give up leadership; never raises (a broken connection has released it already)."""
        if self.connection is not None:
            try:
                await self.connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY}
                )
                await self.connection.close()
                self.connection = None
            except Exception:
                await self._drop_connection()
        if self.file is not None:
            fcntl.flock(self.file, fcntl.LOCK_UN)
            self.file.close()
            self.file = None

    async def close(self) -> None:
        """Release the lock and the lock's own engine."""
        await self.release()
        if self.own_engine is not None:
            await self.own_engine.dispose()

    async def _drop_connection(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.invalidate()
            with contextlib.suppress(Exception):
                await connection.close()

    async def _acquire_advisory(self) -> bool:
        if self.connection is None:
            assert self.own_engine is not None
            self.connection = await self.own_engine.connect()
            await self.connection.execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = await self.connection.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}
            )
        except Exception:
            await self._drop_connection()
            raise
        return bool(got)

    def _acquire_file(self) -> bool:
        if self.file is not None:
            return True
        handle = lock_path(self.engine, "leader").open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self.file = handle
        return True


def lock_path(engine: AsyncEngine, suffix: str) -> Path:
    """A lock file next to the SQLite database (in /tmp, per process, for :memory:)."""
    database = make_url(str(engine.url)).database or ":memory:"
    if database == ":memory:":
        return Path(f"/tmp/auditbot-{os.getpid()}.{suffix}")
    return Path(f"{database}.{suffix}")


@contextlib.asynccontextmanager
async def startup_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    """Wait for, then hold, the start-up lock: migrations and first loads of processes that
    start together run one after the other instead of colliding."""
    if engine.dialect.name == "postgresql":
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": STARTUP_KEY})
            try:
                yield
            finally:
                with contextlib.suppress(Exception):  # a broken session released it already
                    await connection.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": STARTUP_KEY}
                    )
        return
    handle = _open_lock_file(lock_path(engine, "startup"))
    if handle is None:  # a folder we cannot write: the database will say what is wrong
        yield
        return
    try:
        await asyncio.to_thread(fcntl.flock, handle, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _open_lock_file(path: Path) -> Any:
    try:
        return path.open("a+")
    except OSError:
        return None
