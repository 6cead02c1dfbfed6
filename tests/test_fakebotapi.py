"""AiohttpRequest + FakeBotApi end to end: real PTB objects talking real HTTP to the fake server."""

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, MessageEntity, Update
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    EndPointNotFound,
    Forbidden,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes

from bot.transport import AiohttpRequest
from tests.fakebotapi import FakeBotApi

KEYBOARD = InlineKeyboardMarkup(
    [
        [
            InlineKeyboardButton("Так", callback_data="yes"),
            InlineKeyboardButton("Ні", callback_data="no"),
        ]
    ]
)


@pytest.fixture
async def server() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as fake:
        yield fake


@pytest.fixture
async def bot(server: FakeBotApi) -> AsyncIterator[Bot]:
    async with Bot(
        server.token,
        base_url=f"{server.url}/bot",
        base_file_url=f"{server.url}/file/bot",
        request=AiohttpRequest(),
        get_updates_request=AiohttpRequest(),
    ) as telegram_bot:
        yield telegram_bot


async def test_get_me(bot: Bot, server: FakeBotApi) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123456, "test_bot", True)
    assert [c.method for c in server.calls] == ["getMe", "getMe"]  # initialize() + explicit


async def test_send_and_edit_message_with_keyboard(bot: Bot, server: FakeBotApi) -> None:
    user = server.user()
    sent = await bot.send_message(user.id, "Питання?", reply_markup=KEYBOARD)
    assert sent.message_id == 1
    assert sent.from_user is not None and sent.from_user.id == bot.id
    assert sent.reply_markup == KEYBOARD
    assert user.last is not None and user.last["text"] == "Питання?"
    assert user.last["reply_markup"]["inline_keyboard"][0][1]["callback_data"] == "no"

    edited = await bot.edit_message_text("Дякую", chat_id=user.id, message_id=sent.message_id)
    assert isinstance(edited, type(sent)) and edited.text == "Дякую"
    assert len(user.received) == 1
    assert user.last["text"] == "Дякую"
    assert "reply_markup" not in user.last  # like Telegram: an edit without markup drops it
    await bot.edit_message_reply_markup(user.id, sent.message_id, reply_markup=KEYBOARD)
    assert user.last["reply_markup"] == KEYBOARD.to_dict()
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_reply_markup(user.id, sent.message_id, reply_markup=KEYBOARD)
    assert [e.kind for e in server.events] == ["sent", "edited", "edited"]

    second = await bot.send_message(user.id, "<b>жирний</b> &amp; ні", parse_mode=ParseMode.HTML)
    assert second.message_id == 2 and second.text == "жирний & ні"
    with pytest.raises(BadRequest, match=r"(?i)can.t parse entities"):
        await bot.send_message(user.id, "<b>unclosed", parse_mode=ParseMode.HTML)
    assert await bot.delete_message(user.id, second.message_id)
    assert [m["message_id"] for m in user.received] == [1]


async def test_get_updates_message_and_callback_query(bot: Bot, server: FakeBotApi) -> None:
    user = server.user(first_name="Olena")
    await user.send("/start ref42")
    updates = await bot.get_updates(timeout=1)
    assert len(updates) == 1
    message = updates[0].message
    assert message is not None and message.text == "/start ref42"
    assert message.from_user is not None and message.from_user.language_code == "uk"
    assert message.entities[0].type == MessageEntity.BOT_COMMAND
    assert message.entities[0].length == len("/start")

    await bot.send_message(user.id, "Питання?", reply_markup=KEYBOARD)
    await user.press_text("Ні")
    updates = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=1)
    assert len(updates) == 1  # the /start update was confirmed by offset
    query = updates[0].callback_query
    assert query is not None and query.data == "no"
    assert query.message is not None and query.message.message_id == 2
    assert query.from_user.first_name == "Olena"
    assert await bot.answer_callback_query(query.id, text="Записано")
    assert [a["text"] for a in user.callback_answers] == ["Записано"]


async def test_get_updates_long_polls_until_an_update_arrives(bot: Bot, server: FakeBotApi) -> None:
    user = server.user()
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert time.monotonic() - started >= 0.9

    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await server.wait_for(lambda: len(server.calls_to("getUpdates")) == 2)
    started = time.monotonic()
    await user.send("привіт")
    updates = await poll
    assert time.monotonic() - started < 2
    assert updates[0].message is not None and updates[0].message.text == "привіт"


async def test_duplicate_update_ids_are_delivered(bot: Bot, server: FakeBotApi) -> None:
    first = server.push_update(
        {"message": server.new_message(7, server.user(7).user, {"text": "x"})}
    )
    server.push_update(first)
    updates = await bot.get_updates()
    assert [u.update_id for u in updates] == [first["update_id"]] * 2
    assert all(isinstance(u, Update) for u in updates)


async def test_fail_next_429_raises_retry_after(bot: Bot, server: FakeBotApi) -> None:
    user = server.user()
    server.fail_next("sendMessage", status=429, retry_after=3, chat_id=user.id)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(user.id, "one")
    retry_after = caught.value.retry_after
    seconds = retry_after.total_seconds() if isinstance(retry_after, timedelta) else retry_after
    assert seconds == 3
    await bot.send_message(user.id, "two")  # only the next call failed
    assert [c.error.status if c.error else 200 for c in server.calls_to("sendMessage")] == [
        429,
        200,
    ]
    assert [m["text"] for m in user.received] == ["two"]


async def test_403_and_server_errors(bot: Bot, server: FakeBotApi) -> None:
    user = server.user()
    server.block(user.id)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(user.id, "hi")
    server.block(user.id, blocked=False)
    server.fail_next("sendMessage", status=403)
    with pytest.raises(Forbidden):
        await bot.send_message(user.id, "hi")
    server.fail_next("*", status=502, times=2)
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.get_me()
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(user.id, "hi")
    await bot.send_message(user.id, "hi")
    assert len(user.received) == 1
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("noSuchMethod")


async def test_send_document_round_trips_bytes(bot: Bot, server: FakeBotApi) -> None:
    user = server.user()
    content = "місто;оцінка\nВаршава;5\n".encode() * 1000
    sent = await bot.send_document(user.id, content, filename="audit.csv", caption="Звіт")
    assert sent.document is not None and sent.document.file_name == "audit.csv"
    assert sent.document.file_size == len(content) and sent.caption == "Звіт"
    upload = server.calls_to("sendDocument")[0].files["document"]
    assert (upload.filename, upload.content) == ("audit.csv", content)
    file = await bot.get_file(sent.document.file_id)
    assert await file.download_as_bytearray() == content


async def test_timeouts_and_connection_errors_map_to_ptb_errors(
    bot: Bot, server: FakeBotApi
) -> None:
    server.delays["getMe"] = 1.0
    with pytest.raises(TimedOut):
        await bot.get_me(read_timeout=0.1)
    async with FakeBotApi() as gone:
        url = f"{gone.url}/bot{gone.token}/getMe"
    async with AiohttpRequest() as request:
        with pytest.raises(NetworkError):
            await request.post(url)
    assert AiohttpRequest(read_timeout=7).read_timeout == 7


async def test_commands_and_webhook(bot: Bot, server: FakeBotApi) -> None:
    await bot.set_my_commands([("start", "Почати")], language_code="uk")
    assert [c.command for c in await bot.get_my_commands(language_code="uk")] == ["start"]
    assert await bot.get_my_commands() == ()
    await bot.delete_my_commands(language_code="uk")
    assert server.commands == {}
    await bot.set_webhook("https://example.org/hook")
    assert (await bot.get_webhook_info()).url == "https://example.org/hook"
    assert await bot.delete_webhook()
    assert await bot.close()


async def test_application_replies_to_start(server: FakeBotApi) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("hi")

    app = (
        ApplicationBuilder()
        .token(server.token)
        .base_url(f"{server.url}/bot")
        .request(AiohttpRequest())
        .get_updates_request(AiohttpRequest())
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    user = server.user()
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        await user.send("/start")
        reply = await user.wait_reply()
        assert reply["text"] == "hi"
        await user.send("/start")
        assert (await user.wait_reply())["message_id"] == 4  # ids are shared per chat
        await app.updater.stop()
        await app.stop()
    assert server.calls_to("deleteWebhook")  # bootstrap of start_polling


async def test_runs_as_a_process() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fakebotapi", "--port", "0", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        url = (await asyncio.wait_for(process.stdout.readline(), 10)).decode().strip()
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url}/bot123456:TEST-token/getMe") as response:
                assert (await response.json())["result"]["username"] == "test_bot"
            async with session.post(f"{url}/_fake/updates", json={"message": {}}) as response:
                assert (await response.json())["update_id"] == 1
    finally:
        process.terminate()
        await process.wait()
