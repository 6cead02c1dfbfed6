"""What leaves the bot in a report must not identify anyone or attack the reader's spreadsheet.

`mask_contacts` hides phone numbers, e-mail addresses and Telegram usernames that respondents
sometimes write into free-text answers; `safe_cell` keeps a text from being read as a formula
when a CSV or XLSX file is opened in Excel or LibreOffice (CSV/formula injection).
"""

from __future__ import annotations

import re
import unicodedata

MIN_PHONE_DIGITS = 7

_EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}")
_TELEGRAM_LINK = re.compile(
    r"(?:https?://)?(?:www\.)?(?:t|telegram)\.me/[+\w][\w/-]*", flags=re.IGNORECASE
)
_HANDLE = re.compile(r"(?<![\w@.])@[A-Za-z]\w{2,}")
# Digits with the separators people put in phone numbers: spaces, hyphens, brackets, a leading +.
_PHONE = re.compile(r"(?<![\w+])(?:\+\s?)?\(?\d[\d \u00a0()-]*\d(?!\w)")
_DATE = re.compile(r"\d{1,2}([-/])\d{1,2}\1\d{2,4}|\d{4}-\d{1,2}-\d{1,2}")
_YEAR = re.compile(r"(?:19|20)\d\d")
_MONEY_AFTER = re.compile(r"\s?(?:zł|zl|pln|uah|грн|руб|eur|euro|usd|€|\$|%)", flags=re.IGNORECASE)

_FORMULA_START = ("=", "+", "-", "@", "＝", "＋", "－", "＠", "﹦", "﹢", "﹣", "−")


_MAYBE_CONTACT = re.compile(r"[@＠]|\d|t\.me|telegram", re.IGNORECASE)


def mask_contacts(text: str) -> str:
    """The text with phone numbers, e-mail addresses and Telegram usernames replaced.

    Comments are stored masked when their response is completed (storage/tallies.py): after a
    change here, `auditbot db recount` masks the stored ones again."""
    if not _MAYBE_CONTACT.search(text):  # most comments: nothing to look at closely
        return text
    text = _EMAIL.sub("[e-mail]", text)
    text = _HANDLE.sub("[@handle]", text)
    text = _TELEGRAM_LINK.sub("[@handle]", text)
    return _PHONE.sub(lambda match: _mask_phone(match, text), text)


def _mask_phone(match: re.Match[str], text: str) -> str:
    """Replace a run of digits with "[phone]" when it looks like a phone number."""
    run = match.group()
    if _MONEY_AFTER.match(text, match.end()) or not _is_phone(run.strip()):
        return run
    # An opening bracket whose closing one is outside the run, as in "(600 100 200)", stays.
    return "([phone]" if run.startswith("(") and ")" not in run else "[phone]"


def _is_phone(run: str) -> bool:
    """At least seven digits that are not a date or a list of years."""
    groups = re.findall(r"\d+", run)
    if sum(len(group) for group in groups) < MIN_PHONE_DIGITS:
        return False
    if _DATE.fullmatch(run):
        return False
    return not (len(groups) > 1 and all(_YEAR.fullmatch(group) for group in groups))


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
