"""Stage one of an edition (the analysis of each nominated practice) and the re-analysis of the
practices distinguished in earlier editions.

Staff record, per criterion, notes and evidence links, and a recommendation; the residents'
survey figures for the practice stand beside it, taken through the one disclosure-safe path
(app/evaluation.py: residents_figures). Every practice distinguished in an earlier edition is on
the next editions' re-analysis list, where staff record whether it is still carried out, changed
or discontinued. Every record is in the audit log, and each practice keeps its history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from app.editions import CLOSED, EditionError, existing
from app.evaluation import residents_figures
from app.jury import CRITERIA
from app.nominations import NOMINATED
from audit.stats import Composite
from conversations.nomination import link_problem
from storage.models import Analysis, Practice, Reanalysis
from storage.uow import UnitOfWork

RECOMMEND, DO_NOT_RECOMMEND, MORE_EVIDENCE = "recommend", "do-not-recommend", "more-evidence"
RECOMMENDATIONS = (RECOMMEND, DO_NOT_RECOMMEND, MORE_EVIDENCE)
CONTINUED, CHANGED, DISCONTINUED = "continued", "changed", "discontinued"
VERDICTS = (CONTINUED, CHANGED, DISCONTINUED)
NOTES_LIMIT = 2000
EVIDENCE_LIMIT = 10  # links per criterion or verdict


class AnalysisError(EditionError):
    """An analysis or a re-analysis that cannot be recorded; the text says why."""


@dataclass(frozen=True)
class Residents:
    """The residents' figures of a practice for a year, as the disclosure rule lets them out:
    no composite and n = 0 when fewer than k people answered."""

    composite: Composite | None
    n: int
    k: int


@dataclass(frozen=True)
class AnalysisView:
    """A nominated practice, its analysis (None until recorded) and the residents' figures."""

    practice: Practice
    analysis: Analysis | None
    residents: Residents


@dataclass(frozen=True)
class ReanalysisItem:
    """A practice on an edition's re-analysis list, its verdict (None until recorded) and the
    residents' figures of the year."""

    practice: Practice
    distinguished_in: int | None
    verdict: Reanalysis | None
    residents: Residents


@dataclass(frozen=True)
class HistoryEntry:
    """What happened to a practice in one edition."""

    year: int
    nominated: bool
    recommendation: str | None
    distinguished: bool
    verdict: str | None
    verdict_notes: str | None


def _evidence(links: Sequence[str]) -> list[str]:
    """The evidence links, checked (https://…, at most EVIDENCE_LIMIT)."""
    cleaned = [link.strip() for link in links if link.strip()]
    if len(cleaned) > EVIDENCE_LIMIT:
        raise AnalysisError(f"--evidence: at most {EVIDENCE_LIMIT} links")
    for link in cleaned:
        if link_problem(link) is not None:
            raise AnalysisError(f"--evidence: {link!r} is not a web address (https://…)")
    return cleaned


def _notes(notes: str | None) -> str:
    text = (notes or "").strip()
    if len(text) > NOTES_LIMIT:
        raise AnalysisError(f"--notes: at most {NOTES_LIMIT} characters (got {len(text)})")
    return text


async def _open_edition(uow: UnitOfWork, year: int) -> None:
    """AnalysisError unless the edition exists and is not closed."""
    edition = await existing(uow, year)
    if edition.status == CLOSED:
        raise AnalysisError(f"the {year} edition is closed; its records can no longer change")


async def _nominated_practice(uow: UnitOfWork, year: int, practice_id: str) -> Practice:
    """The practice, if it is nominated in the edition."""
    listed = {p.practice_id for p in await uow.nominations.practices(year) if p.origin == NOMINATED}
    practice = await uow.catalog.practice(practice_id)
    if practice is None or practice_id not in listed:
        raise AnalysisError(
            f"--practice: {practice_id} is not nominated in the {year} edition; "
            f"`auditbot analysis show --edition {year}` lists them"
        )
    return practice


async def record_analysis(
    uow: UnitOfWork,
    actor: str,
    year: int,
    practice_id: str,
    now: datetime,
    *,
    criterion: str | None = None,
    notes: str | None = None,
    evidence: Sequence[str] = (),
    recommendation: str | None = None,
) -> Analysis:
    """Record (or revise) the analysis of one criterion of a nominated practice and/or the
    recommendation; logged."""
    await _open_edition(uow, year)
    await _nominated_practice(uow, year, practice_id)
    text, links = _notes(notes), _evidence(evidence)
    if criterion is None and (text or links):
        raise AnalysisError("--notes and --evidence belong to a criterion: add --criterion")
    if criterion is None and recommendation is None:
        raise AnalysisError("give --criterion (with --notes or --evidence) or --recommendation")
    if criterion is not None and criterion not in CRITERIA:
        raise AnalysisError(f"--criterion: {criterion!r}; use one of {', '.join(CRITERIA)}")
    if recommendation is not None and recommendation not in RECOMMENDATIONS:
        raise AnalysisError(
            f"--recommendation: {recommendation!r}; use one of {', '.join(RECOMMENDATIONS)}"
        )
    if criterion is not None and not text and not links:
        raise AnalysisError(f"--criterion {criterion}: give --notes or --evidence (or both)")
    analysis = await uow.analysis.get(year, practice_id, lock=True)
    if analysis is None:
        analysis = await uow.analysis.add(
            Analysis(
                edition_year=year,
                practice_id=practice_id,
                criteria={},
                updated_by=actor,
                updated_at=now,
            )
        )
    details: dict[str, Any] = {"edition": year}
    if criterion is not None:
        analysis.criteria = {**analysis.criteria, criterion: {"notes": text, "evidence": links}}
        details.update(criterion=criterion, evidence=len(links))
    if recommendation is not None:
        details.update(before=analysis.recommendation, recommendation=recommendation)
        analysis.recommendation = recommendation
    analysis.updated_by, analysis.updated_at = actor, now
    await uow.audit_log.add(actor, "analysis.record", f"practice:{practice_id}", **details)
    return analysis


async def analyses(uow: UnitOfWork, year: int, zone: ZoneInfo, k: int) -> list[AnalysisView]:
    """Every nominated practice of an edition with its analysis and the residents' figures
    (call in a writing unit of work: the figures are published first, as every report does)."""
    await existing(uow, year)
    figures = await residents_figures(uow, year, zone, k)
    views = []
    for listed in await uow.nominations.practices(year):
        practice = await uow.catalog.practice(listed.practice_id)
        if listed.origin != NOMINATED or practice is None:
            continue
        composite, n = figures.get(practice.id, (None, 0))
        analysis = await uow.analysis.get(year, practice.id)
        views.append(AnalysisView(practice, analysis, Residents(composite, n, k)))
    return views


async def analysis_of(
    uow: UnitOfWork, year: int, practice_id: str, zone: ZoneInfo, k: int
) -> AnalysisView:
    """One nominated practice with its analysis and the residents' figures."""
    await existing(uow, year)
    await _nominated_practice(uow, year, practice_id)
    return next(v for v in await analyses(uow, year, zone, k) if v.practice.id == practice_id)


async def summaries(uow: UnitOfWork, year: int) -> dict[str, Analysis]:
    """The analyses of an edition by practice (what the jury reads before scoring)."""
    return {a.practice_id: a for a in await uow.analysis.of_edition(year)}


async def _reanalysis_practices(uow: UnitOfWork, year: int) -> list[Practice]:
    """Practices distinguished in an earlier edition, and any with a verdict in this one."""
    recorded = {v.practice_id for v in await uow.analysis.verdicts(year)}
    return [
        p
        for p in await uow.catalog.practices(active_only=False)
        if (p.distinguished_in is not None and p.distinguished_in < year) or p.id in recorded
    ]


async def reanalysis_list(
    uow: UnitOfWork, year: int, zone: ZoneInfo, k: int
) -> list[ReanalysisItem]:
    """An edition's re-analysis list: each practice distinguished in an earlier edition, its
    verdict and the residents' figures of the year (call in a writing unit of work)."""
    await existing(uow, year)
    figures = await residents_figures(uow, year, zone, k)
    items = []
    for practice in await _reanalysis_practices(uow, year):
        composite, n = figures.get(practice.id, (None, 0))
        items.append(
            ReanalysisItem(
                practice,
                practice.distinguished_in,
                await uow.analysis.verdict(year, practice.id),
                Residents(composite, n, k),
            )
        )
    return items


async def record_verdict(
    uow: UnitOfWork,
    actor: str,
    year: int,
    practice_id: str,
    verdict: str,
    notes: str | None,
    evidence: Sequence[str],
    now: datetime,
) -> Reanalysis:
    """Record (or revise) an edition's verdict on a practice of its re-analysis list; logged."""
    await _open_edition(uow, year)
    if practice_id not in {p.id for p in await _reanalysis_practices(uow, year)}:
        raise AnalysisError(
            f"--practice: {practice_id} is not on the {year} re-analysis list (only practices "
            f"distinguished in an earlier edition are); `auditbot reanalysis list --edition "
            f"{year}` shows it"
        )
    if verdict not in VERDICTS:
        raise AnalysisError(f"--verdict: {verdict!r}; use one of {', '.join(VERDICTS)}")
    text, links = _notes(notes), _evidence(evidence)
    if not text and not links:
        raise AnalysisError("give the evidence: --evidence LINK and/or --notes TEXT")
    row = await uow.analysis.verdict(year, practice_id, lock=True)
    before = row.verdict if row is not None else None
    if row is None:
        row = await uow.analysis.add_verdict(
            Reanalysis(
                edition_year=year,
                practice_id=practice_id,
                verdict=verdict,
                notes=text,
                evidence=links,
                recorded_by=actor,
                recorded_at=now,
            )
        )
    else:
        row.verdict, row.notes, row.evidence = verdict, text, links
        row.recorded_by, row.recorded_at = actor, now
    await uow.audit_log.add(
        actor,
        "reanalysis.record",
        f"practice:{practice_id}",
        edition=year,
        before=before,
        verdict=verdict,
        evidence=len(links),
    )
    return row


async def history(uow: UnitOfWork, practice_id: str) -> tuple[Practice, list[HistoryEntry]]:
    """What happened to a practice in each edition: nominated and the recommendation,
    distinguished, the re-analysis verdict — oldest edition first."""
    practice = await uow.catalog.practice(practice_id)
    if practice is None:
        raise AnalysisError(f"{practice_id} is not a practice of the catalog")
    nominated = {
        e.edition_year for e in await uow.analysis.editions_of(practice_id) if e.origin == NOMINATED
    }
    recommendations = {
        a.edition_year: a.recommendation for a in await uow.analysis.analyses_of(practice_id)
    }
    verdicts = {v.edition_year: v for v in await uow.analysis.verdicts(practice_id=practice_id)}
    years = set(nominated) | set(recommendations) | set(verdicts)
    if practice.distinguished_in is not None:
        years.add(practice.distinguished_in)
    entries = []
    for year in sorted(years):
        verdict = verdicts.get(year)
        entries.append(
            HistoryEntry(
                year,
                year in nominated,
                recommendations.get(year),
                practice.distinguished_in == year,
                verdict.verdict if verdict else None,
                verdict.notes if verdict else None,
            )
        )
    return practice, entries
