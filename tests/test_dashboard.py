"""The coordinator dashboard in a real headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from openpyxl import load_workbook

from bot.services import Services, start_services
from bot.web.auth import digest, sign_in_link
from bot.web.server import build_web_app
from storage.models import utcnow
from tests.conftest import make_settings
from tests.test_audit import A, add_response, make_round, person

CHROMIUM = "/usr/bin/chromium"
# README's picture is refreshed only when asked (UPDATE_SCREENSHOTS=1): a test run must leave
# the checkout as it found it.
DOCS_SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "dashboard-round.png"
KRAKOW_COORDINATOR = 5151

if not shutil.which(CHROMIUM) and not os.environ.get("REQUIRE_BROWSER"):
    pytest.skip(
        "Debian's chromium is not installed (CI installs it and sets REQUIRE_BROWSER)",
        allow_module_level=True,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def site(database_url: str) -> AsyncIterator[dict[str, Any]]:
    """The web application on a real port, with a Kraków round worth reporting."""
    port = free_port()
    settings = make_settings(database_url, public_url=f"http://127.0.0.1:{port}")
    services = await start_services(settings)
    krakow = await make_round(services, 5)
    for n in range(6):
        await add_response(
            services,
            f"d{n}",
            A,
            krakow,
            person(
                "yes",
                "several",
                (5 - n % 2, 4, 3 + n % 3, 4),
                f"Uwaga nr {n}: call +48 600 100 20{n}",
            ),
            locale=("uk", "pl", "ru")[n % 3],
        )
    async with services.db.unit_of_work() as uow:
        await uow.staff.put(KRAKOW_COORDINATOR, "coordinator", ["krakow"])
        survey = await uow.surveys.latest("open-cities")
        assert survey is not None
        from bot.rounds import create_round

        gdansk = await create_round(
            uow,
            "test",
            "gdansk",
            [],
            survey.id,
            utcnow() - timedelta(days=1),
            utcnow() + timedelta(days=9),
        )
    runner = web.AppRunner(build_web_app(services, None))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield {
            "base": f"http://127.0.0.1:{port}",
            "services": services,
            "krakow": krakow,
            "gdansk": gdansk.id,
        }
    finally:
        await runner.cleanup()
        await services.close()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield chromium
        finally:
            await chromium.close()


async def sign_in_with(page: Any, link: str) -> Any:
    """Open a sign-in link and press its button, as a coordinator does."""
    await page.goto(link)
    async with page.expect_navigation():
        await page.click("form[action='/dashboard/login'] button")
    return page


async def signed_in_page(browser: Any, services: Services, user: int = KRAKOW_COORDINATOR) -> Any:
    page = await (
        await browser.new_context(
            accept_downloads=True, locale="en-GB", viewport={"width": 390, "height": 844}
        )
    ).new_page()
    return await sign_in_with(page, await sign_in_link(services, user))


async def test_sign_in_open_a_round_see_its_chart_switch_language_and_download(
    site: dict[str, Any], browser: Any, tmp_path: Path
) -> None:
    page = await signed_in_page(browser, site["services"])
    assert page.url == f"{site['base']}/dashboard"
    await page.click(f"a[href='/dashboard/rounds/{site['krakow']}']")
    await page.wait_for_selector("svg.chart")
    assert await page.locator("svg.chart rect").count() >= 4
    text = await page.inner_text("main")
    assert "Kraków" in text and "[phone]" in text and "600 100" not in text

    await page.select_option("select[name=locale]", "uk")
    await page.click("header form[action='/dashboard/language'] button")
    await page.wait_for_load_state()
    assert "Раунд" in await page.inner_text("h1")
    screenshot = DOCS_SCREENSHOT if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path / "round.png"
    await page.screenshot(path=str(screenshot), full_page=True)

    async with page.expect_download() as download_info:
        await page.click(f"a[href='/dashboard/rounds/{site['krakow']}/download/xlsx']")
    download = await download_info.value
    content = await asyncio.to_thread(Path(await download.path()).read_bytes)
    workbook = load_workbook(io.BytesIO(content))
    assert len(workbook.sheetnames) == 5

    async with page.expect_download() as download_info:  # the Excel CSV, in Ukrainian
        await page.click(f"a[href='/dashboard/rounds/{site['krakow']}/download/csv-excel']")
    download = await download_info.value
    assert download.suggested_filename.endswith("-excel.csv")
    content = await asyncio.to_thread(Path(await download.path()).read_bytes)
    header = content.decode("utf-8-sig").splitlines()[0]
    assert header.startswith("Період;Місто;")


async def test_a_used_or_expired_link_is_refused(site: dict[str, Any], browser: Any) -> None:
    services = site["services"]
    link = await sign_in_link(services, KRAKOW_COORDINATOR)
    page = await sign_in_with(await (await browser.new_context()).new_page(), link)
    assert page.url.endswith("/dashboard")
    other = await (await browser.new_context()).new_page()
    response = await other.goto(link)  # the same link a second time
    assert response.status == 403
    expired = await sign_in_link(services, KRAKOW_COORDINATOR)
    async with services.db.unit_of_work() as uow:
        from storage.models import LoginToken

        token = await uow.session.get(LoginToken, digest(expired.rsplit("/", 1)[1]))
        token.expires_at = utcnow() - timedelta(seconds=1)
    response = await other.goto(expired)
    assert response.status == 403
    assert "15" in await other.inner_text("main")


async def test_another_citys_round_cannot_be_opened_by_editing_the_url(
    site: dict[str, Any], browser: Any
) -> None:
    page = await signed_in_page(browser, site["services"])
    response = await page.goto(f"{site['base']}/dashboard/rounds/{site['gdansk']}")
    assert response.status == 404
    response = await page.goto(f"{site['base']}/dashboard/rounds/{site['gdansk']}/download/csv")
    assert response.status == 404


async def test_a_form_without_its_csrf_token_is_refused(site: dict[str, Any], browser: Any) -> None:
    page = await signed_in_page(browser, site["services"])
    response = await page.request.post(f"{site['base']}/dashboard/language", form={"locale": "ru"})
    assert response.status == 403
    response = await page.request.post(f"{site['base']}/dashboard/logout", form={"csrf": "x"})
    assert response.status == 403
    await page.goto(f"{site['base']}/dashboard")
    assert "Survey rounds" in await page.inner_text("h1")  # still English, still signed in
