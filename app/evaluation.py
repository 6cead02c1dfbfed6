"""The combined ranking of an edition and the distinctions staff confirm."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from app.editions import existing
from app.jury import CRITERIA, RECUSED, JuryError
from app.summaries import publish_due, summarize
from audit.evaluation import Entry, Ranked, agreement, jury_part, rank
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


async def confirm_distinction(uow: UnitOfWork, actor: str, year: int, practice_id: str) -> None:
    """Staff confirm a practice as distinguished in an edition; stored and logged."""
    await existing(uow, year)
    if practice_id not in {p.practice_id for p in await uow.nominations.practices(year)}:
        raise JuryError(f"{practice_id} is not a practice of the {year} edition")
    practice = await uow.catalog.practice(practice_id)
    assert practice is not None
    practice.distinguished_in = year
    await uow.audit_log.add(actor, "edition.distinguish", f"practice:{practice_id}", edition=year)
