"""Texts leave the engine untranslated: gettext messages or survey/catalog texts per language."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Msg:
    """An interface message, translated by the adapter through the gettext catalogs."""

    msgid: str
    params: Mapping[str, Any] = field(default_factory=dict)
    plural: str | None = None
    count: int | None = None


@dataclass(frozen=True)
class Local:
    """Content already written per language (survey questions, practice names)."""

    texts: Mapping[str, str]
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Plain:
    """Text shown as is in every language (e.g. a language's own name)."""

    text: str


@dataclass(frozen=True)
class DeepLink:
    """A link that opens the bot with a start payload; the adapter knows the bot's address."""

    payload: str


@dataclass(frozen=True)
class Joined:
    """Several texts shown as one comma-separated list."""

    items: tuple[Msg | Local | Plain, ...]


Text = Msg | Local | Plain | Joined | DeepLink


def _(msgid: str, **params: Any) -> Msg:
    """Mark an interface message for extraction; the adapter translates it."""
    return Msg(msgid, params)


def _n(singular: str, plural: str, count: int, **params: Any) -> Msg:
    """Mark a message with plural forms; `count` picks the form and is passed as {count}."""
    return Msg(singular, {"count": count, **params}, plural, count)
