"""Survey files: the shipped ones are valid; broken ones are reported with file and line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.services import SHIPPED_SURVEYS
from conversations.survey import (
    CRITERIA,
    SurveyError,
    load_survey_file,
    survey_files,
)
from tests.conftest import DATA

BROKEN = DATA / "broken.yaml"


@pytest.mark.parametrize("path", survey_files(SHIPPED_SURVEYS), ids=lambda p: p.name)
def test_every_shipped_survey_is_valid(path: Path) -> None:
    survey, _ = load_survey_file(path)
    assert len(survey.questions) <= 10
    tags = {q.tag for q in survey.questions}
    assert {"awareness", "usage", "comment", *CRITERIA} <= tags


def test_the_default_survey_asks_each_criterion_on_a_scale() -> None:
    survey, _ = load_survey_file(SHIPPED_SURVEYS / "open-cities.yaml")
    for criterion in CRITERIA:
        scales = [q for q in survey.questions if q.tag == criterion and q.type == "scale"]
        assert len(scales) == 1, criterion


def test_a_broken_file_reports_every_problem_with_its_line() -> None:
    with pytest.raises(SurveyError) as caught:
        load_survey_file(BROKEN)
    problems = caught.value.problems
    expected = [
        (6, "unknown question type 'slider'"),
        (12, "missing the 'pl' translation"),
        (16, "show_if refers to 'fourth', which is not an earlier question"),
        (18, "duplicate question id 'second'"),
        (21, "show_if refers to 'nowhere', which is not an earlier question"),
    ]
    for line, message in expected:
        assert any(p.startswith(f"{BROKEN}:{line}: ") and message in p for p in problems), (
            line,
            message,
            problems,
        )
    assert len(problems) == len(expected)


def test_invalid_yaml_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("key: x\nquestions:\n  - id: a\n   type: [\n", encoding="utf-8")
    with pytest.raises(SurveyError) as caught:
        load_survey_file(path)
    assert caught.value.problems[0].startswith(f"{path}:4: not valid YAML")


def test_survey_check_command_passes_and_fails_with_exit_codes() -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "bot", "survey", "check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert "open-cities.yaml: ok" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "bot", "survey", "check", str(BROKEN)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    assert f"{BROKEN}:6: unknown question type 'slider'" in bad.stderr
