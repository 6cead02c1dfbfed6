"""From the database's per-group counts to the report model (round, year, or one city).

The database does the counting (storage/reporting.py, from running tallies); here the per-value counts of each group
become statistics, shares, the composite score and the trend, and groups too small to publish
are suppressed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from audit.model import CRITERIA, Comment, PracticeSummary, Report, Trend
from audit.stats import Composite, ScaleStats, composite, overlaps, scale_stats
from conversations.notices import last_moment
from conversations.survey import DONT_KNOW, YES, Survey, survey_from_dict
from storage.models import utcnow
from storage.reporting import Scope, ValueCount
from storage.uow import UnitOfWork


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


async def round_period(uow: UnitOfWork, round_id: int, zone: ZoneInfo) -> Period:
    """One round."""
    round_ = await uow.rounds.get(round_id)
    if round_ is None:
        raise ScopeError(f"no round {round_id}")
    return Period(
        "round",
        str(round_id),
        Scope(round_ids=(round_id,)),
        round_.opens_at.astimezone(zone).date(),
        last_moment(round_.closes_at).astimezone(zone).date(),  # its last day, not the next
    )


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
class _Question:
    tag: str | None
    type: str
    positive: tuple[str, ...]


async def summarize(uow: UnitOfWork, period: Period, k: int, now: datetime | None = None) -> Report:
    """The report of a period; groups with fewer than `k` completed responses are suppressed."""
    scope = period.scope
    counts = await uow.audit.value_counts(scope)
    responses = await uow.audit.response_counts(scope)
    locales = await uow.audit.locale_counts(scope)
    rounds = await uow.audit.rounds_of(scope)
    surveys = await _surveys(uow, {c.survey_id for c in counts} | {r.survey_id for r in rounds})
    questions = _question_index(surveys.values())
    practices = await _practices_in(uow, period, rounds, responses)
    invited = await _invited(uow, rounds)
    weights = _weights(surveys.values())
    counts_of = _by_practice(counts, lambda c: c.practice_id)
    responses_of = _by_practice(responses, lambda r: r[1])
    locales_of = _by_practice(locales, lambda r: r[0])
    summaries = [
        _practice_summary(
            p,
            counts_of.get(p.id, []),
            responses_of.get(p.id, []),
            locales_of.get(p.id, []),
            questions,
            invited,
            weights,
            k,
        )
        for p in practices
    ]
    if period.kind in ("round", "city"):
        await _add_trends(uow, period, rounds, summaries, questions, weights, k)
    comments = await _comments(uow, scope, surveys, summaries)
    generated_at = now or utcnow()
    report = Report(
        period.kind,
        period.label,
        period.starts,
        period.ends,
        generated_at,
        k,
        weights,
        summaries,
        comments,
        scope.channel,
        interim=_interim(period, rounds, generated_at),
    )
    return await with_names(uow, report)


def _interim(period: Period, rounds: Sequence[Any], now: datetime) -> bool:
    """Whether the figures may still change: a round (or a city's round) is not closed, or the
    period's time window has not ended."""
    if period.scope.until is not None and period.scope.until > now:
        return True
    return period.kind in ("round", "city") and any(r.status != "closed" for r in rounds)


async def _surveys(uow: UnitOfWork, survey_ids: set[int]) -> dict[int, Survey]:
    return {row.id: survey_from_dict(row.definition) for row in await uow.surveys.many(survey_ids)}


def _question_index(surveys: Iterable[Survey]) -> dict[str, _Question]:
    """Question id → tag and type; question ids keep their meaning across survey versions."""
    index: dict[str, _Question] = {}
    for survey in surveys:
        for q in survey.questions:
            index.setdefault(q.id, _Question(q.tag, q.type, q.positive))
    return index


def _weights(surveys: Iterable[Survey]) -> dict[str, float]:
    """The survey's weights (the newest that sets them); equal weights otherwise."""
    for survey in surveys:
        if survey.weights:
            return {c: float(survey.weights.get(c, 0.0)) for c in CRITERIA}
    return dict.fromkeys(CRITERIA, 1.0)


async def _practices_in(
    uow: UnitOfWork, period: Period, rounds: Sequence[Any], responses: Sequence[tuple[Any, ...]]
) -> list[Any]:
    """The practices a report lists: a round's own, or every practice of the cities in scope
    that is active or has responses (so "not enough responses" is visible too)."""
    catalog = await uow.catalog.practices()
    answered = {practice_id for _r, practice_id, _s, _n in responses}
    if period.kind == "round":
        ids = set(await uow.rounds.practice_ids(rounds[0].id)) if rounds else set()
        return [p for p in catalog if p.id in ids or p.id in answered]
    cities = period.scope.city_ids
    return [
        p
        for p in catalog
        if (cities is None or p.city_id in cities) and (p.active or p.id in answered)
    ]


async def _invited(uow: UnitOfWork, rounds: Sequence[Any]) -> dict[str, int]:
    """Delivered invitations per practice (each invitation names all the round's practices)."""
    round_ids = [r.id for r in rounds]
    sent = await uow.audit.invitations_sent(round_ids)
    invited: dict[str, int] = defaultdict(int)
    for round_id, practice_id in await uow.audit.practices_of_rounds(round_ids):
        invited[practice_id] += sent.get(round_id, 0)
    return invited


_Row = TypeVar("_Row")


def _by_practice(rows: Iterable[_Row], key: Callable[[_Row], str]) -> dict[str, list[_Row]]:
    """Rows grouped by practice, once, so each practice's summary reads only its own rows."""
    grouped: dict[str, list[_Row]] = defaultdict(list)
    for row in rows:
        grouped[key(row)].append(row)
    return grouped


def _practice_summary(
    practice: Any,
    own: Sequence[ValueCount],
    responses: Sequence[tuple[Any, ...]],
    locales: Sequence[tuple[Any, ...]],
    questions: Mapping[str, _Question],
    invited: Mapping[str, int],
    weights: Mapping[str, float],
    k: int,
) -> PracticeSummary:
    """One practice's figures from its own rows (value counts, response counts, languages)."""
    started = sum(n for _r, _p, _s, n in responses)
    completed = sum(n for _r, _p, s, n in responses if s == "completed")
    base = PracticeSummary(
        city_id=practice.city_id,
        city={},
        practice_id=practice.id,
        practice=practice.name,
        category={},
        invited=invited.get(practice.id),
        started=None,
        completed=None,
        suppressed=completed < k,
        distinguished_in=practice.distinguished_in,
        active=practice.active,
    )
    if base.suppressed:
        return base
    base.started, base.completed = started, completed
    base.completion_rate = completed / started if started else None
    base.awareness = _share(own, questions, "awareness", k)
    base.usage = _share(own, questions, "usage", k)
    base.criteria = _criteria(own, questions, k)
    base.composite = composite(base.criteria, weights)
    base.languages = {locale: (n if n >= k else None) for _p, locale, n in locales}
    return base


def _criteria(
    counts: Iterable[ValueCount], questions: Mapping[str, _Question], k: int
) -> dict[str, ScaleStats | None]:
    """Per criterion: statistics of the ratings, or None when fewer than k people rated it."""
    ratings: dict[str, dict[int, int]] = {c: defaultdict(int) for c in CRITERIA}
    dont_know: dict[str, int] = dict.fromkeys(CRITERIA, 0)
    for count in counts:
        question = questions.get(count.question_id)
        if question is None or question.type != "scale" or question.tag not in ratings:
            continue
        if count.number is not None:
            ratings[question.tag][count.number] += count.n
        elif count.option == DONT_KNOW:
            dont_know[question.tag] += count.n
    result: dict[str, ScaleStats | None] = {}
    for criterion in CRITERIA:
        stats = scale_stats(ratings[criterion], dont_know[criterion])
        result[criterion] = stats if stats is not None and stats.n >= k else None
    return result


def _share(
    counts: Iterable[ValueCount], questions: Mapping[str, _Question], tag: str, k: int
) -> float | None:
    """Share of "yes" (or of a single-choice question's positive options) among answers."""
    yes = total = 0
    for count in counts:
        question = questions.get(count.question_id)
        if question is None or question.tag != tag or count.option is None:
            continue
        if question.type == "yes_no":
            positive = count.option == YES
        elif question.type == "single_choice" and question.positive:
            positive = count.option in question.positive
        else:
            continue
        total += count.n
        yes += count.n if positive else 0
    return yes / total if total >= k else None


async def _add_trends(
    uow: UnitOfWork,
    period: Period,
    rounds: Sequence[Any],
    summaries: list[PracticeSummary],
    questions: Mapping[str, _Question],
    weights: Mapping[str, float],
    k: int,
) -> None:
    """Compare each practice with the previous round of the same city that evaluated it."""
    current = rounds[-1] if rounds else None
    if current is None:
        return
    previous = await uow.audit.previous_round(current)
    if previous is None:
        return
    before = await uow.audit.value_counts(Scope(round_ids=(previous.id,)))
    if period.kind == "city":  # the latest round against the one before it
        latest = await uow.audit.value_counts(Scope(round_ids=(current.id,)))
    for summary in summaries:
        now_score = summary.composite
        if period.kind == "city":
            now_score = _composite_of(latest, summary.practice_id, questions, weights, k)
        then_score = _composite_of(before, summary.practice_id, questions, weights, k)
        if now_score is None or then_score is None:
            continue
        summary.trend = Trend(
            previous.id,
            previous.opens_at.date(),
            then_score.score,
            now_score.score - then_score.score,
            overlaps(now_score.ci_low, now_score.ci_high, then_score.ci_low, then_score.ci_high),
        )


def _composite_of(
    counts: Sequence[ValueCount],
    practice_id: str,
    questions: Mapping[str, _Question],
    weights: Mapping[str, float],
    k: int,
) -> Composite | None:
    own = [c for c in counts if c.practice_id == practice_id]
    return composite(_criteria(own, questions, k), weights)


async def _comments(
    uow: UnitOfWork,
    scope: Scope,
    surveys: Mapping[int, Survey],
    summaries: Sequence[PracticeSummary],
) -> list[Comment]:
    """Free-text answers of groups large enough to publish (storage masks their contacts)."""
    comment_ids = {q.id for s in surveys.values() for q in s.questions if q.tag == "comment"}
    published = {s.practice_id: s.city_id for s in summaries if not s.suppressed}
    rows = await uow.audit.comments(scope, sorted(comment_ids))
    hidden = await uow.audit.hidden_comments()
    return [
        Comment(answer_id, published[practice_id], practice_id, text, answer_id in hidden, day)
        for answer_id, practice_id, text, day in rows
        if practice_id in published
    ]


async def with_names(uow: UnitOfWork, report: Report) -> Report:
    """Fill in city and category names (kept out of the counting code)."""
    cities = {c.id: c.name for c in await uow.catalog.cities()}
    categories = {c.id: c.name for c in await uow.catalog.categories()}
    practices = {p.id: p for p in await uow.catalog.practices()}
    for summary in report.practices:
        summary.city = cities.get(summary.city_id, {})
        practice = practices.get(summary.practice_id)
        summary.category = categories.get(practice.category_id, {}) if practice else {}
    return report
