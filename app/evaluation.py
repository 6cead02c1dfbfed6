"""The combined ranking of an edition and the distinctions staff confirm."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from app.editions import CLOSED, existing, phase_at
from app.jury import CRITERIA, RECUSED, JuryError
from app.publishing import approved_replies
from app.summaries import publish_due, summarize
from audit.evaluation import (
    EditionReport,
    Entry,
    Justification,
    Ranked,
    Reanalysis,
    agreement,
    jury_part,
    rank,
)
from audit.stats import Composite
from audit.summary import year_period
from storage.uow import UnitOfWork


@dataclass(frozen=True)
class Ranking:
    """An edition's ranking per category and the jurors' agreement."""

    year: int
    by_category: dict[str, list[Ranked]]
    alpha: float | None
    k: int


async def residents_figures(
    uow: UnitOfWork, year: int, zone: ZoneInfo, k: int
) -> Mapping[str, tuple[Composite | None, int]]:
    """The residents' composite and how many completed, per practice, for the edition's year.

    The ONE place the evaluation reads residents' figures: the year's published versions, as
    every report gets them (publish what is due, then summarise under the disclosure rule;
    call in a writing unit of work). Suppressed groups (fewer than k) come back with n = 0 and
    no composite."""
    period = year_period(year, zone)
    await publish_due(uow, period, k, zone)
    report = await summarize(uow, period, k)
    return {s.practice_id: (s.composite, s.completed or 0) for s in report.practices}


async def combined_ranking(uow: UnitOfWork, year: int, zone: ZoneInfo, k: int) -> Ranking:
    """Per category, the nominated practices ranked by the jury and residents combined."""
    edition = await existing(uow, year)
    practice_ids = [p.practice_id for p in await uow.nominations.practices(year)]
    per_practice: dict[str, dict[str, dict[str, int]]] = {p: {} for p in practice_ids}
    per_juror: dict[str, dict[tuple[str, str], int]] = {}
    labels = {j.telegram_user_id: j.label for j in await uow.jury.jurors(year)}
    for row in await uow.jury.scores(year):
        if row.criterion == RECUSED or row.score is None or row.practice_id not in per_practice:
            continue
        label = labels.get(row.telegram_user_id, "?")
        per_practice[row.practice_id].setdefault(label, {})[row.criterion] = row.score
        per_juror.setdefault(label, {})[(row.practice_id, row.criterion)] = row.score
    residents = await residents_figures(uow, year, zone, k)
    entries = []
    for practice_id in practice_ids:
        practice = await uow.catalog.practice(practice_id)
        complete = {
            label: criteria
            for label, criteria in per_practice[practice_id].items()
            if set(criteria) >= set(CRITERIA)
        }
        composite, n = residents.get(practice_id, (None, 0))
        entries.append(
            Entry(
                practice_id,
                practice.category_id if practice else "",
                jury_part(complete),
                composite,
                n,
            )
        )
    ranked = rank(entries, edition.jury_weight, edition.residents_weight, k)
    return Ranking(year, ranked, agreement(per_juror), k)


async def reanalysis_verdicts(
    uow: UnitOfWork, year: int, zone: ZoneInfo, k: int
) -> list[Reanalysis]:
    """The re-analysis verdicts recorded in an edition (app/analysis.py records them) on the
    practices distinguished earlier, with the residents' figures of the year (None below k)."""
    await existing(uow, year)
    figures = await residents_figures(uow, year, zone, k)
    verdicts = []
    for row in await uow.analysis.verdicts(year):
        practice = await uow.catalog.practice(row.practice_id)
        composite, n = figures.get(row.practice_id, (None, 0))
        evidence = " ".join([row.notes or "", *row.evidence]).strip()
        distinguished = practice.distinguished_in if practice is not None else None
        verdicts.append(
            Reanalysis(row.practice_id, distinguished or 0, row.verdict, evidence, composite, n)
        )
    return verdicts


async def edition_report(
    uow: UnitOfWork, year: int, zone: ZoneInfo, k: int, now: datetime
) -> EditionReport:
    """What the edition report shows, gathered in one (writing: see residents_figures) unit
    of work; render it after the commit. Only once the jury phase has closed: before that,
    nobody but each juror sees scores (app/jury.py). Jurors appear by letter only."""
    edition = await existing(uow, year)
    if phase_at(edition, now) != CLOSED:
        raise JuryError(f"the {year} edition report is ready once the jury phase has closed")
    ranking = await combined_ranking(uow, year, zone, k)
    letters = {j.telegram_user_id: j.label for j in await uow.jury.jurors(year)}
    justifications, recusals = [], []
    for row in await uow.jury.scores(year):
        letter = letters.get(row.telegram_user_id)
        if letter is None:
            continue
        if row.criterion == RECUSED:
            recusals.append((row.practice_id, letter))
        elif row.score is not None:
            text = row.justification or ""
            justifications.append(
                Justification(row.practice_id, letter, row.criterion, row.score, text)
            )
    justifications.sort(key=lambda j: (j.practice_id, j.juror, CRITERIA.index(j.criterion)))
    reanalysis = await reanalysis_verdicts(uow, year, zone, k)
    practice_ids = [r.entry.practice_id for rows in ranking.by_category.values() for r in rows]
    replies = await approved_replies(uow, year, practice_ids)
    named = [*practice_ids, *(item.practice_id for item in reanalysis)]
    practices = {p: await uow.catalog.practice(p) for p in named}
    cities = {c.id: c.name for c in await uow.catalog.cities()}
    return EditionReport(
        year=year,
        generated_at=now,
        k=k,
        jury_weight=edition.jury_weight,
        residents_weight=edition.residents_weight,
        alpha=ranking.alpha,
        jurors=tuple(sorted(letters.values())),
        by_category=ranking.by_category,
        names={p: (row.name if row else {}) for p, row in practices.items()},
        cities={p: (cities.get(row.city_id, {}) if row else {}) for p, row in practices.items()},
        categories={c.id: c.name for c in await uow.catalog.categories()},
        justifications=justifications,
        recusals=sorted(recusals),
        reanalysis=reanalysis,
        replies=replies,
    )


async def confirm_distinction(uow: UnitOfWork, actor: str, year: int, practice_id: str) -> None:
    """Staff confirm a practice as distinguished in an edition; stored and logged."""
    await existing(uow, year)
    if practice_id not in {p.practice_id for p in await uow.nominations.practices(year)}:
        raise JuryError(f"{practice_id} is not a practice of the {year} edition")
    practice = await uow.catalog.practice(practice_id)
    assert practice is not None
    practice.distinguished_in = year
    await uow.audit_log.add(actor, "edition.distinguish", f"practice:{practice_id}", edition=year)
