"""Raw updates → PTB updates: a press keeps what the bot reads; junk is skipped, not raised."""

from __future__ import annotations

from typing import Any

from telegram import Bot, Message, Update

from bot.telegram.incoming import IncomingUpdates
from tests.telegram_harness import RunningBot

BOT = Bot("123456:test-token")


def press(update_id: int, message_id: int, data: str = "c:1:2") -> dict[str, Any]:
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"q{update_id}",
            "from": {
                "id": 1234567,
                "is_bot": False,
                "first_name": "Оксана",
                "username": "oksana",
                "language_code": "uk",
            },
            "chat_instance": "-42",
            "data": data,
            "message": {
                "message_id": message_id,
                "date": 1764400000,
                "chat": {"id": 1234567, "type": "private", "first_name": "Оксана"},
                "from": {"id": 42, "is_bot": True, "first_name": "Audit"},
                "text": "How do you rate …",
                "reply_markup": {"inline_keyboard": [[{"text": "5", "callback_data": "c:1:5"}]]},
            },
        },
    }


def test_a_press_keeps_everything_the_bot_reads() -> None:
    data = press(7, 99)
    ours, ptb = IncomingUpdates(BOT).parse(data), Update.de_json(data, BOT)
    assert ours is not None and ptb is not None
    query, expected = ours.callback_query, ptb.callback_query
    assert query is not None and expected is not None
    assert ours.update_id == 7
    assert (query.id, query.data, query.chat_instance) == ("q7", "c:1:2", "-42")
    assert query.from_user.to_dict() == expected.from_user.to_dict()
    assert isinstance(query.message, Message)
    assert query.message.chat.id == expected.message.chat.id  # type: ignore[union-attr]
    assert query.message.chat.type == "private"
    assert query.message.message_id == 99
    assert query.message.date == expected.message.date  # type: ignore[union-attr]
    assert query.message.text is None, "the pressed message's text is not read, so not kept"
    assert ours.effective_user == ptb.effective_user and ours.effective_chat == ptb.effective_chat
    assert query.get_bot() is BOT and ours.get_bot() is BOT


def test_presses_on_one_card_share_its_message_and_the_cache_is_bounded() -> None:
    incoming = IncomingUpdates(BOT, kept=2)
    first, again = incoming.parse(press(1, 10)), incoming.parse(press(2, 10, "c:1:3"))
    assert first is not None and again is not None
    assert again.callback_query.message is first.callback_query.message  # type: ignore[union-attr]
    assert again.callback_query.data == "c:1:3"  # type: ignore[union-attr]
    assert again.effective_user is first.effective_user, "one person, one built User"
    renamed = press(3, 10)
    renamed["callback_query"]["from"]["language_code"] = "pl"
    parsed = incoming.parse(renamed)
    assert parsed is not None and parsed.effective_user is not None
    assert parsed.effective_user.language_code == "pl", "a changed sender is built again"
    for message_id in (11, 12, 13):
        incoming.parse(press(message_id, message_id))
    later = incoming.parse(press(20, 10))
    assert later is not None
    assert later.callback_query.message is not first.callback_query.message  # type: ignore[union-attr]
    assert later.callback_query.message.message_id == 10  # type: ignore[union-attr]


def test_other_updates_and_inaccessible_messages_are_parsed_by_ptb() -> None:
    incoming = IncomingUpdates(BOT)
    old = press(3, 5)
    old["callback_query"]["message"] = {
        "chat": {"id": 1, "type": "private"},
        "message_id": 5,
        "date": 0,
    }
    parsed = incoming.parse(old)
    assert parsed is not None and parsed.callback_query is not None
    assert parsed.callback_query.message is not None
    assert not parsed.callback_query.message.is_accessible
    text = {
        "update_id": 4,
        "message": {"message_id": 1, "date": 1, "text": "hi", "chat": {"id": 1, "type": "private"}},
    }
    message = incoming.parse(text)
    assert message is not None and message.message is not None and message.message.text == "hi"


def test_a_malformed_update_is_skipped_not_raised() -> None:
    incoming = IncomingUpdates(BOT)
    broken = press(5, 6)
    del broken["callback_query"]["from"]
    assert incoming.parse(broken) is None
    assert incoming.parse({"message": {"text": "no update id"}}) is None
    assert incoming.parse({"update_id": "x", "callback_query": []}) is None


async def test_polling_goes_on_after_a_malformed_update(bot: RunningBot) -> None:
    person = bot.person("en")
    bot.server.push_update({"message": 5})  # PTB's parser raises on this
    await person.send("/start")
    assert person.received, "the update after the broken one is answered"


def test_a_sender_with_unexpected_nested_fields_is_still_parsed() -> None:
    data = press(8, 9)
    data["callback_query"]["from"]["future_field"] = {"nested": [1, 2]}
    parsed = IncomingUpdates(BOT).parse(data)
    assert parsed is not None and parsed.effective_user is not None
    assert parsed.effective_user.id == 1234567
    assert parsed.effective_user.api_kwargs == {"future_field": {"nested": [1, 2]}}
