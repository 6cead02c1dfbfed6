"""The gettext catalogs stay complete and consistent with locales/messages.pot."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
POT_PATH = LOCALES_DIR / "messages.pot"
NUM_PLURALS = {"uk": 3, "ru": 3, "pl": 3, "en": 2}
LANGS = sorted(NUM_PLURALS)

# A cheap guard against mixing Ukrainian and Russian.
FORBIDDEN_LETTERS = {"uk": set("ыэёъЫЭЁЪ"), "ru": set("іїєґІЇЄҐ")}

SHORT_MSGID = 20  # button-like entries
SHORT_TRANSLATION = 24

PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")


@cache
def _read(path: Path) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle)


def _pot() -> Catalog:
    return _read(POT_PATH)


def _po(lang: str) -> Catalog:
    return _read(LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po")


def _entries(catalog: Catalog) -> list[Message]:
    """The catalog's real entries (the header entry has an empty msgid)."""
    return [message for message in catalog if message.id]


def _key(message: Message) -> str:
    return message.id[0] if isinstance(message.id, tuple) else message.id


def _forms(message: Message) -> tuple[str, ...]:
    if isinstance(message.string, tuple):
        return message.string
    return (message.string,)


def _placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def _pairs(message: Message) -> list[tuple[str, str]]:
    """(source, translation) pairs: every plural form is compared with the plural msgid."""
    if isinstance(message.id, tuple):
        return [(message.id[1], form) for form in _forms(message)]
    return [(message.id, message.string or "")]


def test_pot_is_not_empty() -> None:
    assert _entries(_pot()), f"{POT_PATH} has no messages"


@pytest.mark.parametrize("lang", LANGS)
def test_po_has_exactly_the_pot_msgids(lang: str) -> None:
    expected = {message.id for message in _entries(_pot())}
    present = {message.id for message in _entries(_po(lang))}
    assert not expected - present, f"{lang}: missing {sorted(map(str, expected - present))}"
    assert not present - expected, f"{lang}: not in the .pot {sorted(map(str, present - expected))}"


@pytest.mark.parametrize("lang", LANGS)
def test_no_fuzzy_entries(lang: str) -> None:
    fuzzy = [_key(message) for message in _entries(_po(lang)) if message.fuzzy]
    assert not fuzzy, f"{lang}: fuzzy entries {fuzzy}"


@pytest.mark.parametrize("lang", LANGS)
def test_no_empty_translations(lang: str) -> None:
    empty = [
        _key(message)
        for message in _entries(_po(lang))
        if not all(form and form.strip() for form in _forms(message))
    ]
    assert not empty, f"{lang}: untranslated entries {empty}"


@pytest.mark.parametrize("lang", LANGS)
def test_placeholders_match_the_msgid(lang: str) -> None:
    problems = []
    for message in _entries(_po(lang)):
        for index, (source, translation) in enumerate(_pairs(message)):
            if _placeholders(source) != _placeholders(translation):
                problems.append(
                    f"{_key(message)!r} form {index}: expected {sorted(_placeholders(source))}, "
                    f"got {sorted(_placeholders(translation))}"
                )
    assert not problems, f"{lang}:\n" + "\n".join(problems)


@pytest.mark.parametrize("lang", LANGS)
def test_translations_format_with_their_placeholders(lang: str) -> None:
    for message in _entries(_po(lang)):
        for source, translation in _pairs(message):
            values = {name: f"<{name}>" for name in _placeholders(source)}
            rendered = translation.format(**values)
            for value in values.values():
                assert value in rendered, f"{lang}: {_key(message)!r} drops {value}"


@pytest.mark.parametrize("lang", LANGS)
def test_plural_forms_match_num_plurals(lang: str) -> None:
    catalog = _po(lang)
    assert catalog.num_plurals == NUM_PLURALS[lang]
    plurals = [message for message in _entries(catalog) if isinstance(message.id, tuple)]
    assert plurals, f"{lang}: expected some plural entries"
    wrong = [
        f"{_key(message)!r}: {len(_forms(message))} forms"
        for message in plurals
        if len(_forms(message)) != catalog.num_plurals
    ]
    assert not wrong, f"{lang} needs {catalog.num_plurals} forms:\n" + "\n".join(wrong)


@pytest.mark.parametrize("lang", sorted(FORBIDDEN_LETTERS))
def test_ukrainian_and_russian_are_not_mixed(lang: str) -> None:
    forbidden = FORBIDDEN_LETTERS[lang]
    mixed = [
        f"{_key(message)!r}: {sorted(set(form) & forbidden)}"
        for message in _entries(_po(lang))
        for form in _forms(message)
        if set(form) & forbidden
    ]
    assert not mixed, f"{lang} uses letters of the other language:\n" + "\n".join(mixed)


@pytest.mark.parametrize("lang", LANGS)
def test_button_like_entries_stay_short(lang: str) -> None:
    too_long = [
        f"{_key(message)!r} -> {form!r} ({len(form)})"
        for message in _entries(_po(lang))
        if len(_key(message)) <= SHORT_MSGID
        for form in _forms(message)
        if len(form) > SHORT_TRANSLATION
    ]
    assert not too_long, f"{lang}: translations over {SHORT_TRANSLATION} characters:\n" + "\n".join(
        too_long
    )
