"""Files operators hand over are checked strictly, and every problem is named in a line or two:
duplicate ids and keys (YAML and CSV) with file and line, encodings other than UTF-8, sizes,
CSV separators, a read-only SQLite file."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.config import Settings
from storage.catalog import CatalogError, read_catalog
from tests.conftest import DATA
from tests.test_cli import auditbot

SURVEY = Path(__file__).resolve().parent.parent / "conversations" / "surveys" / "open-cities.yaml"
CATALOG = Path(__file__).resolve().parent.parent / "storage" / "catalog" / "open-cities.yaml"
CITY = """\
categories:
  - id: service_point
    name: {uk: "Пункт", ru: "Пункт", en: "Point", pl: "Punkt"}
cities:
  - id: krakow
    name: {uk: "Краків", ru: "Краков", en: "Kraków", pl: "Kraków"}
    practices:
      - id: krakow-point
        category: service_point
        name: {uk: "Пункт", ru: "Пункт", en: "Point", pl: "Punkt"}
        description: {uk: "Опис", ru: "Описание", en: "About", pl: "Opis"}
"""


def check_survey(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "survey", "check", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def plain(result: subprocess.CompletedProcess[str], lines: int = 2) -> str:
    """The command's error output: a line or two, never a traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    assert 0 < len(result.stderr.strip().splitlines()) <= lines, result.stderr
    return result.stderr


def test_a_survey_repeating_a_key_is_refused_with_its_line(tmp_path: Path) -> None:
    text = SURVEY.read_text(encoding="utf-8")
    marker = "    tag: awareness\n"
    assert marker in text
    path = tmp_path / "twice.yaml"
    path.write_text(text.replace(marker, marker + "    tag: usage\n", 1), encoding="utf-8")
    first = text[: text.index(marker)].count("\n") + 1
    result = check_survey(path)
    assert result.returncode == 1
    assert f"{path}:{first + 1}: duplicate key 'tag' (first on line {first})" in plain(result)


def test_a_survey_in_another_encoding_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "cp1250.yaml"
    path.write_bytes(SURVEY.read_text(encoding="utf-8").encode("cp1250", errors="replace"))
    result = check_survey(path)
    assert result.returncode == 1
    assert f"{path}:" in result.stderr and "not UTF-8" in plain(result)


def test_a_huge_survey_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text(
        SURVEY.read_text(encoding="utf-8") + "# padding\n" * 1_000_000, encoding="utf-8"
    )
    started = time.monotonic()
    result = check_survey(path)
    assert result.returncode == 1
    assert "at most 512 KB are accepted" in plain(result)
    assert time.monotonic() - started < 30  # was 80 s, and accepted


def test_a_yaml_alias_bomb_is_refused(tmp_path: Path) -> None:
    levels = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for n in range(1, 9):
        levels.append(f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(levels) + "\nkey: bomb\n", encoding="utf-8")
    result = check_survey(path)
    assert result.returncode == 1
    assert "once its aliases are expanded" in plain(result)


def test_a_catalog_repeating_a_city_is_refused_with_both_lines(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "twice.yaml"
    second = CITY.split("cities:\n")[1].replace("krakow-point", "krakow-other")
    path.write_text(CITY + second, encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        read_catalog(path)
    assert str(caught.value) == f"{path}:12: city id 'krakow' appears twice (first on line 5)"
    result = auditbot(settings, "catalog", "load", str(path))
    assert result.returncode == 2
    assert "appears twice" in plain(result)


def test_a_catalog_repeating_a_key_or_a_practice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "key.yaml"
    path.write_text(
        CITY.replace('    name: {uk: "Краків"', '    id: lodz\n    name: {uk: "Краків"', 1),
        encoding="utf-8",
    )
    with pytest.raises(CatalogError, match=rf"^{path}:6: duplicate key 'id' \(first on line 5\)$"):
        read_catalog(path)
    path = tmp_path / "practice.yaml"
    practice = CITY.split("    practices:\n")[1]
    path.write_text(CITY + practice, encoding="utf-8")
    with pytest.raises(
        CatalogError, match=r":12: practice id 'krakow-point' appears twice \(first on line 8\)"
    ):
        read_catalog(path)


def test_catalog_files_in_another_encoding_are_named(settings: Settings, tmp_path: Path) -> None:
    for name in ("cp1250.yaml", "cp1250.csv"):
        path = tmp_path / name
        path.write_bytes("city_id,city_name_pl\nlodz,Łódź\n".encode("cp1250"))
        result = auditbot(settings, "catalog", "load", str(path))
        assert result.returncode == 2
        assert f"{path}:2: the file is not UTF-8 text" in plain(result)


def test_a_semicolon_csv_loads_and_a_wrong_header_is_explained(
    settings: Settings, tmp_path: Path
) -> None:
    exported = auditbot(settings, "catalog", "export", "--format", "csv")
    assert exported.returncode == 0, exported.stderr
    import csv
    import io

    rows = list(csv.reader(io.StringIO(exported.stdout)))
    semicolons = tmp_path / "semicolons.csv"
    with semicolons.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out, delimiter=";").writerows(rows)
    loaded = auditbot(settings, "catalog", "load", str(semicolons))
    assert loaded.returncode == 0, loaded.stderr
    assert "catalog already up to date" in loaded.stdout

    header = [c for c in rows[0] if c != "category"]
    broken = tmp_path / "no-category.csv"
    broken.write_text(";".join(header) + "\n", encoding="utf-8")
    result = auditbot(settings, "catalog", "load", str(broken))
    assert result.returncode == 2
    assert f"{broken}:1: the header lacks the column(s) category" in plain(result)
    assert "separated by semicolons" in result.stderr


def test_a_csv_repeating_a_practice_or_naming_a_city_twice_differently(tmp_path: Path) -> None:
    data = read_catalog(CATALOG)
    from storage.catalog import catalog_to_csv

    lines = catalog_to_csv(data).splitlines()
    path = tmp_path / "twice.csv"
    path.write_text("\n".join([*lines, lines[1]]) + "\n", encoding="utf-8")
    practice = lines[1].split(",")[5]
    with pytest.raises(CatalogError) as caught:
        read_catalog(path)
    assert (
        f"{path}:{len(lines) + 1}: practice id '{practice}' appears twice (first on line 2)"
        in str(caught.value)
    )
    renamed = lines[1].replace(",Warszawa,", ",Another name,", 1).replace(practice, "other-one")
    path.write_text("\n".join([lines[0], lines[1], renamed]) + "\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=rf"{path}:3: city .*: its names differ from line 2"):
        read_catalog(path)


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make a file read-only even for root (the immutable attribute), or skip."""
    chattr = shutil.which("chattr")
    if os.geteuid() != 0:
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(0o644)
        return
    if chattr is None or subprocess.run([chattr, "+i", str(path)], check=False).returncode:
        pytest.skip("cannot make a file read-only for root here (no chattr +i)")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


def test_a_read_only_sqlite_file_gives_one_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite3"
    from tests.conftest import make_settings

    settings = make_settings(f"sqlite+aiosqlite:///{path}")
    assert auditbot(settings, "db", "upgrade").returncode == 0
    with read_only(path):
        result = auditbot(settings, "round", "list")
    assert result.returncode == 1
    assert "attempt to write a readonly database" in plain(result, lines=1)
    assert "not writable" in result.stderr


def test_the_broken_survey_fixture_still_lists_every_problem() -> None:
    result = check_survey(DATA / "broken.yaml")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 5
