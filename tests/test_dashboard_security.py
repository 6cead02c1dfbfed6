"""The dashboard's sign-in and headers, in a real Chromium: links that previews cannot spend,
pages that cannot be framed or sniffed, sessions that end when a role is taken away."""

from __future__ import annotations

from typing import Any

import aiohttp

from app import staff
from bot.web.auth import sign_in_link
from tests import test_dashboard
from tests.test_dashboard import KRAKOW_COORDINATOR, sign_in_with, signed_in_page

site = test_dashboard.site  # the same fixtures: the web server with a Kraków round, Chromium
browser = test_dashboard.browser


async def test_previews_and_head_requests_never_spend_a_sign_in_link(
    site: dict[str, Any], browser: Any
) -> None:
    link = await sign_in_link(site["services"], KRAKOW_COORDINATOR)
    token = link.rsplit("/", 1)[1]
    async with aiohttp.ClientSession() as preview_fetcher:
        for method in ("HEAD", "GET", "GET"):  # what link-preview bots and mail scanners do
            async with preview_fetcher.request(method, link) as response:
                assert response.status == 200
        assert not preview_fetcher.cookie_jar.filter_cookies(link)
        # a form on another site posting the token is refused and spends nothing either
        async with preview_fetcher.post(
            f"{site['base']}/dashboard/login",
            data={"token": token},
            headers={"Origin": "https://elsewhere.example"},
        ) as response:
            assert response.status == 403
    page = await (await browser.new_context(locale="en-GB")).new_page()
    await page.goto(link)
    assert "Sign in" in await page.inner_text("main button")
    assert page.url == link  # nothing happened before the press
    await sign_in_with(page, link)
    assert page.url == f"{site['base']}/dashboard"
    assert "Survey rounds" in await page.inner_text("h1")


async def test_every_response_carries_the_security_headers(
    site: dict[str, Any], browser: Any
) -> None:
    page = await signed_in_page(browser, site["services"])
    base, round_id = site["base"], site["krakow"]
    paths = [
        "/dashboard",
        f"/dashboard/rounds/{round_id}",
        f"/dashboard/rounds/{round_id}/download/pdf",
        f"/dashboard/rounds/{site['gdansk']}",  # 404
        "/dashboard/login/not-a-token",  # 403
        "/healthz",
        "/nowhere",  # aiohttp's own 404
    ]
    for path in paths:
        response = await page.request.get(base + path)
        headers = response.headers
        policy = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy, path
        assert "unsafe-inline" not in policy and "script-src" not in policy, path
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] == "no-referrer", path
        assert headers["x-frame-options"] == "DENY", path
        assert headers["cross-origin-opener-policy"] == "same-origin", path
        assert "server" not in headers, path  # no software versions
    # The page's own style sheet is allowed by its nonce: the header is styled.
    await page.goto(f"{base}/dashboard")
    background = await page.eval_on_selector(
        "header", "element => getComputedStyle(element).backgroundColor"
    )
    assert background == "rgb(43, 108, 176)"


async def test_a_revoked_coordinator_is_signed_out_and_a_new_grant_does_not_sign_them_in(
    site: dict[str, Any], browser: Any
) -> None:
    services, base = site["services"], site["base"]
    page = await signed_in_page(browser, services)
    unused_link = await sign_in_link(services, KRAKOW_COORDINATOR)
    async with services.db.unit_of_work() as uow:
        assert await staff.revoke(uow, "tg:1", KRAKOW_COORDINATOR)
    assert (await page.goto(f"{base}/dashboard")).status == 401
    async with services.db.unit_of_work() as uow:
        await staff.grant(uow, "tg:1", KRAKOW_COORDINATOR, "coordinator", ["krakow"])
    assert (await page.goto(f"{base}/dashboard")).status == 401  # the old session stays ended
    assert (await page.goto(unused_link)).status == 403  # links sent before the revoke too
    await sign_in_with(page, await sign_in_link(services, KRAKOW_COORDINATOR))
    assert page.url == f"{base}/dashboard"
