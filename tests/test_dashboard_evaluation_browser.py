"""The annual evaluation in a real headless Chromium, without JavaScript of our own: a city
coordinator proposes a practice and a juror scores, steps aside and submits, on a phone and on a
desktop, every page passing axe-core."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app import editions, jury
from app.editions import Schedule, Weights
from app.services import Services
from bot.web.auth import sign_in_link
from storage.models import Nomination, utcnow
from tests import test_dashboard
from tests.test_dashboard import KRAKOW_COORDINATOR, sign_in_with
from tests.test_dashboard_use import DESKTOP, PHONE, serious_violations

JURY_YEAR, NOMINATIONS_YEAR = 2098, 2099
JUROR, STAFF = 5152, 5153
PRACTICES = ("krakow-otwarty-krakow", "lublin-info-integracja")
site = test_dashboard.site  # the same fixtures: the web server with a Kraków round, Chromium
browser = test_dashboard.browser


async def two_editions(services: Services) -> None:
    """One edition in its jury phase (two practices, our juror), the next taking proposals."""
    now = utcnow()
    days = [timedelta(days=d) for d in (-60, -30, -1, 10, 20, 40, 60)]
    async with services.db.unit_of_work() as uow:
        await uow.staff.put(JUROR, "coordinator", ["krakow"])
        await uow.staff.put(STAFF, "staff", [])
        await editions.open_edition(
            uow,
            "test",
            JURY_YEAR,
            Schedule(now + days[0], now + days[1], now + days[2], now + days[3]),
            Weights(60, 40),
            now,
        )
        for practice in PRACTICES:
            await uow.nominations.add_practice(JURY_YEAR, practice, "nominated")
        await jury.add_juror(uow, "test", JURY_YEAR, JUROR, now)
        await editions.open_edition(
            uow,
            "test",
            NOMINATIONS_YEAR,
            Schedule(now + days[2], now + days[4], now + days[5], now + days[6]),
            Weights(50, 50),
            now,
        )


async def person_page(browser: Any, site: dict[str, Any], user: int, viewport: Any) -> Any:
    context = await browser.new_context(locale="en-GB", viewport=viewport, bypass_csp=True)
    page = await context.new_page()
    return await sign_in_with(page, await sign_in_link(site["services"], user))


async def checked(page: Any, found: dict[str, list[str]]) -> None:
    """axe-core on the page, and nothing wider than the screen."""
    found[page.url] = await serious_violations(page)
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, (page.url, "wider than the screen")


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_a_coordinator_proposes_and_a_juror_scores_in_the_browser(
    site: dict[str, Any], browser: Any, viewport: dict[str, int]
) -> None:
    services, base = site["services"], site["base"]
    await two_editions(services)
    found: dict[str, list[str]] = {}

    # A city coordinator proposes a practice; the server refuses a link it cannot use.
    coordinator = await person_page(browser, site, KRAKOW_COORDINATOR, viewport)
    async with coordinator.expect_navigation():
        await coordinator.click("a[href='/dashboard/propose']")
    await checked(coordinator, found)
    await coordinator.get_by_label("Name of the practice").fill("Welcome point")
    await coordinator.get_by_label("What it does").fill(
        "Advice for newcomers on residence permits, twice a week."
    )
    await coordinator.get_by_label("Who runs it").select_option("ngo")
    await coordinator.get_by_label("Since which year").fill("2019")
    await coordinator.get_by_label("A link about it").fill("https://localhost/welcome")
    async with coordinator.expect_navigation():
        await coordinator.click("form[action='/dashboard/propose'] button[type=submit]")
    assert "https://" in await coordinator.inner_text("[role=alert]")
    await checked(coordinator, found)
    # what was typed is kept; only the link needs fixing
    assert await coordinator.get_by_label("Name of the practice").input_value() == "Welcome point"
    await coordinator.get_by_label("A link about it").fill("https://example.org/welcome")
    async with coordinator.expect_navigation():
        await coordinator.click("form[action='/dashboard/propose'] button[type=submit]")
    assert "Thank you!" in await coordinator.inner_text("[role=status]")
    await checked(coordinator, found)

    # A juror scores the first practice, steps aside from the second and submits.
    juror = await person_page(browser, site, JUROR, viewport)
    async with juror.expect_navigation():
        await juror.click("a[href='/dashboard/jury']")
    await checked(juror, found)
    async with juror.expect_navigation():
        await juror.click(f"a[href='/dashboard/jury/practices/{PRACTICES[0]}']")
    await checked(juror, found)
    for index, criterion in enumerate(jury.CRITERIA):
        group = juror.get_by_role("group").nth(index)
        await group.get_by_label(str(3 + index % 2), exact=True).check()
        await juror.fill(f"#{criterion}_reason", f"Reason number {index + 1} in one sentence.")
    async with juror.expect_navigation():
        await juror.get_by_role("button", name="Save my scores").click()
    assert juror.url == f"{base}/dashboard/jury"
    assert "scored" in await juror.inner_text("main table")
    async with juror.expect_navigation():
        await juror.click(f"a[href='/dashboard/jury/practices/{PRACTICES[1]}']")
    async with juror.expect_navigation():
        await juror.get_by_role("button", name="I am involved with this practice").click()
    async with juror.expect_navigation():
        await juror.get_by_role("button", name="Submit my scores").click()
    assert "locked" in await juror.inner_text("[role=status]")
    await checked(juror, found)
    await juror.goto(f"{base}/dashboard/jury/practices/{PRACTICES[0]}")
    assert await juror.locator("form[action$='/score']").count() == 0  # locked: no form
    await checked(juror, found)

    # Staff pages, with the jury's progress in counts.
    staff = await person_page(browser, site, STAFF, viewport)
    for path in (
        "/dashboard/editions",
        f"/dashboard/editions/{JURY_YEAR}",
        f"/dashboard/editions/{NOMINATIONS_YEAR}",
        f"/dashboard/editions/{JURY_YEAR}/analysis",
        f"/dashboard/editions/{NOMINATIONS_YEAR}/nominations",  # read below
    ):
        await staff.goto(base + path)
        await checked(staff, found)
    assert "Welcome point" in await staff.inner_text("main")
    assert {url: problems for url, problems in found.items() if problems} == {}

    async with services.db.reading() as uow:
        proposals = (await uow.session.scalars(select(Nomination))).all()
        mine = await jury.own_scores(uow, JURY_YEAR, JUROR)
        progress = await jury.progress(uow, JURY_YEAR)
    assert [(n.name, n.source, n.edition_year) for n in proposals] == [
        ("Welcome point", "dashboard", NOMINATIONS_YEAR)
    ]
    assert sorted((s.practice_id, s.criterion, s.score) for s in mine) == sorted(
        [(PRACTICES[0], c, 3 + i % 2) for i, c in enumerate(jury.CRITERIA)]
        + [(PRACTICES[1], jury.RECUSED, None)]
    )
    assert [(p.scored, p.recused, p.submitted) for p in progress] == [(1, 1, True)]
