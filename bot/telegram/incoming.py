"""Raw updates → PTB `Update`s, leaving out what the bot never reads."""

from __future__ import annotations

from typing import Any

from telegram import Bot, Update


def incoming_update(data: dict[str, Any], bot: Bot) -> Update | None:
    """The update as PTB sees it; of a pressed message only its chat, id and date are kept.
    The bot reads nothing else of it (it edits it by chat and id), and PTB building the whole
    `Message` — text, sender, keyboard — was half the CPU of turning a press into an `Update`."""
    query = data.get("callback_query")
    pressed = query.get("message") if isinstance(query, dict) else None
    if isinstance(query, dict) and isinstance(pressed, dict):
        kept = {key: pressed[key] for key in ("chat", "message_id", "date") if key in pressed}
        data = data | {"callback_query": query | {"message": kept}}
    return Update.de_json(data, bot)
