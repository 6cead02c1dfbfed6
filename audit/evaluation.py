"""The combined ranking of an edition (pure): the jury's part and the residents' part per
practice, combined by the edition's weights, ranked per category with ties where intervals
overlap, and the jurors' agreement (Krippendorff's alpha, ordinal)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from audit.stats import Composite, overlaps, t_quantile, to_percent


@dataclass(frozen=True)
class Part:
    """A 0–100 score with its 95 % interval and how many people it rests on."""

    score: float
    ci_low: float
    ci_high: float
    n: int


@dataclass(frozen=True)
class Entry:
    """What is known of one nominated practice before it is ranked."""

    practice_id: str
    category_id: str
    jury: Part | None  # None: nobody scored it (all recused)
    residents: Composite | None
    residents_n: int


@dataclass(frozen=True)
class Ranked:
    """A practice's place in its category."""

    entry: Entry
    combined: Part
    rank: int
    tied: bool  # its interval overlaps a neighbour's: the order between them is not clear
    jury_only: bool  # the residents' part rests on fewer than k people and is left out


def jury_part(scores: Mapping[str, Mapping[str, int]]) -> Part | None:
    """The jury's part: each juror's criteria (1–5) on 0–100 and averaged, then the mean over
    the jurors who scored (recused ones are simply absent), with a t interval over jurors."""
    per_juror = [
        sum(to_percent(v) for v in criteria.values()) / len(criteria)
        for criteria in scores.values()
        if criteria
    ]
    n = len(per_juror)
    if n == 0:
        return None
    mean = sum(per_juror) / n
    if n == 1:
        return Part(mean, 0.0, 100.0, 1)
    sd = math.sqrt(sum((x - mean) ** 2 for x in per_juror) / (n - 1))
    half = t_quantile(n - 1) * sd / math.sqrt(n)
    return Part(mean, max(0.0, mean - half), min(100.0, mean + half), n)


def combine(entry: Entry, jury_weight: int, residents_weight: int, k: int) -> tuple[Part, bool]:
    """The combined score and whether it is the jury's alone (the residents' part rests on
    fewer than k people, or there is none). The interval treats the two parts as independent."""
    jury = entry.jury or Part(0.0, 0.0, 100.0, 0)
    residents = entry.residents
    if residents is None or entry.residents_n < k or residents_weight == 0:
        return jury, True
    wj, wr = jury_weight / 100, residents_weight / 100
    score = wj * jury.score + wr * residents.score
    jury_half = (jury.ci_high - jury.ci_low) / 2
    residents_half = (residents.ci_high - residents.ci_low) / 2
    half = math.sqrt((wj * jury_half) ** 2 + (wr * residents_half) ** 2)
    combined = Part(score, max(0.0, score - half), min(100.0, score + half), jury.n)
    return combined, False


def rank(
    entries: Sequence[Entry], jury_weight: int, residents_weight: int, k: int
) -> dict[str, list[Ranked]]:
    """Per category, best first. A practice whose interval overlaps the one above it shares
    its rank (shown as tied)."""
    by_category: dict[str, list[tuple[Entry, Part, bool]]] = {}
    for entry in entries:
        combined, jury_only = combine(entry, jury_weight, residents_weight, k)
        by_category.setdefault(entry.category_id, []).append((entry, combined, jury_only))
    result = {}
    for category, rows in sorted(by_category.items()):
        rows.sort(key=lambda row: (-row[1].score, row[0].practice_id))
        result[category] = _places(rows)
    return result


def _places(rows: Sequence[tuple[Entry, Part, bool]]) -> list[Ranked]:
    """Ranks 1, 2, … with ties where neighbouring intervals overlap."""
    ranks: list[int] = []
    tied = [False] * len(rows)
    for position, (_entry, part, _only) in enumerate(rows):
        if position and overlaps(
            part.ci_low, part.ci_high, rows[position - 1][1].ci_low, rows[position - 1][1].ci_high
        ):
            ranks.append(ranks[-1])
            tied[position] = tied[position - 1] = True
        else:
            ranks.append(position + 1)
    return [
        Ranked(entry, part, ranks[i], tied[i], only) for i, (entry, part, only) in enumerate(rows)
    ]


def agreement(scores: Mapping[str, Mapping[tuple[str, str], int]]) -> float | None:
    """Krippendorff's alpha (ordinal) of the jurors' scores: one row per juror, one column per
    (practice, criterion); a recusal is a missing value. None when there is too little to
    compare (fewer than two jurors, or no variation at all)."""
    import krippendorff  # numpy-based; loaded only when a ranking is computed
    import numpy

    units = sorted({unit for rows in scores.values() for unit in rows})
    if len(scores) < 2 or not units:
        return None
    data = numpy.array(
        [[rows.get(unit, numpy.nan) for unit in units] for rows in scores.values()], dtype=float
    )
    values = set(data[~numpy.isnan(data)].tolist())
    if len(values) < 2:
        return None
    return float(
        krippendorff.alpha(
            reliability_data=data, level_of_measurement="ordinal", value_domain=[1, 2, 3, 4, 5]
        )
    )


# ----------------------------------------------------------------------------- the edition report


@dataclass(frozen=True)
class Justification:
    """One juror's score of one practice on one criterion, with its reason. The juror is named
    by letter only (Juror A–E, stable within an edition): never by id or name."""

    practice_id: str
    juror: str
    criterion: str
    score: int
    text: str


@dataclass(frozen=True)
class Reanalysis:
    """The re-analysis verdict of a practice distinguished in an earlier edition: whether it is
    still carried out ("continued"), "changed" or "discontinued", with the evidence and the
    residents' figures of the year (None below k)."""

    practice_id: str
    distinguished_in: int
    verdict: str
    evidence: str
    residents: Composite | None
    residents_n: int


@dataclass(frozen=True)
class EditionReport:
    """Everything the edition report shows (rendered by audit/edition_export.py)."""

    year: int
    generated_at: datetime
    k: int
    jury_weight: int
    residents_weight: int
    alpha: float | None
    jurors: tuple[str, ...]  # the jurors' letters
    by_category: Mapping[str, Sequence[Ranked]]
    names: Mapping[str, Mapping[str, str]]  # practice id → its name per language
    cities: Mapping[str, Mapping[str, str]]  # practice id → its city's name per language
    categories: Mapping[str, Mapping[str, str]]  # category id → its name per language
    justifications: Sequence[Justification]
    recusals: Sequence[tuple[str, str]]  # (practice id, juror letter)
    # REANALYSIS HOOK: the re-analysis verdicts of earlier distinguished practices (issue 16,
    # branch issue-16a records them). Empty until then; every format renders an empty list.
    reanalysis: Sequence[Reanalysis] = ()
    # the cities' approved responses to the year's published results (the right of reply):
    # practice id → language → text
    replies: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
