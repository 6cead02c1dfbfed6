"""/jury: a juror walks through the edition's practices and scores each (pure; plain data).

List of practices → a practice (its description) → score it, or step aside ("I am involved")
→ for each criterion a score 1–5 and a one-sentence reason → back to the list → submit.
The adapter carries out what the outcome asks (`action`) through app/jury.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from conversations import events as ev
from conversations.engine import Button, Prompt
from conversations.guided import Guided
from conversations.messages import Local, Msg, Plain, Text, _
from conversations.round_setup import Choice

LIST, PRACTICE, SCORE, REASON = "list", "practice", "score", "reason"
ORDER = (LIST, PRACTICE, SCORE, REASON)
SUBMIT, RATE, RECUSE = "submit", "rate", "recuse"
CRITERIA = ("engagement", "sustainability", "comprehensiveness")
CRITERION_NAMES: Mapping[str, Msg] = {
    "engagement": _("City's engagement"),
    "sustainability": _("Long-term character"),
    "comprehensiveness": _("Comprehensiveness"),
}
REASON_LIMITS = (5, 300)
RECOMMENDATION_NAMES: Mapping[str, Msg] = {
    "recommend": _("The analysis recommends this practice."),
    "do-not-recommend": _("The analysis does not recommend this practice."),
    "more-evidence": _("The analysis asks for more evidence."),
}


@dataclass(frozen=True)
class AnalysisSummary:
    """What stage one found about a practice: a recommendation and notes per criterion."""

    recommendation: str | None
    notes: Mapping[str, str]


@dataclass(frozen=True)
class JuryFacts:
    """What the juror may score, and how far they are."""

    year: int
    practices: tuple[Choice, ...]
    descriptions: Mapping[str, Mapping[str, str]]
    done: Mapping[str, str]  # practice id -> "scored" or "recused"
    analyses: Mapping[str, AnalysisSummary] = field(default_factory=dict)


@dataclass
class JuryOutcome:
    """The new state (None when it ended), prompts, and what to record."""

    data: dict[str, Any] | None
    prompts: list[Prompt] = field(default_factory=list)
    action: tuple[Any, ...] | None = None


def begin(facts: JuryFacts, revision: int) -> JuryOutcome:
    """Start at the list of practices."""
    return _Jury({"step": LIST, "rev": revision, "year": facts.year}, facts).ask()


def handle(data: Mapping[str, Any], event: ev.Event, facts: JuryFacts) -> JuryOutcome:
    """Apply one event to the dialogue."""
    return _Jury(dict(data), facts).on(event)


def redraw(outcome: JuryOutcome, facts: JuryFacts) -> JuryOutcome:
    """The outcome's last prompt asked again with facts read after its action was recorded
    (the list then shows the practice just finished as done)."""
    assert outcome.data is not None
    fresh = _Jury(dict(outcome.data), facts).ask()
    return JuryOutcome(outcome.data, [*outcome.prompts[:-1], *fresh.prompts])


class _Jury(Guided):
    def __init__(self, data: dict[str, Any], facts: JuryFacts) -> None:
        super().__init__(data)
        self.facts = facts

    def on(self, event: ev.Event) -> JuryOutcome:
        if self.stale(event):
            return self.ask()
        if isinstance(event, ev.Cancel):
            return JuryOutcome(None, [Prompt((_("Stopped. Your scores so far are saved."),))])
        if isinstance(event, ev.Back):
            self.data["step"] = LIST if self.data["step"] == PRACTICE else PRACTICE
            return self.ask()
        step = self.data["step"]
        if step == REASON:
            return self._on_reason(event)
        value = event.value if isinstance(event, ev.Choose) else None
        if step == LIST and value == SUBMIT:
            return self._submit()
        if step == LIST and value in {p.id for p in self.facts.practices}:
            self.data.update(step=PRACTICE, practice=value)
        elif step == PRACTICE and value == RATE:
            self.data.update(step=SCORE, criterion=CRITERIA[0])
        elif step == PRACTICE and value == RECUSE:
            self.data["step"] = LIST
            self._notice(
                _("You stepped aside from this practice; your scores of it are not counted.")
            )
            return self.ask(("recuse", self.data["practice"]))
        elif step == SCORE and value in {"1", "2", "3", "4", "5"}:
            self.data.update(step=REASON, value=int(value))
        else:
            self._notice(_("Please choose with the buttons."))
        return self.ask()

    def _on_reason(self, event: ev.Event) -> JuryOutcome:
        text = event.text.strip() if isinstance(event, ev.Text) else ""
        if not REASON_LIMITS[0] <= len(text) <= REASON_LIMITS[1]:
            self._notice(_("Please write one sentence (5 to 300 characters)."))
            return self.ask()
        action = ("score", self.data["practice"], self.data["criterion"], self.data["value"], text)
        position = CRITERIA.index(self.data["criterion"])
        if position + 1 < len(CRITERIA):
            self.data.update(step=SCORE, criterion=CRITERIA[position + 1])
        else:
            self.data["step"] = LIST
        return self.ask(action)

    def _submit(self) -> JuryOutcome:
        if any(p.id not in self.facts.done for p in self.facts.practices):
            self._notice(
                _("Please score every practice, or step aside from it, before you submit.")
            )
            return self.ask()
        thanks = Prompt((_("Thank you! Your scores are submitted and locked."),))
        return JuryOutcome(None, [thanks], ("submit",))

    def ask(self, action: tuple[Any, ...] | None = None) -> JuryOutcome:
        step = self.data["step"]
        rows: list[tuple[Button, ...]] = []
        lines: list[Text]
        if step == LIST:
            lines = [
                _(
                    "Jury {year}: choose a practice to score. ✓ marks those you have finished.",
                    year=str(self.facts.year),
                )
            ]
            done = self.facts.done
            for p in self.facts.practices:
                label: Text = _("✓ {label}", label=Local(p.name)) if p.id in done else Local(p.name)
                rows.append((Button(label, p.id),))
            rows.append((Button(_("Submit my scores"), SUBMIT),))
        elif step == PRACTICE:
            practice = next(p for p in self.facts.practices if p.id == self.data["practice"])
            lines = [Local(practice.name), Local(self.facts.descriptions.get(practice.id, {}))]
            lines.extend(_summary_lines(self.facts.analyses.get(practice.id)))
            rows = [
                (Button(_("Score this practice"), RATE),),
                (Button(_("I am involved with this practice"), RECUSE),),
            ]
        elif step == SCORE:
            lines = [
                _(
                    "{criterion}: your score from 1 (weak) to 5 (strong)?",
                    criterion=CRITERION_NAMES[self.data["criterion"]],
                )
            ]
            rows = [tuple(Button(Plain(str(n)), str(n)) for n in range(1, 6))]
        else:
            lines = [_("In one sentence: why this score?")]
        if step != LIST:
            rows.append((Button(_("‹ Back"), ev.BACK),))
        prompt = Prompt(tuple(lines), tuple(rows), self.data["rev"], "question")
        return JuryOutcome(self.data, [*self.notices, prompt], action)


def _summary_lines(summary: AnalysisSummary | None) -> list[Text]:
    """The analysis summary a juror reads before scoring (nothing until staff record it)."""
    if summary is None or (summary.recommendation is None and not summary.notes):
        return []
    lines: list[Text] = [_("Analysis (stage one):")]
    for criterion in CRITERIA:
        if summary.notes.get(criterion):
            lines.append(
                _(
                    "{criterion}: {notes}",
                    criterion=CRITERION_NAMES[criterion],
                    notes=summary.notes[criterion],
                )
            )
    recommendation = RECOMMENDATION_NAMES.get(summary.recommendation or "")
    if recommendation is not None:
        lines.append(recommendation)
    return lines
