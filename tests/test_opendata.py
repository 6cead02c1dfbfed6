"""Open data: `auditbot opendata` writes a Frictionless Data Package that validates and holds the
same published figures as the JSON report, suppressed cells as flags without figures."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import frictionless
import pytest

from bot.config import ConfigError, Settings
from bot.rounds import close_round
from bot.services import Services
from storage.models import utcnow
from tests.conftest import make_settings
from tests.test_audit import A, B, add_response, make_round, person
from tests.test_cli import auditbot


async def closed_round(services: Services) -> int:
    """A closed round: practice A rated by 6 people (published), B by 4 (below k = 5)."""
    round_id = await make_round(services, 20)
    ratings = [(5, 5, 2, 4), (4, 5, 3, 4), (4, 4, 3, 4), (4, 4, 4, 4), (3, 3, 4, 4), (4, 3, 1, 4)]
    for n, scores in enumerate(ratings):
        await add_response(services, f"a{n}", A, round_id, person("yes", "once", scores), "pl")
    for n in range(4):
        await add_response(services, f"b{n}", B, round_id, person("no", None, (2, 2, 2, 2)))
    async with services.db.unit_of_work() as uow:
        round_ = await uow.rounds.get(round_id)
        assert round_ is not None
        await close_round(uow, round_, "test", utcnow(), services.settings.min_group_size)
    return round_id


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def same(text: str, number: float | None) -> None:
    assert number is not None
    assert float(text) == pytest.approx(number, abs=1e-4)


async def test_the_data_package_validates_and_matches_the_json_report(
    services: Services, tmp_path: Path
) -> None:
    await closed_round(services)
    year = utcnow().year
    settings = services.settings
    result = auditbot(settings, "opendata", "--year", str(year), "--out", str(tmp_path / "od"))
    assert result.returncode == 0, result.stderr
    report_file = tmp_path / "report.json"
    result = auditbot(
        settings, "report", "--year", str(year), "--format", "json", "--out", str(report_file)
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(report_file.read_text(encoding="utf-8"))

    folder = tmp_path / "od"
    report_of_validation = frictionless.validate(folder / "datapackage.json")
    assert report_of_validation.valid, report_of_validation.flatten(["type", "note"])
    package: dict[str, Any] = json.loads((folder / "datapackage.json").read_text("utf-8"))
    assert package["licenses"][0]["name"] == "CC-BY-4.0"
    assert package["created"].startswith(str(year))
    assert set(package["titles"]) == {"uk", "ru", "en", "pl"}
    assert package["titles"]["pl"].startswith("„Miasta Otwarte” " + str(year))
    assert package["descriptions"]["uk"] != package["descriptions"]["en"]
    resources = {r["name"]: r for r in package["resources"]}
    assert set(resources) == {"practices", "criteria"}
    for name, resource in resources.items():
        assert resource["stats"]["rows"] == len(rows(folder / f"{name}.csv"))
        assert set(resource["titles"]) == {"uk", "ru", "en", "pl"}
        assert all(field["name"].isascii() for field in resource["schema"]["fields"])

    practices = {row["practice_id"]: row for row in rows(folder / "practices.csv")}
    by_id = {p["practice_id"]: p for p in report["practices"]}
    published = by_id[A]
    assert not published["suppressed"]
    row = practices[A]
    assert row["suppressed"] == "false"
    assert int(row["completed"]) == published["completed"] == 6
    assert int(row["started"]) == published["started"]
    same(row["composite_score"], published["composite"]["score"])
    same(row["composite_ci_low"], published["composite"]["ci_low"])
    same(row["awareness"], published["awareness"])
    same(row["usage"], published["usage"])
    assert row["practice_name_pl"] and row["practice_name_uk"] != row["practice_name_pl"]

    hidden = practices[B]  # four answers, k = 5: a flag and no figures
    assert by_id[B]["suppressed"] and hidden["suppressed"] == "true"
    figures = ("started", "completed", "completion_rate", "awareness", "composite_score")
    assert all(hidden[name] == "" for name in figures)

    criteria = [row for row in rows(folder / "criteria.csv") if row["practice_id"] == A]
    assert [row["criterion"] for row in criteria] == list(published["criteria"])
    for row in criteria:
        stats = published["criteria"][row["criterion"]]
        assert int(row["ratings"]) == stats["n"]
        same(row["mean"], stats["mean"])
        same(row["median"], stats["median"])
        same(row["ci_high"], stats["ci_high"])
        same(row["dont_know_share"], stats["dont_know_share"])
        assert "," not in row["mean"]
    assert all(
        row["suppressed"] == "true" and row["mean"] == ""
        for row in rows(folder / "criteria.csv")
        if row["practice_id"] == B
    )


def test_a_bad_licence_setting_is_one_line_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^OPEN_DATA_LICENSE: must be one of CC-BY-4\.0"):
        make_settings(f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}", open_data_license="GPL")


def test_opendata_refuses_a_file_as_its_folder(settings: Settings, tmp_path: Path) -> None:
    file = tmp_path / "taken"
    file.write_text("x")
    result = auditbot(settings, "opendata", "--year", "2026", "--out", str(file))
    assert result.returncode == 2
    assert "--out" in result.stderr and "Traceback" not in result.stderr
