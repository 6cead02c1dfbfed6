"""Summary benchmark: the annual audit summary over N answers, against pandas on a CSV export.

    .venv/bin/python -m bench.summary [--answers 1000000]
    TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/wt5 .venv/bin/python -m bench.summary

Generates 20 cities × 10 practices × 2 rounds of realistic answers to the default survey into a
fresh SQLite file (and into PostgreSQL when TEST_DATABASE_URL is set: its `public` schema is
dropped and recreated first, as the tests do); the rows are bulk-inserted, past the repositories,
so the audit tallies are then recounted from them (`auditbot db recount`, untimed, as after
migrating a database that has answers). Then it times, best of 3:
- ours: `published_report()` (disclosure control: publish the cells that are due, then summarise
  the published versions) of the current year (Europe/Warsaw) over everything, in a child process
  (`python -m bench.summary --measure URL --round ID`) whose peak RSS is reported, so that data
  generation does not count; one round's summary is timed there too (informational). The child
  freezes its start-up heap (gc.freeze) as the bot's processes do, where reports are compiled;
- pandas: `pd.read_csv` of the raw answers exported once to CSV (not timed), plus the groupby a
  coordinator would write for the same figures (per city × practice × question: counts per value,
  n, mean, median, sd; completed responses per practice).

pandas is needed only by this benchmark, not by the project: `.venv/bin/pip install pandas`.
PostgreSQL gets VACUUM ANALYZE after loading (what autovacuum does to a table in steady state).
Last line (SQLite; a PostgreSQL line with the same figures comes before it):
summary: answers=N ours_s=X pandas_s=Y speedup=Z peak_rss_mb=M
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import uvloop
from sqlalchemy import insert, text

from app.config import LOCALES, Settings, load_settings
from app.rounds import create_round
from app.services import Services
from app.summaries import published_report, round_period
from audit.summary import year_period
from bot.startup import start_services
from storage.catalog import load_catalog
from storage.models import Answer, Respondent, Response
from tests.conftest import reset_postgresql

SECRET = "bench-summary-secret-0123456789abcdefghij"
CITIES = 20
PRACTICES = 10
CHUNK = 50_000  # answers per executemany
REPEAT = 3
CATEGORIES = ("friendly_space", "service_point", "info_integration")
LOCALE_WEIGHTS = (45, 25, 10, 20)  # uk, ru, en, pl
SCALES = ("city_role", "reliable", "fits_needs", "useful")
AREAS = ("documents", "work", "housing", "language", "children", "health", "info", "people")
COMMENTS = (
    "Більше годин роботи, будь ласка",
    "Нужно больше информации на русском языке",
    "Longer opening hours and an online booking system",
    "Więcej kursów języka polskiego wieczorami",
    "Дуже допомогли з документами, дякую! Мій номер +48 600 100 200",
    "Write to me: someone@example.com",
)
IN_PROGRESS = 0.03
ROUNDS = ((60, 28), (250, 28))  # (day of the year it opens, length in days)


def catalog_data() -> dict[str, Any]:
    """A catalog of CITIES generated cities with PRACTICES practices each (the YAML's shape)."""

    def names(label: str) -> dict[str, str]:
        return {lang: label for lang in LOCALES}

    return {
        "categories": [{"id": c, "name": None} for c in CATEGORIES],
        "cities": [
            {
                "id": f"bench-{c:02d}",
                "name": names(f"Bench city {c}"),
                "practices": [
                    {
                        "id": f"bench-{c:02d}-p{p:02d}",
                        "category": CATEGORIES[p % len(CATEGORIES)],
                        "name": names(f"Practice {p} of city {c}"),
                        "description": names("A generated practice for the benchmark."),
                    }
                    for p in range(PRACTICES)
                ],
            }
            for c in range(CITIES)
        ],
    }


def bench_settings(database_url: str) -> Settings:
    """Settings for the benchmark, independent of .env."""
    return load_settings(database_url=database_url, pseudonym_secret=SECRET, _env_file=None)


@dataclass
class Plan:
    """What the generator needs to know about the rounds and respondents."""

    survey_id: int
    survey_version: int
    rounds: list[tuple[int, str, datetime, datetime]]  # (round id, city, opens, closes)
    practices: dict[str, list[str]]  # city → practice ids
    pseudonyms: dict[str, list[tuple[str, str]]]  # city → (pseudonym, locale)
    quality: dict[str, float] = field(default_factory=dict)  # practice → mean rating


async def prepare(services: Services, answers: int, rng: random.Random) -> Plan:
    """Catalog, two rounds per city and the respondents (each lives in one city)."""
    data = catalog_data()
    zone = services.settings.tz
    year = datetime.now(zone).year
    async with services.db.unit_of_work() as uow:
        await load_catalog(uow, data)
        survey = await uow.surveys.latest("open-cities")
        assert survey is not None
        plan = Plan(survey.id, survey.version, [], {}, {})
        for city in data["cities"]:
            practices = [p["id"] for p in city["practices"]]
            plan.practices[city["id"]] = practices
            for day, length in ROUNDS:
                opens = datetime(year, 1, 1, 9, tzinfo=zone) + timedelta(days=day)
                closes = opens + timedelta(days=length)
                round_ = await create_round(
                    uow, "bench", city["id"], practices, survey.id, opens, closes
                )
                plan.rounds.append((round_.id, city["id"], opens, closes))
    plan.quality = {p: rng.uniform(2.3, 4.6) for ps in plan.practices.values() for p in ps}
    await add_respondents(services, plan, max(20, answers // 350), rng)
    return plan


async def add_respondents(
    services: Services, plan: Plan, per_city: int, rng: random.Random
) -> None:
    """`per_city` respondents in each city (about 2.5 responses each), in four languages."""
    rows = []
    for c, city in enumerate(plan.practices):
        people = []
        for n in range(per_city):
            locale = rng.choices(LOCALES, LOCALE_WEIGHTS)[0]
            people.append((services.pseudonyms.of("bench", c * per_city + n), locale))
        plan.pseudonyms[city] = people
        rows += [
            {"pseudonym": p, "locale": loc, "consent_at": plan.rounds[0][2]} for p, loc in people
        ]
    async with services.db.engine.begin() as connection:
        for start in range(0, len(rows), CHUNK):
            await connection.execute(insert(Respondent), rows[start : start + CHUNK])


def rating(rng: random.Random, quality: float) -> int:
    """A 1–5 rating around a practice's quality."""
    return min(5, max(1, round(rng.gauss(quality, 1.0))))


def survey_path(rng: random.Random, quality: float) -> list[tuple[str, dict[str, Any]]]:
    """The answers of one completed response, in the order asked, following show_if."""
    aware = "yes" if rng.random() < 0.85 else "no"
    path: list[tuple[str, dict[str, Any]]] = [("aware", {"value_option": aware})]
    if aware == "yes":
        used = rng.choices(("several", "once", "never"), (45, 30, 25))[0]
        path.append(("used", {"value_option": used}))
        for question in SCALES:
            if rng.random() < 0.08:
                path.append((question, {"value_option": "dont_know"}))
            else:
                path.append((question, {"value_number": rating(rng, quality)}))
        if used != "never":
            path.append(("help_areas", {"value_options": rng.sample(AREAS, rng.randint(1, 3))}))
    if rng.random() < 0.2:
        path.append(("comment", {"value_text": rng.choice(COMMENTS)}))
    else:
        path.append(("comment", {"skipped": True}))
    return path


def answer_row(response_id: int, question: str, values: dict[str, Any], at: datetime) -> dict:
    """One row of `answers` (every row has every column, as executemany needs)."""
    return {
        "response_id": response_id,
        "question_id": question,
        "value_number": values.get("value_number"),
        "value_option": values.get("value_option"),
        "value_options": values.get("value_options"),
        "value_text": values.get("value_text"),
        "skipped": values.get("skipped", False),
        "answered_at": at,
    }


def generate(plan: Plan, answers: int, rng: random.Random) -> Iterator[tuple[dict, list[dict]]]:
    """Responses with their answers until exactly `answers` answers exist."""
    left, response_id = answers, 0
    while left > 0:
        round_id, city, opens, closes = rng.choice(plan.rounds)
        practice = rng.choice(plan.practices[city])
        pseudonym, locale = rng.choice(plan.pseudonyms[city])
        path = survey_path(rng, plan.quality[practice])
        cut = len(path)
        if rng.random() < IN_PROGRESS and len(path) > 1:
            cut = rng.randint(1, len(path) - 1)
        cut = min(cut, left)
        response_id += 1
        started = opens + (closes - opens) * rng.random()
        done = cut == len(path)
        completed = started + timedelta(seconds=20 * cut + rng.randint(0, 120))
        response = {
            "id": response_id,
            "round_id": round_id,
            "practice_id": practice,
            "pseudonym": pseudonym,
            "survey_id": plan.survey_id,
            "survey_version": plan.survey_version,
            "locale": locale,
            "status": "completed" if done else "in_progress",
            "current_question": None if done else path[cut][0],
            "started_at": started,
            "completed_at": completed if done else None,
            "updated_at": completed,
        }
        rows = [
            answer_row(response_id, q, v, started + timedelta(seconds=20 * (i + 1)))
            for i, (q, v) in enumerate(path[:cut])
        ]
        left -= cut
        yield response, rows


async def insert_all(services: Services, plan: Plan, answers: int, rng: random.Random) -> int:
    """Bulk-insert responses and answers in chunks; return the number of answers."""
    responses: list[dict] = []
    rows: list[dict] = []
    total = 0

    async def flush() -> None:
        async with services.db.engine.begin() as connection:
            await connection.execute(insert(Response), responses)
            await connection.execute(insert(Answer), rows)
        responses.clear()
        rows.clear()

    for response, own in generate(plan, answers, rng):
        responses.append(response)
        rows += own
        total += len(own)
        if len(rows) >= CHUNK:
            await flush()
    if responses:
        await flush()
    return total


async def finish_postgresql(services: Services) -> None:
    """Move the responses' id sequence past the explicit ids; VACUUM ANALYZE like autovacuum."""
    async with services.db.engine.begin() as connection:
        await connection.execute(
            text("SELECT setval(pg_get_serial_sequence('responses', 'id'), max(id)) FROM responses")
        )
    async with services.db.engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("VACUUM ANALYZE"))


async def populate(database_url: str, answers: int, seed: int) -> tuple[int, int]:
    """Fill a fresh database; return (answers inserted, a second-round id to summarise)."""
    rng = random.Random(seed)
    services = await start_services(bench_settings(database_url))
    try:
        plan = await prepare(services, answers, rng)
        total = await insert_all(services, plan, answers, rng)
        async with services.db.unit_of_work() as uow:  # rows bulk-loaded behind the tallies' back
            await uow.tallies.recount(services.settings.tz)
        if not services.db.is_sqlite:
            await finish_postgresql(services)
    finally:
        await services.close()
    return total, plan.rounds[1][0]


def export_csv(sqlite_path: Path, out: Path) -> None:
    """The raw answers as a coordinator would get them: one row per answer."""
    query = """
        SELECT a.response_id, p.city_id, r.practice_id, r.round_id, r.status,
               a.question_id, a.value_number, a.value_option
        FROM answers a
        JOIN responses r ON r.id = a.response_id
        JOIN practices p ON p.id = r.practice_id
        ORDER BY a.id
    """
    header = ["response_id", "city", "practice", "round", "status"]
    header += ["question_id", "value_number", "value_option"]
    with sqlite3.connect(sqlite_path) as db, out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(db.execute(query))


def pandas_figures(path: Path) -> dict[str, Any]:
    """read_csv + groupby: the figures of our summary, the way a coordinator would get them."""
    import pandas as pd

    df = pd.read_csv(path)
    done = df[df["status"] == "completed"]
    keys = ["city", "practice", "question_id"]
    grouped = done.groupby(keys)
    return {
        "options": grouped["value_option"].value_counts(),
        "numbers": grouped["value_number"].value_counts(),
        "stats": grouped["value_number"].agg(["count", "mean", "median", "std"]),
        "completed": done.groupby(["city", "practice"])["response_id"].nunique(),
    }


def best_of(repeat: int, run: Callable[[], Any]) -> tuple[float, Any]:
    """The shortest wall time of `repeat` runs, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


async def measure(database_url: str, round_id: int) -> dict[str, Any]:
    """In the child: time the year's and one round's summaries; report the peak RSS."""
    settings = bench_settings(database_url)
    services = await start_services(settings)
    # Scheduled reports and /report are compiled in the bot's processes, which freeze what
    # start-up built (bot/telegram/app.py, `running`): full collections skip it there too.
    gc.freeze()
    year = datetime.now(settings.tz).year
    try:
        # The first report after loading publishes every cell (untimed here, as the recount:
        # a database gets there once); then each report checks what is due, and reads.
        started = time.perf_counter()
        await published_report(
            services.db, year_period(year, settings.tz), settings.min_group_size, settings.tz
        )
        publish_s = time.perf_counter() - started
        year_s, report = await timed_summary(services, lambda _uow: year_period(year, settings.tz))
        round_s, _ = await timed_summary(
            services, lambda uow: round_period(uow, round_id, settings.tz)
        )
    finally:
        await services.close()
    first = next(p for p in report.practices if p.practice_id.startswith("bench-"))
    overall = first.criteria.get("overall")
    return {
        "year_s": year_s,
        "publish_s": publish_s,
        "round_s": round_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "k": settings.min_group_size,
        "completed": sum(p.completed or 0 for p in report.practices),
        "practices": sum(1 for p in report.practices if not p.suppressed),
        "comments": len(report.comments),
        "check_practice": first.practice_id,
        "check_mean": overall.mean if overall else None,
    }


async def timed_summary(services: Services, period_of: Callable[[Any], Any]) -> tuple[float, Any]:
    """Best of REPEAT wall times of published_report() (what every report calls: publish what
    is due, then summarise the published versions)."""
    best, report = float("inf"), None
    settings = services.settings
    for _ in range(REPEAT):
        async with services.db.unit_of_work() as uow:
            period = period_of(uow)
            if asyncio.iscoroutine(period):
                period = await period
        started = time.perf_counter()
        report = await published_report(services.db, period, settings.min_group_size, settings.tz)
        best = min(best, time.perf_counter() - started)
    return best, report


def measure_in_child(database_url: str, round_id: int) -> dict[str, Any]:
    """Run `measure` in its own process so that its peak RSS excludes data generation.

    Linux carries ru_maxrss across exec: a child exec'd straight from this (large) process would
    report our peak. /bin/sh forks the child instead, which starts its maximum afresh."""
    command = [sys.executable, "-m", "bench.summary", "--measure", database_url]
    command += ["--round", str(round_id)]
    wrapped = ["/bin/sh", "-c", '"$@"; exit $?', "sh", *command]
    done = subprocess.run(wrapped, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_database(label: str, url: str, args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    """Populate one database and measure our summary on it."""
    started = time.perf_counter()
    total, round_id = asyncio.run(populate(url, args.answers, args.seed))
    print(
        f"[{label}] generated {total} answers in {time.perf_counter() - started:.1f} s", flush=True
    )
    result = measure_in_child(url, round_id)
    print(
        f"[{label}] first report (publishes every cell) {result['publish_s']:.3f} s; "
        f"round summary: round={round_id} ours_s={result['round_s']:.3f}; "
        f"year: practices published={result['practices']} completed={result['completed']} "
        f"comments={result['comments']}",
        flush=True,
    )
    return total, result


def line(prefix: str, total: int, ours: float, pandas_s: float, rss: float) -> str:
    """The result line."""
    return (
        f"{prefix}: answers={total} ours_s={ours:.3f} pandas_s={pandas_s:.3f} "
        f"speedup={pandas_s / ours:.1f} peak_rss_mb={rss:.0f}"
    )


def check(result: dict[str, Any], figures: dict[str, Any]) -> str:
    """Whether pandas and our summary agree on completed responses (of the groups we publish)
    and on one practice's mean overall rating."""
    published = figures["completed"][figures["completed"] >= result["k"]]
    practice, ours = result["check_practice"], result["check_mean"]
    stats = figures["stats"]
    key = (practice.rsplit("-", 1)[0], practice, "useful")
    theirs = stats.loc[key, "mean"] if key in stats.index else None
    means = f"ours={ours:.4f} pandas={theirs:.4f}" if ours and theirs else "suppressed"
    return (
        f"check: completed ours={result['completed']} pandas={int(published.sum())}; "
        f"{practice} overall mean {means}"
    )


def main() -> None:
    """Generate, export, time pandas, time ours on SQLite (and PostgreSQL), print the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--measure", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    parser.add_argument("--round", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        # on uvloop, like the bot's processes (bot/cli.py), where reports are compiled
        print(json.dumps(uvloop.run(measure(args.measure, args.round))))
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.sqlite3"
        total, ours = bench_database("sqlite", f"sqlite+aiosqlite:///{path}", args)
        export = Path(folder) / "answers.csv"
        export_csv(path, export)
        pandas_s, figures = best_of(REPEAT, lambda: pandas_figures(export))
        size = export.stat().st_size / 2**20
        print(f"[pandas] {size:.0f} MB CSV; read_csv + groupby best of {REPEAT}: {pandas_s:.3f} s")
        print(check(ours, figures))
        if os.environ.get("TEST_DATABASE_URL"):
            url = bench_settings(os.environ["TEST_DATABASE_URL"]).database_url
            asyncio.run(reset_postgresql(url))
            pg_total, pg = bench_database("postgresql", url, args)
            print(check(pg, figures))
            print(line("summary[postgresql]", pg_total, pg["year_s"], pandas_s, pg["peak_rss_mb"]))
    print(line("summary", total, ours["year_s"], pandas_s, ours["peak_rss_mb"]), flush=True)


if __name__ == "__main__":
    main()
