"""The statements every answer runs, compiled once and run on SQLite's own cursor.

Executing even a cached statement costs SQLAlchemy ~100 µs of Python (cache key, execution
context, result object). On SQLite the answer pipeline runs on one writer thread, and that time
holds the GIL the event loop needs: with ~6 statements an answer it was most of the writer's
work. So `fetch` and `change` compile a statement once per set of parameter names with
SQLAlchemy (the same SQL and the same type processing: datetimes, JSON, booleans) and then
hand it to the DBAPI cursor directly. Errors are wrapped as SQLAlchemy's, so that a lost unique
key is still a Conflict and a locked file still an outage. On PostgreSQL both are the
connection's own execute: there every statement is a round trip to the server anyway.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Connection, exc
from sqlalchemy.sql import Executable


@dataclass(frozen=True)
class _Compiled:
    """A statement as SQLite's cursor takes it, and how its rows come back."""

    statement: Executable  # kept: the cache is keyed by its id
    sql: str
    names: tuple[str, ...]  # the parameters, in the order of the SQL's question marks
    binds: tuple[Callable[[Any], Any] | None, ...]
    results: tuple[Callable[[Any], Any] | None, ...]
    row: Any  # a named tuple with the result columns' names


_COMPILED: dict[tuple[int, frozenset[str]], _Compiled] = {}


def fetch(connection: Connection, statement: Executable, params: Mapping[str, Any]) -> list[Any]:
    """The rows of a query, each with the columns' names as attributes."""
    if connection.dialect.name != "sqlite":
        return list(connection.execute(statement, dict(params)).all())
    compiled = _compiled(connection, statement, params)
    cursor = _run(connection, compiled, params)
    results = compiled.results
    return [
        compiled.row._make(
            [
                value if process is None or value is None else process(value)
                for process, value in zip(results, raw, strict=True)
            ]
        )
        for raw in cursor.fetchall()
    ]


def change(connection: Connection, statement: Executable, params: Mapping[str, Any]) -> int:
    """Run a statement that writes; how many rows it changed."""
    if connection.dialect.name != "sqlite":
        return int(connection.execute(statement, dict(params)).rowcount)
    return int(_run(connection, _compiled(connection, statement, params), params).rowcount)


@contextmanager
def savepoint(connection: Connection) -> Iterator[None]:
    """A savepoint around one event: rolled back alone when the event raises. On SQLite it is
    issued on the cursor like the statements (SQLAlchemy's begin_nested costs as much as the
    event's own statements); PostgreSQL: begin_nested."""
    if connection.dialect.name != "sqlite":
        with connection.begin_nested():
            yield
        return
    raw = connection.connection.dbapi_connection
    assert raw is not None
    raw.execute("SAVEPOINT event")
    try:
        yield
    except BaseException:
        raw.execute("ROLLBACK TO SAVEPOINT event")
        raw.execute("RELEASE SAVEPOINT event")
        raise
    raw.execute("RELEASE SAVEPOINT event")


def _run(connection: Connection, compiled: _Compiled, params: Mapping[str, Any]) -> Any:
    arguments = [
        params[name] if process is None else process(params[name])
        for name, process in zip(compiled.names, compiled.binds, strict=True)
    ]
    dbapi = connection.dialect.loaded_dbapi
    try:
        return connection.connection.dbapi_connection.execute(  # type: ignore[union-attr]
            compiled.sql, arguments
        )
    except dbapi.Error as error:
        raise exc.DBAPIError.instance(
            compiled.sql, None, error, dbapi.Error, hide_parameters=True, dialect=connection.dialect
        ) from error


def _compiled(
    connection: Connection, statement: Executable, params: Mapping[str, Any]
) -> _Compiled:
    key = (id(statement), frozenset(params))
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
        tuple(processors.get(name) for name in names),
        tuple(_result_processor(dialect, column[3]) for column in columns),
        namedtuple("Row", [column[0] for column in columns], rename=True),
    )


def _result_processor(dialect: Any, type_: Any) -> Callable[[Any], Any] | None:
    """SQLAlchemy's; for JSON, 'null' (what an empty JSON column holds) is None at once."""
    process = type_._cached_result_processor(dialect, None)
    if process is None or not isinstance(type_, JSON):
        return process
    return lambda value: None if value == "null" else process(value)
