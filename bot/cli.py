"""The `auditbot` command: run the bot, preview surveys, manage the database and catalog."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, timedelta, tzinfo
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import uvloop
from rich.progress import BarColumn, SpinnerColumn, TextColumn
from rich.progress import Progress as ProgressBar

from app import analysis as analysis_cases
from app import editions as edition_cases
from app import evaluation as evaluation_cases
from app import jury as jury_cases
from app import nominations as nomination_cases
from app import staff
from app.config import LOCALES, ConfigError, Settings, load_settings
from app.editions import EditionError, Schedule, Weights
from app.i18n import MissingCatalog
from app.nominations import NominationError
from app.publishing import publish_round, publish_year
from app.reports import build, build_edition, build_open_data, moderate_comment
from app.rounds import RoundError, apply_retention, close_round, plan_round
from app.services import Services, survey_folders
from app.summaries import published_counts, published_report, round_period
from audit.summary import city_period, round_totals, year_period
from bot.startup import start_services
from bot.transport import without_token
from conversations.notices import last_moment
from conversations.round_setup import parse_date
from conversations.submissions import SubmissionError
from conversations.survey import (
    LANGUAGES,
    SurveyError,
    load_survey_file,
    load_survey_text,
    survey_files,
)
from conversations.xlsform import (
    INTERVIEW_WORDS,
    InterviewChoices,
    export_form,
    import_form,
    workbook_bytes,
)
from storage.catalog import (
    CatalogError,
    catalog_to_csv,
    catalog_to_yaml,
    export_catalog,
    load_catalog,
    read_catalog,
)
from storage.db import Database, DatabaseUnavailable, describe_outage, is_outage
from storage.models import CHANNELS, Edition, Nomination, utcnow
from storage.uow import UnitOfWork

app = typer.Typer(
    help="Open Cities audit bot (Miasta Otwarte).", no_args_is_help=True, add_completion=False
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
survey_app = typer.Typer(help="Survey files.", no_args_is_help=True)
catalog_app = typer.Typer(help="The catalog of cities and practices.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(survey_app, name="survey")
app.add_typer(catalog_app, name="catalog")
staff_app = typer.Typer(help="Roles: admin, staff, coordinator.", no_args_is_help=True)
round_app = typer.Typer(help="Survey rounds.", no_args_is_help=True)
app.add_typer(staff_app, name="staff")
app.add_typer(round_app, name="round")
responses_app = typer.Typer(help="Responses collected outside the bot.", no_args_is_help=True)
app.add_typer(responses_app, name="responses")
edition_app = typer.Typer(
    help="Editions of the annual evaluation: nominations, analysis and jury phases, weights."
    "\n\nExample: auditbot edition open --year 2027 --nominations-from 2027-01-10 "
    "--analysis-from 2027-03-01 --jury-from 2027-04-01 --jury-until 2027-04-30 "
    "--jury-weight 60 --residents-weight 40",
    no_args_is_help=True,
)
app.add_typer(edition_app, name="edition")
nominations_app = typer.Typer(
    help="Practices proposed for an edition: list, accept, reject, merge.\n\n"
    "Example: auditbot nominations list --year 2027 --status pending",
    no_args_is_help=True,
)
app.add_typer(nominations_app, name="nominations")
jury_app = typer.Typer(
    help="The jury of an edition: up to five jurors (Juror A–E) and their progress.\n\n"
    "Example: auditbot jury add 123456789 --edition 2027",
    no_args_is_help=True,
)
app.add_typer(jury_app, name="jury")
analysis_app = typer.Typer(
    help="Stage one of an edition: the analysis of each nominated practice per criterion, and a "
    "recommendation, with the residents' survey figures beside it.\n\n"
    "Example: auditbot analysis record --edition 2027 --practice krakow-nominated-1 "
    "--criterion engagement --notes 'The city funds it.' --evidence https://example.org/budget",
    no_args_is_help=True,
)
app.add_typer(analysis_app, name="analysis")
reanalysis_app = typer.Typer(
    help="Re-analysis of the practices distinguished in earlier editions: still carried out, "
    "changed or discontinued.\n\n"
    "Example: auditbot reanalysis record --edition 2028 --practice krakow-otwarty-krakow "
    "--verdict continued --evidence https://example.org/report-2028",
    no_args_is_help=True,
)
app.add_typer(reanalysis_app, name="reanalysis")
practice_app = typer.Typer(
    help="One practice across editions.\n\nExample: auditbot practice history krakow-otwarty-krakow",
    no_args_is_help=True,
)
app.add_typer(practice_app, name="practice")

T = TypeVar("T")
CLI_ACTOR = "cli"
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
    """Run a coroutine, turning what the operator must fix (configuration, an unreachable
    database, a token Telegram rejects, a wrong argument) into a plain message and exit code 2."""
    try:
        # uvloop: the event loop is a tenth of the bot's CPU under load, and uvloop's is faster.
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(work())  # type: ignore[arg-type]
    except (
        ConfigError,
        MissingCatalog,
        CatalogError,
        SurveyError,
        SubmissionError,
        EditionError,
        NominationError,
        ValueError,
    ) as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    except DatabaseUnavailable as error:
        typer.echo(f"DATABASE_URL: {error}", err=True)
        raise typer.Exit(2) from None
    except Exception as error:
        if is_outage(error):
            typer.echo(describe_outage(error), err=True)
            raise typer.Exit(1) from None
        message = _telegram_problem(error)
        if message is None:
            raise
        typer.echo(message, err=True)
        raise typer.Exit(2) from None


def _telegram_problem(error: Exception) -> str | None:
    """What to tell the operator when the Bot API refuses us at start, never the token itself
    (PTB's own InvalidToken message quotes it)."""
    from telegram.error import BadRequest, InvalidToken, NetworkError

    if isinstance(error, InvalidToken):
        return "BOT_TOKEN: Telegram rejected this token; copy it again from @BotFather"
    if isinstance(error, BadRequest):
        return f"Telegram refused a call at start: {error.message}"
    if isinstance(error, NetworkError):
        return f"TELEGRAM_API_URL: cannot reach the Bot API ({type(error).__name__})"
    return None


async def _with_services(settings: Settings, work: Callable[[Services], Awaitable[T]]) -> T:
    services = await start_services(settings)
    try:
        return await work(services)
    finally:
        await services.close()


class RedactingFormatter(logging.Formatter):
    """Log lines never show the bot token: PTB's debug lines and aiohttp's errors quote the
    Bot API URL, which contains it."""

    def __init__(self, fmt: str, token: str | None) -> None:
        super().__init__(fmt)
        self.token = token

    def format(self, record: logging.LogRecord) -> str:
        """The formatted line (traceback included) with the token masked."""
        text = without_token(super().format(record))
        return text.replace(self.token, "<token>") if self.token else text


def _logging(settings: Settings, verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO)
    formatter = RedactingFormatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s", settings.bot_token
    )
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)
    logging.getLogger("httpx").setLevel(logging.WARNING)


@app.command()
def run(verbose: Annotated[bool, typer.Option(help="Debug logging.")] = False) -> None:
    """Start the Telegram bot (long polling); without BOT_TOKEN, open the console preview."""
    settings = _settings()
    if settings.bot_token is None:
        typer.echo(NO_TOKEN_HELP)
        _run(lambda: _chat(settings, None, None, "local"))
        return
    _logging(settings, verbose)
    from bot.telegram.app import run_polling

    _run(lambda: run_polling(settings))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "0.0.0.0",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    workers: Annotated[int, typer.Option(help="Worker processes (PostgreSQL only for >1).")] = 1,
    scheduler: Annotated[
        bool,
        typer.Option(help="Also run the scheduler and sender (one leader among all processes)."),
    ] = True,
    worker_index: Annotated[int, typer.Option(hidden=True)] = 0,
    verbose: Annotated[bool, typer.Option(help="Debug logging.")] = False,
) -> None:
    """Serve the Telegram webhook, the coordinator dashboard, /healthz and /metrics."""
    settings = _settings()
    _logging(settings, verbose)
    if workers > 1:
        if settings.database_url.startswith("sqlite"):
            typer.echo(
                "--workers: several workers need PostgreSQL (DATABASE_URL); SQLite runs "
                "one process",
                err=True,
            )
            raise typer.Exit(2)
        raise typer.Exit(_run_workers(host, port, workers, scheduler, verbose))
    from bot.web.server import serve as serve_web

    _run(lambda: serve_web(settings, host, port, scheduler=scheduler, worker=worker_index))


def _run_workers(host: str, port: int, workers: int, scheduler: bool, verbose: bool) -> int:
    """Start N worker processes on one port, restart one that dies, stop them together."""
    from bot.supervisor import Supervisor

    command = [
        sys.executable,
        "-m",
        "bot",
        "serve",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
        "--scheduler" if scheduler else "--no-scheduler",
        *(["--verbose"] if verbose else []),
    ]
    return Supervisor(command, workers).run()


@app.command("scheduler")
def scheduler_command(
    verbose: Annotated[bool, typer.Option(help="Debug logging.")] = False,
) -> None:
    """Run the scheduler and the outbox sender as a process of their own."""
    settings = _settings()
    _logging(settings, verbose)
    from bot.web.server import run_scheduler

    _run(lambda: run_scheduler(settings))


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

    async def preview(services: Services) -> None:
        async with services.db.unit_of_work() as uow:
            await _known_start(uow, payload)
        await run_console(services, locale=locale, payload=payload, user=user)

    await _with_services(settings, preview)


async def _known_start(uow: UnitOfWork, payload: str | None) -> None:
    """--city and --practice name what the catalog has (the preview is no place for typos)."""
    kind, _sep, ident = (payload or "").partition("_")
    if kind == "c":
        await _known_cities(uow, [ident])
    elif kind == "p" and await uow.catalog.practice(ident) is None:
        raise ValueError(f"--practice: unknown practice {ident}")


async def _migrated(settings: Settings, work: Callable[[Database], Awaitable[None]]) -> None:
    """Migrate the database to head, then do some work on it (without starting services)."""
    db = Database(settings.database_url)
    try:
        async with db.exclusively():
            await db.upgrade()
        await work(db)
    finally:
        await db.dispose()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all database migrations."""

    async def nothing_more(_db: Database) -> None:
        return None

    _run(lambda: _migrated(_settings(), nothing_more))
    typer.echo("database is at the latest schema")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Revision to go back to, e.g. 0003, or base.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Undo migrations down to a revision (tables and columns added since are dropped)."""
    settings = _settings()
    known = _revisions()
    if revision not in (*known, "base"):
        typer.echo(
            f"unknown revision {revision!r}; use one of {', '.join(known)} or base", err=True
        )
        raise typer.Exit(2)
    if not yes:
        typer.confirm(
            f"Go back to revision {revision}? What later migrations added (tables, columns and "
            "their data) is dropped; take a backup first",
            abort=True,
        )

    async def downgrade() -> str:
        db = Database(settings.database_url)
        try:
            async with db.exclusively():
                await db.downgrade(revision)
                return await db.revision() or "base"
        finally:
            await db.dispose()

    typer.echo(f"database is at revision {_run(downgrade)}")


def _revisions() -> list[str]:
    """The known migration revisions, oldest first."""
    from alembic.script import ScriptDirectory

    from storage.db import alembic_config

    script = ScriptDirectory.from_config(alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


@db_app.command("recount")
def db_recount() -> None:
    """Rebuild the audit tallies from the raw answers (after a bulk import, or by hand)."""
    settings = _settings()

    async def recount(db: Database) -> None:
        async with db.unit_of_work() as uow:
            await uow.tallies.recount(settings.tz)

    _run(lambda: _migrated(settings, recount))
    typer.echo(f"audit tallies recounted in {settings.tz.key}")


@db_app.command("retention")
def db_retention() -> None:
    """Apply the retention settings now (the scheduler does it every 6 hours); print counts."""
    settings = _settings()

    async def prune(services: Services) -> str:
        done = await apply_retention(services)
        return "\n".join(
            f"{name.replace('_', ' ')}: {n}" for name, n in dataclasses.asdict(done).items()
        )

    typer.echo(_run(lambda: _with_services(settings, prune)))


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


class SurveyFormat(StrEnum):
    """Formats a survey can be exported to."""

    xlsform = "xlsform"


@survey_app.command("import")
def survey_import(
    form: Annotated[Path, typer.Argument(help="An XLSForm (.xlsx or .xls).")],
    out: Annotated[Path, typer.Option(help="The survey file to write (.yaml).")],
    key: Annotated[str | None, typer.Option(help="Survey key (default: form_id).")] = None,
) -> None:
    """Turn an XLSForm (KoBoToolbox, ODK) into a survey file; list what a chat cannot ask."""
    _output_file(out)
    if not form.is_file():
        typer.echo(f"{form}: no such file", err=True)
        raise typer.Exit(2)
    result = import_form(form.read_bytes(), suffix=form.suffix, key=key)
    for problem in result.problems:
        typer.echo(f"{form}: {problem}", err=True)
    if result.definition is None:
        errors = sum(1 for p in result.problems if p.fatal)
        typer.echo(f"{form}: nothing written; fix the {errors} error(s) above", err=True)
        raise typer.Exit(1)
    text = result.yaml()
    survey, _data = load_survey_text(text, out)
    out.write_text(text, encoding="utf-8")
    left_out = sum(1 for p in result.problems if p.level == "left out")
    typer.echo(
        f"wrote {out} ({len(survey.questions)} questions"
        + (f"; {left_out} item(s) left out, see above" if left_out else "")
        + ")"
    )


@survey_app.command("export")
def survey_export(
    source: Annotated[str, typer.Argument(help="A survey file, or the key of a stored survey.")],
    out: Annotated[Path, typer.Option(help="The XLSForm to write (.xlsx).")],
    format: Annotated[SurveyFormat, typer.Option(help="xlsform.")] = SurveyFormat.xlsform,
) -> None:
    """Write a survey as an XLSForm for KoBoToolbox or ODK, in all four languages."""
    settings = _settings()
    _output_file(out)
    path = Path(source)
    from_file = path.is_file() or path.suffix in (".yaml", ".yml")

    async def make(services: Services) -> bytes:
        async with services.db.unit_of_work() as uow:
            if from_file:
                _survey, definition = load_survey_file(path)
            else:
                row = await uow.surveys.latest(source)
                if row is None:
                    raise ValueError(f"{source}: neither a survey file nor a stored survey key")
                definition = row.definition
            cities = [(c.id, c.name) for c in await uow.catalog.cities()]
            practices = [
                (p.id, p.city_id, p.name) for p in await uow.catalog.practices(active_only=True)
            ]
        words = {
            name: {code: services.translator.render(msg, code) for code in LANGUAGES}
            for name, msg in INTERVIEW_WORDS.items()
        }
        sheets = export_form(definition, InterviewChoices(cities, practices, words))
        return workbook_bytes(sheets)

    content = _run(lambda: _with_services(settings, make))
    out.write_bytes(content)
    typer.echo(f"wrote {out}")


@responses_app.command("import")
def responses_import(
    submissions: Annotated[Path, typer.Argument(help="A KoBo/ODK export (.csv or .xlsx).")],
    survey: Annotated[str, typer.Option(help="The survey key the form was made from.")],
    practice: Annotated[
        str | None, typer.Option(help="The practice, when the file has no 'practice' column.")
    ] = None,
    lang: Annotated[
        Language | None, typer.Option(help="The language, when the file has no 'language' column.")
    ] = None,
) -> None:
    """Store face-to-face interviews as responses (channel face_to_face); safe to repeat."""
    from app.face_to_face import import_submissions, read_table

    settings = _settings()

    async def store(services: Services) -> Any:
        header, rows = read_table(submissions)
        return await import_submissions(
            services,
            survey,
            header,
            rows,
            practice=practice,
            locale=lang.value if lang else None,
        )

    report = _run(lambda: _with_services(settings, store))
    for rejection in report.rejected:
        typer.echo(f"{submissions}: {rejection}", err=True)
    if report.ignored_columns:
        typer.echo(f"not kept (not in the survey): {', '.join(report.ignored_columns)}")
    rounds = ", ".join(
        f"{n} in round {r}" if r is not None else f"{n} outside rounds"
        for r, n in sorted(report.rounds.items(), key=lambda item: (item[0] is None, item[0]))
    )
    typer.echo(
        f"imported {report.imported}"
        + (f" ({rounds})" if rounds else "")
        + f", already imported {report.already}, rejected {len(report.rejected)}"
    )
    if report.rejected:
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
    if out:
        _output_file(out)

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


@staff_app.command("add")
def staff_add(
    user_id: Annotated[int, typer.Argument(help="Telegram user id.")],
    role: Annotated[str, typer.Argument(help="admin, staff or coordinator.")],
    city: Annotated[list[str] | None, typer.Option(help="A city (repeat for more).")] = None,
) -> None:
    """Give someone a role (for some cities, or all when none is named)."""

    async def add(services: Services) -> None:
        async with services.db.unit_of_work() as uow:
            await staff.grant(uow, CLI_ACTOR, user_id, role, city or [])

    _run(lambda: _with_services(_settings(), add))
    typer.echo(f"{user_id} is now {role}" + (f" of {', '.join(city)}" if city else ""))


@staff_app.command("remove")
def staff_remove(user_id: Annotated[int, typer.Argument(help="Telegram user id.")]) -> None:
    """Take someone's role away."""

    async def remove(services: Services) -> bool:
        async with services.db.unit_of_work() as uow:
            return await staff.revoke(uow, CLI_ACTOR, user_id)

    removed = _run(lambda: _with_services(_settings(), remove))
    typer.echo("removed" if removed else f"{user_id} had no role")


@staff_app.command("list")
def staff_list() -> None:
    """Everyone with a role (administrators from ADMIN_IDS included)."""
    settings = _settings()

    async def listing(services: Services) -> list[str]:
        async with services.db.unit_of_work() as uow:
            rows = await uow.staff.listing()
        lines = [f"{user}\tadmin\t(ADMIN_IDS)" for user in settings.admin_ids]
        lines += [
            f"{r.telegram_user_id}\t{r.role}\t{','.join(r.cities) or 'all cities'}" for r in rows
        ]
        return lines

    for line in _run(lambda: _with_services(settings, listing)) or ["nobody has a role yet"]:
        typer.echo(line)


@app.command("audit-log")
def audit_log(limit: Annotated[int, typer.Option(help="How many entries.")] = 50) -> None:
    """Staff actions, newest first: when, who, what, on what."""

    async def latest(services: Services) -> list[str]:
        async with services.db.unit_of_work() as uow:
            rows = await uow.audit_log.latest(limit)
        return [
            f"{r.created_at:%Y-%m-%d %H:%M:%S}\t{r.actor}\t{r.action}\t{r.target or ''}"
            f"\t{r.details or ''}"
            for r in rows
        ]

    for line in _run(lambda: _with_services(_settings(), latest)):
        typer.echo(line)


@round_app.command("open")
def round_open(
    city: Annotated[str, typer.Option(help="City id, e.g. krakow.")],
    closes: Annotated[str, typer.Option(help="Last day of the round (YYYY-MM-DD).")],
    practice: Annotated[
        list[str] | None, typer.Option(help="Practice id (repeat; default: all of the city).")
    ] = None,
    opens: Annotated[str | None, typer.Option(help="First day (default: now).")] = None,
    survey: Annotated[str, typer.Option(help="Survey key (its newest version).")] = "open-cities",
    remind_days: Annotated[int, typer.Option(help="Remind N days before closing (0: never).")] = 3,
    remind_non_starters: Annotated[
        bool, typer.Option(help="Remind subscribers who never started too.")
    ] = False,
) -> None:
    """Plan a round; one that opens today opens now and invites the city's subscribers."""
    settings = _settings()
    opens_on = _date_option("--opens", opens) if opens else None
    closes_on = _date_option("--closes", closes)
    _check_round_dates(opens_on, closes_on, utcnow().astimezone(settings.tz).date())

    async def create(services: Services) -> str:
        now = utcnow()
        start = opens_on or now.astimezone(settings.tz).date()
        opens_at, closes_at = staff.round_window(start, closes_on, settings.tz, now)
        async with services.db.unit_of_work() as uow:
            version = await uow.surveys.latest(survey)
            if version is None:
                raise RoundError(f"unknown survey '{survey}'")
            planned = await plan_round(
                uow,
                services,
                CLI_ACTOR,
                city,
                practice or [],
                version.id,
                opens_at,
                closes_at,
                now,
                remind_days=remind_days,
                remind_non_starters=remind_non_starters,
            )
        round_ = planned.round
        if planned.invited is not None:
            return f"round {round_.id} is open; {planned.invited} invitation(s) queued"
        return f"round {round_.id} is planned; it opens {opens_at:%Y-%m-%d %H:%M %Z}"

    typer.echo(_run(lambda: _with_services(settings, create)))


def _check_round_dates(opens_on: date | None, closes_on: date, today: date) -> None:
    """Dates a round can have: not in the past, and closing on or after its first day."""
    problem = None
    if opens_on is not None and opens_on < today:
        problem = (
            f"--opens: {opens_on} has passed; give today or a later day "
            "(or leave --opens out to open the round now)"
        )
    elif closes_on < today:
        problem = f"--closes: {closes_on} has passed; a round closes today or later"
    elif opens_on is not None and closes_on < opens_on:
        problem = f"--closes: {closes_on} is before --opens {opens_on}"
    if problem:
        typer.echo(problem, err=True)
        raise typer.Exit(2)


@round_app.command("close")
def round_close(round_id: Annotated[int, typer.Argument(help="Round id.")]) -> None:
    """Close a round now."""

    async def close(services: Services) -> None:
        async with services.db.unit_of_work() as uow:
            round_ = await uow.rounds.get(round_id)
            if round_ is None or round_.status == "closed":
                raise RoundError(f"round {round_id} does not exist or is already closed")
            await close_round(
                uow,
                round_,
                CLI_ACTOR,
                utcnow(),
                services.settings.min_group_size,
                services.pseudonyms,
            )

    _run(lambda: _with_services(_settings(), close))
    typer.echo(f"round {round_id} is closed")


@round_app.command("list")
def round_list(city: Annotated[str | None, typer.Option(help="Only this city.")] = None) -> None:
    """Rounds, newest first, with their counts."""
    settings = _settings()

    async def listing(services: Services) -> list[str]:
        async with services.db.unit_of_work() as uow:
            await _known_cities(uow, [city] if city else [])
            rows = await uow.rounds.listing([city] if city else None)
            lines = []
            for r in rows:
                counts = await published_counts(uow, r.id, settings.min_group_size, settings.tz)
                started, done = round_totals(counts)
                lines.append(
                    f"{r.id}\t{r.city_id}\t{r.status}\t"
                    f"{r.opens_at.astimezone(settings.tz):%Y-%m-%d}\t"
                    f"{last_moment(r.closes_at).astimezone(settings.tz):%Y-%m-%d}\t"
                    f"started {started}, completed {done}"
                )
        return lines

    for line in _run(lambda: _with_services(settings, listing)) or ["no rounds yet"]:
        typer.echo(line)


class PosterFormat(StrEnum):
    """Poster file formats."""

    pdf = "pdf"
    png = "png"
    svg = "svg"


@app.command()
def poster(
    city: Annotated[str, typer.Option(help="City id.")],
    out: Annotated[Path, typer.Option(help="File to write.")],
    practice: Annotated[str | None, typer.Option(help="Practice id.")] = None,
    round_id: Annotated[int | None, typer.Option("--round", help="Round id.")] = None,
    format: Annotated[PosterFormat, typer.Option(help="pdf, png or svg.")] = PosterFormat.pdf,
    bot_username: Annotated[
        str | None,
        typer.Option(
            help="The bot's @username (default: "
            "BOT_USERNAME, or asked from "
            "Telegram with BOT_TOKEN)."
        ),
    ] = None,
) -> None:
    """An A4 poster with the survey's QR code and an invitation in four languages."""
    settings = _settings()
    _output_file(out)

    async def make(services: Services) -> tuple[str, bytes]:
        from app.poster import poster_for

        username = bot_username or settings.bot_username or await _ask_username(settings)
        async with services.db.reading() as uow:
            plan = await poster_for(
                uow, services.translator, username, city, practice, round_id, format.value
            )
        return plan.render()  # after the transaction

    _name, content = _run(lambda: _with_services(settings, make))
    out.write_bytes(content)
    typer.echo(f"wrote {out}")


async def _ask_username(settings: Settings) -> str:
    """The bot's username from getMe, when only the token is configured."""
    if settings.bot_token is None:
        raise ConfigError(
            "BOT_USERNAME: not set (and no BOT_TOKEN to ask Telegram); pass --bot-username"
        )
    from telegram import Bot

    from bot.transport import AiohttpRequest

    async with Bot(
        settings.bot_token, base_url=f"{settings.telegram_api_url}/bot", request=AiohttpRequest()
    ) as bot:
        return str(bot.username)


def _output_file(out: Path) -> Path:
    """--out names a file that can be written: checked before any work is done."""
    folder = out.parent
    problem = (
        f"the folder {folder} does not exist"
        if not folder.is_dir()
        else f"{out} is a folder"
        if out.is_dir()
        else f"cannot write in {folder}"
        if not os.access(folder, os.W_OK)
        else None
    )
    if problem:
        typer.echo(f"--out: {problem}", err=True)
        raise typer.Exit(2)
    return out


async def _known_cities(uow: UnitOfWork, cities: Sequence[str]) -> None:
    """Refuse city ids the catalog does not know (a typo would give an empty summary)."""
    known = {c.id for c in await uow.catalog.cities()}
    unknown = [c for c in cities if c not in known]
    if unknown:
        raise ValueError(f"--city: unknown city {', '.join(unknown)}")


def _date_option(name: str, value: str) -> date:
    parsed = parse_date(value)
    if parsed is None:
        typer.echo(f"{name}: expected a date such as 2026-03-01, got {value!r}", err=True)
        raise typer.Exit(2)
    return parsed


Channel = StrEnum("Channel", {name: name for name in CHANNELS})  # type: ignore[misc]


class ReportFormat(StrEnum):
    """Report file formats."""

    csv = "csv"
    csv_excel = "csv-excel"
    xlsx = "xlsx"
    pdf = "pdf"
    json = "json"


@app.command()
def report(
    out: Annotated[Path, typer.Option(help="File to write.")],
    round_id: Annotated[int | None, typer.Option("--round", help="A round's summary.")] = None,
    year: Annotated[int | None, typer.Option(help="The annual evaluation of a year.")] = None,
    city: Annotated[
        list[str] | None,
        typer.Option(help="Only these cities (repeat); alone: one city across its rounds."),
    ] = None,
    format: Annotated[
        ReportFormat,
        typer.Option(
            help="csv, csv-excel (';' and a decimal comma in pl, uk, ru), xlsx, pdf or json."
        ),
    ] = (ReportFormat.pdf),
    lang: Annotated[Language, typer.Option(help="Language of the report.")] = Language.pl,
    channel: Annotated[
        Channel | None,
        typer.Option(help="Only answers given in telegram or in face_to_face interviews."),
    ] = None,
) -> None:
    """Summarise a round, a year or a city and write it as CSV, XLSX, PDF or JSON."""
    settings = _settings()
    given = (round_id is not None) + (year is not None)
    if given > 1 or (given == 0 and len(city or []) != 1):
        typer.echo("give exactly one of --round ID, --year YYYY, or a single --city", err=True)
        raise typer.Exit(2)
    _output_file(out)

    async def make(services: Services) -> tuple[str, bytes]:
        async with services.db.unit_of_work() as uow:
            await _known_cities(uow, city or [])
            if round_id is not None:
                period = await round_period(uow, round_id, settings.tz)
            elif year is not None:
                period = year_period(year, settings.tz, city)
            else:
                period = city_period((city or [""])[0])
        if channel is not None:
            scope = dataclasses.replace(period.scope, channel=channel.value)
            period = dataclasses.replace(period, scope=scope)
        with ProgressBar(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), transient=True
        ) as bar:
            task = bar.add_task("report", total=3)

            def step(stage: str) -> None:
                bar.update(task, description=stage, advance=1)

            return await build(services, period, format.value, lang.value, step)

    name, content = _run(lambda: _with_services(settings, make))
    out.write_bytes(content)
    typer.echo(f"wrote {out} ({name}, {len(content):,} bytes)")


@app.command()
def opendata(
    year: Annotated[int, typer.Option(help="The year whose published figures to write.")],
    out: Annotated[Path, typer.Option(help="Folder to write the data package into.")],
) -> None:
    """Write a year's published figures as open data: a Frictionless Data Package (CSV files
    and datapackage.json), under the licence OPEN_DATA_LICENSE."""
    settings = _settings()
    if not 2000 <= year <= 2100:
        typer.echo(f"--year: expected a year such as 2026, got {year}", err=True)
        raise typer.Exit(2)
    if out.exists() and not out.is_dir():
        typer.echo(f"--out: {out} is a file, not a folder", err=True)
        raise typer.Exit(2)

    async def make(services: Services) -> dict[str, bytes]:
        return await build_open_data(services, year)

    files = _run(lambda: _with_services(settings, make))
    out.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (out / name).write_bytes(content)
    typer.echo(f"wrote {len(files)} files to {out}: {', '.join(sorted(files))}")


@app.command()
def publish(
    round_id: Annotated[
        int | None, typer.Option("--round", help="A closed round's final results.")
    ] = None,
    year: Annotated[int | None, typer.Option(help="A year's results (its edition).")] = None,
    static: Annotated[
        Path | None,
        typer.Option(
            help="With --year: also write its public pages (and its published rounds') as "
            "files into this folder."
        ),
    ] = None,
) -> None:
    """Make results public on /results (logged), and maybe write a year's pages as files."""
    if (round_id is None) == (year is None) or (static is not None and year is None):
        typer.echo(
            "give exactly one of --round ID or --year YYYY (--static only with --year)", err=True
        )
        raise typer.Exit(2)
    if static is not None and static.exists() and not static.is_dir():
        typer.echo(f"--static: {static} is not a folder", err=True)
        raise typer.Exit(2)

    async def work(services: Services) -> list[str]:
        from bot.web.public import PublicPages

        lines = []
        async with services.db.unit_of_work() as uow:
            if round_id is not None:
                added = await publish_round(uow, CLI_ACTOR, round_id, utcnow())
                what = f"round {round_id}"
            else:
                assert year is not None
                added = await publish_year(uow, CLI_ACTOR, year, utcnow())
                what = f"the results of {year}"
        lines.append(f"{what}: {'published' if added else 'already published'}")
        if static is not None and year is not None:
            written = await PublicPages(services).write_static(year, static)
            lines.append(f"wrote {written} pages into {static}")
        return lines

    for line in _run(lambda: _with_services(_settings(), work)):
        typer.echo(line)


comments_app = typer.Typer(help="Free-text comments in reports.", no_args_is_help=True)
app.add_typer(comments_app, name="comments")


def _moderate(answer_id: int, hidden: bool) -> None:
    async def change(services: Services) -> bool:
        async with services.db.unit_of_work() as uow:
            return await moderate_comment(uow, CLI_ACTOR, answer_id, hidden)

    if not _run(lambda: _with_services(_settings(), change)):
        typer.echo(f"no comment {answer_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"comment {answer_id} is {'hidden' if hidden else 'shown'}")


@comments_app.command("hide")
def comments_hide(
    answer_id: Annotated[int, typer.Argument(help="Comment id (as reports show it).")],
) -> None:
    """Keep a comment out of published reports."""
    _moderate(answer_id, True)


@comments_app.command("unhide")
def comments_unhide(answer_id: Annotated[int, typer.Argument(help="Comment id.")]) -> None:
    """Publish a hidden comment again."""
    _moderate(answer_id, False)


@comments_app.command("list")
def comments_list(round_id: Annotated[int, typer.Option("--round", help="Round id.")]) -> None:
    """A round's comments (contacts masked; only groups large enough to publish)."""
    settings = _settings()

    async def listing(services: Services) -> list[str]:
        async with services.db.reading() as uow:
            period = await round_period(uow, round_id, settings.tz)
        summary = await published_report(services.db, period, settings.min_group_size, settings.tz)
        return [
            f"{c.id}\t{c.practice_id}\t{'hidden' if c.hidden else 'shown'}\t{c.text}"
            for c in summary.comments
        ]

    for line in _run(lambda: _with_services(settings, listing)) or ["no comments to show"]:
        typer.echo(line)


__all__ = ["LOCALES", "app"]


def _edition_line(edition: Edition, zone: tzinfo) -> str:
    """One edition in a line: year, phase, the days each phase begins, the last day, weights."""
    days = (
        edition.nominations_open_at,
        edition.analysis_open_at,
        edition.jury_open_at,
        last_moment(edition.closes_at),
    )
    frozen = " (frozen)" if edition_cases.weights_frozen(edition) else ""
    return (
        f"{edition.year}\t{edition.status}\t"
        + "\t".join(f"{d.astimezone(zone):%Y-%m-%d}" for d in days)
        + f"\tjury {edition.jury_weight} / residents {edition.residents_weight}{frozen}"
    )


@edition_app.command("open")
def edition_open(
    year: Annotated[int, typer.Option(help="The edition's year.")],
    analysis_from: Annotated[str, typer.Option(help="First day of the analysis (YYYY-MM-DD).")],
    jury_from: Annotated[str, typer.Option(help="First day of the jury phase.")],
    jury_until: Annotated[str, typer.Option(help="Last day of the jury phase.")],
    jury_weight: Annotated[int, typer.Option(help="The jury's share of the score (percent).")],
    residents_weight: Annotated[int, typer.Option(help="The residents' share (percent).")],
    nominations_from: Annotated[
        str | None, typer.Option(help="First day of nominations (default: now).")
    ] = None,
) -> None:
    """Plan a year's edition; phases then open and close by themselves.

    Example: auditbot edition open --year 2027 --analysis-from 2027-03-01 --jury-from 2027-04-01 --jury-until 2027-04-30 --jury-weight 60 --residents-weight 40
    """
    settings = _settings()
    zone = settings.tz
    now = utcnow()
    nominations_day = (
        _date_option("--nominations-from", nominations_from)
        if nominations_from
        else now.astimezone(zone).date()
    )
    schedule = Schedule(
        nominations_open_at=staff.day_start(nominations_day, zone),
        analysis_open_at=staff.day_start(_date_option("--analysis-from", analysis_from), zone),
        jury_open_at=staff.day_start(_date_option("--jury-from", jury_from), zone),
        closes_at=staff.day_start(
            _date_option("--jury-until", jury_until) + timedelta(days=1), zone
        ),
    )

    async def create(services: Services) -> str:
        async with services.db.unit_of_work() as uow:
            edition = await edition_cases.open_edition(
                uow, CLI_ACTOR, year, schedule, Weights(jury_weight, residents_weight), utcnow()
            )
            return f"edition {year} is {edition.status}\n" + _edition_line(edition, zone)

    typer.echo(_run(lambda: _with_services(settings, create)))


@edition_app.command("weights")
def edition_weights(
    year: Annotated[int, typer.Option(help="The edition's year.")],
    jury_weight: Annotated[int, typer.Option(help="The jury's share (percent).")],
    residents_weight: Annotated[int, typer.Option(help="The residents' share (percent).")],
) -> None:
    """Change the weights, until the jury phase opens (then they are frozen).

    Example: auditbot edition weights --year 2027 --jury-weight 50 --residents-weight 50
    """
    settings = _settings()

    async def change(services: Services) -> str:
        async with services.db.unit_of_work() as uow:
            edition = await edition_cases.set_weights(
                uow, CLI_ACTOR, year, Weights(jury_weight, residents_weight), utcnow()
            )
            return _edition_line(edition, settings.tz)

    typer.echo(_run(lambda: _with_services(settings, change)))


@edition_app.command("show")
def edition_show(year: Annotated[int, typer.Option(help="The edition's year.")]) -> None:
    """One edition: its phase, the days each phase begins, the last day, the weights.

    Example: auditbot edition show --year 2027
    """
    settings = _settings()

    async def show(services: Services) -> str:
        async with services.db.unit_of_work() as uow:
            edition = await edition_cases.existing(uow, year)
            return "year\tphase\tnominations\tanalysis\tjury\tlast day\tweights\n" + _edition_line(
                edition, settings.tz
            )

    typer.echo(_run(lambda: _with_services(settings, show)))


@edition_app.command("close")
def edition_close(year: Annotated[int, typer.Option(help="The edition's year.")]) -> None:
    """Close an edition now, whatever phase it is in.

    Example: auditbot edition close --year 2027
    """

    async def close(services: Services) -> None:
        async with services.db.unit_of_work() as uow:
            await edition_cases.close_edition(uow, CLI_ACTOR, year, utcnow())

    _run(lambda: _with_services(_settings(), close))
    typer.echo(f"edition {year} is closed")


@edition_app.command("list")
def edition_list() -> None:
    """Every edition, newest first.

    Example: auditbot edition list
    """
    settings = _settings()

    async def listing(services: Services) -> list[str]:
        async with services.db.unit_of_work() as uow:
            return [_edition_line(e, settings.tz) for e in await edition_cases.editions(uow)]

    for line in _run(lambda: _with_services(settings, listing)) or ["no editions yet"]:
        typer.echo(line)


def _nomination_line(n: Nomination) -> str:
    """One proposal in a line: id, status, city, category, name, runner, since, link."""
    outcome = (
        f"-> {n.practice_id}"
        if n.practice_id
        else f"into {n.merged_into}"
        if n.merged_into
        else n.reason or ""
    )
    return (
        f"{n.id}\t{n.status}\t{n.city_id}\t{n.category_id}\t{n.name}\t{n.runner}\t"
        f"{n.since}\t{n.link}\t{outcome}"
    )


@nominations_app.command("list")
def nominations_list(
    year: Annotated[int, typer.Option(help="The edition's year.")],
    status: Annotated[
        str | None, typer.Option(help="Only pending, accepted, rejected or merged.")
    ] = None,
) -> None:
    """The proposals of an edition, oldest first.

    Example: auditbot nominations list --year 2027 --status pending
    """

    async def listing(services: Services) -> list[str]:
        async with services.db.unit_of_work() as uow:
            rows = await nomination_cases.listing(uow, year, status)
            return [_nomination_line(n) for n in rows]

    for line in _run(lambda: _with_services(_settings(), listing)) or ["no nominations"]:
        typer.echo(line)


def _decide(work: Callable[[UnitOfWork], Awaitable[Nomination]]) -> None:
    """Run one decision on a nomination and print the proposal as it now is."""

    async def decide(services: Services) -> str:
        async with services.db.unit_of_work() as uow:
            return _nomination_line(await work(uow))

    typer.echo(_run(lambda: _with_services(_settings(), decide)))


@nominations_app.command("accept")
def nominations_accept(
    nomination_id: Annotated[int, typer.Argument(help="Nomination id.")],
) -> None:
    """Add the proposed practice to the catalog, nominated for its edition; the proposer is told.

    Example: auditbot nominations accept 5
    """
    _decide(lambda uow: nomination_cases.accept(uow, CLI_ACTOR, nomination_id, utcnow()))


@nominations_app.command("reject")
def nominations_reject(
    nomination_id: Annotated[int, typer.Argument(help="Nomination id.")],
    reason: Annotated[str, typer.Option(help="Why, in a sentence the proposer will read.")],
) -> None:
    """Turn a proposal down with a reason; the proposer is told.

    Example: auditbot nominations reject 7 --reason "It is a one-off event, not a practice."
    """
    _decide(lambda uow: nomination_cases.reject(uow, CLI_ACTOR, nomination_id, reason, utcnow()))


@nominations_app.command("merge")
def nominations_merge(
    nomination_id: Annotated[int, typer.Argument(help="The duplicate's id.")],
    into: Annotated[int, typer.Option(help="The nomination it duplicates.")],
) -> None:
    """Fold a duplicate proposal into another; the proposer is told.

    Example: auditbot nominations merge 8 --into 5
    """
    _decide(lambda uow: nomination_cases.merge(uow, CLI_ACTOR, nomination_id, into, utcnow()))


@jury_app.command("add")
def jury_add(
    user_id: Annotated[int, typer.Argument(help="The juror's Telegram user id.")],
    edition: Annotated[int, typer.Option(help="The edition's year.")],
) -> None:
    """Make someone a juror of an edition; they are named Juror A, B, … in reports.

    Example: auditbot jury add 123456789 --edition 2027
    """

    async def add(services: Services) -> str:
        async with services.db.unit_of_work() as uow:
            juror = await jury_cases.add_juror(uow, CLI_ACTOR, edition, user_id, utcnow())
            return f"{user_id} is Juror {juror.label} of {edition}"

    typer.echo(_run(lambda: _with_services(_settings(), add)))


@jury_app.command("progress")
def jury_progress(edition: Annotated[int, typer.Option(help="The edition's year.")]) -> None:
    """Each juror's progress in counts (never the scores themselves).

    Example: auditbot jury progress --edition 2027
    """

    async def listing(services: Services) -> list[str]:
        async with services.db.unit_of_work() as uow:
            rows = await jury_cases.progress(uow, edition)
        return [
            f"Juror {p.label}\tscored {p.scored}\trecused {p.recused}\t"
            + ("submitted" if p.submitted else "not submitted")
            for p in rows
        ]

    for line in _run(lambda: _with_services(_settings(), listing)) or ["no jurors yet"]:
        typer.echo(line)


def _ranking_lines(ranking: evaluation_cases.Ranking) -> list[str]:
    """The ranking as lines: per category, rank, practice, combined score and interval, the
    jury's and residents' parts with their n, and flags."""
    alpha = "n/a" if ranking.alpha is None else f"{ranking.alpha:.2f}"
    lines = [f"edition {ranking.year}; jurors' agreement (Krippendorff's alpha, ordinal): {alpha}"]
    for category, rows in ranking.by_category.items():
        lines.append(f"[{category}]")
        for r in rows:
            jury = r.entry.jury
            residents = r.entry.residents
            lines.append(
                f"{r.rank}{'=' if r.tied else ''}\t{r.entry.practice_id}\t"
                f"{r.combined.score:.1f} ({r.combined.ci_low:.1f}–{r.combined.ci_high:.1f})\t"
                + (f"jury {jury.score:.1f} n={jury.n}" if jury else "jury n=0")
                + "\t"
                + (
                    f"residents {residents.score:.1f} n={r.entry.residents_n}"
                    if residents and not r.jury_only
                    else f"residents below k={ranking.k}: jury alone"
                )
            )
    return lines


@edition_app.command("ranking")
def edition_ranking(year: Annotated[int, typer.Option(help="The edition's year.")]) -> None:
    """The combined ranking per category (ties marked '=').

    Example: auditbot edition ranking --year 2027
    """
    settings = _settings()

    async def ranking(services: Services) -> list[str]:
        async with services.db.unit_of_work() as uow:
            result = await evaluation_cases.combined_ranking(
                uow, year, settings.tz, settings.min_group_size
            )
        return _ranking_lines(result)

    for line in _run(lambda: _with_services(settings, ranking)):
        typer.echo(line)


@edition_app.command("distinguish")
def edition_distinguish(
    year: Annotated[int, typer.Option(help="The edition's year.")],
    practice: Annotated[str, typer.Option(help="The practice's id.")],
) -> None:
    """Confirm a practice as distinguished in the edition (stored, logged).

    Example: auditbot edition distinguish --year 2027 --practice krakow-otwarty-krakow
    """

    async def confirm(services: Services) -> None:
        async with services.db.unit_of_work() as uow:
            await evaluation_cases.confirm_distinction(uow, CLI_ACTOR, year, practice)

    _run(lambda: _with_services(_settings(), confirm))
    typer.echo(f"{practice} is distinguished in {year}")


def _practice_name(practice: Any) -> str:
    """A practice's name for the command line: English, else the first language it has."""
    names = practice.name or {}
    return str(names.get("en") or next(iter(names.values()), practice.id))


def _residents_line(residents: analysis_cases.Residents) -> str:
    """The residents' figures as the disclosure rule lets them out."""
    if residents.composite is None or residents.n < residents.k:
        return f"residents: fewer than k={residents.k} answers this year, not shown"
    c = residents.composite
    return f"residents: composite {c.score:.1f} ({c.ci_low:.1f}–{c.ci_high:.1f}), n={residents.n}"


def _analysis_lines(view: analysis_cases.AnalysisView) -> list[str]:
    """One nominated practice's analysis, with the residents' figures beside it."""
    analysis = view.analysis
    lines = [
        f"{view.practice.id}\t{_practice_name(view.practice)}",
        "  " + _residents_line(view.residents),
        "  recommendation: " + ((analysis.recommendation if analysis else None) or "not yet"),
    ]
    criteria = analysis.criteria if analysis else {}
    for criterion in jury_cases.CRITERIA:
        entry = criteria.get(criterion)
        if entry is None:
            lines.append(f"  {criterion}: not analysed yet")
            continue
        lines.append(f"  {criterion}: {entry.get('notes') or '-'}")
        lines.extend(f"    evidence: {link}" for link in entry.get("evidence", []))
    return lines


@analysis_app.command("record")
def analysis_record(
    edition: Annotated[int, typer.Option(help="The edition's year.")],
    practice: Annotated[str, typer.Option(help="A practice nominated in the edition.")],
    criterion: Annotated[
        str | None,
        typer.Option(help="engagement, sustainability or comprehensiveness."),
    ] = None,
    notes: Annotated[str | None, typer.Option(help="The analysis of the criterion.")] = None,
    evidence: Annotated[
        list[str] | None, typer.Option(help="An evidence link, https://… (repeat for more).")
    ] = None,
    recommendation: Annotated[
        str | None,
        typer.Option(help="recommend, do-not-recommend or more-evidence."),
    ] = None,
) -> None:
    """Record (or revise) the analysis of one criterion and/or the recommendation (logged).

    Example: auditbot analysis record --edition 2027 --practice krakow-nominated-1
    --criterion sustainability --notes "Funded in the city budget since 2019."
    --evidence https://example.org/budget --recommendation recommend
    """

    async def record(services: Services) -> None:
        async with services.db.unit_of_work() as uow:
            await analysis_cases.record_analysis(
                uow,
                CLI_ACTOR,
                edition,
                practice,
                utcnow(),
                criterion=criterion,
                notes=notes,
                evidence=evidence or [],
                recommendation=recommendation,
            )

    _run(lambda: _with_services(_settings(), record))
    typer.echo(f"analysis of {practice} in {edition} recorded")


@analysis_app.command("show")
def analysis_show(
    edition: Annotated[int, typer.Option(help="The edition's year.")],
    practice: Annotated[str | None, typer.Option(help="One practice (default: all).")] = None,
) -> None:
    """The analysis of the nominated practices, with the residents' survey figures of the year
    (shown only when at least k people answered).

    Example: auditbot analysis show --edition 2027 --practice krakow-nominated-1
    """
    settings = _settings()

    async def show(services: Services) -> list[str]:
        k = settings.min_group_size
        async with services.db.unit_of_work() as uow:
            if practice is not None:
                views = [await analysis_cases.analysis_of(uow, edition, practice, settings.tz, k)]
            else:
                views = await analysis_cases.analyses(uow, edition, settings.tz, k)
        return [line for view in views for line in _analysis_lines(view)]

    for line in _run(lambda: _with_services(settings, show)) or ["no nominated practices yet"]:
        typer.echo(line)


@reanalysis_app.command("list")
def reanalysis_list(edition: Annotated[int, typer.Option(help="The edition's year.")]) -> None:
    """The practices distinguished in earlier editions, their verdicts in this one, and the
    residents' survey figures of the year.

    Example: auditbot reanalysis list --edition 2028
    """
    settings = _settings()

    async def listing(services: Services) -> list[str]:
        async with services.db.unit_of_work() as uow:
            items = await analysis_cases.reanalysis_list(
                uow, edition, settings.tz, settings.min_group_size
            )
        lines = []
        for item in items:
            verdict = item.verdict
            lines.append(
                f"{item.practice.id}\t{_practice_name(item.practice)}\t"
                f"distinguished in {item.distinguished_in}\t"
                + (f"verdict: {verdict.verdict}" if verdict else "verdict: not yet")
            )
            lines.append("  " + _residents_line(item.residents))
            if verdict is not None:
                if verdict.notes:
                    lines.append(f"  notes: {verdict.notes}")
                lines.extend(f"  evidence: {link}" for link in verdict.evidence)
        return lines

    for line in _run(lambda: _with_services(settings, listing)) or ["nothing to re-analyse"]:
        typer.echo(line)


@reanalysis_app.command("record")
def reanalysis_record(
    edition: Annotated[int, typer.Option(help="The edition's year.")],
    practice: Annotated[str, typer.Option(help="A practice on the re-analysis list.")],
    verdict: Annotated[str, typer.Option(help="continued, changed or discontinued.")],
    notes: Annotated[str | None, typer.Option(help="What was found.")] = None,
    evidence: Annotated[
        list[str] | None, typer.Option(help="An evidence link, https://… (repeat for more).")
    ] = None,
) -> None:
    """Record (or revise) the verdict on a practice distinguished earlier (logged).

    Example: auditbot reanalysis record --edition 2028 --practice krakow-otwarty-krakow
    --verdict changed --notes "Now also online." --evidence https://example.org/2028
    """

    async def record(services: Services) -> None:
        async with services.db.unit_of_work() as uow:
            await analysis_cases.record_verdict(
                uow, CLI_ACTOR, edition, practice, verdict, notes, evidence or [], utcnow()
            )

    _run(lambda: _with_services(_settings(), record))
    typer.echo(f"{practice}: {verdict} in {edition}")


@practice_app.command("history")
def practice_history(
    practice: Annotated[str, typer.Argument(help="The practice's id.")],
) -> None:
    """A practice across editions: nominated, the recommendation, distinguished, re-analysed.

    Example: auditbot practice history krakow-otwarty-krakow
    """

    async def history(services: Services) -> list[str]:
        async with services.db.unit_of_work() as uow:
            found, entries = await analysis_cases.history(uow, practice)
        lines = [f"{found.id}\t{_practice_name(found)}"]
        for e in entries:
            parts = []
            if e.nominated:
                parts.append(f"nominated (recommendation: {e.recommendation or 'none'})")
            if e.distinguished:
                parts.append("distinguished")
            if e.verdict is not None:
                parts.append(
                    f"re-analysed: {e.verdict}"
                    + (f" — {e.verdict_notes}" if e.verdict_notes else "")
                )
            lines.append(f"{e.year}\t" + "; ".join(parts or ["listed"]))
        if not entries:
            lines.append("no edition has evaluated it yet")
        return lines

    for line in _run(lambda: _with_services(_settings(), history)):
        typer.echo(line)


@edition_app.command("report")
def edition_report(
    year: Annotated[int, typer.Option(help="The edition's year.")],
    out: Annotated[Path, typer.Option(help="File to write.")],
    format: Annotated[ReportFormat, typer.Option(help="csv, xlsx, pdf or json.")] = (
        ReportFormat.pdf
    ),
    lang: Annotated[Language, typer.Option(help="Language of the report.")] = Language.pl,
) -> None:
    """The edition report: per category the ranking with the jury's and the residents' parts,
    the jurors' agreement and justifications (Juror A–E), the re-analysis and the method.
    Ready once the jury phase has closed.

    Example: auditbot edition report --year 2027 --format pdf --lang uk --out edition-2027.pdf
    """
    settings = _settings()
    _output_file(out)

    async def make(services: Services) -> tuple[str, bytes]:
        return await build_edition(services, year, format.value, lang.value)

    name, content = _run(lambda: _with_services(settings, make))
    out.write_bytes(content)
    typer.echo(f"wrote {out} ({name}, {len(content):,} bytes)")
