"""Disclosure control: the one rule every published figure and comment passes through.

Plain data in, plain data out. The unit of publication is a cell: a round × practice, or, for
answers given outside a round, a calendar month × practice. A cell's figures are kept as
measures, each a small vector of counts ("completed": {"n": 12}, "criterion:overall":
{"1": 0, …, "5": 7, "dont_know": 1}, "languages": {"uk": 8, "ru": 4}, …).

The rule:
1. A cell is published in versions. A new version is considered only after k completed
   responses were added to it or removed from it since the latest version (the caller counts
   them), and each measure of the new version takes the live counts only when they differ from
   every earlier version of that measure by nothing or by at least k (sum of absolute
   differences); otherwise it keeps the latest version's counts. So no two versions a reader
   can download ever differ by the answers of 1 to k−1 people. A closed round's version is
   final and never changes again.
2. A cell with fewer than k completed responses shows "< k" and contributes nothing anywhere;
   so does a criterion, an awareness or usage share, or a language with fewer than k answers in
   a published cell (complementary suppression: when the hidden languages of a cell add up to
   1…k−1, the smallest shown ones are hidden too, so that the total minus the shown languages
   never gives fewer than k people).
3. A wider scope (a year, a city, all rounds) is the sum of the shown figures of its published
   cells only, so the difference between two scopes is itself a sum of published cells.
4. Comments come only from published cells and only those counted in the version shown, under
   public ids that are a keyed permutation of the answer ids, in the order of those ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from storage.cells import Decision, Figures, Measure, Version

COMPLETED = "completed"
STARTED = "started"
LANGUAGES = "languages"
CRITERION = "criterion:"
DONT_KNOW = "dont_know"


def completed(figures: Figures) -> int:
    """The completed responses a version counts."""
    return int(figures.get(COMPLETED, {}).get("n", 0))


def distance(a: Measure, b: Measure) -> int:
    """How many answers two versions of a measure differ by (sum of absolute differences)."""
    return sum(abs(a.get(key, 0) - b.get(key, 0)) for key in set(a) | set(b))


def moves(live: Measure, history: Sequence[Figures], name: str, k: int) -> bool:
    """Whether a measure may take its live counts: it differs from every earlier version of it
    by nothing or by at least k answers."""
    steps = (distance(live, old.get(name, {})) for old in history)
    return all(step == 0 or step >= k for step in steps)


def next_figures(live: Figures, history: Sequence[Figures], k: int) -> dict[str, dict[str, int]]:
    """The figures of a new version: each measure live when it moves in a step of k or more from
    every earlier version, else as in the latest version (none yet: live)."""
    if not history:
        return {name: dict(measure) for name, measure in live.items()}
    latest = history[-1]
    result: dict[str, dict[str, int]] = {}
    for name in sorted(set(live) | set(latest)):
        measure = live.get(name, {})
        chosen = measure if moves(measure, history, name, k) else latest.get(name, {})
        if chosen:
            result[name] = dict(chosen)
    return result


def decide(
    live: Figures,
    live_comments: Iterable[int],
    history: Sequence[Version],
    k: int,
    *,
    closing: bool,
) -> Decision | None:
    """Whether a cell whose counts moved (or whose round closed) gets a new version, and which.

    The caller asks only after k completed responses were added or removed since the latest
    version, or when the cell's round is closed; a cell's first version needs k responses.
    Its comments are the live ones when its completed count moved, else the latest version's."""
    if history and history[-1].final:
        return None
    if not history:
        if completed(live) < k and not closing:
            return None
        return Decision(next_figures(live, [], k), tuple(sorted(live_comments)), closing)
    figures = next_figures(live, [v.figures for v in history], k)
    latest = history[-1]
    if completed(figures) != completed(latest.figures):
        comments = tuple(sorted(live_comments))
    else:
        comments = latest.comment_ids
    if figures == latest.figures and comments == latest.comment_ids and not closing:
        return None
    return Decision(figures, comments, closing)


def shown(figures: Figures, k: int) -> dict[str, dict[str, int | None]] | None:
    """What a published cell shows: None below k completed responses; measures with fewer than
    k answers left out; languages with complementary suppression (None: "< k")."""
    if completed(figures) < k:
        return None
    result: dict[str, dict[str, int | None]] = {}
    for name, measure in figures.items():
        if name == LANGUAGES:
            result[name] = suppress_complement(measure, k)
        elif name in (COMPLETED, STARTED) or answered(name, measure) >= k:
            result[name] = dict(measure)
    return result


def answered(name: str, measure: Measure) -> int:
    """How many answers a measure's figure rests on (ratings only, for a criterion)."""
    if name.startswith(CRITERION):
        return sum(n for key, n in measure.items() if key != DONT_KNOW)
    return sum(measure.values())


def suppress_complement(counts: Measure, k: int) -> dict[str, int | None]:
    """Counts with those below k hidden, and more hidden (smallest first) until the hidden
    ones add up to nothing or to at least k: the total minus the shown never isolates anyone."""
    result: dict[str, int | None] = {key: (n if n >= k else None) for key, n in counts.items()}
    hidden = sum(counts[key] for key, n in result.items() if n is None)
    for key in sorted((key for key, n in result.items() if n is not None), key=counts.__getitem__):
        if hidden == 0 or hidden >= k:
            break
        result[key] = None
        hidden += counts[key]
    return result


def combine(
    cells: Iterable[Mapping[str, Mapping[str, int | None]]],
) -> dict[str, dict[str, int | None]]:
    """The figures of a wider scope: the sum of its published cells' shown figures (a part shown
    as "< k" adds nothing; a key shown nowhere stays "< k")."""
    total: dict[str, dict[str, int | None]] = {}
    for figures in cells:
        for name, measure in figures.items():
            into = total.setdefault(name, {})
            for key, n in measure.items():
                before = into.get(key)
                into[key] = n if before is None else before + (n or 0)
    return total


# --- comments ---------------------------------------------------------------------------

_ID_BITS = 36  # answer ids stay far below 2**36; public ids have at most 11 digits
_HALF = _ID_BITS // 2
_MASK = (1 << _HALF) - 1
_ROUNDS = 3  # three Feistel rounds make a pseudorandom permutation (Luby–Rackoff)


@lru_cache(maxsize=4)
def _keyed(key: bytes) -> Any:
    """BLAKE2b with the key already absorbed (a keyed BLAKE2b is a MAC): copied per use."""
    return hashlib.blake2b(key=key[:64], digest_size=4)


def _round_value(key: bytes, step: int, half: int) -> int:
    """The Feistel round function: the keyed hash of the round number and the half."""
    mac = _keyed(key).copy()
    mac.update(bytes((step,)) + half.to_bytes(4, "big"))
    return int.from_bytes(mac.digest(), "big") & _MASK


def public_id(answer_id: int, key: bytes) -> int:
    """A comment's public id: a keyed permutation of its answer id (a Feistel network), so the
    ids tell neither the order nor the time in which comments were given."""
    if not 0 <= answer_id < (1 << _ID_BITS):
        raise ValueError(f"answer id {answer_id} is beyond the public ids' {_ID_BITS} bits")
    left, right = answer_id >> _HALF, answer_id & _MASK
    for step in range(_ROUNDS):
        left, right = right, left ^ _round_value(key, step, right)
    return (left << _HALF) | right


def answer_id_of(public: int, key: bytes) -> int | None:
    """The answer id behind a public id (None: not a public id)."""
    if not 0 <= public < (1 << _ID_BITS):
        return None
    left, right = (public >> _HALF) & _MASK, public & _MASK
    for step in reversed(range(_ROUNDS)):
        left, right = right ^ _round_value(key, step, left), left
    return (left << _HALF) | right
