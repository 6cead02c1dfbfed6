"""The public results pages (bot/web/public.py): only what staff published, through the
disclosure rule; languages; the static export; the city's right of reply."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from app.publishing import (
    PublishError,
    approved_replies,
    decide_reply,
    propose_reply,
    publish_round,
    publish_year,
)
from app.reports import moderate_comment
from app.rounds import close_round
from app.services import Services
from app.summaries import published_report
from audit.export import to_json
from audit.summary import year_period
from bot.web.public import Links, PublicPages, negotiate
from bot.web.server import build_web_app
from storage.models import utcnow
from tests.conftest import postgresql_url
from tests.test_audit import A, B, add_response, make_round, person
from tests.test_cli import auditbot, ok

LOCALES = ("uk", "ru", "en", "pl")


async def fill(services: Services) -> dict[str, Any]:
    """A Kraków round (closed): A rated by 6 people with comments, B by 4 (below k = 5)."""
    round_id = await make_round(services, 20)
    for n in range(6):
        answers = person(
            "yes", "several", (5 - n % 2, 4, 3 + n % 3, 4), f"Uwaga {n}: +48 600 100 20{n}"
        )
        await add_response(services, f"p{n}", A, round_id, answers, locale=LOCALES[n % 4])
    for n in range(4):
        await add_response(
            services, f"b{n}", B, round_id, person("yes", "once", (5, 5, 5, 5), "Secret detail")
        )
    async with services.db.unit_of_work() as uow:
        round_ = await uow.rounds.get(round_id)
        assert round_ is not None
        year = round_.opens_at.astimezone(services.settings.tz).year
    return {"round": round_id, "year": year}


async def close(services: Services, round_id: int) -> None:
    async with services.db.unit_of_work() as uow:
        round_ = await uow.rounds.get(round_id)
        assert round_ is not None
        await close_round(uow, round_, "test", utcnow(), services.settings.min_group_size)


@pytest.fixture
async def web_client(services: Services) -> AsyncIterator[Any]:
    server = TestServer(build_web_app(services, None))
    await server.start_server()
    jar = aiohttp.CookieJar(unsafe=True)  # it keeps cookies of 127.0.0.1
    async with aiohttp.ClientSession(str(server.make_url("")), cookie_jar=jar) as client:
        yield client
    await server.close()


async def get(client: Any, path: str, language: str = "en", **headers: str) -> tuple[int, str]:
    async with client.get(path, headers={"Accept-Language": language, **headers}) as response:
        return response.status, await response.text()


def text_of(html: str) -> str:
    """The page's text, without tags (and without the chart's SVG)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_nothing_is_public_until_staff_publish_it(
    services: Services, web_client: Any
) -> None:
    data = await fill(services)
    year, round_id = data["year"], data["round"]
    async with services.db.unit_of_work() as uow:
        with pytest.raises(PublishError, match="not closed"):
            await publish_round(uow, "test", round_id, utcnow())
    await close(services, round_id)
    for path in (
        f"/results/{year}",
        f"/results/{year}/krakow",
        f"/results/{year}/krakow/{A}",
    ):
        status, html = await get(web_client, path)
        assert status == 404, path
        assert "Uwaga" not in html and "Open Kraków" not in html
    # The closed round's page (linked from the results message) says its results are coming.
    status, html = await get(web_client, f"/results/rounds/{round_id}")
    assert status == 200 and "Results coming soon" in html
    assert "Uwaga" not in html and "Open Kraków" not in html
    assert (await get(web_client, f"/results/rounds/{round_id + 100}"))[0] == 404
    status, html = await get(web_client, "/results")
    assert status == 200 and "Nothing has been published yet." in html
    async with services.db.unit_of_work() as uow:
        assert await publish_round(uow, "tg:1", round_id, utcnow())
        assert not await publish_round(uow, "tg:1", round_id, utcnow())  # once
        log = await uow.audit_log.latest(5)
    assert [(e.actor, e.action, e.target) for e in log if e.action == "results.publish"] == [
        ("tg:1", "results.publish", f"round:{round_id}")
    ]
    status, html = await get(web_client, f"/results/rounds/{round_id}")
    assert status == 200 and "Open Kraków programme" in html
    assert (await get(web_client, f"/results/{year}"))[0] == 404  # the year is not published
    async with web_client.get(f"/results/rounds/{round_id}") as response:
        headers = response.headers
    assert "nonce-" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
    assert "<script" not in html


async def test_published_pages_show_the_json_reports_figures_and_nothing_below_k(
    services: Services, web_client: Any
) -> None:
    data = await fill(services)
    year = data["year"]
    await close(services, data["round"])
    async with services.db.unit_of_work() as uow:
        await publish_year(uow, "tg:1", year, utcnow())
    zone, k = services.settings.tz, services.settings.min_group_size
    report = await published_report(services.db, year_period(year, zone), k, zone)
    document = json.loads(to_json(report, services.translator, "en"))
    by_id = {p["practice_id"]: p for p in document["practices"]}
    assert by_id[B]["suppressed"] and not by_id[A]["suppressed"]

    status, html = await get(web_client, f"/results/{year}")
    assert status == 200
    row = re.search(r'<tr>\s*<td data-label="#">1</td>.*?</tr>', html, re.S)
    assert row is not None and A in row.group(0)
    score = by_id[A]["composite"]
    cells = text_of(row.group(0))
    assert f"{score['score']:.1f}" in cells
    assert f"{score['ci_low']:.1f}–{score['ci_high']:.1f}" in cells
    assert f" {by_id[A]['completed']} " in cells + " "

    status, html = await get(web_client, f"/results/{year}/krakow/{A}")
    assert status == 200
    page = text_of(html)
    for criterion, stats in by_id[A]["criteria"].items():
        assert f"{stats['mean']:.2f}" in page, criterion
    comments = [c for c in document["comments"] if c["practice_id"] == A]
    assert len(comments) == 6
    assert "Uwaga 0" in page and "600 100 200" not in page  # contacts masked

    status, html = await get(web_client, f"/results/{year}/krakow/{B}")
    assert status == 200
    assert f"&lt; {k}" in html
    assert "Secret detail" not in html
    for path in (f"/results/{year}", f"/results/{year}/krakow"):
        assert "Secret detail" not in (await get(web_client, path))[1]
    hidden = next(c for c in comments if c["text"].startswith("Uwaga 3"))
    async with services.db.unit_of_work() as uow:
        assert await moderate_comment(uow, "tg:1", hidden["id"], True)
    page = text_of((await get(web_client, f"/results/{year}/krakow/{A}"))[1])
    assert "Uwaga 3" not in page and "Uwaga 2" in page  # a hidden comment leaves the page


@contextlib.asynccontextmanager
async def writer_held(services: Services) -> AsyncIterator[None]:
    """Another connection holds the database's writing side: SQLite's single write lock, or on
    PostgreSQL the tables publishing writes to."""
    if services.db.is_sqlite:
        path = services.db.engine.url.database
        assert path is not None
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()
        return
    url = postgresql_url().replace("postgresql+asyncpg://", "postgresql://")
    pg = await asyncpg.connect(url)
    transaction = pg.transaction()
    await transaction.start()
    await pg.execute("LOCK TABLE published_cells, cell_changes, app_settings IN EXCLUSIVE MODE")
    try:
        yield
    finally:
        await transaction.rollback()
        await pg.close()


async def test_a_public_page_is_read_without_waiting_for_the_writer(
    services: Services, web_client: Any
) -> None:
    """Anyone may open the public pages: when nothing is due to publish, a view must not queue
    for the write lock (on SQLite it would hold up every respondent's answer behind it)."""
    data = await fill(services)
    await close(services, data["round"])
    async with services.db.unit_of_work() as uow:
        await publish_round(uow, "tg:1", data["round"], utcnow())
    path = f"/results/rounds/{data['round']}"
    assert (await get(web_client, path))[0] == 200  # the first view publishes what is due
    async with writer_held(services):
        status, html = await asyncio.wait_for(get(web_client, path), timeout=10)
    assert status == 200 and "Open Kraków programme" in html


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("pl-PL,pl;q=0.9,en;q=0.8", "pl"),
        ("de-DE, ru;q=0.5, uk;q=0.7", "uk"),
        ("en-GB", "en"),
        ("fr, de", "en"),  # none of ours: the default
        ("uk;q=0, ru", "ru"),  # q=0 means "not this one"
        ("", "en"),
        ("ru;q=abc", "en"),
    ],
)
def test_accept_language_is_negotiated(header: str, expected: str) -> None:
    assert negotiate(header, "en") == expected


async def test_the_language_follows_the_browser_then_the_switch(
    services: Services, web_client: Any
) -> None:
    data = await fill(services)
    await close(services, data["round"])
    async with services.db.unit_of_work() as uow:
        await publish_year(uow, "tg:1", data["year"], utcnow())
    path = f"/results/{data['year']}"
    _status, html = await get(web_client, path, "pl-PL,pl;q=0.9")
    assert '<html lang="pl">' in html and f"Wyniki {data['year']}" in html
    _status, html = await get(web_client, path, "ru")
    assert '<html lang="ru">' in html
    assert f'href="{path}?lang=uk"' in html  # the switch
    _status, html = await get(web_client, f"{path}?lang=uk", "en")
    assert '<html lang="uk">' in html
    _status, html = await get(web_client, path, "en")  # the switch is remembered
    assert '<html lang="uk">' in html


async def test_the_static_export_writes_every_page_with_relative_links(
    services: Services, tmp_path: Path
) -> None:
    data = await fill(services)
    year = data["year"]
    await close(services, data["round"])
    out = tmp_path / "site"
    assert await PublicPages(services).write_static(year, out) == 0  # not published: nothing
    assert not out.exists()
    assert "published" in ok(auditbot(services.settings, "publish", "--round", str(data["round"])))
    result = auditbot(services.settings, "publish", "--year", str(year), "--static", str(out))
    assert "published" in ok(result)
    pages = sorted(p.relative_to(out).as_posix() for p in out.rglob("index.html"))
    for locale in LOCALES:
        for page in (
            "",
            f"{year}/",
            f"{year}/krakow/",
            f"{year}/krakow/{A}/",
            f"{year}/krakow/{B}/",
            f"rounds/{data['round']}/",
        ):
            assert f"{locale}/{page}index.html" in pages
    index = (out / "en" / "index.html").read_text(encoding="utf-8")
    assert f'href="rounds/{data["round"]}/index.html"' in index  # the round is linked
    page = (out / "uk" / "rounds" / str(data["round"]) / "index.html").read_text(encoding="utf-8")
    assert "&lt; 5" in page and "Secret detail" not in page  # B is below k in the round too
    for file in out.rglob("*.html"):
        html = file.read_text(encoding="utf-8")
        for link in re.findall(r'href="([^"]+)"', html):
            assert not link.startswith("/"), (file, link)
            assert (file.parent / link).resolve().is_file(), (file, link)
    page = (out / "pl" / str(year) / "krakow" / B / "index.html").read_text(encoding="utf-8")
    assert '<html lang="pl">' in page and "&lt; 5" in page and "Secret detail" not in page
    again = auditbot(services.settings, "publish", "--year", str(year))
    assert "already published" in ok(again)
    bad = auditbot(services.settings, "publish", "--round", str(data["round"] + 99))
    assert bad.returncode == 2 and "no round" in bad.stderr


def test_static_links_are_relative_and_server_links_absolute() -> None:
    assert Links("2026/krakow").href("2026") == "/results/2026"
    assert Links("2026/krakow").language("pl") == "/results/2026/krakow?lang=pl"
    assert Links("2026/krakow", static=True).href("2026") == "../../2026/index.html"
    assert Links("", static=True).href("2026") == "2026/index.html"
    assert Links("2026", static=True).language("pl") == "../../pl/2026/index.html"


async def test_the_citys_reply_shows_once_approved_and_a_rejected_one_never(
    services: Services, web_client: Any
) -> None:
    data = await fill(services)
    year = data["year"]
    await close(services, data["round"])
    coordinator = "tg:77"
    async with services.db.unit_of_work() as uow:
        with pytest.raises(PublishError, match="not published"):
            await propose_reply(uow, coordinator, ["krakow"], A, year, "pl", "Dziękujemy", utcnow())
        await publish_year(uow, "tg:1", year, utcnow())
        with pytest.raises(PublishError, match="no such practice"):
            await propose_reply(uow, coordinator, ["gdansk"], A, year, "pl", "Nie nasze", utcnow())
        with pytest.raises(PublishError, match="too long"):
            await propose_reply(uow, coordinator, ["krakow"], A, year, "pl", "x" * 1001, utcnow())
        good = await propose_reply(
            uow, coordinator, ["krakow"], A, year, "pl", "Miasto dziękuje za oceny.", utcnow()
        )
        bad = await propose_reply(
            uow, coordinator, ["krakow"], A, year, "en", "Our critics are wrong.", utcnow()
        )
    path = f"/results/{year}/krakow/{A}"
    for language in ("pl", "en"):
        page = (await get(web_client, f"{path}?lang={language}"))[1]
        assert "Miasto dziękuje" not in page and "critics" not in page  # proposed: not yet
    async with services.db.unit_of_work() as uow:
        await decide_reply(uow, "tg:1", good.id, True, utcnow())
        await decide_reply(uow, "tg:1", bad.id, False, utcnow())
        with pytest.raises(PublishError):
            await decide_reply(uow, "tg:1", bad.id, True, utcnow())  # decided stays decided
        replies = await approved_replies(uow, year)
        actions = [(e.action, e.target) for e in await uow.audit_log.latest(10)]
    assert replies == {A: {"pl": "Miasto dziękuje za oceny."}}
    assert ("reply.approve", f"reply:{good.id}") in actions
    assert ("reply.reject", f"reply:{bad.id}") in actions
    assert ("reply.propose", f"reply:{bad.id}") in actions
    for language in LOCALES:
        page = (await get(web_client, f"{path}?lang={language}"))[1]
        assert "Miasto dziękuje za oceny." in page
        assert 'lang="pl"><p>Miasto' in page
        assert "critics" not in page
    assert "Miasto" not in (await get(web_client, f"/results/{year}/krakow/{B}"))[1]
