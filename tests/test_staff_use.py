"""What real use found for staff and coordinators: overlapping rounds, posters of a round,
report dates, empty annual reports and the reach of a role limited to some cities."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import date

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from app import staff
from app.config import Settings
from app.rounds import RoundError, create_round
from app.services import Services
from app.summaries import published_report, round_period
from audit.export import to_json, to_pdf
from bot.telegram.app import register_handlers
from conversations import events as ev
from conversations.engine import handle
from conversations.messages import _
from storage.models import AuditLog, Round, utcnow
from tests.conftest import SECRET
from tests.telegram_harness import RunningBot, running_bot
from tests.test_respondents import DEFAULT_WORLD
from tests.test_telegram import said

ADMIN = 9001
KRAKOW_STAFF = 4242


@pytest.fixture
async def bot(database_url: str):  # type: ignore[no-untyped-def]
    async with running_bot(database_url, admin_ids=str(ADMIN)) as running:
        async with running.services.db.unit_of_work() as uow:
            await uow.staff.put(KRAKOW_STAFF, "staff", ["krakow"])
        yield running


async def survey_id(services: Services) -> int:
    async with services.db.unit_of_work() as uow:
        survey = await uow.surveys.latest("open-cities")
        assert survey is not None
        return survey.id


async def plan(services: Services, city: str, opens: date, closes: date) -> Round:
    zone = services.settings.tz
    opens_at, closes_at = staff.round_window(opens, closes, zone, utcnow())
    async with services.db.unit_of_work() as uow:
        return await create_round(
            uow, "test", city, [], await survey_id(services), opens_at, closes_at, zone=zone
        )


# --- overlapping rounds ------------------------------------------------------------------------


async def test_an_overlapping_round_of_the_same_city_is_refused(services: Services) -> None:
    first = await plan(services, "krakow", date(2099, 3, 1), date(2099, 3, 31))
    with pytest.raises(RoundError) as refused:
        await plan(services, "krakow", date(2099, 3, 31), date(2099, 4, 30))
    assert str(refused.value) == (
        f"Kraków already has round {first.id} (2099-03-01 – 2099-03-31). Rounds of one city "
        "must not overlap: let the new round open after 2099-03-31, or close round "
        f"{first.id} first."
    )
    await plan(services, "krakow", date(2099, 4, 1), date(2099, 4, 30))  # the day after: fine
    await plan(services, "gdansk", date(2099, 3, 1), date(2099, 3, 31))  # another city: fine
    async with services.db.unit_of_work() as uow:
        assert len((await uow.session.scalars(select(Round))).all()) == 3


def test_the_command_line_refuses_an_overlapping_round_in_two_lines(settings: Settings) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "PSEUDONYM_SECRET": SECRET,
        "BOT_TOKEN": "",
    }
    command = [sys.executable, "-m", "bot", "round", "open", "--city", "krakow"]
    opened = subprocess.run(
        [*command, "--closes", "2099-06-30"], capture_output=True, text=True, env=env, timeout=120
    )
    assert opened.returncode == 0, opened.stderr
    refused = subprocess.run(
        [*command, "--opens", "2099-06-15", "--closes", "2099-07-15"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert refused.returncode == 2
    assert "Kraków already has round 1" in refused.stderr and "– 2099-06-30)" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) <= 2


async def test_the_round_dialogue_refuses_an_overlapping_round_in_the_staff_language(
    bot: RunningBot,
) -> None:
    await plan(bot.services, "krakow", date.today(), date(2099, 12, 31))
    worker = bot.person("uk", user_id=KRAKOW_STAFF)
    await worker.send("/round")
    await worker.tap("Краків")
    await worker.tap(said(bot, _("All"), "uk"))
    await worker.tap(said(bot, _("Done"), "uk"))
    await worker.tap(worker.buttons()[0])
    await worker.tap(said(bot, _("Today"), "uk"))
    await worker.send("2099-06-30")
    await worker.tap(said(bot, _("Create the round"), "uk"))
    assert "Краків" in worker.last_text and "раунд" in worker.last_text.lower()
    assert "already" not in worker.last_text
    async with bot.services.db.unit_of_work() as uow:
        assert len((await uow.session.scalars(select(Round))).all()) == 1


# --- posters of a round ------------------------------------------------------------------------


def svg_heading(content: bytes) -> str:
    root = ET.fromstring(content)
    texts = root.iter("{http://www.w3.org/2000/svg}text")
    return " ".join(str(t.text) for t in texts if t.get("font-weight") == "bold")


async def test_a_round_poster_carries_the_rounds_heading_and_link(services: Services) -> None:
    from app.poster import poster_for

    practice = "krakow-punkt-informacyjny-cudzoziemcow"
    round_ = await plan(services, "krakow", date.today(), date(2099, 12, 31))
    async with services.db.unit_of_work() as uow:
        name, content = (
            await poster_for(
                uow, services.translator, "open_cities_bot", "krakow", practice, round_.id, "svg"
            )
        ).render()
        whole_name, whole = (
            await poster_for(
                uow, services.translator, "open_cities_bot", "krakow", None, round_.id, "svg"
            )
        ).render()
    assert name == f"poster-r_{round_.id}_{practice}.svg"  # the practice, in this round
    assert svg_heading(content).endswith("Ankieta do 31 grudnia 2099")
    assert "Punkt Informacyjny" in svg_heading(content)
    assert whole_name == f"poster-r_{round_.id}.svg"
    assert svg_heading(whole) == "Kraków · Ankieta do 31 grudnia 2099"
    assert f"start=r_{round_.id}_{practice}".encode() in content


def test_a_practice_link_in_a_round_opens_that_practice_in_that_round() -> None:
    from conversations.engine import RoundInfo, State

    world = DEFAULT_WORLD
    round_ = RoundInfo(7, "krakow", frozenset({"programme"}), 1)
    open_world = replace(world, rounds=(round_,))
    state = handle(State(revision=1), ev.Start("r_7_programme", "en"), open_world).state
    assert (state.practice_id, state.round_id) == ("programme", 7)
    closed = handle(State(revision=1), ev.Start("r_7_programme", "en"), world).state
    assert (closed.practice_id, closed.round_id) == ("programme", None)  # the poster still works


# --- report dates and the annual report ---------------------------------------------------------


async def test_a_round_closing_on_31_december_ends_on_31_december(services: Services) -> None:
    round_ = await plan(services, "krakow", date(2098, 12, 1), date(2098, 12, 31))
    async with services.db.unit_of_work() as uow:
        period = await round_period(uow, round_.id, services.settings.tz)
    report = await published_report(services.db, period, 5, services.settings.tz)
    assert period.ends == date(2098, 12, 31)
    document = json.loads(to_json(report, services.translator, "pl"))
    assert document["period"]["ends"] == "2098-12-31"
    text = " ".join(
        p.extract_text()
        for p in PdfReader(io.BytesIO(to_pdf(report, services.translator, "pl"))).pages
    )
    assert "31 grudnia 2098" in text and "1 stycznia 2099" not in text


# --- a role limited to some cities -------------------------------------------------------------

STAFF_COMMANDS = {"grant", "revoke", "round", "status", "poster", "report", "dashboard"}
STAFF_COMMANDS |= {"hide_comment", "unhide_comment", "report_settings"}


def test_every_staff_command_is_in_the_city_scope_tests() -> None:
    """A new staff command must be added to the scope tests below (and to this list)."""
    from telegram.ext import Application, CommandHandler

    application = Application.builder().token("1:x").updater(None).build()
    register_handlers(application)  # type: ignore[arg-type]
    respondent = {"start", "mydata", "stop", "language", "help", "resume", "delete", "cancel"}
    respondent |= {"back", "skip", "pause", "propose"}  # anyone may propose a practice
    # The annual evaluation is one national edition, not a city's: its jury and its nomination
    # queue have no city scope (tests/test_jury.py and tests/test_nominations.py check roles).
    edition_wide = {"jury", "nominations"}
    registered = {
        command
        for handlers in application.handlers.values()
        for handler in handlers
        if isinstance(handler, CommandHandler)
        for command in handler.commands
    }
    assert registered - respondent - edition_wide == STAFF_COMMANDS


async def test_staff_of_one_city_cannot_make_posters_for_another(bot: RunningBot) -> None:
    worker = bot.person("en", user_id=KRAKOW_STAFF)
    await worker.send("/poster gdansk")
    assert worker.last_text == said(bot, _("Sorry, this city is not one of yours."), "en")
    assert bot.server.calls_to("sendDocument") == []
    await worker.send("/poster krakow")
    assert len(bot.server.calls_to("sendDocument")) == 1
    async with bot.services.db.unit_of_work() as uow:
        denied = (await uow.session.scalars(select(AuditLog.target))).all()
    assert "poster:gdansk" in denied


async def test_staff_of_one_city_see_and_plan_only_their_city(bot: RunningBot) -> None:
    await plan(bot.services, "gdansk", date.today(), date(2099, 1, 31))
    worker = bot.person("en", user_id=KRAKOW_STAFF)
    await worker.send("/status")
    assert "Gdańsk" not in worker.last_text
    await worker.send("/round")
    assert worker.buttons() == ["Kraków"]
    await worker.press(f"s{_dialog_revision(worker)}|gdansk")  # a forged press
    assert "Gdańsk" not in worker.last_text
    await worker.send("/report")
    assert "Gdańsk" not in str(worker.user.last)
    await worker.send("/grant 77 staff gdansk")  # admins only
    assert "only for the Open Cities team" in worker.last_text


def _dialog_revision(person: object) -> str:
    message = next(m for m in reversed(person.received) if m.get("reply_markup"))  # type: ignore[attr-defined]
    return str(message["reply_markup"]["inline_keyboard"][0][0]["callback_data"][1:].split("|")[0])


# --- scheduled reports in each coordinator's language and format --------------------------------


async def test_scheduled_reports_come_in_each_coordinators_language_and_format(
    bot: RunningBot,
) -> None:
    from openpyxl import load_workbook

    from tests.test_reports import fill_round, final_reports_sent

    async with bot.services.db.unit_of_work() as uow:
        await uow.staff.put(5151, "coordinator", ["krakow"])
        await uow.staff.put(5152, "coordinator", [])  # every city, REPORT_LOCALE and PDF
    chooser = bot.person("uk", user_id=5151)
    await chooser.send("/report")
    await chooser.tap(said(bot, _("Scheduled reports…"), "uk"))
    await chooser.tap("English")
    await chooser.tap("XLSX")
    assert "English, XLSX" in chooser.last_text
    assert said(bot, _("✓ {label}", label="XLSX"), "uk") in chooser.buttons()

    sent = await final_reports_sent(bot, await fill_round(bot.services))
    assert sent[5151].filename.endswith(".xlsx")
    book = load_workbook(io.BytesIO(sent[5151].content))
    assert book.sheetnames[0] == "Summary"
    assert sent[5152].filename.endswith(".pdf") and sent[5152].content.startswith(b"%PDF")
    text = PdfReader(io.BytesIO(sent[5152].content)).pages[0].extract_text()
    assert "Miasta Otwarte" in text or "Runda" in text  # REPORT_LOCALE=pl


async def test_a_coordinator_can_set_report_preferences_only_for_themselves(
    bot: RunningBot,
) -> None:
    worker = bot.person("en", user_id=KRAKOW_STAFF)  # staff, not a coordinator
    await worker.send("/report_settings")
    assert worker.last_text == said(bot, _("Scheduled reports go to coordinators only."), "en")
    resident = bot.person("en")
    await resident.send("/report_settings")
    assert "only for the Open Cities team" in resident.last_text
