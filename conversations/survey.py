"""Surveys as data: the question model, `show_if` conditions, and the YAML loader that checks them."""

from __future__ import annotations

import hashlib
import json
import re
import string
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from inputfiles import FileProblem, line_of, load_yaml, read_text

LANGUAGES = ("uk", "ru", "en", "pl")
QUESTION_TYPES = ("single_choice", "multiple_choice", "scale", "yes_no", "number", "text", "info")
TAGS = (
    "awareness",
    "usage",
    "engagement",
    "sustainability",
    "comprehensiveness",
    "overall",
    "comment",
    "other",  # asked and stored, but part of no criterion or share (e.g. years in the city)
)
CRITERIA = ("engagement", "sustainability", "comprehensiveness", "overall")
CONDITIONS = ("equals", "in", "not_in", "at_least", "at_most", "includes", "answered")
PLACEHOLDERS = frozenset({"practice", "city"})
SCALE = range(1, 6)
YES, NO, DONT_KNOW = "yes", "no", "dont_know"
DEFAULT_TEXT_LIMIT = 1000
MAX_WHOLE_NUMBER = 2**31 - 1  # answers.value_number is a 32-bit integer
MAX_DECIMAL_LENGTH = 16  # a decimal answer is stored as text in answers.value_option
_ID = re.compile(r"^[a-z][a-z0-9_]{0,15}$")
_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_LINE = re.compile(r":(\d+): ")
MAX_SURVEY_BYTES = 512 * 1024  # the shipped survey has 10 KB; a survey is read at every start

Localized = Mapping[str, str]
AnswerValue = int | str | tuple[str, ...]


@dataclass(frozen=True)
class Option:
    """A choice offered by a single- or multiple-choice question."""

    id: str
    label: Localized


@dataclass(frozen=True)
class Question:
    """One question of a survey; what it asks and which answers it accepts."""

    id: str
    type: str
    text: Localized
    tag: str | None = None
    required: bool = False
    show_if: Mapping[str, Any] | None = None
    options: tuple[Option, ...] = ()
    min: int = 1
    max: int | None = None
    labels: Mapping[str, Localized] = field(default_factory=dict)
    dont_know: bool = False
    max_length: int = DEFAULT_TEXT_LIMIT
    positive: tuple[str, ...] = ()  # options that count as "yes" in shares (e.g. "used it")
    lowest: int | float | None = None  # number: the smallest answer allowed
    highest: int | float | None = None  # number: the largest answer allowed
    decimal: bool = False  # number: decimals allowed (else whole numbers only)

    @property
    def option_ids(self) -> tuple[str, ...]:
        """The ids a respondent may choose."""
        if self.type == "yes_no":
            return (YES, NO)
        return tuple(option.id for option in self.options)

    @property
    def skippable(self) -> bool:
        """Optional questions offer Skip; information messages only Continue."""
        return not self.required and self.type != "info"

    @cached_property
    def shown(self) -> Predicate:
        """Whether the question is asked, given the answers so far: its show_if as a function,
        made once (the engine asks it of every question at every answer)."""
        return _always if self.show_if is None else compiled_condition(self.show_if)

    @cached_property
    def depends_on(self) -> frozenset[str]:
        """The questions its show_if reads."""
        return frozenset(_questions_in(self.show_if)) if self.show_if else frozenset()


@dataclass(frozen=True)
class Survey:
    """A validated survey definition."""

    key: str
    title: Localized
    intro: Localized
    questions: tuple[Question, ...]
    weights: Mapping[str, float] = field(default_factory=dict)

    def question(self, question_id: str) -> Question:
        """The question with this id."""
        return self._by_id[question_id]

    def has(self, question_id: str) -> bool:
        """Whether the survey has a question with this id."""
        return question_id in self._by_id

    def index(self, question_id: str) -> int:
        """The position of a question in the survey."""
        return self._positions[question_id]

    @cached_property
    def _by_id(self) -> dict[str, Question]:
        return {q.id: q for q in self.questions}

    @cached_property
    def _positions(self) -> dict[str, int]:
        return {q.id: i for i, q in enumerate(self.questions)}


class SurveyError(Exception):
    """A survey file has problems; `problems` lists them as 'file:line: message'."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def condition_holds(condition: Mapping[str, Any], answers: Mapping[str, AnswerValue]) -> bool:
    """Evaluate a show_if condition against the answers given so far (skipped = absent)."""
    if "all" in condition:
        return all(condition_holds(c, answers) for c in condition["all"])
    if "any" in condition:
        return any(condition_holds(c, answers) for c in condition["any"])
    value = answers.get(condition["question"])
    if "answered" in condition:
        return (value is not None) == bool(condition["answered"])
    if value is None:
        return False
    if "equals" in condition:
        return value == condition["equals"]
    if "in" in condition:
        return value in condition["in"]
    if "not_in" in condition:
        return value not in condition["not_in"]
    if "includes" in condition:
        return isinstance(value, tuple) and condition["includes"] in value
    if not isinstance(value, int):
        return False
    if "at_least" in condition:
        return value >= condition["at_least"]
    return value <= condition["at_most"]


_NUMBER = re.compile(r"[+-]?[0-9]+(?:[.,][0-9]+)?")


def read_number(question: Question, text: str) -> int | str | None:
    """A number typed or recorded for a number question, as it is stored: an int for a
    whole-number question, the canonical text ("2.5") for a decimal one; None when the text is
    no number, or has decimals the question does not take. Bounds are checked apart."""
    compact = text.strip().replace(" ", "").replace("\u00a0", "")
    if not _NUMBER.fullmatch(compact):
        return None
    number = Decimal(compact.replace(",", "."))
    if question.decimal:  # stored as an option's text: at most 16 characters
        canonical = format(number.normalize(), "f")
        canonical = "0" if canonical in ("-0", "+0") else canonical
        return canonical if len(canonical) <= MAX_DECIMAL_LENGTH else None
    if number != number.to_integral_value() or abs(number) > MAX_WHOLE_NUMBER:
        return None
    return int(number)


def within_bounds(question: Question, value: int | str) -> bool:
    """Whether a number answer lies between the question's min and max."""
    number = Decimal(value)
    low, high = question.lowest, question.highest
    return (low is None or number >= Decimal(str(low))) and (
        high is None or number <= Decimal(str(high))
    )


Predicate = Callable[[Mapping[str, AnswerValue]], bool]


def compiled_condition(condition: Mapping[str, Any]) -> Predicate:
    """`condition_holds(condition, ·)` as a function: the condition is read once, not at every
    evaluation (tests/test_fuzz.py checks the two agree)."""
    if "all" in condition:
        every = tuple(compiled_condition(c) for c in condition["all"])
        return lambda answers: all(part(answers) for part in every)
    if "any" in condition:
        some = tuple(compiled_condition(c) for c in condition["any"])
        return lambda answers: any(part(answers) for part in some)
    question = condition["question"]
    if "answered" in condition:
        wanted = bool(condition["answered"])
        return lambda answers: (answers.get(question) is not None) == wanted
    if "equals" in condition:
        expected = condition["equals"]
        return lambda answers: (v := answers.get(question)) is not None and v == expected
    if "in" in condition:
        allowed = condition["in"]
        return lambda answers: (v := answers.get(question)) is not None and v in allowed
    if "not_in" in condition:
        refused = condition["not_in"]
        return lambda answers: (v := answers.get(question)) is not None and v not in refused
    if "includes" in condition:
        option = condition["includes"]
        return lambda answers: isinstance(v := answers.get(question), tuple) and option in v
    if "at_least" in condition:
        low = condition["at_least"]
        return lambda answers: isinstance(v := answers.get(question), int) and v >= low
    high = condition["at_most"]
    return lambda answers: isinstance(v := answers.get(question), int) and v <= high


def _always(answers: Mapping[str, AnswerValue]) -> bool:
    return True


def _questions_in(condition: Mapping[str, Any]) -> list[str]:
    for joined in ("all", "any"):
        if joined in condition:
            return [question for part in condition[joined] for question in _questions_in(part)]
    return [condition["question"]]


def condition_may_hold(
    condition: Mapping[str, Any], answers: Mapping[str, AnswerValue], open_ids: Set[str]
) -> bool | None:
    """A show_if condition when some earlier answers are not known yet (`open_ids`): True or
    False when the known answers decide it, None while it depends on an open one."""
    if "all" in condition or "any" in condition:
        wanted = "all" in condition
        parts = [
            condition_may_hold(c, answers, open_ids) for c in condition["all" if wanted else "any"]
        ]
        if (not wanted) in parts:
            return not wanted
        return wanted if all(part is wanted for part in parts) else None
    if condition["question"] in open_ids:
        return None
    return condition_holds(condition, answers)


def is_visible(question: Question, answers: Mapping[str, AnswerValue]) -> bool:
    """Whether a question is asked, given the answers so far."""
    return question.shown(answers)


def survey_from_dict(data: Mapping[str, Any]) -> Survey:
    """Build a survey from an already validated mapping (a file, or the stored definition)."""
    questions = tuple(
        Question(
            id=q["id"],
            type=q["type"],
            text=q["text"],
            tag=q.get("tag"),
            required=bool(q.get("required", False)),
            show_if=q.get("show_if"),
            options=tuple(Option(o["id"], o["label"]) for o in q.get("options", ())),
            min=int(q.get("min", 1)) if q["type"] == "multiple_choice" else 1,
            max=q.get("max") if q["type"] == "multiple_choice" else None,
            labels=q.get("labels", {}),
            dont_know=bool(q.get("dont_know", False)),
            max_length=int(q.get("max_length", DEFAULT_TEXT_LIMIT)),
            positive=tuple(q.get("positive", ())),
            lowest=q.get("min") if q["type"] == "number" else None,
            highest=q.get("max") if q["type"] == "number" else None,
            decimal=bool(q.get("decimal", False)),
        )
        for q in data["questions"]
    )
    return Survey(data["key"], data["title"], data["intro"], questions, data.get("weights", {}))


def content_hash(data: Mapping[str, Any]) -> str:
    """A stable fingerprint of a survey definition, to tell whether a file changed."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def load_survey_file(path: Path) -> tuple[Survey, dict[str, Any]]:
    """Read and validate a survey file; raise SurveyError listing every problem with its line
    (a file that is too big or not UTF-8 is refused before it is checked)."""
    try:
        text = read_text(path, MAX_SURVEY_BYTES)
    except FileProblem as problem:
        raise SurveyError([str(problem)]) from None
    return load_survey_text(text, path)


def load_survey_text(text: str, path: Path) -> tuple[Survey, dict[str, Any]]:
    """Validate a survey's YAML text (named `path` in the problems); a key given twice in a
    mapping is refused."""
    try:
        root, data = load_yaml(text, path)
    except FileProblem as problem:
        raise SurveyError([str(problem)]) from None
    if root is None:
        raise SurveyError([f"{path}:1: the file is empty"])
    problems = _SurveyChecker(path, root).check(data)
    if problems:
        raise SurveyError(sorted(problems, key=_line_number))
    return survey_from_dict(data), data


def survey_files(folder: Path) -> list[Path]:
    """The survey files in a folder, in name order."""
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


class _SurveyChecker:
    """Collects every problem of a survey file, each with the line it is on."""

    def __init__(self, path: Path, root: yaml.Node) -> None:
        self.path = path
        self.root = root
        self.problems: list[str] = []

    def check(self, data: Any) -> list[str]:
        """Check the whole survey and return the problems found."""
        if not isinstance(data, dict):
            self._report((), "the survey must be a mapping with key, title, intro and questions")
            return self.problems
        for name in ("key", "title", "intro", "questions"):
            if name not in data:
                self._report((), f"missing '{name}'")
        unknown = set(data) - {"key", "title", "intro", "questions", "weights"}
        for name in sorted(unknown):
            self._report((name,), f"unknown field '{name}'")
        if "key" in data and not _KEY.match(str(data["key"])):
            self._report(("key",), "key must be lowercase letters, digits and '-'")
        for name in ("title", "intro"):
            if name in data:
                self._localized(data[name], (name,))
        self._weights(data.get("weights"))
        questions = data.get("questions")
        if "questions" in data and (not isinstance(questions, list) or not questions):
            self._report(("questions",), "questions must be a non-empty list")
        elif isinstance(questions, list):
            self._questions(questions)
        return self.problems

    def _questions(self, questions: list[Any]) -> None:
        seen: dict[str, Any] = {}
        for index, question in enumerate(questions):
            where = ("questions", index)
            if not isinstance(question, dict):
                self._report(where, "each question must be a mapping")
                continue
            self._question(question, where, seen)
            if isinstance(question.get("id"), str):
                if question["id"] in seen:
                    self._report((*where, "id"), f"duplicate question id '{question['id']}'")
                else:
                    seen[question["id"]] = question

    def _question(self, q: dict[str, Any], where: tuple[Any, ...], earlier: dict[str, Any]) -> None:
        qid, qtype = q.get("id"), q.get("type")
        if not isinstance(qid, str) or not _ID.match(qid):
            self._report(where, "id must match [a-z][a-z0-9_]{0,15}")
        if qtype not in QUESTION_TYPES:
            self._report(
                (*where, "type") if "type" in q else where,
                f"unknown question type '{qtype}'; use one of {', '.join(QUESTION_TYPES)}",
            )
        allowed = {"id", "type", "text", "tag", "required", "show_if"} | _TYPE_FIELDS.get(
            str(qtype), set()
        )
        for name in sorted(set(q) - allowed):
            self._report((*where, name), f"field '{name}' does not belong to a {qtype} question")
        if "text" not in q:
            self._report(where, "missing 'text'")
        else:
            self._localized(q["text"], (*where, "text"))
        tag = q.get("tag")
        if tag is None and qtype != "info":
            self._report(where, f"missing 'tag' (one of {', '.join(TAGS)})")
        elif tag is not None and tag not in TAGS:
            self._report((*where, "tag"), f"unknown tag '{tag}'; use one of {', '.join(TAGS)}")
        if qtype in ("single_choice", "multiple_choice"):
            self._options(q, where)
        if qtype == "scale":
            self._scale(q, where)
        if qtype == "number":
            self._number(q, where)
        if qtype == "text" and "max_length" in q:
            limit = q["max_length"]
            if not isinstance(limit, int) or not 1 <= limit <= 4000:
                self._report((*where, "max_length"), "max_length must be a number from 1 to 4000")
        if "show_if" in q:
            self._condition(q["show_if"], (*where, "show_if"), earlier)

    def _options(self, q: dict[str, Any], where: tuple[Any, ...]) -> None:
        options = q.get("options")
        if not isinstance(options, list) or len(options) < 2:
            self._report(where, "a choice question needs a list of at least two options")
            return
        ids: set[str] = set()
        for index, option in enumerate(options):
            spot = (*where, "options", index)
            if not isinstance(option, dict) or not _ID.match(str(option.get("id", ""))):
                self._report(spot, "each option needs an id matching [a-z][a-z0-9_]{0,15}")
                continue
            if option["id"] in ids:
                self._report((*spot, "id"), f"duplicate option id '{option['id']}'")
            ids.add(option["id"])
            if "label" not in option:
                self._report(spot, "option is missing 'label'")
            else:
                self._localized(option["label"], (*spot, "label"), placeholders=False)
        positive = q.get("positive", [])
        if not isinstance(positive, list) or not set(map(str, positive)) <= ids:
            self._report((*where, "positive"), "positive must list options of this question")
        if q.get("type") == "multiple_choice":
            low, high = q.get("min", 1), q.get("max", len(options))
            if not (
                isinstance(low, int)
                and isinstance(high, int)
                and 0 <= low <= high <= len(options)
                and high >= 1
            ):
                self._report(where, "min and max must satisfy 0 <= min <= max <= number of options")

    def _scale(self, q: dict[str, Any], where: tuple[Any, ...]) -> None:
        labels = q.get("labels")
        if not isinstance(labels, dict) or set(labels) != {"low", "high"}:
            self._report(where, "a scale needs labels with 'low' and 'high'")
            return
        for end in ("low", "high"):
            self._localized(labels[end], (*where, "labels", end), placeholders=False)

    def _number(self, q: dict[str, Any], where: tuple[Any, ...]) -> None:
        decimal = q.get("decimal", False)
        if not isinstance(decimal, bool):
            self._report((*where, "decimal"), "decimal must be true or false")
        kinds = (int, float) if decimal else (int,)
        for end in ("min", "max"):
            value = q.get(end)
            if value is not None and (isinstance(value, bool) or not isinstance(value, kinds)):
                whole = "" if decimal else "whole "
                self._report((*where, end), f"{end} must be a {whole}number")
                return
        low, high = q.get("min"), q.get("max")
        if low is not None and high is not None and low > high:
            self._report(where, "min must not be larger than max")

    def _condition(self, cond: Any, where: tuple[Any, ...], earlier: dict[str, Any]) -> None:
        if not isinstance(cond, dict):
            self._report(where, "show_if must be a mapping")
            return
        if set(cond) in ({"all"}, {"any"}):
            parts = next(iter(cond.values()))
            if not isinstance(parts, list) or not parts:
                self._report(where, "'all' and 'any' take a non-empty list of conditions")
                return
            for index, part in enumerate(parts):
                self._condition(part, (*where, next(iter(cond)), index), earlier)
            return
        target = cond.get("question")
        tests = [name for name in cond if name != "question"]
        if len(tests) != 1 or tests[0] not in CONDITIONS:
            self._report(where, f"show_if needs 'question' and one of: {', '.join(CONDITIONS)}")
            return
        if target not in earlier:
            self._report(where, f"show_if refers to '{target}', which is not an earlier question")
            return
        self._condition_value(tests[0], cond[tests[0]], earlier[target], where)

    def _condition_value(
        self, test: str, value: Any, target: dict[str, Any], where: tuple[Any, ...]
    ) -> None:
        kind = target.get("type")
        if test == "answered":
            if not isinstance(value, bool):
                self._report(where, "'answered' takes true or false")
            return
        if test in ("at_least", "at_most"):
            whole = isinstance(value, int) and not isinstance(value, bool)
            if kind == "number" and not target.get("decimal") and whole:
                return
            if kind != "scale" or value not in SCALE:
                self._report(
                    where,
                    f"'{test}' needs a scale question and a number from 1 to 5, "
                    "or a whole-number question and a whole number",
                )
            return
        choices = set(_option_ids(target))
        values = value if test in ("in", "not_in") else [value]
        if test == "includes" and kind != "multiple_choice":
            self._report(where, "'includes' needs a multiple-choice question")
        elif not isinstance(values, list) or not set(map(str, values)) <= choices:
            self._report(
                where,
                f"'{test}' must name options of '{target.get('id')}': "
                f"{', '.join(sorted(choices)) or 'none'}",
            )

    def _weights(self, weights: Any) -> None:
        if weights is None:
            return
        valid = (
            isinstance(weights, dict)
            and set(weights) <= set(CRITERIA)
            and all(isinstance(v, int | float) and v >= 0 for v in weights.values())
        )
        if not valid:
            self._report(("weights",), f"weights map {', '.join(CRITERIA)} to numbers >= 0")

    def _localized(self, value: Any, where: tuple[Any, ...], *, placeholders: bool = True) -> None:
        if not isinstance(value, dict):
            self._report(where, f"expected a text in each language: {', '.join(LANGUAGES)}")
            return
        for language in LANGUAGES:
            text = value.get(language)
            if not isinstance(text, str) or not text.strip():
                self._report(where, f"missing the '{language}' translation")
            elif problem := _placeholder_problem(text, placeholders):
                self._report((*where, language), f"'{language}': {problem}")
        for language in sorted(set(value) - set(LANGUAGES)):
            self._report((*where, language), f"unsupported language '{language}'")

    def _report(self, where: tuple[Any, ...], message: str) -> None:
        self.problems.append(f"{self.path}:{line_of(self.root, where)}: {message}")


_TYPE_FIELDS = {
    "single_choice": {"options", "positive"},
    "multiple_choice": {"options", "min", "max"},
    "scale": {"labels", "dont_know"},
    "number": {"min", "max", "decimal"},
    "text": {"max_length"},
}


def _option_ids(question: dict[str, Any]) -> list[str]:
    if question.get("type") == "yes_no":
        return [YES, NO]
    if question.get("type") == "scale":
        return [DONT_KNOW] if question.get("dont_know") else []
    return [str(o.get("id")) for o in question.get("options", []) if isinstance(o, dict)]


def _placeholder_problem(text: str, allowed: bool) -> str | None:
    """Only {practice} and {city} may appear in question texts, none in labels."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError:
        return "unbalanced braces; write {{ and }} for literal braces"
    permitted = PLACEHOLDERS if allowed else frozenset()
    if names - permitted:
        return f"unknown placeholder {{{sorted(names - permitted)[0]}}}"
    return None


def _line_number(problem: str) -> int:
    """The line of a 'file:line: message' problem, for sorting."""
    found = _LINE.search(problem)
    return int(found.group(1)) if found else 0
