"""Reports from the database: publish what is due, then summarise the published versions.

The orchestration around audit/summary.py (which computes from plain data): it reads the
tallies and the published versions through a unit of work, lets audit/disclosure.py decide new
versions, and hands the rows to audit/summary.py. `published_report` is the one entry the CLI,
/report, the scheduled reports and the dashboard use.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from itertools import chain
from typing import Any
from zoneinfo import ZoneInfo

from audit.disclosure import COMPLETED, STARTED, decide, public_id, shown
from audit.model import Comment, PracticeSummary, Report, Trend
from audit.stats import Composite, composite, overlaps
from audit.summary import (
    CHANNELS,
    COMMENT_KEY,
    Period,
    ScopeError,
    Shown,
    cell_scope,
    criteria_of,
    interim,
    live_figures,
    only_channel,
    practice_summary,
    question_index,
    weights_of,
)
from conversations.notices import last_moment
from conversations.survey import Survey, survey_from_dict
from storage.cells import NO_ROUND, Cell, CellScope, Scope, Version
from storage.db import Database
from storage.models import utcnow
from storage.uow import UnitOfWork


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


async def publish_due(
    uow: UnitOfWork, period: Period, k: int, zone: ZoneInfo, now: datetime | None = None
) -> int:
    """Publish a new version of every cell of a period that is due one (in a writing unit of
    work, before the period is summarised); returns how many were published."""
    counted = await uow.tallies.zone()
    if counted is None:  # a database whose tallies were never counted (only in tests)
        await uow.tallies.ensure(zone)
        counted = zone
    due = await due_cells(uow, period, k, counted)
    return await publish_cells(uow, due, k, now or utcnow()) if due else 0


async def due_cells(uow: UnitOfWork, period: Period, k: int, counted: ZoneInfo) -> dict[Cell, int]:
    """The cells of a period (and of the round before, which its trend reads) due a new
    version, with their changes (`counted`: the zone the tallies are counted in)."""
    due = await uow.published.due(cell_scope(period), counted, k)
    if period.kind in ("round", "city"):  # the trend reads the previous round's figures
        rounds = await uow.audit.rounds_of(period.scope)
        previous = await uow.audit.previous_round(rounds[-1]) if rounds else None
        if previous is not None:
            before = CellScope(round_ids=(previous.id,))
            due.update(await uow.published.due(before, counted, k))
    return due


async def published_report(
    db: Database, period: Period, k: int, zone: ZoneInfo, now: datetime | None = None
) -> Report:
    """Publish what is due in a period, then summarise it from the published versions: the one
    way every output (CLI, /report, scheduled reports, the dashboard, public pages) gets its
    figures. Most of the time nothing is due (figures move in steps of k): then the report is
    read without a write transaction — on SQLite a write would queue behind respondents' answers
    and hold them up, and public pages are open to anyone."""
    async with db.reading() as uow:
        counted = await uow.tallies.zone()
        if counted is not None and not await due_cells(uow, period, k, counted):
            return await summarize(uow, period, k, now)
    async with db.unit_of_work() as uow:
        await publish_due(uow, period, k, zone, now)
    async with db.reading() as uow:
        return await summarize(uow, period, k, now)


async def published_counts(
    uow: UnitOfWork, round_id: int, k: int, zone: ZoneInfo
) -> dict[str, tuple[int, int] | None]:
    """Per practice of a round: (started, completed) as published, None for "< k" (call in a
    writing unit of work: it publishes what is due first)."""
    period = Period("round", str(round_id), Scope(round_ids=(round_id,)), None, None)
    await publish_due(uow, period, k, zone)
    counted = await uow.tallies.zone() or zone
    counts: dict[str, tuple[int, int] | None] = {}
    for version in await uow.published.latest(cell_scope(period), counted):
        figures = shown(version.figures, k)
        counts[version.cell.practice_id] = (
            (figures[STARTED]["n"] or 0, figures[COMPLETED]["n"] or 0) if figures else None
        )
    return counts


async def freeze_round(uow: UnitOfWork, round_id: int, k: int, now: datetime) -> int:
    """A closed round's final figures: the version every later request for it returns."""
    if await uow.tallies.zone() is None:
        return 0
    cells = await uow.published.round_cells(round_id)
    return await publish_cells(uow, dict.fromkeys(cells, 0), k, now)


async def publish_cells(uow: UnitOfWork, due: Mapping[Cell, int], k: int, now: datetime) -> int:
    """Apply the disclosure rule to some cells: a new version where it allows one."""
    cells = sorted(due, key=lambda c: (c.practice_id, c.round_id, c.period))
    history = await uow.published.history(cells)
    live = await uow.published.live(cells)
    survey_ids = {value[0] for cell in live.values() for value in cell.values}
    questions = question_index((await _surveys(uow, survey_ids)).values())
    closed = {r.id for r in await uow.rounds.listing() if r.status == "closed"}
    await uow.settings.set_once(COMMENT_KEY, secrets.token_hex(32))
    published, shown_comments = 0, set[int]()
    for cell in cells:
        figures = live_figures(live[cell], questions)
        decision = decide(
            figures, live[cell].comment_ids, history[cell], k, closing=cell.round_id in closed
        )
        if decision is not None:
            number = history[cell][-1].version + 1 if history[cell] else 1
            published += await uow.published.add(cell, number, decision, now)
            shown_comments.update(decision.comment_ids)
        await uow.published.seen(cell, due[cell])
    await _store_public_ids(uow, sorted(shown_comments))
    return published


async def _store_public_ids(uow: UnitOfWork, answer_ids: Sequence[int]) -> None:
    """Give the comments a new version shows their public ids once, at publication (rare:
    steps of k), instead of in every report."""
    missing = await uow.audit.without_public_id(answer_ids)
    key = await uow.settings.get(COMMENT_KEY)
    if missing and key is not None:
        secret = bytes.fromhex(key)
        await uow.audit.store_public_ids({a: public_id(a, secret) for a in missing})


async def summarize(uow: UnitOfWork, period: Period, k: int, now: datetime | None = None) -> Report:
    """The report of a period from the published versions of its cells only (publish_due
    first): cells and figures below `k` are suppressed."""
    zone = await uow.tallies.zone() or ZoneInfo("UTC")
    versions = await uow.published.latest(cell_scope(period), zone)
    rounds = await uow.audit.rounds_of(period.scope)
    shown_of: dict[str, list[tuple[Version, Shown]]] = defaultdict(list)
    channel = period.scope.channel
    for version in versions:
        if channel is not None and not only_channel(version.figures.get(CHANNELS, {}), channel):
            continue  # a cell with answers of other channels too: its part is not published
        figures = shown(version.figures, k)
        if figures is not None:
            shown_of[version.cell.practice_id].append((version, figures))
    weights = await _newest_weights(uow)
    catalog = await uow.catalog.practices()  # read once: the list, the comments and the names
    published = {v.cell.practice_id for v in versions}
    practices = await _practices_in(uow, period, rounds, catalog, published)
    invited = await _invited(uow, rounds)
    summaries = [
        practice_summary(p, [f for _v, f in shown_of.get(p.id, [])], invited, weights, k)
        for p in practices
    ]
    if period.kind in ("round", "city"):
        await _add_trends(uow, period, rounds, summaries, weights, k, zone)
    comments = await _comments(uow, shown_of, catalog)
    generated_at = now or utcnow()
    dates = [v.published_at for v, _f in chain.from_iterable(shown_of.values())]
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
        period.scope.channel,
        interim=interim(period, rounds, generated_at),
        published_on=max(dates).date() if dates else None,
    )
    return await with_names(uow, report, catalog)


async def _surveys(uow: UnitOfWork, survey_ids: set[int]) -> dict[int, Survey]:
    return {row.id: survey_from_dict(row.definition) for row in await uow.surveys.many(survey_ids)}


async def _newest_weights(uow: UnitOfWork) -> dict[str, float]:
    """The weights of the newest survey version that sets them; equal weights otherwise."""
    rows = sorted(await uow.surveys.all_versions(), key=lambda row: row.id, reverse=True)
    return weights_of(survey_from_dict(row.definition) for row in rows)


async def _practices_in(
    uow: UnitOfWork,
    period: Period,
    rounds: Sequence[Any],
    catalog: Sequence[Any],
    published: set[str],
) -> list[Any]:
    """The practices a report lists: a round's own, or every practice of the cities in scope
    that is active or has published figures (so "not enough responses" is visible too)."""
    if period.kind == "round":
        ids = set(await uow.rounds.practice_ids(rounds[0].id)) if rounds else set()
        return [p for p in catalog if p.id in ids or p.id in published]
    cities = period.scope.city_ids
    return [
        p
        for p in catalog
        if (cities is None or p.city_id in cities) and (p.active or p.id in published)
    ]


async def _invited(uow: UnitOfWork, rounds: Sequence[Any]) -> dict[str, int]:
    """Delivered invitations per practice (each invitation names all the round's practices)."""
    round_ids = [r.id for r in rounds]
    sent = await uow.audit.invitations_sent(round_ids)
    invited: dict[str, int] = defaultdict(int)
    for round_id, practice_id in await uow.audit.practices_of_rounds(round_ids):
        invited[practice_id] += sent.get(round_id, 0)
    return invited


async def _add_trends(
    uow: UnitOfWork,
    period: Period,
    rounds: Sequence[Any],
    summaries: list[PracticeSummary],
    weights: Mapping[str, float],
    k: int,
    zone: ZoneInfo,
) -> None:
    """Compare each practice with the previous round of the same city that evaluated it (the
    published figures of both)."""
    current = rounds[-1] if rounds else None
    if current is None:
        return
    previous = await uow.audit.previous_round(current)
    if previous is None:
        return
    before = await _round_composites(uow, previous.id, weights, k, zone)
    if period.kind == "city":  # the latest round against the one before it
        latest = await _round_composites(uow, current.id, weights, k, zone)
    for summary in summaries:
        now_score = summary.composite
        if period.kind == "city":
            now_score = latest.get(summary.practice_id)
        then_score = before.get(summary.practice_id)
        if now_score is None or then_score is None:
            continue
        summary.trend = Trend(
            previous.id,
            previous.opens_at.date(),
            then_score.score,
            now_score.score - then_score.score,
            overlaps(now_score.ci_low, now_score.ci_high, then_score.ci_low, then_score.ci_high),
        )


async def _round_composites(
    uow: UnitOfWork, round_id: int, weights: Mapping[str, float], k: int, zone: ZoneInfo
) -> dict[str, Composite]:
    """The composite score of each practice in a round's published figures."""
    scores: dict[str, Composite] = {}
    for version in await uow.published.latest(CellScope(round_ids=(round_id,)), zone):
        figures = shown(version.figures, k)
        score = composite(criteria_of(figures), weights) if figures else None
        if score is not None:
            scores[version.cell.practice_id] = score
    return scores


async def _comments(
    uow: UnitOfWork,
    shown_of: Mapping[str, Sequence[tuple[Version, Shown]]],
    catalog: Sequence[Any],
) -> list[Comment]:
    """The comments of the published cells that their shown versions count (an erased one is
    gone: they are read live), under public ids, in the order of those ids."""
    key = await uow.settings.get(COMMENT_KEY)
    members = {i for pairs in shown_of.values() for v, _f in pairs for i in v.comment_ids}
    if key is None or not members:
        return []
    secret = bytes.fromhex(key)
    cells = [v.cell for pairs in shown_of.values() for v, _f in pairs]
    rounds = sorted({c.round_id for c in cells if c.round_id != NO_ROUND})
    months = sorted({c.period for c in cells if c.round_id == NO_ROUND})
    rows = await uow.audit.comments_of(rounds, months, members)
    hidden = await uow.audit.hidden_comments()
    cities = {p.id: p.city_id for p in catalog}
    comments = [
        Comment(
            public_id(answer_id, secret) if stored is None else stored,
            cities.get(practice_id, ""),
            practice_id,
            text,
            answer_id in hidden,
            day,
        )
        for answer_id, stored, practice_id, text, day in rows
    ]
    return sorted(comments)  # by public id: the first field, and unique


async def with_names(uow: UnitOfWork, report: Report, catalog: Sequence[Any]) -> Report:
    """Fill in city and category names (kept out of the counting code; `catalog`: the
    practices)."""
    cities = {c.id: c.name for c in await uow.catalog.cities()}
    categories = {c.id: c.name for c in await uow.catalog.categories()}
    practices = {p.id: p for p in catalog}
    for summary in report.practices:
        summary.city = cities.get(summary.city_id, {})
        practice = practices.get(summary.practice_id)
        summary.category = categories.get(practice.category_id, {}) if practice else {}
    return report
