"""Face-to-face interviews (KoBoToolbox/ODK exports) stored as responses of the channel
"face_to_face": read the file, check each row against the survey, store it in its round.

Each submission is stored the way the bot stores a completed response (the same repositories,
so the audit tallies count it the same), under a pseudonym that is the keyed hash of its uuid:
importing the file again finds the pseudonym and adds nothing. Free text is masked before it is
stored (phone numbers, e-mail addresses, @handles), and no column outside the survey is kept.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from app.respond import answer_columns
from app.services import Services
from conversations.submissions import (
    PracticeChoice,
    Rejection,
    Submission,
    SubmissionError,
    answers_of,
    read_submissions,
)
from conversations.survey import AnswerValue, Survey, survey_from_dict
from storage.masking import mask_contacts
from storage.models import FACE_TO_FACE
from storage.models import Survey as SurveyRow
from storage.uow import UnitOfWork

PSEUDONYM_KIND = "f2f"  # pseudonym = HMAC(secret, "f2f:<uuid>"): never the uuid itself
MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass
class ImportReport:
    """What an import did."""

    imported: int = 0
    already: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    rounds: dict[int | None, int] = field(default_factory=dict)  # round id (None: none) → rows


def read_table(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """A CSV or XLSX export as its header and numbered rows of text (the header is row 1)."""
    if not path.is_file():
        raise SubmissionError(f"{path}: no such file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise SubmissionError(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MB")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return _xlsx_table(path)
    if path.suffix.lower() == ".csv":
        return _csv_table(path.read_bytes(), path)
    raise SubmissionError(f"{path}: expected a .csv or .xlsx export")


def _xlsx_table(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:
        raise SubmissionError(f"{path}: not a readable .xlsx file ({error})") from None
    try:
        sheet = book.worksheets[0]  # KoBo: the first sheet holds one row per submission
        rows = [[_cell(c) for c in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()
    if not rows:
        raise SubmissionError(f"{path}: the first sheet is empty")
    return rows[0], [(n, row) for n, row in enumerate(rows[1:], start=2)]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _csv_table(content: bytes, path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """KoBo writes UTF-8 with ';' or ','; Excel adds a byte order mark or writes UTF-16."""
    for encoding in ("utf-8-sig", "utf-16"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise SubmissionError(f"{path}: not UTF-8; export or save the file as CSV UTF-8")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            text[:20000], delimiters=",;\t"
        )
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text, newline=""), dialect))
    if not rows:
        raise SubmissionError(f"{path}: the file is empty")
    return rows[0], [(n, row) for n, row in enumerate(rows[1:], start=2)]


async def import_submissions(
    services: Services,
    survey_key: str,
    header: list[str],
    rows: list[tuple[int, list[str]]],
    *,
    practice: str | None = None,
    locale: str | None = None,
) -> ImportReport:
    """Check every row and store the ones that fit, in one transaction."""
    async with services.db.unit_of_work() as uow:
        latest = await uow.surveys.latest(survey_key)
        if latest is None:
            raise SubmissionError(f"unknown survey '{survey_key}'")
        practices = await _practices(uow)
        read = read_submissions(
            header,
            rows,
            survey_from_dict(latest.definition),
            practices,
            services.settings.tz,
            practice=practice,
            locale=locale,
        )
        report = ImportReport(rejected=read.rejected, ignored_columns=read.ignored_columns)
        for submission in read.submissions:
            await _store(services, uow, survey_key, latest.id, submission, report)
    report.rejected.sort(key=lambda r: r.row)
    return report


async def _practices(uow: UnitOfWork) -> list[PracticeChoice]:
    cities = {c.id: c.name for c in await uow.catalog.cities()}
    return [
        PracticeChoice(p.id, p.city_id, p.name, cities.get(p.city_id, {}))
        for p in await uow.catalog.practices()
    ]


async def _store(
    services: Services,
    uow: UnitOfWork,
    survey_key: str,
    latest_id: int,
    submission: Submission,
    report: ImportReport,
) -> None:
    pseudonym = services.pseudonyms.of(PSEUDONYM_KIND, submission.uuid)
    if await uow.respondents.get(pseudonym) is not None:
        report.already += 1
        return
    round_ = await uow.rounds.covering(submission.practice_id, submission.submitted_at)
    version = await uow.surveys.get(round_.survey_id if round_ else latest_id)
    assert version is not None
    if version.key != survey_key:
        report.rejected.append(
            Rejection(
                submission.row,
                f"round {round_.id if round_ else ''} of this practice uses the survey "
                f"'{version.key}', not '{survey_key}'",
            )
        )
        return
    survey = survey_from_dict(version.definition)
    try:
        answers = answers_of(survey, submission.cells)
    except SubmissionError as error:
        report.rejected.append(Rejection(submission.row, str(error)))
        return
    round_id = round_.id if round_ else None
    await _store_response(uow, pseudonym, submission, round_id, version, survey, answers)
    report.imported += 1
    report.rounds[round_id] = report.rounds.get(round_id, 0) + 1


async def _store_response(
    uow: UnitOfWork,
    pseudonym: str,
    submission: Submission,
    round_id: int | None,
    version: SurveyRow,
    survey: Survey,
    answers: dict[str, AnswerValue | None],
) -> None:
    """A completed response, written through the repositories the bot uses."""
    await uow.respondents.save(
        pseudonym,
        {"locale": submission.locale, "consent_at": submission.started_at},
        {"stage": "finished"},
    )
    response_id = await uow.responses.add(
        round_id=round_id,
        practice_id=submission.practice_id,
        pseudonym=pseudonym,
        survey_id=version.id,
        survey_version=version.version,
        locale=submission.locale,
        channel=FACE_TO_FACE,
        started_at=submission.started_at,
        current_question=None,
    )
    for question_id, value in answers.items():
        kind = survey.question(question_id).type
        if kind == "text" and isinstance(value, str):
            value = mask_contacts(value)
        await uow.responses.save_answer(response_id, question_id, answer_columns(kind, value))
    await uow.responses.update(
        response_id, status="completed", completed_at=submission.submitted_at
    )
