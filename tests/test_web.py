"""The aiohttp server: webhook secret, duplicates, two workers, leader election, health, metrics."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from app.config import Settings
from bot.startup import start_services
from bot.telegram.app import build_application, prepare
from bot.web.metrics_server import metrics_server
from bot.web.server import SECRET_HEADER, build_web_app
from storage.leader import LeaderLock
from storage.models import Answer, Response
from tests.conftest import SECRET, make_settings
from tests.fakebotapi import FakeBotApi

WEBHOOK_SECRET = "webhook-secret-for-tests-0123"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def message_update(update_id: int, user_id: int, text: str) -> dict[str, Any]:
    entities = (
        [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        if text.startswith("/")
        else []
    )
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "text": text,
            "chat": {"id": user_id, "type": "private", "first_name": "T"},
            "from": {"id": user_id, "is_bot": False, "first_name": "T", "language_code": "en"},
            "entities": entities,
        },
    }


async def test_serve_process_checks_the_secret_and_answers_through_the_bot_api(
    settings: Settings,
) -> None:
    port, metrics_port = free_port(), free_port()
    async with FakeBotApi() as server:
        env = {
            **os.environ,
            "BOT_TOKEN": server.token,
            "TELEGRAM_API_URL": server.url,
            "DATABASE_URL": settings.database_url,
            "PSEUDONYM_SECRET": SECRET,
            "WEBHOOK_URL": "https://bot.example.org/telegram/webhook",
            "WEBHOOK_SECRET": WEBHOOK_SECRET,
            "METRICS_PORT": str(metrics_port),
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as http:
                health = await _wait_healthy(http, f"{base}/healthz")
                assert health == 200
                url = f"{base}/telegram/webhook"
                start = message_update(1, 4242, "/start")
                async with http.post(url, json=start) as response:
                    assert response.status == 401
                async with http.post(url, json=start, headers={SECRET_HEADER: "wrong"}) as r:
                    assert r.status == 401
                assert server.messages(4242) == []
                async with http.post(
                    url,
                    json=message_update(2, 4242, "/start"),
                    headers={SECRET_HEADER: WEBHOOK_SECRET},
                ) as response:
                    assert response.status == 200
                [reply] = server.messages(4242)
                assert reply["reply_markup"]["inline_keyboard"][0][0]["text"] == "English"
                async with http.get(f"{base}/metrics") as response:
                    assert response.status == 404  # not on the public port
                async with http.get(f"http://127.0.0.1:{metrics_port}/metrics") as response:
                    body = await response.text()
                assert "auditbot_updates_handled_total" in body
                assert "auditbot_outbox_depth" in body
            [registration] = server.calls_to("setWebhook")
            assert registration.params["secret_token"] == WEBHOOK_SECRET
            assert registration.params["url"] == "https://bot.example.org/telegram/webhook"
            assert sorted(registration.params["allowed_updates"]) == [
                "callback_query",
                "edited_message",
                "message",
            ]
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()


async def _wait_healthy(http: aiohttp.ClientSession, url: str) -> int:
    status = 0
    for _ in range(150):
        try:
            async with http.get(url) as response:
                status = response.status
                if status == 200:
                    return status
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    return status


class Worker:
    """One worker: services, a webhook Application and its aiohttp test client."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def __aenter__(self) -> Worker:
        self.services = await start_services(self.settings)
        self.application = build_application(self.settings, self.services)
        await self.application.initialize()
        await prepare(self.application)
        await self.application.start()
        self.client = TestClient(TestServer(build_web_app(self.services, self.application)))
        await self.client.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()
        await self.application.stop()
        await self.application.shutdown()
        await self.services.close()

    async def deliver(self, update: dict[str, Any]) -> int:
        response = await self.client.post(
            "/telegram/webhook", json=update, headers={SECRET_HEADER: WEBHOOK_SECRET}
        )
        return response.status


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server


def worker_settings(database_url: str, server: FakeBotApi) -> Settings:
    return make_settings(
        database_url,
        bot_token=server.token,
        telegram_api_url=server.url,
        webhook_secret=WEBHOOK_SECRET,
    )


def press(
    api: FakeBotApi, update_id: int, user_id: int, data: str, message: dict[str, Any]
) -> dict[str, Any]:
    query_id = api.new_callback_query(user_id)
    return {
        "update_id": update_id,
        "callback_query": {
            "id": query_id,
            "chat_instance": "x",
            "data": data,
            "message": message,
            "from": {"id": user_id, "is_bot": False, "first_name": "T", "language_code": "en"},
        },
    }


async def test_the_same_update_delivered_twice_is_handled_once(
    database_url: str, api: FakeBotApi
) -> None:
    async with Worker(worker_settings(database_url, api)) as worker:
        update = message_update(10, 777, "/start")
        assert await worker.deliver(update) == 200
        assert await worker.deliver(update) == 200  # a webhook retry
        assert len(api.messages(777)) == 1


async def test_the_webhook_refuses_what_is_not_an_update_and_skips_a_broken_one(
    database_url: str, api: FakeBotApi
) -> None:
    async with Worker(worker_settings(database_url, api)) as worker:
        response = await worker.client.post(
            "/telegram/webhook", data=b"[1, 2]", headers={SECRET_HEADER: WEBHOOK_SECRET}
        )
        assert response.status == 400
        broken = {"update_id": 11, "callback_query": {"id": "1", "chat_instance": "x"}}
        assert await worker.deliver(broken) == 200  # Telegram would only send it again
        assert await worker.deliver(message_update(12, 778, "/start")) == 200
        assert len(api.messages(778)) == 1


async def test_two_workers_keep_one_persons_answers_complete_and_in_order(
    database_url: str, api: FakeBotApi
) -> None:
    settings = worker_settings(database_url, api)
    async with Worker(settings) as first, Worker(settings) as second:
        workers = [first, second]
        user = 888
        update_id = 100

        async def send(text: str) -> None:
            nonlocal update_id
            update_id += 1
            assert (
                await workers[update_id % 2].deliver(message_update(update_id, user, text)) == 200
            )

        async def tap(label: str) -> None:
            nonlocal update_id
            update_id += 1
            message = next(m for m in reversed(api.messages(user)) if m.get("reply_markup"))
            button = next(
                b
                for row in message["reply_markup"]["inline_keyboard"]
                for b in row
                if b["text"] == label
            )
            update = press(api, update_id, user, button["callback_data"], message)
            assert await workers[update_id % 2].deliver(update) == 200

        await send("/start p_krakow-otwarty-krakow")
        await tap("English")
        await tap("I agree")
        await tap("Yes")
        await tap("Several times")
        for score in ("5", "4", "3", "2"):
            await send(score)  # typed ratings, alternating between the workers
        await tap("Done")  # help areas: nothing chosen yet → a hint, no answer
        await tap("Work")
        await tap("Done")
        await send("Longer opening hours, please")
        async with first.services.db.unit_of_work() as uow:
            [response] = (await uow.session.scalars(select(Response))).all()
            answers = {a.question_id: a for a in (await uow.session.scalars(select(Answer))).all()}
    assert response.status == "completed"
    assert [answers[q].value_number for q in ("city_role", "reliable", "fits_needs", "useful")] == [
        5,
        4,
        3,
        2,
    ]
    assert answers["help_areas"].value_options == ["work"]
    assert answers["comment"].value_text == "Longer opening hours, please"
    assert len(answers) == 8


async def test_concurrent_updates_of_one_person_on_two_workers_lose_nothing(
    database_url: str, api: FakeBotApi
) -> None:
    settings = worker_settings(database_url, api)
    async with Worker(settings) as first, Worker(settings) as second:
        updates = [message_update(200 + n, 900 + n, "/start") for n in range(10)]
        statuses = await asyncio.gather(
            *((first if n % 2 else second).deliver(u) for n, u in enumerate(updates))
        )
        assert statuses == [200] * 10
        assert all(len(api.messages(900 + n)) == 1 for n in range(10))


async def test_only_one_of_two_schedulers_becomes_leader(settings: Settings) -> None:
    first, second = await start_services(settings), await start_services(settings)
    a, b = LeaderLock(first.db.engine), LeaderLock(second.db.engine)
    try:
        assert await a.acquire() is True
        assert await b.acquire() is False
        await a.release()
        assert await b.acquire() is True
    finally:
        await a.close()
        await b.close()
        await first.close()
        await second.close()


async def test_healthz_reports_a_missing_scheduler(database_url: str, api: FakeBotApi) -> None:
    async with Worker(worker_settings(database_url, api)) as worker:
        response = await worker.client.get("/healthz")
        assert response.status == 503
        assert (await response.json()) == {"database": "ok", "scheduler": "missing"}


async def test_the_webhook_answers_400_to_what_no_update_can_be(
    database_url: str, api: FakeBotApi
) -> None:
    async with Worker(worker_settings(database_url, api)) as worker:

        async def post(body: bytes) -> int:
            response = await worker.client.post(
                "/telegram/webhook",
                data=body,
                headers={SECRET_HEADER: WEBHOOK_SECRET, "Content-Type": "application/json"},
            )
            return response.status

        deep = b'{"update_id": 20, "message": ' + b"[" * 1000 + b"]" * 1000 + b"}"
        assert await post(deep) == 400
        very_deep = b'{"update_id": 21, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        assert await post(very_deep) == 400
        for update_id, user_id in ((2**63, 901), (22, 2**63), (23, -(2**63) - 1), (24, 2**64)):
            body = orjson.dumps(message_update(update_id, 0, "/start")).replace(
                b'"id":0', f'"id":{user_id}'.encode()
            )
            assert await post(body) == 400, (update_id, user_id)
        far_future = message_update(25, 902, "/start")
        far_future["message"]["date"] = 2**62  # a 64-bit number, but no date PTB can read:
        assert await worker.deliver(far_future) == 200  # skipped like any broken update
        assert await worker.deliver(message_update(26, 903, "/start")) == 200
        assert len(api.messages(903)) == 1  # and the worker goes on serving


async def test_health_and_metrics_answer_while_another_transaction_holds_the_write_lock(
    tmp_path: Any,
) -> None:
    path = tmp_path / "busy.sqlite3"
    metrics_port = free_port()
    settings = make_settings(f"sqlite+aiosqlite:///{path}", metrics_port=metrics_port)
    services = await start_services(settings)
    client = TestClient(TestServer(build_web_app(services, None)))
    await client.start_server()
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        async with metrics_server(services, metrics_port):
            writer.execute("BEGIN IMMEDIATE")  # a long write elsewhere (a recount, a migration)
            health = await asyncio.wait_for(client.get("/healthz"), 5)
            assert (await health.json())["database"] == "ok"
            async with aiohttp.ClientSession() as http:
                page = await asyncio.wait_for(
                    http.get(f"http://127.0.0.1:{metrics_port}/metrics"), 5
                )
                assert "auditbot_outbox_depth" in await page.text()
            writer.execute("ROLLBACK")
    finally:
        writer.close()
        await client.close()
        await services.close()


async def test_metrics_count_the_answer_pipelines_events_and_transactions(
    database_url: str, api: FakeBotApi
) -> None:
    """/metrics shows how many events the pipeline committed, in how many transactions, and
    how many it retried; nothing before the first event."""
    metrics_port = free_port()
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    async with (
        Worker(worker_settings(database_url, api)) as worker,
        metrics_server(worker.services, metrics_port),
        aiohttp.ClientSession() as http,
    ):
        before = await (await http.get(url)).text()
        assert "auditbot_pipeline_events_total 0.0" in before
        updates = [message_update(700 + n, 960 + n, "/start") for n in range(5)]
        assert await asyncio.gather(*map(worker.deliver, updates)) == [200] * 5
        figures = {
            line.split()[0]: float(line.split()[1])
            for line in (await (await http.get(url)).text()).splitlines()
            if line.startswith("auditbot_pipeline_")
        }
    assert figures["auditbot_pipeline_events_total"] == 5
    assert 1 <= figures["auditbot_pipeline_transactions_total"] <= 5
    assert figures["auditbot_pipeline_retries_total"] == 0
