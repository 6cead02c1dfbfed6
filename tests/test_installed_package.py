"""The packaged install, as an operator gets it: the wheel is built from a clean copy of the
checkout (tracked files only: no compiled catalogs, no virtualenv), installed with the locked
dependencies into a fresh virtualenv outside the checkout, and `auditbot serve` is started from
another folder; a coordinator signs in through the bot and opens every page and download."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from openpyxl import load_workbook

from tests.conftest import SECRET
from tests.fakebotapi import FakeBotApi
from tests.test_face_to_face import write_csv
from tests.test_web import SECRET_HEADER, WEBHOOK_SECRET, free_port, message_update

ROOT = Path(__file__).resolve().parent.parent
ADMIN = 7001
PRACTICE = "krakow-otwarty-krakow"


def run(*command: str | Path, **options: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, timeout=900, **options
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The wheel built from the tracked files and installed in a new virtualenv; its bin/."""
    base = tmp_path_factory.mktemp("package")
    source, wheels, venv = base / "source", base / "wheels", base / "venv"
    tracked = run("git", "ls-files", "-z", cwd=ROOT).stdout.split("\0")
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    assert not list(source.rglob("*.mo")), "the copy is clean: no compiled catalogs"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    run(*pip, "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", wheels, source)
    [wheel] = wheels.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for needed in (
        "app/editions.py",  # the use cases' package
        "bot/web/templates/base.html",
        "bot/web/templates/sign_in.html",
        "conversations/surveys/open-cities.yaml",
        "storage/catalog/open-cities.yaml",
        "storage/migrations/env.py",
        "storage/migrations/script.py.mako",
        "storage/migrations/versions/0001_initial_schema.py",
        *(f"locales/{lang}/LC_MESSAGES/messages.mo" for lang in ("uk", "ru", "en", "pl")),
    ):
        assert needed in names, needed
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    run(
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--require-hashes",
        "--no-deps",
        "-r",
        ROOT / "requirements.lock",
    )
    run(python, "-m", "pip", "install", "--quiet", "--no-deps", wheel)
    run(python, "-m", "pip", "check")  # the lock satisfies the package's own requirements
    yield venv / "bin"


def package_env(database_url: str, **values: str) -> dict[str, str]:
    """A clean environment: nothing of the checkout on the path, none of our settings."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env = {k: v for k, v in env.items() if not k.startswith(("DATABASE_", "BOT_", "WEBHOOK_"))}
    return (
        env
        | {
            "DATABASE_URL": database_url,
            "PSEUDONYM_SECRET": SECRET,
            "MIN_GROUP_SIZE": "2",
            "ADMIN_IDS": str(ADMIN),
        }
        | values
    )


def test_the_package_is_imported_from_the_virtualenv(installed: Path, tmp_path: Path) -> None:
    code = "import bot, locales; print(bot.__file__); print(locales.__file__)"
    files = run(installed / "python", "-c", code, cwd=tmp_path, env=package_env("")).stdout
    assert all(line.startswith(str(installed.parent)) for line in files.split())


@pytest.fixture
async def serving(
    installed: Path, database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[str, FakeBotApi]]:
    """`auditbot serve` of the installed package, started in an empty folder, with a Kraków
    round that two people answered through the installed console preview."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    port = free_port()
    async with FakeBotApi() as telegram:
        env = package_env(
            database_url,
            BOT_TOKEN=telegram.token,
            TELEGRAM_API_URL=telegram.url,
            WEBHOOK_SECRET=WEBHOOK_SECRET,
            PUBLIC_URL=f"http://127.0.0.1:{port}",
        )
        auditbot = installed / "auditbot"
        opened = run(
            auditbot,
            "round",
            "open",
            "--city",
            "krakow",
            "--closes",
            "2099-12-31",
            cwd=elsewhere,
            env=env,
        )
        assert "round 1 is open" in opened.stdout
        # Two interviews imported as face-to-face responses (console previews are not data).
        # Their submission time is written to the second: wait past the round's opening second,
        # or an interview "submitted" in that same second falls before it, outside the round.
        await asyncio.sleep(1.1)
        moment = datetime.now(UTC).replace(tzinfo=None)
        rows = [
            [
                *(moment.isoformat(), moment.isoformat(), moment.date().isoformat()),
                *(PRACTICE, "en", "", "", "yes", "several", "2", "4", "4", "5", "work", "1", "0"),
                *("More opening hours, please", str(n), f"5a1b2c3d-0000-4000-8000-{n:012d}"),
                *(moment.strftime("%Y-%m-%dT%H:%M:%S"), "", str(n + 1)),
            ]
            for n in range(2)
        ]
        export = write_csv(tmp_path / "interviews.csv", rows)
        run(
            auditbot,
            "responses",
            "import",
            "--survey",
            "open-cities",
            str(export),
            cwd=elsewhere,
            env=env,
        )
        server = await asyncio.create_subprocess_exec(
            auditbot,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            cwd=elsewhere,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            await _wait_until_healthy(f"{base}/healthz", server)
            yield base, telegram
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                _out, errors = await asyncio.wait_for(server.communicate(), 30)
            except TimeoutError:
                server.kill()
                _out, errors = await server.communicate()
            assert b"Traceback" not in errors, errors.decode()
        assert list(elsewhere.iterdir()) == []  # nothing written where the commands ran


async def _wait_until_healthy(url: str, server: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 90
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            assert server.returncode is None, "the installed `auditbot serve` stopped"
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.3)
    raise TimeoutError("the installed `auditbot serve` did not become healthy")


async def test_the_installed_package_serves_every_page_and_download(
    serving: tuple[str, FakeBotApi],
) -> None:
    base, telegram = serving
    # unsafe=True: keep cookies of an IP address (the server listens on 127.0.0.1)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        # The coordinator asks the bot for a sign-in link (the webhook of the installed server).
        async with http.post(
            f"{base}/telegram/webhook",
            json=message_update(1, ADMIN, "/dashboard"),
            headers={SECRET_HEADER: WEBHOOK_SECRET},
        ) as response:
            assert response.status == 200
        [reply] = telegram.messages(ADMIN)
        [link] = re.findall(r"https?://\S+", reply["text"])
        [sent] = telegram.calls_to("sendMessage")
        assert sent.params["link_preview_options"] == {"is_disabled": True}

        async with http.get(link) as page:  # the sign-in page, in English
            assert page.status == 200 and "Sign in" in await page.text()
        async with http.post(
            f"{base}/dashboard/login", data={"token": link.rsplit("/", 1)[1]}
        ) as page:
            assert page.status == 200 and str(page.url) == f"{base}/dashboard"
            assert "Survey rounds" in await page.text()
        async with http.get(f"{base}/dashboard/rounds/1") as page:
            html = await page.text()
            assert page.status == 200 and "<svg" in html and "More opening hours" in html
        csrf = re.search(r'name="csrf" value="([^"]+)"', html)
        assert csrf is not None
        async with http.post(
            f"{base}/dashboard/language",
            data={"csrf": csrf.group(1), "locale": "uk", "back": "/dashboard/rounds/1"},
        ) as page:  # the compiled Ukrainian catalog came with the wheel
            assert page.status == 200 and "Раунд опитування 1" in await page.text()
        async with http.get(f"{base}/dashboard/rounds/99") as page:
            assert page.status == 404 and "<h1>" in await page.text()

        downloads = {}
        for fmt in ("csv", "xlsx", "pdf", "json"):
            async with http.get(f"{base}/dashboard/rounds/1/download/{fmt}") as response:
                assert response.status == 200, fmt
                downloads[fmt] = await response.read()
    assert downloads["pdf"].startswith(b"%PDF") and len(downloads["pdf"]) > 5000
    assert len(load_workbook(io.BytesIO(downloads["xlsx"])).sheetnames) >= 5
    assert "Краків" in downloads["csv"].decode("utf-8-sig")  # in the language chosen
    assert json.loads(downloads["json"])["k"] == 2
