"""The coordinator dashboard: rounds, a round's or a year's summary with charts, comments,
downloads, and the coordinator's choice of scheduled reports.

Server-rendered (Jinja2), readable on a phone (tables become stacked cards on narrow screens),
no JavaScript needed, numbers and dates in the viewer's language (Babel). Every page checks the
viewer's cities: a round of another city answers 404, whatever the URL says, and a year shows
only the viewer's cities.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape, quoteattr

import jinja2
from aiohttp import web

from app.config import LOCALES
from app.i18n import Translator
from app.jury import juror_now as jury_now
from app.publishing import (
    ROUND,
    YEAR,
    PublishError,
    decide_reply,
    is_published,
    propose_reply,
    publish_round,
    publish_year,
    waiting_replies,
)
from app.reports import FORMATS, moderate_comment, report_preferences
from app.services import Services
from app.staff import COORDINATOR, JUROR
from app.summaries import published_counts, published_report, round_period
from audit.export import (
    CRITERION_NAMES,
    EXPORTERS,
    file_name,
    reading_day,
    reading_number,
    reading_percent,
    reading_signed,
    reading_span,
)
from audit.model import CRITERIA, Comment, PracticeSummary, Report
from audit.summary import Period, round_totals, year_period
from bot.web.auth import (
    COOKIE,
    Viewer,
    csrf_ok,
    link_usable,
    set_session_cookie,
    sign_in,
    viewer_of,
)
from bot.web.evaluation import EvaluationPages
from bot.web.security import new_nonce, page_policy
from conversations.engine import LANGUAGE_NAMES
from conversations.messages import Local, Msg, Plain, _
from conversations.notices import last_moment
from storage.models import utcnow
from storage.uow import UnitOfWork

TEMPLATES = Path(__file__).parent / "templates"
# what a juror without another role may open (bot/web/auth.py: dashboard_role)
JUROR_PATHS = ("/dashboard/jury", "/dashboard/language", "/dashboard/logout")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Dashboard:
    """Request handlers bound to the services."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.env = environment()

    def routes(self) -> list[web.RouteDef]:
        """Every dashboard route."""
        return [
            web.get("/dashboard", self.signed_in(self.rounds)),
            web.get("/dashboard/login/{token}", self.login_page),
            web.post("/dashboard/login", self.login),
            web.get("/dashboard/rounds/{round_id:\\d+}", self.signed_in(self.round_page)),
            web.get(
                "/dashboard/rounds/{round_id:\\d+}/download/{fmt}", self.signed_in(self.download)
            ),
            web.get("/dashboard/years/{year:\\d{4}}", self.signed_in(self.year_page)),
            web.get("/dashboard/years/{year:\\d{4}}/download/{fmt}", self.signed_in(self.download)),
            web.post("/dashboard/report-settings", self.signed_in(self.report_settings, form=True)),
            web.post(
                "/dashboard/comments/{comment_id:\\d+}/{action:hide|unhide}",
                self.signed_in(self.moderate, form=True),
            ),
            web.post(
                "/dashboard/rounds/{round_id:\\d+}/publish",
                self.signed_in(self.publish, form=True),
            ),
            web.post(
                "/dashboard/years/{year:\\d{4}}/publish", self.signed_in(self.publish, form=True)
            ),
            web.post("/dashboard/replies", self.signed_in(self.propose_reply, form=True)),
            web.post(
                "/dashboard/replies/{reply_id:\\d+}/{action:approve|reject}",
                self.signed_in(self.decide_reply, form=True),
            ),
            web.post("/dashboard/language", self.signed_in(self.language, form=True)),
            web.post("/dashboard/logout", self.signed_in(self.logout, form=True)),
            *EvaluationPages(self).routes(),
        ]

    # --- plumbing -----------------------------------------------------------------------

    def signed_in(
        self,
        handler: Callable[[web.Request, Viewer], Awaitable[web.StreamResponse]],
        *,
        form: bool = False,
    ) -> Handler:
        """Require a session (and, for forms, this session's CSRF token)."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            viewer = await viewer_of(request, self.services)
            if viewer is None:
                return self.page(
                    "message.html",
                    None,
                    status=401,
                    title=_("Please sign in"),
                    text=_("Send /dashboard to the bot to get a sign-in link."),
                )
            if viewer.role.role == JUROR and not request.path.startswith(JUROR_PATHS):
                if request.path == "/dashboard" and request.method == "GET":
                    raise web.HTTPSeeOther("/dashboard/jury")
                return self.not_found(viewer)  # a juror sees the jury's pages only
            if form:
                data = await request.post()
                if not csrf_ok(viewer, str(data.get("csrf", "")) or None):
                    return self.page(
                        "message.html",
                        viewer,
                        status=403,
                        title=_("Not accepted"),
                        text=_("This form has expired. Please reload the page and try again."),
                    )
            return await handler(request, viewer)

        return guarded

    def page(
        self,
        template: str,
        viewer: Viewer | None,
        *,
        status: int = 200,
        locale: str | None = None,
        **context: Any,
    ) -> web.Response:
        """Render a page in the viewer's language (or `locale`, before signing in)."""
        locale = viewer.locale if viewer else locale or self.services.translator.default_locale
        nonce = new_nonce()
        html = self.env.get_template(template).render(
            **page_globals(self.services.translator, locale, nonce), viewer=viewer, **context
        )
        return web.Response(
            text=html,
            status=status,
            content_type="text/html",
            headers={"Cache-Control": "no-store", "Content-Security-Policy": page_policy(nonce)},
        )

    def not_found(self, viewer: Viewer) -> web.Response:
        """The same answer for "does not exist" and "not yours": nothing to learn from it."""
        return self.page(
            "message.html",
            viewer,
            status=404,
            title=_("Not found"),
            text=_("There is nothing here for you."),
        )

    # --- pages --------------------------------------------------------------------------

    async def login_page(self, request: web.Request) -> web.StreamResponse:
        """A sign-in link opens a page whose button signs in: GET and HEAD never spend the
        link, so a link-preview fetcher or a mail scanner cannot use it up."""
        locale = self._browser_locale(request)
        token = request.match_info["token"]
        if not await link_usable(self.services, token):
            return self._link_refused(locale)
        return self.page(
            "sign_in.html", None, locale=locale, token=token, title=_("Sign in to the dashboard")
        )

    async def login(self, request: web.Request) -> web.StreamResponse:
        """Spend a one-time link (the form of the sign-in page) and open a session."""
        locale = self._browser_locale(request)
        if not self._same_origin(request):
            return self._link_refused(locale)
        token = str((await request.post()).get("token", ""))
        cookie = await sign_in(self.services, token, locale) if token else None
        if cookie is None:
            return self._link_refused(locale)
        response = see_other("/dashboard")
        set_session_cookie(response, cookie, secure=request.secure or self._behind_https())
        return response

    def _link_refused(self, locale: str) -> web.Response:
        return self.page(
            "message.html",
            None,
            status=403,
            locale=locale,
            title=_("This link cannot be used"),
            text=_(
                "Sign-in links work once and for 15 minutes. Send "
                "/dashboard to the bot for a new one."
            ),
        )

    def _browser_locale(self, request: web.Request) -> str:
        return self.services.translator.choose_locale(
            None, request.headers.get("Accept-Language", "").split(",")[0] or None
        )

    def _same_origin(self, request: web.Request) -> bool:
        """A sign-in form posted from another site is refused (no signing people in to an
        account that is not theirs). Browsers say where a request comes from in Sec-Fetch-Site;
        older ones in Origin ("null" under our no-referrer policy, which proves nothing)."""
        site = request.headers.get("Sec-Fetch-Site")
        if site is not None:
            return site in ("same-origin", "none")
        origin = request.headers.get("Origin", "null")
        if origin == "null":
            return True
        public = urlsplit(self.services.settings.dashboard_url or "").netloc
        return urlsplit(origin).netloc in (request.host, public)

    async def rounds(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """The rounds of the viewer's cities with their counts, the annual summaries, and (for
        a coordinator) the language and format of their scheduled reports."""
        rows: list[dict[str, Any]] = []
        zone = self.services.settings.tz
        k = self.services.settings.min_group_size
        async with self.services.db.unit_of_work() as uow:
            cities = {c.id: c.name for c in await uow.catalog.cities()}
            for round_ in await uow.rounds.listing():
                if not viewer.role.covers(round_.city_id):
                    continue
                started, completed = round_totals(await published_counts(uow, round_.id, k, zone))
                rows.append(
                    {
                        "round": round_,
                        "city": Local(cities.get(round_.city_id, {})),
                        "opens": round_.opens_at.astimezone(zone).date(),
                        "ends": last_moment(round_.closes_at).astimezone(zone).date(),
                        "started": started,
                        "completed": completed,
                    }
                )
            staff_row = await uow.staff.get(viewer.role.user_id)
            juror = await jury_now(uow, viewer.role.user_id, utcnow())
            replies = await self._waiting_replies(uow, viewer)
        settings = None
        if viewer.role.role == COORDINATOR and staff_row is not None:
            settings = report_preferences(self.services, staff_row)
        return self.page(
            "rounds.html",
            viewer,
            rows=rows,
            years=self._years([row["opens"] for row in rows]),
            settings=settings,
            formats=list(FORMATS),
            juror=juror is not None,
            replies=replies,
        )

    async def _waiting_replies(self, uow: UnitOfWork, viewer: Viewer) -> list[dict[str, Any]]:
        """The replies waiting for the viewer's decision (staff of the practice's city)."""
        if not viewer.role.runs_rounds:
            return []
        practices = {p.id: p for p in await uow.catalog.practices()}
        rows = []
        for reply in await waiting_replies(uow):
            practice = practices.get(reply.practice_id)
            if practice is not None and viewer.role.covers(practice.city_id):
                rows.append({"reply": reply, "practice": Local(practice.name)})
        return rows

    async def round_page(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """A round's summary per practice, with charts, trend, comments and downloads."""
        report = await self._report(request, viewer)
        if report is None:
            return self.not_found(viewer)
        return await self._summary_page(viewer, report, f"/dashboard/rounds/{report.label}")

    async def year_page(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """A year's summary of the viewer's cities: the ranking, each practice, downloads."""
        report = await self._report(request, viewer)
        if report is None:
            return self.not_found(viewer)
        return await self._summary_page(viewer, report, f"/dashboard/years/{report.label}")

    async def _summary_page(self, viewer: Viewer, report: Report, path: str) -> web.Response:
        kind = ROUND if report.kind == "round" else YEAR
        async with self.services.db.reading() as uow:
            published = await is_published(uow, kind, int(report.label))
            closed = True
            if kind == ROUND:
                round_ = await uow.rounds.get(int(report.label))
                closed = round_ is not None and round_.status == "closed"
        charts = {
            p.practice_id: criteria_chart(p, viewer.locale, self._criterion_label)
            for p in report.practices
            if not p.suppressed
        }
        return self.page(
            "round.html" if report.kind == "round" else "year.html",
            viewer,
            report=report,
            charts=charts,
            comments=comments_by_practice(report),
            Local=Local,
            left_out_names=lambda p: Plain(
                ", ".join(self._criterion_label(c, viewer.locale) for c in p.left_out)
            ),
            formats=list(EXPORTERS),
            path=path,
            published=published,
            publishable=closed and self._may_publish(viewer, kind),
            public_url=f"/results/{report.label}"
            if kind == YEAR
            else f"/results/rounds/{report.label}",
            may_reply=published and kind == YEAR and viewer.role.role == COORDINATOR,
        )

    def _may_publish(self, viewer: Viewer, kind: str) -> bool:
        """Staff publish a round of their cities; a year (every city's) needs every city."""
        return viewer.role.runs_rounds and (kind == ROUND or viewer.role.cities is None)

    async def publish(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """Make a closed round's or a year's results public (logged)."""
        kind = YEAR if "year" in request.match_info else ROUND
        report_path = (
            f"/dashboard/years/{request.match_info['year']}"
            if kind == YEAR
            else f"/dashboard/rounds/{request.match_info['round_id']}"
        )
        actor = f"tg:{viewer.role.user_id}"
        async with self.services.db.unit_of_work() as uow:
            if not self._may_publish(viewer, kind):
                return self.not_found(viewer)
            try:
                if kind == YEAR:
                    await publish_year(uow, actor, int(request.match_info["year"]), utcnow())
                else:
                    round_id = int(request.match_info["round_id"])
                    round_ = await uow.rounds.get(round_id)
                    if round_ is None or not viewer.role.covers(round_.city_id):
                        return self.not_found(viewer)
                    await publish_round(uow, actor, round_id, utcnow())
            except PublishError as error:
                return self._refused(viewer, error)
        return see_other(report_path)

    async def propose_reply(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """A coordinator proposes the city's public response to a practice's results."""
        data = await request.post()
        year = str(data.get("year", ""))
        if viewer.role.role != COORDINATOR or not year.isdigit():
            return self.not_found(viewer)
        async with self.services.db.unit_of_work() as uow:
            try:
                await propose_reply(
                    uow,
                    f"tg:{viewer.role.user_id}",
                    viewer.role.cities,
                    str(data.get("practice", "")),
                    int(year),
                    str(data.get("reply_locale", "")),
                    str(data.get("text", "")),
                    utcnow(),
                )
            except PublishError as error:
                return self._refused(viewer, error)
        return self.page(
            "message.html",
            viewer,
            title=_("Thank you"),
            text=_("The response waits for staff to approve it; then it shows on the public page."),
        )

    async def decide_reply(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """Staff approve or reject a proposed reply (logged)."""
        reply_id = int(request.match_info["reply_id"])
        async with self.services.db.unit_of_work() as uow:
            reply = await uow.replies.get(reply_id)
            practice = await uow.catalog.practice(reply.practice_id) if reply else None
            if (
                not viewer.role.runs_rounds
                or practice is None
                or not viewer.role.covers(practice.city_id)
            ):
                return self.not_found(viewer)
            approve = request.match_info["action"] == "approve"
            try:
                await decide_reply(uow, f"tg:{viewer.role.user_id}", reply_id, approve, utcnow())
            except PublishError as error:
                return self._refused(viewer, error)
        return see_other("/dashboard")

    def _refused(self, viewer: Viewer, error: PublishError) -> web.Response:
        return self.page(
            "message.html", viewer, status=400, title=_("Not accepted"), text=error.message
        )

    async def report_settings(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """A coordinator chooses the language and format of their scheduled reports."""
        data = await request.post()
        locale, fmt = str(data.get("report_locale", "")), str(data.get("report_format", ""))
        if viewer.role.role != COORDINATOR or locale not in LOCALES or fmt not in FORMATS:
            return self.not_found(viewer)
        actor = f"tg:{viewer.role.user_id}"
        async with self.services.db.unit_of_work() as uow:
            if not await uow.staff.set_report_preferences(viewer.role.user_id, locale, fmt):
                return self.not_found(viewer)
            await uow.audit_log.add(actor, "report.settings", None, l=locale, f=fmt)
        return see_other("/dashboard")

    async def download(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """The round's summary in one of the export formats."""
        fmt = request.match_info["fmt"]
        report = await self._report(request, viewer)
        if report is None or fmt not in EXPORTERS:
            return self.not_found(viewer)
        content = EXPORTERS[fmt](report, self.services.translator, viewer.locale)
        name = file_name(report, fmt)
        async with self.services.db.unit_of_work() as uow:
            await uow.audit_log.add(
                f"tg:{viewer.role.user_id}",
                "report.download",
                f"{report.kind}:{report.label}",
                format=fmt,
            )
        return web.Response(
            body=content,
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Content-Type": _CONTENT_TYPES[fmt],
                "Cache-Control": "no-store",
            },
        )

    async def moderate(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """Hide or show a comment of the viewer's cities (logged)."""
        comment_id = int(request.match_info["comment_id"])
        hidden = request.match_info["action"] == "hide"
        actor = f"tg:{viewer.role.user_id}"
        async with self.services.db.unit_of_work() as uow:
            if not await moderate_comment(uow, actor, comment_id, hidden, viewer.role):
                return self.not_found(viewer)
        back = str((await request.post()).get("back", "/dashboard"))
        return see_other(back if back.startswith("/dashboard") else "/dashboard")

    async def language(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """Switch the dashboard's language."""
        data = await request.post()
        locale = str(data.get("locale", ""))
        if locale in LOCALES:
            async with self.services.db.unit_of_work() as uow:
                session = await uow.web.get_session(viewer.session_hash, utcnow())
                if session is not None:
                    session.locale = locale
        back = str(data.get("back", "/dashboard"))
        return see_other(back if back.startswith("/dashboard") else "/dashboard")

    async def logout(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """End the session."""
        async with self.services.db.unit_of_work() as uow:
            await uow.web.end_session(viewer.session_hash)
        response = see_other("/dashboard")
        response.del_cookie(COOKIE, path="/dashboard")
        return response

    # --- helpers ------------------------------------------------------------------------

    async def _report(self, request: web.Request, viewer: Viewer) -> Report | None:
        """The report a URL names: a round in the viewer's cities, or a year of their cities,
        as published (audit/disclosure.py)."""
        zone = self.services.settings.tz
        async with self.services.db.reading() as uow:
            period: Period
            if "year" in request.match_info:
                year = int(request.match_info["year"])
                if not 2000 <= year <= utcnow().year:
                    return None
                period = year_period(year, zone, viewer.role.cities)
            else:
                round_id = int(request.match_info["round_id"])
                round_ = await uow.rounds.get(round_id)
                if round_ is None or not viewer.role.covers(round_.city_id):
                    return None
                period = await round_period(uow, round_id, zone)
        k = self.services.settings.min_group_size
        return await published_report(self.services.db, period, k, zone)

    def _years(self, round_starts: Sequence[date]) -> list[int]:
        """The years with an annual summary to show: this one back to the first round (at
        most five)."""
        this_year = utcnow().astimezone(self.services.settings.tz).year
        first = min([this_year - 1, *(day.year for day in round_starts)])
        return list(range(this_year, max(first, this_year - 4) - 1, -1))

    def _criterion_label(self, criterion: str, locale: str) -> str:
        return self.services.translator.render(CRITERION_NAMES[criterion], locale)

    def _behind_https(self) -> bool:
        url = self.services.settings.dashboard_url or ""
        return url.startswith("https://")


def environment() -> jinja2.Environment:
    """The templates of the dashboard and the public pages (autoescaped, strict)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def translating(translator: Translator, locale: str) -> Callable[..., str]:
    """The templates' `_`: an interface message (with parameters) or a text in one language."""

    def translate(text: str | Msg | Local, **params: Any) -> str:
        message = Msg(text, params) if isinstance(text, str) else text
        return translator.render(message, locale)

    return translate


def page_globals(translator: Translator, locale: str, nonce: str) -> dict[str, Any]:
    """What every page's template may use: `_`, `fmt`, the languages, the criteria."""
    return {
        "_": translating(translator, locale),
        "fmt": Formats(locale),
        "locale": locale,
        "languages": LANGUAGE_NAMES,
        "locales": LOCALES,
        "criteria": CRITERIA,
        "criterion_names": CRITERION_NAMES,
        "csp_nonce": nonce,
    }


def see_other(location: str) -> web.Response:
    """A 303 redirect (after a sign-in or a form), only ever to a dashboard page."""
    return web.Response(status=303, headers={"Location": location})


_CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "csv-excel": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "json": "application/json; charset=utf-8",
}


@dataclass(frozen=True)
class Formats:
    """Numbers and dates in the viewer's language, for the templates (Babel)."""

    locale: str

    def number(self, value: float | None, digits: int = 1) -> str:
        """3,25 in Polish, 3.25 in English."""
        return reading_number(value, self.locale, digits)

    def signed(self, value: float) -> str:
        """A change with its sign: +4, −2."""
        return reading_signed(value, self.locale, 0)

    def percent(self, value: float | None) -> str:
        """A share: 86%, 86 %."""
        return reading_percent(value, self.locale)

    def span(self, starts: date | None, ends: date | None) -> str:
        """A short span of days: 1–31 mar 2026."""
        return reading_span(starts, ends, self.locale)

    def day(self, value: date | None) -> str:
        """A short date: 1 mar 2026."""
        return reading_day(value, self.locale, "medium")


def comments_by_practice(report: Report) -> list[tuple[PracticeSummary, list[Comment]]]:
    """The report's comments under their practice, in the report's order of practices."""
    practices = {(p.city_id, p.practice_id): p for p in report.practices}
    grouped: dict[tuple[str, str], list[Comment]] = {}
    for comment in report.comments:
        key = (comment.city_id, comment.practice_id)
        if key in practices:
            grouped.setdefault(key, []).append(comment)
    return [(practices[key], grouped[key]) for key in practices if key in grouped]


def criteria_chart(practice: PracticeSummary, locale: str, label: Callable[[str, str], str]) -> str:
    """An inline SVG: each criterion's name, then its mean (1–5) as a bar with the 95 % CI. Its
    accessible name tells the same in words, for screen readers."""
    width, row, margin = 320, 40, 8
    scale = (width - 2 * margin) / 4.0
    height = row * len(CRITERIA) + 16

    def x_of(rating: float) -> float:
        return margin + (rating - 1) * scale

    def mean_of(criterion: str) -> str:
        stats = practice.criteria.get(criterion)
        return reading_number(stats.mean, locale, 2) if stats else "–"

    name = "; ".join(f"{label(c, locale)}: {mean_of(c)}" for c in CRITERIA)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" class="chart" aria-label={quoteattr(name)}><title>{escape(name)}</title>'
    ]
    for tick in range(1, 6):
        parts.append(
            f'<line x1="{x_of(tick):.1f}" y1="12" x2="{x_of(tick):.1f}" '
            f'y2="{height - 16}" stroke="#cbd5e0"/>'
            f'<text x="{x_of(tick):.1f}" y="{height - 3}" font-size="10" '
            f'text-anchor="middle">{tick}</text>'
        )
    for index, criterion in enumerate(CRITERIA):
        top = index * row
        stats = practice.criteria.get(criterion)
        parts.append(
            f'<text x="{margin}" y="{top + 11}" font-size="11">'
            f"{escape(label(criterion, locale))} — {mean_of(criterion)}</text>"
        )
        if stats is None:
            continue
        low, high = x_of(stats.ci_low), x_of(stats.ci_high)
        parts.append(
            f'<rect x="{margin}" y="{top + 15}" '
            f'width="{max(x_of(stats.mean) - margin, 1):.1f}" height="14" '
            f'fill="#2b6cb0"/><line x1="{low:.1f}" y1="{top + 22}" x2="{high:.1f}" '
            f'y2="{top + 22}" stroke="#1a202c" stroke-width="2"/>'
            f'<line x1="{low:.1f}" y1="{top + 17}" x2="{low:.1f}" y2="{top + 27}" '
            f'stroke="#1a202c"/><line x1="{high:.1f}" y1="{top + 17}" '
            f'x2="{high:.1f}" y2="{top + 27}" stroke="#1a202c"/>'
        )
    parts.append("</svg>")
    return "".join(parts)
