"""What real use found in the dashboard, in a real headless Chromium: a phone's screen, axe-core,
numbers and dates per language, comments under their practice, the annual view, settings."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from bot.web.auth import sign_in_link
from storage.models import utcnow

# The fixtures `site` and `browser` (and the skip without Chromium) come with test_dashboard.
from tests.test_dashboard import KRAKOW_COORDINATOR, browser, sign_in_with, site  # noqa: F401

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
LOCALES = ("uk", "ru", "en", "pl")


def axe_source() -> str:
    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()


async def switch_language(page: Any, locale: str) -> None:
    await page.select_option("header select[name=locale]", locale)
    async with page.expect_navigation():
        await page.click("header form[action='/dashboard/language'] button")


async def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical findings on the current page."""
    await page.evaluate(axe_source())
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def coordinator_page(browser: Any, site: dict[str, Any], viewport: dict[str, int]) -> Any:
    context = await browser.new_context(
        accept_downloads=True, locale="en-GB", viewport=viewport, bypass_csp=True
    )
    page = await context.new_page()
    return await sign_in_with(page, await sign_in_link(site["services"], KRAKOW_COORDINATOR))


def pages_of(site: dict[str, Any]) -> list[str]:
    base, year = site["base"], utcnow().year
    return [
        f"{base}/dashboard",
        f"{base}/dashboard/rounds/{site['krakow']}",
        f"{base}/dashboard/years/{year}",
        f"{base}/dashboard/rounds/{site['gdansk']}",  # another city's: the 404 page
    ]


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_every_page_passes_axe_in_every_language(
    site: dict[str, Any], browser: Any, viewport: dict[str, int]
) -> None:
    page = await coordinator_page(browser, site, viewport)
    found = {}
    for locale in LOCALES:
        await switch_language(page, locale)
        for url in pages_of(site):
            await page.goto(url)
            found[locale, url] = await serious_violations(page)
            overflow = await page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, (locale, url, "wider than the screen")
    signed_out = await (await browser.new_context(viewport=viewport, bypass_csp=True)).new_page()
    await signed_out.goto(f"{site['base']}/dashboard")
    found["signed out", "/dashboard"] = await serious_violations(signed_out)
    assert {key: v for key, v in found.items() if v} == {}


async def test_on_a_phone_tables_become_cards_and_dates_are_short(
    site: dict[str, Any], browser: Any
) -> None:
    page = await coordinator_page(browser, site, PHONE)
    await switch_language(page, "pl")
    cell = page.locator("table.stack tbody tr").first.locator("td").nth(3)
    text = await cell.inner_text()
    assert not re.search(r"\d{4}-\d\d-\d\d", text)  # no ISO dates
    box = await cell.bounding_box()
    assert box is not None and box["height"] < 40  # one line
    assert (
        await page.evaluate("getComputedStyle(document.querySelector('table.stack tr')).display")
        == "block"
    )


async def test_numbers_and_dates_follow_the_language(site: dict[str, Any], browser: Any) -> None:
    page = await coordinator_page(browser, site, DESKTOP)
    for locale, decimal in (("pl", ","), ("uk", ","), ("en", ".")):
        await switch_language(page, locale)
        await page.goto(f"{site['base']}/dashboard/rounds/{site['krakow']}")
        means = await page.locator("main table td.num").all_inner_texts()
        decimals = [t for t in means if re.fullmatch(r"\d[.,]\d\d", t)]
        assert decimals and all(decimal in t for t in decimals), (locale, means)
        label = await page.locator("svg.chart").first.get_attribute("aria-label")
        assert label and re.search(rf"\d{re.escape(decimal)}\d\d", label), label


async def test_comments_are_grouped_under_their_practice_with_labels(
    site: dict[str, Any], browser: Any
) -> None:
    page = await coordinator_page(browser, site, PHONE)
    await page.goto(f"{site['base']}/dashboard/rounds/{site['krakow']}")
    groups = page.locator("ul.comments")
    assert await groups.count() == 1  # all six comments are about one practice
    heading = await page.locator("section:has(ul.comments) h3").inner_text()
    assert "Kraków" in heading and "programme" in heading.lower()
    items = groups.locator("li")
    assert await items.count() == 6
    label = await items.first.locator(".label").inner_text()
    assert re.match(r"Comment \d+ · ", label)


async def test_the_annual_view_shows_only_the_coordinators_cities(
    site: dict[str, Any], browser: Any
) -> None:
    page = await coordinator_page(browser, site, DESKTOP)
    year = utcnow().year
    await page.click(f"a[href='/dashboard/years/{year}']")
    assert str(year) in await page.inner_text("h1")
    text = await page.inner_text("main")
    assert "Kraków" in text and "Gdańsk" not in text
    assert await page.locator("svg.chart").count() >= 1
    async with page.expect_download() as download_info:
        await page.click(f"a[href='/dashboard/years/{year}/download/xlsx']")
    download = await download_info.value
    content = await asyncio.to_thread(Path(await download.path()).read_bytes)
    names = {
        row[1] for row in load_workbook(io.BytesIO(content))["Summary"].iter_rows(values_only=True)
    }
    assert not any(
        "Gdańsk" in str(name) or "Gdańsk" in str(row) for name in names for row in [name]
    )
    response = await page.goto(f"{site['base']}/dashboard/years/1999")
    assert response.status == 404


async def test_a_coordinator_sets_the_language_and_format_of_scheduled_reports(
    site: dict[str, Any], browser: Any
) -> None:
    page = await coordinator_page(browser, site, PHONE)
    await page.select_option("select[name=report_locale]", "uk")
    await page.select_option("select[name=report_format]", "xlsx")
    async with page.expect_navigation():
        await page.click("form[action='/dashboard/report-settings'] button")
    async with site["services"].db.unit_of_work() as uow:
        row = await uow.staff.get(KRAKOW_COORDINATOR)
        assert row is not None
        assert (row.report_locale, row.report_format) == ("uk", "xlsx")
    assert await page.locator("select[name=report_format]").input_value() == "xlsx"
    forged = await page.request.post(
        f"{site['base']}/dashboard/report-settings",
        form={"report_locale": "en", "report_format": "pdf"},
    )
    assert forged.status == 403  # no CSRF token


async def test_a_round_closing_on_31_december_shows_31_december(
    site: dict[str, Any], browser: Any
) -> None:
    from datetime import date

    from app import staff
    from app.rounds import create_round

    services = site["services"]
    zone = services.settings.tz
    opens_at, closes_at = staff.round_window(date(2098, 12, 1), date(2098, 12, 31), zone, utcnow())
    async with services.db.unit_of_work() as uow:
        survey = await uow.surveys.latest("open-cities")
        assert survey is not None
        round_ = await create_round(
            uow, "test", "krakow", [], survey.id, opens_at, closes_at, zone=zone
        )
    page = await coordinator_page(browser, site, DESKTOP)
    row = page.locator(f"tr:has(a[href='/dashboard/rounds/{round_.id}'])")
    assert "Dec 1\u2009–\u200931, 2098" in await row.inner_text()
    await page.goto(f"{site['base']}/dashboard/rounds/{round_.id}")
    assert "Dec 1\u2009–\u200931, 2098" in await page.inner_text("main")
