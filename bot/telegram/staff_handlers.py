"""Staff commands: /grant (roles, and jurors), /revoke, /round (a guided dialogue), /status, /poster, /nominations."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from zoneinfo import ZoneInfo

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from app import jury as jury_cases
from app import staff
from app.jury import JuryError
from app.respond import Reply
from app.rounds import RoundError, plan_round
from app.services import Services
from app.staff import Role, person_actor, role_of, staff_actor
from app.summaries import published_counts
from bot.telegram.context import AuditContext
from bot.telegram.evaluation_handlers import (
    JURY,
    PROPOSE,
    continue_jury,
    continue_proposal,
    nomination_lines,
)
from bot.telegram.handlers import language_code, show, writing
from conversations import events as ev
from conversations import round_setup
from conversations.engine import Prompt
from conversations.messages import Local, Msg, Text, _, _n
from conversations.notices import last_moment
from storage.models import StaffDialog, utcnow
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)
DIALOG = "round"
STAFF_PREFIX = "s"


async def on_grant(update: Update, context: AuditContext) -> None:
    """/grant USER_ID ROLE [city,city]: admins give roles; /grant USER_ID juror: staff seat a
    juror in the current edition."""
    args = context.args or []
    if len(args) >= 2 and args[1].lower() == JUROR:
        await _grant_juror(update, context, args)
        return
    async with writing(context.services) as uow:
        role = await require(uow, context, update, "grant", lambda r: r.role == staff.ADMIN)
        if role is None:
            return
        user_id = ev.whole_number(args[0], signed=True) if args else None
        if len(args) < 2 or user_id is None:
            await say(update, context, GRANT_USAGE)
            return
        cities = [c for c in (args[2] if len(args) > 2 else "").split(",") if c]
        try:
            await staff.grant(uow, actor_of(update), user_id, args[1].lower(), cities)
        except ValueError as error:
            await say(update, context, _("Not done: {reason}", reason=str(error)))
            return
    await say(update, context, _("Done: {user} is now {role}.", user=args[0], role=args[1].lower()))


JUROR = "juror"
GRANT_USAGE = _(
    "Usage: /grant USER_ID ROLE [CITY,CITY]. Roles: admin, staff, coordinator, "
    "and juror (of the current edition)."
)


async def _grant_juror(update: Update, context: AuditContext, args: list[str]) -> None:
    """/grant USER_ID juror: seat a juror in the current edition (admins and staff); logged."""
    async with writing(context.services) as uow:
        role = await require(uow, context, update, "grant", lambda r: r.runs_rounds)
        if role is None:
            return
        user_id = ev.whole_number(args[0])
        if user_id is None:
            await say(update, context, GRANT_USAGE)
            return
        try:
            year = await jury_cases.current_edition(uow)
            juror = await jury_cases.add_juror(uow, actor_of(update), year, user_id, utcnow())
        except JuryError as error:
            await say(update, context, _("Not done: {reason}", reason=str(error)))
            return
    await say(
        update,
        context,
        _(
            "Done: {user} is Juror {label} of the {year} edition.",
            user=str(user_id),
            label=juror.label,
            year=str(year),
        ),
    )


async def on_revoke(update: Update, context: AuditContext) -> None:
    """/revoke USER_ID: admins take roles away."""
    async with writing(context.services) as uow:
        role = await require(uow, context, update, "revoke", lambda r: r.role == staff.ADMIN)
        if role is None:
            return
        args = context.args or []
        user_id = ev.whole_number(args[0], signed=True) if args else None
        if user_id is None:
            await say(update, context, _("Usage: /revoke USER_ID"))
            return
        removed = await staff.revoke(uow, actor_of(update), user_id)
    await say(update, context, _("Done.") if removed else _("This person has no role."))


async def on_round(update: Update, context: AuditContext) -> None:
    """/round: start the guided dialogue that opens a round."""
    user_id = _user_id(update)
    async with writing(context.services) as uow:
        role = await require(uow, context, update, "round", lambda r: r.runs_rounds)
        if role is None:
            return
        facts = await staff.setup_facts(uow, role, _today(context.services))
        outcome = round_setup.begin(facts, revision=1)
        await _store(uow, user_id, outcome)
    await show_staff(update, context, outcome.prompts)


async def on_dialog_text(update: Update, context: AuditContext) -> None:
    """Typed text (e.g. a date) goes to an open staff dialogue before anything else."""
    message = update.effective_message
    assert message is not None
    if await feed_dialog(update, context, ev.Text(message.text or "")):
        raise ApplicationHandlerStop


async def on_dialog_cancel(update: Update, context: AuditContext) -> None:
    """/cancel ends an open staff dialogue (otherwise it goes to the survey)."""
    if await feed_dialog(update, context, ev.Cancel()):
        raise ApplicationHandlerStop


async def on_dialog_press(update: Update, context: AuditContext) -> None:
    """A button of the staff dialogue."""
    query = update.callback_query
    assert query is not None
    token, _sep, action = (query.data or "")[len(STAFF_PREFIX) :].partition("|")
    number = ev.whole_number(token)
    event = ev.from_action(number if number is not None else -1, action)
    await feed_dialog(update, context, event)


async def feed_dialog(update: Update, context: AuditContext, event: ev.Event) -> bool:
    """Give an event to the person's open dialogue (a staff one, or /propose, open to anyone);
    False when there is none."""
    async with writing(context.services) as uow:
        dialog = await uow.staff.dialog(_user_id(update))
        if dialog is not None and dialog.kind == PROPOSE:
            reply: Reply | None = await continue_proposal(uow, context, update, dialog.data, event)
        elif dialog is not None and dialog.kind == JURY:
            reply = await continue_jury(uow, context, update, dialog.data, event)
        else:
            reply = await _continue_staff_dialog(uow, context, update, dialog, event)
    if reply is None:
        if update.callback_query is not None:
            await update.callback_query.answer()
        return False
    await show(update, context, reply)
    return True


async def _continue_staff_dialog(
    uow: UnitOfWork,
    context: AuditContext,
    update: Update,
    dialog: StaffDialog | None,
    event: ev.Event,
) -> Reply | None:
    """Give an event to a staff member's /round dialogue; None when there is none (or the
    person no longer runs rounds, when it is dropped)."""
    user_id = _user_id(update)
    services = context.services
    role = await role_of(uow, services, user_id)
    if dialog is None or role is None or not role.runs_rounds:
        if dialog is not None:
            await uow.staff.end_dialog(user_id)
        return None
    facts = await staff.setup_facts(uow, role, _today(services))
    outcome = round_setup.handle(dialog.data, event, facts)
    await _store(uow, user_id, outcome)
    prompts = outcome.prompts
    if outcome.plan is not None:
        prompts = await _create(uow, services, update, outcome.plan, role)
    return staff_reply(update, context, prompts)


async def on_nominations(update: Update, context: AuditContext) -> None:
    """/nominations: the proposals waiting for a decision."""
    async with writing(context.services) as uow:
        role = await require(uow, context, update, "nominations", lambda r: r.runs_rounds)
        if role is None:
            return
        lines = await nomination_lines(uow)
    await show_staff(update, context, [Prompt(tuple(lines))])


async def on_status(update: Update, context: AuditContext) -> None:
    """/status: counts per practice of the staff member's open rounds — never who."""
    services = context.services
    async with writing(services) as uow:
        role = await require(uow, context, update, "status", lambda r: r.runs_rounds)
        if role is None:
            return
        lines = await status_lines(
            uow, role, services.settings.min_group_size, services.settings.tz
        )
    await show_staff(update, context, [Prompt(tuple(lines))])


async def status_lines(uow: UnitOfWork, role: Role, k: int, zone: ZoneInfo) -> list[Text]:
    """The /status report for one role: the published counts only (audit/disclosure.py)."""
    rounds = [
        r
        for r in await uow.rounds.listing()
        if r.status in ("open", "planned") and role.covers(r.city_id)
    ]
    if not rounds:
        return [_("There are no open or planned rounds in your cities.")]
    lines: list[Text] = []
    for round_ in rounds:
        city = await uow.catalog.city(round_.city_id)
        invites = await uow.outbox.round_counts(round_.id, "invitation")
        counts = await published_counts(uow, round_.id, k, zone)
        name = Local(city.name if city else {})
        if round_.status == "open":
            heading = _(
                "Round {id} in {city} is open until {date}.",
                id=str(round_.id),
                city=name,
                date=last_moment(round_.closes_at),
            )
        else:
            heading = _(
                "Round {id} in {city} is planned from {opens} to {date}.",
                id=str(round_.id),
                city=name,
                opens=round_.opens_at,
                date=last_moment(round_.closes_at),
            )
        lines.append(heading)
        lines.append(
            _(
                "Invitations sent: {invited}. Not reachable (blocked the bot): {blocked}.",
                invited=invites.get("sent", 0),
                blocked=invites.get("blocked", 0),
            )
        )
        for practice_id in await uow.rounds.practice_ids(round_.id):
            practice = await uow.catalog.practice(practice_id)
            name = Local(practice.name if practice else {})
            entry = counts.get(practice_id)
            if entry is None:  # nothing published: fewer than k, or not yet k more
                lines.append(
                    _(
                        "• {practice}: fewer than {k} completed responses published so far",
                        practice=name,
                        k=k,
                    )
                )
                continue
            started, completed = entry
            rate = round(100 * completed / started) if started else 0
            lines.append(
                _(
                    "• {practice}: started {started}, completed {completed} ({rate}%)",
                    practice=name,
                    started=started,
                    completed=completed,
                    rate=rate,
                )
            )
    return lines


async def on_poster(update: Update, context: AuditContext) -> None:
    """/poster CITY [PRACTICE]: a printable A4 PDF with the QR code of the survey."""
    from app.poster import poster_for  # matplotlib and fpdf load only when a poster is made

    services = context.services
    async with writing(services) as uow:
        role = await require(uow, context, update, "poster", lambda r: r.runs_rounds)
        if role is None:
            return
        args = context.args or []
        if not args:
            await say(update, context, _("Usage: /poster CITY [SERVICE]. Example: /poster krakow"))
            return
        if not await within_cities(uow, context, update, role, args[0], "poster"):
            return
        try:
            plan = await poster_for(
                uow,
                services.translator,
                context.bot.username,
                args[0],
                args[1] if len(args) > 1 else None,
                None,
                "pdf",
            )
        except ValueError as error:
            await say(update, context, _("Not done: {reason}", reason=str(error)))
            return
        await uow.audit_log.add(actor_of(update), "poster", f"city:{args[0]}")
    # Rendered after the commit, in a thread: the writer is free and the event loop goes on
    # serving respondents while the PDF is drawn.
    name, content = await asyncio.to_thread(plan.render)
    message = update.effective_message
    assert message is not None
    await message.reply_document(content, filename=name)


async def _create(
    uow: UnitOfWork, services: Services, update: Update, plan: round_setup.RoundPlan, role: Role
) -> list[Prompt]:
    if not role.covers(plan.city_id):  # the role changed during the dialogue
        await uow.audit_log.add(actor_of(update), "denied", f"round:{plan.city_id}")
        return [Prompt((NOT_YOUR_CITY,))]
    now = utcnow()
    opens_at, closes_at = staff.round_window(
        plan.opens_on, plan.closes_on, services.settings.tz, now
    )
    try:
        planned = await plan_round(
            uow,
            services,
            actor_of(update),
            plan.city_id,
            plan.practice_ids,
            plan.survey_id,
            opens_at,
            closes_at,
            now,
        )
    except RoundError as error:
        return [Prompt((_("Not done: {reason}", reason=error.message),))]
    round_, invited = planned.round, planned.invited
    if invited is not None:
        return [
            Prompt(
                (
                    _n(
                        "Round {id} is open. An invitation is on its way to {count} subscriber.",
                        "Round {id} is open. Invitations are on their way to {count} subscribers.",
                        invited,
                        id=str(round_.id),
                    ),
                )
            )
        ]
    return [
        Prompt(
            (
                _(
                    "Round {id} is planned. It opens on {date}.",
                    id=str(round_.id),
                    date=round_.opens_at,
                ),
            )
        )
    ]


async def require(
    uow: UnitOfWork, context: AuditContext, update: Update, action: str, allowed: Any
) -> Role | None:
    """The sender's role if it allows the action; otherwise refuse politely and log it."""
    role = await role_of(uow, context.services, _user_id(update))
    if role is None or not allowed(role):
        actor = actor_of(update) if role else person_actor(context.services, _user_id(update))
        await uow.audit_log.add(actor, "denied", action)
        await say(update, context, _("Sorry, this command is only for the Open Cities team."))
        return None
    return role


NOT_YOUR_CITY = _("Sorry, this city is not one of yours.")


async def within_cities(
    uow: UnitOfWork, context: AuditContext, update: Update, role: Role, city_id: str, action: str
) -> bool:
    """Whether a role reaches a city; otherwise refuse politely and log it. An unknown city is
    let through, for the command to name it."""
    if role.covers(city_id) or await uow.catalog.city(city_id) is None:
        return True
    await uow.audit_log.add(actor_of(update), "denied", f"{action}:{city_id}")
    await say(update, context, NOT_YOUR_CITY)
    return False


async def _store(uow: UnitOfWork, user_id: int, outcome: round_setup.SetupOutcome) -> None:
    if outcome.data is None:
        await uow.staff.end_dialog(user_id)
    else:
        await uow.staff.save_dialog(user_id, DIALOG, outcome.data)


async def say(update: Update, context: AuditContext, message: Msg) -> None:
    await show_staff(update, context, [Prompt((message,))])


async def show_staff(
    update: Update, context: AuditContext, prompts: list[Prompt], prefix: str = STAFF_PREFIX
) -> None:
    """Show staff prompts; their buttons carry a prefix so presses come back to the dialogue
    (report buttons carry their whole route in the action and need none)."""
    await show(update, context, staff_reply(update, context, prompts, prefix))


def staff_reply(
    update: Update, context: AuditContext, prompts: list[Prompt], prefix: str = STAFF_PREFIX
) -> Reply:
    """Staff prompts in the staff member's Telegram language, with their buttons' prefix."""
    locale = context.services.translator.choose_locale(None, language_code(update))
    return Reply(locale, prompts, callback_prefix=prefix)


def _today(services: Services) -> Any:
    return utcnow().astimezone(services.settings.tz).date()


def _user_id(update: Update) -> int:
    assert update.effective_user is not None
    return update.effective_user.id


def actor_of(update: Update) -> str:
    """The audit log's name of a staff member sending an update."""
    return staff_actor(_user_id(update))
