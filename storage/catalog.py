"""The catalog file (cities, categories, practices): read, check, upsert, export."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from inputfiles import FileProblem, csv_rows, line_of, load_yaml, read_text
from storage.models import Category, City, Practice
from storage.uow import UnitOfWork

LANGUAGES = ("uk", "ru", "en", "pl")
DEFAULT_CATALOG = Path(__file__).parent / "catalog" / "open-cities.yaml"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_CSV_REQUIRED = [
    "city_id",
    *(f"city_name_{lang}" for lang in LANGUAGES),
    "practice_id",
    "category",
    *(f"name_{lang}" for lang in LANGUAGES),
    *(f"description_{lang}" for lang in LANGUAGES),
]
MAX_CATALOG_BYTES = 2 * 1024 * 1024  # the shipped catalog has 15 KB
_CSV_FIELDS = [
    "city_id",
    *(f"city_name_{lang}" for lang in LANGUAGES),
    "practice_id",
    "category",
    *(f"name_{lang}" for lang in LANGUAGES),
    *(f"description_{lang}" for lang in LANGUAGES),
    "distinguished_in",
    "active",
    "documented",
    "to_complete",
    "source",
]


class CatalogError(Exception):
    """The catalog file has problems; the message lists them."""


Where = tuple[Any, ...]  # a path into the catalog: ("cities", 2, "practices", 0, "id")
Locate = Callable[[Where], int | None]  # the line of a path in the file, when known


def read_catalog(path: Path) -> dict[str, Any]:
    """Read a catalog from YAML or CSV and check it; raise CatalogError listing every problem
    with its file and line. A file that is too big or not UTF-8, a YAML key given twice, an
    id given twice, or a CSV whose header lacks columns is refused as a whole."""
    try:
        text = read_text(path, MAX_CATALOG_BYTES)
        if path.suffix.lower() == ".csv":
            data, lines, problems = _from_csv(text, path)

            def locate(where: Where) -> int | None:
                return _csv_line(lines, where)

        else:
            root, loaded = load_yaml(text, path)
            data, problems = loaded if loaded is not None else {}, []

            def locate(where: Where) -> int | None:
                return line_of(root, where) if root is not None else None

    except FileProblem as problem:
        raise CatalogError(str(problem)) from None
    problems += [_at(path, locate(where), message) for where, message in _problems(data, locate)]
    if problems:
        raise CatalogError("\n".join(problems))
    return data


def _at(path: Path, line: int | None, message: str) -> str:
    return f"{path}:{line}: {message}" if line else f"{path}: {message}"


def _problems(data: Any, locate: Locate) -> Iterator[tuple[Where, str]]:
    if not isinstance(data, dict) or not isinstance(data.get("cities"), list):
        yield (), "expected a mapping with a list of 'cities'"
        return
    categories = {c.get("id") for c in data.get("categories") or [] if isinstance(c, dict)}
    cities: dict[str, Where] = {}
    practices: dict[str, Where] = {}
    for index, city in enumerate(data["cities"]):
        where: Where = ("cities", index)
        cid = city.get("id") if isinstance(city, dict) else None
        if not isinstance(cid, str) or not _SLUG.match(cid) or len(cid) > 24:
            yield where, f"city id {cid!r} must be lowercase ASCII letters, digits and '-' (max 24)"
            continue
        if cid in cities:
            yield (*where, "id"), f"city id {cid!r} appears twice{_first(locate, cities[cid])}"
            continue
        cities[cid] = (*where, "id")
        yield from _missing_languages(city.get("name"), f"city {cid}: name", (*where, "name"))
        for number, practice in enumerate(city.get("practices") or []):
            spot: Where = (*where, "practices", number)
            pid = practice.get("id") if isinstance(practice, dict) else None
            if not isinstance(pid, str) or not _SLUG.match(pid) or len(pid) > 40:
                yield (
                    spot,
                    f"practice id {pid!r} must be lowercase ASCII letters, digits and '-' (max 40)",
                )
                continue
            if pid in practices:
                yield (
                    (*spot, "id"),
                    f"practice id {pid!r} appears twice{_first(locate, practices[pid])}",
                )
                continue
            practices[pid] = (*spot, "id")
            if practice.get("category") not in categories:
                yield spot, f"practice {pid}: unknown category {practice.get('category')!r}"
            yield from _missing_languages(
                practice.get("name"), f"practice {pid}: name", (*spot, "name")
            )
            yield from _missing_languages(
                practice.get("description"), f"practice {pid}: description", (*spot, "description")
            )
            year = practice.get("distinguished_in")
            if year is not None and not (isinstance(year, int) and 2000 <= year <= 2100):
                yield spot, f"practice {pid}: distinguished_in must be a year or empty"


def _first(locate: Locate, where: Where) -> str:
    line = locate(where)
    return f" (first on line {line})" if line else ""


def _missing_languages(value: Any, what: str, where: Where) -> Iterator[tuple[Where, str]]:
    if not isinstance(value, dict):
        yield where, f"{what} needs a text in each language ({', '.join(LANGUAGES)})"
        return
    for language in LANGUAGES:
        if not str(value.get(language) or "").strip():
            yield where, f"{what} is missing the '{language}' text"


async def load_catalog(uow: UnitOfWork, data: dict[str, Any]) -> list[str]:
    """Upsert a checked catalog; return a line per added or changed row (idempotent)."""
    changes: list[str] = []
    known = {c.id for c in await uow.catalog.categories()}
    named = [c for c in data.get("categories") or [] if c.get("name")]
    missing = {c["id"] for c in data.get("categories") or []} - known - {c["id"] for c in named}
    if missing:
        raise CatalogError(
            f"unknown categories: {', '.join(sorted(missing))}; "
            "add them with their names in a YAML catalog first"
        )
    for category in named:
        result = await uow.catalog.upsert(Category, category["id"], {"name": category["name"]})
        _note(changes, result, "category", category["id"])
    for city_position, city in enumerate(data["cities"]):
        values = {"name": city["name"], "position": city_position}
        _note(changes, await uow.catalog.upsert(City, city["id"], values), "city", city["id"])
        for position, practice in enumerate(city.get("practices") or []):
            result = await uow.catalog.upsert(
                Practice,
                practice["id"],
                {
                    "city_id": city["id"],
                    "category_id": practice["category"],
                    "name": practice["name"],
                    "description": practice["description"],
                    "active": bool(practice.get("active", True)),
                    "distinguished_in": practice.get("distinguished_in"),
                    "documented": list(practice.get("documented") or []),
                    "to_complete": list(practice.get("to_complete") or []),
                    "source": practice.get("source"),
                    "position": position,
                },
            )
            _note(changes, result, "practice", practice["id"])
    return changes


def _note(changes: list[str], result: str, kind: str, key: str) -> None:
    if result != "unchanged":
        changes.append(f"{result}: {kind} {key}")


async def export_catalog(uow: UnitOfWork) -> dict[str, Any]:
    """The catalog as stored, in the file format."""
    practices = await uow.catalog.practices()
    return {
        "categories": [{"id": c.id, "name": c.name} for c in await uow.catalog.categories()],
        "cities": [
            {
                "id": city.id,
                "name": city.name,
                "practices": [
                    {
                        "id": p.id,
                        "category": p.category_id,
                        "name": p.name,
                        "description": p.description,
                        "distinguished_in": p.distinguished_in,
                        "active": p.active,
                        "documented": p.documented,
                        "to_complete": p.to_complete,
                        "source": p.source,
                    }
                    for p in practices
                    if p.city_id == city.id
                ],
            }
            for city in await uow.catalog.cities()
        ],
    }


def catalog_to_yaml(data: dict[str, Any]) -> str:
    """Serialise a catalog as YAML."""
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)


def catalog_to_csv(data: dict[str, Any]) -> str:
    """Serialise a catalog as CSV, one row per practice (cities without practices get one row)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=_CSV_FIELDS)
    writer.writeheader()
    for city in data["cities"]:
        base = {"city_id": city["id"], **{f"city_name_{k}": v for k, v in city["name"].items()}}
        for practice in city["practices"] or [None]:
            row = dict(base)
            if practice:
                row.update(
                    {
                        "practice_id": practice["id"],
                        "category": practice["category"],
                        **{f"name_{k}": v for k, v in practice["name"].items()},
                        **{f"description_{k}": v for k, v in practice["description"].items()},
                        "distinguished_in": practice["distinguished_in"] or "",
                        "active": "yes" if practice["active"] else "no",
                        "documented": " ".join(practice["documented"]),
                        "to_complete": " ".join(practice["to_complete"]),
                        "source": practice["source"] or "",
                    }
                )
            writer.writerow(row)
    return out.getvalue()


def _from_csv(text: str, path: Path) -> tuple[dict[str, Any], dict[Where, int], list[str]]:
    """The catalog in a CSV file (one row per practice), the line of each city and practice,
    and the rows' own problems (a city named differently on two rows)."""
    cities: dict[str, dict[str, Any]] = {}
    lines: dict[Where, int] = {}
    problems = []
    for line, row in csv_rows(text, path, _CSV_REQUIRED):
        city_id = row["city_id"]
        names = {lang: row[f"city_name_{lang}"] for lang in LANGUAGES}
        city = cities.get(city_id)
        if city is None:
            city = cities[city_id] = {"id": city_id, "name": names, "practices": []}
            lines[("cities", len(cities) - 1)] = line
        elif city["name"] != names:
            first = lines[("cities", list(cities).index(city_id))]
            problems.append(f"{path}:{line}: city {city_id}: its names differ from line {first}")
        if row.get("practice_id"):
            year = (row.get("distinguished_in") or "").strip()
            lines[("cities", list(cities).index(city_id), "practices", len(city["practices"]))] = (
                line
            )
            city["practices"].append(
                {
                    "id": row["practice_id"],
                    "category": row["category"],
                    "name": {lang: row[f"name_{lang}"] for lang in LANGUAGES},
                    "description": {lang: row[f"description_{lang}"] for lang in LANGUAGES},
                    "distinguished_in": int(year)
                    if year.isascii() and year.isdigit()
                    else (year or None),
                    "active": (row.get("active") or "yes").strip().lower() in ("yes", "true", "1"),
                    "documented": (row.get("documented") or "").split(),
                    "to_complete": (row.get("to_complete") or "").split(),
                    "source": row.get("source") or None,
                }
            )
    categories = sorted({p["category"] for c in cities.values() for p in c["practices"]})
    # A CSV names categories only by id: they must already be in the database.
    data = {
        "categories": [{"id": c, "name": None} for c in categories],
        "cities": list(cities.values()),
    }
    return data, lines, problems


def _csv_line(lines: dict[Where, int], where: Where) -> int | None:
    """The line of the row a path points into (its longest known prefix)."""
    for end in range(len(where), 0, -1):
        if where[:end] in lines:
            return lines[where[:end]]
    return None
