"""A year's published results as open data: a Frictionless Data Package (datapackage.json and
tidy CSV files), from the same report model as every other output (audit/model.py).

Decisions:
- Only the disclosure-safe report goes in (audit.summary.published_report): a suppressed practice
  is a row with `suppressed` true and empty figures, never a number; a criterion with fewer than
  k ratings likewise. Free-text comments are not open data (a few words can point at a person).
- The files are for programs: stable English column names, a dot as the decimal separator, no
  thousands separator, shares as fractions from 0 to 1, ISO dates, UTF-8 without a BOM.
- Names of cities, practices and criteria are given in all four languages (one column each), and
  the package's and each file's title and description in all four languages as the custom
  properties `titles` and `descriptions` (the standard `title` and `description` are English).
- The package says when it was generated (`created`), under which licence (OPEN_DATA_LICENSE,
  CC BY 4.0 by default), and each file how many rows it holds (`stats.rows`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from audit.export import CRITERION_NAMES, Renderer, rating_share
from audit.model import CRITERIA, PracticeSummary, Report
from audit.privacy import safe_cell
from audit.stats import ScaleStats
from conversations.messages import Msg, _

LANGUAGES = ("uk", "ru", "en", "pl")
LICENSES: Mapping[str, tuple[str, str]] = {
    "CC-BY-4.0": (
        "Creative Commons Attribution 4.0",
        "https://creativecommons.org/licenses/by/4.0/",
    ),
    "CC-BY-SA-4.0": (
        "Creative Commons Attribution Share-Alike 4.0",
        "https://creativecommons.org/licenses/by-sa/4.0/",
    ),
    "CC0-1.0": (
        "CC0 1.0",
        "https://creativecommons.org/publicdomain/zero/1.0/",
    ),
    "ODbL-1.0": (
        "Open Data Commons Open Database License 1.0",
        "https://opendatacommons.org/licenses/odbl/1-0/",
    ),
}
DEFAULT_LICENSE = "CC-BY-4.0"

PACKAGE_TITLE = _("Open Cities {year}: how migrants rate their city's integration practices")
PACKAGE_DESCRIPTION = _(
    "Results of the Open Cities survey in {year}: what migrants who live in Polish cities think "
    "of their city's integration practices. A practice with fewer than {k} completed answers has "
    "no figures (suppressed), so that no one can be recognised."
)
PRACTICES_TITLE = _("Practices")
PRACTICES_DESCRIPTION = _(
    "One row for each practice: how many people answered, shares and the composite score (0–100)."
)
CRITERIA_TITLE = _("Criteria")
CRITERIA_DESCRIPTION = _(
    "One row for each practice and criterion: the ratings from 1 to 5 and their statistics."
)


@dataclass(frozen=True)
class Column:
    """A column of an open-data file: its stable name, Table Schema type and title."""

    name: str
    type: str
    title: Msg | None = None


def _named(prefix: str, title: Msg) -> tuple[Column, ...]:
    """One text column per language (city_name_uk …), all with the same title."""
    return tuple(Column(f"{prefix}_{code}", "string", title) for code in LANGUAGES)


SUPPRESSED = Column("suppressed", "boolean", _("Suppressed"))
_HEAD = (
    Column("year", "integer"),
    Column("city_id", "string"),
    *_named("city_name", _("City")),
    Column("practice_id", "string"),
    *_named("practice_name", _("Practice")),
)
PRACTICE_COLUMNS = (
    *_HEAD,
    *_named("category_name", _("Category")),
    SUPPRESSED,
    Column("invited", "integer", _("Invited")),
    Column("started", "integer", _("Started")),
    Column("completed", "integer", _("Completed responses")),
    Column("completion_rate", "number", _("Completion rate")),
    Column("awareness", "number", _("Knew the practice")),
    Column("usage", "number", _("Used the practice")),
    Column("composite_score", "number", _("Score (0–100)")),
    Column("composite_ci_low", "number", _("95 % CI, lower")),
    Column("composite_ci_high", "number", _("95 % CI, upper")),
    Column("distinguished_in", "integer", _("Distinguished in")),
    Column("active", "boolean"),
)
CRITERION_COLUMNS = (
    *_HEAD,
    Column("criterion", "string", _("Criterion")),
    *_named("criterion_name", _("Criterion")),
    SUPPRESSED,
    Column("ratings", "integer", _("Ratings (n)")),
    Column("mean", "number", _("Mean (1–5)")),
    Column("median", "number", _("Median")),
    Column("ci_low", "number", _("95 % CI, lower")),
    Column("ci_high", "number", _("95 % CI, upper")),
    Column("dont_know_share", "number", _("Share of “don't know”")),
    *(
        Column(f"share_{value}", "number", _("Share rating {value}", value=str(value)))
        for value in range(1, 6)
    ),
)
Row = dict[str, Any]


def open_data(
    report: Report, year: int, translator: Renderer, license_id: str = DEFAULT_LICENSE
) -> dict[str, bytes]:
    """The files of a year's data package: {file name: content}, datapackage.json included."""
    if license_id not in LICENSES:
        raise ValueError(f"unknown licence {license_id!r}; use one of {', '.join(LICENSES)}")
    tables = {
        "practices": (
            PRACTICE_COLUMNS,
            [_practice_row(year, p) for p in report.practices],
            PRACTICES_TITLE,
            PRACTICES_DESCRIPTION,
        ),
        "criteria": (
            CRITERION_COLUMNS,
            [_criterion_row(year, p, c, translator) for p in report.practices for c in CRITERIA],
            CRITERIA_TITLE,
            CRITERIA_DESCRIPTION,
        ),
    }
    files: dict[str, bytes] = {}
    resources = []
    for name, (columns, rows, title, description) in tables.items():
        content = _csv(columns, rows)
        path = f"{name}.csv"
        files[path] = content
        resources.append(
            {
                "name": name,
                "path": path,
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                **_texts(translator, title, description, year=year, k=report.k),
                "stats": {"rows": len(rows), "bytes": len(content)},
                "schema": _schema(columns, translator),
            }
        )
    license_title, license_path = LICENSES[license_id]
    package = {
        "profile": "tabular-data-package",
        "name": f"open-cities-{year}",
        "id": f"open-cities-{year}",
        **_texts(translator, PACKAGE_TITLE, PACKAGE_DESCRIPTION, year=year, k=report.k),
        "version": report.published_on.isoformat() if report.published_on else "0",
        "created": report.generated_at.isoformat(),
        "licenses": [{"name": license_id, "title": license_title, "path": license_path}],
        "keywords": ["migration", "integration", "cities", "Poland", "survey"],
        "k": report.k,
        "interim": report.interim,
        "published_on": report.published_on.isoformat() if report.published_on else None,
        "resources": resources,
    }
    files["datapackage.json"] = (
        json.dumps(package, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"
    )
    return files


def _texts(translator: Renderer, title: Msg, description: Msg, **values: Any) -> dict[str, Any]:
    """English title and description, and both in the four languages (custom properties)."""
    titles = {c: translator.render(_format(title, values), c) for c in LANGUAGES}
    descriptions = {c: translator.render(_format(description, values), c) for c in LANGUAGES}
    return {
        "title": titles["en"],
        "description": descriptions["en"],
        "titles": titles,
        "descriptions": descriptions,
    }


def _format(message: Msg, values: Mapping[str, Any]) -> Msg:
    """A message with its placeholders filled in (those it lacks are ignored)."""
    return Msg(message.msgid, {name: str(value) for name, value in values.items()})


def _schema(columns: Sequence[Column], translator: Renderer) -> dict[str, Any]:
    """A Table Schema: every column typed, titled in English and in the four languages."""
    fields = []
    for column in columns:
        field: dict[str, Any] = {"name": column.name, "type": column.type}
        if column.type == "boolean":
            field.update(trueValues=["true"], falseValues=["false"])
        if column.title is not None:
            titles = {c: translator.render(column.title, c) for c in LANGUAGES}
            field.update(title=titles["en"], titles=titles)
        fields.append(field)
    return {"fields": fields, "missingValues": [""], "primaryKey": _key(columns)}


def _key(columns: Sequence[Column]) -> list[str]:
    names = [c.name for c in columns]
    return ["year", "practice_id", "criterion"] if "criterion" in names else ["year", "practice_id"]


def _csv(columns: Sequence[Column], rows: Sequence[Row]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.name for c in columns])
    for row in rows:
        writer.writerow([_value(row.get(c.name)) for c in columns])
    return out.getvalue().encode("utf-8")


def _value(value: Any) -> str:
    """A cell for programs: empty for none, true/false, a dot and up to four decimals."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format(round(value, 4) + 0.0, "f").rstrip("0").rstrip(".")
    return safe_cell(str(value))


def _names(prefix: str, names: Mapping[str, str]) -> Row:
    return {f"{prefix}_{code}": names.get(code) or names.get("en") or "" for code in LANGUAGES}


def _head(year: int, practice: PracticeSummary) -> Row:
    return {
        "year": year,
        "city_id": practice.city_id,
        **_names("city_name", practice.city),
        "practice_id": practice.practice_id,
        **_names("practice_name", practice.practice),
    }


def _practice_row(year: int, practice: PracticeSummary) -> Row:
    """A practice's counts, shares and score, or only `suppressed` when below k."""
    row: Row = {
        **_head(year, practice),
        **_names("category_name", practice.category),
        "suppressed": practice.suppressed,
        "invited": practice.invited,
        "distinguished_in": practice.distinguished_in,
        "active": practice.active,
    }
    if practice.suppressed:
        return row
    composite = practice.composite
    return {
        **row,
        "started": practice.started,
        "completed": practice.completed,
        "completion_rate": practice.completion_rate,
        "awareness": practice.awareness,
        "usage": practice.usage,
        "composite_score": composite.score if composite else None,
        "composite_ci_low": composite.ci_low if composite else None,
        "composite_ci_high": composite.ci_high if composite else None,
    }


def _criterion_row(
    year: int, practice: PracticeSummary, criterion: str, translator: Renderer
) -> Row:
    """A criterion's ratings in a practice, or only `suppressed` when below k."""
    stats: ScaleStats | None = None if practice.suppressed else practice.criteria.get(criterion)
    row: Row = {
        **_head(year, practice),
        "criterion": criterion,
        **{
            f"criterion_name_{code}": translator.render(CRITERION_NAMES[criterion], code)
            for code in LANGUAGES
        },
        "suppressed": stats is None,
    }
    if stats is None:
        return row
    return {
        **row,
        "ratings": stats.n,
        "mean": stats.mean,
        "median": stats.median,
        "ci_low": stats.ci_low,
        "ci_high": stats.ci_high,
        "dont_know_share": stats.dont_know_share,
        **{f"share_{v}": rating_share(stats, v) for v in range(1, 6)},
    }
