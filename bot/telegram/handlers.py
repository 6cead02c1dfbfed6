"""Handlers only translate: Telegram update → engine event → one transaction → rendered reply."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar

from telegram import Update
from telegram.error import Forbidden
from telegram.ext import ApplicationHandlerStop

from app.respond import Reply, committed, my_data, respond, stop_invitations
from app.services import Services
from bot.telegram import outcome
from bot.telegram.context import AuditContext
from bot.telegram.render import Renderer, event_from_callback, show_after_message, show_after_press
from conversations import events as ev
from conversations.engine import Prompt
from conversations.messages import Msg, _
from storage.db import is_outage
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

# Bot API calls asked for while a handler's write transaction is open, sent after its commit.
_after_commit: ContextVar[list[Callable[[], Awaitable[object]]] | None] = ContextVar(
    "after_commit", default=None
)


@asynccontextmanager
async def writing(services: Services) -> AsyncIterator[UnitOfWork]:
    """A handler's unit of work whose replies (`show`, `after_commit`) wait for the commit: no
    Bot API call is made while the transaction holds the writer (on SQLite, every respondent
    would wait for it), and the update counts as committed before they go, so long polling
    fetches the next batch meanwhile. A transaction that fails sends nothing."""
    pending: list[Callable[[], Awaitable[object]]] = []
    token = _after_commit.set(pending)
    try:
        async with services.db.unit_of_work() as uow:
            yield uow
    finally:
        _after_commit.reset(token)
    if (settle := committed.get()) is not None:
        settle()  # the update is committed: polling may fetch the next batch while we reply
    for send in pending:
        await send()


async def after_commit(send: Callable[[], Awaitable[object]]) -> None:
    """Make a Bot API call now, or after the commit when inside `writing`."""
    pending = _after_commit.get()
    if pending is None:
        await send()
    else:
        pending.append(send)


COMMAND_EVENTS: dict[str, Callable[[], ev.Event]] = {
    "language": ev.ChangeLanguage,
    "help": ev.Help,
    "resume": ev.Resume,
    "delete": ev.Delete,
    "cancel": ev.Cancel,
    "back": ev.Back,
    "skip": ev.Skip,
    "pause": ev.Pause,
}


async def on_start(update: Update, context: AuditContext) -> None:
    """/start, possibly from a deep link (t.me/<bot>?start=<payload>)."""
    payload = context.args[0][:64] if context.args else None
    await feed(update, context, ev.Start(payload=payload, language_code=language_code(update)))


async def on_command(update: Update, context: AuditContext) -> None:
    """Commands that are engine events: /language, /help, /resume, /delete, /cancel, …"""
    assert update.effective_message is not None and update.effective_message.text is not None
    name = update.effective_message.text.split()[0].lstrip("/").split("@")[0].lower()
    await feed(update, context, COMMAND_EVENTS[name]())


async def on_mydata(update: Update, context: AuditContext) -> None:
    """/mydata: show what is stored about the sender."""
    reply = await my_data(context.services, context.identity(update), language_code(update))
    await show(update, context, reply)


async def on_stop(update: Update, context: AuditContext) -> None:
    """/stop, or the button under an invitation: no more invitations or reminders."""
    identity = context.identity(update)
    stopped = await stop_invitations(context.services, identity)
    message = (
        _("Invitations and reminders are stopped. You will not get new ones.")
        if stopped
        else _("You are not getting invitations or reminders.")
    )
    await notify(update, context, message)


async def on_press(update: Update, context: AuditContext) -> None:
    """A button press."""
    query = update.callback_query
    assert query is not None
    event = event_from_callback(query.data)
    if event is None:  # not from us, or from an older version of the bot
        event = ev.Choose(token=-1, value="")
    if isinstance(event, ev.StopInvitations):
        await on_stop(update, context)
    elif isinstance(event, ev.Start):  # a button under an invitation: keep the invitation
        start = ev.Start(payload=event.payload, language_code=language_code(update))
        await feed(update, context, start, edit=False)
    else:
        await feed(update, context, event)


async def on_text(update: Update, context: AuditContext) -> None:
    """Typed text: an answer to a text question, or a button label typed by hand."""
    assert update.effective_message is not None
    await feed(update, context, ev.Text(update.effective_message.text or ""))


async def on_unknown_command(update: Update, context: AuditContext) -> None:
    """A command we do not know: say so and show where the person is."""
    await notify(update, context, _("I don't know this command. Send /help to see what I can do."))
    await feed(update, context, ev.Resume())


async def on_other(update: Update, context: AuditContext) -> None:
    """Stickers, photos, voice, edited messages: a short hint and the current question."""
    await feed(update, context, ev.Unsupported())


async def on_group(update: Update, context: AuditContext) -> None:
    """In a group the bot does not take surveys; it points to a private chat once per /start."""
    message = update.effective_message
    if message is None:
        return
    reply = Reply(context.services.translator.choose_locale(None, language_code(update)))
    text = context.services.translator.render(
        _("Surveys are private. Please write to me in a private chat."), reply.locale
    )
    await message.reply_text(text)


async def feed(
    update: Update, context: AuditContext, event: ev.Event, *, edit: bool = True
) -> None:
    """Run one event through the flow and show the reply."""
    reply = await respond(
        context.services, context.identity(update), event, language_code=language_code(update)
    )
    await show(update, context, reply, edit=edit)


async def notify(update: Update, context: AuditContext, message: Msg) -> None:
    """A one-line message in the sender's language (outside the survey flow)."""
    services = context.services
    async with services.db.unit_of_work() as uow:
        respondent = await uow.respondents.get(context.identity(update).pseudonym)
    locale = services.translator.choose_locale(
        respondent.locale if respondent else None, language_code(update)
    )
    await show(update, context, Reply(locale, [Prompt((message,))]))


async def show(update: Update, context: AuditContext, reply: Reply, *, edit: bool = True) -> None:
    """Render a reply (a pressed message is edited in place unless `edit` is False); a person
    who blocked the bot gets nothing more. Inside `writing`, it is sent after the commit."""
    await after_commit(lambda: _show_now(update, context, reply, edit=edit))


async def _show_now(update: Update, context: AuditContext, reply: Reply, *, edit: bool) -> None:
    renderer = Renderer(context.services.translator, reply)
    try:
        if update.callback_query is not None:
            await show_after_press(renderer, update.callback_query, edit=edit)
        elif update.effective_message is not None:
            await show_after_message(renderer, update.effective_message)
    except Forbidden:
        identity = context.identity(update)
        if identity.chat_id is not None:
            async with context.services.db.unit_of_work() as uow:
                await uow.subscriptions.mark_blocked(identity.chat_id)
        log.info("a person has blocked the bot; their subscriptions are marked blocked")


async def on_error(update: object, context: AuditContext) -> None:
    """Log an unexpected error without personal data; the process keeps serving. When the
    database failed before anything was committed, the update is left unconfirmed: Telegram
    delivers it again and the person gets their reply once the database is back."""
    kind = type(context.error).__name__ if context.error else "unknown"
    update_id = update.update_id if isinstance(update, Update) else None
    if context.error is not None and is_outage(context.error):
        handling = outcome.current.get()
        if handling is not None and not handling.committed:
            handling.failed = True
            log.warning(
                "update %s: database unavailable (%s); left for Telegram to deliver again",
                update_id,
                kind,
            )
            raise ApplicationHandlerStop  # no other handler group may act on it either
        log.warning("update %s: database unavailable (%s) after its commit", update_id, kind)
        return
    log.error("error while handling update %s: %s", update_id, kind, exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat and update.effective_user:
        sorry = _(
            "Sorry, something went wrong on our side. Your answers so far are saved. "
            "Please try again in a moment."
        )
        try:
            await notify(update, context, sorry)
        except Exception:  # the apology must never raise in turn
            log.warning("could not tell the person about the error")


def language_code(update: Update) -> str | None:
    """The client's language as Telegram reports it."""
    user = update.effective_user
    return user.language_code if user else None
