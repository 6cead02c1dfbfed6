"""Raw updates → PTB `Update`s, leaving out what the bot never reads."""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

from telegram import Bot, CallbackQuery, Message, Update, User

log = logging.getLogger(__name__)
# Survey cards kept built. A person presses on the same card for the whole survey (it is edited
# in place), so a few thousand cover everyone answering at once.
PRESSED_CARDS = 4096


class IncomingUpdates:
    """Parses the updates of one bot. Of a pressed message only its chat (id and type), id and
    date are kept: the bot reads nothing else of it (it edits it by chat and id). PTB building
    that `Message` — a hundred attributes, even when empty — was half the CPU of turning a press
    into an `Update`; as `Message`s are frozen and a card's chat, id and date never change, one
    built `Message` serves every press on that card."""

    def __init__(self, bot: Bot, cards: int = PRESSED_CARDS) -> None:
        """Parse for `bot`, keeping up to `cards` pressed messages built."""
        self._bot = bot
        self._cards: OrderedDict[tuple[Any, ...], Message] = OrderedDict()
        self._limit = cards

    def parse(self, data: dict[str, Any]) -> Update | None:
        """The update as PTB sees it; None for one that is not an update (logged, skipped:
        one malformed update must not stop the others)."""
        try:
            return self._parse(data)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
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
        callback_query = CallbackQuery(
            id=query["id"],
            from_user=User.de_json(query["from"], self._bot),
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
        """The pressed message reduced to chat, id and date, built once per card; None when
        it is not an ordinary message (an inaccessible one has date 0: PTB's parser decides)."""
        chat = message.get("chat")
        if not isinstance(chat, dict) or not message.get("date"):
            return None
        key = (chat.get("id"), chat.get("type"), message.get("message_id"), message["date"])
        built = self._cards.get(key)
        if built is None:
            kept = {"chat": {"id": key[0], "type": key[1]}, "message_id": key[2], "date": key[3]}
            built = Message.de_json(kept, self._bot)
            self._cards[key] = built
            if len(self._cards) > self._limit:
                self._cards.popitem(last=False)
        else:
            self._cards.move_to_end(key)
        return built
