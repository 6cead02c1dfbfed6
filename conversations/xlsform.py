"""Surveys as XLSForms (KoBoToolbox, ODK): a form becomes our survey definition, and ours a form.

pyxform reads the workbook and checks it as KoBo and ODK do; this module maps what pyxform
understood to our question types and lists, with sheet, row and column, everything a chat
cannot ask. It takes the workbook's bytes and returns data: the caller reads and writes files.

Our own additions to the XLSForm columns (pyxform and KoBo keep unknown columns):
- survey sheet: `audit_tag` (the question's tag: awareness, usage, engagement, …) and
  `audit_positive` (the options that count as "used it" in the usage share);
- settings sheet: `title_uk`, `title_ru`, `title_en`, `title_pl` and `weights`
  ("engagement=1 sustainability=1 …");
- a note named `intro` before the first question is the survey's introduction;
- `city`, `practice` and `language` (select_one) and the calculations `city_name` and
  `practice_name` record, in a face-to-face interview, what the bot asks in its own steps;
  `${practice_name}` and `${city_name}` in a text are our {practice} and {city}.
"""

from __future__ import annotations

import io
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pyxform.errors import PyXFormError
from pyxform.xls2json import workbook_to_json
from pyxform.xls2json_backends import DefinitionData, get_xlsform

from conversations.messages import Msg, _
from conversations.survey import (
    DONT_KNOW,
    LANGUAGES,
    TAGS,
    SurveyError,
    load_survey_text,
)
from conversations.xlsform_conditions import ExpressionError, constraint, limits, relevant, show_if

Localized = dict[str, str]
LANGUAGE_NAMES = {"uk": "Українська", "ru": "Русский", "en": "English", "pl": "Polski"}
LANGUAGE_COLUMNS = {code: f"{LANGUAGE_NAMES[code]} ({code})" for code in LANGUAGES}
FALLBACK_ORDER = ("en", "pl", "uk", "ru")
CITY, PRACTICE, LANGUAGE = "city", "practice", "language"
CITY_NAME, PRACTICE_NAME, INTRO = "city_name", "practice_name", "intro"
INTERVIEW_FIELDS = (CITY, PRACTICE, LANGUAGE, CITY_NAME, PRACTICE_NAME)
TAG_COLUMN, POSITIVE_COLUMN = "audit_tag", "audit_positive"
DONT_KNOW_NAMES = frozenset({DONT_KNOW, "dk", "dontknow", "do_not_know", "don_t_know", "idk"})
SCALE_NAMES = ("1", "2", "3", "4", "5")
_ID = re.compile(r"^[a-z][a-z0-9_]{0,15}$")
_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_ROW = re.compile(r"\[row ?: ?(\d+)\]\s*")
_CODE = re.compile(r"\(([A-Za-z]{2,3})(?:[-_][A-Za-z]+)?\)\s*$")
_LANGUAGE_WORDS = {
    "uk": {"uk", "ukrainian", "українська", "ukraiński", "украинский"},
    "ru": {"ru", "russian", "русский", "rosyjski", "російська"},
    "en": {"en", "english", "angielski", "англійська", "английский"},
    "pl": {"pl", "polish", "polski", "польська", "польский"},
}
_REF = re.compile(r"\$\{([^}]*)\}")
_PLACEHOLDERS = {PRACTICE_NAME: "practice", CITY_NAME: "city"}

# The words of the interview's own questions and of the bot's fixed choices, for an export.
INTERVIEW_WORDS: dict[str, Msg] = {
    "city": _("City"),
    "practice": _("Practice"),
    "language": _("Language of the interview"),
    "yes": _("Yes"),
    "no": _("No"),
    "dont_know": _("I don't know"),
}

# What a chat cannot ask, by pyxform's type name, in plain words.
_LOCATION = "asks for a place on a map; a chat survey does not collect locations"
_MEDIA = "asks for a photo, a recording or a file; the bot takes only text and buttons"
_COMPUTED = "is computed by the form, not asked; the bot has no calculations"
_PHONE = "is recorded by the phone (time, device or user); the bot keeps its own times and no device data"
_DATE = "asks for a date or a time with a picker; a chat survey has no date questions"
_FROM_FILE = "takes its choices from a separate file; put the choices in the choices sheet"
REFUSED_TYPES = {
    **dict.fromkeys(("geopoint", "geotrace", "geoshape", "start-geopoint", "osm"), _LOCATION),
    **dict.fromkeys(
        ("image", "audio", "video", "file", "background-audio", "background-geopoint"), _MEDIA
    ),
    **dict.fromkeys(("calculate", "hidden"), _COMPUTED),
    **dict.fromkeys(
        (
            "start",
            "end",
            "today",
            "deviceid",
            "subscriberid",
            "simserial",
            "phonenumber",
            "username",
            "email",
            "audit",
        ),
        _PHONE,
    ),
    **dict.fromkeys(("date", "time", "dateTime"), _DATE),
    **dict.fromkeys(("select one external", "xml-external", "csv-external"), _FROM_FILE),
    "barcode": "scans a barcode with the camera; a chat cannot",
    "acknowledge": "asks to tick 'OK'; use a note instead, the bot shows it with a Continue button",
    "rank": "asks to put choices in order; a chat survey has no ranking questions",
}
# Columns whose feature a chat cannot follow, on a question that is otherwise kept.
REFUSED_COLUMNS = {
    "choice_filter": "choices that depend on earlier answers cannot be filtered in the chat; "
    "every choice is offered",
    "default": "a chat has no pre-filled answers; the default is not used",
    "read_only": "a chat has no read-only questions; the question is asked",
    "trigger": "the bot has no triggers",
    "calculation": "the bot has no calculations",
    "repeat_count": "the bot has no repeats",
}
_MEDIA_COLUMNS = ("image", "audio", "video", "big-image", "media::")


@dataclass(frozen=True)
class Problem:
    """Something in the form the survey does without: `level` is "error" (nothing can be
    written until it is fixed), "left out" (the survey is written without it) or "note"."""

    level: str
    message: str
    sheet: str | None = None
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = [
            part
            for part in (
                f"{self.sheet} sheet" if self.sheet else None,
                f"row {self.row}" if self.row else None,
                f"column {self.column}" if self.column else None,
            )
            if part
        ]
        return (
            f"{', '.join(where)}: {self.level}: {self.message}"
            if where
            else (f"{self.level}: {self.message}")
        )

    @property
    def fatal(self) -> bool:
        """True when no survey can be written."""
        return self.level == "error"


@dataclass
class ImportResult:
    """A survey definition (None when an error stops it) and every problem found."""

    definition: dict[str, Any] | None
    problems: list[Problem] = field(default_factory=list)

    def yaml(self) -> str:
        """The definition as a survey file."""
        assert self.definition is not None
        return survey_yaml(self.definition)


def survey_yaml(definition: Mapping[str, Any]) -> str:
    """A definition as a survey file's YAML text."""
    return yaml.safe_dump(
        dict(definition), allow_unicode=True, sort_keys=False, width=100, default_flow_style=False
    )


def read_workbook(content: bytes, suffix: str = ".xlsx") -> DefinitionData:
    """A workbook's sheets as pyxform reads them (raises PyXFormError when it cannot)."""
    kind = suffix.lower() if suffix.lower() in (".xlsx", ".xls", ".xlsm", ".csv", ".md") else None
    return get_xlsform(io.BytesIO(content), file_type=kind)


def import_form(content: bytes, *, suffix: str = ".xlsx", key: str | None = None) -> ImportResult:
    """An XLSForm's bytes as our survey definition, with every problem found."""
    try:
        data = read_workbook(content, suffix)
        form = workbook_to_json(data, warnings=[])
    except PyXFormError as error:
        return ImportResult(None, [_pyxform_problem(error)])
    except Exception as error:  # a damaged file: still one plain line
        return ImportResult(None, [Problem("error", f"cannot read the workbook: {error}")])
    return _Importer(data, form, key).run()


def _pyxform_problem(error: PyXFormError) -> Problem:
    text = str(error).strip()
    found = _ROW.search(text)
    row = int(found.group(1)) if found else None
    message = _ROW.sub("", text).strip() or "pyxform could not read the form"
    return Problem("error", message, "survey" if row else None, row)


class _Importer:
    """One form being mapped; collects problems as it goes."""

    def __init__(self, data: DefinitionData, form: dict[str, Any], key: str | None) -> None:
        self.data = data
        self.form = form
        self.key = key
        self.problems: list[Problem] = []
        self.rows = _row_numbers(data.survey or [])
        self.choice_rows = {
            (str(r.get("list_name", "")), str(r.get("name", ""))): n + 2
            for n, r in enumerate(data.choices or [])
        }
        self.settings: dict[str, str] = dict((data.settings or [{}])[0] or {})
        self.codes, self.names = self._languages()
        self.questions: list[dict[str, Any]] = []
        self.known: dict[str, dict[str, Any]] = {}
        self.intro: Localized | None = None
        self.absent: set[str] = set(LANGUAGES) - set(self.names)
        self.interview_rows: list[tuple[int, str]] = []

    def run(self) -> ImportResult:
        for child in self.form.get("children", []):
            self._element(child, [])
        definition = self._definition()
        if self.interview_rows:
            rows = ", ".join(f"{name} (row {row})" for row, name in self.interview_rows)
            self.problems.append(
                Problem(
                    "note",
                    f"{rows} record a face-to-face interview's city, practice and language; "
                    "the bot asks these in its own steps, so they are not survey questions",
                    "survey",
                )
            )
        self._report_absent_languages()
        if definition is not None and not any(p.fatal for p in self.problems):
            self._verify(definition)
        if any(p.fatal for p in self.problems):
            return ImportResult(None, self.problems)
        return ImportResult(definition, self.problems)

    # --- languages ------------------------------------------------------------------------

    def _languages(self) -> tuple[dict[str, str | None], dict[str, str]]:
        """Each language name used in the form → our code (None: not one of ours), and back."""
        names: set[str] = set()
        for row in self.data.survey or []:
            names.update(_languages_of(row))
        for row in self.data.choices or []:
            names.update(_languages_of(row))
        default = self.settings.get("default_language")
        codes: dict[str, str | None] = {}
        for name in sorted(names):
            codes[name] = _language_code(default if name == "default" and default else name)
        back: dict[str, str] = {}
        for name, code in codes.items():
            if code is not None and name != "default":
                back.setdefault(code, name)
        for name, code in codes.items():
            if code is not None:
                back.setdefault(code, name)
            elif name != "default":
                self.problems.append(
                    Problem(
                        "note",
                        f"the language '{name}' is not one the bot speaks (uk, ru, en, pl); "
                        "its texts are not used",
                        "survey",
                    )
                )
        return codes, back

    def _report_absent_languages(self) -> None:
        for code in LANGUAGES:
            if code in self.absent:
                fallback = self._fallback_name()
                self.problems.append(
                    Problem(
                        "note",
                        f"the form has no {LANGUAGE_COLUMNS[code]} texts; "
                        f"{fallback} texts are shown instead — add label::{LANGUAGE_COLUMNS[code]} "
                        "columns to translate it",
                    )
                )

    def _fallback_name(self) -> str:
        for code in FALLBACK_ORDER:
            if code in self.names:
                return f"the {LANGUAGE_COLUMNS[code]}"
        return "the form's own"

    def _localized(self, value: Any, sheet: str, row: int | None, column: str) -> Localized | None:
        """A text in our four languages; a missing one is filled from another and reported."""
        texts = value if isinstance(value, dict) else {"default": value} if value else {}
        by_code: Localized = {}
        unnamed = ""
        for name, text in texts.items():
            text = str(text or "").strip()
            code = self.codes.get(name, _language_code(name))
            if code is not None and text:
                by_code.setdefault(code, text)
            elif name == "default" and text:
                unnamed = text
        available = [by_code[c] for c in FALLBACK_ORDER if c in by_code] + (
            [unnamed] if unnamed else []
        )
        if not available:
            return None
        result: Localized = {}
        for code in LANGUAGES:
            if code in by_code:
                result[code] = by_code[code]
                continue
            result[code] = available[0]
            if code not in self.absent:
                self.problems.append(
                    Problem(
                        "note",
                        f"no {LANGUAGE_COLUMNS[code]} text; the text of another language is used",
                        sheet,
                        row,
                        f"{column}::{self.names.get(code, LANGUAGE_COLUMNS[code])}",
                    )
                )
        return result

    # --- elements -------------------------------------------------------------------------

    def _element(self, element: dict[str, Any], conditions: list[dict[str, Any]]) -> None:
        kind, name = str(element.get("type", "")), str(element.get("name", ""))
        row = self.rows.get(name)
        if name == "meta" and element.get("control", {}).get("bodyless"):
            return  # added by pyxform (instanceID), not in the sheet
        if kind == "repeat":
            count = sum(1 for _ in _leaves(element))
            self._problem(
                "left out",
                f"the repeat '{name}' asks its {count} question(s) again and again; "
                "a chat survey asks each question once",
                row,
                "type",
            )
            return
        if kind == "group":
            self._group(element, conditions, row)
            return
        if name in INTERVIEW_FIELDS:
            self.interview_rows.append((row or 0, name))
            return
        if kind == "note" and name == INTRO and not self.questions and self.intro is None:
            self.intro = self._text(element, row)
            return
        if kind in REFUSED_TYPES or kind not in _MAPPERS:
            reason = REFUSED_TYPES.get(kind, "is a question type a chat survey cannot ask")
            self._problem("left out", f"'{name}' ({kind}) {reason}", row, "type")
            return
        if not _ID.match(name):
            self._problem(
                "error",
                f"'{name}': a question name must be 1–16 lowercase letters, digits or _, "
                "starting with a letter",
                row,
                "name",
            )
            return
        question = self._question(element, kind, row, conditions)
        if question is not None:
            self.questions.append(question)
            self.known[name] = question

    def _group(
        self, element: dict[str, Any], conditions: list[dict[str, Any]], row: int | None
    ) -> None:
        """A group's questions are asked one by one; its relevant applies to each of them."""
        inner = list(conditions)
        condition = self._relevant(element, row)
        if condition is not None:
            inner.append(condition)
        if element.get("label"):
            self._problem(
                "note",
                f"the group '{element.get('name')}' is not shown as a page in a chat; "
                "its questions are asked one by one and its heading is not shown",
                row,
                "label",
            )
        for child in element.get("children", []):
            self._element(child, inner)

    def _question(
        self,
        element: dict[str, Any],
        kind: str,
        row: int | None,
        conditions: list[dict[str, Any]],
    ) -> dict[str, Any] | None:
        text = self._text(element, row)
        if text is None:
            return None
        question: dict[str, Any] = {"id": element["name"], "type": ""}
        details = _MAPPERS[kind](self, element, row, question)
        if details is None:
            return None
        question.update(details)
        if question["type"] != "info":
            question["tag"] = self._tag(element, row)
        if str(element.get("bind", {}).get("required", "")).lower() in ("yes", "true", "true()"):
            question["required"] = True
        condition = self._relevant(element, row)
        parts = [*conditions, *([condition] if condition else [])]
        if parts:
            question["show_if"] = parts[0] if len(parts) == 1 else {"all": parts}
        question["text"] = text
        if question["type"] == "single_choice" and (positive := self._positive(row, question)):
            question["positive"] = positive
        self._refused_columns(row)
        return _ordered(question)

    def _text(self, element: dict[str, Any], row: int | None) -> Localized | None:
        raw = self._raw(row)
        label = self._localized(
            _texts_of(raw, "label", element.get("label")), "survey", row, "label"
        )
        if label is None:
            self._problem("error", f"'{element.get('name')}' has no label", row, "label")
            return None
        hints = _texts_of(raw, "hint", element.get("hint"))
        hint = self._localized(hints, "survey", row, "hint") if hints else None
        texts: Localized = {}
        for code in LANGUAGES:
            combined = label[code] + (f"\n{hint[code]}" if hint else "")
            template = self._template(combined, row)
            if template is None:
                return None
            texts[code] = template
        return texts

    def _template(self, text: str, row: int | None) -> str | None:
        """An XLSForm text with ${practice_name}/${city_name} as our {practice}/{city}."""
        parts = _REF.split(text)
        out = []
        for index, part in enumerate(parts):
            if index % 2 == 0:
                out.append(part.replace("{", "{{").replace("}", "}}"))
            elif part in _PLACEHOLDERS:
                out.append("{" + _PLACEHOLDERS[part] + "}")
            else:
                self._problem(
                    "error",
                    f"the text shows the answer to '{part}' (${{{part}}}); a chat survey "
                    "cannot, so write the text without it",
                    row,
                    "label",
                )
                return None
        return "".join(out)

    def _tag(self, element: dict[str, Any], row: int | None) -> str:
        tag = str(element.get(TAG_COLUMN) or "").strip()
        if not tag:
            self._problem(
                "note",
                f"'{element['name']}' has no {TAG_COLUMN}: it is stored and counted, but is "
                f"part of no criterion or share (tags: {', '.join(TAGS)})",
                row,
                TAG_COLUMN,
            )
            return "other"
        if tag not in TAGS:
            self._problem(
                "error", f"unknown tag '{tag}'; use one of {', '.join(TAGS)}", row, TAG_COLUMN
            )
            return "other"
        return tag

    def _positive(self, row: int | None, question: dict[str, Any]) -> list[str]:
        raw = self._raw(row).get(POSITIVE_COLUMN, "")
        positive = str(raw).split()
        options = {o["id"] for o in question.get("options", [])}
        unknown = [p for p in positive if p not in options]
        if unknown:
            self._problem(
                "error",
                f"{', '.join(unknown)} is not a choice of this question",
                row,
                POSITIVE_COLUMN,
            )
        return [p for p in positive if p in options]

    def _relevant(self, element: dict[str, Any], row: int | None) -> dict[str, Any] | None:
        text = str(element.get("bind", {}).get("relevant") or "").strip()
        if not text:
            return None
        try:
            return show_if(text, self.known)
        except ExpressionError as error:
            self._problem(
                "error",
                f"'{text}' {error}; the question would be asked to the wrong people, "
                "so simplify the condition",
                row,
                "relevant",
            )
            return None

    def _limits(self, element: dict[str, Any], row: int | None, subject: str) -> dict[str, float]:
        bind = element.get("bind", {})
        text = str(bind.get("constraint") or "").strip()
        if not text:
            return {}
        if bind.get("jr:constraintMsg"):
            self._problem(
                "note",
                "the bot explains a wrong answer in its own words (with the allowed range), "
                "so the constraint message is not used",
                row,
                "constraint_message",
            )
        try:
            return limits(text, subject)
        except ExpressionError as error:
            self._problem(
                "left out",
                f"'{text}': {error}; the bot does not check this rule",
                row,
                "constraint",
            )
            return {}

    def _refused_columns(self, row: int | None) -> None:
        for column, value in self._raw(row).items():
            if not value:
                continue
            reason = REFUSED_COLUMNS.get(column)
            if (reason is None and column.split("::")[0] in _MEDIA_COLUMNS) or column.startswith(
                "media::"
            ):
                reason = "pictures and sounds are not sent in the chat"
            if reason is not None:
                self._problem("left out", reason, row, column)

    def _choices(
        self, element: dict[str, Any], row: int | None
    ) -> list[tuple[str, Localized]] | None:
        list_name = str(element.get("list_name") or element.get("itemset") or "")
        result = []
        for choice in element.get("choices", []):
            name = str(choice.get("name"))
            choice_row = self.choice_rows.get((list_name, name))
            raw = self._raw_choice(choice_row)
            texts = _texts_of(raw, "label", choice.get("label"))
            label = self._localized(texts, "choices", choice_row, "label")
            result.append((name, label or {c: name for c in LANGUAGES}))
        return result or None

    def _options(
        self, choices: list[tuple[str, Localized]], list_name: str
    ) -> list[dict[str, Any]] | None:
        options = []
        for name, label in choices:
            if not _ID.match(name):
                self.problems.append(
                    Problem(
                        "error",
                        f"choice '{name}': a choice name must be 1–16 lowercase letters, digits "
                        "or _, starting with a letter (choices named 1 to 5 make a scale)",
                        "choices",
                        self.choice_rows.get((list_name, name)),
                        "name",
                    )
                )
                return None
            options.append({"id": name, "label": label})
        return options

    # --- the survey -------------------------------------------------------------------------

    def _definition(self) -> dict[str, Any] | None:
        key = self.key or str(self.settings.get("form_id") or "").strip()
        if not _KEY.match(key):
            self.problems.append(
                Problem(
                    "error",
                    f"form_id '{key}' cannot be a survey key (lowercase letters, digits and -, "
                    "at most 40); give one with --key",
                    "settings",
                    2,
                    "form_id",
                )
            )
        if not self.questions:
            self.problems.append(Problem("error", "the form has no question a chat can ask"))
            return None
        title = self._title()
        if self.intro is None:
            self.problems.append(
                Problem(
                    "note",
                    f"no note named '{INTRO}' before the first question: the title is shown "
                    "as the survey's introduction",
                    "survey",
                )
            )
        definition: dict[str, Any] = {
            "key": key,
            "title": title,
            "intro": self.intro or dict(title),
        }
        weights = self._weights()
        if weights:
            definition["weights"] = weights
        definition["questions"] = self.questions
        return definition

    def _title(self) -> Localized:
        own = {
            f"{LANGUAGE_COLUMNS[c]}": self.settings[f"title_{c}"]
            for c in LANGUAGES
            if self.settings.get(f"title_{c}")
        }
        if own:
            missing = [c for c in LANGUAGES if not self.settings.get(f"title_{c}")]
            for code in missing:
                self.problems.append(
                    Problem(
                        "note",
                        f"no title_{code}; the title in another language is used",
                        "settings",
                        2,
                        f"title_{code}",
                    )
                )
            texts = {c: self.settings.get(f"title_{c}") or "" for c in LANGUAGES}
            first = next(t for t in texts.values() if t)
            return {c: _escaped(t or first) for c, t in texts.items()}
        title = str(self.settings.get("form_title") or self.form.get("title") or "").strip()
        if isinstance(self.form.get("title"), dict) or not title:
            title = str(self.settings.get("form_id") or "Survey")
        self.problems.append(
            Problem(
                "note",
                "no title_uk, title_ru, title_en, title_pl columns: form_title is used in "
                "every language",
                "settings",
            )
        )
        return dict.fromkeys(LANGUAGES, _escaped(title))

    def _weights(self) -> dict[str, int | float]:
        text = str(self.settings.get("weights") or "").strip()
        weights: dict[str, int | float] = {}
        for part in text.split():
            name, _sep, value = part.partition("=")
            try:
                number = float(value)
            except ValueError:
                self.problems.append(
                    Problem("error", f"'{part}' is not name=number", "settings", 2, "weights")
                )
                continue
            weights[name] = int(number) if number.is_integer() else number
        return weights

    def _verify(self, definition: dict[str, Any]) -> None:
        """The result must pass our own survey check (a safety net: it always should)."""
        try:
            load_survey_text(survey_yaml(definition), Path("imported.yaml"))
        except SurveyError as error:
            for problem in error.problems:
                message = problem.split(": ", 1)[-1]
                self.problems.append(Problem("error", f"the survey would not pass: {message}"))

    # --- helpers --------------------------------------------------------------------------

    def _raw(self, row: int | None) -> dict[str, Any]:
        rows = self.data.survey or []
        return dict(rows[row - 2]) if row is not None and 0 <= row - 2 < len(rows) else {}

    def _raw_choice(self, row: int | None) -> dict[str, Any]:
        rows = self.data.choices or []
        return dict(rows[row - 2]) if row is not None and 0 <= row - 2 < len(rows) else {}

    def _problem(self, level: str, message: str, row: int | None, column: str | None) -> None:
        self.problems.append(Problem(level, message, "survey", row, column))


# --------------------------------------------------------------------------- type mappers


def _select_one(
    importer: _Importer, element: dict[str, Any], row: int | None, question: dict[str, Any]
) -> dict[str, Any] | None:
    choices = importer._choices(element, row)
    if choices is None:
        importer._problem("error", "the choice list is empty", row, "type")
        return None
    names = [name for name, _label in choices]
    labels = dict(choices)
    if sorted(names) == ["no", "yes"]:
        return {"type": "yes_no"}
    dont_know = [n for n in names if n in DONT_KNOW_NAMES]
    if sorted(n for n in names if n not in dont_know) == list(SCALE_NAMES) and len(dont_know) <= 1:
        scale: dict[str, Any] = {
            "type": "scale",
            "labels": {"low": _escaped_all(labels["1"]), "high": _escaped_all(labels["5"])},
        }
        if dont_know:
            scale["dont_know"] = True
        return scale
    options = importer._options(choices, str(element.get("list_name", "")))
    if options is None:
        return None
    return {"type": "single_choice", "options": _escaped_options(options)}


def _select_multiple(
    importer: _Importer, element: dict[str, Any], row: int | None, question: dict[str, Any]
) -> dict[str, Any] | None:
    choices = importer._choices(element, row)
    options = importer._options(choices or [], str(element.get("list_name", "")))
    if not options:
        return None
    details: dict[str, Any] = {"type": "multiple_choice", "options": _escaped_options(options)}
    for end, value in importer._limits(element, row, "count-selected").items():
        details[end] = int(value)
    return details


def _number(
    importer: _Importer, element: dict[str, Any], row: int | None, question: dict[str, Any]
) -> dict[str, Any] | None:
    decimal = element["type"] == "decimal"
    details: dict[str, Any] = {"type": "number"}
    for end, value in importer._limits(element, row, ".").items():
        details[end] = value if decimal and not value.is_integer() else int(value)
    if decimal:
        details["decimal"] = True
    return details


def _range(
    importer: _Importer, element: dict[str, Any], row: int | None, question: dict[str, Any]
) -> dict[str, Any] | None:
    parameters = element.get("parameters") or {}
    try:
        start, end, step = (
            float(parameters.get(n, d)) for n, d in (("start", 1), ("end", 10), ("step", 1))
        )
    except ValueError:
        importer._problem("left out", "the range's parameters are not numbers", row, "parameters")
        return None
    if (start, end, step) == (1, 5, 1):
        importer._problem(
            "note",
            "a range from 1 to 5 becomes a 1–5 scale; its ends are labelled '1' and '5' "
            "(a select_one with choices 1 to 5 can label them)",
            row,
            "parameters",
        )
        plain = dict.fromkeys(LANGUAGES, "1"), dict.fromkeys(LANGUAGES, "5")
        return {"type": "scale", "labels": {"low": plain[0], "high": plain[1]}}
    if step == 1 and start.is_integer() and end.is_integer():
        importer._problem(
            "note", "the range is asked as a typed whole number between its ends", row, "parameters"
        )
        return {"type": "number", "min": int(min(start, end)), "max": int(max(start, end))}
    importer._problem(
        "left out",
        f"'{element['name']}' is a range with steps of {step:g}; a chat asks whole numbers "
        "or a 1–5 scale",
        row,
        "parameters",
    )
    return None


def _text(
    importer: _Importer, element: dict[str, Any], row: int | None, question: dict[str, Any]
) -> dict[str, Any] | None:
    details: dict[str, Any] = {"type": "text"}
    found = importer._limits(element, row, "string-length")
    if "max" in found:
        details["max_length"] = int(found["max"])
    if "min" in found:
        importer._problem("left out", "the bot does not check a shortest length", row, "constraint")
    return details


def _note(
    importer: _Importer, element: dict[str, Any], row: int | None, question: dict[str, Any]
) -> dict[str, Any] | None:
    return {"type": "info"}


_MAPPERS: dict[str, Any] = {
    "select one": _select_one,
    "select all that apply": _select_multiple,
    "integer": _number,
    "decimal": _number,
    "range": _range,
    "text": _text,
    "note": _note,
}
_FIELD_ORDER = (
    "id",
    "type",
    "tag",
    "required",
    "show_if",
    "min",
    "max",
    "decimal",
    "dont_know",
    "max_length",
    "text",
    "labels",
    "positive",
    "options",
)


def _ordered(question: dict[str, Any]) -> dict[str, Any]:
    return {name: question[name] for name in _FIELD_ORDER if name in question}


def _escaped(text: str) -> str:
    """A plain text (a label, a title) safe in our format, where braces are placeholders."""
    return text.replace("{", "{{").replace("}", "}}") if ("{" in text or "}" in text) else text


def _escaped_all(texts: Localized) -> Localized:
    return {code: _escaped(text) for code, text in texts.items()}


def _escaped_options(options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": o["id"], "label": _escaped_all(o["label"])} for o in options]


def _texts_of(raw: Mapping[str, Any], base: str, parsed: Any) -> Any:
    """A label's or hint's texts by language as written in the sheet (pyxform's parsed copy
    turns typographic quotes into straight ones); pyxform's when the sheet has no such column."""
    texts = {}
    for column, value in raw.items():
        name, sep, language = str(column).partition("::")
        if name.strip().lower() == base and value:
            texts[language.strip() if sep else "default"] = str(value)
    return texts or parsed


def _row_numbers(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Each name in the survey sheet → its row (the header is row 1; empty rows count)."""
    numbers: dict[str, int] = {}
    for index, row in enumerate(rows):
        name = str(row.get("name") or "").strip()
        if name:
            numbers.setdefault(name, index + 2)
    return numbers


def _leaves(element: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    children = element.get("children")
    if not children:
        return [element]
    return [leaf for child in children for leaf in _leaves(child)]


def _languages_of(row: Mapping[str, Any]) -> set[str]:
    names = set()
    for column in row:
        base, sep, language = str(column).partition("::")
        if base in ("label", "hint") and row[column]:
            names.add(language.strip() if sep else "default")
    return names


def _language_code(name: str | None) -> str | None:
    """Our code for a language name such as 'Українська (uk)', 'Polish' or 'ru'."""
    if not name:
        return None
    found = _CODE.search(name)
    if found and found.group(1).lower() in LANGUAGES:
        return found.group(1).lower()
    word = name.strip().casefold()
    return next((code for code, words in _LANGUAGE_WORDS.items() if word in words), None)


# --------------------------------------------------------------------------- export


@dataclass(frozen=True)
class InterviewChoices:
    """What a face-to-face interviewer records before the questions (the bot asks it itself):
    the cities and practices of the catalog, and the bot's own words in the four languages."""

    cities: Sequence[tuple[str, Mapping[str, str]]]
    practices: Sequence[tuple[str, str, Mapping[str, str]]]  # id, city id, name
    words: Mapping[str, Mapping[str, str]]  # city, practice, language, yes, no, dont_know


SURVEY_COLUMNS = (
    "type",
    "name",
    *(f"label::{LANGUAGE_COLUMNS[c]}" for c in LANGUAGES),
    "required",
    "relevant",
    "constraint",
    "choice_filter",
    "calculation",
    TAG_COLUMN,
    POSITIVE_COLUMN,
)
CHOICE_COLUMNS = (
    "list_name",
    "name",
    *(f"label::{LANGUAGE_COLUMNS[c]}" for c in LANGUAGES),
    "city",
)


def export_form(
    definition: Mapping[str, Any], interview: InterviewChoices
) -> dict[str, list[list[Any]]]:
    """Our survey as the sheets of an XLSForm (survey, choices, settings): rows of cells."""
    words = interview.words
    survey: list[list[Any]] = [list(SURVEY_COLUMNS)]
    choices: list[list[Any]] = [list(CHOICE_COLUMNS)]
    survey += [
        _survey_row("select_one cities", CITY, words["city"], required=True),
        _survey_row(
            "select_one practices",
            PRACTICE,
            words["practice"],
            required=True,
            choice_filter="city=${city}",
        ),
        _survey_row("select_one languages", LANGUAGE, words["language"], required=True),
        _survey_row("calculate", CITY_NAME, calculation="jr:choice-name(${city}, '${city}')"),
        _survey_row(
            "calculate", PRACTICE_NAME, calculation="jr:choice-name(${practice}, '${practice}')"
        ),
        _survey_row("note", INTRO, _xls_texts(definition["intro"])),
    ]
    choices += [_choice_row("cities", city_id, name) for city_id, name in interview.cities]
    choices += [
        _choice_row("practices", pid, name, city=city_id)
        for pid, city_id, name in interview.practices
    ]
    choices += [
        _choice_row("languages", code, dict.fromkeys(LANGUAGES, LANGUAGE_NAMES[code]))
        for code in LANGUAGES
    ]
    yes_no_listed = False
    for question in definition["questions"]:
        survey.append(_question_row(question))
        kind = question["type"]
        if kind == "yes_no" and not yes_no_listed:
            choices += [_choice_row("yes_no", v, words[v]) for v in ("yes", "no")]
            yes_no_listed = True
        elif kind in ("single_choice", "multiple_choice"):
            choices += [
                _choice_row(question["id"], o["id"], _unescaped_all(o["label"]))
                for o in question["options"]
            ]
        elif kind == "scale":
            choices += _scale_choices(question, words)
    return {"survey": survey, "choices": choices, "settings": _settings(definition)}


def _question_row(question: Mapping[str, Any]) -> list[Any]:
    kind, qid = question["type"], question["id"]
    types = {
        "yes_no": "select_one yes_no",
        "single_choice": f"select_one {qid}",
        "multiple_choice": f"select_multiple {qid}",
        "scale": f"select_one {qid}",
        "number": "decimal" if question.get("decimal") else "integer",
        "text": "text",
        "info": "note",
    }
    rule = ""
    if kind == "multiple_choice":
        rule = constraint("count-selected(.)", question.get("min"), question.get("max"))
    elif kind == "number":
        rule = constraint(".", question.get("min"), question.get("max"))
    elif kind == "text" and "max_length" in question:
        rule = constraint("string-length(.)", None, question["max_length"])
    return _survey_row(
        types[kind],
        qid,
        _xls_texts(question["text"]),
        required=bool(question.get("required")),
        relevant=relevant(question["show_if"]) if question.get("show_if") else "",
        constraint_=rule,
        tag=question.get("tag") or "",
        positive=" ".join(question.get("positive", [])),
    )


def _scale_choices(
    question: Mapping[str, Any], words: Mapping[str, Mapping[str, str]]
) -> list[list[Any]]:
    labels = question["labels"]
    rows = [_choice_row(question["id"], "1", _unescaped_all(labels["low"]))]
    rows += [_choice_row(question["id"], n, dict.fromkeys(LANGUAGES, n)) for n in SCALE_NAMES[1:4]]
    rows.append(_choice_row(question["id"], "5", _unescaped_all(labels["high"])))
    if question.get("dont_know"):
        rows.append(_choice_row(question["id"], DONT_KNOW, words["dont_know"]))
    return rows


def _settings(definition: Mapping[str, Any]) -> list[list[Any]]:
    title = _unescaped_all(definition["title"])
    weights = " ".join(f"{name}={value:g}" for name, value in definition.get("weights", {}).items())
    header = ["form_title", "form_id", "default_language", *(f"title_{c}" for c in LANGUAGES)]
    values = [
        title["en"],
        definition["key"],
        LANGUAGE_COLUMNS["en"],
        *(title[c] for c in LANGUAGES),
    ]
    if weights:
        header.append("weights")
        values.append(weights)
    return [header, values]


def _survey_row(
    kind: str,
    name: str,
    label: Mapping[str, str] | None = None,
    *,
    required: bool = False,
    relevant: str = "",
    constraint_: str = "",
    choice_filter: str = "",
    calculation: str = "",
    tag: str = "",
    positive: str = "",
) -> list[Any]:
    texts = [label.get(c, "") if label else "" for c in LANGUAGES]
    return [
        kind,
        name,
        *texts,
        "yes" if required else "",
        relevant,
        constraint_,
        choice_filter,
        calculation,
        tag,
        positive,
    ]


def _choice_row(list_name: str, name: str, label: Mapping[str, str], city: str = "") -> list[Any]:
    return [list_name, name, *(label.get(c, "") for c in LANGUAGES), city]


def _xls_texts(texts: Mapping[str, str]) -> dict[str, str]:
    """Our texts with {practice}/{city} as ${practice_name}/${city_name} and braces unescaped."""
    result = {}
    for code, text in texts.items():
        parts = []
        for literal, name, _spec, _conversion in string.Formatter().parse(text):
            parts.append(literal)
            if name is not None:
                parts.append("${" + {"practice": PRACTICE_NAME, "city": CITY_NAME}[name] + "}")
        result[code] = "".join(parts)
    return result


def _unescaped_all(texts: Mapping[str, str]) -> dict[str, str]:
    return {code: text.replace("{{", "{").replace("}}", "}") for code, text in texts.items()}


def workbook_bytes(sheets: Mapping[str, list[list[Any]]]) -> bytes:
    """Sheets of rows as an .xlsx file's bytes (in memory; the caller writes the file)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append([cell if cell != "" else None for cell in row])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
