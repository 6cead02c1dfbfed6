"""Settings, read once from the environment and .env; a wrong value fails with its name."""

from __future__ import annotations

import inspect
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Self
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from platformdirs import user_data_path
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from conversations.events import whole_number

LOCALES = ("uk", "ru", "en", "pl")
# One database per user, wherever a command runs: a relative default would make a command run
# from another folder silently start an empty database there.
DEFAULT_DATABASE_FILE = user_data_path("auditbot") / "auditbot.sqlite3"
DEFAULT_DATABASE_URL = f"sqlite+aiosqlite:///{DEFAULT_DATABASE_FILE}"
# Where the default database lived before it moved to the user's data folder.
LEGACY_DATABASE_FILE = Path("data") / "auditbot.sqlite3"
WEBHOOK_PORTS = (443, 80, 88, 8443)  # the only ports Telegram delivers webhooks to
_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]{6,}$")


class ConfigError(Exception):
    """A setting has a value the bot cannot work with."""


class Settings(BaseSettings):
    """Everything the bot reads from its environment."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    bot_token: str | None = None
    bot_username: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    admin_ids: Annotated[tuple[int, ...], NoDecode] = ()
    pseudonym_secret: str | None = Field(default=None, repr=False)
    default_locale: str = "en"
    timezone: str = "Europe/Warsaw"
    min_group_size: int = Field(default=5, ge=2, le=1000)
    retention_unfinished_days: int = Field(default=90, ge=1, le=3650)
    retention_comments_days: int = Field(default=730, ge=0, le=36500)
    retention_updates_days: int = Field(default=7, ge=1, le=3650)
    retention_outbox_days: int = Field(default=30, ge=1, le=3650)
    retention_reports_days: int = Field(default=400, ge=7, le=36500)
    retention_audit_log_days: int = Field(default=730, ge=30, le=36500)
    report_locale: str = "pl"
    annual_report_date: Annotated[tuple[int, int], NoDecode] = (1, 15)
    surveys_dir: Path | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = Field(default=None, repr=False)
    public_url: str | None = None
    open_data_license: str = "CC-BY-4.0"
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=1, le=65535)

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        """SQLite or PostgreSQL. The postgres:// and postgresql:// URLs hosting providers hand
        out get the asyncpg driver, and their libpq `sslmode` becomes asyncpg's `ssl`. Empty
        means the default."""
        if not value:
            return DEFAULT_DATABASE_URL
        if value.startswith(("postgresql://", "postgres://")):
            value = "postgresql+asyncpg://" + value.split("://", 1)[1]
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "use sqlite+aiosqlite:////absolute/path.sqlite3 or postgresql://user@host/db"
            )
        value = re.sub(r"([?&])sslmode=", r"\1ssl=", value)
        if value.startswith("postgresql+asyncpg://"):
            unknown = sorted(set(parse_qs(urlsplit(value).query)) - _asyncpg_options())
            if unknown:
                raise ValueError(f"unknown PostgreSQL option(s): {', '.join(unknown)}")
        return value

    @model_validator(mode="after")
    def _no_stray_legacy_database(self) -> Self:
        """Before the default moved to the user's data folder it was ./data/auditbot.sqlite3;
        refuse to start an empty database next to such a file instead of quietly ignoring it."""
        if self.database_url == DEFAULT_DATABASE_URL and LEGACY_DATABASE_FILE.is_file():
            raise ValueError(
                f"DATABASE_URL: not set, and {LEGACY_DATABASE_FILE} exists here; to keep using "
                f"it set DATABASE_URL=sqlite+aiosqlite:///{LEGACY_DATABASE_FILE.resolve()} "
                f"(the default is now {DEFAULT_DATABASE_FILE})"
            )
        return self

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: str | None) -> str | None:
        """A token looks like 123456:ABC-def…; an empty value means no token."""
        if not value:
            return None
        if not _TOKEN.match(value):
            raise ValueError("expected the form 123456789:AAE… given by @BotFather")
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        """The Bot API root must be an http(s) URL."""
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("public_url")
    @classmethod
    def _optional_http_url(cls, value: str | None) -> str | None:
        """The dashboard's address: an http(s) URL (https in production); empty means unset."""
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an address such as https://audit.example.org")
        return value.rstrip("/")

    @field_validator("webhook_url")
    @classmethod
    def _telegram_webhook_url(cls, value: str | None) -> str | None:
        """Telegram delivers webhooks only to https:// addresses on ports 443, 80, 88 or 8443."""
        if not value:
            return None
        try:
            parts = urlsplit(value)
            port = parts.port or 443
        except ValueError:
            raise ValueError(
                "expected an address such as https://bot.example.org/telegram/webhook"
            ) from None
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(
                "Telegram only calls https:// addresses, e.g. https://bot.example.org/telegram/webhook"
            )
        if port not in WEBHOOK_PORTS:
            raise ValueError(f"Telegram only calls ports 443, 80, 88 and 8443, not {port}")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _telegram_secret(cls, value: str | None) -> str | None:
        """Telegram accepts 1–256 characters of A–Z a–z 0–9 _ - as the webhook secret."""
        if not value:
            return None
        if not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", value):
            raise ValueError("use 16–256 characters of A–Z, a–z, 0–9, _ and -")
        return value

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _optional_port(cls, value: object) -> object:
        """METRICS_PORT= (empty) means no metrics."""
        return None if value == "" else value

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        """ADMIN_IDS=1,2,3 in the environment."""
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            ids = [whole_number(p, signed=True) for p in parts]
            if None in ids:
                raise ValueError("expected Telegram user ids separated by commas, e.g. 12345,67890")
            return tuple(ids)
        return value

    @field_validator("pseudonym_secret")
    @classmethod
    def _strong_secret(cls, value: str | None) -> str | None:
        """A secret shorter than 32 characters is too easy to guess; empty means generate one."""
        if value and len(value) < 32:
            raise ValueError("must be at least 32 characters (or unset to generate one)")
        return value or None

    @field_validator("surveys_dir", mode="before")
    @classmethod
    def _existing_folder(cls, value: object) -> object:
        """An empty value means none; a given folder must exist."""
        if value in (None, ""):
            return None
        if not Path(str(value)).is_dir():
            raise ValueError(f"no such folder: {value}")
        return value

    @field_validator("annual_report_date", mode="before")
    @classmethod
    def _month_day(cls, value: object) -> object:
        """ANNUAL_REPORT_DATE=01-15 (month-day)."""
        if isinstance(value, str):
            month, _sep, day = value.strip().partition("-")
            try:
                date(2024, int(month), int(day))  # a leap year accepts 02-29
            except ValueError:
                raise ValueError("expected a month and day such as 01-15") from None
            return (int(month), int(day))
        return value

    @field_validator("default_locale", "report_locale")
    @classmethod
    def _supported_locale(cls, value: str) -> str:
        """Only the four languages the catalogs cover."""
        if value not in LOCALES:
            raise ValueError(f"must be one of {', '.join(LOCALES)}")
        return value

    @field_validator("open_data_license")
    @classmethod
    def _known_license(cls, value: str) -> str:
        """The open data's licence, as an SPDX id the data package can name and link."""
        from audit.opendata import DEFAULT_LICENSE, LICENSES

        if not value:
            return DEFAULT_LICENSE
        if value not in LICENSES:
            raise ValueError(f"must be one of {', '.join(LICENSES)}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        """An IANA time zone such as Europe/Warsaw."""
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone; use an IANA name such as Europe/Warsaw") from None
        return value

    @property
    def dashboard_url(self) -> str | None:
        """Where coordinators open the dashboard: PUBLIC_URL, or the webhook's origin."""
        if self.public_url:
            return self.public_url
        if self.webhook_url:
            scheme, _sep, rest = self.webhook_url.partition("://")
            return f"{scheme}://{rest.split('/', 1)[0]}"
        return None

    @property
    def tz(self) -> ZoneInfo:
        """The configured time zone."""
        return ZoneInfo(self.timezone)


def _asyncpg_options() -> set[str]:
    """What a PostgreSQL URL may carry after `?`: asyncpg's connect() arguments and the
    dialect's own."""
    import asyncpg

    return set(inspect.signature(asyncpg.connect).parameters) | {
        "prepared_statement_cache_size",
        "prepared_statement_name_func",
    }


def load_settings(**overrides: object) -> Settings:
    """Read the settings; each wrong one becomes a line of the error: its name, what is wrong."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            message = str(problem["msg"]).removeprefix("Value error, ")
            if problem["loc"]:
                message = f"{str(problem['loc'][0]).upper()}: {message}"
            lines.append(message)
        raise ConfigError("\n".join(lines)) from None
