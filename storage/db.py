"""The database: engine, sessions per unit of work, migrations (up and down), and what counts
as the database being away."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from storage.leader import startup_lock
from storage.uow import UnitOfWork

MIGRATIONS = Path(__file__).parent / "migrations"
# SQLite reports bugs ("no such column") and outages with one exception class: these are the
# outages — the file is busy, read-only, full or gone for now.
SQLITE_OUTAGES = (
    "database is locked",
    "database table is locked",
    "readonly database",
    "disk i/o error",
    "database or disk is full",
    "unable to open database file",
)
NETWORK_ERRNOS = frozenset(
    {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN, errno.ETIMEDOUT, errno.EHOSTDOWN}
)
T = TypeVar("T")
CONNECT_TIMEOUT = 5.0  # seconds; a server that does not answer is away, not slow


# PostgreSQL's "deadlock detected" and "could not serialize": the transaction lost to another.
LOST_TO_ANOTHER = frozenset({"40P01", "40001"})


def lost_a_race(error: BaseException) -> bool:
    """Whether a write lost to a concurrent one and doing it again will do: a unique key taken
    meanwhile (e.g. two first events of one person), or a deadlock between two transactions
    (batches of two processes counting the same tallies in a different order). Said here so
    that the layers above need not know SQLAlchemy's or the drivers' exceptions."""
    if isinstance(error, IntegrityError):
        return True
    orig = getattr(error, "orig", None)
    for cause in (orig, getattr(orig, "__cause__", None)):
        if (getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)) in LOST_TO_ANOTHER:
            return True
    return False


def is_outage(error: BaseException) -> bool:
    """Whether an error means the database is (for now) unreachable or unusable, rather than
    a bug: refused or lost connections, a server starting up or shutting down, timeouts,
    SQLite's locked or read-only file. Work that failed this way is retried later."""
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, exc.OperationalError) and isinstance(error.orig, sqlite3.Error):
        return any(part in str(error.orig).lower() for part in SQLITE_OUTAGES)
    if isinstance(error, OSError) and not isinstance(error, ConnectionError | socket.gaierror):
        return error.errno in NETWORK_ERRNOS  # asyncpg's connect: no route to host, …
    outages = (
        ConnectionError,  # refused, reset, aborted: raised as is by asyncpg's connect
        socket.gaierror,
        TimeoutError,
        exc.OperationalError,
        exc.InterfaceError,
        exc.DisconnectionError,
        exc.TimeoutError,  # the pool had no connection to give
        exc.PendingRollbackError,  # a session whose connection broke mid-transaction
        asyncpg.PostgresConnectionError,
        asyncpg.InterfaceError,
        asyncpg.exceptions.AdminShutdownError,
        asyncpg.exceptions.CrashShutdownError,
        asyncpg.exceptions.CannotConnectNowError,
    )
    if isinstance(error, outages):
        return True
    cause = error.__cause__ or error.__context__
    return cause is not None and cause is not error and is_outage(cause)


def describe_outage(error: BaseException) -> str:
    """One line for an operator about a database that cannot be used (never a password: the
    drivers' messages name the host and port at most)."""
    root = error.orig if isinstance(error, exc.DBAPIError) and error.orig else error
    text = str(root).splitlines()[0] if str(root) else type(root).__name__
    if "readonly database" in text or "unable to open database file" in text:
        return (
            f"database error: {text} — the SQLite file or its folder is not writable by this "
            "user; check DATABASE_URL and the file's permissions"
        )
    if "database is locked" in text:
        return f"database error: {text} — another program holds SQLite's write lock; try again"
    return f"database error: {type(root).__name__}: {text}"


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
        # SQLite: the answer pipeline's writer, a synchronous connection on a thread of its own
        # (see write).
        self._writer: Engine | None = _create_sync_writer(url) if self.is_sqlite else None
        self._writer_thread = (
            ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer") if self._writer else None
        )
        self._writer_connection: Connection | None = None  # used on that thread only

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded SQLite database."""
        return self.engine.dialect.name == "sqlite"

    def unit_of_work(self) -> UnitOfWork:
        """A fresh unit of work: one session, one transaction, committed on clean exit."""
        return UnitOfWork(self.sessions)

    async def write(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in one write transaction over a synchronous connection (the answer
        pipeline, storage/answers.py). PostgreSQL: through the async connection's run_sync.
        SQLite: on the writer's own thread, so a whole batch is one hop from the event loop;
        through aiosqlite every statement would be a hop of its own and wait for a turn of
        the loop while holding SQLite's single write lock."""
        if self._writer is None:
            async with self.engine.begin() as connection:
                return await connection.run_sync(work)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer_thread, self._write_here, work)

    def _write_here(self, work: Callable[[Connection], T]) -> T:
        """On the writer's thread: its one connection is kept between transactions (a pool
        checkout per batch cost as much as a small batch's statements), and opened again when
        an outage invalidated it."""
        connection = self._writer_connection
        if connection is None or connection.invalidated or connection.closed:
            if connection is not None:
                with suppress(Exception):
                    connection.close()
            assert self._writer is not None
            connection = self._writer_connection = self._writer.connect()
        with connection.begin():
            return work(connection)

    def _close_writer(self) -> None:
        if self._writer_connection is not None:
            with suppress(Exception):
                self._writer_connection.close()
            self._writer_connection = None
        if self._writer is not None:
            self._writer.dispose()

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

    @asynccontextmanager
    async def exclusively(self) -> AsyncIterator[None]:
        """Hold the start-up lock (PostgreSQL: an advisory lock; SQLite: a lock file): migrations
        and first loads of processes that start at the same time run one after the other. A
        database that cannot be opened is said in one line before the lock is asked for."""
        await self.reachable()
        async with startup_lock(self.engine):
            yield

    async def upgrade(self) -> None:
        """Apply every Alembic migration up to head (a database that cannot be opened is said
        in one line first)."""
        await self.reachable()
        await self.migrate("head", up=True)

    async def downgrade(self, revision: str) -> None:
        """Undo migrations down to `revision` (e.g. '0003', or 'base' for an empty database)."""
        await self.migrate(revision, up=False)

    async def revision(self) -> str | None:
        """The revision the database is at (None: not migrated)."""
        async with self.engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )

    async def migrate(self, revision: str, *, up: bool) -> None:
        """Run Alembic in one transaction. SQLite rebuilds a table to change it, which its
        foreign keys would refuse while other tables point at it, so they are off meanwhile
        and checked before the commit (the way SQLite's documentation describes)."""
        async with self.engine.connect() as connection:
            sqlite = self.is_sqlite
            if sqlite:  # before BEGIN: the pragma does nothing inside a transaction
                await connection.run_sync(_sqlite_foreign_keys, False)
            try:
                async with connection.begin():
                    await connection.run_sync(_migrate, revision, up)
                    if sqlite:
                        await connection.run_sync(_check_foreign_keys)
            finally:
                if sqlite:
                    await connection.run_sync(_sqlite_foreign_keys, True)

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
        if self.reader is not self.engine:
            await self.reader.dispose()
        if self._writer is not None and self._writer_thread is not None:
            await asyncio.get_running_loop().run_in_executor(
                self._writer_thread, self._close_writer
            )


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
        # How long a writer waits for SQLite's lock (30 s; `?timeout=S` in the URL says otherwise).
        busy = float(parsed.query.get("timeout", 30))  # type: ignore[arg-type]
        options["connect_args"] = {"timeout": busy}
        # One writer connection: SQLite has one write lock anyway, and waiting for the pool is
        # an asyncio wait, while waiting for the lock is SQLite's sleeping busy handler.
        if writer:
            options.update(pool_size=1, max_overflow=0, pool_timeout=60)
    else:
        options.update(pool_size=10, max_overflow=20, pool_pre_ping=True, pool_timeout=10)
        options["connect_args"] = {"timeout": CONNECT_TIMEOUT}
    engine = create_async_engine(url, **options)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", partial(_sqlite_pragmas, busy))
        event.listen(engine.sync_engine, "begin", _begin_immediate if writer else _begin_deferred)
    return engine


def _create_sync_writer(url: str) -> Engine:
    """SQLite's synchronous writer (pysqlite) for Database.write: the same file, pragmas, busy
    timeout and BEGIN IMMEDIATE as the async writer; one connection, used on one thread."""
    parsed = make_url(url)
    busy = float(parsed.query.get("timeout", 30))  # type: ignore[arg-type]
    parsed = parsed.difference_update_query(["timeout"]).set(drivername="sqlite+pysqlite")
    engine = create_engine(
        parsed,
        hide_parameters=True,
        connect_args={"timeout": busy, "check_same_thread": False},  # disposed from the loop
        pool_size=1,
        max_overflow=0,
    )
    event.listen(engine, "connect", partial(_sqlite_pragmas, busy))
    event.listen(engine, "begin", _begin_immediate)
    return engine


def _sqlite_pragmas(busy: float, dbapi_connection: Any, _record: Any) -> None:
    """Foreign keys on (SQLite's default is off); WAL so readers never block the writer."""
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, see _begin_immediate
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={int(busy * 1000)}")
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


def _migrate(connection: Connection, revision: str, up: bool) -> None:
    """Run Alembic's upgrade or downgrade on a connection that the caller's transaction owns."""
    if up:
        command.upgrade(alembic_config(connection), revision)
    else:
        command.downgrade(alembic_config(connection), revision)


def _sqlite_foreign_keys(connection: Connection, on: bool) -> None:
    """Switch SQLite's foreign key enforcement on the raw connection (outside a transaction)."""
    cursor = connection.connection.cursor()
    cursor.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    cursor.close()


def _check_foreign_keys(connection: Connection) -> None:
    """Refuse a migration that left rows pointing at nothing (rolled back by the caller)."""
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        tables = ", ".join(sorted({str(row[0]) for row in broken}))
        raise RuntimeError(f"the migration left broken references in: {tables}")
