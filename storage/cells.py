"""The plain shapes the storage layer takes and returns for reports: which responses a summary
covers, a publishable cell, its live counts and its published versions.

No SQL here and no imports of ours: audit/ computes from these (audit/disclosure.py decides a
cell's versions, audit/summary.py builds the report model) without reaching the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

Measure = Mapping[str, int]
Figures = Mapping[str, Measure]

NO_ROUND = 0  # the always-on survey (round ids start at 1)
ROUND_PERIOD = ""  # the period of a round's publishable cell: it spans the round's months


@dataclass(frozen=True)
class Scope:
    """Which responses a summary covers: some rounds, a time window (by start), some cities."""

    round_ids: tuple[int, ...] | None = None
    since: datetime | None = None
    until: datetime | None = None
    city_ids: tuple[str, ...] | None = None
    channel: str | None = None  # only responses of one channel (telegram, face_to_face)


@dataclass(frozen=True)
class Cell:
    """Which responses a cell holds: a round's (period "") or a month's outside rounds (round 0)."""

    practice_id: str
    round_id: int
    period: str


@dataclass(frozen=True)
class Version:
    """One published version of a cell."""

    cell: Cell
    version: int
    final: bool
    figures: Figures
    comment_ids: tuple[int, ...]
    published_at: datetime


@dataclass(frozen=True)
class Decision:
    """A new version to store, or None."""

    figures: dict[str, dict[str, int]]
    comment_ids: tuple[int, ...]
    final: bool


@dataclass(frozen=True)
class CellScope:
    """Which cells a report covers: some rounds, or the rounds opened and the months (outside
    rounds) within a window, of some cities (None: no restriction)."""

    round_ids: tuple[int, ...] | None = None
    since: datetime | None = None
    until: datetime | None = None
    city_ids: tuple[str, ...] | None = None


@dataclass
class LiveCell:
    """A cell's live counts: value counts (survey, question, number, option, n), responses
    (status, locale, n) and the answer ids of its comments."""

    values: list[tuple[int, str, int | None, str | None, int]] = field(default_factory=list)
    responses: list[tuple[str, str, int]] = field(default_factory=list)
    comment_ids: list[int] = field(default_factory=list)
    channels: dict[str, int] = field(default_factory=dict)  # completed responses per channel
