"""A local, Telegram Bot API–compatible HTTP server for tests, with simulated users.

Run in-process (``async with FakeBotApi() as server``) or as a process:
``python -m tests.fakebotapi --port P`` prints its URL and serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import itertools
import json
import random
import re
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol, TypeVar

from aiohttp import web

from tests.botapi_check import STRING_PARAMS, Refused, check_call, plain_text

JSON = dict[str, Any]
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

ERROR_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
COMMAND = re.compile(r"/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?")


class ApiError(Exception):
    """A Bot API error answer: HTTP status, description and optional ``parameters``."""

    def __init__(self, status: int, description: str | None = None, parameters: JSON | None = None):
        self.status = status
        self.description = description or ERROR_DESCRIPTIONS.get(status, HTTPStatus(status).phrase)
        self.parameters = parameters
        super().__init__(f"{status} {self.description}")

    @classmethod
    def make(cls, status: int, retry_after: int = 1, description: str | None = None) -> ApiError:
        """Build the error Telegram sends for ``status`` (429 carries ``retry_after``)."""
        if status == 429:
            return cls(
                429,
                description or f"Too Many Requests: retry after {retry_after}",
                {"retry_after": retry_after},
            )
        return cls(status, description)

    def body(self) -> JSON:
        """The JSON body of the error answer."""
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass
class UploadedFile:
    """A file the bot uploaded (or a user "sent"), addressable by ``file_id``."""

    filename: str | None
    content: bytes
    mime_type: str | None = None
    file_id: str = ""
    file_unique_id: str = ""


@dataclass
class Call:
    """One Bot API request as received: decoded params, uploaded files and the error answered."""

    method: str
    params: JSON
    time: float
    files: dict[str, UploadedFile] = field(default_factory=dict)
    error: ApiError | None = None
    delay: float = 0.0  # set by a fault rule: answer late (but carry the call out)


@dataclass
class BotEvent:
    """A change the bot made to a chat: ``kind`` is sent/edited/deleted; ``message`` a snapshot."""

    kind: str
    chat_id: int
    message_id: int
    message: JSON


class FaultRule(Protocol):
    """Consulted for every call, in order; returning an ApiError answers the call with it."""

    def __call__(self, call: Call) -> ApiError | None: ...


@dataclass
class FailNext:
    """Fault rule: answer the next ``times`` calls of ``method`` (``"*"`` = any) with an error."""

    method: str
    status: int = 429
    retry_after: int = 1
    times: int = 1
    chat_id: int | None = None
    description: str | None = None

    def __call__(self, call: Call) -> ApiError | None:
        """Return the error while calls remain and the call matches."""
        if self.times <= 0 or self.method not in ("*", call.method):
            return None
        if self.chat_id is not None and call.params.get("chat_id") != self.chat_id:
            return None
        self.times -= 1
        return ApiError.make(self.status, self.retry_after, self.description)


class Drop(Exception):
    """Fault: close the connection without an answer (the call is not carried out)."""


class Hang(Exception):
    """Fault: answer nothing for `seconds`, then drop (the call is not carried out)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


@dataclass
class RandomFaults:
    """Fault rule: a share of calls to `methods` fail in random ways (reproducible by seed).

    Kinds: 429 with retry_after, 500, 502, a slow answer (then carried out), a hang until the
    client gives up, a dropped connection. Failed calls are not carried out, as a gateway error
    in front of Telegram would leave them.
    """

    rate: float = 0.2
    seed: int = 1
    methods: tuple[str, ...] = (
        "sendMessage",
        "editMessageText",
        "answerCallbackQuery",
        "sendDocument",
    )
    kinds: tuple[str, ...] = ("429", "500", "502", "slow", "hang", "drop")
    slow: float = 0.3
    hang: float = 1.5
    seen: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def __call__(self, call: Call) -> ApiError | None:
        """Maybe fail this call."""
        if call.method not in self.methods or self._random.random() >= self.rate:
            return None
        kind = self._random.choice(self.kinds)
        self.seen[kind] += 1
        if kind == "429":
            return ApiError.make(429, retry_after=1)
        if kind in ("500", "502"):
            return ApiError.make(int(kind))
        if kind == "drop":
            raise Drop()
        if kind == "hang":
            raise Hang(self.hang)
        call.delay = self.slow
        return None


def api(*names: str) -> Callable[[F], F]:
    """Mark a FakeBotApi coroutine method as the handler of Bot API method(s) ``names``."""

    def mark(fn: F) -> F:
        fn.api_methods = names  # type: ignore[attr-defined]
        return fn

    return mark


def _coerce(key: str, value: Any) -> Any:
    if not isinstance(value, str) or key in STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _plain_text(text: str, parse_mode: str | None) -> str:
    """The text a user sees (HTML parsed and checked as Telegram does; see botapi_check)."""
    try:
        return plain_text(text, parse_mode)
    except Refused as refused:
        raise ApiError(refused.status, refused.description) from None


def _buttons(message: JSON | None) -> list[JSON]:
    if not message:
        return []
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [button for row in rows for button in row]


class FakeUser:
    """A simulated private-chat user; every action enqueues an Update and returns it (raw)."""

    def __init__(
        self,
        server: FakeBotApi,
        user_id: int,
        first_name: str,
        language_code: str | None,
        last_name: str | None = None,
        username: str | None = None,
    ) -> None:
        self.server = server
        self.id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self._cursor = len(server.events)

    @property
    def user(self) -> JSON:
        """The Bot API User object."""
        user: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        optional = {
            "last_name": self.last_name,
            "username": self.username,
            "language_code": self.language_code,
        }
        return user | {k: v for k, v in optional.items() if v is not None}

    @property
    def chat(self) -> JSON:
        """The Bot API Chat object of the private chat with the bot."""
        chat: JSON = {"id": self.id, "type": "private", "first_name": self.first_name}
        optional = {"last_name": self.last_name, "username": self.username}
        return chat | {k: v for k, v in optional.items() if v is not None}

    @property
    def received(self) -> list[JSON]:
        """Bot messages in this chat, oldest first, in their current state (after edits)."""
        return self.server.messages(self.id)

    @property
    def last(self) -> JSON | None:
        """The latest bot message in this chat, or None."""
        return self.server.last_message(self.id)

    @property
    def callback_answers(self) -> list[JSON]:
        """answerCallbackQuery params for this user's button presses, in order."""
        return [a for a in self.server.callback_answers if a["user_id"] == self.id]

    @property
    def keyboard(self) -> JSON | None:
        """The reply keyboard currently shown to the user (ReplyKeyboardMarkup), if any."""
        return self.server.reply_keyboards.get(self.id)

    async def send(self, text: str, **extra: Any) -> JSON:
        """Send a text message (a leading /command gets a ``bot_command`` entity)."""
        content: JSON = {"text": text}
        if match := COMMAND.match(text):
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": match.end()}]
        return self._send(content | extra)

    async def send_photo(self, caption: str | None = None, content: bytes = b"\x89PNG") -> JSON:
        """Send a photo (registered as a downloadable file)."""
        file = self.server.add_file(UploadedFile("photo.png", content, "image/png"))
        size = {"file_id": file.file_id, "file_unique_id": file.file_unique_id}
        photo = [size | {"width": 90, "height": 90, "file_size": len(content)}]
        return self._send({"photo": photo} | ({"caption": caption} if caption else {}))

    async def send_sticker(self, emoji: str = "👍") -> JSON:
        """Send a static sticker."""
        file = self.server.add_file(UploadedFile("sticker.webp", b"RIFF", "image/webp"))
        sticker = {
            "file_id": file.file_id,
            "file_unique_id": file.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return self._send({"sticker": sticker})

    async def press(self, callback_data: str, message: JSON | int | None = None) -> JSON:
        """Press an inline button: on ``message`` (dict or id) or the latest one carrying it."""
        if isinstance(message, int):
            target = self.server.message(self.id, message)
        elif message is not None:
            target = self.server.message(self.id, message["message_id"]) or message
        else:
            target = next(
                (
                    m
                    for m in reversed(self.received)
                    if any(b.get("callback_data") == callback_data for b in _buttons(m))
                ),
                self.last,
            )
        if target is None:
            raise LookupError(f"user {self.id}: no bot message to press {callback_data!r} on")
        self._cursor = len(self.server.events)
        query_id = self.server.new_callback_query(self.id)
        query = {
            "id": query_id,
            "from": self.user,
            "message": target,
            "chat_instance": str(self.id),
            "data": callback_data,
        }
        return self.server.push_update({"callback_query": query})

    async def press_text(self, label: str) -> JSON:
        """Press the button labelled ``label``: inline (latest keyboard message), else reply one."""
        latest = next((m for m in reversed(self.received) if _buttons(m)), None)
        for button in _buttons(latest):
            if button["text"] == label:
                if "callback_data" not in button:
                    raise ValueError(f"button {label!r} has no callback_data: {button}")
                return await self.press(button["callback_data"], latest)
        rows = (self.keyboard or {}).get("keyboard") or []
        if any((b if isinstance(b, str) else b["text"]) == label for row in rows for b in row):
            return await self.send(label)
        raise LookupError(f"user {self.id}: no button {label!r}; last message: {latest}")

    async def wait_reply(self, timeout: float = 5.0) -> JSON:  # noqa: ASYNC109
        """Wait for the next message sent/edited in this chat since the user's last action."""

        def next_event() -> tuple[int, BotEvent] | None:
            events = self.server.events
            for index in range(self._cursor, len(events)):
                if events[index].chat_id == self.id and events[index].kind != "deleted":
                    return index, events[index]
            return None

        index, event = await self.server.wait_for(next_event, timeout)
        self._cursor = index + 1
        return event.message

    def _send(self, content: JSON) -> JSON:
        self._cursor = len(self.server.events)
        message = self.server.new_message(self.id, self.user, content)
        return self.server.push_update({"message": message})


class FakeBotApi:
    """Bot API over HTTP at ``{url}/bot{token}/{method}`` (POST JSON/form/multipart, or GET).

    PTB builds request URLs as ``base_url + token + "/" + method`` (or substitutes ``{token}``
    in ``base_url``), so point it here with::

        ApplicationBuilder().token(server.token).base_url(f"{server.url}/bot")
            .base_file_url(f"{server.url}/file/bot")   # for File.download_*

    State for assertions: ``calls``, ``events``, ``messages(chat_id)``, ``files``,
    ``callback_answers``, ``commands``, ``reply_keyboards``. Fault injection: ``fail_next``,
    ``block``, ``delay``/``delays`` and ``faults`` (append any FaultRule). New Bot API methods:
    subclass and add ``@api("methodName") async def ...(self, call) -> result``.
    """

    def __init__(
        self,
        token: str = "123456:TEST-token",
        host: str = "127.0.0.1",
        port: int = 0,
        bot_username: str = "test_bot",
    ) -> None:
        self.token = token
        self.host = host
        self.port = port
        self.bot_user: JSON = {
            "id": int(token.split(":")[0]),
            "is_bot": True,
            "first_name": "Test Bot",
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.calls: list[Call] = []
        self.events: list[BotEvent] = []
        self.users: dict[int, FakeUser] = {}
        self.files: dict[str, UploadedFile] = {}
        self.callback_answers: list[JSON] = []
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self.reply_keyboards: dict[int, JSON] = {}
        self.blocked: set[int] = set()
        self.faults: list[FaultRule] = [self._blocked_fault]
        self.delay = 0.0  # seconds before answering any method but getUpdates
        self.delays: dict[str, float] = {}  # per-method override of ``delay``
        self.webhook_url = ""
        self.allowed_updates: list[str] = []
        self._updates: list[JSON] = []
        self._chats: dict[int, dict[int, JSON]] = {}
        self._next_message_ids: dict[int, int] = {}
        self._callback_queries: dict[str, int] = {}
        self._ids = itertools.count(1)
        self._next_update_id = 1
        self._next_user_id = 10_001
        self._changed = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._handlers: dict[str, tuple[str, Callable[[FakeBotApi, Call], Awaitable[Any]]]] = {}
        for klass in reversed(type(self).__mro__):
            for attr in vars(klass).values():
                for name in getattr(attr, "api_methods", ()):
                    self._handlers[name.lower()] = (name, attr)

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> FakeBotApi:
        """Bind (port 0 = a free port) and start serving."""
        self._closing = False
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        app.router.add_post("/_fake/updates", self._control_push)
        app.router.add_get("/_fake/calls", self._control_calls)
        app.router.add_get("/_fake/chats/{chat_id}", self._control_chat)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def stop(self) -> None:
        """Release long polls and stop serving."""
        self._closing = True
        self._notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotApi:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # --- test-facing API ---------------------------------------------------------------------

    def user(
        self,
        user_id: int | None = None,
        language_code: str | None = "uk",
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
    ) -> FakeUser:
        """Create (and register) a simulated user; ids default to 10001, 10002, ..."""
        if user_id is None:
            user_id, self._next_user_id = self._next_user_id, self._next_user_id + 1
        first_name = first_name or f"User{user_id}"
        user = FakeUser(self, user_id, first_name, language_code, last_name, username)
        self.users[user_id] = user
        return user

    def push_update(self, update: JSON) -> JSON:
        """Enqueue a raw Update; ``update_id`` is assigned unless given (duplicates allowed)."""
        update = dict(update)
        update.setdefault("update_id", self._next_update_id)
        self._next_update_id = max(self._next_update_id, update["update_id"] + 1)
        self._updates.append(copy.deepcopy(update))
        self._notify()
        return update

    def fail_next(
        self,
        method: str,
        status: int = 429,
        retry_after: int = 1,
        times: int = 1,
        chat_id: int | None = None,
        description: str | None = None,
    ) -> FailNext:
        """Answer the next ``times`` matching calls (``method="*"`` = any) with a Bot API error."""
        rule = FailNext(method, status, retry_after, times, chat_id, description)
        self.faults.append(rule)
        return rule

    def block(self, chat_id: int, blocked: bool = True) -> None:
        """Mark a chat as having blocked the bot: every call for it answers 403."""
        (self.blocked.add if blocked else self.blocked.discard)(chat_id)

    def messages(self, chat_id: int) -> list[JSON]:
        """Bot messages in a chat, oldest first, in their current state (copies)."""
        chat = self._chats.get(chat_id, {})
        own = [m for m in chat.values() if m["from"]["id"] == self.bot_user["id"]]
        return copy.deepcopy(own)

    def last_message(self, chat_id: int) -> JSON | None:
        """The latest bot message in a chat (a copy), without copying the whole chat."""
        for message in reversed(self._chats.get(chat_id, {}).values()):
            if message["from"]["id"] == self.bot_user["id"]:
                return copy.deepcopy(message)
        return None

    def message(self, chat_id: int, message_id: int) -> JSON | None:
        """Any message (bot's or user's) by id, in its current state (copy)."""
        return copy.deepcopy(self._chats.get(chat_id, {}).get(message_id))

    def calls_to(self, method: str) -> list[Call]:
        """Recorded calls of one Bot API method."""
        return [c for c in self.calls if c.method == method]

    async def wait_for(
        self,
        condition: Callable[[], Any] | int,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> Any:
        """Wait until ``condition()`` is truthy (or ``condition`` bot sends/edits) and return it."""
        if isinstance(condition, int):
            count = condition

            def predicate() -> bool:
                return self._replies() >= count

        else:
            predicate = condition
        try:
            return await self._wait(predicate, timeout)
        except TimeoutError:
            recent = [(c.method, c.params) for c in self.calls[-5:]]
            raise TimeoutError(f"condition not met in {timeout}s; last calls: {recent}") from None

    # --- helpers used by FakeUser and handlers ------------------------------------------------

    def add_file(self, file: UploadedFile) -> UploadedFile:
        """Register a file under a fresh file_id."""
        n = next(self._ids)
        file.file_id, file.file_unique_id = f"file-{n}", f"uniq-{n}"
        self.files[file.file_id] = file
        return file

    def new_message(self, chat_id: int, sender: JSON, content: JSON) -> JSON:
        """Store a new message in a chat (ids increase per chat) and return a copy."""
        return copy.deepcopy(self.store_message(chat_id, sender, content))

    def store_message(self, chat_id: int, sender: JSON, content: JSON) -> JSON:
        """Store a new message in a chat (ids increase per chat) and return it, not a copy."""
        message_id = self._next_message_ids.get(chat_id, 1)
        self._next_message_ids[chat_id] = message_id + 1
        message = {
            "message_id": message_id,
            "from": sender,
            "chat": self._chat(chat_id),
            "date": int(time.time()),
        } | content
        self._chats.setdefault(chat_id, {})[message_id] = message
        return message

    def new_callback_query(self, user_id: int) -> str:
        """Allocate a callback query id answerable by answerCallbackQuery."""
        query_id = str(next(self._ids))
        self._callback_queries[query_id] = user_id
        return query_id

    async def _wait(self, predicate: Callable[[], Any], seconds: float) -> Any:
        async with asyncio.timeout(seconds):
            while not (result := predicate()):
                await self._changed.wait()
        return result

    def _replies(self) -> int:
        return sum(e.kind != "deleted" for e in self.events)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _record(self, kind: str, message: JSON) -> JSON:
        snapshot = copy.deepcopy(message)
        self.events.append(BotEvent(kind, message["chat"]["id"], message["message_id"], snapshot))
        self._notify()
        return copy.deepcopy(message)

    def _chat(self, chat_id: int) -> JSON:
        if chat_id in self.users:
            return self.users[chat_id].chat
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": f"User{chat_id}"}
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": kind, "title": f"Chat {chat_id}"}

    def _blocked_fault(self, call: Call) -> ApiError | None:
        return ApiError(403) if call.params.get("chat_id") in self.blocked else None

    def _pending(self) -> list[JSON]:
        allowed = self.allowed_updates
        return [u for u in self._updates if not allowed or any(k in u for k in allowed)]

    @staticmethod
    def _chat_id(call: Call) -> int:
        chat_id = call.params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        if not isinstance(chat_id, int):
            raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _markup(self, call: Call, chat_id: int) -> JSON | None:
        """Return the inline keyboard of a call; reply keyboards become chat state."""
        markup = call.params.get("reply_markup")
        if not markup:
            return None
        if "inline_keyboard" not in markup:
            if "keyboard" in markup:
                self.reply_keyboards[chat_id] = markup
            elif markup.get("remove_keyboard"):
                self.reply_keyboards.pop(chat_id, None)
            return None
        return markup

    def _send(self, call: Call, content: JSON) -> JSON:
        chat_id = self._chat_id(call)
        if markup := self._markup(call, chat_id):
            content["reply_markup"] = markup
        return self._record("sent", self.new_message(chat_id, self.bot_user, content))

    def _caption(self, call: Call) -> JSON:
        caption = call.params.get("caption")
        return {"caption": _plain_text(caption, call.params.get("parse_mode"))} if caption else {}

    def _input_file(self, call: Call, name: str) -> UploadedFile:
        value = call.params.get(name)
        if name in call.files:
            return self.add_file(call.files[name])
        if isinstance(value, str) and value.startswith("attach://") and value[9:] in call.files:
            return self.add_file(call.files[value[9:]])
        if isinstance(value, str) and value in self.files:
            return self.files[value]
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return self.add_file(UploadedFile(value.rsplit("/", 1)[-1], b""))
        if value:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        raise ApiError(400, f"Bad Request: there is no {name} in the request")

    def _own_message(self, call: Call, action: str) -> JSON:
        if "inline_message_id" in call.params:
            raise ApiError(400, "Bad Request: inline messages are not supported by FakeBotApi")
        chat = self._chats.get(self._chat_id(call), {})
        message = chat.get(call.params["message_id"]) if "message_id" in call.params else None
        if message is None:
            raise ApiError(400, f"Bad Request: message to {action} not found")
        if action == "edit" and message["from"]["id"] != self.bot_user["id"]:
            raise ApiError(400, "Bad Request: message can't be edited")
        return message

    # --- HTTP ----------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401).body(), status=401)
        params, files = await self._read_params(request)
        method = request.match_info["method"]
        call = Call(method, params, time.time(), files)
        self.calls.append(call)
        self._notify()
        try:
            # Checked against the Bot API specification first, as Telegram does.
            call.method = check_call(method, params, files)
            _name, handler = self._handlers.get(method.lower(), (None, None))
            if handler is None:
                raise ApiError(404, "Not Found: method not implemented by FakeBotApi")
            delay = self.delays.get(call.method, 0.0 if call.method == "getUpdates" else self.delay)
            if delay:
                await asyncio.sleep(delay)
            for rule in self.faults:
                if (error := rule(call)) is not None:
                    raise error
            if call.delay:
                await asyncio.sleep(call.delay)
            result = await handler(self, call)
        except Refused as refused:
            call.error = ApiError(refused.status, refused.description)
            return web.json_response(call.error.body(), status=refused.status)
        except ApiError as error:
            call.error = error
            return web.json_response(error.body(), status=error.status)
        except (Drop, Hang) as fault:
            call.error = ApiError(599, type(fault).__name__)
            if isinstance(fault, Hang):
                await asyncio.sleep(fault.seconds)
            if request.transport is not None:
                request.transport.close()
            raise web.HTTPServiceUnavailable() from None
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    async def _read_params(request: web.Request) -> tuple[JSON, dict[str, UploadedFile]]:
        """Query, JSON, form or multipart parameters. A body that is not a JSON object
        supplies none (Telegram ignores it, and then misses what is required)."""
        raw: JSON = dict(request.query)
        files: dict[str, UploadedFile] = {}
        if request.can_read_body and request.content_type == "application/json":
            with contextlib.suppress(ValueError):
                body = json.loads(await request.read())
                raw |= body if isinstance(body, dict) else {}
        elif request.can_read_body:
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    content = value.file.read()
                    files[key] = UploadedFile(value.filename, content, value.content_type)
                else:
                    raw[key] = value
        return {key: _coerce(key, value) for key, value in raw.items()}, files

    async def _download(self, request: web.Request) -> web.Response:
        file = self.files.get(request.match_info["path"].rsplit("/", 1)[-1])
        if request.match_info["token"] != self.token or file is None:
            raise web.HTTPNotFound()
        return web.Response(body=file.content, content_type=file.mime_type)

    async def _control_push(self, request: web.Request) -> web.Response:
        return web.json_response(self.push_update(await request.json()))

    async def _control_calls(self, request: web.Request) -> web.Response:
        calls = [
            {"method": c.method, "params": c.params, "time": c.time, "ok": c.error is None}
            for c in self.calls
        ]
        return web.json_response(calls)

    async def _control_chat(self, request: web.Request) -> web.Response:
        return web.json_response(self.messages(int(request.match_info["chat_id"])))

    # --- Bot API methods -------------------------------------------------------------------

    @api("getMe")
    async def _get_me(self, call: Call) -> JSON:
        return self.bot_user

    @api("close", "logOut")
    async def _close(self, call: Call) -> bool:
        return True

    @api("getUpdates")
    async def _get_updates(self, call: Call) -> list[JSON]:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(call.params.get("offset") or 0)
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        if call.params.get("allowed_updates") is not None:
            self.allowed_updates = list(call.params["allowed_updates"])
        limit = min(max(int(call.params.get("limit") or 100), 1), 100)
        with contextlib.suppress(TimeoutError):
            await self._wait(
                lambda: self._pending() or self._closing, float(call.params.get("timeout") or 0)
            )
        return copy.deepcopy(self._pending()[:limit])

    @api("setWebhook")
    async def _set_webhook(self, call: Call) -> bool:
        self.webhook_url = call.params.get("url") or ""
        if call.params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    @api("deleteWebhook")
    async def _delete_webhook(self, call: Call) -> bool:
        self.webhook_url = ""
        if call.params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    @api("getWebhookInfo")
    async def _get_webhook_info(self, call: Call) -> JSON:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    @staticmethod
    def _scope_key(call: Call) -> tuple[str, str]:
        scope = call.params.get("scope") or {"type": "default"}
        ids = [str(scope[k]) for k in ("chat_id", "user_id") if k in scope]
        return ":".join([scope["type"], *ids]), call.params.get("language_code") or ""

    @api("setMyCommands")
    async def _set_my_commands(self, call: Call) -> bool:
        self.commands[self._scope_key(call)] = call.params.get("commands") or []
        return True

    @api("deleteMyCommands")
    async def _delete_my_commands(self, call: Call) -> bool:
        self.commands.pop(self._scope_key(call), None)
        return True

    @api("getMyCommands")
    async def _get_my_commands(self, call: Call) -> list[JSON]:
        return self.commands.get(self._scope_key(call), [])

    @api("sendChatAction")
    async def _send_chat_action(self, call: Call) -> bool:
        self._chat_id(call)
        return True

    @api("sendMessage")
    async def _send_message(self, call: Call) -> JSON:
        text = _plain_text(call.params["text"], call.params.get("parse_mode"))
        return self._send(call, {"text": text})

    @api("sendDocument")
    async def _send_document(self, call: Call) -> JSON:
        file = self._input_file(call, "document")
        document = {
            "file_id": file.file_id,
            "file_unique_id": file.file_unique_id,
            "file_name": file.filename,
            "mime_type": file.mime_type,
            "file_size": len(file.content),
        }
        document = {k: v for k, v in document.items() if v is not None}
        return self._send(call, {"document": document} | self._caption(call))

    @api("sendPhoto")
    async def _send_photo(self, call: Call) -> JSON:
        file = self._input_file(call, "photo")
        size = {"file_id": file.file_id, "file_unique_id": file.file_unique_id}
        photo = [size | {"width": 90, "height": 90, "file_size": len(file.content)}]
        return self._send(call, {"photo": photo} | self._caption(call))

    @api("getFile")
    async def _get_file(self, call: Call) -> JSON:
        file = self.files.get(str(call.params.get("file_id")))
        if file is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": file.file_id,
            "file_unique_id": file.file_unique_id,
            "file_size": len(file.content),
            "file_path": f"files/{file.file_id}",
        }

    @api("editMessageText")
    async def _edit_message_text(self, call: Call) -> JSON:
        message = self._own_message(call, "edit")
        if "text" not in message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text = _plain_text(call.params.get("text") or "", call.params.get("parse_mode"))
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        markup = self._markup(call, message["chat"]["id"])
        if text == message["text"] and markup == message.get("reply_markup"):
            raise ApiError(400, NOT_MODIFIED)
        message["text"] = text
        message.pop("entities", None)
        return self._edited(message, markup)

    @api("editMessageReplyMarkup")
    async def _edit_message_reply_markup(self, call: Call) -> JSON:
        message = self._own_message(call, "edit")
        markup = self._markup(call, message["chat"]["id"])
        if markup == message.get("reply_markup"):
            raise ApiError(400, NOT_MODIFIED)
        return self._edited(message, markup)

    def _edited(self, message: JSON, markup: JSON | None) -> JSON:
        # Like Telegram: an edit without reply_markup removes the inline keyboard.
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        message["edit_date"] = int(time.time())
        return self._record("edited", message)

    @api("deleteMessage")
    async def _delete_message(self, call: Call) -> bool:
        message = self._own_message(call, "delete")
        del self._chats[message["chat"]["id"]][message["message_id"]]
        self._record("deleted", message)
        return True

    @api("answerCallbackQuery")
    async def _answer_callback_query(self, call: Call) -> bool:
        query_id = call.params.get("callback_query_id")
        if query_id not in self._callback_queries:  # unknown, or answered already
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        user_id = self._callback_queries.pop(query_id)
        self.callback_answers.append({"user_id": user_id} | call.params)
        self._notify()
        return True


async def _serve(host: str, port: int, token: str) -> None:
    async with FakeBotApi(token=token, host=host, port=port) as server:
        print(server.url, flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    """Serve a FakeBotApi until killed (control endpoints under ``/_fake/``)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default="123456:TEST-token")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port, args.token))


if __name__ == "__main__":
    main()
