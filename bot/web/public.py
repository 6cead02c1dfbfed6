"""The public results pages: what staff published (app/publishing.py), for anyone, no sign-in.

`/results`, a year, a city in a year, a practice in a year, and a published round. Figures come
only through `audit.summary.published_report` (the disclosure rule; a closed round's frozen
finals), so a page shows "< k" where any other output would; hidden comments and the comments of
a practice below k never show. The language comes from `?lang=` (remembered in a cookie), then
the cookie, then Accept-Language. Server-rendered, no JavaScript, readable on a phone.

`write_static` renders the same pages of a year (and of its published rounds) as files with
relative links, one folder per language, for any web host.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from app.config import LOCALES
from app.publishing import (
    ROUND,
    YEAR,
    approved_replies,
    is_published,
    published_rounds,
    published_years,
)
from app.services import Services
from app.summaries import published_report, round_period
from audit.export import CRITERION_NAMES, visible_comments
from audit.model import PracticeSummary, Report
from audit.summary import year_period
from bot.web.dashboard import criteria_chart, environment, page_globals
from bot.web.security import new_nonce, page_policy
from conversations.engine import LANGUAGE_NAMES
from conversations.messages import Local, Plain
from conversations.notices import last_moment

LANGUAGE_COOKIE = "results_lang"
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")


@dataclass(frozen=True)
class Links:
    """Where a page's links lead: absolute paths under /results on the server, relative file
    paths in a static export (one folder per language, `index.html` in each page's folder)."""

    page: str  # this page's path under the results root: "", "2026", "2026/krakow"
    static: bool = False

    def href(self, path: str) -> str:
        """The address of another page (its path under the results root)."""
        if not self.static:
            return "/results" + (f"/{path}" if path else "")
        return self._up() + (f"{path}/" if path else "") + "index.html"

    def language(self, code: str) -> str:
        """This page in another language."""
        if not self.static:
            return self.href(self.page) + f"?lang={code}"
        return self._up() + f"../{code}/" + (f"{self.page}/" if self.page else "") + "index.html"

    def _up(self) -> str:
        return "../" * (self.page.count("/") + 1 if self.page else 0)


@dataclass(frozen=True)
class Page:
    """A page to render: its template, its path under the results root, what it shows."""

    template: str
    path: str
    context: dict[str, Any]


class PublicPages:
    """Builds the public pages from published results; serves them and writes them as files."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.env = environment()

    # --- the pages ----------------------------------------------------------------------

    async def index(self, only_year: int | None = None) -> Page:
        """The published years and rounds (of one year: those that opened in it)."""
        zone = self.services.settings.tz
        rows: list[dict[str, Any]] = []
        async with self.services.db.reading() as uow:
            years = await published_years(uow)
            cities = {c.id: c.name for c in await uow.catalog.cities()}
            for round_id in await published_rounds(uow):
                round_ = await uow.rounds.get(round_id)
                if round_ is None:
                    continue
                opens = round_.opens_at.astimezone(zone).date()
                if only_year is None or opens.year == only_year:
                    rows.append(
                        {
                            "id": round_id,
                            "city": Local(cities.get(round_.city_id, {})),
                            "opens": opens,
                            "ends": last_moment(round_.closes_at).astimezone(zone).date(),
                        }
                    )
        if only_year is not None:
            years = [y for y in years if y == only_year]
        return Page("public_index.html", "", {"years": years, "rounds": rows})

    async def year(self, year: int) -> Page | None:
        """A published year: the ranking, the practices below k, the cities."""
        report = await self._year_report(year)
        return None if report is None else Page("public_year.html", str(year), {"report": report})

    async def city(self, year: int, city_id: str) -> Page | None:
        """A city's practices in a published year."""
        report = await self._year_report(year, city_id)
        if report is None or not report.practices:
            return None
        city = report.practices[0].city
        return Page("public_city.html", f"{year}/{city_id}", {"report": report, "city": city})

    async def practice(self, year: int, city_id: str, practice_id: str) -> Page | None:
        """One practice in a published year: its figures, the city's approved response, and
        the residents' comments (none when the practice is below k)."""
        report = await self._year_report(year, city_id)
        found = [p for p in report.practices if p.practice_id == practice_id] if report else []
        if report is None or not found:
            return None
        async with self.services.db.reading() as uow:
            replies = (await approved_replies(uow, year, [practice_id])).get(practice_id, {})
        comments = [c for c in visible_comments(report) if c.practice_id == practice_id]
        context = {
            "report": report,
            "practice": found[0],
            "comments": comments,
            "replies": replies,  # the page's language, else every one there is
        }
        return Page("public_practice.html", f"{year}/{city_id}/{practice_id}", context)

    async def round(self, round_id: int) -> Page | None:
        """A published round's final figures. A closed round not published yet says that its
        results come here: the link in the results message to respondents (sent when the round
        closes) leads to this page, before staff have published it."""
        zone, k = self.services.settings.tz, self.services.settings.min_group_size
        async with self.services.db.reading() as uow:
            round_ = await uow.rounds.get(round_id)
            if round_ is None:
                return None
            city = await uow.catalog.city(round_.city_id)
            name = city.name if city is not None else {}
            if not await is_published(uow, ROUND, round_id):
                if round_.status != "closed":
                    return None
                return Page("public_pending.html", f"rounds/{round_id}", {"city": name})
            period = await round_period(uow, round_id, zone)
        report = await published_report(self.services.db, period, k, zone)
        return Page("public_round.html", f"rounds/{round_id}", {"report": report, "city": name})

    async def _year_report(self, year: int, city_id: str | None = None) -> Report | None:
        """A published year's report (of one city), through the disclosure rule."""
        zone, k = self.services.settings.tz, self.services.settings.min_group_size
        async with self.services.db.reading() as uow:
            if not await is_published(uow, YEAR, year):
                return None
            if city_id is not None and await uow.catalog.city(city_id) is None:
                return None
        period = year_period(year, zone, [city_id] if city_id else None)
        return await published_report(self.services.db, period, k, zone)

    # --- rendering ----------------------------------------------------------------------

    def render(self, page: Page, locale: str, *, static: bool = False, nonce: str = "") -> str:
        """A page's HTML in one language."""
        translator = self.services.translator

        def label(criterion: str, code: str) -> str:
            return translator.render(CRITERION_NAMES[criterion], code)

        report: Report | None = page.context.get("report")
        practices = report.practices if report else []
        charts = {p.practice_id: criteria_chart(p, locale, label) for p in practices}
        return self.env.get_template(page.template).render(
            **page_globals(translator, locale, nonce),
            links=Links(page.path, static),
            Local=Local,
            charts=charts,
            k=self.services.settings.min_group_size,
            left_out_names=lambda p: _left_out(p, locale, label),
            **page.context,
        )

    # --- the server ---------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        """The public routes."""
        year, slug = r"{year:\d{4}}", "{city:[a-z0-9][a-z0-9-]{0,39}}"
        practice = "{practice:[a-z0-9][a-z0-9-]{0,39}}"
        return [
            web.get("/results", self._serve(lambda _r: self.index())),
            web.get(f"/results/{year}", self._serve(lambda r: self.year(_int(r, "year")))),
            web.get(
                f"/results/{year}/{slug}",
                self._serve(lambda r: self.city(_int(r, "year"), r.match_info["city"])),
            ),
            web.get(
                f"/results/{year}/{slug}/{practice}",
                self._serve(
                    lambda r: self.practice(
                        _int(r, "year"), r.match_info["city"], r.match_info["practice"]
                    )
                ),
            ),
            web.get(
                r"/results/rounds/{round_id:\d{1,9}}",
                self._serve(lambda r: self.round(_int(r, "round_id"))),
            ),
        ]

    def _serve(
        self, build: Callable[[web.Request], Awaitable[Page | None]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            locale, chosen = self.locale_of(request)
            page = await build(request)
            nonce = new_nonce()
            if page is None:
                page = Page("public_missing.html", "", {})
            html = self.render(page, locale, nonce=nonce)
            response = web.Response(
                text=html,
                status=404 if page.template == "public_missing.html" else 200,
                content_type="text/html",
                headers={
                    "Content-Security-Policy": page_policy(nonce),
                    "Cache-Control": "no-cache",
                    "Vary": "Accept-Language, Cookie",
                    "Content-Language": locale,
                },
            )
            if chosen:
                response.set_cookie(
                    LANGUAGE_COOKIE,
                    locale,
                    max_age=365 * 24 * 3600,
                    path="/results",
                    samesite="Lax",
                    secure=request.secure,
                )
            return response

        return handle

    def locale_of(self, request: web.Request) -> tuple[str, bool]:
        """The page's language, and whether the visitor just chose it (`?lang=`)."""
        asked = request.query.get("lang")
        if asked in LOCALES:
            return asked, True
        remembered = request.cookies.get(LANGUAGE_COOKIE)
        if remembered in LOCALES:
            return remembered, False
        return negotiate(request.headers.get("Accept-Language", ""), self._default()), False

    def _default(self) -> str:
        return self.services.translator.default_locale

    # --- the static export --------------------------------------------------------------

    async def pages_of_year(self, year: int) -> list[Page]:
        """Every page of a published year, with the published rounds that opened in it (empty
        when the year is not published)."""
        top = await self.year(year)
        if top is None:
            return []
        report: Report = top.context["report"]
        index = await self.index(only_year=year)
        pages = [index, top]
        for row in index.context["rounds"]:
            if (page := await self.round(row["id"])) is not None:
                pages.append(page)
        for city_id, _name in report.cities():
            pages.append(await self.city(year, city_id) or top)
        for practice in report.practices:
            page = await self.practice(year, practice.city_id, practice.practice_id)
            if page is not None:
                pages.append(page)
        return pages

    async def write_static(self, year: int, out: Path) -> int:
        """Write a published year's pages in every language under `out`; how many files."""
        pages = await self.pages_of_year(year)
        if not pages:
            return 0
        written = 0
        for locale in LOCALES:
            for page in pages:
                target = out / locale / page.path / "index.html"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(self.render(page, locale, static=True), encoding="utf-8")
                written += 1
        chooser = Page("public_languages.html", "", {})
        html = self.env.get_template(chooser.template).render(
            languages=LANGUAGE_NAMES, locales=LOCALES
        )
        (out / "index.html").write_text(html, encoding="utf-8")
        return written + 1


def negotiate(header: str, default: str) -> str:
    """The first of our languages in an Accept-Language header, by its q-values."""
    wanted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        match = re.search(r"q=([^;\s]*)", params)
        if match:
            try:
                quality = float(match.group(1))
            except ValueError:
                continue
        language = tag.strip().split("-")[0].split("_")[0].lower()
        if language in LOCALES and quality > 0:
            wanted.append((-quality, position, language))
    return min(wanted)[2] if wanted else default


def _int(request: web.Request, name: str) -> int:
    return int(request.match_info[name])


def _left_out(practice: PracticeSummary, locale: str, label: Callable[[str, str], str]) -> Plain:
    return Plain(", ".join(label(c, locale) for c in practice.left_out))
