"""Updates throughput: survey answers through the real bot, then through a usual PTB bot.

    .venv/bin/python -m bench.updates [--respondents 200] [--answers-per-respondent 40]
                                      [--think-ms 0] [--seed 1] [--baseline-concurrent 0]
                                      [--baseline-transport httpx|aiohttp]
                                      [--database sqlite|postgresql [--database-url URL]]
                                      [--webhook [--workers 1] [--webhook-connections 40]]

Two runs with the same survey, the same respondents and the same answers:

1. **ours**: the real process, ``python -m bot run`` (our long polling, the PTB Application on
   the aiohttp transport, a fresh SQLite file), which commits every answer before it replies;
2. **baseline**: bench/baseline_bot.py, a bot built the usual PTB way: ConversationHandler,
   answers in ``user_data``, PicklePersistence, PTB's Updater and PTB's defaults — one update
   at a time, PTB's HTTPXRequest. ``--baseline-transport aiohttp`` gives it our transport and
   ``--baseline-concurrent N`` N updates at once (ConversationHandler is not safe with that:
   see the baseline's docstring). It keeps answers in memory and pickles them every 60 s.

**The production shape.** ``--database postgresql`` gives ours PostgreSQL (``--database-url``,
default TEST_DATABASE_URL): its public schema is dropped and ``auditbot db upgrade`` (Alembic)
creates it again before ours starts; the baseline then keeps its state in a table of the same
database (PostgresPersistence: one JSON row, flushed like the pickle). ``--webhook`` runs ours
as ``python -m bot serve --workers N`` (the supervisor and N workers on one port, PostgreSQL for
N > 1) with no webhook registered: the fake server POSTs every update to
``/telegram/webhook`` as Telegram does (a JSON body, the X-Telegram-Bot-Api-Secret-Token header
with WEBHOOK_SECRET), at most ``--webhook-connections`` at once (Telegram's max_connections,
40 by default), each once; an answer other than 200 is a problem. The baseline stays on long
polling (PTB's own webhook server needs tornado, which is not installed).

**The survey.** A long version of the shipped survey (conversations/surveys/open-cities.yaml,
key ``open-cities``) is written at run time into a temporary folder: the same questions, with
the block of its four scale questions (city_role, reliable, fits_needs, useful) repeated until
there are at least ``--answers-per-respondent`` scale questions in a row (repeats get ids
``reliable_2``, ``reliable_3``...). It passes the survey validator. Ours reads it through
``SURVEYS_DIR`` (the same key, so it is the default survey's newest version), the baseline
through ``--survey``.

**The load.** Each run gets a fresh fake Bot API server in its own process: FakeBotApi
(tests/fakebotapi.py) for the Bot API methods, behind a small HTTP/1.1 layer of its own
(BotApiProtocol: aiohttp's server cost more than half of the fake's CPU), on uvloop, with the
cyclic garbage collector off (its pauses would count as the bot's latency). The same process
plays the respondents: no HTTP between a respondent and the server. This process starts it with
the load on its command line and then makes three control requests: set up (long poll), go (long poll until every respondent
is done), records. Setup, not timed: every respondent sends ``/start p_krakow-otwarty-krakow``
and presses a language, the consent, "aware: yes" and "used: several times", which brings it to
the first scale question. Timed phase: all respondents start at once; each answers
``--answers-per-respondent`` scale questions in a row, a random 1-5 (the same for both bots: one
random generator per respondent, seeded from ``--seed``). A press is pushed into the server's
update queue as soon as the bot's reply to the previous press is complete (its callback query
answered, and the chat's latest bot message carries a keyboard of a new revision) and the server
has answered the call that completed it, after an exponential pause of mean ``--think-ms`` if
given (default 0: at once, so every respondent always has an update in flight).

Definitions (times from the fake server's clock, ``time.time()`` in its process):

- **push**: the moment an update enters the server's queue. **delivery**: the moment the
  server first returns it in a getUpdates response (taken when the response is built, before
  it is written to the socket; a later getUpdates returning it again does not count); with
  ``--webhook``, the moment one of the server's connections starts POSTing it.
- **reply calls** of an update: the Bot API calls the bot makes for it. answerCallbackQuery
  belongs to the update of its query; an edit (or deletion) of a message belongs to the latest
  update that pressed that message; any other call with a chat_id to the latest update pushed
  in that chat. Every timed update must get exactly one answerCallbackQuery, at least one
  editMessageText or sendMessage, and no call answered with an error.
- **latency** of an answer: the time of its last reply call (when the server received the
  request) minus its delivery, i.e. from the update received by the bot to its reply sent.
  ``p50_ms``/``p99_ms``: nearest-rank percentiles over all timed answers. Latency from the
  push and the wait in the queue (delivery minus push) are printed too, for information. Where
  an update waits before it is handled depends on the bot: PTB's Updater (the baseline) fetches
  whatever is queued at once, so the wait is in its own queue and inside this latency; ours
  fetches a batch only when done with the previous one, so the wait is in the server's queue,
  outside it.
- **answers_per_s**: timed answers divided by the window from the first timed push to the
  last reply call of the timed phase. ``speedup`` = ours / baseline.
- **CPU ms per answer**: each process's user + system CPU time during the timed phase
  (/proc, between the end of setup and the end of the timed phase) divided by the answers;
  the bot's split into its main thread and its other threads (aiosqlite's, for ours); with
  workers, summed over the supervisor and every worker. PostgreSQL's own CPU is not counted.
  ``calibration_ms`` is this machine's speed at the start: best of 5, ``sum(range(10**6))``.
- **checks**: the reply calls above; for ours also, after it stopped (on either database), a
  processed_updates row for every update pushed, and exactly one answer row per (respondent,
  question) answered
  (the two setup questions and every scale question, with the value pressed). Any failure is
  printed as PROBLEMS and makes the exit status 1.

Last line:
updates: answers_per_s=X p50_ms=Y p99_ms=Z baseline_answers_per_s=B speedup=S

``--profile py-spy|pyinstrument|cprofile --profile-out FILE`` profiles ours. py-spy (not a
dependency: ``pip install py-spy``) samples every thread of the bot (or, with
``--profile-process fake-server``, of the fake server) from outside during the timed phase
only, at full speed, into raw collapsed stacks, the workers of ``serve --workers N`` included
(``--subprocesses``); pyinstrument and cProfile run the whole bot under them, slow it 2-3x
and see only its main thread, while SQLite works in aiosqlite's thread (and with workers only
the supervisor). pyinstrument writes text for FILE.txt, HTML for FILE.html, else a session for
``pyinstrument --load``. ``--skip-baseline`` leaves the baseline out.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import copy
import gc
import json
import logging
import math
import os
import random
import shutil
import signal
import socket
import sqlite3
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl

import aiohttp
import asyncpg
import uvloop
import yaml
from aiohttp import web

from app.services import Pseudonymizer
from conversations.survey import load_survey_file
from tests.fakebotapi import COMMAND, ApiError, Call, FakeBotApi, _coerce, api

TOKEN = "123456:BENCH-token"
SECRET = "bench-pseudonym-secret-0123456789-abcdefghij"
WEBHOOK_SECRET = "bench-webhook-secret-0123456789"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # what Telegram sends; bot/web/server.py checks
PRACTICE = "krakow-otwarty-krakow"
LANGS = ("uk", "ru", "en", "pl")
SETUP_PRESSES = ("accept", "yes", "several")  # after the language: consent, aware, used
SETUP_ANSWERS = ("aware", "used")
SCALE_BLOCK = ("city_role", "reliable", "fits_needs", "useful")
SHIPPED_SURVEY = Path(__file__).resolve().parent.parent / "conversations/surveys/open-cities.yaml"
FIRST_USER = 7_000_001
STALL_SECONDS = 60.0  # a phase fails when no reply completes for this long
REPLY_METHODS = frozenset(
    {"answerCallbackQuery", "editMessageText", "editMessageReplyMarkup", "sendMessage"}
)
MESSAGE_METHODS = frozenset({"editMessageText", "sendMessage"})
EDITS = frozenset({"editMessageText", "editMessageReplyMarkup", "deleteMessage"})
ROOT = Path(__file__).resolve().parent.parent
JSON = dict[str, Any]


# --- the survey ------------------------------------------------------------------------------


def scale_ids(count: int) -> list[str]:
    """The ids of the first `count` scale questions of the long survey, in order."""
    return [
        question if round_ == 1 else f"{question}_{round_}"
        for round_ in range(1, math.ceil(count / len(SCALE_BLOCK)) + 1)
        for question in SCALE_BLOCK
    ][:count]


def long_survey(answers: int) -> JSON:
    """The shipped survey with its block of scale questions repeated to give at least
    `answers` scale questions in a row."""
    survey = yaml.safe_load(SHIPPED_SURVEY.read_text(encoding="utf-8"))
    questions = survey["questions"]
    ids = [q["id"] for q in questions]
    start = ids.index(SCALE_BLOCK[0])
    if tuple(ids[start : start + len(SCALE_BLOCK)]) != SCALE_BLOCK:
        raise RuntimeError(f"the shipped survey no longer has {SCALE_BLOCK} in a row: {ids}")
    block = questions[start : start + len(SCALE_BLOCK)]
    repeated = []
    for n, question_id in enumerate(scale_ids(max(answers, len(SCALE_BLOCK)))):
        question = copy.deepcopy(block[n % len(SCALE_BLOCK)])
        question["id"] = question_id
        repeated.append(question)
    survey["questions"] = [*questions[:start], *repeated, *questions[start + len(SCALE_BLOCK) :]]
    return dict(survey)


def write_long_survey(folder: Path, answers: int) -> Path:
    """Write the long survey as `folder`/open-cities.yaml and validate it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "open-cities.yaml"
    text = yaml.safe_dump(long_survey(answers), allow_unicode=True, sort_keys=False, width=1000)
    path.write_text(text, encoding="utf-8")
    load_survey_file(path)  # raises SurveyError with every problem
    return path


# --- the fake Bot API that plays the respondents (runs in its own process) -------------------


@dataclass
class Respondent:
    """One person: presses its setup buttons, then answers, each after the previous reply."""

    index: int
    user: JSON
    lang: str
    rng: random.Random
    setup: list[str]
    answers: int
    given: int = 0
    keyboard: list[str] = field(default_factory=list)
    message: JSON | None = None  # the bot message that carries `keyboard`

    @property
    def chat_id(self) -> int:
        return int(self.user["id"])


@dataclass
class Pending:
    """A pushed update whose reply is awaited: complete when the callback is answered (if a
    press), the bot has sent or edited something in the chat, and the chat's latest bot message
    carries a keyboard of a new revision."""

    update_id: int
    respondent: Respondent
    query_id: str | None
    revision: str | None
    answered: bool = False
    replied: bool = False


@dataclass
class Load:
    """What the respondents do (the server's command line)."""

    respondents: int
    answers: int
    think_ms: float
    seed: int


@dataclass
class Webhook:
    """Where the server POSTs the updates, as Telegram does for a bot with a webhook: the
    update as a JSON body with the secret header, over at most `connections` connections at
    once (Telegram's max_connections, 40 by default), each update once."""

    url: str
    secret: str
    connections: int


class BenchBotApi(FakeBotApi):
    """FakeBotApi that plays the respondents itself and records, for every update, its push,
    its delivery (first getUpdates response that carries it) and the calls that belong to it.
    Control port: POST /setup and POST /go (each a long poll until the phase is over),
    GET /records, GET /status."""

    def __init__(
        self, token: str, port: int, control_port: int, load: Load, webhook: Webhook | None
    ) -> None:
        super().__init__(token=token, port=port)
        self.control_port = control_port
        self.load = load
        self.webhook = webhook
        self._outbox: asyncio.Queue[JSON] = asyncio.Queue()  # updates for the webhook
        self._senders: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self.think = load.think_ms / 1000
        self.respondents = [self._respondent(index) for index in range(load.respondents)]
        # push rows: update_id, respondent, label, answer index, value, push time
        self.pushes: list[tuple[int, int, str, int, int, float]] = []
        self.delivered: dict[int, float] = {}
        self.problems: list[str] = []
        self.progress = 0  # replies completed so far
        self._owner: dict[int, int] = {}  # id(call) → update_id
        self._by_chat: dict[int, Pending] = {}  # the reply each chat awaits
        self._latest_update: dict[int, int] = {}  # chat → its latest update
        self._query_update: dict[str, int] = {}  # callback query → update
        self._pressed: dict[tuple[int, int], int] = {}  # (chat, message) → latest update on it
        self._waiting = 0  # respondents not done with the current phase
        self._phase_over = asyncio.Event()
        self._arrived = asyncio.Event()  # an update was queued (or the server stops)
        self._timed = False
        self._control: web.AppRunner | None = None
        self._api: asyncio.Server | None = None
        self.faults.append(self._attribute)

    def _respondent(self, index: int) -> Respondent:
        user_id, lang = FIRST_USER + index, LANGS[index % len(LANGS)]
        user = self.user(user_id, language_code=lang).user
        rng = random.Random(self.load.seed * 1_000_003 + index)
        return Respondent(index, user, lang, rng, [lang, *SETUP_PRESSES], self.load.answers)

    async def start(self) -> BenchBotApi:
        """Serve the Bot API with BotApiProtocol (not the base class's aiohttp app) and the
        control endpoints with aiohttp."""
        self._closing = False
        loop = asyncio.get_running_loop()
        self._api = await loop.create_server(
            lambda: BotApiProtocol(self), self.host, self.port, reuse_address=True
        )
        app = web.Application()
        app.router.add_post("/setup", self._control_setup)
        app.router.add_post("/go", self._control_go)
        app.router.add_get("/records", self._control_records)
        app.router.add_get("/status", self._control_status)
        self._control = web.AppRunner(app, access_log=None)
        await self._control.setup()
        await web.TCPSite(self._control, self.host, self.control_port).start()
        if self.webhook is not None:
            connector = aiohttp.TCPConnector(limit=self.webhook.connections)
            timeout = aiohttp.ClientTimeout(total=None)
            self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
            self._senders = [
                asyncio.create_task(self._deliver(self.webhook, self._session))
                for _ in range(self.webhook.connections)
            ]
        return self

    async def stop(self) -> None:
        self._closing = True
        self._arrived.set()
        for sender in self._senders:
            sender.cancel()
        await asyncio.gather(*self._senders, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        if self._control is not None:
            await self._control.cleanup()
        if self._api is not None:
            self._api.close()
        await super().stop()

    def call(self, method: str, params: JSON) -> tuple[Call, Any]:
        """Carry out a Bot API call as FakeBotApi does (fault rules, then the method): the call
        and the method's coroutine. Raises ApiError for an unknown method or a fault."""
        name, handler = self._handlers.get(method.lower(), (None, None))
        call = Call(name or method, params, time.time())
        self.calls.append(call)
        if handler is None:
            raise ApiError(404, "Not Found: method not found")
        for rule in self.faults:
            if (error := rule(call)) is not None:
                raise error
        return call, handler(self, call)

    # --- control ---------------------------------------------------------------------------

    async def _control_status(self, request: web.Request) -> web.Response:
        polls = sum(c.method == "getUpdates" for c in self.calls)
        loop = type(asyncio.get_running_loop()).__module__.partition(".")[0]
        return web.json_response({"get_updates": polls, "loop": loop})

    async def _control_setup(self, request: web.Request) -> web.Response:
        def begin() -> None:
            for respondent in self.respondents:
                self._send_start(respondent)

        return web.json_response(await self._phase(begin))

    async def _control_go(self, request: web.Request) -> web.Response:
        def begin() -> None:
            self._timed = True
            for respondent in self.respondents:
                self._after_reply(respondent)

        return web.json_response(await self._phase(begin))

    async def _phase(self, begin: Callable[[], None]) -> JSON:
        """Run a phase until every respondent is through it or no reply completes for
        STALL_SECONDS; return its wall time and whether it completed."""
        self._waiting = len(self.respondents)
        self._phase_over.clear()
        started = time.monotonic()
        begin()
        seen = -1
        while not self._phase_over.is_set() and self.progress != seen:
            seen = self.progress
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._phase_over.wait(), STALL_SECONDS)
        if not self._phase_over.is_set():
            stuck = sorted(r.chat_id for r in (p.respondent for p in self._by_chat.values()))
            self.problems.append(
                f"no reply completed for {STALL_SECONDS:.0f} s; {len(stuck)} respondents wait "
                f"(chats {stuck[:5]}...)"
            )
        return {"ok": self._phase_over.is_set(), "seconds": time.monotonic() - started}

    async def _control_records(self, request: web.Request) -> web.Response:
        calls = [
            (c.method, self._owner.get(id(c)), c.time, c.error is None)
            for c in self.calls
            if c.method in REPLY_METHODS or c.method == "getUpdates"
        ]
        pushes = [(*push, self.delivered.get(push[0])) for push in self.pushes]
        return web.json_response({"pushes": pushes, "calls": calls, "problems": self.problems})

    # --- the respondents -------------------------------------------------------------------

    def _send_start(self, respondent: Respondent) -> None:
        text = f"/start p_{PRACTICE}"
        content: JSON = {"text": text}
        if match := COMMAND.match(text):
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": match.end()}]
        message = self.new_message(respondent.chat_id, respondent.user, content)
        self._enqueue(respondent, {"message": message}, None, None, "setup", 0)

    def _press(self, respondent: Respondent, action: str, label: str, value: int = 0) -> None:
        """Press the button `action` on the respondent's latest keyboard."""
        keyboard, message = respondent.keyboard, respondent.message
        revision = keyboard[0].partition("|")[0]
        data = f"{revision}|{action}"
        if data not in keyboard or message is None:
            self._give_up(
                respondent, f"chat {respondent.chat_id}: no button {action!r} on {keyboard}"
            )
            return
        query_id = self.new_callback_query(respondent.chat_id)
        query = {
            "id": query_id,
            "from": respondent.user,
            # a snapshot: edits replace the message's top-level values, never change them inside
            "message": dict(message),
            "chat_instance": str(respondent.chat_id),
            "data": data,
        }
        update_id = self._enqueue(
            respondent, {"callback_query": query}, query_id, revision, label, value
        )
        self._pressed[respondent.chat_id, message["message_id"]] = update_id

    def _enqueue(
        self,
        respondent: Respondent,
        update: JSON,
        query_id: str | None,
        revision: str | None,
        label: str,
        value: int,
    ) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        update["update_id"] = update_id
        chat_id = respondent.chat_id
        self._by_chat[chat_id] = Pending(update_id, respondent, query_id, revision)
        self._latest_update[chat_id] = update_id
        if query_id is not None:
            self._query_update[query_id] = update_id
        self.pushes.append(
            (update_id, respondent.index, label, respondent.given, value, time.time())
        )
        if self.webhook is not None:
            self._outbox.put_nowait(update)
        else:
            self._updates.append(update)
            self._arrived.set()
        return update_id

    async def _deliver(self, webhook: Webhook, session: aiohttp.ClientSession) -> None:
        """One webhook connection: POST the queued updates one at a time, each once; its
        delivery is the moment the request starts. An answer other than 200 is a problem (the
        bench does not deliver again, as Telegram would)."""
        headers = {"Content-Type": "application/json", SECRET_HEADER: webhook.secret}
        while True:
            update = await self._outbox.get()
            update_id = update["update_id"]
            self.delivered.setdefault(update_id, time.time())
            body = json.dumps(update, separators=(",", ":")).encode()
            try:
                async with session.post(webhook.url, data=body, headers=headers) as response:
                    await response.read()
                    status = response.status
            except aiohttp.ClientError as error:
                self.problems.append(f"update {update_id}: webhook failed ({error!r})")
                continue
            if status != HTTPStatus.OK:
                self.problems.append(f"update {update_id}: the webhook answered {status}")

    def _after_reply(self, respondent: Respondent) -> None:
        """The respondent has seen the reply to its last update: its next step."""
        if respondent.setup:
            self._press(respondent, respondent.setup.pop(0), "setup")
        elif not self._timed:
            revision = respondent.keyboard[0].partition("|")[0]
            if {f"{revision}|{n}" for n in range(1, 6)} <= set(respondent.keyboard):
                self._through(respondent)
            else:
                problem = (
                    f"chat {respondent.chat_id}: set up, but no scale on {respondent.keyboard}"
                )
                self._give_up(respondent, problem)
        elif respondent.given >= respondent.answers:
            self._through(respondent)
        elif self.think > 0:
            pause = respondent.rng.expovariate(1 / self.think)
            asyncio.get_running_loop().call_later(pause, self._answer, respondent)
        else:
            self._answer(respondent)

    def _answer(self, respondent: Respondent) -> None:
        value = respondent.rng.randint(1, 5)
        self._press(respondent, str(value), "answer", value)
        respondent.given += 1

    def _through(self, respondent: Respondent) -> None:
        self._waiting -= 1
        if self._waiting == 0:
            self._phase_over.set()

    def _give_up(self, respondent: Respondent, problem: str) -> None:
        self.problems.append(problem)
        self._through(respondent)

    # --- replies -----------------------------------------------------------------------------

    def _attribute(self, call: Call) -> None:
        """Not a fault (it never fails a call): note the update a call belongs to."""
        params = call.params
        if call.method == "answerCallbackQuery":
            update_id = self._query_update.get(str(params.get("callback_query_id")))
        else:
            chat_id = params.get("chat_id")
            update_id = None
            if call.method in EDITS:
                update_id = self._pressed.get((chat_id, params.get("message_id")))
            if update_id is None:
                update_id = self._latest_update.get(chat_id)
        if update_id is not None:
            self._owner[id(call)] = update_id

    # The server shares the cores with the bot, so the methods below do only what the bench
    # needs: no copies (an answer is serialized before anything can change it), no snapshots
    # of the chats' history, and a getUpdates woken only by a new update.

    def _notify(self) -> None:
        """Nobody waits for the base class's events here (see _arrived)."""

    @api("getUpdates")
    async def _get_updates(self, call: Call) -> list[JSON]:
        """Confirm by offset, long-poll for an update, note each one's first delivery."""
        offset = int(call.params.get("offset") or 0)
        if offset > 0:
            confirmed = bisect.bisect_left([u["update_id"] for u in self._updates], offset)
            del self._updates[:confirmed]
        timeout = float(call.params.get("timeout") or 0)
        if not self._updates and timeout > 0 and not self._closing:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout)
        updates = self._updates[: min(max(int(call.params.get("limit") or 100), 1), 100)]
        now = time.time()
        for update in updates:
            self.delivered.setdefault(update["update_id"], now)
        return updates

    def new_message(self, chat_id: int, sender: JSON, content: JSON) -> JSON:
        return self.store_message(chat_id, sender, content)

    def _record(self, kind: str, message: JSON) -> JSON:
        pending = self._by_chat.get(message["chat"]["id"])
        if pending is not None and kind != "deleted":
            pending.replied = True
            self._check(pending)
        return message

    @api("answerCallbackQuery")
    async def _answer_callback_query(self, call: Call) -> bool:
        query_id = str(call.params.get("callback_query_id"))
        chat_id = self._callback_queries.get(query_id, 0)  # the base class forgets it
        result = await super()._answer_callback_query(call)
        pending = self._by_chat.get(chat_id)
        if pending is not None and pending.query_id == query_id:
            pending.answered = True
            self._check(pending)
        return result

    def _check(self, pending: Pending) -> None:
        """If the reply is complete, let the respondent go on (after this call's answer)."""
        if not pending.replied or (pending.query_id is not None and not pending.answered):
            return
        respondent = pending.respondent
        latest = next(
            (
                m
                for m in reversed(self._chats[respondent.chat_id].values())
                if m["from"]["id"] == self.bot_user["id"]
            ),
            None,
        )
        rows = ((latest or {}).get("reply_markup") or {}).get("inline_keyboard") or []
        keyboard = [b["callback_data"] for row in rows for b in row if "callback_data" in b]
        if keyboard and keyboard[0].partition("|")[0] != pending.revision:
            del self._by_chat[respondent.chat_id]
            respondent.keyboard, respondent.message = keyboard, latest
            self.progress += 1
            asyncio.get_running_loop().call_soon(self._after_reply, respondent)


def run_now(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """The result of a coroutine that finishes without suspending, as every Bot API method of
    the fake does but getUpdates: no task per call."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("a Bot API method other than getUpdates waited")


class BotApiProtocol(asyncio.Protocol):
    """The fake Bot API's HTTP, leaner than aiohttp's server (whose request handling was half of
    the fake server's CPU): HTTP/1.1 with keep-alive, one request at a time per connection, a
    body of Content-Length bytes in JSON or a urlencoded form (what PTB's aiohttp and httpx
    transports send when there are no files). The methods are FakeBotApi's (BenchBotApi.call)."""

    def __init__(self, server: BenchBotApi) -> None:
        self.server = server
        self.buffer = b""
        self.busy = False  # a getUpdates is waiting
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._serve()

    def _serve(self) -> None:
        """Answer the complete requests in the buffer, in order."""
        while not self.busy and self.transport is not None:
            end_of_head = self.buffer.find(b"\r\n\r\n")
            if end_of_head < 0:
                return
            lines = self.buffer[:end_of_head].decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            start = end_of_head + 4
            end = start + int(headers.get("content-length") or 0)
            if "transfer-encoding" in headers:
                self._write(501, {"ok": False, "description": "chunked bodies: not supported"})
                self.transport.close()
                return
            if len(self.buffer) < end:
                return
            body, self.buffer = self.buffer[start:end], self.buffer[end:]
            self._request(lines[0].split(" ")[1], headers.get("content-type", ""), body)
            if headers.get("connection", "").lower() == "close" and self.transport is not None:
                self.transport.close()

    def _request(self, target: str, content_type: str, body: bytes) -> None:
        path, _, query = target.partition("?")
        _, bot, method, *_ = [*path.split("/"), "", ""]
        if bot != f"bot{self.server.token}":
            self._write(401, ApiError(401).body())
            return
        raw: JSON = dict(parse_qsl(query))
        if content_type.startswith("application/json"):
            raw |= json.loads(body)
        elif content_type.startswith("application/x-www-form-urlencoded"):
            raw |= dict(parse_qsl(body.decode()))
        elif body:
            self._write(415, {"ok": False, "description": f"{content_type}: not supported"})
            return
        params = {key: _coerce(key, value) for key, value in raw.items()}
        try:
            call, coroutine = self.server.call(method, params)
        except ApiError as error:
            self._write(error.status, error.body())
            return
        if call.method == "getUpdates":
            self.busy = True
            waiting = asyncio.ensure_future(coroutine)
            waiting.add_done_callback(lambda done: self._answer(call, done.result))
        else:
            self._answer(call, lambda: run_now(coroutine))

    def _answer(self, call: Call, result: Callable[[], Any]) -> None:
        try:
            self._write(200, {"ok": True, "result": result()})
        except ApiError as error:
            call.error = error
            self._write(error.status, error.body())
        except Exception:
            logging.exception("%s failed", call.method)
            call.error = ApiError(500)
            self._write(500, call.error.body())
        if self.busy:
            self.busy = False
            self._serve()

    def _write(self, status: int, payload: JSON) -> None:
        if self.transport is None:
            return
        body = json.dumps(payload, separators=(",", ":")).encode()
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.transport.write(head.encode() + body)


async def serve_fake(port: int, control_port: int, load: Load, webhook: Webhook | None) -> None:
    # A measuring instrument must not pause: the server keeps every call and push, and the
    # cyclic collector's full passes over them (growing, ~100-200 ms every 1-2 s) showed up as
    # the bot's p99. One run's garbage is small; it goes with the process.
    gc.disable()
    async with BenchBotApi(TOKEN, port, control_port, load, webhook) as server:
        print(server.url, flush=True)
        await asyncio.Event().wait()


# --- processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def request(method: str, url: str) -> Any:
    """One control request (no time limit: the server ends a stalled phase itself)."""
    timeout = aiohttp.ClientTimeout(total=None)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.request(method, url) as response,
    ):
        response.raise_for_status()
        return await response.json()


async def wait_for(
    url: str,
    check: Callable[[Any], bool],
    process: asyncio.subprocess.Process,
    seconds: float = 120.0,
) -> Any:
    """Poll `url` until it answers 200 and `check(json)` holds; return the json. Fails when
    `process` (the one awaited) exits first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.returncode is None:
        with contextlib.suppress(aiohttp.ClientError, ValueError):
            body = await request("GET", url)
            if check(body):
                return body
        await asyncio.sleep(0.1)
    if process.returncode is not None:
        raise RuntimeError(f"the process awaited exited with {process.returncode}; see its log")
    raise RuntimeError(f"{url} did not come up in {seconds:.0f} s")


def cpu_seconds(pid: int | None, thread: int | None = None) -> float:
    """User + system CPU time of a process (or of one of its threads) so far (Linux /proc)."""
    where = f"/proc/{pid}/task/{thread}/stat" if thread else f"/proc/{pid}/stat"
    try:
        stat = Path(where).read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return math.nan
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def family(pid: int) -> list[int]:
    """A process and its descendants now (`serve --workers N`: the supervisor and its workers)."""
    parents: dict[int, list[int]] = defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            parents[int(stat.read_text().rsplit(")", 1)[1].split()[1])].append(
                int(stat.parent.name)
            )
    found, pending = [], [pid]
    while pending:
        found.append(current := pending.pop())
        pending.extend(parents.get(current, []))
    return found


def cpu_of(bot: int, server: int) -> dict[str, float]:
    """CPU seconds so far: the bot's main thread, its other threads (with workers: summed over
    the supervisor and every worker), the fake server."""
    processes = family(bot)
    main = sum(cpu_seconds(pid, pid) for pid in processes)
    return {
        "bot main thread": main,
        "bot other threads": sum(cpu_seconds(pid) for pid in processes) - main,
        "fake server + respondents": cpu_seconds(server),
    }


async def stop(process: asyncio.subprocess.Process, seconds: float = 60.0) -> None:
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), seconds)
    except TimeoutError:
        process.kill()
        await process.wait()


@dataclass
class Stored:
    """What ours' database holds after the run."""

    processed: set[int]  # processed_updates.update_id
    answers: list[tuple[str, str, int | None]]  # pseudonym, question, value_number


@dataclass
class Run:
    name: str
    pushes: list[list[Any]]  # update_id, respondent, label, answer index, value, push, delivery
    calls: list[list[Any]]  # method, update_id, time, ok
    setup: float
    timed: float
    loop: str
    problems: list[str]
    stored: Stored | None = None  # ours only
    cpu: dict[str, float] = field(default_factory=dict)  # seconds in the timed phase


PROCESSED = "SELECT update_id FROM processed_updates"
ANSWERS = (
    "SELECT r.pseudonym, a.question_id, a.value_number "
    "FROM answers a JOIN responses r ON r.id = a.response_id"
)


def plain_postgresql(url: str) -> str:
    """A PostgreSQL URL without the driver, for asyncpg and libpq."""
    return "postgresql://" + url.split("://", 1)[1]


async def read_stored(database: str) -> Stored:
    """The processed updates and answer rows in ours' database (a SQLite file or a
    PostgreSQL URL)."""
    if not database.startswith("postgres"):
        with contextlib.closing(sqlite3.connect(database)) as db:
            processed = {row[0] for row in db.execute(PROCESSED)}
            return Stored(processed, [tuple(row) for row in db.execute(ANSWERS)])
    connection = await asyncpg.connect(plain_postgresql(database))
    try:
        processed = {row[0] for row in await connection.fetch(PROCESSED)}
        return Stored(processed, [tuple(row) for row in await connection.fetch(ANSWERS)])
    finally:
        await connection.close()


async def fresh_postgresql(url: str, env: dict[str, str], log: Any) -> None:
    """Drop the database's public schema, then `auditbot db upgrade` (Alembic) creates it."""
    connection = await asyncpg.connect(plain_postgresql(url))
    try:
        await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await connection.close()
    upgrade = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bot", "db", "upgrade"), cwd=ROOT, env=env, stdout=log, stderr=log
    )
    if await upgrade.wait():
        raise RuntimeError(f"`auditbot db upgrade` exited with {upgrade.returncode}; see its log")


def bot_command(
    name: str, args: argparse.Namespace, folder: Path, survey: Path, api_url: str, port: int
) -> tuple[list[str], dict[str, str], str | None]:
    """The command line, environment and database of one bot process (ours' webhook on
    `port`)."""
    if name == "baseline":
        command = ["-m", "bench.baseline_bot", "--api-url", api_url, "--token", TOKEN]
        if args.database == "postgresql":
            command += ["--database-url", plain_postgresql(args.database_url)]
        else:
            command += ["--persistence", str(folder / "baseline.pickle")]
        command += ["--survey", str(survey), "--concurrent", str(args.baseline_concurrent)]
        return [*command, "--transport", args.baseline_transport], dict(os.environ), None
    if args.database == "postgresql":
        database, url = args.database_url, args.database_url
    else:
        database = str(folder / "ours.sqlite3")
        url = f"sqlite+aiosqlite:///{database}"
    env = os.environ | {
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": api_url,
        "DATABASE_URL": url,
        "PSEUDONYM_SECRET": SECRET,
        "SURVEYS_DIR": str(survey.parent),
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    env.pop("WEBHOOK_URL", None)  # the fake server calls the webhook; nothing to register
    env.pop("METRICS_PORT", None)
    command = ["-m", "bot", "run"]
    if args.webhook:
        command = ["-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--workers", str(args.workers)]
    if args.profile == "pyinstrument":
        suffix = Path(args.profile_out).suffix
        renderer = {".txt": "text", ".html": "html"}.get(suffix, "pyisession")
        command = ["-m", "pyinstrument", "-r", renderer, "-o", args.profile_out, *command]
    elif args.profile == "cprofile":
        command = ["-m", "cProfile", "-o", args.profile_out, *command]
    return command, env, database


async def start_py_spy(pid: int, out: str) -> asyncio.subprocess.Process:
    """py-spy (not a dependency: `pip install py-spy`) sampling a process, all threads and its
    subprocesses (the workers of `serve --workers N`), from outside, so it runs at full speed;
    raw collapsed stacks."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    profiler = await asyncio.create_subprocess_exec(
        *(py_spy, "record", "--pid", str(pid), "--rate", "250", "--threads", "--nonblocking"),
        "--subprocesses",
        *("--format", "raw", "--output", out),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await asyncio.sleep(1.0)  # attached before the timed phase starts
    return profiler


async def play(
    name: str, args: argparse.Namespace, control: str, bot: int, server: int
) -> tuple[JSON, JSON, dict[str, float]]:
    """Set up (untimed), then the timed phase; the CPU seconds each process spent in it."""
    setup = await request("POST", f"{control}/setup")
    profiler = None
    if args.profile == "py-spy" and name == "ours":
        target = server if args.profile_process == "fake-server" else bot
        profiler = await start_py_spy(target, args.profile_out)
    before = cpu_of(bot, server)
    timed = await request("POST", f"{control}/go") if setup["ok"] else {"ok": False, "seconds": 0}
    after = cpu_of(bot, server)
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)
        await profiler.wait()
    return setup, timed, {who: after[who] - before[who] for who in after}


async def run_bot(name: str, args: argparse.Namespace, folder: Path, survey: Path) -> Run:
    """Start a fake server and one bot, play the respondents, collect the server's records."""
    port, control_port, bot_port = free_port(), free_port(), free_port()
    api_url, control = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{control_port}"
    webhook = args.webhook and name == "ours"
    server_log = (folder / f"{name}-fake-server.log").open("wb")
    fake = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bench.updates", "--serve-fake", "--port", str(port)),
        *("--control-port", str(control_port), "--respondents", str(args.respondents)),
        *("--answers-per-respondent", str(args.answers_per_respondent)),
        *("--think-ms", str(args.think_ms), "--seed", str(args.seed)),
        *("--webhook-connections", str(args.webhook_connections)),
        *(("--webhook-url", f"http://127.0.0.1:{bot_port}/telegram/webhook") if webhook else ()),
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=server_log,
    )
    log_path = folder / f"{name}.log"
    log = log_path.open("wb")
    stored = None
    try:
        await wait_for(f"{control}/status", lambda status: True, fake)
        command, env, database = bot_command(name, args, folder, survey, api_url, bot_port)
        if database is not None and args.database == "postgresql":
            await fresh_postgresql(database, env, log)
        bot = await asyncio.create_subprocess_exec(
            sys.executable, *command, cwd=ROOT, env=env, stdout=log, stderr=log
        )
        try:
            if webhook:
                await wait_for(f"http://127.0.0.1:{bot_port}/healthz", lambda body: True, bot)
                await wait_for_workers(log_path, args.workers, bot)
                ready = await request("GET", f"{control}/status")
            else:
                ready = await wait_for(
                    f"{control}/status", lambda status: status["get_updates"] > 0, bot
                )
            setup, timed, cpu = await play(name, args, control, bot.pid, fake.pid)
            print(
                f"{name}: {args.respondents} respondents set up in {setup['seconds']:.1f} s, "
                f"timed phase {timed['seconds']:.1f} s",
                flush=True,
            )
            records = await request("GET", f"{control}/records")
        finally:
            await stop(bot, 900.0 if args.profile else 60.0)  # a profiler writes its report
        if database is not None:
            try:
                stored = await read_stored(database)
            except (sqlite3.Error, asyncpg.PostgresError, OSError) as error:
                records["problems"].append(f"database: not checked ({error!r})")
    finally:
        await stop(fake)
        log.close()
        server_log.close()
    problems = records["problems"]
    if bot.returncode:
        problems.append(f"the bot exited with {bot.returncode}")
    for process, path in (("bot", log.name), ("fake server", server_log.name)):
        if errors := logged_errors(Path(path)):
            problems.append(f"{errors} errors in the {process}'s log")
    return Run(
        name,
        records["pushes"],
        records["calls"],
        setup["seconds"],
        timed["seconds"],
        ready["loop"],
        problems,
        stored,
        cpu,
    )


def serving(log: Path) -> int:
    """How many workers have logged that they serve."""
    return log.read_text(errors="replace").count("serving on")


async def wait_for_workers(log: Path, workers: int, process: asyncio.subprocess.Process) -> None:
    """Wait until `workers` processes have logged that they serve (each binds the port)."""
    deadline = time.monotonic() + 120.0
    while time.monotonic() < deadline and process.returncode is None:
        if serving(log) >= workers:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{workers} workers did not come up; see {log.name}")


def logged_errors(log: Path) -> int:
    """Lines of a log that report an error or a traceback."""
    text = log.read_text(encoding="utf-8", errors="replace")
    return sum("ERROR" in line or line.startswith("Traceback") for line in text.splitlines())


# --- figures --------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share / 100 * len(ordered)) - 1)] if ordered else math.nan


@dataclass
class Figures:
    answers: int
    window: float
    latencies: list[float]  # ms, from delivery
    from_push: list[float]  # ms
    queued: list[float]  # ms, delivery - push
    calls_per_answer: Counter[str]  # "method+method+..." in call order
    batches: list[int]  # timed updates per getUpdates response that delivered any
    problems: Counter[str]

    @property
    def answers_per_s(self) -> float:
        return self.answers / self.window if self.window > 0 else math.nan


def figures(run: Run) -> Figures:
    """Throughput, latencies and the reply-call checks of the timed answers."""
    problems: Counter[str] = Counter(run.problems)
    by_update: dict[int, list[list[Any]]] = defaultdict(list)
    for call in run.calls:
        method, update_id, _when, ok = call
        if method == "getUpdates":
            continue
        if update_id is None:
            problems[f"{method} for no pushed update"] += 1
        else:
            by_update[update_id].append(call)
            if not ok:
                problems[f"{method} answered with an error"] += 1
    timed = [push for push in run.pushes if push[2] == "answer"]
    latencies, from_push, queued = [], [], []
    signatures: Counter[str] = Counter()
    last_reply = 0.0
    for update_id, _who, _label, _index, _value, pushed, delivered in timed:
        calls = by_update.get(update_id, [])
        methods = [call[0] for call in calls]
        signatures["+".join(methods) or "none"] += 1
        if methods.count("answerCallbackQuery") != 1 or not MESSAGE_METHODS & set(methods):
            problems["an answer without answerCallbackQuery + editMessageText/sendMessage"] += 1
        if delivered is None:
            problems["an answer never delivered"] += 1
            continue
        if not calls:
            continue
        last = max(call[2] for call in calls)
        last_reply = max(last_reply, last)
        latencies.append(1000 * (last - delivered))
        from_push.append(1000 * (last - pushed))
        queued.append(1000 * (delivered - pushed))
    deliveries = sorted(push[6] for push in timed if push[6] is not None)
    batches = list(Counter(deliveries).values())
    window = last_reply - min(push[5] for push in timed) if timed else math.nan
    return Figures(
        len(latencies), window, latencies, from_push, queued, signatures, batches, problems
    )


def check_database(run: Run, stored: Stored, args: argparse.Namespace) -> tuple[str, list[str]]:
    """Ours' database: a processed_updates row per update pushed, and exactly the answer rows
    the respondents gave (the setup questions and every scale answer with its value)."""
    pseudonyms = Pseudonymizer(SECRET)
    scale = scale_ids(args.answers_per_respondent)
    expected: dict[tuple[str, str], int | None] = {}
    for respondent in range(args.respondents):
        pseudonym = pseudonyms.of("tg", FIRST_USER + respondent)
        expected |= {(pseudonym, question): None for question in SETUP_ANSWERS}
    for _update, respondent, label, index, value, _pushed, _delivered in run.pushes:
        if label == "answer":
            expected[pseudonyms.of("tg", FIRST_USER + respondent), scale[index]] = value
    processed, rows = stored.processed, stored.answers
    unprocessed = sum(push[0] not in processed for push in run.pushes)
    found = Counter((pseudonym, question) for pseudonym, question, _value in rows)
    duplicated = sum(count > 1 for count in found.values())
    missing = len(expected.keys() - found.keys())
    extra = len(found.keys() - expected.keys())
    wrong = sum(
        1
        for pseudonym, question, value in rows
        if expected.get((pseudonym, question)) not in (None, value)
    )
    problems = {
        "updates without a processed_updates row": unprocessed,
        "answers missing": missing,
        "answers duplicated": duplicated,
        "answers not given": extra,
        "answers with a wrong value": wrong,
    }
    summary = (
        f"processed_updates={len(processed)} (updates pushed: {len(run.pushes)}), "
        f"answer rows={len(rows)} (expected {len(expected)})"
    )
    return summary, [f"database: {count} {problem}" for problem, count in problems.items() if count]


def report(run: Run, result: Figures, args: argparse.Namespace) -> bool:
    """Print a run's figures and checks; whether every check passed."""
    ms = result.latencies
    batching = (
        "; delivered one by one to the webhook"
        if args.webhook and run.name == "ours"
        else f"; answers per getUpdates mean={sum(result.batches) / max(len(result.batches), 1):.1f} "
        f"max={max(result.batches, default=0)}"
    )
    print(
        f"{run.name}: answers={result.answers} window={result.window:.2f} s "
        f"answers_per_s={result.answers_per_s:.1f}"
    )
    print(
        f"{run.name}: latency from delivery ms p50={percentile(ms, 50):.1f} "
        f"p90={percentile(ms, 90):.1f} p99={percentile(ms, 99):.1f} "
        f"max={max(ms, default=math.nan):.1f}"
    )
    print(
        f"{run.name}: (information) latency from push ms "
        f"p50={percentile(result.from_push, 50):.1f} "
        f"p99={percentile(result.from_push, 99):.1f}; wait in the queue ms "
        f"p50={percentile(result.queued, 50):.1f} p99={percentile(result.queued, 99):.1f} "
        f"max={max(result.queued, default=math.nan):.1f}" + batching
    )
    cpu = ", ".join(
        f"{who} {1000 * seconds / max(result.answers, 1):.3f}" for who, seconds in run.cpu.items()
    )
    print(f"{run.name}: CPU ms per answer: {cpu}")
    print(f"{run.name}: reply calls per answer {dict(result.calls_per_answer.most_common())}")
    problems = result.problems
    if run.stored is not None:
        summary, found = check_database(run, run.stored, args)
        print(f"{run.name}: database: {summary}")
        problems += Counter(found)
    if problems:
        print(f"{run.name}: PROBLEMS {dict(problems)}")
    return not problems


def calibration_ms() -> float:
    """This machine's speed now (it varies on shared hosts): best of 5, sum(range(10**6))."""
    best = math.inf
    for _ in range(5):
        started = time.perf_counter()
        sum(range(10**6))
        best = min(best, time.perf_counter() - started)
    return 1000 * best


def keep_logs(folder: Path, target: Path) -> None:
    """Copy the processes' logs out of the temporary folder (made if missing)."""
    target.mkdir(parents=True, exist_ok=True)
    for log in folder.glob("*.log"):
        (target / log.name).write_bytes(log.read_bytes())


async def main(args: argparse.Namespace) -> int:
    print(
        f"respondents={args.respondents} answers_per_respondent={args.answers_per_respondent} "
        f"think_ms={args.think_ms:g} seed={args.seed} database={args.database} "
        f"transport={f'webhook workers={args.workers}' if args.webhook else 'polling'} "
        f"cores={os.cpu_count()} "
        f"calibration_ms={calibration_ms():.1f}",
        flush=True,
    )
    passed = True
    rates: dict[str, float] = {}
    ours_figures = None
    with tempfile.TemporaryDirectory(prefix="bench-updates-") as tmp:
        folder = Path(tmp)
        survey = write_long_survey(folder / "surveys", args.answers_per_respondent)
        try:
            for name in ("ours", *(() if args.skip_baseline else ("baseline",))):
                run = await run_bot(name, args, folder, survey)
                result = figures(run)
                if name == "ours":
                    ours_figures = result
                print(f"{name}: fake server on {run.loop}")
                passed = report(run, result, args) and passed
                rates[name] = result.answers_per_s
        finally:
            if args.keep_logs:
                keep_logs(folder, Path(args.keep_logs))
    assert ours_figures is not None
    rate, baseline_rate = rates["ours"], rates.get("baseline", math.nan)
    print(
        f"updates: answers_per_s={rate:.1f} "
        f"p50_ms={percentile(ours_figures.latencies, 50):.1f} "
        f"p99_ms={percentile(ours_figures.latencies, 99):.1f} "
        f"baseline_answers_per_s={baseline_rate:.1f} speedup={rate / baseline_rate:.2f}"
    )
    return 0 if passed else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--respondents", type=int, default=200)
    parser.add_argument("--answers-per-respondent", type=int, default=40)
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="mean pause before each timed press (exponential); 0 = press at once (default)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--baseline-concurrent",
        type=int,
        default=0,
        help="baseline: PTB concurrent_updates; 0 = one at a time, PTB's default (default)",
    )
    parser.add_argument(
        "--baseline-transport",
        choices=("aiohttp", "httpx"),
        default="httpx",
        help="baseline: PTB's default HTTPXRequest (default) or our aiohttp transport",
    )
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="ours' database: a fresh SQLite file (default) or PostgreSQL (--database-url), "
        "emptied and migrated first; the baseline then keeps its state there too",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL"),
        help="PostgreSQL for --database postgresql (default: TEST_DATABASE_URL); its public "
        "schema is dropped and created again",
    )
    parser.add_argument(
        "--webhook",
        action="store_true",
        help="ours: `auditbot serve` with the fake server POSTing every update to its webhook "
        "(default: `auditbot run`, long polling)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="--webhook: `serve --workers N` (default 1)"
    )
    parser.add_argument(
        "--webhook-connections",
        type=int,
        default=40,
        help="--webhook: updates POSTed at once, Telegram's max_connections (default 40)",
    )
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--profile", choices=("py-spy", "pyinstrument", "cprofile"))
    parser.add_argument(
        "--profile-process",
        choices=("bot", "fake-server"),
        default="bot",
        help="what py-spy samples in ours' run (default: the bot)",
    )
    parser.add_argument("--profile-out", default="/tmp/bench-updates-profile")
    parser.add_argument("--keep-logs", help="copy the bots' and fake servers' logs here")
    # internal: the fake Bot API process
    parser.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--control-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--webhook-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.answers_per_respondent < 1 or args.respondents < 1:
        parser.error("--respondents and --answers-per-respondent must be at least 1")
    if args.workers < 1 or args.webhook_connections < 1:
        parser.error("--workers and --webhook-connections must be at least 1")
    if args.workers > 1 and not args.webhook:
        parser.error("--workers: only with --webhook (long polling is one process)")
    if args.workers > 1 and args.database != "postgresql":
        parser.error("--workers: several workers need --database postgresql")
    if args.database == "postgresql" and not args.database_url:
        parser.error("--database postgresql: give --database-url or set TEST_DATABASE_URL")
    return args


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.serve_fake:
        load = Load(
            arguments.respondents,
            arguments.answers_per_respondent,
            arguments.think_ms,
            arguments.seed,
        )
        webhook = None
        if arguments.webhook_url:
            webhook = Webhook(arguments.webhook_url, WEBHOOK_SECRET, arguments.webhook_connections)
        with contextlib.suppress(KeyboardInterrupt):
            uvloop.run(serve_fake(arguments.port, arguments.control_port, load, webhook))
    else:
        sys.exit(asyncio.run(main(arguments)))
