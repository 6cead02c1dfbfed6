"""Updates throughput: survey answers through the real bot, then through a usual PTB bot.

    .venv/bin/python -m bench.updates [--respondents 200] [--answers-per-respondent 20]
                                      [--senders 50] [--baseline-concurrent 256]

Two runs on the same questions, the same respondents and the same number of answers:

1. **ours**: the real process, ``python -m bot run`` (our long polling, the PTB Application on
   the aiohttp transport, a fresh SQLite file), which commits every answer before it replies;
2. **baseline**: bench/baseline_bot.py, the usual PTB build (ConversationHandler, answers in
   ``user_data``, PicklePersistence, PTB's Updater) on the same aiohttp transport, handling
   up to 256 updates at once like ours (``--baseline-concurrent 0``: PTB's default, one at a
   time). It keeps answers in memory and pickles them every 60 s.

Each run gets a fresh fake Bot API server (tests/fakebotapi.py) in its own process; this
process only plays the respondents. The server is extended below with a control port, because
a raw update pushed to ``POST /_fake/updates`` has a callback query id the server does not know
(answerCallbackQuery would fail with "query is too old"), carries no push time, and waiting for
a reply by polling ``GET /_fake/calls`` would cost the server more than the bot's replies do.
Latencies are computed afterwards from the stock ``GET /_fake/calls`` (every call with its
server time) and the control port's push log. Every respondent first goes
through ``/start p_krakow-otwarty-krakow``, a language, the consent, "aware: yes" and
"used: several times" (not timed), which brings them to the first of the four scale questions
(city_role, reliable, fits_needs, useful). Then, all respondents at once, each one answers the
four scale questions in order (a random 1–5), presses "‹ Back" four times to return to the
first, answers the four again, and so on until it has given ``--answers-per-respondent``
answers. A respondent sends its next press only when the bot has replied to the previous one,
as a person would; pushes go through at most ``--senders`` concurrent HTTP connections.

Definitions (all times are the fake server's clock, ``time.time()`` in the server process):

- **answers**: button presses on a scale question with the current revision. Each is one
  update, and the real bot commits one answer row for it (an upsert) before replying. The
  "‹ Back" presses between the rounds of answers are updates handled and timed too, but not
  answers; they are reported apart (``updates`` counts both).
- **latency** of an update: the time of the last Bot API call the bot made for it (an answer is
  answerCallbackQuery, editMessageText with the echo, sendMessage with the next question; a
  Back is answerCallbackQuery and editMessageText), minus the time the update was pushed into
  the server's queue, i.e. made available to getUpdates. p50/p99 on the last line are over the
  answers.
- **answers_per_s**: answers divided by the timed window, from the first timed push to the last
  reply of the run (Backs are handled inside that window). ``speedup`` = ours / baseline.

Last line:
updates: answers_per_s=X p50_ms=Y p99_ms=Z baseline_answers_per_s=B speedup=S

``--profile py-spy|pyinstrument|cprofile --profile-out FILE`` profiles ours. py-spy (not a
dependency: ``pip install py-spy``) samples the bot's every thread from outside during the
timed phase only, at full speed, into raw collapsed stacks; pyinstrument and cProfile run the
whole bot under them, slow it 2-3x and see only its main thread, while SQLite works in
aiosqlite's thread (the CPU line splits the bot's CPU time into main and other threads).
pyinstrument writes text for FILE.txt, HTML for FILE.html, else a session for
``pyinstrument --load``. ``--skip-baseline`` leaves the baseline out.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakebotapi import COMMAND, Call, FakeBotApi, api

TOKEN = "123456:BENCH-token"
SECRET = "bench-pseudonym-secret-0123456789-abcdefghij"
PRACTICE = "krakow-otwarty-krakow"
LANGS = ("uk", "ru", "en", "pl")
SCALE_QUESTIONS = 4  # city_role, reliable, fits_needs, useful
FIRST_USER = 7_000_001
REPLY_METHODS = frozenset(
    {"answerCallbackQuery", "editMessageText", "editMessageReplyMarkup", "sendMessage"}
)
EXPECTED_CALLS = {"answer": 3, "back": 2}
ROOT = Path(__file__).resolve().parent.parent
JSON = dict[str, Any]


# --- the fake Bot API with a control port (runs in its own process) ---------------------------


@dataclass
class Pending:
    """A pushed update whose reply is awaited: done when the callback is answered (if a press)
    and the chat's latest bot message carries a keyboard of a new revision."""

    update_id: int
    chat_id: int
    query_id: str | None
    revision: str | None
    done: asyncio.Future[list[str]]
    answered: bool = False
    replied: bool = False


class BenchBotApi(FakeBotApi):
    """FakeBotApi plus bench control endpoints on a second port: push a /start or a button press
    built server-side (the press on the chat's latest bot message, its query answerable), note
    the push time, and long-poll until the bot's reply to it is complete."""

    def __init__(self, token: str, port: int, control_port: int) -> None:
        super().__init__(token=token, port=port)
        self.control_port = control_port
        self.pushes: list[JSON] = []
        self._awaited: dict[int, Pending] = {}  # by update_id
        self._by_chat: dict[int, Pending] = {}
        self._control: web.AppRunner | None = None

    async def start(self) -> BenchBotApi:
        await super().start()
        app = web.Application()
        app.router.add_post("/push", self._push)
        app.router.add_get("/wait/{update_id}", self._wait_reply)
        app.router.add_get("/pushes", self._pushes)
        self._control = web.AppRunner(app, access_log=None)
        await self._control.setup()
        await web.TCPSite(self._control, self.host, self.control_port).start()
        return self

    async def stop(self) -> None:
        if self._control is not None:
            await self._control.cleanup()
        await super().stop()

    async def _push(self, request: web.Request) -> web.Response:
        body = await request.json()
        user_id = int(body["user_id"])
        user = self.users.get(user_id) or self.user(user_id, language_code=body.get("lang"))
        query_id = revision = None
        if "text" in body:
            content: JSON = {"text": body["text"]}
            if match := COMMAND.match(body["text"]):
                content["entities"] = [{"type": "bot_command", "offset": 0, "length": match.end()}]
            update: JSON = {"message": self.new_message(user_id, user.user, content)}
        else:
            target = self.last_message(user_id)
            if target is None:
                raise web.HTTPConflict(text="no bot message to press on")
            revision = str(body["data"]).partition("|")[0]
            query_id = self.new_callback_query(user_id)
            query = {
                "id": query_id,
                "from": user.user,
                "message": target,
                "chat_instance": str(user_id),
                "data": body["data"],
            }
            update = {"callback_query": query}
        update_id = self._next_update_id
        pending = Pending(
            update_id, user_id, query_id, revision, asyncio.get_running_loop().create_future()
        )
        self._awaited[update_id] = self._by_chat[user_id] = pending
        pushed = time.time()
        self.push_update(update | {"update_id": update_id})
        self.pushes.append(
            {
                "update_id": update_id,
                "chat_id": user_id,
                "query_id": query_id,
                "label": body.get("label", ""),
                "time": pushed,
            }
        )
        return web.json_response({"update_id": update_id})

    async def _wait_reply(self, request: web.Request) -> web.Response:
        pending = self._awaited.get(int(request.match_info["update_id"]))
        if pending is None:
            raise web.HTTPNotFound()
        try:
            async with asyncio.timeout(float(request.query.get("timeout", "60"))):
                keyboard = await asyncio.shield(pending.done)
        except TimeoutError:
            raise web.HTTPGatewayTimeout() from None
        self._awaited.pop(pending.update_id, None)
        return web.json_response({"keyboard": keyboard})

    async def _pushes(self, request: web.Request) -> web.Response:
        return web.json_response(self.pushes)

    def _record(self, kind: str, message: JSON) -> JSON:
        result = super()._record(kind, message)
        pending = self._by_chat.get(message["chat"]["id"])
        if pending is not None and kind != "deleted":
            pending.replied = True
            self._check(pending)
        return result

    @api("answerCallbackQuery")
    async def _answer_callback_query(self, call: Call) -> bool:
        result = await super()._answer_callback_query(call)
        query_id = str(call.params.get("callback_query_id"))
        pending = self._by_chat.get(self._callback_queries.get(query_id, 0))
        if pending is not None and pending.query_id == query_id:
            pending.answered = True
            self._check(pending)
        return result

    def _check(self, pending: Pending) -> None:
        if pending.done.done() or not pending.replied:
            return
        if pending.query_id is not None and not pending.answered:
            return
        latest = next(
            (
                m
                for m in reversed(self._chats.get(pending.chat_id, {}).values())
                if m["from"]["id"] == self.bot_user["id"]
            ),
            None,
        )
        rows = ((latest or {}).get("reply_markup") or {}).get("inline_keyboard") or []
        keyboard = [b["callback_data"] for row in rows for b in row if "callback_data" in b]
        if keyboard and keyboard[0].partition("|")[0] != pending.revision:
            pending.done.set_result(keyboard)
            del self._by_chat[pending.chat_id]


async def serve_fake(port: int, control_port: int, token: str) -> None:
    async with BenchBotApi(token, port, control_port) as server:
        print(server.url, flush=True)
        await asyncio.Event().wait()


# --- the respondents (this process) ------------------------------------------------------------


class Abort(Exception):
    """The bot did not show what a respondent expected."""


@dataclass
class Load:
    control: str
    senders: asyncio.Semaphore
    push_session: aiohttp.ClientSession
    wait_session: aiohttp.ClientSession
    respondents: int
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    set_up: int = 0
    started: float = 0.0

    async def step(self, payload: JSON) -> list[str]:
        """Push one update and wait for the bot's complete reply; return the new keyboard."""
        async with self.senders, self.push_session.post(f"{self.control}/push", json=payload) as r:
            if r.status != 200:
                raise Abort(f"push failed ({r.status}): {await r.text()}")
            update_id = (await r.json())["update_id"]
        async with self.wait_session.get(f"{self.control}/wait/{update_id}") as response:
            if response.status != 200:
                raise Abort(f"no complete reply to update {update_id} ({payload})")
            return list((await response.json())["keyboard"])


def press(keyboard: list[str], action: str) -> str:
    """The callback data of the button `action` on the keyboard (revision included)."""
    revision = keyboard[0].partition("|")[0]
    data = f"{revision}|{action}"
    if data not in keyboard:
        raise Abort(f"no button {action!r} on {keyboard}")
    return data


async def respondent(
    load: Load, index: int, answers: int, rng: random.Random, think: float = 0.0
) -> None:
    """One person: set up (untimed), then answers and Backs, each after the previous reply
    (and, with `think` > 0, after a pause drawn around `think` seconds)."""
    user_id, lang = FIRST_USER + index, LANGS[index % len(LANGS)]
    base: JSON = {"user_id": user_id, "lang": lang}
    keyboard = await load.step(base | {"text": f"/start p_{PRACTICE}", "label": "setup"})
    for action in (lang, "accept", "yes", "several"):
        keyboard = await load.step(base | {"data": press(keyboard, action), "label": "setup"})
    load.set_up += 1
    if load.set_up == load.respondents:
        load.started = time.monotonic()
        load.ready.set()
    await load.ready.wait()

    async def timed(action: str, label: str) -> list[str]:
        if think > 0:
            await asyncio.sleep(rng.expovariate(1 / think))
        return await load.step(base | {"data": press(keyboard, action), "label": label})

    given = 0
    while given < answers:
        for _ in range(min(SCALE_QUESTIONS, answers - given)):
            keyboard = await timed(str(rng.randint(1, 5)), "answer")
            given += 1
        if given < answers:
            for _ in range(SCALE_QUESTIONS):
                keyboard = await timed("!back", "back")


# --- processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def get_json(url: str) -> Any:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        response.raise_for_status()
        return await response.json()


async def wait_for(url: str, check: Any = None, seconds: float = 60.0) -> None:
    """Poll `url` until it answers 200 (and `check(json)` holds)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(aiohttp.ClientError, ValueError):
            body = await get_json(url)
            if check is None or check(body):
                return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up in {seconds:.0f} s")


def cpu_seconds(pid: int | None, thread: int | None = None) -> float:
    """User + system CPU time of a process (or of one of its threads) so far (Linux /proc)."""
    where = f"/proc/{pid}/task/{thread}/stat" if thread else f"/proc/{pid}/stat"
    try:
        stat = Path(where).read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return math.nan
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def cpu_of(processes: dict[str, int]) -> dict[str, float]:
    """CPU seconds of each process; the bot's split into its main thread and the others."""
    seconds = {name: cpu_seconds(pid) for name, pid in processes.items()}
    main = cpu_seconds(processes["bot"], processes["bot"])
    return seconds | {"bot main thread": main, "bot other threads": seconds["bot"] - main}


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
class Run:
    name: str
    pushes: list[JSON]
    calls: list[JSON]
    wall: float
    database: Path | None = None
    cpu: dict[str, float] = field(default_factory=dict)  # seconds in the timed phase


def bot_command(
    name: str, args: argparse.Namespace, folder: Path, api_url: str
) -> tuple[list[str], dict[str, str], Path | None]:
    """The command line, environment and database of one bot process."""
    if name == "baseline":
        command = ["-m", "bench.baseline_bot", "--api-url", api_url, "--token", TOKEN]
        command += ["--persistence", str(folder / "baseline.pickle")]
        return [*command, "--concurrent", str(args.baseline_concurrent)], dict(os.environ), None
    database = folder / "ours.sqlite3"
    env = os.environ | {
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": api_url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "PSEUDONYM_SECRET": SECRET,
    }
    command = ["-m", "bot", "run"]
    if args.profile == "pyinstrument":
        suffix = Path(args.profile_out).suffix
        renderer = {".txt": "text", ".html": "html"}.get(suffix, "pyisession")
        command = ["-m", "pyinstrument", "-r", renderer, "-o", args.profile_out, *command]
    elif args.profile == "cprofile":
        command = ["-m", "cProfile", "-o", args.profile_out, *command]
    return command, env, database


async def start_py_spy(pid: int | None, out: str) -> asyncio.subprocess.Process:
    """py-spy (not a dependency: `pip install py-spy`) sampling the bot, all threads, from
    outside, so the bot runs at full speed; raw collapsed stacks."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return await asyncio.create_subprocess_exec(
        *(py_spy, "record", "--pid", str(pid), "--rate", "250", "--threads", "--nonblocking"),
        *("--format", "raw", "--output", out),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def play(
    name: str, args: argparse.Namespace, control: str, processes: dict[str, int], rng: random.Random
) -> tuple[float, float, dict[str, float]]:
    """All respondents: set up, then the timed phase. Returns the wall times of both phases
    and the CPU seconds each process spent in the timed phase."""
    connector = aiohttp.TCPConnector(limit=args.senders)
    waits = aiohttp.TCPConnector(limit=args.respondents + 8)
    cpu: dict[str, float] = {}
    profiler: asyncio.subprocess.Process | None = None
    async with (
        aiohttp.ClientSession(connector=connector) as pushes,
        aiohttp.ClientSession(connector=waits, timeout=aiohttp.ClientTimeout(total=300)) as waiting,
    ):
        load = Load(control, asyncio.Semaphore(args.senders), pushes, waiting, args.respondents)

        async def timed_phase_starts() -> None:
            nonlocal profiler
            await load.ready.wait()
            cpu.update({k: -v for k, v in cpu_of(processes).items()})
            if args.profile == "py-spy" and name == "ours":
                profiler = await start_py_spy(processes["bot"], args.profile_out)

        began = time.monotonic()
        starts = asyncio.create_task(timed_phase_starts())
        await asyncio.gather(
            *(
                respondent(load, n, args.answers_per_respondent, rng, args.think_ms / 1000)
                for n in range(args.respondents)
            )
        )
        ended = time.monotonic()
        await starts
        cpu = {k: cpu[k] + v for k, v in cpu_of(processes).items()}
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)
        await profiler.wait()
    return load.started - began, ended - load.started, cpu


async def run_bot(name: str, args: argparse.Namespace, folder: Path, rng: random.Random) -> Run:
    """Start a fake server and one bot, play the respondents, collect the server's records."""
    port, control_port = free_port(), free_port()
    api_url, control = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{control_port}"
    fake = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bench.updates", "--serve-fake", "--port", str(port)),
        *("--control-port", str(control_port)),
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
    )
    log = (folder / f"{name}.log").open("wb")
    try:
        await wait_for(f"{control}/pushes")
        command, env, database = bot_command(name, args, folder, api_url)
        bot = await asyncio.create_subprocess_exec(
            sys.executable, *command, cwd=ROOT, env=env, stdout=log, stderr=log
        )
        try:
            await wait_for(
                f"{api_url}/_fake/calls",
                lambda calls: any(c["method"] == "getUpdates" for c in calls),
                seconds=120,
            )
            processes = {"bot": bot.pid, "fake server": fake.pid, "respondents": os.getpid()}
            setup, timed, cpu = await play(name, args, control, processes, rng)
            print(
                f"{name}: {args.respondents} respondents set up in {setup:.1f} s, "
                f"timed phase {timed:.1f} s",
                flush=True,
            )
            calls = await get_json(f"{api_url}/_fake/calls")
            pushed = await get_json(f"{control}/pushes")
        finally:
            await stop(bot, 900.0 if args.profile else 60.0)  # a profiler writes its report
            if bot.returncode:
                print(f"{name}: the bot exited with {bot.returncode}; see its log", flush=True)
    finally:
        await stop(fake)
        log.close()
    return Run(name, pushed, calls, setup + timed, database, cpu)


# --- figures --------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share / 100 * len(ordered)) - 1)] if ordered else math.nan


@dataclass
class Figures:
    answers: int
    updates: int
    window: float
    answer_latencies: list[float]
    back_latencies: list[float]
    problems: Counter[str]
    methods: Counter[str]

    @property
    def answers_per_s(self) -> float:
        return self.answers / self.window if self.window > 0 else math.nan

    @property
    def updates_per_s(self) -> float:
        return self.updates / self.window if self.window > 0 else math.nan


def figures(run: Run) -> Figures:
    """Attribute every reply call to its update (a press by its query id, a send/edit to the
    latest push in its chat before it) and derive throughput and latencies."""
    pushes = sorted(run.pushes, key=lambda p: p["time"])
    by_query = {p["query_id"]: p for p in pushes if p["query_id"] is not None}
    by_chat: dict[int, list[JSON]] = defaultdict(list)
    for each in pushes:
        by_chat[each["chat_id"]].append(each)
    times = {chat: [p["time"] for p in chat_pushes] for chat, chat_pushes in by_chat.items()}
    last_reply: dict[int, float] = {}
    count: Counter[int] = Counter()
    problems: Counter[str] = Counter()
    methods: Counter[str] = Counter()
    for call in run.calls:
        if call["method"] not in REPLY_METHODS:
            continue
        methods[call["method"]] += 1
        if not call["ok"]:
            problems[f"{call['method']} answered with an error"] += 1
        params = call["params"]
        push: JSON | None
        if call["method"] == "answerCallbackQuery":
            push = by_query.get(params.get("callback_query_id"))
        else:
            chat = params.get("chat_id")
            index = bisect.bisect_right(times.get(chat, []), call["time"]) - 1
            push = by_chat[chat][index] if index >= 0 else None
        if push is None:
            problems["a reply call to no pushed update"] += 1
            continue
        update_id = push["update_id"]
        count[update_id] += 1
        last_reply[update_id] = max(last_reply.get(update_id, 0.0), call["time"])
    timed = [p for p in pushes if p["label"] in EXPECTED_CALLS]
    latencies: dict[str, list[float]] = {"answer": [], "back": []}
    for push in timed:
        if count[push["update_id"]] != EXPECTED_CALLS[push["label"]]:
            problems[f"{push['label']} with {count[push['update_id']]} reply calls"] += 1
        if push["update_id"] in last_reply:
            latencies[push["label"]].append(1000 * (last_reply[push["update_id"]] - push["time"]))
        else:
            problems[f"{push['label']} without a reply"] += 1
    window = (
        max(last_reply.get(p["update_id"], 0.0) for p in timed) - timed[0]["time"]
        if timed
        else math.nan
    )
    return Figures(
        answers=len(latencies["answer"]),
        updates=len(timed),
        window=window,
        answer_latencies=latencies["answer"],
        back_latencies=latencies["back"],
        problems=problems,
        methods=methods,
    )


def report(run: Run, result: Figures) -> None:
    answers, backs = result.answer_latencies, result.back_latencies
    print(
        f"{run.name}: answers={result.answers} backs={len(backs)} window={result.window:.1f} s "
        f"answers_per_s={result.answers_per_s:.1f} updates_per_s={result.updates_per_s:.1f}"
    )
    print(
        f"{run.name}: answer latency ms p50={percentile(answers, 50):.1f} "
        f"p90={percentile(answers, 90):.1f} p99={percentile(answers, 99):.1f} "
        f"max={max(answers, default=math.nan):.1f}; back p50={percentile(backs, 50):.1f} "
        f"p99={percentile(backs, 99):.1f}"
    )
    cpu = ", ".join(
        f"{who} {1000 * seconds / result.updates:.2f}" for who, seconds in run.cpu.items()
    )
    print(f"{run.name}: CPU ms per timed update: {cpu}")
    print(f"{run.name}: reply calls {dict(sorted(result.methods.items()))}")
    if result.problems:
        print(f"{run.name}: PROBLEMS {dict(result.problems)}")
    if run.database is not None and run.database.exists():
        with contextlib.closing(sqlite3.connect(run.database)) as db:
            processed = db.execute("SELECT count(*) FROM processed_updates").fetchone()[0]
            rows = db.execute("SELECT count(*) FROM answers").fetchone()[0]
        print(
            f"{run.name}: database: processed_updates={processed} (updates pushed: "
            f"{len(run.pushes)}), answer rows={rows}"
        )


def calibration_ms() -> float:
    """This machine's speed now (it varies on shared hosts): best of 5, sum(range(10**6))."""
    best = math.inf
    for _ in range(5):
        started = time.perf_counter()
        sum(range(10**6))
        best = min(best, time.perf_counter() - started)
    return 1000 * best


async def main(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    print(
        f"respondents={args.respondents} answers_per_respondent={args.answers_per_respondent} "
        f"senders={args.senders} think_ms={args.think_ms:g} cores={os.cpu_count()} "
        f"calibration_ms={calibration_ms():.1f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-updates-") as tmp:
        folder = Path(tmp)
        ours = await run_bot("ours", args, folder, random.Random(rng.random()))
        ours_figures = figures(ours)
        report(ours, ours_figures)
        baseline_rate = math.nan
        if not args.skip_baseline:
            baseline = await run_bot("baseline", args, folder, random.Random(rng.random()))
            baseline_figures = figures(baseline)
            report(baseline, baseline_figures)
            baseline_rate = baseline_figures.answers_per_s
        if args.keep_logs:
            for name in ("ours", "baseline"):
                log = folder / f"{name}.log"
                if log.exists():
                    (Path(args.keep_logs) / log.name).write_bytes(log.read_bytes())
    rate = ours_figures.answers_per_s
    print(f"wall time ours {ours.wall:.1f} s")
    print(
        f"updates: answers_per_s={rate:.1f} "
        f"p50_ms={percentile(ours_figures.answer_latencies, 50):.1f} "
        f"p99_ms={percentile(ours_figures.answer_latencies, 99):.1f} "
        f"baseline_answers_per_s={baseline_rate:.1f} speedup={rate / baseline_rate:.2f}"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--respondents", type=int, default=200)
    parser.add_argument("--answers-per-respondent", type=int, default=20)
    parser.add_argument("--senders", type=int, default=50, help="concurrent push connections")
    parser.add_argument(
        "--baseline-concurrent",
        type=int,
        default=256,
        help="baseline: PTB concurrent_updates, as ours (256); 0 = one at a time, PTB's default",
    )
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="mean pause before each timed press (exponential); 0 = press at once (default)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--profile", choices=("py-spy", "pyinstrument", "cprofile"))
    parser.add_argument("--profile-out", default="/tmp/bench-updates-profile")
    parser.add_argument("--keep-logs", help="copy the bots' logs into this folder")
    # internal: the fake Bot API process
    parser.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--control-port", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.serve_fake:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_fake(arguments.port, arguments.control_port, TOKEN))
    else:
        asyncio.run(main(arguments))
