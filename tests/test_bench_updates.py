"""bench/updates.py at a tiny size: its runs complete and its own checks pass (every answer
replied to once, no call failed, every update processed and every answer stored once) —
long polling on SQLite, the webhook of `auditbot serve` on SQLite, and on PostgreSQL two
workers behind the webhook. No timing is asserted: the figures are the bench's to print."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest

from tests.conftest import BACKENDS

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--respondents", "3", "--answers-per-respondent", "3"]
MODES = [
    ("sqlite", []),
    ("sqlite", ["--webhook"]),
    *([("postgresql", ["--webhook", "--workers", "2"])] if "postgresql" in BACKENDS else []),
]


@pytest.mark.parametrize(("database", "transport"), MODES)
async def test_the_bench_runs_and_its_checks_pass(database: str, transport: list[str]) -> None:
    bench = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bench.updates", *TINY, "--database", database, *transport),
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = (await asyncio.wait_for(bench.communicate(), 600))[0].decode()
    assert bench.returncode == 0, output
    assert "PROBLEMS" not in output
    # 3 respondents: /start and 4 setup presses each, then 3 answers; 2 setup answers + 3 scale
    assert "ours: database: processed_updates=24 (updates pushed: 24), " in output, output
    assert "answer rows=15 (expected 15)" in output, output
    assert "ours: answers=9 " in output, output
    assert re.search(r"^updates: answers_per_s=\d", output, re.MULTILINE), output
