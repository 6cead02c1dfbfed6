"""Statistics from per-value counts: scale answers are discrete, so counts are exact and enough.

Mean, median, standard deviation and a 95 % confidence interval of the mean
(mean ± t(0.975, n−1) · s/√n) follow from how many people chose 1, 2, 3, 4 and 5.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# Two-sided 95 % quantiles of Student's t for 1–30 degrees of freedom; beyond 30 the normal
# quantile is within 0.04 of t, close enough for ratings on a five-point scale.
_T975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)
_Z975 = 1.960
SCALE = (1, 2, 3, 4, 5)


def t_quantile(degrees: int) -> float:
    """t(0.975, df), the multiplier of the standard error in a 95 % interval."""
    if degrees < 1:
        return math.inf
    return _T975[degrees - 1] if degrees <= len(_T975) else _Z975


@dataclass(frozen=True)
class ScaleStats:
    """A criterion's ratings in one group."""

    n: int
    mean: float
    median: float
    sd: float
    ci_low: float
    ci_high: float
    distribution: tuple[int, ...]  # how many chose 1 … 5
    dont_know: int

    @property
    def dont_know_share(self) -> float:
        """Share of "don't know" among everyone who answered the question."""
        answered = self.n + self.dont_know
        return self.dont_know / answered if answered else 0.0


def scale_stats(counts: Mapping[int, int], dont_know: int = 0) -> ScaleStats | None:
    """Statistics of 1–5 ratings given as {value: count}; None when nobody rated."""
    distribution = tuple(int(counts.get(v, 0)) for v in SCALE)
    n = sum(distribution)
    if n == 0:
        return None
    mean = sum(v * c for v, c in zip(SCALE, distribution, strict=True)) / n
    variance = (
        (sum(c * (v - mean) ** 2 for v, c in zip(SCALE, distribution, strict=True)) / (n - 1))
        if n > 1
        else 0.0
    )
    sd = math.sqrt(variance)
    half = t_quantile(n - 1) * sd / math.sqrt(n) if n > 1 else math.inf
    return ScaleStats(
        n,
        mean,
        median_of(distribution),
        sd,
        max(1.0, mean - half),
        min(5.0, mean + half),
        distribution,
        dont_know,
    )


def median_of(distribution: Sequence[int]) -> float:
    """The median of values 1… given their counts (mean of the two middle ones when n is even)."""
    n = sum(distribution)
    middle = [(n - 1) // 2, n // 2]
    values = []
    for position in middle:
        seen = 0
        for value, count in zip(SCALE, distribution, strict=False):
            seen += count
            if position < seen:
                values.append(value)
                break
    return sum(values) / 2


def to_percent(rating: float) -> float:
    """A 1–5 rating on the 0–100 scale of the composite score."""
    return (rating - 1.0) / 4.0 * 100.0


@dataclass(frozen=True)
class Composite:
    """The weighted 0–100 score of a practice with its 95 % interval."""

    score: float
    ci_low: float
    ci_high: float
    criteria: int  # how many criteria had ratings


def composite(
    criteria: Mapping[str, ScaleStats | None], weights: Mapping[str, float]
) -> Composite | None:
    """Weighted mean of the criteria on 0–100; its interval treats the criteria as independent
    (variance = Σ wᵢ² · SEᵢ² / (Σ wᵢ)²), which is narrower than reality when ratings of the
    criteria correlate positively, as they usually do."""
    rated = {name: s for name, s in criteria.items() if s is not None and weights.get(name, 0) > 0}
    if not rated:
        return None
    total = sum(weights[name] for name in rated)
    score = sum(weights[name] * to_percent(s.mean) for name, s in rated.items()) / total
    variance = sum((weights[name] * 25.0 * s.sd) ** 2 / s.n for name, s in rated.items()) / (
        total**2
    )
    half = _Z975 * math.sqrt(variance)
    return Composite(score, max(0.0, score - half), min(100.0, score + half), len(rated))


def overlaps(a_low: float, a_high: float, b_low: float, b_high: float) -> bool:
    """Whether two intervals overlap (then a change between them is not clearly real)."""
    return a_low <= b_high and b_low <= a_high
