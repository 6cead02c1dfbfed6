"""The edition report as CSV, XLSX, PDF or JSON: per category of practice the combined ranking
with both parts (jury and residents, n, intervals, ties, "ranked on the jury alone"), the
jurors' agreement, the jury's justifications (jurors named Juror A–E only), the re-analysis
verdicts and the method.

It is drawn with the audit report's machinery (audit/export.py): the same cells made safe
against formula injection, the same sheets, tables, fonts and page feet; only what is shown
differs. The residents' figures come disclosure-controlled (app/evaluation.py:
residents_figures): a part resting on fewer than k people shows "< k" and never a number.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from audit.evaluation import EditionReport, Justification, Part, Ranked, Reanalysis
from audit.export import (
    CITY,
    CRITERION,
    CRITERION_NAMES,
    GENERATED,
    METHOD,
    NO,
    PRACTICE,
    SHEET_NAMES,
    YES,
    Cell,
    Reading,
    TextRenderer,
    _Column,
    _csv_value,
    _fill_sheet,
    _new_pdf,
    _pdf_heading,
    _pdf_page_numbers,
    _pdf_paragraph,
    _pdf_table,
    _section,
    _sheet_title,
    fill_lines,
    new_workbook,
    period_file_name,
    reading_day,
    reading_number,
    safe_cell,
    workbook_bytes,
)
from audit.stats import Composite
from conversations.messages import Local, Msg, Plain, _

if TYPE_CHECKING:
    from fpdf import FPDF

EDITION_TITLE = _("Open Cities: the annual evaluation of integration practices")
WEIGHTS = _("Weights: jury {jury} %, residents {residents} %.")
AGREEMENT = _("Jurors' agreement (Krippendorff's alpha, ordinal): {alpha}")
NO_AGREEMENT = _("not computed: too few scores to compare")
JUROR = _("Juror {letter}")
STEPPED_ASIDE = _("stepped aside: involved with the practice")
TIED_NOTE = _("“=”: tied — the 95 % CIs overlap, so the order between them is not clear.")
ALONE_NOTE = _(
    "†: the residents' part rests on fewer than {k} people; the practice is ranked on the jury "
    "part alone."
)
METHOD_TITLE = _("How the edition's scores are calculated")
EDITION_METHOD = (
    _(
        "Each juror scores each nominated practice from 1 to 5 on the three criteria of the "
        "action — the city's engagement, long-term character and comprehensiveness — with a "
        "one-sentence reason. A juror involved with a practice steps aside and does not score it."
    ),
    _(
        "Each score s is mapped to 0–100 as (s − 1) / 4 × 100, and a juror's three criteria are "
        "averaged. The jury part of a practice is the mean over the jurors who scored it, with a "
        "95 % CI over the jurors: mean ± t(0.975, n − 1) × s / √n."
    ),
    _(
        "The residents' part is the composite score (0–100) from the residents' survey of the "
        "year, as in the annual report."
    ),
    _(
        "Combined score = {jury} % × jury part + {residents} % × residents' part. The weights "
        "were declared when the edition was opened and could not change once the jury phase "
        "began. The 95 % CI of the combined score treats the two parts as independent."
    ),
    ALONE_NOTE,
    TIED_NOTE,
    _(
        "The jurors' agreement is Krippendorff's alpha for ordinal data over every score given: "
        "1 means full agreement, 0 no more than chance. A practice a juror stepped aside from "
        "counts as a missing value."
    ),
    _(
        "Jurors are named Juror A to Juror E in the order they joined the jury; their names "
        "are not published."
    ),
    METHOD[-1],  # the disclosure rule of the residents' figures, as every report states it
)
VERDICT_NAMES: Mapping[str, Msg] = {
    "continued": _("still carried out"),
    "changed": _("changed"),
    "discontinued": _("discontinued"),
}
CATEGORY, RANK, TIED = _("Category"), _("Rank"), _("Tied")
COMBINED, JURY_PART = _("Combined score (0–100)"), _("Jury part (0–100)")
RESIDENTS_PART = _("Residents' part (0–100)")
JURORS_N, RESIDENTS_N = _("Jurors (n)"), _("Residents (n)")
JURY_ALONE = _("Ranked on the jury alone")
JUROR_COLUMN, SCORE_15, JUSTIFICATION = _("Juror"), _("Score (1–5)"), _("Justification")
COMBINED_LOWER, COMBINED_UPPER = _("Combined: 95 % CI, lower"), _("Combined: 95 % CI, upper")
JURY_LOWER, JURY_UPPER = _("Jury part: 95 % CI, lower"), _("Jury part: 95 % CI, upper")
RESIDENTS_LOWER = _("Residents: 95 % CI, lower")
RESIDENTS_UPPER = _("Residents: 95 % CI, upper")
DISTINGUISHED_IN, VERDICT, EVIDENCE = _("Distinguished in"), _("Verdict"), _("Evidence")
SHEETS: Mapping[str, Msg] = {
    "ranking": _("Ranking"),
    "justifications": _("Justifications"),
    "reanalysis": _("Re-analysis"),
    "replies": _("Responses"),
    "method": SHEET_NAMES["method"],
}
REPLIES_TITLE = _("The cities' responses to the results")
NO_REPLIES = _("No city has sent a response to these results.")
LANGUAGE_COLUMN, RESPONSE = _("Language"), _("The city's response")
JUSTIFICATIONS_TITLE = _("The jury's justifications")
REANALYSIS_TITLE = _("Re-analysis of practices distinguished earlier")
NO_REANALYSIS = _("No re-analysis verdicts are recorded for this edition.")
NO_PRACTICES = _("This edition has no practices to rank.")


@dataclass(frozen=True)
class _EditionView(Reading):
    """The edition report as one reader sees it."""

    report: EditionReport
    translator: TextRenderer
    locale: str

    def heading(self) -> str:
        """ "Edition 2027", for the title and the page feet."""
        return self.t(_("Edition {year}", year=str(self.report.year)))

    def name(self, texts: Mapping[str, str] | None, fallback: str) -> str:
        """A name in the reader's language (its id when the catalog has none)."""
        return self.t(Local(texts)) if texts else fallback

    def practice(self, practice_id: str) -> str:
        """A practice's name."""
        return self.name(self.report.names.get(practice_id), practice_id)

    def city(self, practice_id: str) -> str:
        """The name of a practice's city."""
        return self.name(self.report.cities.get(practice_id), "")

    def category(self, category_id: str) -> str:
        """A category's name."""
        return self.name(self.report.categories.get(category_id), category_id)

    def juror(self, letter: str) -> str:
        """ "Juror A"."""
        return self.t(_("Juror {letter}", letter=letter))

    @property
    def hidden(self) -> str:
        """What a residents' figure below k shows instead of a number."""
        return f"< {self.report.k}"

    def alpha(self) -> str:
        """The agreement line."""
        alpha = self.report.alpha
        value = self.t(NO_AGREEMENT) if alpha is None else reading_number(alpha, self.locale, 2)
        return self.t(Msg(AGREEMENT.msgid, {"alpha": Plain(value)}))

    def texts(self, texts: Sequence[Msg]) -> list[str]:
        """Texts with the report's weights and k filled in."""
        report = self.report
        params = {"jury": report.jury_weight, "residents": report.residents_weight, "k": report.k}
        return [self.t(Msg(text.msgid, params)) for text in texts]

    def verdict(self, verdict: str) -> str:
        """A re-analysis verdict in words."""
        return self.t(VERDICT_NAMES.get(verdict, Plain(verdict)))


def _residents_shown(row: Ranked, k: int) -> Composite | None:
    """The residents' part when it may be shown (at least k people), else None."""
    residents = row.entry.residents
    return residents if residents is not None and row.entry.residents_n >= k else None


def _rows(report: EditionReport) -> list[tuple[str, Ranked]]:
    """(category, ranked practice), category by category, best first."""
    return [(category, row) for category, rows in report.by_category.items() for row in rows]


# ----------------------------------------------------------------------------- tables

RANKING_COLUMNS = (
    _Column(CATEGORY, None, 18),
    _Column(RANK, "0", 6),
    _Column(TIED, None, 7),
    _Column(CITY, None, 14),
    _Column(PRACTICE, None, 36),
    _Column(COMBINED, "0.0", 11),
    _Column(COMBINED_LOWER, "0.0", 10),
    _Column(COMBINED_UPPER, "0.0", 10),
    _Column(JURY_PART, "0.0", 10),
    _Column(JURY_LOWER, "0.0", 10),
    _Column(JURY_UPPER, "0.0", 10),
    _Column(JURORS_N, "0", 8),
    _Column(RESIDENTS_PART, "0.0", 10),
    _Column(RESIDENTS_LOWER, "0.0", 10),
    _Column(RESIDENTS_UPPER, "0.0", 10),
    _Column(RESIDENTS_N, "0", 10),
    _Column(JURY_ALONE, None, 10),
)
JUSTIFICATION_COLUMNS = (
    _Column(JUROR_COLUMN, None, 10),
    _Column(CRITERION, None, 22),
    _Column(SCORE_15, "0", 8),
    _Column(JUSTIFICATION, None, 70, wrap=True),
)
REANALYSIS_COLUMNS = (
    _Column(CITY, None, 14),
    _Column(PRACTICE, None, 36),
    _Column(DISTINGUISHED_IN, "0", 11),
    _Column(VERDICT, None, 16),
    _Column(EVIDENCE, None, 50, wrap=True),
    _Column(RESIDENTS_PART, "0.0", 10),
    _Column(RESIDENTS_LOWER, "0.0", 10),
    _Column(RESIDENTS_UPPER, "0.0", 10),
    _Column(RESIDENTS_N, "0", 10),
)


def _part_cells(part: Part | Composite | None) -> list[Cell]:
    """Score, lower and upper bound (blank when there is none)."""
    return [None] * 3 if part is None else [part.score, part.ci_low, part.ci_high]


def _ranking_row(view: _EditionView, category: str, row: Ranked) -> list[Cell]:
    """A ranked practice with both parts; the residents' figures "< k" below k."""
    entry, k = row.entry, view.report.k
    residents = _residents_shown(row, k)
    residents_cells: list[Cell] = (
        [*_part_cells(residents), entry.residents_n] if residents else [view.hidden] * 4
    )
    return [
        view.category(category),
        row.rank,
        view.t(YES if row.tied else NO),
        view.city(entry.practice_id),
        view.practice(entry.practice_id),
        *_part_cells(row.combined),
        *_part_cells(entry.jury),
        entry.jury.n if entry.jury else 0,
        *residents_cells,
        view.t(YES if row.jury_only else NO),
    ]


def _justification_cells(view: _EditionView, item: Justification) -> list[Cell]:
    """Juror letter, criterion, score and reason."""
    return [view.juror(item.juror), view.criterion(item.criterion), item.score, item.text]


def _recusal_cells(view: _EditionView, letter: str) -> list[Cell]:
    """A juror who stepped aside from a practice."""
    return [view.juror(letter), view.t(STEPPED_ASIDE), None, None]


def _said_of(view: _EditionView, practice_id: str) -> list[list[Cell]]:
    """What the jurors said of one practice: their scores with reasons, then who stepped aside."""
    report = view.report
    return [
        _justification_cells(view, item)
        for item in report.justifications
        if item.practice_id == practice_id
    ] + [_recusal_cells(view, letter) for pid, letter in report.recusals if pid == practice_id]


REPLY_COLUMNS = (
    _Column(CITY, None, 14),
    _Column(PRACTICE, None, 36),
    _Column(LANGUAGE_COLUMN, None, 10),
    _Column(RESPONSE, None, 80, wrap=True),
)


def _reply_rows(view: _EditionView) -> list[list[Cell]]:
    """Every approved response of a city, in every language it was given in."""
    return [
        [view.city(practice_id), view.practice(practice_id), locale, text]
        for practice_id, texts in sorted(view.report.replies.items())
        for locale, text in sorted(texts.items())
    ]


def _replies_for_reader(view: _EditionView) -> list[tuple[str, list[str]]]:
    """Per practice with a response: "City — Practice" and the response in the reader's
    language, else every language it was given in (as the public pages show it)."""
    shown = []
    for practice_id, texts in sorted(view.report.replies.items()):
        own = texts.get(view.locale)
        heading = " — ".join(t for t in (view.city(practice_id), view.practice(practice_id)) if t)
        shown.append((heading, [own] if own else [texts[code] for code in sorted(texts)]))
    return shown


def _reanalysis_row(view: _EditionView, item: Reanalysis) -> list[Cell]:
    """A re-analysed practice: its verdict, evidence and the residents' figures of the year."""
    shown = (
        item.residents if item.residents is not None and item.residents_n >= view.report.k else None
    )
    residents: list[Cell] = [*_part_cells(shown), item.residents_n] if shown else [view.hidden] * 4
    return [
        view.city(item.practice_id),
        view.practice(item.practice_id),
        item.distinguished_in,
        view.verdict(item.verdict),
        item.evidence,
        *residents,
    ]


# ----------------------------------------------------------------------------- CSV


def edition_to_csv(report: EditionReport, translator: TextRenderer, locale: str) -> bytes:
    """Tidy CSV: one row per practice × juror × criterion (the ranking figures repeated), a
    practice nobody scored in one row; UTF-8 with a BOM, numbers with a dot."""
    view = _EditionView(report, translator, locale)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    columns = (*RANKING_COLUMNS, *JUSTIFICATION_COLUMNS)
    writer.writerow([safe_cell(view.t(column.label)) for column in columns])
    for category, row in _rows(report):
        head = _ranking_row(view, category, row)
        for said in _said_of(view, row.entry.practice_id) or [[None] * 4]:
            writer.writerow([_csv_value(value) for value in (*head, *said)])
    return out.getvalue().encode("utf-8-sig")


# ----------------------------------------------------------------------------- XLSX


def edition_to_xlsx(report: EditionReport, translator: TextRenderer, locale: str) -> bytes:
    """A workbook with the sheets Ranking, Justifications, Re-analysis, Responses and Method."""
    view = _EditionView(report, translator, locale)
    book, ranking = new_workbook(view.t(SHEETS["ranking"]))
    _fill_sheet(
        ranking, view, RANKING_COLUMNS, [_ranking_row(view, c, r) for c, r in _rows(report)]
    )
    said = book.create_sheet(_sheet_title(view.t(SHEETS["justifications"])))
    said_rows = [
        [view.city(row.entry.practice_id), view.practice(row.entry.practice_id), *cells]
        for _category, row in _rows(report)
        for cells in _said_of(view, row.entry.practice_id)
    ]
    _fill_sheet(
        said, view, (RANKING_COLUMNS[3], RANKING_COLUMNS[4], *JUSTIFICATION_COLUMNS), said_rows
    )
    reanalysis = book.create_sheet(_sheet_title(view.t(SHEETS["reanalysis"])))
    _fill_sheet(
        reanalysis, view, REANALYSIS_COLUMNS, [_reanalysis_row(view, r) for r in report.reanalysis]
    )
    replies = book.create_sheet(_sheet_title(view.t(SHEETS["replies"])))
    _fill_sheet(replies, view, REPLY_COLUMNS, _reply_rows(view))
    method = book.create_sheet(_sheet_title(view.t(SHEETS["method"])))
    fill_lines(method, [(text, bold) for text, bold in _method_lines(view)])
    return workbook_bytes(book)


def _method_lines(view: _EditionView) -> list[tuple[str, bool]]:
    """The method page: heading, weights, agreement, then the method in words."""
    return [
        (view.t(METHOD_TITLE), True),
        (view.t(Msg(WEIGHTS.msgid, _weights(view.report))), False),
        (view.alpha(), False),
        *((text, False) for text in view.texts(EDITION_METHOD)),
    ]


def _weights(report: EditionReport) -> dict[str, Any]:
    return {"jury": report.jury_weight, "residents": report.residents_weight}


# ----------------------------------------------------------------------------- JSON


def edition_to_json(report: EditionReport, translator: TextRenderer, locale: str) -> bytes:
    """The whole edition report for programs: figures as numbers, null below k."""
    view = _EditionView(report, translator, locale)
    document = {
        "kind": "edition",
        "year": report.year,
        "title": view.heading(),
        "generated_at": report.generated_at.isoformat(),
        "locale": locale,
        "k": report.k,
        "weights": _weights(report),
        "agreement": {"krippendorff_alpha_ordinal": report.alpha},
        "jurors": [view.juror(letter) for letter in report.jurors],
        "categories": [
            {
                "category_id": category,
                "category": view.category(category),
                "ranking": [_json_ranked(view, row) for row in rows],
            }
            for category, rows in report.by_category.items()
        ],
        "justifications": [
            {
                "practice_id": item.practice_id,
                "juror": view.juror(item.juror),
                "criterion": item.criterion,
                "score": item.score,
                "text": item.text,
            }
            for item in report.justifications
        ],
        "recusals": [
            {"practice_id": pid, "juror": view.juror(letter)} for pid, letter in report.recusals
        ],
        "reanalysis": [_json_reanalysis(view, item) for item in report.reanalysis],
        "replies": [
            {"practice_id": practice_id, "practice": view.practice(practice_id), "texts": texts}
            for practice_id, texts in sorted(report.replies.items())
        ],
        "labels": {
            "criteria": {name: view.criterion(name) for name in CRITERION_NAMES},
            "verdicts": {name: view.verdict(name) for name in VERDICT_NAMES},
            "suppressed": view.hidden,
            "method": [text for text, _bold in _method_lines(view)[1:]],
        },
    }
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")


def _json_part(part: Part | Composite | None, n: int | None) -> dict[str, Any] | None:
    if part is None:
        return None
    return {"score": part.score, "ci_low": part.ci_low, "ci_high": part.ci_high, "n": n}


def _json_ranked(view: _EditionView, row: Ranked) -> dict[str, Any]:
    entry = row.entry
    residents = _residents_shown(row, view.report.k)
    return {
        "practice_id": entry.practice_id,
        "practice": view.practice(entry.practice_id),
        "city": view.city(entry.practice_id),
        "rank": row.rank,
        "tied": row.tied,
        "jury_only": row.jury_only,
        "combined": _json_part(row.combined, None),
        "jury": _json_part(entry.jury, entry.jury.n if entry.jury else 0),
        "residents": _json_part(residents, entry.residents_n) if residents else None,
        "residents_suppressed": residents is None,
    }


def _json_reanalysis(view: _EditionView, item: Reanalysis) -> dict[str, Any]:
    shown = (
        item.residents if item.residents is not None and item.residents_n >= view.report.k else None
    )
    return {
        "practice_id": item.practice_id,
        "practice": view.practice(item.practice_id),
        "distinguished_in": item.distinguished_in,
        "verdict": item.verdict,
        "evidence": item.evidence,
        "residents": _json_part(shown, item.residents_n) if shown else None,
    }


# ----------------------------------------------------------------------------- PDF


def edition_to_pdf(report: EditionReport, translator: TextRenderer, locale: str) -> bytes:
    """A printable report: a cover, the ranking per category, the justifications, the
    re-analysis, the cities' responses and the method."""
    view = _EditionView(report, translator, locale)
    pdf = _new_pdf(view, EDITION_TITLE)
    pdf.add_page()
    pdf.set_y(70)
    _pdf_paragraph(pdf, view.t(EDITION_TITLE), 22, bold=True)
    pdf.ln(4)
    _pdf_paragraph(pdf, view.heading(), 16, bold=True)
    _pdf_paragraph(pdf, view.t(Msg(WEIGHTS.msgid, _weights(report))), 12)
    _pdf_paragraph(pdf, view.alpha(), 12)
    generated = reading_day(report.generated_at.date(), locale)
    _pdf_paragraph(pdf, view.t(Msg(GENERATED.msgid, {"date": Plain(generated)})), 10)
    pdf.add_page()
    _pdf_ranking(pdf, view)
    _section(pdf, 40)
    _pdf_justifications(pdf, view)
    _section(pdf, 40)
    _pdf_reanalysis(pdf, view)
    _section(pdf, 40)
    _pdf_replies(pdf, view)
    _section(pdf, 80)
    _pdf_heading(pdf, view.t(METHOD_TITLE), 16)
    for text, _bold in _method_lines(view)[1:]:
        _pdf_paragraph(pdf, text, 10)
    _pdf_page_numbers(pdf, view)
    return bytes(pdf.output())


def _pdf_ranking(pdf: FPDF, view: _EditionView) -> None:
    """Per category a table: rank, practice, combined score, both parts and their n."""
    report = view.report
    if not report.by_category:
        _pdf_paragraph(pdf, view.t(NO_PRACTICES))
    headings = (RANK, CITY, PRACTICE, COMBINED, JURY_PART, JURORS_N, RESIDENTS_PART, RESIDENTS_N)
    for category, rows in report.by_category.items():
        _pdf_heading(pdf, view.category(category), 14)
        table = [_pdf_ranking_row(view, row) for row in rows]
        _pdf_table(pdf, view, headings, table, (7, 14, 30, 18, 18, 9, 18, 10), numeric_from=3)
    _pdf_paragraph(pdf, view.t(TIED_NOTE), 8.5)
    _pdf_paragraph(pdf, view.texts((ALONE_NOTE,))[0], 8.5)


def _pdf_ranking_row(view: _EditionView, row: Ranked) -> list[str]:
    entry = row.entry
    residents = _residents_shown(row, view.report.k)
    return [
        f"{row.rank}{'=' if row.tied else ''}",
        view.city(entry.practice_id),
        view.practice(entry.practice_id) + (" †" if row.jury_only else ""),
        _pdf_part(view, row.combined),
        _pdf_part(view, entry.jury),
        str(entry.jury.n if entry.jury else 0),
        _pdf_part(view, residents) if residents else view.hidden,
        str(entry.residents_n) if residents else view.hidden,
    ]


def _pdf_part(view: _EditionView, part: Part | Composite | None) -> str:
    """ "72,5 (61,0–84,0)"; empty when there is none."""
    if part is None:
        return ""
    return f"{view.number(part.score)} ({view.number(part.ci_low)}–{view.number(part.ci_high)})"


def _pdf_justifications(pdf: FPDF, view: _EditionView) -> None:
    """What each juror said of each practice, by practice."""
    _pdf_heading(pdf, view.t(JUSTIFICATIONS_TITLE), 14)
    for _category, row in _rows(view.report):
        said = _said_of(view, row.entry.practice_id)
        if not said:
            continue
        city, name = view.city(row.entry.practice_id), view.practice(row.entry.practice_id)
        _pdf_paragraph(pdf, " — ".join(t for t in (city, name) if t), 10, bold=True)
        for juror, criterion, score, text in said:
            line = f"{juror} · {criterion}" + ("" if score is None else f": {score} — {text}")
            _pdf_paragraph(pdf, line, 9.5)


def _pdf_reanalysis(pdf: FPDF, view: _EditionView) -> None:
    """The re-analysis verdicts (none recorded yet: a sentence says so)."""
    _pdf_heading(pdf, view.t(REANALYSIS_TITLE), 14)
    items = view.report.reanalysis
    if not items:
        _pdf_paragraph(pdf, view.t(NO_REANALYSIS))
        return
    rows = [
        [("" if v is None else view.number(v) if isinstance(v, float) else str(v)) for v in r]
        for r in (_reanalysis_row(view, item) for item in items)
    ]
    headings = [column.label for column in REANALYSIS_COLUMNS]
    _pdf_table(pdf, view, headings, rows, (12, 24, 10, 14, 30, 10, 9, 9, 9), numeric_from=5)


def _pdf_replies(pdf: FPDF, view: _EditionView) -> None:
    """The cities' approved responses (the right of reply), by practice."""
    _pdf_heading(pdf, view.t(REPLIES_TITLE), 14)
    shown = _replies_for_reader(view)
    if not shown:
        _pdf_paragraph(pdf, view.t(NO_REPLIES))
    for heading, texts in shown:
        _pdf_paragraph(pdf, heading, 10, bold=True)
        for text in texts:
            _pdf_paragraph(pdf, text, 9.5)


# ----------------------------------------------------------------------------- formats


EDITION_EXPORTERS: Mapping[str, Callable[[EditionReport, TextRenderer, str], bytes]] = {
    "csv": edition_to_csv,
    "xlsx": edition_to_xlsx,
    "pdf": edition_to_pdf,
    "json": edition_to_json,
}


def edition_file_name(year: int, fmt: str) -> str:
    """open-cities-edition-2027.pdf."""
    return period_file_name("edition", str(year), fmt)
