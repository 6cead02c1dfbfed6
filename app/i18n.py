"""Rendering the engine's texts in a respondent's language with Babel's gettext catalogs."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_decimal
from babel.support import Translations

from app.config import LOCALES
from conversations.messages import DeepLink, Joined, Local, Msg, Plain, Text
from locales import DOMAIN, LOCALES_DIR

TEXTS = (Msg, Local, Plain, Joined, DeepLink)


class MissingCatalog(Exception):
    """A compiled catalog is missing (Babel would silently fall back to English)."""


class Translator:
    """All four catalogs, loaded once; renders texts per locale."""

    def __init__(self, default_locale: str = "en", timezone: tzinfo = UTC) -> None:
        self.default_locale = default_locale
        self.timezone = timezone
        self.link_base = "https://t.me/?start="  # the Telegram adapter sets the bot's own address
        self.catalogs: dict[str, Translations] = {}
        for locale in LOCALES:
            path = LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"
            if not path.exists():
                raise MissingCatalog(f"{path} is missing; run `make compile` to build the catalogs")
            with path.open("rb") as handle:
                self.catalogs[locale] = Translations(handle, domain=DOMAIN)
        # Messages without parameters (buttons, hints) rendered once per language: a survey
        # card shows a dozen of them and the catalogs never change while the process runs.
        self._fixed: dict[tuple[str, str, str | None, int | None], str] = {}

    def choose_locale(self, stored: str | None, language_code: str | None = None) -> str:
        """Stored preference, then the client's language if we speak it, then the default."""
        if stored in self.catalogs:
            return stored
        if language_code:
            try:
                language = Locale.parse(language_code.replace("_", "-"), sep="-").language
            except (UnknownLocaleError, ValueError):
                language = None
            if language in self.catalogs:
                return language
        return self.default_locale

    def gettext(self, locale: str, message: str) -> str:
        """Translate one interface message."""
        return self.catalogs[locale].gettext(message)

    def render(self, text: Text, locale: str) -> str:
        """One text in one language, with its parameters filled in."""
        match text:
            case Plain():
                return text.text
            case DeepLink():
                return self.link_base + text.payload
            case Joined():
                return ", ".join(self.render(item, locale) for item in text.items)
            case Local():
                template = (
                    text.texts.get(locale)
                    or text.texts.get("en")
                    or next(iter(text.texts.values()), "")
                )
                return _fill(template, self._params(text.params, locale))
            case Msg():
                if text.params:
                    return _fill(self._template(text, locale), self._params(text.params, locale))
                key = (locale, text.msgid, text.plural, text.count)
                fixed = self._fixed.get(key)
                if fixed is None:
                    fixed = self._fixed[key] = _fill(self._template(text, locale), {})
                return fixed
        raise TypeError(f"cannot render {type(text).__name__}")

    def _template(self, message: Msg, locale: str) -> str:
        catalog = self.catalogs[locale]
        if message.plural is not None and message.count is not None:
            return str(catalog.ngettext(message.msgid, message.plural, message.count))
        return str(catalog.gettext(message.msgid))

    def _params(self, params: Mapping[str, Any], locale: str) -> dict[str, str]:
        rendered = {}
        for name, value in params.items():
            if isinstance(value, TEXTS):
                rendered[name] = self.render(value, locale)
            elif isinstance(value, datetime):
                local = value.astimezone(self.timezone)
                rendered[name] = format_date(local, format="long", locale=locale)
            elif isinstance(value, date):
                rendered[name] = format_date(value, format="long", locale=locale)
            elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1000:
                rendered[name] = str(value)  # the same in uk, ru, en, pl; Babel costs 100x more
            elif isinstance(value, int | float) and not isinstance(value, bool):
                rendered[name] = format_decimal(value, locale=locale)
            else:
                rendered[name] = str(value)
        return rendered


def _fill(template: str, params: Mapping[str, str]) -> str:
    """str.format that leaves unknown placeholders visible instead of raising."""
    try:
        return template.format_map(_Lenient(params))
    except (ValueError, IndexError):
        return template


class _Lenient(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
