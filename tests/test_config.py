"""Configuration: sensible defaults; a wrong value fails with a message naming the setting."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from app.config import DEFAULT_DATABASE_URL, ConfigError, load_settings


def test_defaults_need_no_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "TIMEZONE", "MIN_GROUP_SIZE", "TELEGRAM_API_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(_env_file=None)
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.timezone == "Europe/Warsaw" and settings.min_group_size == 5
    assert settings.telegram_api_url.startswith("https://")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("database_url", "mysql://localhost/db"),
        ("bot_token", "not-a-token"),
        ("telegram_api_url", "ftp://example"),
        ("admin_ids", "12, abc"),
        ("pseudonym_secret", "short"),
        ("default_locale", "de"),
        ("timezone", "Mars/Olympus"),
        ("min_group_size", "1"),
    ],
)
def test_a_wrong_value_names_the_setting(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, **{name: value})
    assert name.upper() in str(caught.value)


def test_postgres_urls_get_the_async_driver_and_admins_parse() -> None:
    settings = load_settings(_env_file=None, database_url="postgresql://u@h/db", admin_ids="1, 2,3")
    assert settings.database_url == "postgresql+asyncpg://u@h/db"
    assert settings.admin_ids == (1, 2, 3)


def test_the_command_reports_bad_config_without_a_traceback() -> None:
    env = {**os.environ, "MIN_GROUP_SIZE": "zero"}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "MIN_GROUP_SIZE" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://bot.example.org/telegram/webhook", "https://"),
        ("https://bot.example.org:8080/telegram/webhook", "8080"),
        ("https://bot.example.org:99999/hook", "WEBHOOK_URL"),
        ("https:///telegram/webhook", "https://"),
    ],
)
def test_the_webhook_url_must_be_one_telegram_calls(url: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, webhook_url=url)
    assert str(caught.value).startswith("WEBHOOK_URL: ") and problem in str(caught.value)


@pytest.mark.parametrize("port", ["", ":443", ":80", ":88", ":8443"])
def test_the_webhook_ports_telegram_calls_are_accepted(port: str) -> None:
    url = f"https://bot.example.org{port}/telegram/webhook"
    assert load_settings(_env_file=None, webhook_url=url).webhook_url == url


@pytest.mark.parametrize(
    ("given", "used"),
    [
        (
            "postgres://u:pw@db.example:5432/audit",
            "postgresql+asyncpg://u:pw@db.example:5432/audit",
        ),
        ("postgresql://u@h/db?sslmode=require", "postgresql+asyncpg://u@h/db?ssl=require"),
        ("postgresql+asyncpg://u@h/db?ssl=require", "postgresql+asyncpg://u@h/db?ssl=require"),
    ],
)
def test_provider_postgresql_urls_are_normalised_for_asyncpg(given: str, used: str) -> None:
    assert load_settings(_env_file=None, database_url=given).database_url == used


def test_a_postgresql_option_asyncpg_does_not_know_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, database_url="postgresql://u@h/db?sslmod=require")
    assert str(caught.value) == "DATABASE_URL: unknown PostgreSQL option(s): sslmod"


BAD_VALUES = {
    "database_url": "mysql://localhost/db",
    "bot_token": "not-a-token",
    "telegram_api_url": "ftp://example",
    "admin_ids": "12, abc",
    "pseudonym_secret": "short",
    "default_locale": "de",
    "report_locale": "xx",
    "timezone": "Mars/Olympus",
    "min_group_size": "1",
    "retention_unfinished_days": "0",
    "retention_comments_days": "-1",
    "retention_updates_days": "0",
    "retention_outbox_days": "soon",
    "retention_reports_days": "3",
    "retention_audit_log_days": "7",
    "annual_report_date": "13-40",
    "surveys_dir": "/no/such/folder",
    "webhook_url": "http://example.org/hook",
    "webhook_secret": "short",
    "public_url": "example.org",
    "metrics_port": "70000",
}


@pytest.mark.parametrize(("name", "value"), sorted(BAD_VALUES.items()))
def test_every_bad_setting_is_one_line_naming_it(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, **{name: value})
    [line] = str(caught.value).splitlines()
    assert line.startswith(f"{name.upper()}: ")
    if name in ("bot_token", "pseudonym_secret", "webhook_secret"):
        assert value not in line  # a secret, even a wrong one, is never printed


def test_several_bad_settings_are_one_line_each() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, **BAD_VALUES)
    lines = str(caught.value).splitlines()
    assert sorted(line.split(":")[0] for line in lines) == sorted(n.upper() for n in BAD_VALUES)


async def test_a_postgres_url_as_providers_give_it_really_connects() -> None:
    if not os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("needs TEST_DATABASE_URL (PostgreSQL)")
    from bot.startup import start_services
    from tests.conftest import SECRET, postgresql_url, reset_postgresql

    await reset_postgresql(postgresql_url())
    given = "postgres://" + os.environ["TEST_DATABASE_URL"].split("://", 1)[1] + "?sslmode=disable"
    services = await start_services(
        load_settings(_env_file=None, database_url=given, pseudonym_secret=SECRET)
    )
    try:
        async with services.db.unit_of_work() as uow:
            assert await uow.catalog.cities()
    finally:
        await services.close()
