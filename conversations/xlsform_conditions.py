"""XLSForm expressions (`relevant`, `constraint`) ↔ our show_if conditions and question limits.

pyxform's own lexer splits an expression into tokens; the small parser here knows the shapes a
chat survey can follow: comparisons of an earlier answer with a value, `selected()`, answered or
not, joined by `and`/`or`. Anything else raises ExpressionError with a plain explanation.

XPath and our conditions differ in one place: in XPath `${q} != 'a'` is true when q was not
answered, while our `not_in` needs an answer; an import keeps XPath's meaning (not_in, or not
answered), and an export writes `${q} != '' and not(selected(${q}, 'a'))`, which imports back as
the same not_in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pyxform.parsing.expression import parse_expression

Condition = dict[str, Any]
Node = tuple[Any, ...]


class ExpressionError(ValueError):
    """An expression a chat survey cannot follow; the message says why, in plain words."""


# --------------------------------------------------------------------------- parsing to a tree


class _Parser:
    """A recursive-descent parser over pyxform's tokens (whitespace dropped)."""

    def __init__(self, text: str) -> None:
        self.tokens = [t for t in parse_expression(text) if t.type != "WHITESPACE"]
        self.at = 0

    def _operator(self) -> str:
        """A comparison; pyxform's lexer splits "<=" and ">=" into two tokens."""
        operator = str(self._take("OPS_COMP").strip())
        if operator in ("<", ">") and self._is("OPS_COMP", "="):
            self.at += 1
            operator += "="
        return operator

    def parse(self) -> Node:
        node = self._or()
        if self.at != len(self.tokens):
            raise ExpressionError(f"cannot read the expression from '{self.tokens[self.at]}' on")
        return node

    def _peek(self) -> Any:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def _take(self, kind: str, value: str | None = None) -> Any:
        token = self._peek()
        if token is None or token.type != kind or (value is not None and token.strip() != value):
            found = "the end" if token is None else f"'{token.strip()}'"
            raise ExpressionError(f"expected {value or kind.lower()} but found {found}")
        self.at += 1
        return token

    def _is(self, kind: str, value: str | None = None) -> bool:
        token = self._peek()
        return (
            token is not None and token.type == kind and (value is None or token.strip() == value)
        )

    def _or(self) -> Node:
        parts = [self._and()]
        while self._is("OPS_BOOL", "or"):
            self.at += 1
            parts.append(self._and())
        return ("or", parts) if len(parts) > 1 else parts[0]

    def _and(self) -> Node:
        parts = [self._unary()]
        while self._is("OPS_BOOL", "and"):
            self.at += 1
            parts.append(self._unary())
        return ("and", parts) if len(parts) > 1 else parts[0]

    def _unary(self) -> Node:
        if self._is("OPEN_PAREN"):
            self.at += 1
            inner = self._or()
            self._take("CLOSE_PAREN")
            return inner
        if self._is("FUNC_CALL"):
            return self._call(self._take("FUNC_CALL").strip()[:-1])
        subject = self._subject()
        operator = self._operator()
        return ("compare", subject, operator, self._literal())

    def _call(self, name: str) -> Node:
        if name == "not":
            inner = self._or()
            self._take("CLOSE_PAREN")
            return ("not", inner)
        if name == "selected":
            subject = self._subject()
            self._take("COMMA")
            value = self._literal()
            self._take("CLOSE_PAREN")
            return ("selected", subject, value)
        if name in ("string-length", "count-selected"):
            subject = self._subject()
            self._take("CLOSE_PAREN")
            operator = self._operator()
            return (name, subject, operator, self._literal())
        raise ExpressionError(f"the function {name}() cannot be followed in a chat")

    def _subject(self) -> str:
        if self._is("SELF_REF"):
            self.at += 1
            return "."
        token = self._take("PYXFORM_REF")
        return str(token.strip()[2:-1])

    def _literal(self) -> str | float:
        if self._is("SYSTEM_LITERAL"):
            return str(self._take("SYSTEM_LITERAL").strip()[1:-1])
        if self._is("NUMBER"):
            return float(self._take("NUMBER").strip())
        if self._is("PYXFORM_REF"):
            raise ExpressionError("comparing two answers with each other cannot be followed")
        raise ExpressionError("expected a value such as 'yes' or 3")


def parse(text: str) -> Node:
    """The expression as a tree; ExpressionError when it is not one we can read."""
    try:
        return _Parser(text).parse()
    except ExpressionError:
        raise
    except Exception as error:  # lark's own errors: still a plain line
        raise ExpressionError(f"cannot read the expression: {error}") from None


# --------------------------------------------------------------------------- relevant → show_if


def show_if(text: str, earlier: Mapping[str, Mapping[str, Any]]) -> Condition:
    """A `relevant` expression as a show_if condition over earlier questions (our definitions,
    by id)."""
    return _simplify(_condition(parse(text), earlier))


def _condition(node: Node, earlier: Mapping[str, Mapping[str, Any]]) -> Condition:
    kind = node[0]
    if kind in ("and", "or"):
        return {"all" if kind == "and" else "any": [_condition(n, earlier) for n in node[1]]}
    if kind == "not":
        inner = node[1]
        if inner[0] == "selected":
            question = _question(inner[1], earlier)
            if question["type"] in ("single_choice", "yes_no"):
                value = _option(question, inner[2])
                return _not_in_or_unanswered(question["id"], value)
        raise ExpressionError("not(…) can only be followed around selected() of a single choice")
    if kind == "selected":
        question = _question(node[1], earlier)
        return _selected(question, node[2])
    if kind in ("string-length", "count-selected"):
        question = _question(node[1], earlier)
        return _answered_test(question["id"], node[2], node[3])
    return _compare(_question(node[1], earlier), node[2], node[3])


def _question(name: str, earlier: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any]:
    if name == ".":
        raise ExpressionError("'.' (this question) has no meaning in relevant")
    if name not in earlier:
        raise ExpressionError(f"refers to '{name}', which is not an earlier question of the survey")
    return earlier[name]


def _option(question: Mapping[str, Any], value: str | float) -> str:
    text = _text(value)
    choices = _choices(question)
    if text not in choices:
        raise ExpressionError(
            f"'{question['id']}' has no choice '{text}' (its choices: {', '.join(choices)})"
        )
    return text


def _choices(question: Mapping[str, Any]) -> list[str]:
    if question["type"] == "yes_no":
        return ["yes", "no"]
    if question["type"] == "scale":
        return [str(n) for n in range(1, 6)] + (["dont_know"] if question.get("dont_know") else [])
    return [str(o["id"]) for o in question.get("options", [])]


def _text(value: str | float) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _selected(question: Mapping[str, Any], value: str | float) -> Condition:
    qid, kind = question["id"], question["type"]
    if kind == "multiple_choice":
        return {"question": qid, "includes": _option(question, value)}
    if kind in ("single_choice", "yes_no"):
        return {"question": qid, "in": [_option(question, value)]}
    if kind == "scale":
        return _scale_equals(question, value)
    raise ExpressionError(f"selected() needs a choice question; '{qid}' is not one")


def _scale_equals(question: Mapping[str, Any], value: str | float) -> Condition:
    text = _option(question, value)
    if text == "dont_know":
        return {"question": question["id"], "equals": text}
    number = int(text)
    return {"all": [_bound(question["id"], ">=", number), _bound(question["id"], "<=", number)]}


def _not_in_or_unanswered(qid: str, value: str) -> Condition:
    return {"any": [{"question": qid, "not_in": [value]}, {"question": qid, "answered": False}]}


def _answered_test(qid: str, operator: str, value: str | float) -> Condition:
    test = (operator, value)
    if test in ((">", 0.0), (">=", 1.0), ("!=", 0.0)):
        return {"question": qid, "answered": True}
    if test in (("=", 0.0), ("<", 1.0), ("<=", 0.0)):
        return {"question": qid, "answered": False}
    raise ExpressionError("only 'answered or not' can be followed for a length or a count")


def _compare(question: Mapping[str, Any], operator: str, value: str | float) -> Condition:
    qid, kind = question["id"], question["type"]
    if value == "" and operator in ("=", "!="):
        return {"question": qid, "answered": operator == "!="}
    if operator in ("=", "!=") and kind in ("single_choice", "yes_no"):
        option = _option(question, value)
        if operator == "=":
            return {"question": qid, "equals": option}
        return _not_in_or_unanswered(qid, option)
    numeric = kind == "scale" or (kind == "number" and not question.get("decimal"))
    if operator == "=" and kind == "scale":
        return _scale_equals(question, value)
    if not numeric or operator == "!=":
        raise ExpressionError(
            f"'{qid}' ({kind}) cannot be compared with {operator} in a chat survey"
        )
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ExpressionError(f"'{qid}' is a number; compare it with a number") from None
    if operator == "=":
        whole = _text(value)
        if not whole.lstrip("-").isdigit():
            raise ExpressionError(f"'{qid}' takes whole numbers; {value} never matches")
        return {"all": [_bound(qid, ">=", int(whole)), _bound(qid, "<=", int(whole))]}
    return _bound(qid, operator, value, scale=kind == "scale")


def _bound(qid: str, operator: str, value: float, *, scale: bool = False) -> Condition:
    """A comparison of a whole-number answer as at_least / at_most."""
    if operator in (">", ">="):
        number = math.floor(value) + 1 if operator == ">" else math.ceil(value)
        if scale:
            if number > 5:
                raise ExpressionError(
                    f"'{qid}' is rated 1 to 5; {operator} {_text(value)} never holds"
                )
            number = max(number, 1)
        return {"question": qid, "at_least": number}
    number = math.ceil(value) - 1 if operator == "<" else math.floor(value)
    if scale:
        if number < 1:
            raise ExpressionError(f"'{qid}' is rated 1 to 5; {operator} {_text(value)} never holds")
        number = min(number, 5)
    return {"question": qid, "at_most": number}


def _simplify(condition: Condition) -> Condition:
    """Flatten, merge and drop what the XLSForm spelling adds (see the module's docstring)."""
    for kind in ("all", "any"):
        if kind in condition:
            parts: list[Condition] = []
            for part in (_simplify(p) for p in condition[kind]):
                parts.extend(part.get(kind, [part]))
            parts = _merge_all(parts) if kind == "all" else _merge_any(parts)
            return parts[0] if len(parts) == 1 else {kind: parts}
    return condition


def _merge_any(parts: list[Condition]) -> list[Condition]:
    """`selected(q,'a') or selected(q,'b')` → in [a, b]."""
    merged: list[Condition] = []
    for part in parts:
        same = next(
            (m for m in merged if "in" in m and "in" in part and m["question"] == part["question"]),
            None,
        )
        if same is None:
            merged.append(dict(part))
        else:
            same["in"] = [*same["in"], *part["in"]]
    return merged


def _merge_all(parts: list[Condition]) -> list[Condition]:
    """`q != '' and not(selected(q,'a')) and not(selected(q,'b'))` → not_in [a, b]."""
    answered = {p["question"] for p in parts if p.get("answered") is True}
    reduced = [_answered_not_in(p, answered) for p in parts]
    merged: list[Condition] = []
    for part in reduced:
        same = next(
            (
                m
                for m in merged
                if "not_in" in m and "not_in" in part and m["question"] == part["question"]
            ),
            None,
        )
        if same is None:
            merged.append(dict(part))
        else:
            same["not_in"] = [*same["not_in"], *part["not_in"]]
    excluded = {m["question"] for m in merged if "not_in" in m}
    return [m for m in merged if not (m.get("answered") is True and m["question"] in excluded)]


def _answered_not_in(part: Condition, answered: set[str]) -> Condition:
    """any[not_in q X, q not answered] is just not_in q X when q is known to be answered."""
    options = part.get("any", [])
    if (
        len(options) == 2
        and "not_in" in options[0]
        and options[1].get("answered") is False
        and options[0]["question"] == options[1]["question"] in answered
    ):
        return dict(options[0])
    return part


# --------------------------------------------------------------------------- show_if → relevant


def relevant(condition: Condition) -> str:
    """A show_if condition as an XLSForm `relevant` expression."""
    if "all" in condition:
        return " and ".join(_wrapped(c, "or") for c in condition["all"])
    if "any" in condition:
        return " or ".join(_wrapped(c, "and") for c in condition["any"])
    ref = "${" + condition["question"] + "}"
    if "answered" in condition:
        return f"{ref} != ''" if condition["answered"] else f"{ref} = ''"
    if "equals" in condition:
        return f"{ref} = {_quoted(condition['equals'])}"
    if "in" in condition:
        return " or ".join(f"selected({ref}, {_quoted(v)})" for v in condition["in"])
    if "not_in" in condition:
        tests = [f"not(selected({ref}, {_quoted(v)}))" for v in condition["not_in"]]
        return " and ".join([f"{ref} != ''", *tests])
    if "includes" in condition:
        return f"selected({ref}, {_quoted(condition['includes'])})"
    if "at_least" in condition:
        return f"{ref} >= {condition['at_least']}"
    return f"{ref} <= {condition['at_most']}"


def _wrapped(condition: Condition, weaker: str) -> str:
    text = relevant(condition)
    return f"({text})" if f" {weaker} " in text else text


def _quoted(value: Any) -> str:
    return f"'{value}'"


# --------------------------------------------------------------------------- constraints


def limits(text: str, subject: str) -> dict[str, float]:
    """A constraint such as `. >= 0 and . <= 120` (subject "."), `string-length(.) <= 500` or
    `count-selected(.) <= 3` as {"min": …, "max": …}."""
    node = parse(text)
    parts = node[1] if node[0] == "and" else [node]
    found: dict[str, float] = {}
    for part in parts:
        kind = "." if part[0] == "compare" else part[0]
        if kind != subject or part[1] != "." or not isinstance(part[3], float):
            raise ExpressionError("only limits such as '. >= 1 and . <= 10' can be checked")
        operator, value = part[2], part[3]
        if operator in (">=", ">"):
            found["min"] = value + (1 if operator == ">" else 0)
        elif operator in ("<=", "<"):
            found["max"] = value - (1 if operator == "<" else 0)
        else:
            raise ExpressionError(f"'{operator}' cannot be checked here; use >= and <=")
    return found


def constraint(subject: str, low: Any, high: Any) -> str:
    """Limits as an XLSForm constraint (the inverse of `limits`)."""
    tests = []
    if low is not None:
        tests.append(f"{subject} >= {low}")
    if high is not None:
        tests.append(f"{subject} <= {high}")
    return " and ".join(tests)


__all__ = ["ExpressionError", "constraint", "limits", "relevant", "show_if"]
