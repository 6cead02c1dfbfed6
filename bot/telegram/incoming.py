"""Raw updates → PTB `Update`s, leaving out what the bot never reads."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from telegram import Bot, CallbackQuery, Message, Update, User

log = logging.getLogger(__name__)
# The update types the handlers read (bot/telegram/app.py: messages and their edits, which get
# a hint, and button presses). Polling and the webhook ask Telegram for these alone.
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
# Pressed cards and their senders kept built. A person presses on the same card for the whole
# survey (it is edited in place), so a few thousand cover everyone answering at once.
KEPT = 4096


class IncomingUpdates:
    """Parses the updates of one bot. Of a pressed message only its chat (id and type), id and
    date are kept: the bot reads nothing else of it (it edits it by chat and id). PTB building
    that `Message` — a hundred attributes, even when empty — was half the CPU of turning a press
    into an `Update`. PTB's objects are frozen, and a card's chat, id and date never change, so
    one built `Message` serves every press on that card (and one `User` every press of a
    person, while their name and settings stay the same)."""

    def __init__(self, bot: Bot, kept: int = KEPT) -> None:
        """Parse for `bot`, keeping up to `kept` pressed messages and senders built."""
        self._bot = bot
        self._card = lru_cache(maxsize=kept)(self._build_card)
        self._sender = lru_cache(maxsize=kept)(self._build_sender)

    def parse(self, data: dict[str, Any]) -> Update | None:
        """The update as PTB sees it; None for one that is not an update (logged, skipped:
        one malformed update must not stop the others)."""
        try:
            return self._parse(data)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError, OSError) as error:
            log.warning("skipped an update that could not be read: %s", type(error).__name__)
            return None

    def _parse(self, data: dict[str, Any]) -> Update | None:
        query = data.get("callback_query")
        if isinstance(query, dict) and isinstance(query.get("message"), dict):
            pressed = self._pressed(query["message"])
            if pressed is not None:
                return self._press(data["update_id"], query, pressed)
        return Update.de_json(data, self._bot)

    def _press(self, update_id: int, query: dict[str, Any], pressed: Message) -> Update:
        """A callback query on a known message, every field of `CallbackQuery` as Telegram sent it."""
        sender = query["from"]
        try:
            user = self._sender(tuple(sender.items()))
        except TypeError:  # a field sent as an object is not hashable: built, not kept
            user = User.de_json(sender, self._bot)
        callback_query = CallbackQuery(
            id=query["id"],
            from_user=user,
            chat_instance=query["chat_instance"],
            message=pressed,
            data=query.get("data"),
            inline_message_id=query.get("inline_message_id"),
            game_short_name=query.get("game_short_name"),
        )
        callback_query.set_bot(self._bot)
        update = Update(update_id, callback_query=callback_query)
        update.set_bot(self._bot)
        return update

    def _pressed(self, message: dict[str, Any]) -> Message | None:
        """The pressed message reduced to chat, id and date; None when it is not an ordinary
        message (an inaccessible one has date 0: PTB's parser decides)."""
        chat = message.get("chat")
        if not isinstance(chat, dict) or not message.get("date"):
            return None
        return self._card(
            chat.get("id"), chat.get("type"), message.get("message_id"), message["date"]
        )

    def _build_card(self, chat_id: Any, chat_type: Any, message_id: Any, date: Any) -> Message:
        kept = {"chat": {"id": chat_id, "type": chat_type}, "message_id": message_id, "date": date}
        return Message.de_json(kept, self._bot)

    def _build_sender(self, fields: tuple[tuple[str, Any], ...]) -> User:
        return User.de_json(dict(fields), self._bot)
