"""Coordinators: /report (choose a round or a year, then a format) and comment moderation."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from telegram import Update

from app.config import LOCALES
from app.editions import CLOSED, EditionError, editions, phase_at
from app.reports import (
    FORMATS,
    build,
    build_edition,
    moderate_comment,
    report_preferences,
)
from app.staff import COORDINATOR, Role
from app.summaries import round_period
from audit.summary import Period, ScopeError, year_period
from bot.telegram.context import AuditContext
from bot.telegram.handlers import after_commit, writing
from bot.telegram.staff_handlers import actor_of, require, say, show_staff
from bot.web.auth import dashboard_role, sign_in_link
from conversations import events as ev
from conversations.engine import LANGUAGE_NAMES, Button, Prompt
from conversations.messages import Local, Plain, Text, _
from storage.models import utcnow
from storage.uow import UnitOfWork

REPORT_PREFIX = "rp|"
PATTERN = r"^\|?rp\|"  # what the buttons send
SETTINGS = f"{REPORT_PREFIX}s"
EDITION = "e"  # an edition report: rp|e:YEAR, then rp|e:YEAR:FORMAT


async def on_report(update: Update, context: AuditContext) -> None:
    """/report: the rounds and years the coordinator may read."""
    services = context.services
    async with writing(services) as uow:
        role = await require(uow, context, update, "report", lambda r: r.reads_reports)
        if role is None:
            return
        rounds = [r for r in await uow.rounds.listing() if role.covers(r.city_id)][:8]
        cities = {c.id: c.name for c in await uow.catalog.cities()}
        now = utcnow()
        finished = [
            e.year
            for e in await editions(uow)
            if role.cities is None and phase_at(e, now) == CLOSED
        ][:3]
    year = utcnow().astimezone(services.settings.tz).year
    rows = [
        (
            Button(
                _("Round {id} ({city})", id=str(r.id), city=Local(cities.get(r.city_id, {}))),
                f"{REPORT_PREFIX}r:{r.id}",
            ),
        )
        for r in rounds
    ]
    rows += [
        (Button(_("Year {year}", year=str(y)), f"{REPORT_PREFIX}y:{y}"),) for y in (year, year - 1)
    ]
    rows += [
        (Button(_("Edition {year}", year=str(y)), f"{REPORT_PREFIX}{EDITION}:{y}"),)
        for y in finished
    ]
    if role.role == COORDINATOR:
        rows.append((Button(_("Scheduled reports…"), SETTINGS),))
    await show_staff(update, context, [Prompt((_("Which summary?"),), tuple(rows))], prefix="")


async def on_report_settings(update: Update, context: AuditContext) -> None:
    """/report_settings: the language and format of the coordinator's scheduled reports."""
    await _settings(update, context, [])


async def _settings(update: Update, context: AuditContext, change: list[str]) -> None:
    """Show the scheduled reports' settings, after applying a change (["l", "uk"], ["f", "xlsx"])."""
    services = context.services
    async with writing(services) as uow:
        role = await require(uow, context, update, "report_settings", lambda r: r.reads_reports)
        if role is None:
            if update.callback_query is not None:
                await update.callback_query.answer()
            return
        row = await uow.staff.get(role.user_id)
        if role.role != COORDINATOR or row is None:
            await say(update, context, _("Scheduled reports go to coordinators only."))
            return
        kind, value = ([*change, "", ""])[:2]
        if (kind == "l" and value in LOCALES) or (kind == "f" and value in FORMATS):
            locale, fmt = (value, None) if kind == "l" else (None, value)
            await uow.staff.set_report_preferences(role.user_id, locale, fmt)
            await uow.audit_log.add(actor_of(update), "report.settings", None, **{kind: value})
        locale, fmt = report_preferences(services, row)
    text = _(
        "Scheduled reports — weekly while a round is open, the final one and the annual one — "
        "come to you in this language and format: {language}, {format}. Press to change.",
        language=Plain(LANGUAGE_NAMES[locale]),
        format=Plain(fmt.upper()),
    )
    rows = (
        tuple(
            Button(_mark(LANGUAGE_NAMES[code], code == locale), f"{SETTINGS}:l:{code}")
            for code in LOCALES
        ),
        tuple(Button(_mark(name.upper(), name == fmt), f"{SETTINGS}:f:{name}") for name in FORMATS),
    )
    await show_staff(update, context, [Prompt((text,), rows)], prefix="")


def _mark(label: str, chosen: bool) -> Text:
    """A button label, ticked when it is the current choice."""
    return _("✓ {label}", label=Plain(label)) if chosen else Plain(label)


async def on_report_press(update: Update, context: AuditContext) -> None:
    """A round or year was chosen (then show formats), or a format (then send the file)."""
    query = update.callback_query
    assert query is not None
    # The buttons carry no revision, so their data is "|" + action (see render.callback_data).
    data = (query.data or "").removeprefix("|")
    choice = data[len(REPORT_PREFIX) :].split(":")
    if choice[0] == SETTINGS[len(REPORT_PREFIX) :]:
        await _settings(update, context, choice[1:])
        return
    services = context.services
    async with writing(services) as uow:
        role = await require(uow, context, update, "report", lambda r: r.reads_reports)
        if role is None:
            await after_commit(query.answer)
            return
        try:
            if choice[0] == EDITION:
                period, year = None, _edition_year(role, choice)
            else:
                period, year = await _period(uow, role, choice, services.settings.tz), None
        except (ScopeError, ValueError):
            refusal = services.translator.render(
                _("This summary is not available to you."), services.translator.default_locale
            )
            await after_commit(lambda: query.answer(refusal))
            return
        if len(choice) == 3 and choice[2] in FORMATS:
            await uow.audit_log.add(actor_of(update), "report.download", ":".join(choice))
    if len(choice) == 2:
        base = f"{REPORT_PREFIX}{choice[0]}:{choice[1]}"
        rows = (tuple(Button(Plain(fmt.upper()), f"{base}:{fmt}") for fmt in FORMATS),)
        await show_staff(update, context, [Prompt((_("Which format?"),), rows)], prefix="")
        return
    await query.answer()
    locale = services.translator.choose_locale(
        None, update.effective_user.language_code if update.effective_user else None
    )
    if period is not None:
        name, content = await build(services, period, choice[2], locale)
    else:
        assert year is not None
        try:
            name, content = await build_edition(services, year, choice[2], locale)
        except EditionError:  # not over yet, or gone: the button was from an older message
            await say(update, context, _("This summary is not available to you."))
            return
    if query.message is not None:
        await query.get_bot().send_document(query.message.chat.id, content, filename=name)


async def _period(uow: UnitOfWork, role: Role, choice: list[str], zone: ZoneInfo) -> Period:
    """The period a choice names, if the role may read it."""
    kind, value = ([*choice, "", ""])[:2]
    number = ev.whole_number(value)
    if kind == "r" and number is not None:
        round_ = await uow.rounds.get(number)
        if round_ is None or not role.covers(round_.city_id):
            raise ScopeError("not your city")
        return await round_period(uow, number, zone)
    if kind == "y" and number is not None:
        return year_period(number, zone, role.cities)
    raise ValueError("unknown choice")


def _edition_year(role: Role, choice: list[str]) -> int:
    """The year of the edition a choice names, if the role may read it (the edition is
    national: staff of every city only)."""
    if role.cities is not None:
        raise ScopeError("the edition report covers every city")
    year = ev.whole_number(([*choice, ""])[1])
    if year is None:
        raise ValueError("not a year")
    return year


async def on_hide_comment(update: Update, context: AuditContext) -> None:
    """/hide_comment ID: keep a comment out of published reports (logged)."""
    await _moderate(update, context, hidden=True)


async def on_unhide_comment(update: Update, context: AuditContext) -> None:
    """/unhide_comment ID: publish a hidden comment again (logged)."""
    await _moderate(update, context, hidden=False)


async def _moderate(update: Update, context: AuditContext, *, hidden: bool) -> None:
    args = context.args or []
    async with writing(context.services) as uow:
        role = await require(uow, context, update, "comment", lambda r: r.reads_reports)
        if role is None:
            return
        answer_id = ev.whole_number(args[0]) if args else None
        if answer_id is None:
            await say(update, context, _("Usage: /hide_comment ID or /unhide_comment ID"))
            return
        if not await moderate_comment(uow, actor_of(update), answer_id, hidden, role):
            await say(
                update, context, _("There is no comment {id} in your cities.", id=str(answer_id))
            )
            return
    await say(
        update,
        context,
        _("Comment {id} is hidden.", id=str(answer_id))
        if hidden
        else _("Comment {id} is shown again.", id=str(answer_id)),
    )


async def on_dashboard(update: Update, context: AuditContext) -> None:
    """/dashboard: a one-time sign-in link to the web dashboard (15 minutes, single use)."""
    user = update.effective_user
    async with writing(context.services) as uow:
        # a juror without a role may sign in too (the jury's pages only); anyone else is
        # refused by `require` as before
        role = await dashboard_role(uow, context.services, user.id) if user else None
        if role is None:
            role = await require(uow, context, update, "dashboard", lambda r: r.reads_reports)
    if role is None:
        return
    try:
        link = await sign_in_link(context.services, role.user_id)
    except LookupError:
        await say(update, context, _("The dashboard is not set up on this server."))
        return
    await say(
        update,
        context,
        _("Your sign-in link (it works once, for 15 minutes): {link}", link=Plain(link)),
    )
