"""PostgreSQL goes away under the real processes (`run`, `serve --workers 2`, `scheduler`).

Each test starts its own throw-away cluster (tests/pgcluster.py) and stops it for a while: the
processes keep running, every queued invitation is then sent exactly once, no update is
confirmed to Telegram without its commit, /healthz says 503 while the database is away and 200
after, and leadership moves when the leader is killed after the restart.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.services import Services
from bot.startup import start_services
from bot.telegram.leadership import HEARTBEAT_KEY
from tests.conftest import make_settings
from tests.fakebotapi import FakeBotApi, FakeUser
from tests.pgcluster import Cluster, free_port, pg_cluster  # noqa: F401  (fixture)
from tests.processes import (
    WEBHOOK_SECRET,
    Proc,
    bot_env,
    children,
    eventually,
    outbox_statuses,
    processed,
    sent_to,
)
from tests.test_staff import open_now, subscribe
from tests.test_web import message_update

INVITED = 100


@pytest.fixture
async def cluster_services(pg_cluster: Cluster) -> AsyncIterator[Services]:  # noqa: F811
    """The throw-away cluster, migrated and loaded as a deployment would be."""
    services = await start_services(make_settings(pg_cluster.url))
    try:
        yield services
    finally:
        await services.close()


async def invite(services: Services, first_chat: int, city: str = "krakow") -> set[int]:
    """Subscribe INVITED chats to a city and open a round there (invitations queued)."""
    chats = {first_chat + n: ("uk", "ru", "en", "pl")[n % 4] for n in range(INVITED)}
    await subscribe(services, chats, city)
    await open_now(services, city)
    return set(chats)


async def outage(cluster: Cluster, seconds: float) -> None:
    """Stop PostgreSQL (as a restart does: every connection cut) for `seconds`, then start it."""
    cluster.stop("fast")
    await asyncio.sleep(seconds)
    cluster.start()


def exactly_once(server: FakeBotApi, chats: set[int]) -> bool:
    delivered = sent_to(server)
    return all(delivered[chat] == 1 for chat in chats) and not any(
        delivered[chat] > 1 for chat in delivered
    )


async def all_sent(server: FakeBotApi, chats: set[int], timeout: float) -> None:  # noqa: ASYNC109
    await server.wait_for(lambda: set(sent_to(server)) >= chats, timeout=timeout)
    await asyncio.sleep(1.5)  # time for a double, if there were to be one


def replied_once(server: FakeBotApi, users: list[FakeUser]) -> bool:
    return all(len(server.messages(u.id)) == 1 for u in users)


async def test_run_rides_out_an_8_second_database_outage(
    pg_cluster: Cluster,  # noqa: F811
    cluster_services: Services,
    tmp_path: Path,
) -> None:
    services = cluster_services
    async with FakeBotApi() as server:
        server.delays["sendMessage"] = 0.02
        run = await Proc(bot_env(server, pg_cluster.url), tmp_path / "run.log", "run").start()
        try:
            await server.wait_for(lambda: server.calls_to("getUpdates"), timeout=60)
            chats = await invite(services, 600_000)
            await server.wait_for(lambda: len(sent_to(server)) >= 20, timeout=30)
            down = asyncio.create_task(outage(pg_cluster, 8.0))
            await asyncio.sleep(0.5)
            users = [server.user(language_code="en") for _ in range(12)]
            updates = [(await user.send("/start"))["update_id"] for user in users]
            await down
            await all_sent(server, chats, timeout=90)
            await server.wait_for(lambda: replied_once(server, users), timeout=60)
            assert exactly_once(server, chats), sent_to(server)
            assert await processed(services, updates) == len(updates)
            assert await recorded(services) == Counter({"sent": INVITED})
            assert "database unavailable" in run.log()  # the outage did hit the process
        finally:
            code, took = await run.stop()
        assert code == 0, run.log()
        assert took < 5.0
        assert "Traceback" not in run.log()


async def test_serve_with_two_workers_rides_out_an_outage_and_leadership_moves(
    pg_cluster: Cluster,  # noqa: F811
    cluster_services: Services,
    tmp_path: Path,
) -> None:
    services = cluster_services
    port, metrics_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    async with FakeBotApi() as server, aiohttp.ClientSession() as http:
        env = bot_env(
            server,
            pg_cluster.url,
            WEBHOOK_URL="https://bot.example.org/telegram/webhook",  # served on 127.0.0.1:port
            WEBHOOK_SECRET=WEBHOOK_SECRET,
            METRICS_PORT=str(metrics_port),
        )
        serve = Proc(env, tmp_path / "serve.log", "serve", "--host", "127.0.0.1")
        serve.args += ("--port", str(port), "--workers", "2")
        await serve.start()
        try:
            assert await eventually(lambda: health(http, base, 200), timeout=60)
            chats = await invite(services, 700_000)
            await server.wait_for(lambda: len(sent_to(server)) >= 20, timeout=30)
            down = asyncio.create_task(outage(pg_cluster, 8.0))
            await asyncio.sleep(0.5)
            assert await health(http, base, 503)
            metrics = f"http://127.0.0.1:{metrics_port}/metrics"  # the first worker's
            async with http.get(metrics) as response:  # still scraped meanwhile
                assert response.status == 200
                assert "auditbot_task_failures_total" in await response.text()
            telegram = Telegram(http, f"{base}/telegram/webhook")
            deliveries = [
                telegram.deliver(message_update(9000 + n, 80_000 + n, "/start")) for n in range(12)
            ]
            delivering = asyncio.gather(*deliveries)
            await down
            await delivering
            await all_sent(server, chats, timeout=90)
            assert exactly_once(server, chats), sent_to(server)
            assert all(len(server.messages(80_000 + n)) == 1 for n in range(12))
            assert telegram.refused, "some deliveries met the outage and were answered 5xx"
            for update_id in telegram.confirmed:  # each 200 came after its commit
                assert await processed(services, [update_id]) == 1
            assert await eventually(lambda: health(http, base, 200), timeout=30)

            # Kill the leader after the restart: another worker (or its restart) leads.
            leader = await leader_pid(services)
            assert leader in children(serve.pid)
            os.kill(leader, signal.SIGKILL)
            more = await invite(services, 710_000, city="lublin")
            await all_sent(server, more, timeout=60)
            assert exactly_once(server, chats | more)
            assert await eventually(lambda: leader_moved(services, leader), timeout=30)
            assert await eventually(lambda: health(http, base, 200), timeout=30)
            assert len(children(serve.pid)) == 2  # the killed worker was started again
        finally:
            code, took = await serve.stop()
        assert took < 5.0
        assert code == 1, "the parent reports the worker that died"
        assert "was killed by signal SIGKILL; starting it again" in serve.log()


async def test_schedulers_ride_out_an_outage_and_the_survivor_takes_over(
    pg_cluster: Cluster,  # noqa: F811
    cluster_services: Services,
    tmp_path: Path,
) -> None:
    services = cluster_services
    async with FakeBotApi() as server:
        server.delays["sendMessage"] = 0.02
        env = bot_env(server, pg_cluster.url)
        first = await Proc(env, tmp_path / "a.log", "scheduler").start()
        second = await Proc(env, tmp_path / "b.log", "scheduler").start()
        try:
            chats = await invite(services, 720_000)
            await server.wait_for(lambda: len(sent_to(server)) >= 20, timeout=60)
            await outage(pg_cluster, 8.0)
            await all_sent(server, chats, timeout=90)
            assert exactly_once(server, chats), sent_to(server)
            assert await recorded(services) == Counter({"sent": INVITED})

            leader = await leader_pid(services)
            killed, survivor = (first, second) if leader == first.pid else (second, first)
            await killed.kill()
            more = await invite(services, 730_000, city="lublin")
            await all_sent(server, more, timeout=60)
            assert exactly_once(server, chats | more)
            assert await leader_pid(services) == survivor.pid
        finally:
            for proc in (first, second):
                code, took = await proc.stop()
                assert took < 5.0
                assert code in (0, -signal.SIGKILL)
        assert "Traceback" not in first.log() + second.log()


async def recorded(services: Services) -> Counter[str]:
    """The outbox's statuses once every send is recorded (a record that met the outage is
    retried with a backoff of up to 10 s)."""

    async def all_recorded() -> Counter[str] | None:
        statuses = await outbox_statuses(services)
        return statuses if "sending" not in statuses else None

    return await eventually(all_recorded, timeout=30) or await outbox_statuses(services)


class Telegram:
    """Delivers webhook updates as Telegram does: again after anything but a 200."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.url = url
        self.refused = 0
        self.confirmed: list[int] = []

    async def deliver(self, update: dict[str, Any]) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                async with self.http.post(
                    self.url,
                    json=update,
                    headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
                ) as response:
                    if response.status == 200:
                        self.confirmed.append(update["update_id"])
                        return
                    assert response.status >= 500, response.status
                    self.refused += 1
            except aiohttp.ClientError:
                self.refused += 1
            await asyncio.sleep(0.5)
        raise AssertionError(f"update {update['update_id']} was never confirmed")


async def health(http: aiohttp.ClientSession, base: str, expected: int) -> bool:
    try:
        async with http.get(f"{base}/healthz") as response:
            return response.status == expected
    except aiohttp.ClientError:
        return False


async def leader_pid(services: Services) -> int | None:
    async with services.db.unit_of_work() as uow:
        beat = await uow.settings.get(HEARTBEAT_KEY)
    return json.loads(beat).get("pid") if beat else None


async def leader_moved(services: Services, old: int) -> bool:
    pid = await leader_pid(services)
    return pid is not None and pid != old
