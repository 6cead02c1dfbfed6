"""The public results pages in a real headless Chromium: a phone and a desktop window, four
languages chosen with the page's own switch, axe-core; and the dashboard's publish buttons and
the city's right of reply, clicked through as staff and a coordinator would."""

from __future__ import annotations

from typing import Any

import pytest

from app.rounds import close_round
from bot.web.auth import sign_in_link
from storage.models import utcnow
from tests.test_audit import A, B

# The fixtures `site` and `browser` (and the skip without Chromium) come with test_dashboard.
from tests.test_dashboard import KRAKOW_COORDINATOR, browser, sign_in_with, site  # noqa: F401
from tests.test_dashboard_use import DESKTOP, LOCALES, PHONE, serious_violations

STAFF = 6161


async def close_and_publish(site: dict[str, Any], *, year: bool = True) -> int:
    """Close the Kraków round and publish it (and its year) as the CLI would."""
    from app.publishing import publish_round, publish_year

    services = site["services"]
    async with services.db.unit_of_work() as uow:
        round_ = await uow.rounds.get(site["krakow"])
        assert round_ is not None
        await close_round(uow, round_, "test", utcnow(), services.settings.min_group_size)
        number = round_.opens_at.astimezone(services.settings.tz).year
        await publish_round(uow, "test", round_.id, utcnow())
        if year:
            await publish_year(uow, "test", number, utcnow())
    return number


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_public_pages_pass_axe_in_every_language_on_a_phone_and_a_desktop(
    site: dict[str, Any], browser: Any, viewport: dict[str, int]
) -> None:
    year = await close_and_publish(site)
    services = site["services"]
    async with services.db.unit_of_work() as uow:  # closed, not published: "coming soon"
        gdansk = await uow.rounds.get(site["gdansk"])
        assert gdansk is not None
        await close_round(uow, gdansk, "test", utcnow(), services.settings.min_group_size)
    base = site["base"]
    missing = "/results/rounds/999999"  # the 404 page
    paths = [
        "/results",
        f"/results/{year}",
        f"/results/{year}/krakow",
        f"/results/{year}/krakow/{A}",
        f"/results/{year}/krakow/{B}",
        f"/results/rounds/{site['krakow']}",
        f"/results/rounds/{site['gdansk']}",
        missing,
    ]
    context = await browser.new_context(
        locale="en-GB", viewport=viewport, bypass_csp=True, java_script_enabled=True
    )
    page = await context.new_page()
    await page.goto(f"{base}/results")
    found = {}
    for locale in LOCALES:
        async with page.expect_navigation():
            await page.click(f"nav.languages a[hreflang={locale}]")  # the switch, remembered
        assert await page.get_attribute("html", "lang") == locale
        for path in paths:
            response = await page.goto(base + path)
            assert response is not None
            assert response.status == (404 if path == missing else 200), path
            assert await page.get_attribute("html", "lang") == locale, path
            found[locale, path] = await serious_violations(page)
            overflow = await page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, (locale, path, "wider than the screen")
    assert {key: v for key, v in found.items() if v} == {}


async def test_the_pages_work_without_javascript(site: dict[str, Any], browser: Any) -> None:
    year = await close_and_publish(site)
    context = await browser.new_context(locale="pl-PL", viewport=PHONE, java_script_enabled=False)
    page = await context.new_page()
    await page.goto(f"{site['base']}/results")
    assert await page.get_attribute("html", "lang") == "pl"  # Accept-Language
    await page.click(f"a[href='/results/{year}']")
    await page.click(f"table a[href='/results/{year}/krakow/{A}']")
    text = await page.inner_text("main")
    assert "Co napisali mieszkańcy" in text
    assert "600 100 20" not in text  # contacts masked
    await page.goto(f"{site['base']}/results/{year}/krakow/{B}")
    assert "< 5" in await page.inner_text("main")


async def test_staff_publish_in_the_dashboard_and_a_coordinators_reply_shows_once_approved(
    site: dict[str, Any], browser: Any
) -> None:
    services, base = site["services"], site["base"]
    async with services.db.unit_of_work() as uow:
        await uow.staff.put(STAFF, "staff", [])
        round_ = await uow.rounds.get(site["krakow"])
        assert round_ is not None
        await close_round(uow, round_, "test", utcnow(), services.settings.min_group_size)
        year = round_.opens_at.astimezone(services.settings.tz).year
    staff_page = await (await browser.new_context(locale="en-GB", viewport=DESKTOP)).new_page()
    await sign_in_with(staff_page, await sign_in_link(services, STAFF))
    assert (await staff_page.goto(f"{base}/results/{year}")).status == 404  # type: ignore[union-attr]
    await staff_page.goto(f"{base}/dashboard/rounds/{site['krakow']}")
    async with staff_page.expect_navigation():
        await staff_page.click("text=Publish these results")
    assert "These results are published." in await staff_page.inner_text("main")
    await staff_page.goto(f"{base}/dashboard/years/{year}")
    async with staff_page.expect_navigation():
        await staff_page.click("text=Publish these results")
    await staff_page.click("text=Open the public page")
    assert f"Results {year}" in await staff_page.inner_text("h1")

    coordinator = await (await browser.new_context(locale="en-GB", viewport=PHONE)).new_page()
    await sign_in_with(coordinator, await sign_in_link(services, KRAKOW_COORDINATOR))
    for language, text in (("pl", "Miasto dziękuje za oceny."), ("en", "Our critics are wrong.")):
        await coordinator.goto(f"{base}/dashboard/years/{year}")
        await coordinator.select_option("select[name=practice]", A)
        await coordinator.select_option("select[name=reply_locale]", language)
        await coordinator.fill("textarea[name=text]", text)
        async with coordinator.expect_navigation():
            await coordinator.click("text=Send for approval")
        assert "waits for staff" in await coordinator.inner_text("main")
    public = f"{base}/results/{year}/krakow/{A}"
    await staff_page.goto(public + "?lang=pl")
    assert "Miasto dziękuje" not in await staff_page.inner_text("main")

    await staff_page.goto(f"{base}/dashboard")
    waiting = staff_page.locator("#waiting-replies + ul li")
    assert await waiting.count() == 2
    async with staff_page.expect_navigation():
        await waiting.filter(has_text="Miasto dziękuje").locator("text=Approve").click()
    async with staff_page.expect_navigation():
        await staff_page.locator("#waiting-replies + ul li").locator("text=Reject").click()
    assert await staff_page.locator("#waiting-replies").count() == 0

    for language in ("pl", "uk"):
        await staff_page.goto(f"{public}?lang={language}")
        text = await staff_page.inner_text("main")
        assert "Miasto dziękuje za oceny." in text and "critics" not in text
    async with services.db.reading() as uow:
        actions = [e.action for e in await uow.audit_log.latest(20)]
    assert actions.count("results.publish") == 2
    assert {"reply.propose", "reply.approve", "reply.reject"} <= set(actions)
