"""Raw updates → PTB `Update`s, leaving out what the bot never reads."""

from __future__ import annotations

from typing import Any

from telegram import Bot, Update


def incoming_update(data: dict[str, Any], bot: Bot) -> Update | None:
    """The update as PTB sees it, without the pressed message's inline keyboard: nothing reads
    it, and its buttons were most of the objects PTB built for a press (a fifth of the CPU)."""
    pressed = (data.get("callback_query") or {}).get("message")
    if isinstance(pressed, dict) and "reply_markup" in pressed:
        pressed = {key: value for key, value in pressed.items() if key != "reply_markup"}
        data = data | {"callback_query": data["callback_query"] | {"message": pressed}}
    return Update.de_json(data, bot)
