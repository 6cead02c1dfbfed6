"""Reports: scheduled compilation (once per period), delivery to coordinators, /report, CLI."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from app.config import Settings
from app.reports import compile_due_reports
from app.rounds import close_round, reconcile
from app.services import Services
from app.summaries import published_report, round_period
from bot.telegram.outbox import OutboxSender
from storage.models import Answer, AuditLog, ReportRecord, utcnow
from tests.conftest import SECRET
from tests.telegram_harness import RunningBot, running_bot
from tests.test_audit import A, add_response, make_round, person

COORDINATOR = 5151


@pytest.fixture
async def bot(database_url: str):  # type: ignore[no-untyped-def]
    async with running_bot(database_url) as running:
        async with running.services.db.unit_of_work() as uow:
            await uow.staff.put(COORDINATOR, "coordinator", ["krakow"])
            await uow.staff.put(5252, "coordinator", ["gdansk"])
        yield running


async def report_count(services: Services) -> int:
    async with services.db.unit_of_work() as uow:
        return int(await uow.session.scalar(select(func.count(ReportRecord.id))) or 0)


async def fill_round(services: Services) -> int:
    round_id = await make_round(services, 3)
    for n in range(5):
        await add_response(services, f"p{n}", A, round_id, person("yes", "once", (4, 4, 4, 4)))
    return round_id


async def test_a_closed_round_gets_its_final_report_once_and_coordinators_receive_it(
    bot: RunningBot,
) -> None:
    round_id = await fill_round(bot.services)
    async with bot.services.db.unit_of_work() as uow:
        round_ = await uow.rounds.get(round_id)
        assert round_ is not None
        await close_round(uow, round_, "test", utcnow(), 5)
    first = await compile_due_reports(bot.services)
    second = await compile_due_reports(bot.services)
    assert f"final:round:{round_id}" in first and second == []
    assert await report_count(bot.services) == len(first)
    await OutboxSender(bot.services, bot.application.bot, rate=200).drain()
    documents = [
        c
        for c in bot.server.calls_to("sendDocument")
        if any(f"round-{round_id}" in f.filename for f in c.files.values())
    ]
    receivers = Counter(int(c.params["chat_id"]) for c in documents)
    assert receivers == Counter({COORDINATOR: 1})  # the Gdańsk coordinator gets nothing
    [upload] = documents[0].files.values()
    assert upload.content.startswith(b"%PDF")
    # Today is past 15 January, but last year has nothing to report: no annual evaluation.
    assert not any(k.startswith("annual:") for k in first)


async def final_reports_sent(bot: RunningBot, round_id: int) -> dict[int, Any]:
    """Close a round, compile its final report and deliver it: the file each chat got."""
    async with bot.services.db.unit_of_work() as uow:
        round_ = await uow.rounds.get(round_id)
        assert round_ is not None
        await close_round(uow, round_, "test", utcnow(), 5)
    assert f"final:round:{round_id}" in await compile_due_reports(bot.services)
    await OutboxSender(bot.services, bot.application.bot, rate=200).drain()
    return {
        int(call.params["chat_id"]): next(iter(call.files.values()))
        for call in bot.server.calls_to("sendDocument")
    }


async def test_a_coordinator_may_have_scheduled_reports_as_the_excel_csv(bot: RunningBot) -> None:
    coordinator = bot.person("pl", user_id=COORDINATOR)
    await coordinator.send("/report_settings")
    assert "CSV-EXCEL" in coordinator.buttons()
    await coordinator.tap("CSV-EXCEL")
    assert "✓ CSV-EXCEL" in coordinator.buttons()  # stored: a format of nine characters
    round_id = await make_round(bot.services, 3)
    for n in range(5):  # ratings 5, 4, 5, 4, 5: means with a fraction
        ratings = (5 - n % 2, 4, 4, 4)
        await add_response(bot.services, f"p{n}", A, round_id, person("yes", "once", ratings))
    upload = (await final_reports_sent(bot, round_id))[COORDINATOR]
    assert upload.filename.endswith("-excel.csv")
    text = upload.content.decode("utf-8")
    assert text.startswith("\ufeff")  # Excel reads UTF-8 only with the mark
    rows = [line.split(";") for line in text.splitlines()]
    assert rows[0][:3] == ["\ufeffOkres", "Miasto", "Praktyka"]  # ';'-separated, in Polish
    cells = [cell for row in rows[1:] for cell in row]
    assert "4,6" in cells  # the mean 4.6, with a decimal comma
    assert not any(re.fullmatch(r"\d+\.\d+", cell) for cell in cells)


async def test_weekly_interim_and_annual_reports_with_an_injected_clock(bot: RunningBot) -> None:
    round_id = await fill_round(bot.services)
    await reconcile(bot.services)  # opens the round (it started three days ago)
    zone = bot.services.settings.tz
    monday = datetime(2099, 1, 12, 9, 0, tzinfo=zone)  # a Monday, long after the round opened
    async with bot.services.db.unit_of_work() as uow:
        round_ = await uow.rounds.get(round_id)
        assert round_ is not None
        round_.closes_at = monday + timedelta(days=30)
    keys = await compile_due_reports(bot.services, monday)
    assert f"interim:round:{round_id}:2099-W03" in keys
    assert await compile_due_reports(bot.services, monday + timedelta(days=2)) == []
    next_week = await compile_due_reports(bot.services, monday + timedelta(days=7))
    assert f"interim:round:{round_id}:2099-W04" in next_week
    assert "annual:2098:krakow" in next_week  # 15 January 2099 has passed; the round ran
    assert "annual:2098:gdansk" not in next_week  # nothing happened in Gdańsk
    before = await compile_due_reports(bot.services, datetime(2100, 1, 14, 8, tzinfo=zone))
    assert not any(k.startswith("annual:2099") for k in before)
    annual = await compile_due_reports(bot.services, datetime(2100, 1, 15, 8, tzinfo=zone))
    assert sorted(k for k in annual if k.startswith("annual")) == ["annual:2099:krakow"]
    assert not any(
        k.startswith("annual")
        for k in await compile_due_reports(bot.services, datetime(2100, 1, 16, tzinfo=zone))
    )


async def test_report_command_sends_the_chosen_format(bot: RunningBot) -> None:
    round_id = await fill_round(bot.services)
    coordinator = bot.person("pl", user_id=COORDINATOR)
    await coordinator.send("/report")
    await coordinator.press(f"rp|r:{round_id}")
    await coordinator.press(f"rp|r:{round_id}:xlsx")
    [document] = bot.server.calls_to("sendDocument")
    [upload] = document.files.values()
    workbook = load_workbook(io.BytesIO(upload.content))
    assert len(workbook.sheetnames) == 5


async def test_a_coordinator_cannot_read_another_citys_round(bot: RunningBot) -> None:
    round_id = await fill_round(bot.services)  # a Kraków round
    other = bot.person("en", user_id=5252)
    await other.send("/report")
    assert f"rp|r:{round_id}" not in str(other.user.last)
    await other.press(f"rp|r:{round_id}:pdf")  # a forged button
    assert bot.server.calls_to("sendDocument") == []


async def test_comments_can_be_hidden_by_their_citys_coordinator_only(bot: RunningBot) -> None:
    round_id = await make_round(bot.services, 3)
    for n in range(5):
        await add_response(
            bot.services, f"c{n}", A, round_id, person("yes", "once", (4, 4, 4, 4), f"comment {n}")
        )
    async with bot.services.db.unit_of_work() as uow:
        answer_id = int(
            await uow.session.scalar(
                select(func.min(Answer.id)).where(Answer.value_text.is_not(None))
            )
            or 0
        )
        period = await round_period(uow, round_id, bot.services.settings.tz)
    report = await published_report(bot.services.db, period, 5, bot.services.settings.tz)
    comment_id = report.comments[0].id  # the public id reports show, not the answer's
    assert comment_id != answer_id
    other = bot.person("en", user_id=5252)
    await other.send(f"/hide_comment {comment_id}")
    assert "There is no comment" in other.last_text
    coordinator = bot.person("en", user_id=COORDINATOR)
    await coordinator.send(f"/hide_comment {comment_id}")
    assert f"Comment {comment_id} is hidden." == coordinator.last_text
    async with bot.services.db.unit_of_work() as uow:
        actions = (await uow.session.scalars(select(AuditLog.action))).all()
    assert "comment.hide" in actions


def test_report_command_line_writes_every_format(settings: Settings, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "PSEUDONYM_SECRET": SECRET,
        "BOT_TOKEN": "",
    }
    year = datetime.now().year
    for fmt in ("csv", "xlsx", "pdf", "json"):
        out = tmp_path / f"report.{fmt}"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "bot",
                "report",
                "--year",
                str(year),
                "--format",
                fmt,
                "--lang",
                "uk",
                "--out",
                str(out),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert out.stat().st_size > 100
    bad = subprocess.run(
        [sys.executable, "-m", "bot", "report", "--out", "x.pdf"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "--round" in bad.stderr
