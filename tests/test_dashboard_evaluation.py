"""The annual evaluation in the dashboard, over HTTP against the real aiohttp application:
editions and weights for staff, the proposal form, the staff queue, the jury's scoring (tried
as an attacker: other practices, other pages, other people's scores) and the combined ranking."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from app import editions, jury
from app.editions import Schedule, Weights
from app.services import Services
from bot.startup import start_services
from bot.web.auth import sign_in_link
from bot.web.server import build_web_app
from conversations import nomination
from conversations.messages import Msg, _
from storage.models import AuditLog, Nomination, OutboxMessage, utcnow
from tests.conftest import make_settings
from tests.test_nominations import open_nominations

YEAR = 2099
STAFF, KRAKOW, LUBLIN, JUROR_A, JUROR_B = 7001, 7002, 7003, 7004, 7005
PRACTICES = ("krakow-otwarty-krakow", "lublin-info-integracja")
NOW = utcnow()


@pytest.fixture
async def web_app(database_url: str) -> AsyncIterator[tuple[Services, TestServer]]:
    """The web application on a test server, with staff, two coordinators and two coordinators
    who are also jurors-to-be."""
    services = await start_services(make_settings(database_url, public_url="http://127.0.0.1"))
    async with services.db.unit_of_work() as uow:
        await uow.staff.put(STAFF, "staff", [])
        await uow.staff.put(KRAKOW, "coordinator", ["krakow"])
        await uow.staff.put(LUBLIN, "coordinator", ["lublin"])
        await uow.staff.put(JUROR_A, "coordinator", ["krakow"])
        await uow.staff.put(JUROR_B, "coordinator", ["lublin"])
    server = TestServer(build_web_app(services, None))
    await server.start_server()
    try:
        yield services, server
    finally:
        await server.close()
        await services.close()


class Browser:
    """One signed-in person: their cookies, their CSRF token, plain HTTP (no JavaScript)."""

    def __init__(self, server: TestServer, http: aiohttp.ClientSession) -> None:
        self.server, self.http = server, http
        self.csrf = ""

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(self.server.make_url(path), allow_redirects=False) as response:
            text = await response.text()
        found = re.search(r'name="csrf" value="([^"]+)"', text)
        self.csrf = found.group(1) if found else self.csrf
        return response.status, text

    async def post(self, path: str, data: dict[str, Any], *, csrf: bool = True) -> tuple[int, str]:
        form = {**data, "csrf": self.csrf} if csrf else data
        async with self.http.post(
            self.server.make_url(path), data=form, allow_redirects=False
        ) as response:
            return response.status, await response.text()


async def signed_in(
    services: Services, server: TestServer, user: int, locale: str = "en"
) -> AsyncIterator[Browser]:
    link = await sign_in_link(services, user)
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http:
        async with http.post(
            server.make_url("/dashboard/login"),
            data={"token": link.rsplit("/", 1)[1]},
            headers={"Sec-Fetch-Site": "same-origin", "Accept-Language": locale},
            allow_redirects=False,
        ) as response:
            assert response.status == 303
        browser = Browser(server, http)
        await browser.get("/dashboard")
        yield browser


class People:
    """Opens a signed-in session per person and closes them all at the end."""

    def __init__(self, services: Services, server: TestServer) -> None:
        self.services, self.server = services, server
        self.open: list[AsyncIterator[Browser]] = []

    async def __call__(self, user: int, locale: str = "en") -> Browser:
        session = signed_in(self.services, self.server, user, locale)
        self.open.append(session)
        return await anext(session)

    async def close(self) -> None:
        for session in self.open:
            await anext(session, None)


@pytest.fixture
async def people(web_app: tuple[Services, TestServer]) -> AsyncIterator[People]:
    found = People(*web_app)
    try:
        yield found
    finally:
        await found.close()


def text_of(services: Services, message: Msg, locale: str) -> str:
    """A message as the dashboard writes it (HTML-escaped the way Jinja escapes)."""
    rendered = services.translator.render(message, locale)
    return rendered.replace("&", "&amp;").replace("'", "&#39;").replace('"', "&#34;")


async def open_edition(services: Services, *, jury_open: bool) -> None:
    """An edition taking proposals now, or (jury_open) in its jury phase with two practices."""
    if not jury_open:
        await open_nominations(services, YEAR)
        return
    schedule = Schedule(
        NOW - timedelta(days=60),
        NOW - timedelta(days=30),
        NOW - timedelta(days=1),
        NOW + timedelta(days=10),
    )
    async with services.db.unit_of_work() as uow:
        await editions.open_edition(uow, "test", YEAR, schedule, Weights(60, 40), NOW)
        for practice in PRACTICES:
            await uow.nominations.add_practice(YEAR, practice, "nominated")
        for user in (JUROR_A, JUROR_B):
            await jury.add_juror(uow, "test", YEAR, user, NOW)


async def weights_of(services: Services) -> tuple[int, int]:
    async with services.db.reading() as uow:
        edition = await uow.editions.get(YEAR)
        assert edition is not None
        return edition.jury_weight, edition.residents_weight


async def test_staff_see_editions_and_set_weights_until_the_jury_opens(
    web_app: tuple[Services, TestServer], people: People
) -> None:
    services, _server = web_app
    await open_edition(services, jury_open=False)
    staff = await people(STAFF)
    status, page = await staff.get("/dashboard")
    assert 'href="/dashboard/editions"' in page and 'href="/dashboard/propose"' in page
    status, page = await staff.get("/dashboard/editions")
    assert status == 200 and f"Edition {YEAR}" in page and "nominations" in page
    status, page = await staff.get(f"/dashboard/editions/{YEAR}")
    assert status == 200 and "jury 60 %, residents 40 %" in page

    assert (await staff.post(f"/dashboard/editions/{YEAR}/weights", {"jury_weight": "70"}))[
        0
    ] == 303
    assert await weights_of(services) == (70, 30)
    # no CSRF token: refused, nothing changes
    status, _page = await staff.post(
        f"/dashboard/editions/{YEAR}/weights", {"jury_weight": "10"}, csrf=False
    )
    assert status == 403 and await weights_of(services) == (70, 30)
    status, page = await staff.post(f"/dashboard/editions/{YEAR}/weights", {"jury_weight": "x"})
    assert status == 400
    assert (
        text_of(services, _("Please give the jury's share as a whole number from 0 to 100."), "en")
        in page
    )

    # a coordinator has no edition pages: the same 404 as anything that does not exist
    coordinator = await people(KRAKOW)
    for path in ("/dashboard/editions", f"/dashboard/editions/{YEAR}", "/dashboard/editions/2050"):
        assert (await coordinator.get(path))[0] == 404, path
    assert (await staff.get("/dashboard/editions/2050"))[0] == 404
    status, _page = await coordinator.post(
        f"/dashboard/editions/{YEAR}/weights", {"jury_weight": "5"}
    )
    assert status == 404 and await weights_of(services) == (70, 30)

    # once the jury phase opens, the weights are refused in the viewer's language
    async with services.db.unit_of_work() as uow:
        edition = await uow.editions.get(YEAR, lock=True)
        assert edition is not None
        edition.analysis_open_at = NOW - timedelta(days=2)
        edition.jury_open_at = NOW - timedelta(minutes=1)
    in_russian = await people(STAFF, "ru")
    await in_russian.get(f"/dashboard/editions/{YEAR}")
    status, page = await in_russian.post(
        f"/dashboard/editions/{YEAR}/weights", {"jury_weight": "50"}
    )
    assert status == 409
    refusal = _(
        "The weights cannot change any more: they were fixed when the jury "
        "phase opened. They stay: jury {jury} %, residents {residents} %.",
        jury="70",
        residents="30",
    )
    assert text_of(services, refusal, "ru") in page and "were frozen" not in page
    assert await weights_of(services) == (70, 30)
    status, page = await in_russian.get(f"/dashboard/editions/{YEAR}")
    assert 'name="jury_weight"' not in page  # no form any more
    async with services.db.reading() as uow:
        actions = [
            row.action
            for row in (await uow.session.scalars(select(AuditLog).order_by(AuditLog.id))).all()
        ]
    assert actions.count("edition.weights") == 1 and "edition.weights_frozen" in actions


async def test_staff_close_an_edition_in_the_dashboard(
    web_app: tuple[Services, TestServer], people: People
) -> None:
    services, _server = web_app
    await open_edition(services, jury_open=True)
    coordinator = await people(KRAKOW)
    assert (await coordinator.post(f"/dashboard/editions/{YEAR}/close", {}))[0] == 404
    staff = await people(STAFF, "pl")
    status, page = await staff.get(f"/dashboard/editions/{YEAR}")
    assert text_of(services, _("Close the edition now"), "pl") in page
    assert (await staff.post(f"/dashboard/editions/{YEAR}/close", {}, csrf=False))[0] == 403
    assert (await staff.post(f"/dashboard/editions/{YEAR}/close", {}))[0] == 303
    async with services.db.reading() as uow:
        edition = await uow.editions.get(YEAR)
        assert edition is not None and edition.status == "closed"
        log = [(e.actor, e.action) for e in await uow.audit_log.latest(10)]
    assert (f"tg:{STAFF}", "edition.phase") in log  # the move into "closed", by whom
    status, page = await staff.get(f"/dashboard/editions/{YEAR}")
    assert text_of(services, _("Close the edition now"), "pl") not in page
    assert f"/dashboard/editions/{YEAR}/ranking" in page
    status, page = await staff.post(f"/dashboard/editions/{YEAR}/close", {})
    assert status == 409 and text_of(services, _("This edition is closed already."), "pl") in page
    assert (await staff.post("/dashboard/editions/2050/close", {}))[0] == 404


async def test_staff_record_the_analysis_of_a_nominated_practice_in_the_dashboard(
    web_app: tuple[Services, TestServer], people: People
) -> None:
    services, _server = web_app
    await open_edition(services, jury_open=True)
    practice = PRACTICES[0]
    path = f"/dashboard/editions/{YEAR}/analysis"
    coordinator = await people(KRAKOW)
    assert (await coordinator.get(path))[0] == 404  # the national team's page only
    assert (await coordinator.post(f"{path}/{practice}", {"recommendation": "recommend"}))[0] == 404
    staff = await people(STAFF, "uk")
    status, page = await staff.get(f"/dashboard/editions/{YEAR}")
    assert f'href="{path}"' in page
    status, page = await staff.get(path)
    assert status == 200 and f'id="practice-{practice}"' in page and "&lt; 5" in page
    form = {
        "engagement_notes": "Міська рада фінансує центр третій рік.",
        "engagement_evidence": "https://example.org/budget\nhttps://example.org/report",
        "sustainability_notes": "",
        "sustainability_evidence": "",
        "comprehensiveness_notes": "",
        "comprehensiveness_evidence": "",
        "recommendation": "recommend",
    }
    assert (await staff.post(f"{path}/{practice}", form, csrf=False))[0] == 403
    assert (await staff.post(f"{path}/{practice}", form))[0] == 303
    assert (await staff.post(f"{path}/{practice}", form))[0] == 303  # unchanged: not logged
    async with services.db.reading() as uow:
        analysis = await uow.analysis.get(YEAR, practice)
        log = [e.action for e in await uow.audit_log.latest(20)]
    assert analysis is not None and analysis.recommendation == "recommend"
    assert analysis.criteria == {
        "engagement": {
            "notes": "Міська рада фінансує центр третій рік.",
            "evidence": ["https://example.org/budget", "https://example.org/report"],
        }
    }
    assert log.count("analysis.record") == 2  # the criterion and the recommendation, once
    status, page = await staff.get(path)
    assert "Міська рада фінансує центр третій рік." in page and "https://example.org/report" in page

    bad = {**form, "sustainability_evidence": "javascript:alert(1)"}
    status, page = await staff.post(f"{path}/{practice}", bad)
    problem = _("“{link}” is not a web address (https://…).", link="javascript:alert(1)")
    assert status == 400 and text_of(services, problem, "uk") in page
    too_long = {**form, "comprehensiveness_notes": "x" * 2001}
    status, page = await staff.post(f"{path}/{practice}", too_long)
    assert (
        status == 400
        and text_of(services, _("Notes: at most {limit} characters.", limit=2000), "uk") in page
    )
    status, page = await staff.post(f"{path}/lublin-unknown", form)
    assert status == 409  # not nominated: refused, said why
    async with services.db.reading() as uow:
        assert (await uow.analysis.get(YEAR, practice)).criteria.keys() == {"engagement"}

    assert (await staff.post(f"/dashboard/editions/{YEAR}/close", {}))[0] == 303
    status, page = await staff.get(path)
    assert status == 200 and 'name="engagement_notes"' not in page  # read-only once closed
    assert (
        text_of(services, _("The edition is closed: its analysis can no longer change."), "uk")
        in page
    )
    assert (await staff.post(f"{path}/{practice}", form))[0] == 409
    assert (await staff.get("/dashboard/editions/2050/analysis"))[0] == 404


GOOD = {
    "city": "krakow",
    "name": "Welcome point",
    "description": "Advice for newcomers on residence permits, twice a week.",
    "runner": "ngo",
    "since": "2019",
    "link": "https://example.org/welcome",
    "category": "",
}


async def first_category(services: Services) -> str:
    async with services.db.reading() as uow:
        return (await uow.catalog.categories())[0].id


async def test_a_coordinator_proposes_in_their_city_and_staff_decide_in_the_queue(
    web_app: tuple[Services, TestServer], people: People
) -> None:
    services, _server = web_app
    coordinator = await people(KRAKOW, "pl")
    status, page = await coordinator.get("/dashboard/propose")
    assert (
        status == 200
        and text_of(
            services,
            _(
                "Proposals are not being collected right now. Please try again when the next edition opens."
            ),
            "pl",
        )
        in page
    )
    await open_edition(services, jury_open=False)
    status, page = await coordinator.get("/dashboard/propose")
    assert status == 200 and 'value="krakow"' in page and 'value="lublin"' not in page
    good = {**GOOD, "category": await first_category(services)}

    bad_link = {**good, "link": "example.org"}
    status, page = await coordinator.post("/dashboard/propose", bad_link)
    problem = nomination.link_problem("example.org")
    assert problem is not None
    assert status == 400 and text_of(services, problem, "pl") in page and "Welcome point" in page
    status, page = await coordinator.post("/dashboard/propose", {**good, "since": "next year"})
    since = nomination.since_problem("next year", NOW.date())
    assert since is not None and status == 400 and text_of(services, since, "pl") in page
    status, page = await coordinator.post("/dashboard/propose", {**good, "city": "lublin"})
    assert (
        status == 400
        and text_of(services, _("You can propose practices of your own cities only."), "pl") in page
    )
    status, page = await coordinator.post("/dashboard/propose", {**good, "name": "<x"})
    assert status == 400 and "<x" not in page and "&lt;x" in page
    assert (await coordinator.post("/dashboard/propose", good, csrf=False))[0] == 403
    assert (await coordinator.post("/dashboard/propose", good))[0] == 303
    other = await people(LUBLIN, "uk")
    lublin = {**good, "city": "lublin", "name": "Info point"}
    assert (await other.post("/dashboard/propose", lublin))[0] == 303
    assert (await other.post("/dashboard/propose", {**lublin, "name": "Info point 2"}))[0] == 303

    async with services.db.reading() as uow:
        stored = list((await uow.session.scalars(select(Nomination).order_by(Nomination.id))).all())
    assert [(n.name, n.source, n.chat_id, n.locale) for n in stored] == [
        ("Welcome point", "dashboard", KRAKOW, "pl"),
        ("Info point", "dashboard", LUBLIN, "uk"),
        ("Info point 2", "dashboard", LUBLIN, "uk"),
    ]
    welcome, info, duplicate = (n.id for n in stored)

    # proposers cannot decide
    assert (await coordinator.get(f"/dashboard/editions/{YEAR}/nominations"))[0] == 404
    assert (await coordinator.post(f"/dashboard/nominations/{welcome}/accept", {}))[0] == 404
    staff = await people(STAFF)
    status, page = await staff.get(f"/dashboard/editions/{YEAR}/nominations")
    assert status == 200 and "Welcome point" in page and "Info point 2" in page
    assert (await staff.post(f"/dashboard/nominations/{welcome}/accept", {}))[0] == 303
    status, page = await staff.post(f"/dashboard/nominations/{info}/reject", {"reason": " "})
    assert status == 400 and "the person who proposed it will read it" in page
    reason = "It is already in the catalog."
    assert (await staff.post(f"/dashboard/nominations/{info}/reject", {"reason": reason}))[0] == 303
    assert (await staff.post(f"/dashboard/nominations/{duplicate}/merge", {"into": "x"}))[0] == 400
    assert (await staff.post(f"/dashboard/nominations/{duplicate}/merge", {"into": str(welcome)}))[
        0
    ] == 303
    status, page = await staff.post(f"/dashboard/nominations/{welcome}/accept", {})
    assert status == 409 and "accepted already" in page
    assert (await staff.post("/dashboard/nominations/999999/accept", {}))[0] == 404

    async with services.db.reading() as uow:
        decided = list(
            (await uow.session.scalars(select(Nomination).order_by(Nomination.id))).all()
        )
        listed = [p.practice_id for p in await uow.nominations.practices(YEAR)]
        told = list((await uow.session.scalars(select(OutboxMessage))).all())
    assert [n.status for n in decided] == ["accepted", "rejected", "merged"]
    assert listed == [f"krakow-nominated-{welcome}"]
    assert sorted((m.chat_id, m.locale) for m in told) == [
        (KRAKOW, "pl"),
        (LUBLIN, "uk"),
        (LUBLIN, "uk"),
    ]
    assert all(n.chat_id is None for n in decided)  # forgotten once told


async def jury_page(juror: Browser, practice: str) -> str:
    status, page = await juror.get(f"/dashboard/jury/practices/{practice}")
    assert status == 200
    return page


def scores(value: int, reason: str) -> dict[str, str]:
    return {
        field: str(value) if field.endswith("_score") else reason
        for criterion in jury.CRITERIA
        for field in (f"{criterion}_score", f"{criterion}_reason")
    }


async def test_a_juror_without_a_role_signs_in_and_sees_the_jurys_pages_only(
    web_app: tuple[Services, TestServer], people: People
) -> None:
    services, server = web_app
    await open_edition(services, jury_open=True)
    only_juror = 7099
    async with services.db.unit_of_work() as uow:
        await jury.add_juror(uow, "test", YEAR, only_juror, NOW)
    juror = await people(only_juror, "pl")
    status, _page = await juror.get("/dashboard")
    assert status == 303  # straight to the jury's pages
    status, page = await juror.get("/dashboard/jury")
    assert status == 200 and f"/dashboard/jury/practices/{PRACTICES[0]}" in page
    assert (
        await juror.post(
            f"/dashboard/jury/practices/{PRACTICES[0]}/score", scores(4, "A good start, well run.")
        )
    )[0] == 303
    staff = await people(STAFF)
    for path in (
        "/dashboard",
        "/dashboard/editions",
        f"/dashboard/editions/{YEAR}",
        "/dashboard/propose",
    ):
        assert (await staff.get(path))[0] == 200, path  # there to see, for staff
        assert (await juror.get(path))[0] in (303, 404), path  # not for the juror
    for path, data in (
        (f"/dashboard/editions/{YEAR}/close", {}),
        ("/dashboard/propose", {}),
        ("/dashboard/comments/1/hide", {}),
    ):
        assert (await juror.post(path, data))[0] == 404, path
    async with services.db.reading() as uow:
        edition = await uow.editions.get(YEAR)
        assert edition is not None and edition.status != "closed"
    # when the jury closes, the juror's session ends with it
    async with services.db.unit_of_work() as uow:
        await editions.close_edition(uow, "test", YEAR, NOW)
    assert (await juror.get("/dashboard/jury"))[0] == 401
    # and someone who is neither staff nor juror never gets in
    link = await sign_in_link(services, 7098)
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            server.make_url("/dashboard/login"),
            data={"token": link.rsplit("/", 1)[1]},
            headers={"Sec-Fetch-Site": "same-origin"},
            allow_redirects=False,
        ) as response,
    ):
        assert response.status != 303


async def test_a_juror_scores_recuses_and_submits_and_never_sees_another_jurors_scores(
    web_app: tuple[Services, TestServer], people: People
) -> None:
    services, _server = web_app
    await open_edition(services, jury_open=True)
    first, second = PRACTICES
    juror_a, juror_b = await people(JUROR_A, "uk"), await people(JUROR_B, "en")
    status, page = await juror_a.get("/dashboard")
    assert 'href="/dashboard/jury"' in page
    status, page = await juror_a.get("/dashboard/jury")
    assert status == 200 and f"/dashboard/jury/practices/{first}" in page

    secret = "Juror A thinks the city funds it well."
    status, page = await juror_a.post(
        f"/dashboard/jury/practices/{first}/score", {**scores(4, secret), "engagement_score": "9"}
    )
    assert (
        status == 400
        and text_of(services, _("Please choose a score from 1 to 5 for each criterion."), "uk")
        in page
    )
    status, page = await juror_a.post(f"/dashboard/jury/practices/{first}/score", scores(4, "ok"))
    assert (
        status == 400
        and text_of(services, _("Please write one sentence (5 to 300 characters)."), "uk") in page
    )
    assert (await juror_a.post(f"/dashboard/jury/practices/{first}/score", scores(4, secret)))[
        0
    ] == 303
    assert (
        await juror_a.post(
            f"/dashboard/jury/practices/{first}/score", scores(5, secret), csrf=False
        )
    )[0] == 403
    assert secret in await jury_page(juror_a, first)  # one's own, to revise

    # Juror B, trying every way in: their own page of the practice, other pages, guessed URLs.
    page_b = await jury_page(juror_b, first)
    assert secret not in page_b and "checked" not in page_b
    for path in (
        f"/dashboard/jury/practices/{first}?juror={JUROR_A}",
        f"/dashboard/jury?user={JUROR_A}",
    ):
        assert secret not in (await juror_b.get(path))[1]
    for path in (
        "/dashboard/jury/practices/gdansk-unknown",
        f"/dashboard/editions/{YEAR}",
        f"/dashboard/editions/{YEAR}/ranking",
        f"/dashboard/editions/{YEAR}/nominations",
        f"/dashboard/jury/practices/{JUROR_A}",
    ):
        status, page = await juror_b.get(path)
        assert status == 404 and secret not in page, path
    # a signed-in person who is no juror has no jury pages
    not_a_juror = await people(KRAKOW)
    assert (await not_a_juror.get("/dashboard/jury"))[0] == 404
    assert (await not_a_juror.get(f"/dashboard/jury/practices/{first}"))[0] == 404
    status, _page = await not_a_juror.post(
        f"/dashboard/jury/practices/{first}/score", scores(1, secret)
    )
    assert status == 404

    # Staff see counts only.
    staff = await people(STAFF)
    status, page = await staff.get(f"/dashboard/editions/{YEAR}")
    assert status == 200 and "Juror A" in page and secret not in page

    # Submit refuses while a practice is left; recusing finishes it; submit locks.
    status, page = await juror_a.post("/dashboard/jury/submit", {})
    assert (
        status == 409
        and text_of(
            services,
            _("Please score every practice, or step aside from it, before you submit."),
            "uk",
        )
        in page
    )
    assert (await juror_a.post(f"/dashboard/jury/practices/{second}/recuse", {}))[0] == 303
    assert (await juror_a.post("/dashboard/jury/submit", {}))[0] == 303
    status, page = await juror_a.get("/dashboard/jury")
    assert text_of(services, _("Thank you! Your scores are submitted and locked."), "uk") in page
    assert 'action="/dashboard/jury/submit"' not in page
    status, page = await juror_a.post(f"/dashboard/jury/practices/{first}/score", scores(1, secret))
    assert status == 409
    async with services.db.reading() as uow:
        mine = await jury.own_scores(uow, YEAR, JUROR_A)
        progress = await jury.progress(uow, YEAR)
    assert sorted((s.practice_id, s.criterion, s.score) for s in mine) == sorted(
        [(first, c, 4) for c in jury.CRITERIA] + [(second, jury.RECUSED, None)]
    )
    assert [(p.label, p.scored, p.recused, p.submitted) for p in progress] == [
        ("A", 1, 1, True),
        ("B", 0, 0, False),
    ]
    status, page = await staff.get(f"/dashboard/editions/{YEAR}")
    assert secret not in page


async def test_the_combined_ranking_after_the_close_and_the_distinction(
    web_app: tuple[Services, TestServer], people: People
) -> None:
    services, _server = web_app
    await open_edition(services, jury_open=True)
    first, second = PRACTICES
    async with services.db.unit_of_work() as uow:
        for user, values in ((JUROR_A, (5, 2)), (JUROR_B, (4, 1))):
            for practice, value in zip(PRACTICES, values, strict=True):
                for criterion in jury.CRITERIA:
                    await jury.score(
                        uow, YEAR, user, practice, criterion, value, "A sentence of reason.", NOW
                    )
    staff = await people(STAFF)
    status, page = await staff.get(f"/dashboard/editions/{YEAR}/ranking")
    assert status == 200 and "once the jury phase has closed" in page and "n = 2" not in page
    async with services.db.unit_of_work() as uow:
        await editions.close_edition(uow, "test", YEAR, utcnow())
        names = {p: (await uow.catalog.practice(p)).name["en"] for p in PRACTICES}  # type: ignore[union-attr]
    status, page = await staff.get(f"/dashboard/editions/{YEAR}/ranking")
    assert status == 200
    assert names[first] in page and names[second] in page
    # the jury part of each, n = 2, and the residents' part left out (no answers: below k)
    assert page.count("n = 2") == 2 and page.count("fewer than") >= 2
    assert "87.5" in page or "87,5" in page  # (100 + 75) / 2 for the first practice
    juror = await people(JUROR_A)
    assert (await juror.get(f"/dashboard/editions/{YEAR}/ranking"))[0] == 404
    assert (await juror.post(f"/dashboard/editions/{YEAR}/distinguish", {"practice": first}))[
        0
    ] == 404
    assert (await staff.post(f"/dashboard/editions/{YEAR}/distinguish", {"practice": "nowhere"}))[
        0
    ] == 404
    assert (await staff.post(f"/dashboard/editions/{YEAR}/distinguish", {"practice": first}))[
        0
    ] == 303
    status, page = await staff.get(f"/dashboard/editions/{YEAR}/ranking")
    assert "distinguished" in page
    async with services.db.reading() as uow:
        chosen = await uow.catalog.practice(first)
        other = await uow.catalog.practice(second)
        log = (
            await uow.session.scalars(
                select(AuditLog).where(AuditLog.action == "edition.distinguish")
            )
        ).all()
    assert chosen is not None and chosen.distinguished_in == YEAR
    assert other is not None and other.distinguished_in is None
    assert [(r.actor, r.target) for r in log] == [(f"tg:{STAFF}", f"practice:{first}")]
