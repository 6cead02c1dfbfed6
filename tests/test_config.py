"""Configuration: sensible defaults; a wrong value fails with a message naming the setting."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.config import DEFAULT_DATABASE_URL, ConfigError, load_settings


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
