"""An audit report as CSV, XLSX, PDF or JSON, every heading and label in the reader's language.

Decisions every format shares:
- A suppressed group (fewer than k completed responses) shows "< k" in place of each figure and
  never a number; JSON, which is for programs, has null there and "suppressed": true.
- Comments about a suppressed practice are left out with its figures: a handful of comments could
  point at their authors, and their number alone would tell that n ≥ that many. Hidden comments are
  never exported. Contacts are masked before (audit.privacy.mask_contacts, through storage).
- Every text cell written to CSV or XLSX goes through audit.privacy.safe_cell (formula injection).

CSV is tidy data for tools (pandas, R, a spreadsheet's pivot table): one row per city × practice ×
criterion. Its numbers are machine-readable whatever the locale — a dot as the decimal separator,
no thousands separator, shares as fractions from 0 to 1 — so that a Polish or Ukrainian file parses
the same as an English one; only the texts (header, names, labels) are localized. It is UTF-8 with
a byte order mark, which Excel needs to recognise the encoding.

The "Excel" CSV (csv-excel) is the same table for people who open it in a spreadsheet: in a
language whose decimal separator is a comma (pl, uk, ru) its numbers have a decimal comma and its
cells are separated by semicolons, as Excel there expects (the plain CSV opens as one column in
Polish Excel); in English it is the plain CSV.

XLSX stores numbers as numbers with number formats (Excel shows them the reader's way); PDF
formats numbers and dates for the locale with Babel.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import re
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_interval
from babel.numbers import format_decimal, format_percent, get_decimal_symbol

from audit.model import (
    CRITERIA,
    HELD_UP_SCORE,
    Comment,
    PracticeSummary,
    Report,
    Trend,
    held_up,
)
from audit.privacy import safe_cell
from audit.stats import Composite, ScaleStats
from conversations.messages import Local, Msg, Plain, Text, _

if TYPE_CHECKING:
    from fpdf import FPDF
    from matplotlib.axes import Axes
    from openpyxl.workbook import Workbook
    from openpyxl.worksheet.worksheet import Worksheet


class Renderer(Protocol):
    """What an export needs of bot.i18n.Translator (audit/ must not import bot/)."""

    def render(self, text: Text, locale: str) -> str:
        """One text in one language."""
        ...


class Reader(Protocol):
    """What the shared table, sheet and page helpers need of a view (the audit report's
    _View, the edition report's view in audit/edition_export.py)."""

    @property
    def locale(self) -> str:
        """The reader's language."""
        ...

    def t(self, text: Text) -> str:
        """A text in the reader's language."""
        ...

    def heading(self) -> str:
        """What the document covers, for page feet."""
        ...


Cell = str | int | float | date | None

CRITERION_NAMES: Mapping[str, Msg] = {
    "engagement": _("City's engagement"),
    "sustainability": _("Long-term character"),
    "comprehensiveness": _("Comprehensiveness"),
    "overall": _("Overall usefulness"),
}
SHEET_NAMES: Mapping[str, Msg] = {
    "summary": _("Summary"),
    "criteria": _("Criteria"),
    "trend": _("Trend"),
    "comments": _("Comments"),
    "method": _("Method"),
}
YES, NO = _("Yes"), _("No")
VERDICTS: Mapping[bool | None, Msg] = {
    True: _("held up"),
    False: _("did not hold up"),
    None: _("too few answers"),
}

CITY, PRACTICE, CRITERION = _("City"), _("Practice"), _("Criterion")
SCORE, CI = _("Score (0–100)"), _("95 % CI")
COMPLETED = _("Completed responses")
NOT_ENOUGH = _("Not enough responses")
TITLE = _("Open Cities: how migrants rate their city's integration practices")
INTRO = _(
    "Migrants who live in the city rated its integration practices in a short Telegram survey, "
    "on the three criteria of the Open Cities action — the city's engagement, long-term character "
    "and comprehensiveness — and on overall usefulness."
)
GENERATED = _("Generated on {date}")
K_NOTE = _(
    "Groups with fewer than {k} completed responses are not reported; "
    "their figures are shown as “< {k}”."
)
METHOD_TITLE = _("How the scores are calculated")
METHOD = (
    _(
        "Respondents rate each practice from 1 to 5 on four criteria: the city's engagement, "
        "long-term character, comprehensiveness and overall usefulness. “Don't know” answers are "
        "counted apart and left out of the means."
    ),
    _(
        "Each criterion's mean rating m is mapped from the 1–5 scale to 0–100 as (m − 1) / 4 × 100: "
        "1 becomes 0, 3 becomes 50 and 5 becomes 100."
    ),
    _(
        "The composite score of a practice is the weighted mean of its criteria on 0–100. "
        "Weights: {weights}."
    ),
    _(
        "The 95 % CI (confidence interval) of a mean is mean ± t(0.975, n − 1) × s / √n, where s is "
        "the standard deviation of the ratings and n their number. The CI of the composite score "
        "treats the criteria as independent; when ratings of different criteria go together, the "
        "real interval is wider."
    ),
    K_NOTE,
    _(
        "Every practice distinguished in an earlier year is re-evaluated each year. It held up when "
        "it is still carried out and residents rate it at least at the middle of the scale "
        "(composite score of {score} or more); with too few answers no verdict is given."
    ),
    _(
        "The approach follows MIPEX and the Council of Europe's Intercultural Cities Index, which "
        "also turn answers into scores from 0 to 100 and combine them with documented weights. "
        "Every score here is shown with its number of responses and its 95 % CI."
    ),
    _(
        "Phone numbers, e-mail addresses and Telegram usernames in comments are masked. Hidden "
        "comments and comments about practices with too few responses are not shown."
    ),
    _(
        "Disclosure control: figures are published per round and practice (answers outside a "
        "round: per calendar month and practice). A group with fewer than {k} completed "
        "responses, and a criterion, share or language with fewer than {k} answers in a group, "
        "is shown as “< {k}” and counted in no total, mean, ranking or trend; such a criterion "
        "is also left out of the composite score. A year or a city adds up published groups "
        "only. When the hidden languages of a group add up to fewer than {k} people, the "
        "smallest shown language is hidden too, so that no total minus its parts gives fewer "
        "than {k} people. Figures change only in steps: after at least {k} responses were added "
        "or removed, and never by fewer than {k} answers against any earlier version; the "
        "figures of a closed round are final. Comments come only from published groups, in an "
        "order that says nothing about when they were written."
    ),
)
EQUAL_WEIGHTS = _("all criteria weigh the same")
CHANNEL_NAMES: Mapping[str, Msg] = {
    "telegram": _("answers given in Telegram"),
    "face_to_face": _("answers from face-to-face interviews"),
}
INTERIM = _("Interim report: the period is not over yet, so the figures may still change.")
INTERIM_MARK = _("interim")
INTERIM_AS_OF = _(
    "Interim figures, as published on {date}. They change only after at least {k} responses "
    "were added or removed."
)
LEFT_OUT = _("{practice}: the composite score leaves out {criteria} (fewer than {k} ratings).")
ONE_CITY, CITIES = _("City: {cities}"), _("Cities: {cities}")  # labels: no plural forms
OVERLAP = _("The 95 % CIs of the two rounds overlap: the change may be chance.")


# ----------------------------------------------------------------------------- the reader's view


def reading_number(value: float | None, locale: str, digits: int = 1) -> str:
    """A number for reading in a language, e.g. 3,25 in Polish; empty when unknown."""
    if value is None or math.isnan(value):
        return ""
    pattern = "#,##0." + "0" * digits if digits else "#,##0"
    return format_decimal(value, format=pattern, locale=locale)


def reading_signed(value: float, locale: str, digits: int = 1) -> str:
    """A change with its sign, e.g. +3,2."""
    decimals = "." + "0" * digits if digits else ""
    return format_decimal(value, format=f"+#,##0{decimals};-#,##0{decimals}", locale=locale)


def reading_percent(value: float | None, locale: str) -> str:
    """A share as a percentage for reading (e.g. 86 % in Polish); empty when unknown."""
    return "" if value is None else format_percent(value, locale=locale)


def reading_day(value: date | None, locale: str, form: str = "long") -> str:
    """A date for reading ("long": 1 marca 2026; "medium": 1 mar 2026)."""
    return "" if value is None else format_date(value, format=form, locale=locale)


def reading_span(starts: date | None, ends: date | None, locale: str) -> str:
    """A short span of days for reading, e.g. "1–31 mar 2026"."""
    if starts is None or ends is None:
        return ""
    return format_interval(starts, ends, "yMMMd", locale=locale)


class Reading:
    """What every report's view does in the reader's language (the audit report's _View, the
    edition report's view in audit/edition_export.py)."""

    translator: Renderer
    locale: str

    def t(self, text: Text) -> str:
        """A text in the reader's language."""
        return self.translator.render(text, self.locale)

    def number(self, value: float | None, digits: int = 1) -> str:
        """A number for reading, e.g. 3,25 in Polish; empty when unknown."""
        return reading_number(value, self.locale, digits)

    def criterion(self, name: str) -> str:
        """A criterion's localized name."""
        return self.t(CRITERION_NAMES.get(name, Plain(name)))


@dataclass(frozen=True)
class _View(Reading):
    """A report as one reader sees it: texts in their language, suppressed figures as "< k"."""

    report: Report
    translator: Renderer
    locale: str

    def name(self, texts: Mapping[str, str]) -> str:
        """A city, practice or category name in the reader's language."""
        return self.t(Local(texts))

    @property
    def hidden(self) -> str:
        """What a suppressed figure shows instead of a number."""
        return f"< {self.report.k}"

    def signed(self, value: float) -> str:
        """A change with its sign, e.g. +3,2."""
        return reading_signed(value, self.locale)

    def percent(self, value: float | None) -> str:
        """A share as a percentage for reading; empty when unknown."""
        return reading_percent(value, self.locale)

    def day(self, value: date | None) -> str:
        """A date for reading."""
        return reading_day(value, self.locale)

    def period(self) -> str:
        """What the report covers: "Round 12", "Year 2026" or a city's rounds, and the channel
        when the report has the answers of one channel only."""
        report = self.report
        if report.kind == "round":
            title = self.t(_("Round {label}", label=report.label))
        elif report.kind == "year":
            title = self.t(_("Year {label}", label=report.label))
        else:
            city = dict(report.cities()).get(report.label)
            name = Local(city) if city else Plain(report.label)
            title = self.t(_("{city}, all rounds", city=name))
        channel = CHANNEL_NAMES.get(report.channel or "")
        return f"{title} · {self.t(channel)}" if channel else title

    def heading(self) -> str:
        """The period, marked when it is interim: "Round 12 · interim"."""
        if not self.report.interim:
            return self.period()
        dated = f" {self.day(self.report.published_on)}" if self.report.published_on else ""
        return f"{self.period()} · {self.t(INTERIM_MARK)}{dated}"

    def dates(self) -> str:
        """The period's first and last day, if known."""
        starts, ends = self.report.starts, self.report.ends
        return f"{self.day(starts)} – {self.day(ends)}" if starts and ends else ""

    def verdict(self, practice: PracticeSummary) -> str:
        """The yearly re-evaluation of a distinguished practice; empty for the others."""
        if practice.distinguished_in is None:
            return ""
        return self.t(VERDICTS[held_up(practice)])

    def languages(self, practice: PracticeSummary) -> str:
        """Respondents per language, e.g. "українська 12 · русский < 5"."""
        if practice.suppressed:
            return self.hidden
        return " · ".join(
            f"{self.language(code)} {self.hidden if count is None else count}"
            for code, count in practice.languages.items()
        )

    def language(self, code: str) -> str:
        """A language's name in the reader's language."""
        try:
            return Locale.parse(code).get_display_name(self.locale) or code
        except (UnknownLocaleError, ValueError):
            return code

    def weights(self) -> str:
        """The composite score's weights in words."""
        weights = {name: float(self.report.weights.get(name, 0.0)) for name in CRITERIA}
        if len(set(weights.values())) == 1:
            return self.t(EQUAL_WEIGHTS)
        return ", ".join(
            f"{self.criterion(name)} ×{format_decimal(weight, locale=self.locale)}"
            for name, weight in weights.items()
        )

    def left_out(self) -> list[str]:
        """What each practice's composite score leaves out, in words."""
        return [
            self.t(
                Msg(
                    LEFT_OUT.msgid,
                    {
                        "practice": Plain(self.name(p.practice)),
                        "criteria": Plain(", ".join(self.criterion(c) for c in p.left_out)),
                        "k": self.report.k,
                    },
                )
            )
            for p in self.report.practices
            if p.left_out and not p.suppressed
        ]

    def interim(self) -> str:
        """The interim notice with the date of the published figures."""
        report = self.report
        if report.published_on is None:
            return self.t(INTERIM)
        return self.t(Msg(INTERIM_AS_OF.msgid, {"date": report.published_on, "k": report.k}))

    def method(self) -> list[str]:
        """The method page's paragraphs."""
        params = {"weights": Plain(self.weights()), "k": self.report.k, "score": HELD_UP_SCORE}
        return [self.t(Msg(text.msgid, params)) for text in METHOD] + self.left_out()


def visible_comments(report: Report) -> list[Comment]:
    """Comments that may be shown: not hidden, and about a practice that is reported."""
    reported = {(p.city_id, p.practice_id) for p in report.practices if not p.suppressed}
    return [c for c in report.comments if not c.hidden and (c.city_id, c.practice_id) in reported]


def _practice_of(report: Report) -> Callable[[str, str], PracticeSummary | None]:
    """A lookup of a practice summary by city and practice id."""
    index = {(p.city_id, p.practice_id): p for p in report.practices}
    return lambda city_id, practice_id: index.get((city_id, practice_id))


def _trended(report: Report) -> list[tuple[PracticeSummary, Trend, Composite]]:
    """Practices reported in this period and in their previous round."""
    return [
        (p, p.trend, p.composite)
        for p in report.practices
        if p.trend is not None and p.composite is not None and not p.suppressed
    ]


def rating_share(stats: ScaleStats, value: int) -> float:
    """Share of the ratings that were `value`."""
    return stats.distribution[value - 1] / stats.n if stats.n else 0.0


# ----------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class _Column:
    """A column of a table: its heading, Excel number format and width in characters."""

    label: Msg
    fmt: str | None = None
    width: float = 12
    wrap: bool = False


CRITERIA_COLUMNS = (
    _Column(_("Period"), None, 14),
    _Column(CITY, None, 16),
    _Column(PRACTICE, None, 40),
    _Column(CRITERION, None, 22),
    _Column(_("Ratings (n)"), "0", 10),
    _Column(_("Mean (1–5)"), "0.00", 10),
    _Column(_("Median"), "0.0", 9),
    _Column(_("95 % CI, lower"), "0.00", 11),
    _Column(_("95 % CI, upper"), "0.00", 11),
    _Column(_("Share of “don't know”"), "0%", 12),
    *(_Column(_("Share rating {value}", value=str(value)), "0%", 10) for value in range(1, 6)),
    _Column(_("Composite score (0–100)"), "0.0", 12),
    _Column(COMPLETED, "0", 12),
    _Column(_("Suppressed"), None, 11),
)


def _criteria_rows(view: _View) -> list[list[Cell]]:
    """One row per city × practice × criterion, figures as numbers or "< k"."""
    return [
        _criterion_row(view, practice, name)
        for practice in view.report.practices
        for name in CRITERIA
    ]


def _criterion_row(view: _View, practice: PracticeSummary, name: str) -> list[Cell]:
    """A criterion's figures in one practice."""
    head: list[Cell] = [
        view.period(),
        view.name(practice.city),
        view.name(practice.practice),
        view.criterion(name),
    ]
    if practice.suppressed:
        return [*head, *[view.hidden] * 13, view.t(YES)]
    stats = practice.criteria.get(name)
    figures: list[Cell] = [view.hidden] * 11  # fewer than k ratings: never a blank cell
    if stats is not None:
        figures = [
            stats.n,
            stats.mean,
            stats.median,
            stats.ci_low,
            stats.ci_high,
            stats.dont_know_share,
            *(rating_share(stats, value) for value in range(1, 6)),
        ]
    score = practice.composite.score if practice.composite else None
    return [*head, *figures, score, practice.completed, view.t(YES if stats is None else NO)]


# ----------------------------------------------------------------------------- CSV


def to_csv(report: Report, translator: Renderer, locale: str) -> bytes:
    """Tidy CSV: one row per city × practice × criterion, UTF-8 with a BOM."""
    view = _View(report, translator, locale)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(view.t(column.label)) for column in CRITERIA_COLUMNS])
    for row in _criteria_rows(view):
        writer.writerow([_csv_value(value) for value in row])
    return out.getvalue().encode("utf-8-sig")


def to_csv_excel(report: Report, translator: Renderer, locale: str) -> bytes:
    """The tidy CSV as a spreadsheet in the reader's language opens it: ";" between cells and a
    decimal comma where the language writes one, UTF-8 with a BOM."""
    view = _View(report, translator, locale)
    comma = get_decimal_symbol(_babel_locale(locale)) == ","
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";" if comma else ",", lineterminator="\r\n")
    writer.writerow([safe_cell(view.t(column.label)) for column in CRITERIA_COLUMNS])
    for row in _criteria_rows(view):
        writer.writerow([_excel_value(value, comma) for value in row])
    return out.getvalue().encode("utf-8-sig")


def _excel_value(value: Cell, comma: bool) -> str:
    """A cell as _csv_value writes it, with a decimal comma in a number where the language uses
    one (a text keeps its commas)."""
    text = _csv_value(value)
    return text.replace(".", ",") if comma and isinstance(value, float) else text


def _babel_locale(locale: str) -> Locale:
    try:
        return Locale.parse(locale)
    except (UnknownLocaleError, ValueError):
        return Locale("en")


_CSV_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # what no reader expects in a cell


def _csv_value(value: Cell) -> str:
    """A cell for tools: numbers with a dot and up to four decimals, texts made safe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format(round(value, 4) + 0.0, "f").rstrip("0").rstrip(".")
    if isinstance(value, date):
        return value.isoformat()
    return safe_cell(_CSV_CONTROL.sub("", value))


# ----------------------------------------------------------------------------- XLSX


SUMMARY_COLUMNS = (
    _Column(CITY, None, 16),
    _Column(PRACTICE, None, 40),
    _Column(_("Invited"), "0", 9),
    _Column(_("Started"), "0", 9),
    _Column(COMPLETED, "0", 11),
    _Column(_("Completion rate"), "0%", 11),
    _Column(_("Knew the practice"), "0%", 11),
    _Column(_("Used the practice"), "0%", 11),
    _Column(SCORE, "0.0", 11),
    _Column(_("95 % CI, lower"), "0.0", 11),
    _Column(_("95 % CI, upper"), "0.0", 11),
    _Column(_("Trend"), None, 7),
    _Column(_("Change (points)"), "+0.0;-0.0;0.0", 10),
    _Column(_("Distinguished in"), "0", 11),
    _Column(_("Re-evaluation"), None, 16),
    _Column(_("Languages"), None, 36),
)
TREND_COLUMNS = (
    _Column(CITY, None, 16),
    _Column(PRACTICE, None, 40),
    _Column(_("Previous round"), "0", 10),
    _Column(_("Previous round opened"), "yyyy-mm-dd", 14),
    _Column(_("Previous score"), "0.0", 10),
    _Column(SCORE, "0.0", 10),
    _Column(_("Change (points)"), "+0.0;-0.0;0.0", 10),
    _Column(_("Trend"), None, 7),
    _Column(OVERLAP, None, 30, wrap=True),
)
COMMENT_COLUMNS = (
    _Column(_("No."), "0", 8),
    _Column(CITY, None, 16),
    _Column(PRACTICE, None, 36),
    _Column(_("Comment"), None, 90, wrap=True),
)
SCORE_COLUMN = 1 + [column.label for column in SUMMARY_COLUMNS].index(SCORE)  # charted
PRACTICE_COLUMN = 1 + [column.label for column in SUMMARY_COLUMNS].index(PRACTICE)


def to_xlsx(report: Report, translator: Renderer, locale: str) -> bytes:
    """A workbook with the sheets Summary, Criteria, Trend, Comments and Method."""
    view = _View(report, translator, locale)
    book, summary = new_workbook(view.t(SHEET_NAMES["summary"]))
    _fill_sheet(summary, view, SUMMARY_COLUMNS, _summary_rows(view))
    _add_score_chart(summary, view, len(report.ranked()))
    _fill_sheet(_sheet(book, view, "criteria"), view, CRITERIA_COLUMNS, _criteria_rows(view))
    _fill_sheet(_sheet(book, view, "trend"), view, TREND_COLUMNS, _trend_rows(view))
    _fill_sheet(_sheet(book, view, "comments"), view, COMMENT_COLUMNS, _comment_rows(view))
    _fill_method(_sheet(book, view, "method"), view)
    return workbook_bytes(book)


def new_workbook(first_sheet: str) -> tuple[Workbook, Worksheet]:
    """A workbook and its first sheet, named."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = _sheet_title(first_sheet)
    return book, sheet


def workbook_bytes(book: Workbook) -> bytes:
    """A workbook as the bytes of an .xlsx file."""
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet(book: Workbook, view: _View, key: str) -> Worksheet:
    """A new sheet named in the reader's language."""
    return book.create_sheet(_sheet_title(view.t(SHEET_NAMES[key])))


def _sheet_title(name: str) -> str:
    """A valid Excel sheet name: at most 31 characters, none of []:*?/\\."""
    return re.sub(r"[\[\]:*?/\\]", " ", name)[:31].strip() or "Sheet"


def _fill_sheet(
    sheet: Worksheet, view: Reader, columns: Sequence[_Column], rows: Iterable[list[Cell]]
) -> None:
    """A table with a bold, frozen header row, number formats and column widths."""
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    sheet.append([_xlsx_value(view.t(column.label)) for column in columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for row in rows:
        sheet.append([_xlsx_value(value) for value in row])
    for index, column in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = column.width
        for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
            if column.fmt:
                cell.number_format = column.fmt
            if column.wrap:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "A2"
    last = get_column_letter(len(columns))
    sheet.auto_filter.ref = f"A1:{last}{max(sheet.max_row, 2)}"
    _print_setup(sheet, wide=sum(column.width for column in columns) > PORTRAIT_WIDTH)
    sheet.print_title_rows = "1:1"  # the header on every printed page


PORTRAIT_WIDTH = 110  # characters of column width that an A4 page holds upright


def _print_setup(sheet: Worksheet, *, wide: bool) -> None:
    """A4, as wide as one page (as many pages down as it takes), landscape when wide."""
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.orientation = "landscape" if wide else "portrait"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True


def _xlsx_value(value: Cell) -> Cell:
    """A cell for openpyxl: texts made safe and stripped of characters XML cannot hold."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, str):  # strip first: a stripped "\x0b=1+1" would be a live formula
        return safe_cell(str(ILLEGAL_CHARACTERS_RE.sub("", value)))
    return value


def _summary_rows(view: _View) -> list[list[Cell]]:
    """One row per practice: ranked ones first (the chart reads them), then the others."""
    report = view.report
    return [_summary_row(view, practice) for practice in report.ranked() + report.not_enough()]


def _summary_row(view: _View, practice: PracticeSummary) -> list[Cell]:
    """A practice's counts, shares, score, trend and re-evaluation."""
    names: list[Cell] = [view.name(practice.city), view.name(practice.practice)]
    tail: list[Cell] = [practice.distinguished_in, view.verdict(practice)]
    tail.append(view.languages(practice))
    if practice.suppressed:
        return [*names, practice.invited, *[view.hidden] * 10, *tail]
    composite, trend = practice.composite, practice.trend
    return [
        *names,
        practice.invited,
        practice.started,
        practice.completed,
        practice.completion_rate,
        practice.awareness,
        practice.usage,
        composite.score if composite else None,
        composite.ci_low if composite else None,
        composite.ci_high if composite else None,
        trend.arrow if trend else None,
        trend.delta if trend else None,
        *tail,
    ]


def _add_score_chart(sheet: Worksheet, view: _View, ranked: int) -> None:
    """A horizontal bar chart of the ranked practices' composite scores, best on top."""
    from openpyxl.chart import BarChart, Reference
    from openpyxl.utils import get_column_letter

    if not ranked:
        return
    chart = BarChart()
    chart.type = "bar"
    chart.title = view.t(_("Composite score (0–100)"))
    chart.legend = None
    chart.add_data(
        Reference(sheet, min_col=SCORE_COLUMN, min_row=1, max_row=ranked + 1),
        titles_from_data=True,
    )
    chart.set_categories(Reference(sheet, min_col=PRACTICE_COLUMN, min_row=2, max_row=ranked + 1))
    chart.x_axis.scaling.orientation = "maxMin"
    chart.y_axis.scaling.min, chart.y_axis.scaling.max = 0, 100
    chart.x_axis.delete = chart.y_axis.delete = False  # newer Excel hides axes otherwise
    chart.width, chart.height = 20, max(7.5, 1.0 * ranked + 3)
    # Under the table, below the practice names it charts: in view without scrolling sideways.
    sheet.add_chart(chart, f"{get_column_letter(PRACTICE_COLUMN)}{sheet.max_row + 3}")


def _trend_rows(view: _View) -> list[list[Cell]]:
    """Practices compared with their previous round."""
    return [
        [
            view.name(practice.city),
            view.name(practice.practice),
            trend.previous_round_id,
            trend.previous_opened,
            trend.previous_score,
            composite.score,
            trend.delta,
            trend.arrow,
            view.t(YES if trend.overlap else NO),
        ]
        for practice, trend, composite in _trended(view.report)
    ]


def _comment_rows(view: _View) -> list[list[Cell]]:
    """The comments that may be shown, with their city and practice."""
    practice_of = _practice_of(view.report)
    rows: list[list[Cell]] = []
    for comment in visible_comments(view.report):
        practice = practice_of(comment.city_id, comment.practice_id)
        city = view.name(practice.city) if practice else comment.city_id
        name = view.name(practice.practice) if practice else comment.practice_id
        rows.append([comment.id, city, name, comment.text])
    return rows


def _fill_method(sheet: Worksheet, view: _View) -> None:
    """The method in words, then the practices with too few responses."""
    lines = [(view.t(METHOD_TITLE), True), *((text, False) for text in view.method())]
    lines += [("", False), (view.t(NOT_ENOUGH), True)]
    lines += [(f"{city} — {name}: {view.hidden}", False) for city, name in _not_enough(view)]
    fill_lines(sheet, lines)


def fill_lines(sheet: Worksheet, lines: Iterable[tuple[str, bool]]) -> None:
    """A sheet of wrapped lines of text, one per row, bold where marked."""
    from openpyxl.styles import Alignment, Font

    sheet.column_dimensions["A"].width = 110
    for text, bold in lines:
        sheet.append([_xlsx_value(text)])
        cell = sheet.cell(row=sheet.max_row, column=1)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        cell.font = Font(bold=bold)
    sheet.freeze_panes = "A2"
    _print_setup(sheet, wide=False)


def _not_enough(view: _View) -> list[tuple[str, str]]:
    """(city, practice) of the practices with too few responses, localized."""
    return [(view.name(p.city), view.name(p.practice)) for p in view.report.not_enough()]


# ----------------------------------------------------------------------------- JSON


def to_json(report: Report, translator: Renderer, locale: str) -> bytes:
    """The whole report for programs: figures as numbers, null where suppressed."""
    view = _View(report, translator, locale)
    document = {
        "kind": report.kind,
        "label": report.label,
        "channel": report.channel,
        "period": {
            "title": view.period(),
            "starts": report.starts.isoformat() if report.starts else None,
            "ends": report.ends.isoformat() if report.ends else None,
        },
        "generated_at": report.generated_at.isoformat(),
        "locale": locale,
        "k": report.k,
        "interim": report.interim,
        "published_on": report.published_on.isoformat() if report.published_on else None,
        "weights": dict(report.weights),
        "labels": _json_labels(view),
        "practices": [_json_practice(view, practice) for practice in report.practices],
        "ranking": [practice.practice_id for practice in report.ranked()],
        "not_enough": [practice.practice_id for practice in report.not_enough()],
        "comments": [_json_comment(comment) for comment in visible_comments(report)],
    }
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")


def _json_labels(view: _View) -> dict[str, Any]:
    """Localized names of the criteria and verdicts, and the text shown for a suppressed figure."""
    return {
        "criteria": {name: view.criterion(name) for name in CRITERIA},
        "held_up": {
            "true": view.t(VERDICTS[True]),
            "false": view.t(VERDICTS[False]),
            "null": view.t(VERDICTS[None]),
        },
        "suppressed": view.hidden,
        "method": view.method(),
    }


def _json_practice(view: _View, practice: PracticeSummary) -> dict[str, Any]:
    """A practice with every figure, or nulls and "suppressed": true."""
    hide = practice.suppressed
    composite = None if hide or not practice.composite else dataclasses.asdict(practice.composite)
    return {
        "city_id": practice.city_id,
        "city": dict(practice.city),
        "city_name": view.name(practice.city),
        "practice_id": practice.practice_id,
        "practice": dict(practice.practice),
        "practice_name": view.name(practice.practice),
        "category": dict(practice.category),
        "suppressed": hide,
        "invited": practice.invited,
        "started": None if hide else practice.started,
        "completed": None if hide else practice.completed,
        "completion_rate": None if hide else practice.completion_rate,
        "awareness": None if hide else practice.awareness,
        "usage": None if hide else practice.usage,
        "criteria": {
            name: None if hide else _json_stats(practice.criteria.get(name)) for name in CRITERIA
        },
        "composite": composite,
        "composite_leaves_out": [] if hide else list(practice.left_out),
        "languages": {code: None if hide else count for code, count in practice.languages.items()},
        "trend": _json_trend(practice),
        "distinguished_in": practice.distinguished_in,
        "active": practice.active,
        "held_up": held_up(practice) if practice.distinguished_in is not None else None,
    }


def _json_trend(practice: PracticeSummary) -> dict[str, Any] | None:
    """The change against the previous round, with its arrow."""
    trend = practice.trend
    if trend is None or practice.suppressed:
        return None
    opened = trend.previous_opened.isoformat()
    return {**dataclasses.asdict(trend), "previous_opened": opened, "arrow": trend.arrow}


def _json_stats(stats: ScaleStats | None) -> dict[str, Any] | None:
    """A criterion's statistics, with the share of "don't know"."""
    if stats is None:
        return None
    return {**dataclasses.asdict(stats), "dont_know_share": stats.dont_know_share}


def _json_comment(comment: Comment) -> dict[str, Any]:
    """A comment with the day it was written (not the time: that could point at its author)."""
    return {
        "id": comment.id,
        "city_id": comment.city_id,
        "practice_id": comment.practice_id,
        "text": comment.text,
        "answered_on": comment.answered_on.isoformat(),
    }


# ----------------------------------------------------------------------------- PDF


def _font_dir() -> Path:
    """matplotlib's DejaVu Sans, which covers Latin, Polish and Cyrillic (as bot/poster.py uses)."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


FONT = "DejaVu"
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")  # a comment may hold them; a PDF can't show them
BAR_COLOURS = ("#1b6ca8", "#f2a541", "#4f9d69", "#8c5aa8")


def to_pdf(report: Report, translator: Renderer, locale: str) -> bytes:
    """A printable report: a cover, then the ranking, each city, the trend, the re-evaluation,
    the comments and the method, one after the other (a section starts a new page only when
    the rest of the page cannot hold its beginning: no near-empty pages)."""
    view = _View(report, translator, locale)
    pdf = _new_pdf(view)
    _pdf_title_page(pdf, view)
    pdf.add_page()
    _pdf_ranking(pdf, view)
    for city_id, city in report.cities():
        _pdf_city(pdf, view, city, [p for p in report.practices if p.city_id == city_id])
    _section(pdf, 40)
    _pdf_trend(pdf, view)
    _section(pdf, 40)
    _pdf_reevaluation(pdf, view)
    _section(pdf, 30)
    _pdf_comments(pdf, view)
    _section(pdf, 80)
    _pdf_method(pdf, view)
    _pdf_page_numbers(pdf, view)
    return bytes(pdf.output())


def _section(pdf: FPDF, room: float) -> None:
    """Start a section: on this page when `room` millimetres are left, else on the next."""
    if pdf.get_y() + room > pdf.page_break_trigger:
        pdf.add_page()
    else:
        pdf.ln(6)


def _new_pdf(view: Reader, title: Text = TITLE) -> FPDF:
    """An A4 document with DejaVu Sans embedded."""
    from fpdf import FPDF

    fonts = _font_dir()
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_margins(18, 18, 18)
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_font(FONT, "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(fonts / "DejaVuSans-Bold.ttf"))
    pdf.set_title(f"{view.t(title)} · {view.heading()}")
    pdf.set_creator("Open Cities Audit Bot")
    pdf.set_lang(view.locale)
    return pdf


def _pdf_heading(pdf: FPDF, text: str, size: float = 14) -> None:
    """A bold heading on its own line, with some space before it."""
    if pdf.get_y() > pdf.t_margin + 1:
        pdf.ln(4)
    pdf.set_font(FONT, "B", size)
    pdf.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.ln(2)


def _pdf_paragraph(pdf: FPDF, text: str, size: float = 10, bold: bool = False) -> None:
    """A paragraph of running text ("< 5" is never split across lines)."""
    pdf.set_font(FONT, "B" if bold else "", size)
    text = re.sub(r"< (?=\d)", "<\u00a0", _CONTROL.sub(" ", text))
    pdf.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.ln(1.5)


TABLE_FONT = 8.5
CELL_PADDING = 3.0  # millimetres beside a cell's text: its margins, its borders and a little room


def _pdf_table(
    pdf: FPDF,
    view: Reader,
    headings: Sequence[Text],
    rows: Sequence[Sequence[str]],
    widths: Sequence[float],
    numeric_from: int,
) -> None:
    """A table with a heading row; columns from `numeric_from` on are right-aligned. Columns
    are made wide enough for their longest word, so no word is split across lines."""
    texts = [view.t(text) for text in headings]
    size = TABLE_FONT
    while True:
        pdf.set_font(FONT, "", size)
        fitted = _fit_widths(
            pdf, widths, [[t, *(row[i] for row in rows)] for i, t in enumerate(texts)]
        )
        if fitted is not None or size <= 6:
            break
        size -= 0.5
    with pdf.table(
        col_widths=tuple(fitted or widths), line_height=size * 0.53, text_align="LEFT"
    ) as table:
        heading = table.row()
        for index, text in enumerate(texts):
            heading.cell(text, align="RIGHT" if index >= numeric_from else "LEFT")
        for values in rows:
            row = table.row()
            for index, value in enumerate(values):
                row.cell(
                    _CONTROL.sub(" ", value), align="RIGHT" if index >= numeric_from else "LEFT"
                )
    pdf.set_font(FONT, "", TABLE_FONT)
    pdf.ln(2)


def _fit_widths(
    pdf: FPDF, weights: Sequence[float], columns: Sequence[Sequence[str]]
) -> list[float] | None:
    """Column widths (mm) across the page in the proportions `weights`, widened where a
    column's longest word needs it (the first text of each column is its bold heading); None
    when the words do not fit at this font size."""
    size = pdf.font_size_pt
    least = []
    for heading, *cells in columns:
        pdf.set_font(FONT, "B", size)
        widest = max((pdf.get_string_width(word) for word in heading.split()), default=0)
        pdf.set_font(FONT, "", size)
        for text in cells:
            widest = max([widest, *(pdf.get_string_width(word) for word in text.split())])
        least.append(widest + CELL_PADDING)
    total = pdf.epw
    if sum(least) > total:
        return None
    fixed: dict[int, float] = {}
    while True:  # columns below their least width get it; the others share the rest
        free = [i for i in range(len(weights)) if i not in fixed]
        share = (total - sum(fixed.values())) / sum(weights[i] for i in free)
        short = [i for i in free if weights[i] * share < least[i]]
        if not short:
            return [fixed.get(i, weights[i] * share) for i in range(len(weights))]
        fixed.update({i: least[i] for i in short})


def _pdf_title_page(pdf: FPDF, view: _View) -> None:
    """Title, period, generation date and k."""
    pdf.add_page()
    pdf.set_y(70)
    _pdf_paragraph(pdf, view.t(TITLE), 22, bold=True)
    pdf.ln(4)
    _pdf_paragraph(pdf, view.period(), 16, bold=True)
    cities = [view.name(city) for _id, city in view.report.cities()]
    if cities:
        _pdf_paragraph(
            pdf,
            view.t(
                Msg(
                    (CITIES if len(cities) > 1 else ONE_CITY).msgid,
                    {"cities": Plain(", ".join(cities))},
                )
            ),
            13,
        )
    if view.dates():
        _pdf_paragraph(pdf, view.dates(), 12)
    if view.report.interim:
        pdf.ln(3)
        _pdf_paragraph(pdf, view.interim(), 12, bold=True)
    pdf.ln(8)
    _pdf_paragraph(pdf, view.t(INTRO), 11)
    _pdf_paragraph(pdf, view.t(Msg(K_NOTE.msgid, {"k": view.report.k})), 11)
    pdf.ln(8)
    _pdf_paragraph(pdf, view.t(Msg(GENERATED.msgid, {"date": view.report.generated_at})), 10)


def _pdf_ranking(pdf: FPDF, view: _View) -> None:
    """Practices by composite score with CI and n; the ones with too few responses apart."""
    _pdf_heading(pdf, view.t(_("Ranking")), 16)
    rows = [
        [
            str(place),
            view.name(p.city),
            view.name(p.practice),
            view.number(p.composite.score if p.composite else None),
            _ci_text(view, p),
            view.number(p.completed, 0),
        ]
        for place, p in enumerate(view.report.ranked(), start=1)
    ]
    if rows:
        headings = (Plain("#"), CITY, PRACTICE, SCORE, CI, COMPLETED)
        _pdf_table(pdf, view, headings, rows, (5, 20, 45, 12, 16, 14), numeric_from=3)
    _pdf_not_enough(pdf, view)


def _ci_text(view: _View, practice: PracticeSummary) -> str:
    """A composite score's 95 % interval, e.g. "64,1–80,9"."""
    if practice.composite is None:
        return ""
    composite = practice.composite
    return f"{view.number(composite.ci_low)}–{view.number(composite.ci_high)}"


def _pdf_not_enough(pdf: FPDF, view: _View) -> None:
    """The practices with too few responses, listed apart from the ranking."""
    missing = _not_enough(view)
    if not missing:
        return
    _pdf_heading(pdf, view.t(NOT_ENOUGH), 12)
    for city, name in missing:
        _pdf_paragraph(pdf, f"{city} — {name}: {view.hidden}", 10)


def _pdf_city(
    pdf: FPDF, view: _View, city: Mapping[str, str], practices: list[PracticeSummary]
) -> None:
    """A city's section: the criteria chart, then each practice's figures (on a new page when
    the chart would not fit under what comes before)."""
    reported = [p for p in practices if not p.suppressed and p.criteria]
    _section(pdf, 110 if reported else 50)
    _pdf_heading(pdf, view.name(city), 16)
    if reported:
        pdf.image(io.BytesIO(_criteria_chart(view, reported)), w=pdf.epw)
        pdf.ln(3)
    headings = (PRACTICE, CRITERION, _("Mean (1–5)"), CI, _("Ratings (n)"), _("Don't know"))
    rows = [row for practice in practices for row in _pdf_criteria_rows(view, practice)]
    _pdf_table(pdf, view, headings, rows, (40, 26, 12, 16, 12, 12), numeric_from=2)
    headings = (
        PRACTICE,
        COMPLETED,
        _("Completion rate"),
        _("Knew the practice"),
        _("Used the practice"),
        SCORE,
    )
    rows = [_pdf_summary_row(view, practice) for practice in practices]
    _pdf_table(pdf, view, headings, rows, (40, 14, 14, 14, 14, 14), numeric_from=1)


def _pdf_criteria_rows(view: _View, practice: PracticeSummary) -> list[list[str]]:
    """A practice's criteria: mean, CI, n and the share of "don't know" (or "< k")."""
    name = view.name(practice.practice)
    if practice.suppressed:
        return [[name, "", view.hidden, view.hidden, view.hidden, view.hidden]]
    rows = []
    for index, criterion in enumerate(CRITERIA):
        stats = practice.criteria.get(criterion)
        figures = [view.hidden] * 4  # fewer than k ratings
        if stats is not None:
            ci = f"{view.number(stats.ci_low, 2)}–{view.number(stats.ci_high, 2)}"
            figures = [
                view.number(stats.mean, 2),
                ci,
                view.number(stats.n, 0),
                view.percent(stats.dont_know_share),
            ]
        rows.append([name if index == 0 else "", view.criterion(criterion), *figures])
    return rows


def _pdf_summary_row(view: _View, practice: PracticeSummary) -> list[str]:
    """A practice's completed responses, shares and composite score (or "< k")."""
    name = view.name(practice.practice)
    if practice.suppressed:
        return [name, *[view.hidden] * 5]
    score = practice.composite
    return [
        name,
        view.number(practice.completed, 0),
        view.percent(practice.completion_rate),
        view.percent(practice.awareness),
        view.percent(practice.usage),
        f"{view.number(score.score)} ({_ci_text(view, practice)})" if score else "",
    ]


def _criteria_chart(view: _View, practices: Sequence[PracticeSummary]) -> bytes:
    """Grouped bars: the four criteria means of each practice, with 95 % CI error bars (PNG)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"font.family": "DejaVu Sans", "font.size": 8}):
        figure = Figure(figsize=(7.0, 3.3), dpi=200, layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        for index, criterion in enumerate(CRITERIA):
            _criterion_bars(axes, view, practices, index, criterion)
        _label_chart(axes, view, practices)
        figure.legend(loc="outside lower center", ncols=len(CRITERIA), frameon=False)
        out = io.BytesIO()
        figure.savefig(out, format="png")
    return out.getvalue()


def _criterion_bars(
    axes: Axes, view: _View, practices: Sequence[PracticeSummary], index: int, criterion: str
) -> None:
    """One criterion's bar in every practice's group, rising from 1 to the mean."""
    stats = [p.criteria.get(criterion) for p in practices]
    width = 0.8 / len(CRITERIA)
    offset = (index - (len(CRITERIA) - 1) / 2) * width
    axes.bar(
        [x + offset for x in range(len(practices))],
        [s.mean - 1 if s else math.nan for s in stats],
        width,
        bottom=1,
        yerr=[
            [s.mean - s.ci_low if s else 0 for s in stats],
            [s.ci_high - s.mean if s else 0 for s in stats],
        ],
        capsize=2,
        color=BAR_COLOURS[index],
        label=view.criterion(criterion),
        error_kw={"elinewidth": 0.8},
    )


def _label_chart(axes: Axes, view: _View, practices: Sequence[PracticeSummary]) -> None:
    """Practice names under the groups, the 1–5 scale, and room around a lone practice."""
    count = len(practices)
    names = [textwrap.fill(view.name(p.practice), 30) for p in practices]
    axes.set_xticks(range(count), names)
    spare = max(0.0, (3 - count) / 2)  # one or two practices keep the width of three
    axes.set_xlim(-0.5 - spare, count - 0.5 + spare)
    axes.set_ylim(1, 5)
    axes.set_yticks([1, 2, 3, 4, 5])
    axes.set_ylabel(view.t(_("Mean rating (1–5) with 95 % CI")))
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", linewidth=0.4, alpha=0.5)


def _pdf_trend(pdf: FPDF, view: _View) -> None:
    """Each practice against its previous round; a star when the change may be chance."""
    _pdf_heading(pdf, view.t(_("Trend since the previous round")), 14)
    rows = [
        [
            view.name(practice.city),
            view.name(practice.practice),
            view.day(trend.previous_opened),
            view.number(trend.previous_score),
            view.number(composite.score),
            f"{trend.arrow} {view.signed(trend.delta)}{' *' if trend.overlap else ''}",
        ]
        for practice, trend, composite in _trended(view.report)
    ]
    if not rows:
        _pdf_paragraph(pdf, view.t(_("No earlier round to compare with.")))
        return
    headings = (
        CITY,
        PRACTICE,
        _("Previous round opened"),
        _("Previous score"),
        SCORE,
        _("Change (points)"),
    )
    _pdf_table(pdf, view, headings, rows, (18, 40, 20, 12, 12, 14), numeric_from=3)
    _pdf_paragraph(pdf, f"* {view.t(OVERLAP)}", 8.5)


def _pdf_reevaluation(pdf: FPDF, view: _View) -> None:
    """The yearly re-evaluation of distinguished practices: held up, did not, or too few answers."""
    _pdf_heading(pdf, view.t(_("Yearly re-evaluation of distinguished practices")), 14)
    practices = view.report.distinguished()
    if not practices:
        _pdf_paragraph(pdf, view.t(_("No distinguished practices in this report.")))
        return
    rows = [_pdf_reevaluation_row(view, practice) for practice in practices]
    headings = (
        CITY,
        PRACTICE,
        _("Distinguished in"),
        _("Still carried out"),
        SCORE,
        _("Re-evaluation"),
    )
    _pdf_table(pdf, view, headings, rows, (16, 33, 20, 16, 12, 20), numeric_from=2)


def _pdf_reevaluation_row(view: _View, practice: PracticeSummary) -> list[str]:
    """A distinguished practice: since when, still carried out, its score and the verdict."""
    score = practice.composite.score if practice.composite else None
    return [
        view.name(practice.city),
        view.name(practice.practice),
        str(practice.distinguished_in),
        view.t(YES if practice.active else NO),
        view.hidden if practice.suppressed else view.number(score),
        view.verdict(practice),
    ]


def _pdf_comments(pdf: FPDF, view: _View) -> None:
    """Residents' comments by city and practice."""
    _pdf_heading(pdf, view.t(_("Comments")), 14)
    comments = visible_comments(view.report)
    if not comments:
        _pdf_paragraph(pdf, view.t(_("No comments.")))
        return
    practice_of = _practice_of(view.report)
    last: tuple[str, str] | None = None
    for comment in comments:
        key = (comment.city_id, comment.practice_id)
        if key != last:
            practice = practice_of(*key)
            names = (view.name(practice.city), view.name(practice.practice)) if practice else key
            _pdf_paragraph(pdf, " — ".join(names), 10, bold=True)
            last = key
        _pdf_paragraph(pdf, f"#{comment.id}  {comment.text}", 9.5)


def _pdf_method(pdf: FPDF, view: _View) -> None:
    """The method in plain words."""
    _pdf_heading(pdf, view.t(METHOD_TITLE), 16)
    for paragraph in view.method():
        _pdf_paragraph(pdf, paragraph, 10)
    _pdf_not_enough(pdf, view)


def _pdf_page_numbers(pdf: FPDF, view: Reader) -> None:
    """The period and "page / pages" at the foot of every page but the title page."""
    pdf.set_auto_page_break(False)
    total = pdf.pages_count
    for number in range(2, total + 1):
        pdf.page = number
        # fpdf2 writes a font change into the page only when the font differs from the last
        # one set: going back to a page, set another first, or the footer takes the font
        # that page ended with (and shows as garbage when that was a bold subset).
        pdf.set_font(FONT, "B", 8)
        pdf.set_font(FONT, "", 8)
        pdf.set_xy(pdf.l_margin, pdf.h - 12)
        pdf.cell(pdf.epw, 5, f"{view.heading()} · {number} / {total}", align="C")


# ----------------------------------------------------------------------------- formats


EXPORTERS: Mapping[str, Callable[[Report, Renderer, str], bytes]] = {
    "csv": to_csv,
    "csv-excel": to_csv_excel,
    "xlsx": to_xlsx,
    "pdf": to_pdf,
    "json": to_json,
}


def file_name(report: Report, fmt: str) -> str:
    """A download name such as open-cities-round-12.pdf or open-cities-2026.xlsx."""
    return period_file_name(report.kind, report.label, fmt)


def period_file_name(kind: str, label: str, fmt: str) -> str:
    """The download name of a report of some kind and label, before it is built."""
    if fmt not in EXPORTERS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORTERS)}")
    label = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") or "report"
    stem = {"round": f"round-{label}", "year": label, "edition": f"edition-{label}"}.get(
        kind, label
    )
    if fmt == "csv-excel":
        return f"open-cities-{stem}-excel.csv"
    return f"open-cities-{stem}.{fmt}"
