"""Disclosure control (issue 12): no report, at any time or in any scope, gives away fewer than
k people — the three differencing attacks of the issue, played through the real report code
(the CLI's, /report's and the dashboard's `build`), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select

from audit.disclosure import (
    Cell,
    Version,
    answer_id_of,
    combine,
    decide,
    next_figures,
    public_id,
    shown,
    suppress_complement,
)
from audit.summary import COMMENT_KEY, Period, city_period, round_period, year_period
from bot.reports import build
from bot.rounds import close_round
from bot.services import Services
from storage.models import Answer, MaskedComment, utcnow
from tests.conftest import SECRET
from tests.test_audit import A, add_response, make_round, person

K = 5


async def report(services: Services, period: Period) -> dict[str, Any]:
    """The JSON report of a period, as a coordinator downloads it."""
    _name, content = await build(services, period, "json", "en")
    document: dict[str, Any] = json.loads(content)
    return document


async def round_report(services: Services, round_id: int) -> dict[str, Any]:
    async with services.db.reading() as uow:
        period = await round_period(uow, round_id, services.settings.tz)
    return await report(services, period)


def figures(document: dict[str, Any], practice_id: str = A) -> dict[str, Any]:
    """Every published count of a practice in a report."""
    practice = next(p for p in document["practices"] if p["practice_id"] == practice_id)
    criteria = {
        name: None if stats is None else (stats["distribution"], stats["dont_know"])
        for name, stats in practice["criteria"].items()
    }
    keys = ("suppressed", "started", "completed", "awareness", "usage", "languages")
    return {**{key: practice[key] for key in keys}, "criteria": criteria}


def comment_texts(document: dict[str, Any]) -> list[str]:
    return sorted(c["text"] for c in document["comments"])


async def close(services: Services, round_id: int) -> None:
    async with services.db.unit_of_work() as uow:
        round_ = await uow.rounds.get(round_id)
        assert round_ is not None
        await close_round(uow, round_, "test", utcnow(), K)


async def forget(services: Services, who: str) -> None:
    """What /delete does to a respondent's data (bot/flow.py)."""
    async with services.db.unit_of_work() as uow:
        await uow.respondents.forget(services.pseudonyms.of("fixture", who))


def cli_report(services: Services, tmp_path: Path, *scope: str) -> dict[str, Any]:
    """`auditbot report … --format json`, run as an operator runs it."""
    out = tmp_path / "report.json"
    env = {
        **os.environ,
        "DATABASE_URL": services.settings.database_url,
        "PSEUDONYM_SECRET": SECRET,
        "BOT_TOKEN": "",
    }
    command = [sys.executable, "-m", "bot", "report", *scope, "--format", "json", "--out"]
    result = subprocess.run(
        [*command, str(out)], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return document


async def test_a_wider_scope_minus_a_round_gives_away_no_one(
    services: Services, tmp_path: Path
) -> None:
    """Round 1: five people rate 4, closed. Round 2: one person rates 1 and comments. The year
    (and the city) minus round 1 must be nothing, and the lone comment must be nowhere."""
    first, second = await make_round(services, 25), await make_round(services, 12)
    for n in range(5):
        await add_response(services, f"four-{n}", A, first, person("yes", "once", (4, 4, 4, 4)))
    await close(services, first)
    lone = person("no", None, (1, 1, 1, 1), "Only I said this")
    await add_response(services, "lone", A, second, lone)

    async with services.db.reading() as uow:
        round_ = await uow.rounds.get(first)
        assert round_ is not None
    year = round_.opens_at.astimezone(services.settings.tz).year
    by_round = cli_report(services, tmp_path, "--round", str(first))
    by_year = cli_report(services, tmp_path, "--year", str(year))
    by_city = cli_report(services, tmp_path, "--city", "krakow")
    assert figures(by_round)["completed"] == 5
    assert figures(by_year) == figures(by_round)  # nothing of round 2 to subtract
    assert figures(by_city) == figures(by_round)
    second_report = await round_report(services, second)
    assert figures(second_report)["suppressed"] is True
    for document in (by_round, by_year, by_city, second_report):
        assert "Only I said this" not in json.dumps(document, ensure_ascii=False)
    annual = await report(services, year_period(year, services.settings.tz, ["krakow"]))
    assert figures(annual) == figures(by_round)


async def test_one_more_respondent_changes_no_download(services: Services) -> None:
    """An open round's JSON at n = 5; one more person completes; the second download must not
    differ by that person (figures, languages, comments)."""
    round_id = await make_round(services, 3)
    for n in range(5):
        answers = person("yes", "once", (4, 4, 3, 5), f"Comment number {n}")
        await add_response(services, f"p{n}", A, round_id, answers)
    before = await round_report(services, round_id)
    newcomer = person("no", "never", (1, 2, 1, 1), "The newcomer's words")
    await add_response(services, "newcomer", A, round_id, newcomer, locale="ru")
    after = await round_report(services, round_id)
    assert figures(before)["completed"] == 5
    assert figures(after) == figures(before)
    assert comment_texts(after) == comment_texts(before)
    assert "The newcomer's words" not in json.dumps(after, ensure_ascii=False)
    assert before["interim"] is True and before["published_on"] is not None

    # Four more (k in all since the version): a new version, with the newcomer's comment.
    for n in range(4):
        answers = person("yes", "once", (5, 5, 5, 5), f"Later {n}")
        await add_response(services, f"later{n}", A, round_id, answers)
    later = await round_report(services, round_id)
    assert figures(later)["completed"] == 10
    assert "The newcomer's words" in comment_texts(later)


async def test_comment_ids_are_not_answer_ids_and_tell_no_order(services: Services) -> None:
    round_id = await make_round(services, 3)
    for n in range(6):
        await add_response(
            services, f"p{n}", A, round_id, person("yes", "once", (4, 4, 4, 4), f"Text {n}")
        )
    document = await round_report(services, round_id)
    async with services.db.reading() as uow:
        answer_ids = set((await uow.session.scalars(select(Answer.id))).all())
    shown_ids = [c["id"] for c in document["comments"]]
    assert len(shown_ids) == 6 and not set(shown_ids) & answer_ids
    assert shown_ids == sorted(shown_ids)  # listed by public id …
    written = [int(c["text"].split()[-1]) for c in document["comments"]]
    assert written != sorted(written)  # … which is not the order they were written in


async def test_public_ids_are_stored_at_publication_and_survive_a_recount(
    services: Services,
) -> None:
    """Reports read the ids stored when a version was published; where none is stored (after
    a recount rebuilt the comments) they compute the same ids."""
    round_id = await make_round(services, 3)
    for n in range(6):
        await add_response(
            services, f"p{n}", A, round_id, person("yes", "once", (4, 4, 4, 4), f"Text {n}")
        )
    before = await round_report(services, round_id)
    async with services.db.reading() as uow:
        key = bytes.fromhex(await uow.settings.get(COMMENT_KEY) or "")
        stored = (
            await uow.session.execute(select(MaskedComment.answer_id, MaskedComment.public_id))
        ).all()
    assert len(stored) == 6
    assert all(public == public_id(answer, key) for answer, public in stored)
    assert sorted(c["id"] for c in before["comments"]) == sorted(p for _a, p in stored)
    async with services.db.unit_of_work() as uow:
        await uow.tallies.recount(services.settings.tz)
        assert (await uow.session.scalars(select(MaskedComment.public_id))).all() == [None] * 6
    after = await round_report(services, round_id)
    assert [(c["id"], c["text"]) for c in after["comments"]] == [
        (c["id"], c["text"]) for c in before["comments"]
    ]


async def test_a_deletion_changes_no_figure_and_a_closed_round_is_frozen(
    services: Services,
) -> None:
    """Six people; one sends /delete: the report before and after must not differ by that
    person (their comment goes: it is erased). After the close, a /delete changes nothing."""
    round_id = await make_round(services, 3)
    for n in range(6):
        ratings = (1, 1, 1, 1) if n == 0 else (4, 4, 4, 4)
        await add_response(
            services, f"p{n}", A, round_id, person("yes", "once", ratings, f"Said by {n}")
        )
    before = await round_report(services, round_id)
    await forget(services, "p0")
    after = await round_report(services, round_id)
    assert figures(before)["completed"] == 6
    assert figures(after) == figures(before)
    assert "Said by 0" in comment_texts(before) and "Said by 0" not in comment_texts(after)

    await close(services, round_id)
    final = await round_report(services, round_id)
    assert final["interim"] is False and figures(final) == figures(before)
    for who in ("p1", "p2", "p3", "p4", "p5"):  # even all of them: the final figures stay
        await forget(services, who)
    frozen = await round_report(services, round_id)
    assert figures(frozen) == figures(before)
    assert frozen["comments"] == []  # erased people's comments are gone even from it
    city = await report(services, city_period("krakow"))
    assert figures(city) == figures(before)


# --- the rule itself, on plain data ------------------------------------------------------


def test_languages_hidden_until_the_hidden_ones_are_k_or_none() -> None:
    assert suppress_complement({"uk": 5, "ru": 1}, K) == {"uk": None, "ru": None}
    assert suppress_complement({"uk": 9, "ru": 3, "pl": 2}, K) == {"uk": 9, "ru": None, "pl": None}
    assert suppress_complement({"uk": 6, "ru": 6}, K) == {"uk": 6, "ru": 6}
    assert suppress_complement({"uk": 6, "ru": 5, "pl": 1}, K) == {"uk": 6, "ru": None, "pl": None}


def test_a_measure_never_moves_by_fewer_than_k_against_any_earlier_version() -> None:
    v1 = {"completed": {"n": 5}, "criterion:overall": {"4": 5}}
    v2 = {"completed": {"n": 11}, "criterion:overall": {"4": 11}}
    live = {"completed": {"n": 6}, "criterion:overall": {"4": 6}}  # 6 from v2, 1 from v1
    assert next_figures(live, [v1, v2], K) == v2
    assert next_figures({"completed": {"n": 16}}, [v1, v2], K)["completed"] == {"n": 16}


def test_a_thin_criterion_shows_nothing_and_a_wider_scope_adds_published_cells_only() -> None:
    cell = {"completed": {"n": 6}, "criterion:overall": {"4": 3, "dont_know": 3}}
    assert shown(cell, K) == {"completed": {"n": 6}}
    assert shown({"completed": {"n": 4}}, K) is None
    total = combine([{"completed": {"n": 6}}, {"completed": {"n": 5}}])
    assert total == {"completed": {"n": 11}}


def test_a_final_version_is_never_replaced() -> None:
    cell = Cell(A, 1, "")
    final = Version(cell, 1, True, {"completed": {"n": 5}}, (), utcnow())
    assert decide({"completed": {"n": 50}}, [], [final], K, closing=False) is None
    first = decide({"completed": {"n": 4}}, [1], [], K, closing=False)
    assert first is None  # fewer than k: no version yet


def test_public_comment_ids_are_a_keyed_permutation() -> None:
    key = b"k" * 32
    ids = [public_id(n, key) for n in range(1, 2000)]
    assert len(set(ids)) == len(ids)
    assert all(answer_id_of(p, key) == n for n, p in enumerate(ids, start=1))
    assert ids != sorted(ids)
    assert public_id(7, b"another key") != public_id(7, key)
