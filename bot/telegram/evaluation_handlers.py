"""The annual evaluation in the bot: /propose (anyone), /jury (jurors), and what /nominations
shows staff."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from telegram import Update

from app import analysis as analysis_cases
from app import jury as jury_cases
from app import nominations as nomination_cases
from app.jury import JuryError
from app.nominations import NominationError
from app.respond import Reply
from bot.telegram.context import AuditContext
from bot.telegram.handlers import language_code, show, writing
from conversations import events as ev
from conversations import jury_scoring, nomination
from conversations.engine import Prompt
from conversations.messages import Local, Text, _
from conversations.round_setup import Choice
from storage.models import utcnow
from storage.uow import UnitOfWork

PROPOSE, JURY = "propose", "jury"  # kinds of guided dialogue (stored with the staff ones)
PREFIX = "s"  # its buttons come back through the staff dialogue's handler


async def on_propose(update: Update, context: AuditContext) -> None:
    """/propose: start the short dialogue in which anyone proposes a practice."""
    user_id = _user_id(update)
    services = context.services
    now = utcnow()
    async with writing(services) as uow:
        locale = await locale_of(uow, context, update)
        try:
            await nomination_cases.edition_taking_nominations(uow, now)
            await nomination_cases.within_limit(uow, _proposer(context, user_id), now)
        except NominationError as error:
            prompts = [Prompt((error.message,))]
        else:
            outcome = nomination.begin(await _facts(uow, context), revision=1)
            assert outcome.data is not None
            await uow.staff.save_dialog(user_id, PROPOSE, outcome.data)
            prompts = outcome.prompts
    await show(update, context, Reply(locale, prompts, callback_prefix=PREFIX))


async def continue_proposal(
    uow: UnitOfWork, context: AuditContext, update: Update, data: Mapping[str, Any], event: ev.Event
) -> Reply:
    """Give an event to an open /propose dialogue; the reply to show once committed."""
    user_id = _user_id(update)
    locale = await locale_of(uow, context, update)
    outcome = nomination.handle(data, event, await _facts(uow, context))
    if outcome.data is None:
        await uow.staff.end_dialog(user_id)
    else:
        await uow.staff.save_dialog(user_id, PROPOSE, outcome.data)
    prompts = outcome.prompts
    if outcome.proposal is not None:
        prompts = [await _submit(uow, context, update, outcome.proposal, locale)]
    return Reply(locale, prompts, callback_prefix=PREFIX)


async def _submit(
    uow: UnitOfWork,
    context: AuditContext,
    update: Update,
    draft: Mapping[str, Any],
    locale: str,
) -> Prompt:
    """Record a confirmed proposal; the thanks, or why it could not be recorded."""
    chat = update.effective_chat
    assert chat is not None
    proposal = nomination.Proposal(
        city_id=draft[nomination.CITY],
        name=draft[nomination.NAME],
        description=draft[nomination.WHAT],
        runner=draft[nomination.RUNNER],
        since=int(draft[nomination.SINCE]),
        link=draft[nomination.LINK],
        category_id=draft[nomination.CATEGORY],
        locale=locale,
    )
    try:
        await nomination_cases.propose(
            uow,
            proposal,
            source="telegram",
            proposer=_proposer(context, _user_id(update)),
            chat_id=chat.id,
            now=utcnow(),
        )
    except NominationError as error:
        return Prompt((error.message,))
    return Prompt(
        (
            _(
                "Thank you! Your proposal has been sent. Our team will review it and tell you "
                "here what they decide."
            ),
        )
    )


async def nomination_lines(uow: UnitOfWork) -> list[Text]:
    """The proposals waiting for a decision in the editions not yet closed."""
    lines: list[Text] = []
    runners = nomination.RUNNER_NAMES
    for edition in await uow.editions.listing():
        if edition.status == "closed":
            continue
        for n in await uow.nominations.of_edition(edition.year, nomination_cases.PENDING):
            city = await uow.catalog.city(n.city_id)
            lines.append(
                _(
                    "#{id} {name} ({city}, {runner}, since {since})\n{what}\n{link}",
                    id=str(n.id),
                    name=n.name,
                    city=Local(city.name if city else {}),
                    runner=runners.get(n.runner, runners["other"]),
                    since=str(n.since),
                    what=n.description,
                    link=n.link,
                )
            )
    if not lines:
        return [_("No proposals are waiting for a decision.")]
    return [
        _("Proposals waiting for a decision:"),
        *lines,
        _(
            "Decide with the command line: auditbot nominations accept ID, "
            "auditbot nominations reject ID --reason TEXT, auditbot nominations merge ID --into ID."
        ),
    ]


async def locale_of(uow: UnitOfWork, context: AuditContext, update: Update) -> str:
    """The person's language: the one chosen in the survey, else their Telegram language."""
    services = context.services
    respondent = await uow.respondents.get(services.pseudonyms.of("tg", _user_id(update)))
    stored = respondent.locale if respondent is not None else None
    return services.translator.choose_locale(stored, language_code(update))


async def _facts(uow: UnitOfWork, context: AuditContext) -> nomination.ProposeFacts:
    """The cities and kinds of practice a proposal may name."""
    today = utcnow().astimezone(context.services.settings.tz).date()
    return nomination.ProposeFacts(
        cities=tuple(Choice(c.id, c.name) for c in await uow.catalog.cities()),
        categories=tuple(Choice(c.id, c.name) for c in await uow.catalog.categories()),
        today=today,
    )


def _proposer(context: AuditContext, user_id: int) -> str:
    """A keyed pseudonym of its own kind: it cannot be lined up with survey answers."""
    return context.services.pseudonyms.of("propose", user_id)


def _user_id(update: Update) -> int:
    assert update.effective_user is not None
    return update.effective_user.id


async def on_jury(update: Update, context: AuditContext) -> None:
    """/jury: a juror scores the practices of the edition whose jury is open."""
    user_id = _user_id(update)
    now = utcnow()
    async with writing(context.services) as uow:
        locale = await locale_of(uow, context, update)
        juror = await jury_cases.juror_now(uow, user_id, now)
        if juror is None:
            prompts = [Prompt((_("You are not a juror of an edition whose jury is open now."),))]
        elif juror.submitted_at is not None:
            prompts = [Prompt((_("Thank you! Your scores are submitted and locked."),))]
        else:
            jury_cases.remember_locale(juror, locale)
            outcome = jury_scoring.begin(await _jury_facts(uow, juror.edition_year, user_id), 1)
            assert outcome.data is not None
            await uow.staff.save_dialog(user_id, JURY, outcome.data)
            prompts = outcome.prompts
    await show(update, context, Reply(locale, prompts, callback_prefix=PREFIX))


async def continue_jury(
    uow: UnitOfWork, context: AuditContext, update: Update, data: Mapping[str, Any], event: ev.Event
) -> Reply:
    """Give an event to an open /jury dialogue, record what it asks; the reply to show."""
    user_id, year, now = _user_id(update), int(data["year"]), utcnow()
    locale = await locale_of(uow, context, update)
    outcome = jury_scoring.handle(data, event, await _jury_facts(uow, year, user_id))
    try:
        await _record(uow, year, user_id, outcome.action, now)
    except JuryError as error:
        await uow.staff.end_dialog(user_id)
        return Reply(locale, [Prompt((_("Not done: {reason}", reason=str(error)),))])
    if outcome.data is None:
        await uow.staff.end_dialog(user_id)
    else:
        await uow.staff.save_dialog(user_id, JURY, outcome.data)
        if outcome.action is not None:
            outcome = jury_scoring.redraw(outcome, await _jury_facts(uow, year, user_id))
    return Reply(locale, outcome.prompts, callback_prefix=PREFIX)


async def _record(
    uow: UnitOfWork, year: int, user_id: int, action: tuple[Any, ...] | None, now: Any
) -> None:
    """Carry out what the /jury dialogue asks through the jury's use cases."""
    if action is None:
        return
    if action[0] == "score":
        _kind, practice, criterion, value, reason = action
        await jury_cases.score(uow, year, user_id, practice, criterion, value, reason, now)
    elif action[0] == "recuse":
        await jury_cases.recuse(uow, year, user_id, action[1], now)
    else:
        await jury_cases.submit(uow, year, user_id, now)


async def _jury_facts(uow: UnitOfWork, year: int, user_id: int) -> jury_scoring.JuryFacts:
    """The edition's practices and how far this juror is."""
    choices, descriptions = [], {}
    for listed in await uow.nominations.practices(year):
        practice = await uow.catalog.practice(listed.practice_id)
        if practice is not None:
            choices.append(Choice(practice.id, practice.name))
            descriptions[practice.id] = practice.description
    done = await jury_cases.finished_practices(uow, year, user_id)
    analyses = {
        practice_id: jury_scoring.AnalysisSummary(
            a.recommendation,
            {c: str(entry.get("notes") or "") for c, entry in a.criteria.items()},
        )
        for practice_id, a in (await analysis_cases.summaries(uow, year)).items()
    }
    return jury_scoring.JuryFacts(year, tuple(choices), descriptions, done, analyses)
