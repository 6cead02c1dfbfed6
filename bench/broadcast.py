"""Broadcast benchmark: N invitations through the real outbox sender to a fake Bot API.

    .venv/bin/python -m bench.broadcast [--count 10000] [--rate 28]

The fake Bot API runs in its own process (tests/fakebotapi.py); the sender, the database
(a fresh SQLite file) and the round live here. The rate is measured on the server's side, from
the first to the last delivered invitation. Last line:
broadcast: sent=N configured_rate=R achieved_rate=A lost=L duplicates=D
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import aiohttp
from telegram import Bot

from app.config import LOCALES, load_settings
from app.rounds import create_round, open_round
from bot.startup import start_services
from bot.telegram.outbox import OutboxSender
from bot.transport import AiohttpRequest
from storage.models import utcnow

TOKEN = "123456:BENCH-token"
CITY = "krakow"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_until_up(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            try:
                async with session.get(f"{url}/bot{TOKEN}/getMe") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the fake Bot API did not start")


async def delivered(url: str) -> list[dict[str, object]]:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/_fake/calls") as response:
        calls = await response.json()
    return [c for c in calls if c["method"] == "sendMessage" and c["ok"]]


async def prepare(database_url: str, count: int) -> None:
    """Subscribers in four languages and an open round: `count` invitations queued."""
    settings = load_settings(database_url=database_url, _env_file=None)
    services = await start_services(settings)
    try:
        async with services.db.unit_of_work() as uow:
            for n in range(count):
                await uow.subscriptions.subscribe(10_000_000 + n, CITY, LOCALES[n % len(LOCALES)])
        now = utcnow()
        async with services.db.unit_of_work() as uow:
            survey = await uow.surveys.latest("open-cities")
            assert survey is not None
            round_ = await create_round(
                uow, "bench", CITY, [], survey.id, now, now + timedelta(days=14)
            )
            queued = await open_round(uow, services, round_, "bench", now)
        assert queued == count, queued
    finally:
        await services.close()


async def broadcast(database_url: str, api_url: str, rate: float) -> float:
    settings = load_settings(
        database_url=database_url, bot_token=TOKEN, telegram_api_url=api_url, _env_file=None
    )
    services = await start_services(settings)
    bot = Bot(TOKEN, base_url=f"{api_url}/bot", request=AiohttpRequest())
    try:
        async with bot:
            sender = OutboxSender(services, bot, rate=rate)
            started = time.monotonic()
            await sender.drain()
            return time.monotonic() - started
    finally:
        await services.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=28.0)
    args = parser.parse_args()
    port = free_port()
    api_url = f"http://127.0.0.1:{port}"
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakebotapi",
        "--port",
        str(port),
        "--token",
        TOKEN,
        stdout=asyncio.subprocess.DEVNULL,
    )
    try:
        with tempfile.TemporaryDirectory() as folder:
            database_url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.sqlite3'}"
            await wait_until_up(api_url)
            await prepare(database_url, args.count)
            print(f"queued {args.count} invitations; sending at {args.rate}/s", flush=True)
            elapsed = await broadcast(database_url, api_url, args.rate)
            calls = await delivered(api_url)
    finally:
        server.terminate()
        await server.wait()
    per_chat = Counter(int(str(c["params"]["chat_id"])) for c in calls)
    times = sorted(float(str(c["time"])) for c in calls)
    span = times[-1] - times[0] if len(times) > 1 else elapsed
    achieved = (len(calls) - 1) / span if span > 0 else float(len(calls))
    lost = args.count - len(per_chat)
    duplicates = sum(n - 1 for n in per_chat.values())
    print(f"wall time {elapsed:.1f} s")
    print(
        f"broadcast: sent={len(calls)} configured_rate={args.rate:g} "
        f"achieved_rate={achieved:.2f} lost={lost} duplicates={duplicates}"
    )


if __name__ == "__main__":
    asyncio.run(main())
