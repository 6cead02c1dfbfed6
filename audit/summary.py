"""From the database's per-group counts to the report model (round, year, or one city).

Plain data in, plain data out: the database does the counting (storage/tallies.py,
storage/published.py) and app/summaries.py reads it; here a cell's live counts become the
measures the disclosure rule (audit/disclosure.py) publishes in versions, and the published
versions of a period's cells become statistics, shares and the composite score. Nothing here
reads the database (only the plain shapes of storage/cells.py are imported).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from audit.disclosure import (
    COMPLETED,
    CRITERION,
    LANGUAGES,
    STARTED,
    answer_id_of,
    combine,
)
from audit.disclosure import DONT_KNOW as DISCLOSED_DONT_KNOW
from audit.model import CRITERIA, PracticeSummary
from audit.stats import ScaleStats, composite, scale_stats
from conversations.survey import DONT_KNOW, YES, Survey
from storage.cells import CellScope, LiveCell, Scope

Shown = Mapping[str, Mapping[str, int | None]]


class ScopeError(ValueError):
    """A round, year or city that cannot be summarised."""


@dataclass(frozen=True)
class Period:
    """What to summarise: kind ('round', 'year', 'city'), its label, and the scope."""

    kind: str
    label: str
    scope: Scope
    starts: date | None
    ends: date | None


def year_period(year: int, zone: ZoneInfo, city_ids: Sequence[str] | None = None) -> Period:
    """A calendar year (Europe/Warsaw by default), all rounds and the always-on survey."""
    since = datetime.combine(date(year, 1, 1), time(), tzinfo=zone)
    until = datetime.combine(date(year + 1, 1, 1), time(), tzinfo=zone)
    cities = tuple(city_ids) if city_ids else None
    return Period(
        "year",
        str(year),
        Scope(since=since, until=until, city_ids=cities),
        date(year, 1, 1),
        date(year, 12, 31),
    )


def city_period(city_id: str) -> Period:
    """One city across all its rounds."""
    return Period("city", city_id, Scope(city_ids=(city_id,)), None, None)


@dataclass(frozen=True)
class Question:
    tag: str | None
    type: str
    positive: tuple[str, ...]


COMMENT_KEY = "comment_id_key"


def cell_scope(period: Period) -> CellScope:
    """The publishable cells a period covers."""
    scope = period.scope
    return CellScope(scope.round_ids, scope.since, scope.until, scope.city_ids)


def round_totals(counts: Mapping[str, tuple[int, int] | None]) -> tuple[int, int]:
    """A round's started and completed responses: the sum of its published cells only."""
    shown = [pair for pair in counts.values() if pair is not None]
    return sum(s for s, _c in shown), sum(c for _s, c in shown)


def live_figures(cell: LiveCell, questions: Mapping[str, Question]) -> dict[str, dict[str, int]]:
    """A cell's live counts as the disclosure rule's measures."""
    figures: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for status, locale, n in cell.responses:
        figures[STARTED]["n"] += n
        if status == "completed":
            figures[COMPLETED]["n"] += n
            figures[LANGUAGES][locale] += n
    for channel, n in cell.channels.items():
        figures[CHANNELS][channel] += n
    for _survey, question_id, number, option, n in cell.values:
        question = questions.get(question_id)
        if question is None:
            continue
        if question.type == "scale" and question.tag in CRITERIA:
            if number is not None:
                figures[CRITERION + question.tag][str(number)] += n
            elif option == DONT_KNOW:
                figures[CRITERION + question.tag][DISCLOSED_DONT_KNOW] += n
        elif question.tag in SHARES and option is not None:
            positive = _positive(question, option)
            if positive is not None:
                figures[SHARE + question.tag]["yes" if positive else "no"] += n
    return {name: dict(measure) for name, measure in figures.items()}


CHANNELS = "channels"
SHARES = ("awareness", "usage")
SHARE = "share:"


def _positive(question: Question, option: str) -> bool | None:
    """Whether an answer counts as "yes" for a share (None: the question is not a share)."""
    if question.type == "yes_no":
        return option == YES
    if question.type == "single_choice" and question.positive:
        return option in question.positive
    return None


def only_channel(channels: Mapping[str, int], channel: str) -> bool:
    """Whether a published cell holds answers of one channel only (then a report of that
    channel shows the whole cell, and nothing is left to subtract from the report of all)."""
    return channels.get(channel, 0) > 0 and all(n == 0 for c, n in channels.items() if c != channel)


def interim(period: Period, rounds: Sequence[Any], now: datetime) -> bool:
    """Whether the figures may still change: a round (or a city's round) is not closed, or the
    period's time window has not ended."""
    if period.scope.until is not None and period.scope.until > now:
        return True
    return period.kind in ("round", "city") and any(r.status != "closed" for r in rounds)


def question_index(surveys: Iterable[Survey]) -> dict[str, Question]:
    """Question id → tag and type; question ids keep their meaning across survey versions."""
    index: dict[str, Question] = {}
    for survey in surveys:
        for q in survey.questions:
            index.setdefault(q.id, Question(q.tag, q.type, q.positive))
    return index


def weights_of(surveys: Iterable[Survey]) -> dict[str, float]:
    """The survey's weights (the first that sets them); equal weights otherwise."""
    for survey in surveys:
        if survey.weights:
            return {c: float(survey.weights.get(c, 0.0)) for c in CRITERIA}
    return dict.fromkeys(CRITERIA, 1.0)


def practice_summary(
    practice: Any,
    cells: Sequence[Shown],
    invited: Mapping[str, int],
    weights: Mapping[str, float],
    k: int,
) -> PracticeSummary:
    """One practice's figures: the sum of its published cells' shown figures."""
    base = PracticeSummary(
        city_id=practice.city_id,
        city={},
        practice_id=practice.id,
        practice=practice.name,
        category={},
        invited=invited.get(practice.id),
        started=None,
        completed=None,
        suppressed=not cells,
        distinguished_in=practice.distinguished_in,
        active=practice.active,
    )
    if base.suppressed:
        return base
    total = combine(cells)
    base.started = total.get(STARTED, {}).get("n") or 0
    base.completed = total.get(COMPLETED, {}).get("n") or 0
    base.completion_rate = base.completed / base.started if base.started else None
    base.awareness = _share_of(total.get(SHARE + "awareness"))
    base.usage = _share_of(total.get(SHARE + "usage"))
    base.criteria = criteria_of(total)
    base.composite = composite(base.criteria, weights)
    base.left_out = tuple(
        c for c in CRITERIA if base.criteria.get(c) is None and weights.get(c, 0) > 0
    )
    base.languages = dict(total.get(LANGUAGES, {}))
    return base


def criteria_of(total: Mapping[str, Mapping[str, int | None]]) -> dict[str, ScaleStats | None]:
    """Per criterion: statistics of the published ratings, or None ("< k")."""
    result: dict[str, ScaleStats | None] = {}
    for criterion in CRITERIA:
        measure = total.get(CRITERION + criterion)
        if not measure:
            result[criterion] = None
            continue
        ratings = {int(key): n or 0 for key, n in measure.items() if key != DISCLOSED_DONT_KNOW}
        result[criterion] = scale_stats(ratings, measure.get(DISCLOSED_DONT_KNOW) or 0)
    return result


def _share_of(measure: Mapping[str, int | None] | None) -> float | None:
    """Share of "yes" in a published share measure."""
    if not measure:
        return None
    yes, no = measure.get("yes") or 0, measure.get("no") or 0
    return yes / (yes + no) if yes + no else None


def comment_answer_id(key: str | None, public: int) -> int | None:
    """The answer behind a comment's public id."""
    return answer_id_of(public, bytes.fromhex(key)) if key else None
