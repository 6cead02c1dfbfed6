"""Shared fixtures: a real database (SQLite, and PostgreSQL when TEST_DATABASE_URL is set)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from app.config import Settings, load_settings
from app.services import Services
from bot.startup import start_services

DATA = Path(__file__).parent / "data"
SECRET = "test-secret-that-is-long-enough-0123456789"
BACKENDS = ["sqlite", *(["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])]


async def reset_postgresql(url: str) -> None:
    """Drop every table so each test starts from an empty database."""
    parsed = make_url(url)
    connection = await asyncpg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        database=parsed.database or "test",
    )
    try:
        await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await connection.close()


def postgresql_url() -> str:
    """TEST_DATABASE_URL with the asyncpg driver."""
    url = os.environ["TEST_DATABASE_URL"]
    return "postgresql+asyncpg://" + url.split("://", 1)[1]


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each configured kind."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'audit.sqlite3'}"
    url = postgresql_url()
    await reset_postgresql(url)
    return url


def make_settings(database_url: str, **overrides: object) -> Settings:
    """Settings for tests, independent of the developer's .env and environment."""
    values: dict[str, object] = {
        "database_url": database_url,
        "bot_token": "",
        "pseudonym_secret": SECRET,
        "_env_file": None,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Test settings on the parametrised database."""
    return make_settings(database_url)


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    """Started services: migrated database, catalog and default survey loaded."""
    started = await start_services(settings)
    try:
        yield started
    finally:
        await started.close()


@pytest.fixture
async def bot(database_url: str) -> AsyncIterator[Any]:
    """The real PTB Application polling a fake Bot API server, on the parametrised database."""
    from tests.telegram_harness import running_bot

    async with running_bot(database_url) as running:
        yield running
