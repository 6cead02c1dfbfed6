"""The catalog file (cities, categories, practices): read, check, upsert, export."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from storage.models import Category, City, Practice
from storage.uow import UnitOfWork

LANGUAGES = ("uk", "ru", "en", "pl")
DEFAULT_CATALOG = Path(__file__).parent / "catalog" / "open-cities.yaml"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
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


def read_catalog(path: Path) -> dict[str, Any]:
    """Read a catalog from YAML or CSV and check it; raise CatalogError listing every problem."""
    try:
        if path.suffix.lower() == ".csv":
            data = _from_csv(path.read_text(encoding="utf-8-sig"))
        else:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError, csv.Error, KeyError) as error:
        raise CatalogError(f"{path}: cannot read the catalog: {error}") from None
    problems = list(_problems(data))
    if problems:
        raise CatalogError("\n".join(f"{path}: {p}" for p in problems))
    return data


def _problems(data: Any) -> Iterator[str]:
    if not isinstance(data, dict) or not isinstance(data.get("cities"), list):
        yield "expected a mapping with a list of 'cities'"
        return
    categories = {c.get("id") for c in data.get("categories") or [] if isinstance(c, dict)}
    seen: set[str] = set()
    for city in data["cities"]:
        cid = city.get("id") if isinstance(city, dict) else None
        if not isinstance(cid, str) or not _SLUG.match(cid) or len(cid) > 24:
            yield f"city id {cid!r} must be lowercase ASCII letters, digits and '-' (max 24)"
            continue
        yield from _missing_languages(city.get("name"), f"city {cid}: name")
        for practice in city.get("practices") or []:
            pid = practice.get("id") if isinstance(practice, dict) else None
            if not isinstance(pid, str) or not _SLUG.match(pid) or len(pid) > 40:
                yield f"practice id {pid!r} must be lowercase ASCII letters, digits and '-' (max 40)"
                continue
            if pid in seen:
                yield f"practice id {pid!r} appears twice"
            seen.add(pid)
            if practice.get("category") not in categories:
                yield f"practice {pid}: unknown category {practice.get('category')!r}"
            yield from _missing_languages(practice.get("name"), f"practice {pid}: name")
            yield from _missing_languages(
                practice.get("description"), f"practice {pid}: description"
            )
            year = practice.get("distinguished_in")
            if year is not None and not (isinstance(year, int) and 2000 <= year <= 2100):
                yield f"practice {pid}: distinguished_in must be a year or empty"


def _missing_languages(value: Any, where: str) -> Iterator[str]:
    if not isinstance(value, dict):
        yield f"{where} needs a text in each language ({', '.join(LANGUAGES)})"
        return
    for language in LANGUAGES:
        if not str(value.get(language) or "").strip():
            yield f"{where} is missing the '{language}' text"


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


def _from_csv(text: str) -> dict[str, Any]:
    cities: dict[str, dict[str, Any]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        city = cities.setdefault(
            row["city_id"],
            {
                "id": row["city_id"],
                "name": {lang: row[f"city_name_{lang}"] for lang in LANGUAGES},
                "practices": [],
            },
        )
        if row.get("practice_id"):
            year = (row.get("distinguished_in") or "").strip()
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
    return {
        "categories": [{"id": c, "name": None} for c in categories],
        "cities": list(cities.values()),
    }
