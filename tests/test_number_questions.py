"""Number questions (XLSForm integer/decimal) in the engine: typed, checked, shown, conditioned."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from conversations import events as ev
from conversations.messages import Msg
from conversations.survey import load_survey_text
from tests.test_engine import WORLD, Player

NUMBERS = """
key: numbers
title: {uk: Т, ru: Т, en: T, pl: T}
intro: {uk: І, ru: И, en: I, pl: I}
questions:
  - id: years
    type: number
    tag: other
    required: true
    min: 0
    max: 80
    text: {uk: "Роки?", ru: "Годы?", en: "Years?", pl: "Lata?"}
  - id: hours
    type: number
    tag: other
    decimal: true
    show_if: {question: years, at_least: 2}
    text: {uk: "Години?", ru: "Часы?", en: "Hours?", pl: "Godziny?"}
"""


def test_a_number_is_typed_checked_and_conditions_follow_it() -> None:
    survey, _ = load_survey_text(NUMBERS, Path("numbers.yaml"))
    player = Player(replace(WORLD, surveys={1: survey}))
    player.into_survey()
    assert player.current == "years"
    question = player.last.prompts[-1] if player.last else None
    assert question is not None and question.expects_text
    assert any(
        isinstance(line, Msg) and line.msgid == "Type a number from {min} to {max}."
        for line in question.lines
    )
    player.do(ev.Text("twelve"))
    assert player.notices() == ["Please type a number, for example 12."]
    player.do(ev.Text("2,5"))
    assert player.notices() == ["Please type a whole number, without decimals."]
    player.do(ev.Text("81"))
    assert player.notices() == ["This number is outside the allowed range."]
    player.do(ev.Text("1"))
    assert player.state.stage == "finished" and player.answers == {"years": 1}  # hours hidden
    again = Player(player.world)
    again.into_survey()
    again.do(ev.Text(" 12 "))
    assert again.current == "hours"
    again.do(ev.Text("7,25"))
    assert again.answers == {"years": 12, "hours": "7.25"}
