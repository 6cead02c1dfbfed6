"""Editions of the annual evaluation: open, phases that move by themselves, weights, close.

An edition runs in three consecutive phases — nominations, analysis, jury — between four
moments. The weights of the jury and the residents in the final score are declared when the
edition is opened and may change until the jury phase opens; then they are frozen (and the
freezing is in the audit log), so no one can tune them after seeing scores.

Every step is keyed on the edition's row, so the scheduler can run it any number of times.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

from storage.db import Database
from storage.models import Edition, utcnow
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

PLANNED, NOMINATIONS, ANALYSIS, JURY, CLOSED = (
    "planned",
    "nominations",
    "analysis",
    "jury",
    "closed",
)
PHASES = (PLANNED, NOMINATIONS, ANALYSIS, JURY, CLOSED)
FIRST_YEAR, LAST_YEAR = 2000, 2100


class EditionError(ValueError):
    """An edition cannot be opened or changed as asked; the text says what to do instead."""


@dataclass(frozen=True)
class Schedule:
    """When each phase of an edition begins, and when the jury phase ends."""

    nominations_open_at: datetime
    analysis_open_at: datetime
    jury_open_at: datetime
    closes_at: datetime

    def check(self) -> None:
        """EditionError unless the phases follow one another, each at least a moment long."""
        moments = (
            ("nominations", self.nominations_open_at),
            ("analysis", self.analysis_open_at),
            ("jury", self.jury_open_at),
            ("close", self.closes_at),
        )
        for (before, earlier), (after, later) in pairwise(moments):
            if later <= earlier:
                raise EditionError(
                    f"the {after} phase must begin after the {before} phase begins "
                    f"({later:%Y-%m-%d} is not after {earlier:%Y-%m-%d})"
                )


@dataclass(frozen=True)
class Weights:
    """The shares (percent) of the jury and of the residents in the combined score."""

    jury: int
    residents: int

    def check(self) -> None:
        """EditionError unless both are between 0 and 100 and add up to 100."""
        if not (0 <= self.jury <= 100 and 0 <= self.residents <= 100):
            raise EditionError("weights are percentages between 0 and 100")
        if self.jury + self.residents != 100:
            raise EditionError(
                f"the jury and residents weights must add up to 100 "
                f"(got {self.jury} + {self.residents} = {self.jury + self.residents})"
            )


def phase_at(edition: Edition, moment: datetime) -> str:
    """The phase an edition's dates put it in at a moment (closed stays closed)."""
    if edition.status == CLOSED or moment >= edition.closes_at:
        return CLOSED
    if moment >= edition.jury_open_at:
        return JURY
    if moment >= edition.analysis_open_at:
        return ANALYSIS
    return NOMINATIONS if moment >= edition.nominations_open_at else PLANNED


def weights_frozen(edition: Edition) -> bool:
    """Whether the weights can no longer change (the jury phase has opened)."""
    return edition.weights_frozen_at is not None


def check_year(year: int) -> None:
    """EditionError for a year no edition can have."""
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise EditionError(f"--year: {year} is not a year between {FIRST_YEAR} and {LAST_YEAR}")


async def open_edition(
    uow: UnitOfWork,
    actor: str,
    year: int,
    schedule: Schedule,
    weights: Weights,
    now: datetime,
) -> Edition:
    """Plan a year's edition (one per year) and move it into the phase its dates give; logged."""
    check_year(year)
    schedule.check()
    weights.check()
    if schedule.closes_at <= now:
        raise EditionError(f"the jury phase would end {schedule.closes_at:%Y-%m-%d}, in the past")
    if await uow.editions.get(year, lock=True) is not None:
        raise EditionError(f"the {year} edition exists already; see `auditbot edition show`")
    edition = await uow.editions.add(
        Edition(
            year=year,
            status=PLANNED,
            nominations_open_at=schedule.nominations_open_at,
            analysis_open_at=schedule.analysis_open_at,
            jury_open_at=schedule.jury_open_at,
            closes_at=schedule.closes_at,
            jury_weight=weights.jury,
            residents_weight=weights.residents,
            created_by=actor,
        )
    )
    await uow.audit_log.add(
        actor,
        "edition.open",
        f"edition:{year}",
        nominations_open_at=schedule.nominations_open_at.isoformat(),
        analysis_open_at=schedule.analysis_open_at.isoformat(),
        jury_open_at=schedule.jury_open_at.isoformat(),
        closes_at=schedule.closes_at.isoformat(),
        jury_weight=weights.jury,
        residents_weight=weights.residents,
    )
    await advance(uow, edition, actor, now)
    return edition


async def existing(uow: UnitOfWork, year: int, *, lock: bool = False) -> Edition:
    """The edition of a year, or EditionError naming the command that lists them."""
    check_year(year)
    edition = await uow.editions.get(year, lock=lock)
    if edition is None:
        raise EditionError(f"there is no {year} edition; `auditbot edition list` shows them")
    return edition


async def set_weights(
    uow: UnitOfWork, actor: str, year: int, weights: Weights, now: datetime
) -> Edition:
    """Change the weights before the jury phase opens; refused (EditionError) after; logged."""
    weights.check()
    edition = await existing(uow, year, lock=True)
    await advance(uow, edition, "scheduler", now)
    if weights_frozen(edition):
        raise EditionError(
            f"the weights of the {year} edition were frozen when its jury phase opened "
            f"({edition.weights_frozen_at:%Y-%m-%d}); they stay "
            f"jury {edition.jury_weight} / residents {edition.residents_weight}"
        )
    before = {"jury": edition.jury_weight, "residents": edition.residents_weight}
    edition.jury_weight, edition.residents_weight = weights.jury, weights.residents
    await uow.audit_log.add(
        actor,
        "edition.weights",
        f"edition:{year}",
        before=before,
        after={"jury": weights.jury, "residents": weights.residents},
    )
    return edition


async def close_edition(uow: UnitOfWork, actor: str, year: int, now: datetime) -> Edition:
    """End an edition now, whatever phase it is in; logged."""
    edition = await existing(uow, year, lock=True)
    if edition.status == CLOSED:
        raise EditionError(f"the {year} edition is closed already")
    await _freeze_weights(uow, edition, actor, now)
    await _enter(uow, edition, CLOSED, actor, now)
    if edition.closes_at > now:
        edition.closes_at = now
    return edition


async def advance(uow: UnitOfWork, edition: Edition, actor: str, now: datetime) -> str | None:
    """Move an edition into the phase its dates give (never back); returns the new phase, or
    None when it stays where it is. Entering the jury phase (or skipping past it) freezes the
    weights."""
    target = phase_at(edition, now)
    if PHASES.index(target) <= PHASES.index(edition.status):
        return None
    if PHASES.index(target) >= PHASES.index(JURY):
        await _freeze_weights(uow, edition, actor, now)
    await _enter(uow, edition, target, actor, now)
    return target


async def _enter(uow: UnitOfWork, edition: Edition, phase: str, actor: str, now: datetime) -> None:
    """Record that an edition is now in a phase."""
    before, edition.status = edition.status, phase
    if phase == CLOSED:
        edition.closed_at = now
    await uow.audit_log.add(
        actor, "edition.phase", f"edition:{edition.year}", before=before, after=phase
    )
    log.info("edition %s: %s -> %s", edition.year, before, phase)


async def _freeze_weights(uow: UnitOfWork, edition: Edition, actor: str, now: datetime) -> None:
    """Freeze the weights once; logged with their values."""
    if weights_frozen(edition):
        return
    edition.weights_frozen_at = now
    await uow.audit_log.add(
        actor,
        "edition.weights_frozen",
        f"edition:{edition.year}",
        jury=edition.jury_weight,
        residents=edition.residents_weight,
    )


async def reconcile_editions(
    db: Database, now: datetime | None = None
) -> Sequence[tuple[int, str]]:
    """Move every edition whose dates say so; returns (year, new phase) pairs."""
    now = now or utcnow()
    moved = []
    async with db.unit_of_work() as uow:
        for edition in await uow.editions.unfinished(now):
            phase = await advance(uow, edition, "scheduler", now)
            if phase is not None:
                moved.append((edition.year, phase))
    return moved


async def editions(uow: UnitOfWork) -> Sequence[Edition]:
    """Every edition, newest first."""
    return await uow.editions.listing()
