"""Operators' mistakes and awkward moments, on both databases: SIGTERM during a 429, two `run`
on one token, three processes starting at once on a fresh database, a database that fails
while updates are handled (SQLite's lock), a send whose record meets an outage, claims of
another sender, and queued messages that are no longer wanted at send time."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select, update

from app.config import Settings
from app.rounds import close_round
from app.staff import COORDINATOR
from bot.startup import start_services
from bot.telegram.outbox import OutboxSender
from bot.web.metrics import REGISTRY
from storage.db import Database
from storage.models import OutboxMessage, utcnow
from tests.conftest import BACKENDS, postgresql_url, reset_postgresql
from tests.pgcluster import Cluster, free_port, pg_cluster  # noqa: F401  (fixture)
from tests.processes import (
    WEBHOOK_SECRET,
    Proc,
    bot_env,
    eventually,
    outbox_statuses,
    processed,
    sent_to,
)
from tests.telegram_harness import RunningBot, running_bot
from tests.test_staff import open_now, subscribe
from tests.test_web import Worker, worker_settings


async def test_sigterm_during_a_429_stops_within_5_seconds_and_nothing_is_doubled(
    settings: Settings, tmp_path: Path
) -> None:
    services = await start_services(settings)
    try:
        chats = {810_000 + n: "en" for n in range(40)}
        await subscribe(services, chats)
        async with FakeBotApiWithRun(settings, tmp_path) as (server, start):
            first = await start("first.log")
            await open_now(services)
            await server.wait_for(lambda: len(sent_to(server)) >= 5, timeout=30)
            limited = server.fail_next("sendMessage", status=429, retry_after=25)
            await server.wait_for(lambda: limited.times == 0, timeout=30)
            await asyncio.sleep(0.3)  # the sender is now paused for 25 s
            code, took = await first.stop()
            assert code == 0, first.log()
            assert took < 5.0, f"took {took:.1f} s to stop"
            assert "Traceback" not in first.log()
            before = sent_to(server)
            assert sum(before.values()) < len(chats) and max(before.values()) == 1

            second = await start("second.log")
            statuses = await eventually(lambda: _settled(services, len(chats)), timeout=60)
            assert statuses == Counter({"sent": len(chats) - 1, "pending": 1}), statuses
            async with services.db.unit_of_work() as uow:  # the one that met the 429 …
                [waiting] = (
                    await uow.session.scalars(
                        select(OutboxMessage).where(OutboxMessage.status == "pending")
                    )
                ).all()
                assert waiting.next_attempt_at > utcnow() + timedelta(seconds=10)
                await uow.session.execute(  # … waits out its retry_after (made shorter here)
                    update(OutboxMessage).values(next_attempt_at=utcnow())
                )
            await server.wait_for(lambda: set(sent_to(server)) == set(chats), timeout=30)
            await asyncio.sleep(1.0)
            code, took = await second.stop()
            assert code == 0 and took < 5.0
        assert sent_to(server) == Counter(dict.fromkeys(chats, 1))
    finally:
        await services.close()


async def _settled(services: object, total: int) -> Counter[str] | None:
    statuses = await outbox_statuses(services)  # type: ignore[arg-type]
    return statuses if statuses["sent"] == total - 1 and statuses["pending"] == 1 else None


class FakeBotApiWithRun:
    """A fake Bot API and a way to start `auditbot run` processes against it."""

    def __init__(self, settings: Settings, tmp_path: Path) -> None:
        from tests.fakebotapi import FakeBotApi

        self.server = FakeBotApi()
        self.settings = settings
        self.tmp_path = tmp_path
        self.procs: list[Proc] = []

    async def __aenter__(self):  # type: ignore[no-untyped-def]
        await self.server.start()
        return self.server, self.start

    async def start(self, log: str, *args: str) -> Proc:
        env = bot_env(self.server, self.settings.database_url)
        proc = await Proc(env, self.tmp_path / log, *(args or ("run",))).start()
        self.procs.append(proc)
        await eventually(lambda: _logged(proc, "long polling", "waits"), timeout=60)
        return proc

    async def __aexit__(self, *exc: object) -> None:
        for proc in self.procs:
            await proc.stop()
        await self.server.stop()


async def _logged(proc: Proc, *phrases: str) -> bool:
    return any(phrase in proc.log() for phrase in phrases)


async def test_a_second_run_on_the_same_token_waits_and_takes_over(
    settings: Settings, tmp_path: Path
) -> None:
    services = await start_services(settings)
    try:
        async with FakeBotApiWithRun(settings, tmp_path) as (server, start):
            first = await start("first.log")
            await eventually(lambda: _logged(first, "is the leader"), timeout=30)
            second = await start("second.log")
            await eventually(lambda: _logged(second, "another process is running"), timeout=30)
            chats = {820_000 + n: "pl" for n in range(30)}
            await subscribe(services, chats)
            server.delays["sendMessage"] = 0.05
            await open_now(services)
            early = [server.user(language_code="en") for _ in range(5)]
            for user in early:
                await user.send("/start")
            await server.wait_for(lambda: all(server.messages(u.id) for u in early), timeout=30)
            assert first.running and second.running
            assert "is the leader" not in second.log()

            await server.wait_for(lambda: len(sent_to(server)) >= 5, timeout=30)
            code, took = await first.stop()  # mid-broadcast: the second takes over
            assert code == 0 and took < 5.0
            await eventually(lambda: _logged(second, "is the leader"), timeout=30)
            late = server.user(language_code="en")
            await late.send("/start")
            await server.wait_for(lambda: server.messages(late.id), timeout=30)
            await server.wait_for(lambda: set(sent_to(server)) >= set(chats), timeout=60)
            await asyncio.sleep(1.0)
        invited = Counter({c: n for c, n in sent_to(server).items() if c in chats})
        assert invited == Counter(dict.fromkeys(chats, 1))
        for user in [*early, late]:
            assert len(server.messages(user.id)) == 1
        assert "Traceback" not in first.log() + second.log()
    finally:
        await services.close()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_three_processes_start_at_once_on_a_fresh_database(
    backend: str, tmp_path: Path
) -> None:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}"
    else:
        url = postgresql_url()
        await reset_postgresql(url)
    from tests.fakebotapi import FakeBotApi

    port = free_port()
    async with FakeBotApi() as server:
        env = bot_env(
            server,
            url,
            WEBHOOK_URL="https://bot.example.org/telegram/webhook",  # served on 127.0.0.1:port
            WEBHOOK_SECRET=WEBHOOK_SECRET,
        )
        if backend == "sqlite":  # one serving process on SQLite
            serving = ["serve", "--host", "127.0.0.1", "--port", str(port)]
            others = [["scheduler"], ["db", "upgrade"], ["db", "upgrade"]]
        else:
            serving = ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
            others = [["scheduler"], ["db", "upgrade"], ["db", "upgrade"]]
        procs = [
            Proc(env, tmp_path / f"{n}.log", *args) for n, args in enumerate([serving, *others])
        ]
        await asyncio.gather(*(p.start() for p in procs))
        try:
            upgrades = [p for p in procs if p.args[0] == "db"]
            for proc in upgrades:
                assert proc.process is not None
                assert await asyncio.wait_for(proc.process.wait(), 60) == 0, proc.log()
            async with aiohttp.ClientSession() as http:

                async def healthy() -> bool:
                    try:
                        async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                            return response.status == 200
                    except aiohttp.ClientError:
                        return False

                assert await eventually(healthy, timeout=60), procs[0].log()
            assert procs[0].running and procs[1].running
        finally:
            for proc in procs:
                await proc.stop()
    for proc in procs:
        assert "Traceback" not in proc.log(), proc.log()
    assert "starting it again" not in procs[0].log()  # no worker was lost
    db = Database(url)
    try:
        assert await db.revision() is not None
        async with db.unit_of_work() as uow:
            assert len(await uow.catalog.cities()) > 5
    finally:
        await db.dispose()


async def test_an_update_is_confirmed_only_after_its_commit_on_sqlite(tmp_path: Path) -> None:
    """SQLite's write lock held by someone else (an operator's sqlite3 shell): answers and
    commands fail, stay unconfirmed, and are handled once the lock is released."""
    path = tmp_path / "locked.sqlite3"
    async with running_bot(f"sqlite+aiosqlite:///{path}?timeout=0.3") as bot:
        answering = bot.person("en")
        await answering.send("/start p_krakow-otwarty-krakow")
        await answering.tap("English")
        await answering.tap("I agree")
        await answering.tap("Yes")  # the response exists: the next press answers a question
        newcomer = bot.person("en")
        unconfirmed_before = unconfirmed("polling")
        operator = sqlite3.connect(path, timeout=0)
        operator.execute("BEGIN IMMEDIATE")  # holds the write lock
        try:
            press = await answering.user.press_text("Several times")
            command = await newcomer.user.send("/start")
            await asyncio.sleep(1.5)  # several attempts, each failing on the lock
            pending = {u["update_id"] for u in bot.server._pending()}
            assert {press["update_id"], command["update_id"]} <= pending  # not confirmed
            assert not bot.server.messages(newcomer.id)
            assert unconfirmed("polling") >= unconfirmed_before + 2  # they did fail
        finally:
            operator.rollback()
            operator.close()
        await bot.processor.wait(command["update_id"], timeout=30)
        await bot.server.wait_for(lambda: bot.server.messages(newcomer.id), timeout=30)
        await bot.server.wait_for(lambda: not bot.server._pending(), timeout=30)
        assert await processed(bot.services, [press["update_id"], command["update_id"]]) == 2
        assert len(bot.server.messages(newcomer.id)) == 1
        async with bot.services.db.unit_of_work() as uow:
            from storage.models import Answer

            answers = (await uow.session.scalars(select(Answer))).all()
        stored = {a.question_id: a.value_option for a in answers}
        assert stored == {"aware": "yes", "used": "several"}
        assert bot.services.pipeline.events >= 1  # through the pipeline's writer


async def test_polling_survives_409_conflict_and_network_errors(bot: RunningBot) -> None:
    """Another process polling the same token (409) or a broken network does not end polling."""
    bot.server.fail_next("getUpdates", status=409, times=2, description="Conflict: terminated")
    bot.server.fail_next("getUpdates", status=502, times=1)
    person = bot.person("en")
    update = await person.user.send("/start")
    await bot.processor.wait(update["update_id"], timeout=30)
    assert person.buttons()[0] == "English"
    failed = [c for c in bot.server.calls_to("getUpdates") if c.error is not None]
    assert [c.error.status for c in failed if c.error] == [409, 409, 502]


def unconfirmed(transport: str) -> float:
    """Updates left for Telegram to deliver again so far (the process's counter)."""
    value = REGISTRY.get_sample_value(
        "auditbot_updates_unconfirmed_total", {"transport": transport}
    )
    return value or 0.0


async def test_a_send_is_recorded_when_the_database_blinks_after_it(
    pg_cluster: Cluster,  # noqa: F811
) -> None:
    """The send succeeds while PostgreSQL is down: the record is retried until it is back;
    the message is not sent again, then or after a restart."""
    from tests.fakebotapi import FakeBotApi

    async with FakeBotApi() as server, running_bot(pg_cluster.url, server) as bot:
        await subscribe(bot.services, {830_001: "en"})
        await open_now(bot.services)
        server.delays["sendMessage"] = 1.0
        stop = asyncio.Event()
        sender = OutboxSender(bot.services, bot.application.bot)
        running = asyncio.create_task(sender.run(stop, idle_poll=0.1))
        await server.wait_for(lambda: server.calls_to("sendMessage"), timeout=10)
        pg_cluster.stop("fast")  # while the send is on the wire
        await server.wait_for(lambda: sent_to(server)[830_001] == 1, timeout=10)
        await asyncio.sleep(2.0)
        pg_cluster.start()
        assert await eventually(lambda: _all_sent(bot), timeout=30)
        stop.set()
        await running
        restarted = OutboxSender(bot.services, bot.application.bot, orphan_grace=0)
        assert await restarted.recover() == 0
        await restarted.drain()
        assert sent_to(server) == Counter({830_001: 1})
        assert sender.stats.sent == 1


async def _all_sent(bot: RunningBot) -> bool:
    statuses = await outbox_statuses(bot.services)
    return set(statuses) == {"sent"}


async def test_a_newcomer_leaves_the_claims_of_a_running_sender_alone(bot: RunningBot) -> None:
    await subscribe(bot.services, {840_001: "en", 840_002: "en"})
    await open_now(bot.services)
    bot.server.delays["sendMessage"] = 1.5
    first = OutboxSender(bot.services, bot.application.bot)
    await first.send_due()  # both claimed and on the wire for 1.5 s
    newcomer = OutboxSender(bot.services, bot.application.bot)
    stop = asyncio.Event()
    newcomer_running = asyncio.create_task(newcomer.run(stop, idle_poll=0.1))
    await first.finish_in_flight()
    await asyncio.sleep(0.5)
    stop.set()
    await newcomer_running
    assert sent_to(bot.server) == Counter({840_001: 1, 840_002: 1})
    assert await outbox_statuses(bot.services) == Counter({"sent": 2})

    # A sender that is gone for good: its claim is released once the grace has passed.
    await subscribe(bot.services, {840_003: "en"}, city="lublin")
    await open_now(bot.services, city="lublin")
    async with bot.services.db.unit_of_work() as uow:
        [message] = await uow.outbox.due(utcnow(), 10)
        assert await uow.outbox.claim(message.id, utcnow(), "a-sender-killed-hard")
    later = OutboxSender(bot.services, bot.application.bot, orphan_grace=0.3)
    stop = asyncio.Event()
    later_running = asyncio.create_task(later.run(stop, idle_poll=0.1))
    await bot.server.wait_for(lambda: sent_to(bot.server)[840_003] == 1, timeout=10)
    stop.set()
    await later_running


async def test_queued_messages_no_longer_wanted_are_not_sent(database_url: str) -> None:
    coordinator, former = 850_001, 850_002
    async with running_bot(database_url) as bot:
        services = bot.services
        await subscribe(services, {850_101: "en", 850_102: "en", 850_103: "en"})
        closing = await open_now(services)
        await subscribe(services, {850_104: "en"}, city="lublin")
        await open_now(services, city="lublin")
        async with services.db.unit_of_work() as uow:
            await uow.staff.put(coordinator, COORDINATOR, [])
            await uow.staff.put(former, COORDINATOR, [])
            report = await uow.reports.add(
                f"final:round:{closing.id}", "round", "r", "en", "pdf", "r.pdf"
            )
            assert report is not None
            for chat in (coordinator, former):
                await uow.outbox.enqueue(
                    "report",
                    f"report:{report.id}:{chat}",
                    chat,
                    "en",
                    None,
                    {"report_id": report.id},
                )
        async with services.db.unit_of_work() as uow:  # while the bot was down …
            round_ = await uow.rounds.get(closing.id)
            assert round_ is not None
            await close_round(uow, round_, "test", utcnow(), 5)  # … krakow's round closed,
            await uow.staff.remove(former)  # … a coordinator lost the role,
            await uow.subscriptions.opt_out(850_104)  # … someone sent /stop,
        bot.server.block(coordinator)
        async with services.db.unit_of_work() as uow:
            await uow.subscriptions.subscribe(coordinator, "gdansk", "en")
            await uow.subscriptions.mark_blocked(coordinator)  # … and someone blocked the bot.
        sender = OutboxSender(services, bot.application.bot, rate=200)
        await sender.drain()
        assert sent_to(bot.server) == Counter()
        assert bot.server.calls_to("sendDocument") == []
        async with services.db.unit_of_work() as uow:
            rows = (await uow.session.scalars(select(OutboxMessage))).all()
        assert {r.status for r in rows} == {"cancelled"}
        reasons = Counter(str(r.error).split(":")[0] for r in rows)
        assert reasons == Counter({"round closed": 3, "opted out": 1, "no role": 1, "blocked": 1})
        assert sender.stats.skipped == 6


async def test_healthz_reports_a_task_that_makes_no_progress(
    database_url: str, tmp_path: Path
) -> None:
    from bot.web.metrics_server import metrics_server
    from tests.fakebotapi import FakeBotApi

    port = free_port()
    async with (
        FakeBotApi() as api,
        Worker(worker_settings(database_url, api)) as worker,
        metrics_server(worker.services, port),
        aiohttp.ClientSession() as http,
    ):
        worker.services.health.watch("sender", 0.05)
        await asyncio.sleep(0.2)
        response = await worker.client.get("/healthz")
        assert response.status == 503
        body = await response.json()
        assert body["tasks"]["sender"].startswith("no progress for")
        async with http.get(f"http://127.0.0.1:{port}/metrics") as scraped:
            metrics = await scraped.text()
        assert 'auditbot_task_stalled{task="sender"} 1.0' in metrics
        worker.services.health.progress("sender")
        body = await (await worker.client.get("/healthz")).json()
        assert "tasks" not in body
