"""The fake Bot API refuses what Telegram refuses, with Telegram's words: a table of
deliberately invalid calls (label, method, parameters, expected answer) that reads as the spec."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakebotapi import FakeBotApi

USER = 10001
OK_BUTTON = {"text": "Yes", "callback_data": "1|yes"}
TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
NO_TEXT_BUTTONS = (
    "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the "
    "inline keyboard"
)


def keyboard(*buttons: Any) -> dict[str, Any]:
    return {"inline_keyboard": [list(buttons)]}


def send(text: str = "Question?", **extra: Any) -> dict[str, Any]:
    return {"chat_id": USER, "text": text} | extra


def commands(*pairs: tuple[str, str], **extra: Any) -> dict[str, Any]:
    return {"commands": [{"command": c, "description": d} for c, d in pairs]} | extra


# (label, method, parameters, status, description); "{query}" is a fresh callback query id,
# "{answered}" one already answered.
INVALID: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("unknown method", "sendMessages", send(), 404, "Not Found"),
    ("no chat_id", "sendMessage", {"text": "x"}, 400, "Bad Request: chat_id is empty"),
    ("empty chat_id", "sendMessage", send(chat_id=""), 400, "Bad Request: chat_id is empty"),
    ("no text", "sendMessage", {"chat_id": USER}, 400, "Bad Request: message text is empty"),
    ("empty text", "sendMessage", send(""), 400, "Bad Request: message text is empty"),
    ("blank text", "sendMessage", send("   "), 400, "Bad Request: text must be non-empty"),
    ("text of 4097", "sendMessage", send("x" * 4097), 400, "Bad Request: message is too long"),
    ("text as a number", "sendMessage", send(42), 400, 'field "text" must be of type String'),
    ("unknown parameter", "sendMessage", send(txet="x"), 400, '"txet" is not a parameter'),
    ("parse_mode", "sendMessage", send(parse_mode="HTML5"), 400, "unsupported parse_mode"),
    (
        "unclosed tag",
        "sendMessage",
        send("<b>bold", parse_mode="HTML"),
        400,
        "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\"",
    ),
    (
        "unknown tag",
        "sendMessage",
        send("<p>x</p>", parse_mode="HTML"),
        400,
        'Unsupported start tag "p" at byte offset 0',
    ),
    (
        "unescaped <",
        "sendMessage",
        send("1 < 2", parse_mode="HTML"),
        400,
        'Unsupported start tag "" at byte offset 2',
    ),
    (
        "unescaped < after Cyrillic (byte offsets)",
        "sendMessage",
        send("Оцінка <5 з 10>", parse_mode="HTML"),
        400,
        'Unsupported start tag "5" at byte offset 13',
    ),
    (
        "crossed tags",
        "sendMessage",
        send("<b><i>x</b></i>", parse_mode="HTML"),
        400,
        'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"',
    ),
    (
        "end tag without start",
        "sendMessage",
        send("x</b>", parse_mode="HTML"),
        400,
        "Unexpected end tag at byte offset 1",
    ),
    (
        "empty callback_data",
        "sendMessage",
        send(reply_markup=keyboard({"text": "A", "callback_data": ""})),
        400,
        NO_TEXT_BUTTONS,
    ),
    (
        "no callback_data",
        "sendMessage",
        send(reply_markup=keyboard({"text": "A"})),
        400,
        NO_TEXT_BUTTONS,
    ),
    (
        "callback_data of 65 bytes",
        "sendMessage",
        send(reply_markup=keyboard({"text": "A", "callback_data": "x" * 65})),
        400,
        "Bad Request: BUTTON_DATA_INVALID",
    ),
    (
        "callback_data of 33 Cyrillic letters (66 bytes)",
        "sendMessage",
        send(reply_markup=keyboard({"text": "A", "callback_data": "ж" * 33})),
        400,
        "Bad Request: BUTTON_DATA_INVALID",
    ),
    (
        "button without text",
        "sendMessage",
        send(reply_markup=keyboard({"callback_data": "1"})),
        400,
        "Bad Request: can't parse inline keyboard button: Can't find field \"text\"",
    ),
    (
        "button with empty text",
        "sendMessage",
        send(reply_markup=keyboard({"text": "", "callback_data": "1"})),
        400,
        "Bad Request: inline keyboard button text must be non-empty",
    ),
    (
        "button text as a number",
        "sendMessage",
        send(reply_markup=keyboard({"text": 5, "callback_data": "1"})),
        400,
        'Bad Request: can\'t parse inline keyboard button: Field "text" must be of type String',
    ),
    (
        "button as a string",
        "sendMessage",
        send(reply_markup=keyboard("Yes")),
        400,
        "InlineKeyboardButton must be an Object",
    ),
    (
        "button with an unknown field",
        "sendMessage",
        send(reply_markup=keyboard(OK_BUTTON | {"colour": "red"})),
        400,
        '"colour" is not a field of InlineKeyboardButton',
    ),
    (
        "inline_keyboard not an array",
        "sendMessage",
        send(reply_markup={"inline_keyboard": "Yes"}),
        400,
        'Bad Request: field "inline_keyboard" must be of type Array',
    ),
    (
        "row not an array",
        "sendMessage",
        send(reply_markup={"inline_keyboard": [OK_BUTTON]}),
        400,
        'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays',
    ),
    (
        "reply_markup not JSON",
        "sendMessage",
        send(reply_markup="{inline_keyboard: [[]"),
        400,
        "Bad Request: can't parse reply keyboard markup JSON object",
    ),
    (
        "reply_markup an array",
        "sendMessage",
        send(reply_markup=[[OK_BUTTON]]),
        400,
        "Bad Request: object expected as reply markup",
    ),
    (
        "link_preview_options flag as text",
        "sendMessage",
        send(link_preview_options={"is_disabled": "yes"}),
        400,
        'field "is_disabled" must be of type Boolean',
    ),
    (
        "link_preview_options not an object",
        "sendMessage",
        send(link_preview_options=True),
        400,
        'field "link_preview_options" must be of type LinkPreviewOptions',
    ),
    (
        "pop-up of 201 characters",
        "answerCallbackQuery",
        {"callback_query_id": "{query}", "text": "x" * 201},
        400,
        "Bad Request: MESSAGE_TOO_LONG",
    ),
    (
        "second answer to a press",
        "answerCallbackQuery",
        {"callback_query_id": "{answered}"},
        400,
        TOO_OLD,
    ),
    ("answer without a query id", "answerCallbackQuery", {}, 400, TOO_OLD),
    (
        "answer to an unknown query",
        "answerCallbackQuery",
        {"callback_query_id": "nope"},
        400,
        TOO_OLD,
    ),
    (
        "caption of 1025",
        "sendDocument",
        {"chat_id": USER, "document": "https://example.org/a.pdf", "caption": "x" * 1025},
        400,
        "Bad Request: message caption is too long",
    ),
    (
        "document missing",
        "sendDocument",
        {"chat_id": USER},
        400,
        "Bad Request: there is no document in the request",
    ),
    (
        "command with a space",
        "setMyCommands",
        commands(("bad command", "Bad")),
        400,
        "Bad Request: BOT_COMMAND_INVALID",
    ),
    (
        "command in capitals",
        "setMyCommands",
        commands(("Start", "Start")),
        400,
        "Bad Request: BOT_COMMAND_INVALID",
    ),
    (
        "command of 33",
        "setMyCommands",
        commands(("a" * 33, "Long")),
        400,
        "Bad Request: BOT_COMMAND_INVALID",
    ),
    (
        "empty command",
        "setMyCommands",
        commands(("", "Empty")),
        400,
        "Bad Request: command must be non-empty",
    ),
    (
        "empty description",
        "setMyCommands",
        commands(("start", "")),
        400,
        "Bad Request: command description must be non-empty",
    ),
    (
        "description of 257",
        "setMyCommands",
        commands(("start", "x" * 257)),
        400,
        "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID",
    ),
    (
        "101 commands",
        "setMyCommands",
        commands(*[(f"c{n}", "x") for n in range(101)]),
        400,
        "too many commands",
    ),
    (
        "unknown scope",
        "setMyCommands",
        commands(("start", "Start"), scope={"type": "everyone"}),
        400,
        "Bad Request: can't parse BotCommandScope: Unsupported type specified",
    ),
    (
        "chat scope without chat_id",
        "setMyCommands",
        commands(("start", "Start"), scope={"type": "chat"}),
        400,
        "Bad Request: can't parse BotCommandScope: Can't find field \"chat_id\"",
    ),
    (
        "member scope without user_id",
        "setMyCommands",
        commands(("start", "Start"), scope={"type": "chat_member", "chat_id": 1}),
        400,
        'Can\'t find field "user_id"',
    ),
    (
        "language code",
        "setMyCommands",
        commands(("start", "Start"), language_code="ukr"),
        400,
        "invalid language code",
    ),
    ("commands missing", "setMyCommands", {}, 400, 'parameter "commands" is required'),
    ("limit 0", "getUpdates", {"limit": 0}, 400, "limit must be between 1 and 100"),
    ("limit 101", "getUpdates", {"limit": 101}, 400, "limit must be between 1 and 100"),
    (
        "unknown update type",
        "getUpdates",
        {"allowed_updates": ["message", "messages"]},
        400,
        'unknown update type "messages"',
    ),
    ("update type as a number", "getUpdates", {"allowed_updates": [1]}, 400, "Array of String"),
    (
        "http webhook",
        "setWebhook",
        {"url": "http://bot.example.org/hook"},
        400,
        "bad webhook: An HTTPS URL must be provided for webhook",
    ),
    (
        "webhook port",
        "setWebhook",
        {"url": "https://bot.example.org:8080/hook"},
        400,
        "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
    ),
    (
        "webhook secret",
        "setWebhook",
        {"url": "https://bot.example.org/hook", "secret_token": "a b"},
        400,
        "secret token contains unallowed characters",
    ),
    (
        "webhook update type",
        "setWebhook",
        {"url": "https://bot.example.org/hook", "allowed_updates": ["chat_members"]},
        400,
        "unknown update type",
    ),
    (
        "edit with a reply keyboard",
        "editMessageText",
        {"chat_id": USER, "message_id": 1, "text": "x", "reply_markup": {"keyboard": [["A"]]}},
        400,
        "inline keyboard",
    ),
    (
        "edit a message that is not there",
        "editMessageText",
        {"chat_id": USER, "message_id": 999, "text": "x"},
        400,
        "Bad Request: message to edit not found",
    ),
    (
        "edit to empty text",
        "editMessageText",
        {"chat_id": USER, "message_id": 1, "text": ""},
        400,
        "message text is empty",
    ),
    (
        "message id as text",
        "deleteMessage",
        {"chat_id": USER, "message_id": "first"},
        400,
        'field "message_id" must be of type Integer',
    ),
    (
        "delete without a message id",
        "deleteMessage",
        {"chat_id": USER},
        400,
        "Bad Request: message identifier is not specified",
    ),
]


@pytest.fixture
async def server() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as fake:
        fake.user(USER)
        fake.store_message(USER, fake.bot_user, {"text": "A question"})  # message 1
        yield fake


async def call(
    server: FakeBotApi, method: str, params: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    url = f"{server.url}/bot{server.token}/{method}"
    async with aiohttp.ClientSession() as http, http.post(url, json=params) as response:
        return response.status, await response.json()


def test_the_table_covers_every_kind_the_issue_counts() -> None:
    assert len(INVALID) >= 46
    assert len({label for label, *_ in INVALID}) == len(INVALID)


@pytest.mark.parametrize(
    ("method", "params", "status", "description"),
    [pytest.param(*row[1:], id=row[0]) for row in INVALID],
)
async def test_an_invalid_call_is_refused_as_telegram_refuses_it(
    server: FakeBotApi, method: str, params: dict[str, Any], status: int, description: str
) -> None:
    answered = server.new_callback_query(USER)
    assert (await call(server, "answerCallbackQuery", {"callback_query_id": answered}))[0] == 200
    params = {
        key: {"{query}": server.new_callback_query(USER), "{answered}": answered}.get(value, value)
        if isinstance(value, str)
        else value
        for key, value in params.items()
    }
    got_status, body = await call(server, method, params)
    assert (got_status, body["ok"], body["error_code"]) == (status, False, status), body
    assert description in body["description"], body
    assert server.calls[-1].error is not None  # recorded as failed, for assertions in tests


async def test_valid_calls_of_the_same_kinds_pass(server: FakeBotApi) -> None:
    valid = [
        ("sendMessage", send("<b>1 &lt; 2</b> & <i>3 > 2</i>", parse_mode="html")),
        (
            "sendMessage",
            send("ж" * 4096, reply_markup=keyboard({"text": "A", "callback_data": "ж" * 32})),
        ),
        (
            "sendMessage",
            send(
                "x",
                link_preview_options={"is_disabled": True},
                reply_markup={"remove_keyboard": True},
            ),
        ),
        (
            "sendMessage",
            send("x", reply_markup={"keyboard": [["A", {"text": "B"}]], "resize_keyboard": True}),
        ),
        (
            "answerCallbackQuery",
            {"callback_query_id": server.new_callback_query(USER), "text": "x" * 200},
        ),
        (
            "sendDocument",
            {"chat_id": USER, "document": "https://example.org/a.pdf", "caption": "x" * 1024},
        ),
        (
            "setMyCommands",
            commands(
                ("start", "x" * 256),
                ("a" * 32, "y"),
                scope={"type": "all_private_chats"},
                language_code="uk",
            ),
        ),
        ("setMyCommands", commands(("start", "Start"), scope={"type": "chat", "chat_id": USER})),
        (
            "getUpdates",
            {"limit": 100, "timeout": 0, "allowed_updates": ["message", "callback_query"]},
        ),
        (
            "editMessageText",
            {
                "chat_id": USER,
                "message_id": 1,
                "text": "Changed",
                "reply_markup": keyboard(OK_BUTTON),
            },
        ),
        ("setWebhook", {"url": "https://bot.example.org:8443/hook", "secret_token": "A-z_09"}),
        ("deleteWebhook", {}),
    ]
    for method, params in valid:
        status, body = await call(server, method, params)
        assert status == 200, (method, body)


async def test_a_form_encoded_call_is_checked_too(server: FakeBotApi) -> None:
    url = f"{server.url}/bot{server.token}/sendMessage"
    async with aiohttp.ClientSession() as http:
        form = {
            "chat_id": str(USER),
            "text": "x",
            "reply_markup": '{"inline_keyboard": [[{"text": "A"}]]}',
        }
        async with http.post(url, data=form) as response:
            assert response.status == 400
            assert (await response.json())["description"] == NO_TEXT_BUTTONS
        async with http.post(
            url, data=b"[1, 2", headers={"Content-Type": "application/json"}
        ) as response:
            assert response.status == 400  # a body that is no JSON object supplies nothing
            assert (await response.json())["description"] == "Bad Request: chat_id is empty"


async def test_the_bot_asks_telegram_only_for_the_updates_it_handles(database_url: str) -> None:
    from bot.telegram.incoming import ALLOWED_UPDATES
    from tests.telegram_harness import running_bot

    async with running_bot(database_url) as bot:
        person = bot.person("en")
        await person.send("/start")
        assert "English" in person.buttons()
        sent = await bot.server.wait_for(lambda: bot.server.calls_to("getUpdates"))
        assert {tuple(call.params["allowed_updates"]) for call in sent} == {ALLOWED_UPDATES}
        # each of those types has its handler: an edited message gets the hint and the question
        before = len(person.received)
        edit = bot.server.new_message(person.id, person.user.user, {"text": "edited"})
        edited = bot.server.push_update({"edited_message": edit | {"edit_date": edit["date"]}})
        await bot.processor.wait(edited["update_id"])
        assert len(person.received) > before
