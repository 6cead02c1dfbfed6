"""What an operator sees when something is wrong: one or two plain lines naming what to fix,
a non-zero exit, never a traceback, a password or the bot token; and where the data lives."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from app.config import Settings
from storage.models import Respondent
from tests.conftest import SECRET
from tests.fakebotapi import FakeBotApi

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**values: str) -> dict[str, str]:
    """The environment without any of our settings, plus `values`."""
    names = {"DATABASE_URL", "BOT_TOKEN", "WEBHOOK_URL", "PUBLIC_URL", "METRICS_PORT"}
    env = {k: v for k, v in os.environ.items() if k not in names}
    env["PYTHONPATH"] = str(ROOT)  # run from elsewhere, as an installed package would be
    return env | {"PSEUDONYM_SECRET": SECRET, "BOT_TOKEN": ""} | values


def auditbot(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=clean_env(**env),
        cwd=cwd,
        timeout=120,
        check=False,
    )


def plain_failure(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    """A non-zero exit with one or two plain lines that say what is wrong."""
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, result.stderr
    assert "Traceback" not in result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr
    return result.stderr


def test_an_unreachable_postgresql_is_two_lines_at_most_without_the_password() -> None:
    url = f"postgresql://auditor:pw-never-shown@127.0.0.1:{free_port()}/audit"
    for command in (("db", "upgrade"), ("round", "list"), ("chat", "--lang", "en")):
        message = plain_failure(auditbot(*command, DATABASE_URL=url), "DATABASE_URL", "127.0.0.1")
        assert "pw-never-shown" not in message


def test_a_database_file_that_cannot_be_opened_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    url = f"sqlite+aiosqlite:///{blocker}/audit.sqlite3"
    for _ in range(3):  # a failed open once left a thread that printed after the loop closed
        plain_failure(auditbot("round", "list", DATABASE_URL=url), "DATABASE_URL", str(blocker))


@pytest.mark.parametrize("verbose", [False, True])
async def test_a_token_telegram_rejects_is_one_line_and_never_printed(
    tmp_path: Path, verbose: bool
) -> None:
    token = "424242:AAE-this-is-the-secret-part-0123456789"
    async with FakeBotApi() as server:  # it knows another token: answers 401 like Telegram
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            *(["--verbose"] if verbose else []),
            env=clean_env(
                BOT_TOKEN=token,
                TELEGRAM_API_URL=server.url,
                DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'audit.sqlite3'}",
            ),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 120)
    output = (out + err).decode()
    assert process.returncode == 2
    assert "Traceback" not in output and "Unclosed" not in output
    assert "secret-part" not in output and "424242:" not in output
    lines = err.decode().strip().splitlines()
    assert "BOT_TOKEN: Telegram rejected this token; copy it again from @BotFather" in lines
    if not verbose:  # the log lines of the start, then the one line that says what to fix
        assert lines[-1].startswith("BOT_TOKEN: ")


def test_report_checks_its_output_folder_before_building_anything(settings: Settings) -> None:
    missing = "/missing/dir/x.pdf"
    result = auditbot(
        "report", "--round", "999", "--out", missing, DATABASE_URL=settings.database_url
    )
    plain_failure(result, "--out", "/missing/dir")  # named before the unknown round is looked up
    assert not Path(missing).exists()
    plain_failure(
        auditbot(
            "poster", "--city", "krakow", "--out", missing, DATABASE_URL=settings.database_url
        ),
        "--out",
    )


def test_unknown_cities_rounds_and_ids_are_errors_everywhere(
    settings: Settings, tmp_path: Path
) -> None:
    db = settings.database_url
    out = str(tmp_path / "x.pdf")
    huge = str(2**40)  # beyond PostgreSQL's integer ids
    plain_failure(auditbot("report", "--city", "nowhere", "--out", out, DATABASE_URL=db), "nowhere")
    plain_failure(
        auditbot("report", "--year", "2025", "--city", "nowhere", "--out", out, DATABASE_URL=db),
        "nowhere",
    )
    assert not Path(out).exists()
    for round_id in ("999", huge):
        plain_failure(auditbot("report", "--round", round_id, "--out", out, DATABASE_URL=db))
        plain_failure(auditbot("comments", "list", "--round", round_id, DATABASE_URL=db))
        plain_failure(auditbot("round", "close", round_id, DATABASE_URL=db), round_id)
        plain_failure(
            auditbot(
                "poster",
                "--city",
                "krakow",
                "--round",
                round_id,
                "--out",
                out,
                "--bot-username",
                "x_bot",
                DATABASE_URL=db,
            ),
            round_id,
        )
        plain_failure(auditbot("comments", "hide", round_id, DATABASE_URL=db), round_id)
    plain_failure(auditbot("round", "list", "--city", "nowhere", DATABASE_URL=db), "nowhere")
    plain_failure(auditbot("chat", "--city", "nowhere", DATABASE_URL=db), "--city")
    plain_failure(auditbot("chat", "--practice", "nope", DATABASE_URL=db), "--practice: unknown")
    plain_failure(
        auditbot(
            "round",
            "open",
            "--city",
            "krakow",
            "--practice",
            "nope",
            "--closes",
            "2099-01-31",
            DATABASE_URL=db,
        ),
        "nope",
    )
    plain_failure(
        auditbot(
            "poster",
            "--city",
            "krakow",
            "--practice",
            "nope",
            "--out",
            out,
            "--bot-username",
            "x_bot",
            DATABASE_URL=db,
        ),
        "nope",
    )
    plain_failure(auditbot("staff", "add", str(2**64), "staff", DATABASE_URL=db), str(2**64))
    assert auditbot("staff", "remove", str(2**64), DATABASE_URL=db).returncode == 0


def test_a_round_cannot_open_or_close_in_the_past(settings: Settings) -> None:
    db = settings.database_url
    plain_failure(
        auditbot(
            "round",
            "open",
            "--city",
            "krakow",
            "--opens",
            "2020-01-01",
            "--closes",
            "2099-01-31",
            DATABASE_URL=db,
        ),
        "--opens: 2020-01-01 has passed",
    )
    plain_failure(
        auditbot(
            "round",
            "open",
            "--city",
            "krakow",
            "--opens",
            "2020-01-01",
            "--closes",
            "2020-01-31",
            DATABASE_URL=db,
        ),
        "--opens: 2020-01-01 has passed",
    )
    plain_failure(
        auditbot("round", "open", "--city", "krakow", "--closes", "2020-01-31", DATABASE_URL=db),
        "--closes: 2020-01-31 has passed",
    )
    plain_failure(
        auditbot(
            "round",
            "open",
            "--city",
            "krakow",
            "--opens",
            "2098-02-01",
            "--closes",
            "2098-01-31",
            DATABASE_URL=db,
        ),
        "--closes: 2098-01-31 is before --opens 2098-02-01",
    )
    assert "no rounds yet" in auditbot("round", "list", DATABASE_URL=db).stdout


def test_commands_run_anywhere_use_one_database_and_create_nothing_where_they_run(
    tmp_path: Path,
) -> None:
    home, first, second = tmp_path / "home", tmp_path / "first", tmp_path / "second"
    for folder in (home, first, second):
        folder.mkdir()
    data = {"HOME": str(home), "XDG_DATA_HOME": str(home / "data")}
    assert auditbot("staff", "add", "4242", "staff", cwd=first, **data).returncode == 0
    listing = auditbot("staff", "list", cwd=second, **data)
    assert "4242\tstaff" in listing.stdout
    assert list(first.iterdir()) == [] and list(second.iterdir()) == []
    assert (home / "data" / "auditbot" / "auditbot.sqlite3").is_file()


def test_a_database_left_in_the_old_default_place_is_not_silently_ignored(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "auditbot.sqlite3").write_bytes(b"")
    home = {"HOME": str(tmp_path / "home"), "XDG_DATA_HOME": str(tmp_path / "home" / "data")}
    message = plain_failure(auditbot("round", "list", cwd=tmp_path, **home), "DATABASE_URL")
    assert "data/auditbot.sqlite3" in message
    assert not (tmp_path / "home").exists()


async def test_database_errors_never_carry_the_values_they_were_given(settings: Settings) -> None:
    from bot.startup import start_services

    services = await start_services(settings)
    secret = "pseudonym-that-must-not-leak"
    try:
        async with services.db.unit_of_work() as uow:
            uow.session.add(Respondent(pseudonym=secret))
        with pytest.raises(IntegrityError) as caught:
            async with services.db.unit_of_work() as uow:
                uow.session.add(Respondent(pseudonym=secret))
        assert secret not in str(caught.value)
        assert "hidden due to hide_parameters" in str(caught.value)
    finally:
        await services.close()
