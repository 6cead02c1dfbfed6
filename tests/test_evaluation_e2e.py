"""Issue 16's acceptance, end to end: an edition is opened; two residents propose practices in
the bot (uk, ru) over the fake Bot API and a city coordinator proposes one in the dashboard;
staff accept two and reject one (the rejected person is told in Russian); five jurors (uk, ru,
pl, en, pl) score — four in the bot, one in the dashboard (Chromium, a phone's screen, axe-core) —
and one recuses from a practice; the combined ranking equals the hand computation below; a juror
cannot see another's scores before the close; the weights cannot change once the jury phase has
opened; staff confirm a distinction, and the next year's edition lists it for re-analysis."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import krippendorff
import numpy
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from app import analysis, editions, evaluation, jury
from app.editions import EditionError, Weights
from app.jury import JuryError
from app.services import Services
from bot.web.auth import sign_in_link
from bot.web.server import build_web_app
from conversations.messages import _
from conversations.notices import nomination_outcome
from storage.models import Nomination, utcnow
from tests import test_dashboard
from tests.telegram_harness import Person, RunningBot, running_bot
from tests.test_dashboard_evaluation import Browser, signed_in
from tests.test_dashboard_use import DESKTOP, PHONE, serious_violations
from tests.test_nominations import open_nominations, propose_in_bot
from tests.test_telegram import said

browser = (
    test_dashboard.browser
)  # Chromium (and the skip without it) as the dashboard tests have it

YEAR = 2099
STAFF, COORDINATOR = 8001, 8002
JURORS = {8101: "uk", 8102: "ru", 8103: "pl", 8104: "en", 8105: "pl"}  # Juror A–E
IN_DASHBOARD, RECUSING = 8105, 8102
HELP_DESK, LANGUAGE_CAFE, REJECTED = "Help desk for newcomers", "Language café", "Info corner"
# (engagement, sustainability, comprehensiveness) per juror; None: recused
SCORES = {
    HELP_DESK: {8101: (4, 3, 5), 8102: None, 8103: (5, 5, 4), 8104: (3, 4, 4), 8105: (5, 4, 4)},
    LANGUAGE_CAFE: {
        8101: (2, 3, 2),
        8102: (3, 3, 3),
        8103: (2, 2, 1),
        8104: (4, 3, 3),
        8105: (3, 2, 3),
    },
}


def hand_jury_part(practice: str) -> tuple[float, float, float, int]:
    """Each juror's three scores on 0–100 ((v − 1) × 25) averaged; the mean over the jurors who
    did not recuse; a t interval (two-sided 95 %) over them."""
    t95 = {3: 3.182, 4: 2.776}  # t(0.975, df) as printed in statistics tables
    per_juror = [
        sum((v - 1) * 25 for v in given) / 3 for given in SCORES[practice].values() if given
    ]
    n = len(per_juror)
    mean = sum(per_juror) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in per_juror) / (n - 1))
    half = t95[n - 1] * sd / math.sqrt(n)
    return mean, mean - half, mean + half, n


async def score_in_bot(bot: RunningBot, person: Person, user: int) -> None:
    """A juror's /jury session: each practice scored (or stepped aside from), then submit."""
    locale = JURORS[user]
    await person.send("/jury")
    for practice, by_juror in SCORES.items():
        await person.tap(next(b for b in person.buttons() if practice in b))
        given = by_juror[user]
        if given is None:
            await person.tap(said(bot, _("I am involved with this practice"), locale))
            continue
        await person.tap(said(bot, _("Score this practice"), locale))
        for value in given:
            await person.tap(str(value))
            await person.send("It reaches many newcomers every week.")
    await person.tap(said(bot, _("Submit my scores"), locale))
    assert person.last_text == said(
        bot, _("Thank you! Your scores are submitted and locked."), locale
    )


async def chromium_page(
    browser: Any, services: Services, server: TestServer, user: int, viewport: Any
) -> Any:
    """A person signed in to the dashboard in Chromium, in Polish."""
    context = await browser.new_context(locale="pl-PL", viewport=viewport, bypass_csp=True)
    page = await context.new_page()
    link = await sign_in_link(services, user)
    await page.goto(str(server.make_url("/dashboard/login/" + link.rsplit("/", 1)[1])))
    async with page.expect_navigation():
        await page.click("form[action='/dashboard/login'] button")
    return page


async def test_an_edition_end_to_end(database_url: str, browser: Any) -> None:
    async with running_bot(
        database_url, jobs=True, public_url="http://127.0.0.1", admin_ids=str(STAFF)
    ) as bot:
        services = bot.services
        server = TestServer(build_web_app(services, None))
        await server.start_server()
        sessions = []

        async def dashboard(user: int, locale: str) -> Browser:
            session = signed_in(services, server, user, locale)
            sessions.append(session)
            return await anext(session)

        try:
            # An edition is opened; a coordinator and the fifth juror have dashboard access.
            await open_nominations(services, YEAR)
            async with services.db.unit_of_work() as uow:
                await uow.staff.put(COORDINATOR, "coordinator", ["krakow"])
                await uow.staff.put(IN_DASHBOARD, "coordinator", ["krakow"])

            # Two residents propose in the bot, a coordinator in the dashboard.
            ukrainian, russian = bot.person("uk", user_id=3101), bot.person("ru", user_id=3102)
            await propose_in_bot(bot, ukrainian, "uk", "Краків", HELP_DESK)
            await propose_in_bot(bot, russian, "ru", "Люблин", REJECTED)
            coordinator = await chromium_page(browser, services, server, COORDINATOR, DESKTOP)
            await coordinator.goto(str(server.make_url("/dashboard/propose")))
            await coordinator.locator("[name=name]").fill(LANGUAGE_CAFE)
            await coordinator.locator("[name=description]").fill(
                "Weekly conversation evenings in Polish for newcomers."
            )
            await coordinator.locator("[name=runner]").select_option("city")
            await coordinator.locator("[name=since]").fill("2021")
            await coordinator.locator("[name=link]").fill("https://example.org/cafe")
            async with coordinator.expect_navigation():
                await coordinator.click("form[action='/dashboard/propose'] button[type=submit]")
            assert "Dziękujemy!" in await coordinator.inner_text("[role=status]")
            async with services.db.reading() as uow:
                proposed = {
                    n.name: n for n in (await uow.session.scalars(select(Nomination))).all()
                }
            assert {n.source for n in proposed.values()} == {"telegram", "dashboard"}

            # Staff accept two and reject one in the dashboard; the rejected person is told in Russian.
            staff = await dashboard(STAFF, "en")
            await staff.get(f"/dashboard/editions/{YEAR}/nominations")
            for name in (HELP_DESK, LANGUAGE_CAFE):
                accepted = await staff.post(
                    f"/dashboard/nominations/{proposed[name].id}/accept", {}
                )
                assert accepted[0] == 303
            reason = "It is already in the catalog."
            rejected = await staff.post(
                f"/dashboard/nominations/{proposed[REJECTED].id}/reject", {"reason": reason}
            )
            assert rejected[0] == 303
            told_ru = said(
                bot, nomination_outcome("rejected", REJECTED, YEAR, reason).lines[0], "ru"
            )
            await bot.server.wait_for(lambda: russian.last_text == told_ru)
            assert "Причина: It is already in the catalog." in told_ru

            # The jury: five jurors; the jury phase opens and freezes the weights.
            async with services.db.unit_of_work() as uow:
                for user in JURORS:
                    await jury.add_juror(uow, "cli", YEAR, user, utcnow())
                edition = await uow.editions.get(YEAR, lock=True)
                assert edition is not None
                edition.analysis_open_at = utcnow() - timedelta(minutes=2)
                edition.jury_open_at = utcnow() - timedelta(minutes=1)
            await editions.reconcile_editions(services.db)
            refused = await staff.post(f"/dashboard/editions/{YEAR}/weights", {"jury_weight": "30"})
            assert refused[0] == 409 and "fixed when the jury phase opened" in refused[1]
            with pytest.raises(EditionError, match="frozen"):
                async with services.db.unit_of_work() as uow:
                    await editions.set_weights(uow, "cli", YEAR, Weights(30, 70), utcnow())

            # Four jurors score in the bot (Juror B steps aside from the help desk).
            for user in list(JURORS)[:4]:
                await score_in_bot(bot, bot.person(JURORS[user], user_id=user), user)

            # The fifth, in the dashboard, cannot see anyone else's scores before the close.
            juror = await chromium_page(browser, services, server, IN_DASHBOARD, PHONE)
            async with services.db.reading() as uow:
                practice_of = {
                    n.name: n.practice_id
                    for n in (await uow.session.scalars(select(Nomination))).all()
                }
            for name, by_juror in SCORES.items():
                path = f"/dashboard/jury/practices/{practice_of[name]}"
                await juror.goto(str(server.make_url(path)))
                page = await juror.content()
                assert "It reaches many newcomers" not in page and "checked" not in page
                assert await serious_violations(juror) == []
                given = by_juror[IN_DASHBOARD]
                assert given is not None
                for index, (criterion, value) in enumerate(zip(jury.CRITERIA, given, strict=True)):
                    group = juror.get_by_role("group").nth(index)
                    await group.get_by_label(str(value), exact=True).check()
                    await juror.fill(f"#{criterion}_reason", "Their help is steady and known.")
                async with juror.expect_navigation():
                    await juror.locator("form[action$='/score'] button").click()
                assert juror.url.endswith("/dashboard/jury")
            with pytest.raises(JuryError, match="after the jury phase closes"):
                async with services.db.reading() as uow:
                    await jury.scores_of(uow, YEAR, IN_DASHBOARD, 8101, utcnow())
            other = await juror.goto(str(server.make_url(f"/dashboard/editions/{YEAR}/ranking")))
            assert other is not None and other.status == 404
            await juror.goto(str(server.make_url("/dashboard/jury")))
            async with juror.expect_navigation():
                await juror.click("form[action='/dashboard/jury/submit'] button")
            assert await juror.inner_text("[role=status]") == said(
                bot, _("Thank you! Your scores are submitted and locked."), "pl"
            )

            # The close, and the combined ranking equals the hand computation.
            async with services.db.unit_of_work() as uow:
                await editions.close_edition(uow, "cli", YEAR, utcnow())
                ranking = await evaluation.combined_ranking(
                    uow, YEAR, services.settings.tz, services.settings.min_group_size
                )
            [rows] = ranking.by_category.values()
            assert [r.entry.practice_id for r in rows] == [
                practice_of[HELP_DESK],
                practice_of[LANGUAGE_CAFE],
            ]
            for row, name in zip(rows, (HELP_DESK, LANGUAGE_CAFE), strict=True):
                mean, low, high, n = hand_jury_part(name)
                jury_part = row.entry.jury
                assert jury_part is not None
                assert (jury_part.score, jury_part.ci_low, jury_part.ci_high, jury_part.n) == (
                    pytest.approx(mean),
                    pytest.approx(low),
                    pytest.approx(high),
                    n,
                )
                # nobody answered the survey about the new practices: below k, ranked on the jury
                assert row.jury_only and row.combined == jury_part
            assert hand_jury_part(HELP_DESK)[0] == pytest.approx(79.1666667)  # 316.67 / 4
            assert hand_jury_part(LANGUAGE_CAFE)[0] == pytest.approx(40.0)  # 200 / 5
            assert [(r.rank, r.tied) for r in rows] == [(1, False), (2, False)]
            matrix = [
                [
                    (SCORES[name][user] or (numpy.nan,) * 3)[index]
                    for name in sorted(SCORES, key=lambda p: practice_of[p] or "")
                    for index in range(3)
                ]
                for user in JURORS
            ]
            expected = krippendorff.alpha(
                reliability_data=numpy.array(matrix, dtype=float),
                level_of_measurement="ordinal",
                value_domain=[1, 2, 3, 4, 5],
            )
            assert ranking.alpha == pytest.approx(expected)
            page = (await staff.get(f"/dashboard/editions/{YEAR}/ranking"))[1]
            assert HELP_DESK in page and LANGUAGE_CAFE in page and "n = 4" in page

            # Staff confirm the first as distinguished; next year's edition re-analyses it.
            confirmed = await staff.post(
                f"/dashboard/editions/{YEAR}/distinguish", {"practice": practice_of[HELP_DESK]}
            )
            assert confirmed[0] == 303
            await open_nominations(services, YEAR + 1)
            async with services.db.unit_of_work() as uow:
                listed = await analysis.reanalysis_list(
                    uow, YEAR + 1, services.settings.tz, services.settings.min_group_size
                )
            assert [(i.practice.id, i.distinguished_in, i.verdict) for i in listed] == [
                (practice_of[HELP_DESK], YEAR, None)
            ]
        finally:
            for session in sessions:
                await anext(session, None)
            await server.close()
