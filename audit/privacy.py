"""What leaves the bot in a report must not attack the reader's spreadsheet.

`safe_cell` keeps a text from being read as a formula when a CSV or XLSX file is opened in
Excel or LibreOffice (CSV/formula injection). Contacts in comments are masked where comments are
stored (storage/masking.py), so nothing unmasked reaches a report.
"""

from __future__ import annotations

import unicodedata

_FORMULA_START = ("=", "+", "-", "@", "＝", "＋", "－", "＠", "﹦", "﹢", "﹣", "−")


def safe_cell(value: str) -> str:
    """The text with a leading apostrophe when a spreadsheet would read it as a formula.

    Spreadsheets skip blanks, control and invisible format characters before a formula sign
    ("\x0b=1", "\u200b=1"), so the test looks past all of them. Call it on the text exactly as
    it will be written: anything removed afterwards could uncover a formula sign."""
    first = next((char for char in value if not _ignorable(char)), "")
    if first in _FORMULA_START or value[:1] in ("\t", "\r"):
        return "'" + value
    return value


def _ignorable(char: str) -> bool:
    """A character a spreadsheet may skip at the start of a cell: blanks, line breaks, control
    and format characters (zero-width spaces, byte order marks, bidirectional marks)."""
    return char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Zs", "Zl", "Zp")
