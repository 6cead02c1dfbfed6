"""Contacts masked where comments are stored.

`mask_contacts` hides phone numbers, e-mail addresses and Telegram usernames that respondents
sometimes write into free-text answers. It lives in the storage layer because storage is where
a comment is kept: the tallies store each comment masked when its response is completed
(storage/tallies.py) and the raw-row queries mask what they read (storage/reporting.py), so no
layer above can forget it and storage imports nothing of ours above it. Imported face-to-face
answers (app/face_to_face.py) are masked with it before they are stored, too.
"""

from __future__ import annotations

import re

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
