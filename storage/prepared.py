"""The statements every answer runs, compiled once and run on SQLite's own cursor.

Executing even a cached statement costs SQLAlchemy ~100 µs of Python (cache key, execution
context, result object). On SQLite the answer pipeline runs on one writer thread, and that time
holds the GIL the event loop needs: with ~6 statements an answer it was most of the writer's
work. So `fetch` and `change` compile a statement once per set of parameter names with
SQLAlchemy (the same SQL and the same type processing: datetimes, JSON, booleans) and then
hand it to the DBAPI cursor directly. Errors are wrapped as SQLAlchemy's, so that a unique key
taken or a deadlock is still a lost race and a locked file or a lost server still an outage.
On PostgreSQL the same saves most of the Python each statement costs besides its round trip
(the cursor is SQLAlchemy's asyncpg adapter, reached through run_sync).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Connection, DateTime, exc
from sqlalchemy.sql import Executable


@dataclass(frozen=True)
class _Compiled:
    """A statement as SQLite's cursor takes it, and how its rows come back."""

    statement: Executable  # kept: the cache is keyed by its id
    sql: str
    names: tuple[str, ...]  # the parameters, in the order of the SQL's question marks
    binds: tuple[Callable[[Any], Any] | None, ...]
    converters: tuple[tuple[int, Callable[[Any], Any]], ...]  # result columns that need one
    row: Any  # a named tuple with the result columns' names


_COMPILED: dict[tuple[str, int, tuple[str, ...]], _Compiled] = {}


def fetch(connection: Connection, statement: Executable, params: Mapping[str, Any]) -> list[Any]:
    """The rows of a query, each with the columns' names as attributes."""
    compiled = _compiled(connection, statement, params)
    rows = _run(connection, compiled, params).fetchall()
    make, converters = compiled.row._make, compiled.converters
    if not converters:
        return [make(raw) for raw in rows]
    result = []
    for raw in rows:
        for index, process in converters:
            if raw[index] is not None:  # a row is copied only when it has a value to convert
                raw = (*raw[:index], process(raw[index]), *raw[index + 1 :])
        result.append(make(raw))
    return result


def change(connection: Connection, statement: Executable, params: Mapping[str, Any]) -> int:
    """Run a statement that writes; how many rows it changed."""
    return int(_run(connection, _compiled(connection, statement, params), params).rowcount)


def _cursor(connection: Connection) -> Any:
    """A DBAPI cursor of the connection, inside its transaction."""
    raw = connection.connection.dbapi_connection
    assert raw is not None
    return raw.cursor()


def _run(connection: Connection, compiled: _Compiled, params: Mapping[str, Any]) -> Any:
    arguments = [
        params[name] if process is None else process(params[name])
        for name, process in zip(compiled.names, compiled.binds, strict=True)
    ]
    dialect = connection.dialect
    cursor = _cursor(connection)
    try:
        cursor.execute(compiled.sql, arguments)
    except dialect.loaded_dbapi.Error as error:
        lost = dialect.is_disconnect(error, connection.connection.dbapi_connection, cursor)
        if lost:
            connection.invalidate(error)  # the pool opens a new one: as SQLAlchemy would
        raise exc.DBAPIError.instance(
            compiled.sql,
            None,
            error,
            dialect.loaded_dbapi.Error,
            hide_parameters=True,
            connection_invalidated=lost,
            dialect=dialect,
        ) from error
    return cursor


def _compiled(
    connection: Connection, statement: Executable, params: Mapping[str, Any]
) -> _Compiled:
    key = (connection.dialect.name, id(statement), tuple(params))  # another order: another entry
    if (found := _COMPILED.get(key)) is None:
        found = _COMPILED[key] = _compile(connection, statement, params)
    return found


def _compile(connection: Connection, statement: Executable, params: Mapping[str, Any]) -> _Compiled:
    dialect = connection.dialect
    compiled = statement.compile(dialect=dialect, column_keys=list(params))  # type: ignore[attr-defined]
    processors = compiled._bind_processors
    names = tuple(compiled.positiontup or ())
    columns = compiled._result_columns
    return _Compiled(
        statement,
        compiled.string,
        names,
        tuple(_bind_processor(compiled, processors, name) for name in names),
        tuple(
            (index, process)
            for index, column in enumerate(columns)
            if (process := _result_processor(dialect, column[3])) is not None
        ),
        namedtuple("Row", [column[0] for column in columns], rename=True),
    )


def _bind_processor(compiled: Any, processors: Mapping[str, Any], name: str) -> Any:
    """SQLAlchemy's; for a timestamp, one that turns the same moment into text only once (the
    rows of a batch share one: storage/answers.py `batch`)."""
    process = processors.get(name)
    if process is None or compiled.binds[name].type._type_affinity is not DateTime:
        return process
    return _LastMoment(process)


class _LastMoment:
    """A bind processor remembering its last moment (a datetime: immutable, so the same object
    always gives the same text). Shared by threads: the pair is replaced whole."""

    __slots__ = ("last", "process")

    def __init__(self, process: Callable[[Any], Any]) -> None:
        self.process = process
        self.last: tuple[Any, Any] = (None, None)

    def __call__(self, value: Any) -> Any:
        last = self.last
        if value is last[0] and value is not None:
            return last[1]
        processed = self.process(value)
        self.last = (value, processed)
        return processed


def _result_processor(dialect: Any, type_: Any) -> Callable[[Any], Any] | None:
    """SQLAlchemy's; for JSON, 'null' (what an empty JSON column holds) is None at once."""
    process = type_._cached_result_processor(dialect, None)
    if process is None or not isinstance(type_, JSON):
        return process
    return lambda value: None if value == "null" else process(value)
