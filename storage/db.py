"""The database: engine, sessions per unit of work, and migrations to head."""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from storage.uow import UnitOfWork

MIGRATIONS = Path(__file__).parent / "migrations"


class DatabaseUnavailable(Exception):
    """The database cannot be reached or opened; the message names where and why, never the
    password."""


class Database:
    """One engine and its session factory; hands out units of work."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine: AsyncEngine = _create_engine(url, echo=echo)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite: long reads (summaries, the dashboard) use their own engine whose transactions
        # do not take the write lock, so a year's report never stalls the bot's answers.
        self.reader: AsyncEngine = (
            _create_engine(url, echo=echo, writer=False) if self.is_sqlite else self.engine
        )
        self.read_sessions = async_sessionmaker(self.reader, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded SQLite database."""
        return self.engine.dialect.name == "sqlite"

    def unit_of_work(self) -> UnitOfWork:
        """A fresh unit of work: one session, one transaction, committed on clean exit."""
        return UnitOfWork(self.sessions)

    def reading(self) -> UnitOfWork:
        """A unit of work for reading only (SQLite: without the write lock)."""
        return UnitOfWork(self.read_sessions)

    async def ping(self) -> None:
        """Raise unless the database answers."""
        async with self.engine.connect() as connection:
            await connection.exec_driver_sql("SELECT 1")

    async def reachable(self) -> None:
        """Raise DatabaseUnavailable, in one line, unless the database can be opened."""
        folder = self._sqlite_folder()
        if folder is not None and not (folder.is_dir() and os.access(folder, os.W_OK)):
            # said before SQLite is asked: its failed open would leave aiosqlite's thread behind
            raise DatabaseUnavailable(
                f"cannot open {where(self.engine.url)}: cannot write in the folder {folder}"
            )
        try:
            await self.ping()
        except (OSError, DBAPIError) as error:
            raise DatabaseUnavailable(
                f"cannot open {where(self.engine.url)}: {reason(error)}"
            ) from None

    def _sqlite_folder(self) -> Path | None:
        """The folder of the SQLite file (None for PostgreSQL or an in-memory database)."""
        database = self.engine.url.database
        if not self.is_sqlite or not database or database == ":memory:":
            return None
        return Path(database).parent

    async def upgrade(self) -> None:
        """Apply every Alembic migration up to head."""
        await self.reachable()
        async with self.engine.begin() as connection:
            await connection.run_sync(_upgrade_to_head)

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
        if self.reader is not self.engine:
            await self.reader.dispose()


def where(url: URL) -> str:
    """A database's address for messages: the file, or host, port and name (no password)."""
    if url.get_backend_name() == "sqlite":
        return f"the SQLite file {url.database}"
    return f"PostgreSQL at {url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"


def reason(error: BaseException) -> str:
    """The first line of what the driver said, without SQLAlchemy's wrapping."""
    cause = getattr(error, "orig", None) or error
    text = str(getattr(cause, "strerror", None) or cause).strip().splitlines()
    return text[0] if text else type(cause).__name__


def _create_engine(url: str, *, echo: bool, writer: bool = True) -> AsyncEngine:
    """Create the engine; SQLite gets its folder, WAL, foreign keys and a busy timeout.
    Errors never carry bound values (pseudonyms, answers) into messages or logs."""
    parsed = make_url(url)
    options: dict[str, Any] = {"echo": echo, "hide_parameters": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            with suppress(OSError):  # an unusable folder is reported when the file is opened
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        options["connect_args"] = {"timeout": 30}
        # One writer connection: SQLite has one write lock anyway, and waiting for the pool is
        # an asyncio wait, while waiting for the lock is SQLite's sleeping busy handler.
        if writer:
            options.update(pool_size=1, max_overflow=0, pool_timeout=60)
    else:
        options.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
    engine = create_async_engine(url, **options)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _begin_immediate if writer else _begin_deferred)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Foreign keys on (SQLite's default is off); WAL so readers never block the writer."""
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, see _begin_immediate
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _begin_immediate(connection: Connection) -> None:
    """Take SQLite's write lock at BEGIN: two deferred transactions that both decide to write
    later fail at once with "database is locked" instead of waiting for each other."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _begin_deferred(connection: Connection) -> None:
    """A reading transaction: a consistent snapshot (WAL) without blocking the writer."""
    connection.exec_driver_sql("BEGIN")


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic configuration pointing at our migrations, optionally sharing a connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade_to_head(connection: Connection) -> None:
    """Run Alembic's upgrade on a connection that the caller's transaction owns."""
    command.upgrade(alembic_config(connection), "head")
