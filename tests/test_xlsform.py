"""Surveys in XLSForm: realistic forms written here import into checked survey files, with every
feature a chat cannot ask reported by sheet, row and column; our surveys export to forms that
pyxform converts to valid XForms and that import back unchanged."""

from __future__ import annotations

import io
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from pyxform.xls2xform import convert

from app.services import SHIPPED_SURVEYS
from conversations.survey import load_survey_file, load_survey_text
from conversations.xlsform import (
    LANGUAGE_COLUMNS,
    InterviewChoices,
    Problem,
    export_form,
    import_form,
    workbook_bytes,
)
from tests.conftest import DATA

EN, PL, UK, RU = (f"label::{LANGUAGE_COLUMNS[c]}" for c in ("en", "pl", "uk", "ru"))
WORDS = {
    word: {c: f"{word} ({c})" for c in ("uk", "ru", "en", "pl")}
    for word in ("city", "practice", "language", "yes", "no", "dont_know")
}
INTERVIEW = InterviewChoices(
    [("krakow", {"uk": "Краків", "ru": "Краков", "en": "Kraków", "pl": "Kraków"})],
    [("krakow-otwarty-krakow", "krakow", dict.fromkeys(("uk", "ru", "en", "pl"), "Otwarty"))],
    WORDS,
)


def workbook(
    survey: list[dict[str, str]],
    choices: list[dict[str, str]] = (),  # type: ignore[assignment]
    settings: dict[str, str] | None = None,
) -> bytes:
    """An .xlsx written the way a coordinator writes one: a header row, then one row each."""
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for title, rows in (("survey", survey), ("choices", choices), ("settings", [settings or {}])):
        if not rows or not rows[0]:
            continue
        header = list(dict.fromkeys(k for row in rows for k in row))
        sheet = book.create_sheet(title)
        sheet.append(header)
        for row in rows:
            sheet.append([row.get(k) for k in header])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def four(en: str, pl: str, uk: str, ru: str, base: str = "label") -> dict[str, str]:
    return {
        f"{base}::{LANGUAGE_COLUMNS['en']}": en,
        f"{base}::{LANGUAGE_COLUMNS['pl']}": pl,
        f"{base}::{LANGUAGE_COLUMNS['uk']}": uk,
        f"{base}::{LANGUAGE_COLUMNS['ru']}": ru,
    }


def choice(list_name: str, name: str, en: str, pl: str, uk: str, ru: str) -> dict[str, str]:
    return {"list_name": list_name, "name": name, **four(en, pl, uk, ru)}


# A migrant-services questionnaire as a survey team writes it: every type we map.
SERVICES_SURVEY = [
    {
        "type": "select_one cities",
        "name": "city",
        "required": "yes",
        **four("City", "Miasto", "Місто", "Город"),
    },
    {
        "type": "select_one practices",
        "name": "practice",
        "required": "yes",
        "choice_filter": "city=${city}",
        **four("Practice", "Praktyka", "Практика", "Практика"),
    },
    {
        "type": "calculate",
        "name": "practice_name",
        "calculation": "jr:choice-name(${practice}, '${practice}')",
    },
    {
        "type": "note",
        "name": "intro",
        **four(
            "About {x} at ${practice_name}",
            "O ${practice_name}",
            "Про ${practice_name}",
            "О ${practice_name}",
        ),
    },
    {
        "type": "select_one yn",
        "name": "aware",
        "required": "yes",
        "audit_tag": "awareness",
        **four("Did you know it?", "Znasz to?", "Знаєте це?", "Знаете это?"),
    },
    {
        "type": "select_one used",
        "name": "used",
        "relevant": "${aware} = 'yes'",
        "audit_tag": "usage",
        "audit_positive": "often once",
        **four("Used it?", "Korzystasz?", "Користувалися?", "Пользовались?"),
    },
    {
        "type": "select_one rate",
        "name": "useful",
        "relevant": "${aware} = 'yes'",
        "audit_tag": "overall",
        **four("How useful?", "Jak przydatne?", "Наскільки корисно?", "Насколько полезно?"),
        **four("1 = not at all", "1 = wcale", "1 = зовсім ні", "1 = совсем нет", "hint"),
    },
    {
        "type": "range",
        "name": "reliable",
        "parameters": "start=1 end=5 step=1",
        "audit_tag": "sustainability",
        **four("Reliable?", "Niezawodne?", "Надійно?", "Надёжно?"),
    },
    {
        "type": "select_multiple help",
        "name": "help",
        "relevant": "selected(${used}, 'often') or selected(${used}, 'once')",
        "constraint": "count-selected(.) >= 1 and count-selected(.) <= 2",
        "audit_tag": "usage",
        **four("With what?", "W czym?", "З чим?", "С чем?"),
    },
    {
        "type": "integer",
        "name": "years",
        "constraint": ". >= 0 and . <= 80",
        "constraint_message::English (en)": "0 to 80",
        **four("Years in Poland?", "Lat w Polsce?", "Років у Польщі?", "Лет в Польше?"),
    },
    {
        "type": "decimal",
        "name": "hours",
        "relevant": "${years} > 1",
        "audit_tag": "other",
        **four("Hours a week?", "Godzin tygodniowo?", "Годин на тиждень?", "Часов в неделю?"),
    },
    {
        "type": "note",
        "name": "thanks",
        "relevant": "${useful} >= 4 or ${useful} = 'dont_know'",
        **four("Thank you!", "Dziękujemy!", "Дякуємо!", "Спасибо!"),
    },
    {
        "type": "text",
        "name": "comment",
        "constraint": "string-length(.) <= 500",
        "audit_tag": "comment",
        **four("Anything else?", "Coś jeszcze?", "Ще щось?", "Что-то ещё?"),
    },
]
SERVICES_CHOICES = [
    {"list_name": "cities", "name": "krakow", **four("Kraków", "Kraków", "Краків", "Краков")},
    {
        "list_name": "practices",
        "name": "krakow-otwarty-krakow",
        "city": "krakow",
        **four("Open Kraków", "Otwarty Kraków", "Відкритий Краків", "Открытый Краков"),
    },
    choice("yn", "yes", "Yes", "Tak", "Так", "Да"),
    choice("yn", "no", "No", "Nie", "Ні", "Нет"),
    choice("used", "often", "Often", "Często", "Часто", "Часто"),
    choice("used", "once", "Once", "Raz", "Раз", "Раз"),
    choice("used", "never", "Never", "Nigdy", "Ніколи", "Никогда"),
    choice("rate", "1", "Not at all", "Wcale", "Зовсім ні", "Совсем нет"),
    *(choice("rate", str(n), str(n), str(n), str(n), str(n)) for n in (2, 3, 4)),
    choice("rate", "5", "Very “useful”", "Bardzo", "Дуже", "Очень"),
    choice("rate", "dont_know", "Don't know", "Nie wiem", "Не знаю", "Не знаю"),
    choice("help", "work", "Work", "Praca", "Робота", "Работа"),
    choice("help", "flat", "Housing", "Mieszkanie", "Житло", "Жильё"),
    choice("help", "papers", "Papers", "Dokumenty", "Документи", "Документы"),
]
SERVICES_SETTINGS = {
    "form_title": "Services",
    "form_id": "city-services",
    "default_language": "English (en)",
    "title_en": "City services",
    "title_pl": "Usługi miasta",
    "title_uk": "Послуги міста",
    "title_ru": "Услуги города",
    "weights": "overall=2 sustainability=1",
}


def levels(problems: list[Problem]) -> list[tuple[str, str | None, int | None, str | None]]:
    return [(p.level, p.sheet, p.row, p.column) for p in problems]


def test_a_form_with_every_mapped_type_becomes_a_checked_survey() -> None:
    result = import_form(workbook(SERVICES_SURVEY, SERVICES_CHOICES, SERVICES_SETTINGS))
    assert result.definition is not None, [str(p) for p in result.problems]
    survey, data = load_survey_text(result.yaml(), Path("services.yaml"))
    assert data == result.definition
    assert data["key"] == "city-services"
    assert data["title"] == {
        "en": "City services",
        "pl": "Usługi miasta",
        "uk": "Послуги міста",
        "ru": "Услуги города",
    }
    assert data["intro"]["en"] == "About {{x}} at {practice}"  # literal braces kept literal
    assert data["weights"] == {"overall": 2, "sustainability": 1}
    q = {question["id"]: question for question in data["questions"]}
    assert list(q) == [
        "aware",
        "used",
        "useful",
        "reliable",
        "help",
        "years",
        "hours",
        "thanks",
        "comment",
    ]
    assert q["aware"] == {
        "id": "aware",
        "type": "yes_no",
        "tag": "awareness",
        "required": True,
        "text": {
            "en": "Did you know it?",
            "pl": "Znasz to?",
            "uk": "Знаєте це?",
            "ru": "Знаете это?",
        },
    }
    assert q["used"]["type"] == "single_choice" and q["used"]["positive"] == ["often", "once"]
    assert q["used"]["show_if"] == {"question": "aware", "equals": "yes"}
    assert q["useful"]["type"] == "scale" and q["useful"]["dont_know"] is True
    assert q["useful"]["labels"]["high"]["en"] == "Very “useful”"  # typographic quotes kept
    assert q["useful"]["text"]["pl"] == "Jak przydatne?\n1 = wcale"  # the hint follows the label
    assert q["reliable"]["type"] == "scale"
    assert q["help"] | {} == q["help"] and q["help"]["min"] == 1 and q["help"]["max"] == 2
    assert q["help"]["show_if"] == {"question": "used", "in": ["often", "once"]}
    assert q["years"] == q["years"] | {"type": "number", "min": 0, "max": 80, "tag": "other"}
    assert q["hours"]["decimal"] is True
    assert q["hours"]["show_if"] == {"question": "years", "at_least": 2}
    assert q["thanks"]["type"] == "info" and q["thanks"]["show_if"] == {
        "any": [
            {"question": "useful", "at_least": 4},
            {"question": "useful", "equals": "dont_know"},
        ]
    }
    assert q["comment"]["max_length"] == 500 and q["comment"]["tag"] == "comment"
    assert survey.question("years").highest == 80
    notes = [str(p) for p in result.problems]
    assert all(p.level == "note" for p in result.problems), notes
    assert ("note", "survey", 11, "audit_tag") in levels(result.problems)  # years has no tag
    assert ("note", "survey", 11, "constraint_message") in levels(result.problems)
    assert ("note", "survey", 9, "parameters") in levels(result.problems)  # range → scale


# A form full of what a chat cannot ask; each must be named with its sheet, row and column.
REFUSED_SURVEY = [
    {"type": "start", "name": "start"},
    {"type": "text", "name": "respondent", "audit_tag": "other", "label": "Your name?"},
    {"type": "geopoint", "name": "where", "label": "Where are you?"},
    {"type": "image", "name": "photo", "label": "A photo of the office"},
    {"type": "calculate", "name": "twice", "calculation": "2 * 2"},
    {"type": "date", "name": "visited", "label": "When did you go?"},
    {"type": "begin_group", "name": "family", "label": "Family", "relevant": "${respondent} != ''"},
    {"type": "integer", "name": "kids", "audit_tag": "other", "label": "Children?"},
    {"type": "end_group", "name": ""},
    {"type": "begin_repeat", "name": "child", "label": "Each child"},
    {"type": "integer", "name": "age", "label": "Age?"},
    {"type": "end_repeat", "name": ""},
    {
        "type": "select_one place",
        "name": "office",
        "audit_tag": "usage",
        "choice_filter": "kind = 'x'",
        "label": "Which office?",
        "image": "map.png",
    },
    {
        "type": "text",
        "name": "why",
        "audit_tag": "comment",
        "label": "Why?",
        "constraint": "regex(., '^[a-z]+$')",
    },
]
REFUSED_CHOICES = [
    {"list_name": "place", "name": "centre", "label": "Centre", "kind": "x"},
    {"list_name": "place", "name": "north", "label": "North", "kind": "y"},
]


def test_every_feature_a_chat_cannot_ask_is_reported_with_sheet_row_and_column() -> None:
    result = import_form(
        workbook(
            REFUSED_SURVEY,
            REFUSED_CHOICES,
            {"form_id": "refused", "default_language": "English (en)"},
        )
    )
    assert result.definition is not None, [str(p) for p in result.problems]
    found = levels(result.problems)
    for expected in [
        ("left out", "survey", 2, "type"),  # start: recorded by the phone
        ("left out", "survey", 4, "type"),  # geopoint
        ("left out", "survey", 5, "type"),  # image
        ("left out", "survey", 6, "type"),  # calculate
        ("left out", "survey", 7, "type"),  # date
        ("note", "survey", 8, "label"),  # a group's heading is not shown
        ("left out", "survey", 11, "type"),  # the repeat
        ("left out", "survey", 14, "choice_filter"),
        ("left out", "survey", 14, "image"),
        ("left out", "survey", 15, "constraint"),
    ]:
        assert expected in found, (expected, [str(p) for p in result.problems])
    text = "\n".join(str(p) for p in result.problems)
    assert (
        "survey sheet, row 4, column type: left out: 'where' (geopoint) asks for a place on a map"
        in text
    )
    assert "repeat 'child' asks its 1 question(s) again and again" in text
    ids = [q["id"] for q in result.definition["questions"]]
    assert ids == ["respondent", "kids", "office", "why"]
    kids = result.definition["questions"][1]
    assert kids["show_if"] == {"question": "respondent", "answered": True}  # the group's relevant
    # The form has one language only: every other language is reported with the fallback.
    assert "the form has no Українська (uk) texts; the English (en) texts are shown instead" in text
    load_survey_text(result.yaml(), Path("refused.yaml"))


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"type": "text", "name": "Bad-Name", "label": "x"}, ("error", "survey", 2, "name")),
        ({"type": "text", "name": "a", "label": "Hi ${b}"}, ("error", "survey", 2, "label")),
        (
            {"type": "text", "name": "a", "label": "x", "relevant": "${a} > today()"},
            ("error", "survey", 2, "relevant"),
        ),
        (
            {"type": "text", "name": "a", "label": "x", "audit_tag": "mood"},
            ("error", "survey", 2, "audit_tag"),
        ),
    ],
)
def test_a_form_that_cannot_become_a_survey_writes_nothing(
    row: dict[str, str], expected: tuple[Any, ...]
) -> None:
    survey = [{"type": "text", "name": "b", "label": "first", "audit_tag": "comment"}, row]
    result = import_form(workbook(survey, [], {"form_id": "broken"}))
    assert result.definition is None
    expected = (expected[0], expected[1], 3, expected[3])
    assert expected in levels(result.problems), [str(p) for p in result.problems]


def test_pyxform_errors_and_unreadable_files_are_one_plain_line() -> None:
    survey = [{"type": "select_one nowhere", "name": "q", "label": "Q"}]
    choices = [{"list_name": "elsewhere", "name": "a", "label": "A"}]
    result = import_form(workbook(survey, choices, {"form_id": "x"}))
    assert result.definition is None and len(result.problems) == 1
    assert "nowhere" in str(result.problems[0]) and "Traceback" not in str(result.problems[0])
    garbage = import_form(b"this is no workbook at all")
    assert garbage.definition is None and garbage.problems[0].fatal


def test_choice_names_that_are_numbers_are_a_scale_or_an_error() -> None:
    survey = [{"type": "select_one n", "name": "q", "label": "Q", "audit_tag": "usage"}]
    choices = [{"list_name": "n", "name": str(n), "label": f"{n} times"} for n in (1, 2, 3)]
    result = import_form(workbook(survey, choices, {"form_id": "x"}))
    assert result.definition is None
    assert ("error", "choices", 2, "name") in levels(result.problems)


SHIPPED = [*sorted(SHIPPED_SURVEYS.glob("*.yaml")), DATA / "all_types.yaml"]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_an_exported_survey_converts_to_a_valid_xform_and_imports_back_unchanged(
    path: Path,
) -> None:
    _survey, data = load_survey_file(path)
    content = workbook_bytes(export_form(data, INTERVIEW))
    xform = convert(content, file_type=".xlsx", pretty_print=True).xform
    root = ET.fromstring(xform)  # well-formed XML
    languages = {t.get("lang") for t in root.iter("{http://www.w3.org/2002/xforms}translation")}
    assert languages == set(LANGUAGE_COLUMNS.values())
    assert "jr:choice-name(" in xform and "${" not in xform
    back = import_form(content)
    assert back.definition == data, [str(p) for p in back.problems]
    assert all(p.level == "note" for p in back.problems)


def test_import_and_export_commands(tmp_path: Path) -> None:
    form = tmp_path / "services.xlsx"
    form.write_bytes(workbook(SERVICES_SURVEY, SERVICES_CHOICES, SERVICES_SETTINGS))
    out = tmp_path / "services.yaml"
    done = run("survey", "import", str(form), "--out", str(out), "--key", "my-services")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote {out} (9 questions)"
    assert f"{form}: survey sheet, row 11, column audit_tag: note:" in done.stderr
    checked = run("survey", "check", str(out))
    assert checked.returncode == 0 and "ok (9 questions)" in checked.stdout
    assert "key: my-services" in out.read_text(encoding="utf-8")
    missing = run("survey", "import", str(tmp_path / "nope.xlsx"), "--out", str(out))
    assert missing.returncode == 2 and missing.stderr.strip().endswith("no such file")
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(
        workbook([{"type": "text", "name": "Bad", "label": "x"}], [], {"form_id": "b"})
    )
    failed = run("survey", "import", str(broken), "--out", str(tmp_path / "b.yaml"))
    assert failed.returncode == 1 and not (tmp_path / "b.yaml").exists()
    assert "nothing written" in failed.stderr.splitlines()[-1]


def test_the_shipped_example_spreadsheet_imports_cleanly(tmp_path: Path) -> None:
    example = (
        Path(__file__).parent.parent
        / "conversations"
        / "surveys"
        / "examples"
        / "example-form.xlsx"
    )
    result = import_form(example.read_bytes())
    assert result.definition is not None, [str(p) for p in result.problems]
    assert not [p for p in result.problems if p.level != "note"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
