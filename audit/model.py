"""The audit report as plain data: what every export (CSV, XLSX, PDF, JSON) shows.

Suppression happens here, once: a group with fewer than `k` completed responses carries no
figures at all (its fields are None and `suppressed` is True), so no export can leak them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import NamedTuple

from audit.stats import Composite, ScaleStats

CRITERIA = ("engagement", "sustainability", "comprehensiveness", "overall")


@dataclass(frozen=True)
class Trend:
    """Change against the previous round of the same city and practice."""

    previous_round_id: int
    previous_opened: date
    previous_score: float
    delta: float
    overlap: bool  # the two 95 % intervals overlap: the change may be chance

    @property
    def arrow(self) -> str:
        """↑, ↓ or → (a change of less than one point counts as none)."""
        if self.delta >= 1.0:
            return "↑"
        if self.delta <= -1.0:
            return "↓"
        return "→"


@dataclass
class PracticeSummary:
    """One city × practice in the period."""

    city_id: str
    city: Mapping[str, str]
    practice_id: str
    practice: Mapping[str, str]
    category: Mapping[str, str]
    invited: int | None
    started: int | None  # None: suppressed
    completed: int | None  # None: suppressed
    suppressed: bool
    completion_rate: float | None = None
    awareness: float | None = None  # share who knew the practice
    usage: float | None = None  # share who used it
    criteria: dict[str, ScaleStats | None] = field(default_factory=dict)
    composite: Composite | None = None
    languages: dict[str, int | None] = field(default_factory=dict)  # None: fewer than k
    trend: Trend | None = None
    left_out: tuple[str, ...] = ()  # criteria with fewer than k ratings: not in the composite
    distinguished_in: int | None = None
    active: bool = True


class Comment(NamedTuple):
    """A free-text answer, contacts masked; `id` is its public id (not the answer's id, see
    audit/disclosure.py), what a coordinator hides it by (a tuple: a year has tens of
    thousands)."""

    id: int
    city_id: str
    practice_id: str
    text: str
    hidden: bool
    answered_on: date  # in UTC


@dataclass
class Report:
    """A summary of a round, a year, or one city across rounds."""

    kind: str  # "round" | "year" | "city"
    label: str  # "12", "2026", "krakow"
    starts: date | None
    ends: date | None
    generated_at: datetime
    k: int
    weights: Mapping[str, float]
    practices: list[PracticeSummary]
    comments: list[Comment]
    channel: str | None = None  # only the answers of one channel (None: all)
    interim: bool = False  # the period is not over (an open round, this year): figures change
    published_on: date | None = None  # the newest published version the figures come from

    def ranked(self) -> list[PracticeSummary]:
        """Practices with a composite score, best first."""
        scored = [p for p in self.practices if p.composite is not None]
        return sorted(scored, key=lambda p: p.composite.score if p.composite else 0.0, reverse=True)

    def not_enough(self) -> list[PracticeSummary]:
        """Practices with too few responses to be reported."""
        return [p for p in self.practices if p.composite is None]

    def distinguished(self) -> list[PracticeSummary]:
        """Practices distinguished in an earlier year: the yearly re-evaluation."""
        return [p for p in self.practices if p.distinguished_in is not None]

    def cities(self) -> list[tuple[str, Mapping[str, str]]]:
        """The cities in the report, in order of appearance."""
        seen: dict[str, Mapping[str, str]] = {}
        for practice in self.practices:
            seen.setdefault(practice.city_id, practice.city)
        return list(seen.items())


HELD_UP_SCORE = 50.0


def held_up(practice: PracticeSummary) -> bool | None:
    """A distinguished practice held up when it is still carried out and residents rate it at
    least at the middle of the scale (composite ≥ 50); None when there are too few answers."""
    if not practice.active:
        return False
    if practice.composite is None:
        return None
    return practice.composite.score >= HELD_UP_SCORE
