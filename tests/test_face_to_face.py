"""Face-to-face interviews from a KoBo export: 20 submissions land in the right rounds as
responses of the channel face_to_face, counted in the tallies and the report like the bot's;
nothing outside the survey is kept; a second import adds nothing; misfits are rejected by row."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from app.face_to_face import import_submissions, read_table
from app.rounds import create_round
from app.services import Services
from app.summaries import published_report, round_period
from storage.models import Answer, Response, Round, utcnow
from storage.reporting import Scope
from tests.test_audit import A, B
from tests.test_cli import auditbot
from tests.test_tallies import assert_tallies_match

HEADER = [
    "start",
    "end",
    "today",
    "practice",
    "language",
    "respondent_name",
    "phone",
    "aware",
    "used",
    "ratings/city_role",
    "ratings/reliable",
    "ratings/fits_needs",
    "ratings/useful",
    "help_areas",
    "help_areas/work",
    "help_areas/housing",
    "comment",
    "_id",
    "_uuid",
    "_submission_time",
    "_validation_status",
    "_index",
]


async def two_rounds(services: Services) -> tuple[int, int]:
    """Round 1 ran 40 to 30 days ago; round 2 opened 10 days ago and is open for 5 more."""
    now = utcnow()
    async with services.db.unit_of_work() as uow:
        survey = await uow.surveys.latest("open-cities")
        assert survey is not None
        first = await create_round(
            uow,
            "test",
            "krakow",
            [A, B],
            survey.id,
            now - timedelta(days=40),
            now - timedelta(days=30),
        )
        second = await create_round(
            uow,
            "test",
            "krakow",
            [A, B],
            survey.id,
            now - timedelta(days=10),
            now + timedelta(days=5),
        )
    return first.id, second.id


def kobo_rows() -> list[list[str]]:
    """20 interviews (12 in round 1 about A, 6 in round 2 about A and B, 2 outside any round),
    written as KoBo writes them: labels or names, UTC submission times, extra columns."""
    now = utcnow()
    rows = []
    for n in range(20):
        days = 35 if n < 12 else 5 if n < 18 else 20
        moment = now - timedelta(days=days, minutes=n)
        practice = A if n < 15 else "Punkt Informacyjny dla Cudzoziemców" if n < 18 else A
        aware = "yes" if n % 5 else "Nie"
        used = ("several", "Один раз", "never")[n % 3] if aware == "yes" else ""
        rating = (
            [str(1 + n % 5), "4", "dont_know" if n % 4 == 0 else "3", "5"]
            if aware == "yes"
            else [""] * 4
        )
        helped = "work housing" if used in ("several", "Один раз") else ""
        rows.append(
            [
                (moment - timedelta(minutes=9)).isoformat(),
                moment.isoformat(),
                moment.date().isoformat(),
                practice,
                ("uk", "Русский", "pl", "en")[n % 4],
                f"Olena Kovalenko {n}",
                f"+48 600 100 {n:03d}",
                aware,
                used,
                *rating,
                helped,
                "1" if helped else "0",
                "1" if helped else "0",
                f"Call me at +48 600 200 {n:03d}" if n % 2 else "",
                str(1000 + n),
                f"5a1b2c3d-0000-4000-8000-{n:012d}",
                moment.strftime("%Y-%m-%dT%H:%M:%S"),  # KoBo: UTC without a zone
                "",
                str(n + 1),
            ]
        )
    return rows


BAD_ROWS = [
    # a rating of 7, and a "used" answer although aware is "no" (the form would not ask it)
    [
        "",
        "",
        "",
        A,
        "uk",
        "",
        "",
        "yes",
        "once",
        "7",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "9998",
        "bad-1",
        "2026-01-01T10:00:00",
        "",
        "21",
    ],
    [
        "",
        "",
        "",
        A,
        "uk",
        "",
        "",
        "no",
        "once",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "9999",
        "bad-2",
        "2026-01-01T10:00:00",
        "",
        "22",
    ],
]


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";").writerows([HEADER, *rows])
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


async def test_twenty_kobo_submissions_land_in_their_rounds_and_in_the_report(
    services: Services, tmp_path: Path
) -> None:
    first, second = await two_rounds(services)
    export = write_csv(tmp_path / "kobo.csv", [*kobo_rows(), *BAD_ROWS])
    header, rows = read_table(export)
    report = await import_submissions(services, "open-cities", header, rows)
    assert report.imported == 20 and report.already == 0
    assert report.rounds == {first: 12, second: 6, None: 2}
    assert [(r.row, r.reason) for r in report.rejected] == [
        (22, "'city_role': '7' is not a rating from 1 to 5"),
        (23, "'used' is answered, but its conditions say it is not asked"),
    ]
    assert "respondent_name" in report.ignored_columns and "phone" in report.ignored_columns

    async with services.db.unit_of_work() as uow:
        responses = (await uow.session.scalars(select(Response))).all()
        answers = (await uow.session.scalars(select(Answer))).all()
    assert len(responses) == 20
    assert {r.channel for r in responses} == {"face_to_face"}
    assert {r.status for r in responses} == {"completed"}
    assert sum(r.practice_id == B for r in responses) == 3
    stored = " ".join(str(a.value_text) for a in answers) + " ".join(r.pseudonym for r in responses)
    assert "Olena" not in stored and "600 100" not in stored and "5a1b2c3d" not in stored
    comments = [a.value_text for a in answers if a.question_id == "comment" and a.value_text]
    assert comments and all("[phone]" in c and "600 200" not in c for c in comments)
    by_question = {(a.response_id, a.question_id): a for a in answers}
    unaware = [r for r in responses if by_question[(r.id, "aware")].value_option == "no"]
    assert unaware and all((r.id, "used") not in by_question for r in unaware)

    again = await import_submissions(services, "open-cities", header, rows)
    assert (again.imported, again.already) == (0, 20)

    async with services.db.reading() as uow:
        period = await round_period(uow, first, services.settings.tz)
    summary = await published_report(services.db, period, 5, services.settings.tz)
    practice_a = next(p for p in summary.practices if p.practice_id == A)
    assert practice_a.completed == 12 and practice_a.awareness is not None
    assert await assert_tallies_match(services, first) > 0


async def test_reports_split_by_channel(services: Services, tmp_path: Path) -> None:
    first, _second = await two_rounds(services)
    header, rows = read_table(write_csv(tmp_path / "kobo.csv", kobo_rows()))
    await import_submissions(services, "open-cities", header, rows)
    async with services.db.reading() as uow:
        round_ = await uow.session.get(Round, first)
        assert round_ is not None
        face = await uow.audit.response_counts(Scope(round_ids=(first,), channel="face_to_face"))
        bot = await uow.audit.response_counts(Scope(round_ids=(first,), channel="telegram"))
    assert sum(n for *_k, n in face) == 12 and bot == []


async def test_the_command_imports_an_xlsx_export_and_names_each_rejected_row(
    services: Services, tmp_path: Path
) -> None:
    from openpyxl import Workbook

    await two_rounds(services)
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in [*kobo_rows()[:5], BAD_ROWS[0]]:
        sheet.append(row)
    export = tmp_path / "kobo.xlsx"
    book.save(export)
    done = auditbot(
        services.settings, "responses", "import", "--survey", "open-cities", str(export)
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == f"{export}: row 7: 'city_role': '7' is not a rating from 1 to 5"
    assert "imported 5 (5 in round 1), already imported 0, rejected 1" in done.stdout
    missing = auditbot(services.settings, "responses", "import", "--survey", "nope", str(export))
    assert missing.returncode == 2 and missing.stderr.strip() == "unknown survey 'nope'"
    report = tmp_path / "f2f.json"
    made = auditbot(
        services.settings,
        "report",
        "--round",
        "1",
        "--format",
        "json",
        "--channel",
        "face_to_face",
        "--out",
        str(report),
    )
    assert made.returncode == 0, made.stderr
    assert '"channel": "face_to_face"' in report.read_text(encoding="utf-8")
