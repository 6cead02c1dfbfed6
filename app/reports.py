"""Compiling audit reports: on request (/report, `auditbot report`) and on a schedule.

Scheduled reports — a weekly interim summary while a round is open, the final one when it
closes, the annual evaluation on ANNUAL_REPORT_DATE for the previous year — are recorded with a
period key, so each is compiled once, and delivered to coordinators through the outbox. The
record keeps no file: the file is built when the outbox sends it (`build_stored`), so a comment
whose author sent /delete meanwhile is in no stored file (docs/privacy.md). A scheduled report is
due only within RETENTION_REPORTS_DAYS of its moment, so pruning a record never compiles it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.config import LOCALES
from app.evaluation import edition_report
from app.services import Services
from app.staff import COORDINATOR, Role
from app.summaries import published_report, round_period
from audit.edition_export import EDITION_EXPORTERS, edition_file_name
from audit.export import EXPORTERS, file_name, period_file_name
from audit.opendata import open_data
from audit.summary import COMMENT_KEY, Period, comment_answer_id, year_period
from storage.models import ReportRecord, Staff, utcnow
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)
FORMATS = tuple(EXPORTERS)  # for requested and scheduled reports alike


async def build(
    services: Services,
    period: Period,
    fmt: str,
    locale: str,
    progress: Callable[[str], None] | None = None,
) -> tuple[str, bytes]:
    """Summarise a period and export it: (file name, content)."""
    if fmt not in EXPORTERS:
        raise ValueError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}")
    step = progress or (lambda _stage: None)
    step("counting")
    settings = services.settings
    report = await published_report(services.db, period, settings.min_group_size, settings.tz)
    step("writing")
    content = EXPORTERS[fmt](report, services.translator, locale)
    step("done")
    return file_name(report, fmt), content


async def build_open_data(services: Services, year: int) -> dict[str, bytes]:
    """A year's published figures as a Frictionless Data Package: {file name: content}."""
    settings = services.settings
    period = year_period(year, settings.tz)
    report = await published_report(services.db, period, settings.min_group_size, settings.tz)
    return open_data(report, year, services.translator, settings.open_data_license)


async def build_edition(services: Services, year: int, fmt: str, locale: str) -> tuple[str, bytes]:
    """The edition report of a year as a file: (file name, content). Gathered in one unit of
    work (it may publish due residents' figures), rendered after its commit."""
    if fmt not in EDITION_EXPORTERS:
        raise ValueError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}")
    settings = services.settings
    async with services.db.unit_of_work() as uow:
        report = await edition_report(uow, year, settings.tz, settings.min_group_size, utcnow())
    content = EDITION_EXPORTERS[fmt](report, services.translator, locale)
    return edition_file_name(year, fmt), content


async def compile_due_reports(services: Services, now: datetime | None = None) -> list[str]:
    """Compile and queue every scheduled report that is due; returns their period keys."""
    now = now or utcnow()
    compiled = []
    for key, period, cities in await _due_periods(services, now):
        if await _compile(services, key, period, cities):
            compiled.append(key)
    return compiled


async def _due_periods(
    services: Services, now: datetime
) -> list[tuple[str, Period, Sequence[str] | None]]:
    """(period key, period, cities it concerns) of every scheduled report due at `now`."""
    zone = services.settings.tz
    local = now.astimezone(zone)
    kept_since = now - timedelta(days=services.settings.retention_reports_days)
    week_start = datetime.combine(
        local.date() - timedelta(days=local.weekday()), time(), tzinfo=zone
    )
    due: list[tuple[str, Period, Sequence[str] | None]] = []
    async with services.db.unit_of_work() as uow:
        for round_ in await uow.rounds.listing():
            if round_.status == "open" and round_.opens_at < week_start:
                year, week, _day = local.isocalendar()
                due.append(
                    (
                        f"interim:round:{round_.id}:{year}-W{week:02d}",
                        await round_period(uow, round_.id, zone),
                        [round_.city_id],
                    )
                )
            elif round_.status == "closed" and (round_.closed_at or round_.closes_at) > kept_since:
                due.append(
                    (
                        f"final:round:{round_.id}",
                        await round_period(uow, round_.id, zone),
                        [round_.city_id],
                    )
                )
        annual_day = _annual_day(local.year, *services.settings.annual_report_date)
        if annual_day <= local.date() and annual_day > kept_since.astimezone(zone).date():
            year = local.year - 1
            for cities in await _coordinator_city_sets(uow):
                suffix = ",".join(cities) if cities else "all"
                period = year_period(year, zone, cities)
                if await _has_data(uow, period):  # a year before the bot's first start: none
                    due.append((f"annual:{year}:{suffix}", period, cities))
        due = [d for d in due if not await uow.reports.exists(d[0])]
    return due


async def _has_data(uow: UnitOfWork, period: Period) -> bool:
    """Whether a period has anything to report: a round or a response in its scope."""
    return bool(
        await uow.audit.rounds_of(period.scope) or await uow.audit.response_counts(period.scope)
    )


def _annual_day(year: int, month: int, day: int) -> date:
    """The annual report's day in a year (29 February falls back to the 28th)."""
    try:
        return date(year, month, day)
    except ValueError:
        return date(year, month, day - 1)


async def _coordinator_city_sets(uow: UnitOfWork) -> list[tuple[str, ...] | None]:
    """The distinct sets of cities coordinators cover (None: all cities)."""
    sets: list[tuple[str, ...] | None] = []
    for row in await uow.staff.with_role(COORDINATOR):
        cities = tuple(sorted(row.cities)) if row.cities else None
        if cities not in sets:
            sets.append(cities)
    return sets


async def _compile(
    services: Services, key: str, period: Period, cities: Sequence[str] | None
) -> bool:
    """Record one scheduled report in each language and format its coordinators asked for, and
    queue each coordinator theirs (once); the files are built when sent."""
    async with services.db.reading() as uow:
        receivers = [
            (row.telegram_user_id, *report_preferences(services, row))
            for row in await uow.staff.with_role(COORDINATOR)
            if _covers(row.cities, cities)
        ]
    variants = sorted({(locale, fmt) for _user, locale, fmt in receivers}) or [
        (services.settings.report_locale, DEFAULT_FORMAT)
    ]
    async with services.db.unit_of_work() as uow:
        stored = {}
        for locale, fmt in variants:
            name = period_file_name(period.kind, period.label, fmt)
            report = await uow.reports.add(key, period.kind, period.label, locale, fmt, name)
            if report is None:  # another process compiled it first
                return False
            stored[locale, fmt] = report.id
        for user_id, locale, fmt in receivers:
            report_id = stored[locale, fmt]
            await uow.outbox.enqueue(
                "report",
                f"report:{report_id}:{user_id}",
                user_id,
                locale,
                None,
                {"report_id": report_id},
            )
        await uow.audit_log.add(
            "scheduler", "report.compile", key, report_ids=sorted(stored.values())
        )
    log.info("compiled report %s in %d variant(s)", key, len(stored))
    return True


DEFAULT_FORMAT = "pdf"


async def build_stored(services: Services, report: ReportRecord) -> tuple[str, bytes]:
    """The file of a recorded scheduled report, built now from its period key."""
    async with services.db.reading() as uow:
        period = await period_of_key(uow, report.period_key, services.settings.tz)
    return await build(services, period, report.format, report.locale)


async def period_of_key(uow: UnitOfWork, key: str, zone: ZoneInfo) -> Period:
    """The period a scheduled report's key names (see _due_periods for the keys)."""
    kind, _colon, rest = key.partition(":")
    if kind in ("interim", "final"):
        return await round_period(uow, int(rest.split(":")[1]), zone)
    if kind == "annual":
        year, _colon, cities = rest.partition(":")
        return year_period(int(year), zone, None if cities == "all" else cities.split(","))
    raise ValueError(f"not a scheduled report's key: {key!r}")


def report_preferences(services: Services, row: Staff) -> tuple[str, str]:
    """The language and format of a coordinator's scheduled reports (REPORT_LOCALE and PDF
    unless they chose otherwise)."""
    locale = row.report_locale if row.report_locale in LOCALES else None
    fmt = row.report_format if row.report_format in FORMATS else None
    return locale or services.settings.report_locale, fmt or DEFAULT_FORMAT


def _covers(coordinator_cities: Sequence[str], report_cities: Sequence[str] | None) -> bool:
    """A coordinator of all cities gets everything; others only reports about their cities."""
    if not coordinator_cities:
        return True
    return report_cities is not None and set(report_cities) <= set(coordinator_cities)


async def moderate_comment(
    uow: UnitOfWork, actor: str, comment_id: int, hidden: bool, role: Role | None = None
) -> bool:
    """Hide or show a comment by its public id (within the role's cities, when a role is
    given); logged. False when there is no such comment for this person."""
    answer_id = comment_answer_id(await uow.settings.get(COMMENT_KEY), comment_id)
    if answer_id is None:
        return False
    city = await uow.audit.comment_city(answer_id)
    if city is None or (role is not None and not role.covers(city)):
        return False
    await uow.audit.set_hidden(answer_id, hidden, actor)
    await uow.audit_log.add(
        actor, "comment.hide" if hidden else "comment.unhide", f"answer:{answer_id}"
    )
    return True
