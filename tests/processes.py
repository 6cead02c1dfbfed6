"""Real `auditbot` processes for tests: started with an environment, stopped by signal, timed."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from app.services import Services
from storage.models import OutboxMessage, ProcessedUpdate
from tests.conftest import SECRET
from tests.fakebotapi import FakeBotApi

WEBHOOK_SECRET = "webhook-secret-for-tests-0123"


def bot_env(server: FakeBotApi, database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a bot process talking to the fake Bot API."""
    return {
        **os.environ,
        "BOT_TOKEN": server.token,
        "TELEGRAM_API_URL": server.url,
        "DATABASE_URL": database_url,
        "PSEUDONYM_SECRET": SECRET,
        **extra,
    }


class Proc:
    """`python -m bot ARGS` with its stderr in a file."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.env = env
        self.args = args
        self.log_path = log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> Proc:
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                *self.args,
                env=self.env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> tuple[int, float]:  # noqa: ASYNC109
        """Signal the process; its exit code and how long it took to exit."""
        assert self.process is not None
        started = time.monotonic()
        if self.process.returncode is None:
            self.process.send_signal(sig)
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        assert self.process.returncode is not None
        return self.process.returncode, time.monotonic() - started

    async def kill(self) -> None:
        if self.running:
            await self.stop(signal.SIGKILL)


def children(pid: int) -> list[int]:
    """The child processes of a process (Linux)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(p) for p in task.read_text().split()]
    return found


def sent_to(server: FakeBotApi) -> Counter[int]:
    """How many messages each chat received (successful sendMessage calls)."""
    return Counter(
        int(c.params["chat_id"]) for c in server.calls_to("sendMessage") if c.error is None
    )


async def outbox_statuses(services: Services) -> Counter[str]:
    async with services.db.unit_of_work() as uow:
        return Counter((await uow.session.scalars(select(OutboxMessage.status))).all())


async def processed(services: Services, update_ids: list[int]) -> int:
    """How many of these updates are recorded as handled (committed)."""
    async with services.db.unit_of_work() as uow:
        query = select(func.count()).where(ProcessedUpdate.update_id.in_(update_ids))
        return int(await uow.session.scalar(query) or 0)


async def eventually(check: Any, timeout: float, every: float = 0.25) -> Any:  # noqa: ASYNC109
    """Poll an async check until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(every)
