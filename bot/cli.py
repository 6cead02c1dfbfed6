"""The `auditbot` command: run the bot, preview surveys, manage the database and catalog."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from bot.config import LOCALES, ConfigError, Settings, load_settings
from bot.i18n import MissingCatalog
from bot.services import Services, start_services, survey_folders
from conversations.survey import SurveyError, load_survey_file, survey_files
from storage.catalog import (
    CatalogError,
    catalog_to_csv,
    catalog_to_yaml,
    export_catalog,
    load_catalog,
    read_catalog,
)
from storage.db import Database

app = typer.Typer(
    help="Open Cities audit bot (Miasta Otwarte).", no_args_is_help=True, add_completion=False
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
survey_app = typer.Typer(help="Survey files.", no_args_is_help=True)
catalog_app = typer.Typer(help="The catalog of cities and practices.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(survey_app, name="survey")
app.add_typer(catalog_app, name="catalog")

T = TypeVar("T")
NO_TOKEN_HELP = """\
BOT_TOKEN is not set, so the Telegram bot cannot start.

To get a token: open Telegram, talk to @BotFather, send /newbot and follow the steps.
Then put the token in .env (see .env.example):   BOT_TOKEN=123456789:AAE...

Meanwhile, here is the console preview of the survey (same engine, same database).
"""


class Language(StrEnum):
    """A language the bot speaks."""

    uk = "uk"
    ru = "ru"
    en = "en"
    pl = "pl"


class CatalogFormat(StrEnum):
    """Catalog file formats."""

    yaml = "yaml"
    csv = "csv"


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None


def _run(work: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine, turning configuration problems into a clear message and exit code 2."""
    try:
        return asyncio.run(work())  # type: ignore[arg-type]
    except (ConfigError, MissingCatalog, CatalogError, SurveyError) as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None


async def _with_services(settings: Settings, work: Callable[[Services], Awaitable[T]]) -> T:
    services = await start_services(settings)
    try:
        return await work(services)
    finally:
        await services.close()


def _logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)


@app.command()
def run(verbose: Annotated[bool, typer.Option(help="Debug logging.")] = False) -> None:
    """Start the Telegram bot (long polling); without BOT_TOKEN, open the console preview."""
    settings = _settings()
    if settings.bot_token is None:
        typer.echo(NO_TOKEN_HELP)
        _run(lambda: _chat(settings, None, None, "local"))
        return
    _logging(verbose)
    from bot.telegram.app import run_polling

    _run(lambda: run_polling(settings))


@app.command()
def chat(
    lang: Annotated[Language | None, typer.Option(help="Language: uk, ru, en or pl.")] = None,
    city: Annotated[str | None, typer.Option(help="Start in this city (catalog id).")] = None,
    practice: Annotated[str | None, typer.Option(help="Start with this practice (id).")] = None,
    user: Annotated[str, typer.Option(help="Name of the preview respondent.")] = "local",
) -> None:
    """Preview the survey in the terminal, writing to the same database as the bot."""
    payload = f"p_{practice}" if practice else f"c_{city}" if city else None
    _run(lambda: _chat(_settings(), lang.value if lang else None, payload, user))


async def _chat(settings: Settings, locale: str | None, payload: str | None, user: str) -> None:
    from bot.console import run_console

    await _with_services(
        settings, lambda s: run_console(s, locale=locale, payload=payload, user=user)
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all database migrations."""
    settings = _settings()

    async def upgrade() -> None:
        db = Database(settings.database_url)
        try:
            await db.upgrade()
        finally:
            await db.dispose()

    _run(upgrade)
    typer.echo("database is at the latest schema")


@survey_app.command("check")
def survey_check(
    files: Annotated[list[Path] | None, typer.Argument(help="Survey files (default: all).")] = None,
) -> None:
    """Validate survey files and report every problem with its file and line."""
    paths = files or [p for folder in survey_folders(_settings()) for p in survey_files(folder)]
    failed = False
    for path in paths:
        if not path.exists():
            typer.echo(f"{path}: no such file", err=True)
            failed = True
            continue
        try:
            survey, _data = load_survey_file(path)
        except SurveyError as error:
            failed = True
            for problem in error.problems:
                typer.echo(problem, err=True)
        else:
            typer.echo(f"{path}: ok ({len(survey.questions)} questions)")
    if failed:
        raise typer.Exit(1)


@catalog_app.command("load")
def catalog_load(
    file: Annotated[Path, typer.Argument(help="Catalog file (.yaml or .csv).")],
) -> None:
    """Add or update cities and practices from a file (safe to run again)."""
    settings = _settings()

    async def load(services: Services) -> list[str]:
        async with services.db.unit_of_work() as uow:
            return await load_catalog(uow, read_catalog(file))

    changes = _run(lambda: _with_services(settings, load))
    for line in changes:
        typer.echo(line)
    typer.echo(f"{len(changes)} change(s)" if changes else "catalog already up to date")


@catalog_app.command("export")
def catalog_export(
    format: Annotated[CatalogFormat, typer.Option(help="yaml or csv.")] = CatalogFormat.yaml,
    out: Annotated[Path | None, typer.Option(help="File to write (default: stdout).")] = None,
) -> None:
    """Write the stored catalog as YAML or CSV."""
    settings = _settings()

    async def export(services: Services) -> str:
        async with services.db.unit_of_work() as uow:
            data = await export_catalog(uow)
        return catalog_to_csv(data) if format is CatalogFormat.csv else catalog_to_yaml(data)

    text = _run(lambda: _with_services(settings, export))
    if out:
        out.write_text(text, encoding="utf-8-sig" if format is CatalogFormat.csv else "utf-8")
        typer.echo(f"wrote {out}")
    else:
        sys.stdout.write(text)


__all__ = ["LOCALES", "app"]
