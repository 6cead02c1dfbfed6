"""The combined ranking of an edition, checked against a computation done by hand."""

from __future__ import annotations

import math

import pytest

from audit.evaluation import Entry, Part, agreement, jury_part, rank
from audit.stats import Composite

CRITERIA = ("engagement", "sustainability", "comprehensiveness")


def juror(*scores: int) -> dict[str, int]:
    return dict(zip(CRITERIA, scores, strict=True))


# Practice P1: Juror E recused; the others' criteria on 0–100 ((s - 1) / 4 * 100), averaged:
#   A 4,5,3 -> 75,100,50 -> 75;  B 5,5,4 -> 100,100,75 -> 91.667;  C 3,4,4 -> 50,75,75 -> 66.667;
#   D 4,4,4 -> 75.  Mean (75 + 91.667 + 66.667 + 75) / 4 = 77.083.
P1_JURY = {"A": juror(4, 5, 3), "B": juror(5, 5, 4), "C": juror(3, 4, 4), "D": juror(4, 4, 4)}
P1_MEAN = (75 + (100 + 100 + 75) / 3 + (50 + 75 + 75) / 3 + 75) / 4
P1_SD = math.sqrt(sum((x - P1_MEAN) ** 2 for x in (75, 275 / 3, 200 / 3, 75)) / 3)
P1_HALF = 3.182 * P1_SD / 2  # t(0.975, 3) * sd / sqrt(4)
# Residents: composite 60 (50–70) from 12 people, at least k = 5: combined 60 % jury, 40 %.
P1_COMBINED = 0.6 * P1_MEAN + 0.4 * 60
P1_COMBINED_HALF = math.sqrt((0.6 * P1_HALF) ** 2 + (0.4 * 10) ** 2)
# Practice P2: all five scored; residents only 3 people (< k): ranked on the jury alone.
P2_JURY = {
    "A": juror(2, 2, 2),  # 25
    "B": juror(3, 3, 3),  # 50
    "C": juror(2, 3, 2),  # 33.333
    "D": juror(1, 2, 2),  # 16.667
    "E": juror(2, 2, 3),  # 33.333
}
P2_MEAN = (25 + 50 + 100 / 3 + 50 / 3 + 100 / 3) / 5


def entries() -> list[Entry]:
    p1 = Entry("p1", "service_point", jury_part(P1_JURY), Composite(60.0, 50.0, 70.0, 3), 12)
    p2 = Entry("p2", "service_point", jury_part(P2_JURY), Composite(90.0, 80.0, 100.0, 3), 3)
    # P3 nearly ties P1: jury 75 from two jurors (wide interval), residents 62 (55–69) of 8
    p3 = Entry(
        "p3",
        "service_point",
        jury_part({"A": juror(4, 4, 4), "B": juror(4, 4, 4)}),
        Composite(62.0, 55.0, 69.0, 3),
        8,
    )
    p4 = Entry("p4", "friendly_space", None, None, 0)  # everyone recused
    return [p2, p1, p3, p4]


def test_the_combined_ranking_equals_the_hand_computation() -> None:
    ranking = rank(entries(), jury_weight=60, residents_weight=40, k=5)
    assert list(ranking) == ["friendly_space", "service_point"]
    first, second, third = ranking["service_point"]

    assert first.entry.practice_id == "p1" and not first.jury_only
    assert first.entry.jury == Part(
        pytest.approx(P1_MEAN),
        pytest.approx(P1_MEAN - P1_HALF, abs=0.01),
        pytest.approx(P1_MEAN + P1_HALF, abs=0.01),
        4,
    )
    assert first.combined.score == pytest.approx(P1_COMBINED)  # 0.6 * 77.083 + 0.4 * 60 = 70.25
    assert pytest.approx(70.25) == P1_COMBINED
    assert first.combined.ci_low == pytest.approx(P1_COMBINED - P1_COMBINED_HALF, abs=0.01)

    # P3: 0.6 * 75 + 0.4 * 62 = 69.8, its interval overlaps P1's: tied at rank 1
    assert second.entry.practice_id == "p3"
    assert second.combined.score == pytest.approx(69.8)
    assert (first.rank, second.rank, first.tied, second.tied) == (1, 1, True, True)

    # P2: residents below k, so the jury alone (31.667), flagged, clearly below: rank 3
    assert third.entry.practice_id == "p2" and third.jury_only
    assert (
        third.combined.score == pytest.approx(P2_MEAN)
        and pytest.approx(31.667, abs=0.001) == P2_MEAN
    )
    assert (third.rank, third.tied) == (3, False)

    [only] = ranking["friendly_space"]
    assert (only.rank, only.jury_only, only.combined.n) == (1, True, 0)


def test_jurors_agreement_is_krippendorffs_ordinal_alpha() -> None:
    same = {
        "A": {("p1", "engagement"): 4, ("p1", "sustainability"): 2, ("p2", "engagement"): 5},
        "B": {("p1", "engagement"): 4, ("p1", "sustainability"): 2, ("p2", "engagement"): 5},
    }
    assert agreement(same) == pytest.approx(1.0)
    opposite = {
        "A": {("p1", "engagement"): 1, ("p1", "sustainability"): 5, ("p2", "engagement"): 1},
        "B": {("p1", "engagement"): 5, ("p1", "sustainability"): 1, ("p2", "engagement"): 5},
        "C": {("p1", "engagement"): 3},  # recused from p2, skipped the rest
    }
    alpha = agreement(opposite)
    assert alpha is not None and alpha < 0
    assert agreement({"A": same["A"]}) is None  # one juror: nothing to compare
