"""Prompts → Telegram messages: inline keyboards, edits in place, toasts, careful retries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

from telegram import Bot, CallbackQuery, Message
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from app.i18n import Translator
from app.respond import Reply
from bot.transport import call_api
from bot.web.metrics import SEND_ERRORS
from conversations import events as ev
from conversations.engine import Prompt

log = logging.getLogger(__name__)
T = TypeVar("T")
SEPARATOR = "|"
MAX_ATTEMPTS = 4
TOAST_LIMIT = 200
# The bot's messages never show link previews: a preview is fetched by Telegram's servers, and
# the dashboard's sign-in links must be opened by their owner alone (and only ever by a POST).
NO_PREVIEW = {"is_disabled": True}


def callback_data(token: int | None, action: str) -> str:
    """Button data: the prompt's revision and the action (≤ 64 bytes: ids are short)."""
    return f"{token if token is not None else ''}{SEPARATOR}{action}"


def event_from_callback(data: str | None) -> ev.Event | None:
    """The event a button press stands for; None for data we never sent."""
    token, separator, action = (data or "").partition(SEPARATOR)
    number = ev.whole_number(token)
    if not separator or not action or (token and number is None):
        return None
    return ev.from_action(number, action)


class Renderer:
    """Shows a reply in one chat in the reply's language."""

    def __init__(self, translator: Translator, reply: Reply) -> None:
        self.translator = translator
        self.reply = reply

    def text(self, prompt: Prompt) -> str:
        """A prompt's lines as message text."""
        return "\n\n".join(self.translator.render(line, self.reply.locale) for line in prompt.lines)

    def keyboard(self, prompt: Prompt) -> dict[str, Any] | None:
        """A prompt's buttons as an inline keyboard (the Bot API's JSON)."""
        if not prompt.buttons:
            return None
        prefix, locale = self.reply.callback_prefix, self.reply.locale
        return {
            "inline_keyboard": [
                [
                    {
                        "text": self.translator.render(button.label, locale),
                        "callback_data": prefix + callback_data(prompt.token, button.action),
                    }
                    for button in row
                ]
                for row in prompt.buttons
            ]
        }

    def messages(self) -> list[Prompt]:
        """Prompts to show as messages; notices are folded into the message that follows."""
        result: list[Prompt] = []
        pending: list[Prompt] = []
        for prompt in self.reply.prompts:
            if prompt.kind == "notice":
                pending.append(prompt)
                continue
            lines = tuple(line for notice in pending for line in notice.lines) + prompt.lines
            result.append(Prompt(lines, prompt.buttons, prompt.token, prompt.kind))
            pending = []
        if pending:
            result.append(Prompt(tuple(line for p in pending for line in p.lines)))
        return result

    def toast(self) -> str | None:
        """The short pop-up of a button press: the notices, else the answer just saved."""
        notices = [p for p in self.reply.prompts if p.kind == "notice"]
        if notices:
            text = " ".join(self.text(p) for p in notices)
        elif self.reply.echo is not None:
            text = self.translator.render(self.reply.echo.lines[-1], self.reply.locale)
        else:
            return None
        return text if len(text) <= TOAST_LIMIT else text[: TOAST_LIMIT - 1] + "…"


async def show_after_message(renderer: Renderer, message: Message) -> None:
    """Answer a typed message: every prompt as a new message."""
    for prompt in renderer.messages():
        await send_prompt(renderer, message.get_bot(), message.chat_id, prompt)


async def show_after_press(renderer: Renderer, query: CallbackQuery, *, edit: bool = True) -> None:
    """Answer a button press: a pop-up, the pressed message turned into what comes next (the
    survey is one card that changes: two Bot API calls per answer, a short chat on a phone),
    then any further prompts as new messages. The pop-up and the edit go out together."""
    bot = query.get_bot()
    answering = asyncio.ensure_future(answer_press(bot, query.id, renderer.toast()))
    try:
        if query.message is None:
            return
        chat_id = query.message.chat.id
        prompts = [p for p in renderer.reply.prompts if p.kind != "notice"]
        if edit and not prompts and renderer.reply.echo is not None:
            prompts = [renderer.reply.echo]
        if edit and prompts:
            first, prompts = prompts[0], prompts[1:]
            text, keyboard = renderer.text(first), renderer.keyboard(first)
            await edit_pressed(bot, chat_id, query.message.message_id, text, keyboard)
        for prompt in prompts:
            await send_prompt(renderer, bot, chat_id, prompt)
    finally:
        await answering


async def answer_press(bot: Bot, query_id: str, toast: str | None) -> None:
    """Stop the button's spinner, with a pop-up if there is one."""
    try:
        await send(
            partial(call_api, bot, "answerCallbackQuery", callback_query_id=query_id, text=toast)
        )
    except BadRequest as error:  # e.g. "query is too old" after a restart: still show the reply
        log.info("could not answer a button press: %s", error.message)


async def send_prompt(renderer: Renderer, bot: Bot, chat_id: int, prompt: Prompt) -> None:
    """Send one prompt as a new message."""
    text, keyboard = renderer.text(prompt), renderer.keyboard(prompt)
    await send(
        partial(
            call_api,
            bot,
            "sendMessage",
            chat_id=chat_id,
            text=text,
            reply_markup=keyboard,
            link_preview_options=NO_PREVIEW,
        )
    )


async def edit_pressed(
    bot: Bot, chat_id: int, message_id: int, text: str, keyboard: dict[str, Any] | None
) -> None:
    """Replace the pressed message; an unchanged or vanished message is fine."""
    edit = partial(
        call_api,
        bot,
        "editMessageText",
        chat_id=chat_id,
        message_id=message_id,
        text=text,
        reply_markup=keyboard,
        link_preview_options=NO_PREVIEW,
    )
    try:
        await send(edit)
    except BadRequest as error:
        if "not modified" not in str(error).lower():
            log.info("could not edit a message: %s", error.message)


async def send(call: Callable[[], Awaitable[T]]) -> T:
    """Call the Bot API, honouring RetryAfter and retrying network errors with backoff."""
    delay = 0.5
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return await call()
        except RetryAfter as error:
            SEND_ERRORS.labels("RetryAfter").inc()
            if attempt == MAX_ATTEMPTS:
                raise
            await asyncio.sleep(retry_seconds(error.retry_after))
        except Forbidden:
            raise
        except (TimedOut, NetworkError) as error:
            if isinstance(error, BadRequest) or attempt == MAX_ATTEMPTS:
                raise
            SEND_ERRORS.labels(type(error).__name__).inc()
            log.info("Bot API call failed (%s); retry %d", type(error).__name__, attempt)
            await asyncio.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def retry_seconds(retry_after: object) -> float:
    """RetryAfter.retry_after is an int today and a timedelta in later PTB versions."""
    total = getattr(retry_after, "total_seconds", None)
    return float(total()) if callable(total) else float(retry_after)  # type: ignore[arg-type]
