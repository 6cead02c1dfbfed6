"""Face-to-face answers from KoBoToolbox/ODK exports: one row per submission → our answers.

Plain data in, plain data out: the caller reads the CSV or XLSX file, finds each submission's
round, and stores what `read_submissions` and `answers_of` accept. A column that is no question
of the survey (a name, a phone number, KoBo's own bookkeeping) is never read into an answer.

KoBo's naming: headers are question names, with group prefixes ("group_x/age") and, for select
multiple, extra 0/1 columns per choice ("help/work"); values are choice names or labels, and
several choices are separated by spaces. `_uuid` (or `meta/instanceID`) identifies a submission
and `_submission_time` is when the server received it (UTC).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from conversations.survey import (
    DONT_KNOW,
    LANGUAGES,
    NO,
    SCALE,
    YES,
    AnswerValue,
    Question,
    Survey,
    is_visible,
    read_number,
    within_bounds,
)
from conversations.xlsform import CITY, LANGUAGE, LANGUAGE_NAMES, PRACTICE

UUID_COLUMNS = ("_uuid", "meta/instanceid", "instanceid")
TIME_COLUMNS = ("_submission_time", "end", "start", "today")
_YES_WORDS = {"yes", "true", "1", "так", "да", "tak"}
_NO_WORDS = {"no", "false", "0", "ні", "нет", "nie"}
_DONT_KNOW_WORDS = {"dont_know", "don't know", "i don't know", "не знаю", "nie wiem", "я не знаю"}


@dataclass(frozen=True)
class PracticeChoice:
    """A practice of the catalog, as a submission may name it."""

    id: str
    city_id: str
    names: Mapping[str, str]
    city_names: Mapping[str, str]


@dataclass(frozen=True)
class Submission:
    """One accepted row: who (a uuid, kept only as a keyed hash), when, about what, in which
    language, and the raw cells of the survey's questions by question id."""

    row: int
    uuid: str
    submitted_at: datetime
    started_at: datetime
    practice_id: str
    locale: str
    cells: Mapping[str, str]


@dataclass(frozen=True)
class Rejection:
    """A row that does not fit, with its number (the header is row 1) and why."""

    row: int
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}"


@dataclass
class ReadResult:
    """Rows that can be stored, rows that cannot, and the columns that were not read."""

    submissions: list[Submission] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)


class SubmissionError(ValueError):
    """A file that cannot be read as submissions at all (one plain line)."""


def read_submissions(
    header: Sequence[str],
    rows: Sequence[tuple[int, Sequence[str]]],
    survey: Survey,
    practices: Sequence[PracticeChoice],
    zone: tzinfo,
    *,
    practice: str | None = None,
    locale: str | None = None,
) -> ReadResult:
    """Each row's identity, time, practice, language and the cells of the survey's questions."""
    columns = _columns(header, survey)
    if not any(kind == "uuid" for kind, _name in columns.values()):
        raise SubmissionError(
            "no _uuid or meta/instanceID column: submissions cannot be told apart"
        )
    if not any(kind == "time" for kind, _name in columns.values()):
        raise SubmissionError("no _submission_time, end or start column: the dates are unknown")
    if practice is None and not any(v == ("field", PRACTICE) for v in columns.values()):
        raise SubmissionError("no 'practice' column; give the practice with --practice")
    if locale is None and not any(v == ("field", LANGUAGE) for v in columns.values()):
        raise SubmissionError("no 'language' column; give the language with --lang")
    result = ReadResult(ignored_columns=[h for i, h in enumerate(header) if i not in columns])
    for number, cells in rows:
        values: dict[tuple[str, str], str] = {}
        for index, (kind, name) in columns.items():
            cell = cells[index].strip() if index < len(cells) and cells[index] else ""
            if cell and (kind, name) not in values:
                values[(kind, name)] = cell
        if not values:
            continue  # an empty line
        try:
            result.submissions.append(
                _submission(number, values, practices, zone, practice, locale)
            )
        except SubmissionError as error:
            result.rejected.append(Rejection(number, str(error)))
    return result


def _columns(header: Sequence[str], survey: Survey) -> dict[int, tuple[str, str]]:
    """Column index → (kind, name) for the columns we read: uuid, time, field, question."""
    found: dict[int, tuple[str, str]] = {}
    for index, title in enumerate(header):
        text = (title or "").strip()
        low = text.casefold()
        leaf = low.rsplit("/", 1)[-1]
        if low in UUID_COLUMNS or leaf == "instanceid":
            found[index] = ("uuid", "uuid")
        elif low in TIME_COLUMNS:
            found[index] = ("time", low)
        elif leaf in (CITY, PRACTICE, LANGUAGE):
            found[index] = ("field", leaf)
        elif survey.has(leaf) and survey.question(leaf).type != "info":
            found[index] = ("question", leaf)
    return found


def _submission(
    row: int,
    values: Mapping[tuple[str, str], str],
    practices: Sequence[PracticeChoice],
    zone: tzinfo,
    default_practice: str | None,
    default_locale: str | None,
) -> Submission:
    uuid = values.get(("uuid", "uuid"), "").removeprefix("uuid:").strip()
    if not uuid:
        raise SubmissionError("no _uuid: the submission cannot be told apart from others")
    times = {
        name: _moment(text, zone, name) for (kind, name), text in values.items() if kind == "time"
    }
    submitted = next((times[n] for n in TIME_COLUMNS if n in times), None)
    if submitted is None:
        raise SubmissionError("no submission time")
    started = times.get("start") or submitted
    chosen = _practice(values, practices, default_practice)
    locale = _locale(values.get(("field", LANGUAGE)), default_locale)
    cells = {name: text for (kind, name), text in values.items() if kind == "question"}
    return Submission(row, uuid, submitted, min(started, submitted), chosen, locale, cells)


def _moment(text: str, zone: tzinfo, column: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise SubmissionError(f"{column} '{text}' is not a date and time") from None
    if moment.tzinfo is None:  # KoBo's _submission_time is UTC; the phone's times are local
        moment = moment.replace(tzinfo=UTC if column == "_submission_time" else zone)
    return moment


def _practice(
    values: Mapping[tuple[str, str], str],
    practices: Sequence[PracticeChoice],
    default: str | None,
) -> str:
    text = values.get(("field", PRACTICE)) or default or ""
    folded = _fold(text)
    found = next(
        (p for p in practices if folded == p.id or folded in {_fold(n) for n in p.names.values()}),
        None,
    )
    if found is None:
        raise SubmissionError(f"practice '{text}' is not in the catalog")
    city = values.get(("field", CITY))
    if (
        city
        and _fold(city) != found.city_id
        and _fold(city) not in {_fold(n) for n in found.city_names.values()}
    ):
        raise SubmissionError(f"practice '{text}' is not in the city '{city}'")
    return found.id


def _locale(text: str | None, default: str | None) -> str:
    if not text:
        assert default is not None
        return default
    folded = _fold(text)
    for code in LANGUAGES:
        if folded in (code, _fold(LANGUAGE_NAMES[code])):
            return code
    raise SubmissionError(f"language '{text}' is none of uk, ru, en, pl")


# --------------------------------------------------------------------------- answers


def answers_of(survey: Survey, cells: Mapping[str, str]) -> dict[str, AnswerValue | None]:
    """The answers a completed response of this survey holds for these cells: every question
    on the respondent's path, None where it was left empty; SubmissionError when a value does
    not fit its question, a required one is missing or a hidden one is answered."""
    given: dict[str, AnswerValue] = {}
    answers: dict[str, AnswerValue | None] = {}
    for question in survey.questions:
        cell = cells.get(question.id, "")
        if not is_visible(question, given):
            if cell:
                raise SubmissionError(
                    f"'{question.id}' is answered, but its conditions say it is not asked"
                )
            continue
        if question.type == "info":
            continue
        value = _value(question, cell) if cell else None
        if value is None and question.required:
            raise SubmissionError(f"'{question.id}' is required but empty")
        answers[question.id] = value
        if value is not None:
            given[question.id] = value
    return answers


def _value(question: Question, cell: str) -> AnswerValue:
    kind = question.type
    if kind == "yes_no":
        folded = _fold(cell)
        if folded in _YES_WORDS:
            return YES
        if folded in _NO_WORDS:
            return NO
        raise SubmissionError(f"'{question.id}': '{cell}' is neither yes nor no")
    if kind == "scale":
        return _scale_value(question, cell)
    if kind == "single_choice":
        return _option(question, cell)
    if kind == "multiple_choice":
        return _options(question, cell)
    if kind == "number":
        number = read_number(question, cell)
        if number is None or not within_bounds(question, number):
            raise SubmissionError(f"'{question.id}': '{cell}' is not a number it takes")
        return number
    if len(cell) > question.max_length:
        raise SubmissionError(f"'{question.id}': longer than {question.max_length} characters")
    return cell


def _scale_value(question: Question, cell: str) -> AnswerValue:
    folded = _fold(cell)
    if folded.isdigit() and int(folded) in SCALE:
        return int(folded)
    labels = question.labels
    if folded in {_fold(t) for t in labels.get("low", {}).values()}:
        return 1
    if folded in {_fold(t) for t in labels.get("high", {}).values()}:
        return 5
    if question.dont_know and folded in _DONT_KNOW_WORDS:
        return DONT_KNOW
    raise SubmissionError(f"'{question.id}': '{cell}' is not a rating from 1 to 5")


def _option(question: Question, cell: str) -> str:
    folded = _fold(cell)
    for option in question.options:
        if folded == _fold(option.id) or folded in {_fold(t) for t in option.label.values()}:
            return option.id
    raise SubmissionError(f"'{question.id}': '{cell}' is not one of its choices")


def _options(question: Question, cell: str) -> tuple[str, ...]:
    names = cell.split()
    ids = set(question.option_ids)
    if all(n in ids for n in names):
        chosen = set(names)
    else:  # labels, separated by commas, semicolons or lines
        parts = [p for p in cell.replace(";", ",").replace("\n", ",").split(",") if p.strip()]
        chosen = {_option(question, part) for part in parts}
    low, high = max(question.min, 1), question.max or len(question.options)
    if not low <= len(chosen) <= high:
        raise SubmissionError(f"'{question.id}': {len(chosen)} choices; it takes {low} to {high}")
    return tuple(o for o in question.option_ids if o in chosen)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().casefold().replace("’", "'")


__all__ = [
    "PracticeChoice",
    "ReadResult",
    "Rejection",
    "Submission",
    "SubmissionError",
    "answers_of",
    "read_submissions",
]
