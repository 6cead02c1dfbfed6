"""/propose: the short guided dialogue in which anyone proposes a practice (pure; plain data).

Steps: city → name → what it does → who runs it → since when → a link → category → confirm.
The state is a small dict stored with the other guided dialogues, so it survives restarts.
The checks of each answer are here too, so the dashboard form and the command line give the
same answers as the bot.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from conversations import events as ev
from conversations.engine import Button, Prompt
from conversations.guided import Guided
from conversations.messages import Local, Msg, Text, _
from conversations.round_setup import Choice

CITY, NAME, WHAT, RUNNER, SINCE, LINK, CATEGORY, CONFIRM = (
    "city",
    "name",
    "what",
    "runner",
    "since",
    "link",
    "category",
    "confirm",
)
ORDER = (CITY, NAME, WHAT, RUNNER, SINCE, LINK, CATEGORY, CONFIRM)
SEND = "send"
RUNNERS = ("city", "ngo", "community", "other")
RUNNER_NAMES: Mapping[str, Msg] = {
    "city": _("The city"),
    "ngo": _("An NGO"),
    "community": _("A migrant community"),
    "other": _("Someone else"),
}
NAME_LIMITS, WHAT_LIMITS, LINK_LIMIT = (3, 120), (10, 600), 300
FIRST_YEAR = 1990
_LINK = re.compile(r"^https?://[^\s/$.?#]+\.[^\s]+$", re.IGNORECASE)


@dataclass(frozen=True)
class Proposal:
    """A complete proposal, checked field by field."""

    city_id: str
    name: str
    description: str
    runner: str
    since: int
    link: str
    category_id: str
    locale: str


@dataclass(frozen=True)
class ProposeFacts:
    """What the dialogue may offer."""

    cities: tuple[Choice, ...]
    categories: tuple[Choice, ...]
    today: date


@dataclass
class ProposeOutcome:
    """The new state (None when it ended), prompts, and the proposal once confirmed."""

    data: dict[str, Any] | None
    prompts: list[Prompt] = field(default_factory=list)
    proposal: dict[str, Any] | None = None


def name_problem(text: str) -> Msg | None:
    """Why a practice name cannot be used (None: it can)."""
    if not NAME_LIMITS[0] <= len(text.strip()) <= NAME_LIMITS[1]:
        return _("Please write the name in 3 to 120 characters.")
    return None


def description_problem(text: str) -> Msg | None:
    """Why a description cannot be used."""
    if not WHAT_LIMITS[0] <= len(text.strip()) <= WHAT_LIMITS[1]:
        return _("Please describe what it does in 10 to 600 characters.")
    return None


def since_problem(text: str, today: date) -> Msg | None:
    """Why a starting year cannot be used."""
    year = ev.whole_number(text.strip())
    if year is None or not FIRST_YEAR <= year <= today.year:
        return _(
            "Please write the year it started, from {first} to {last}, e.g. 2019.",
            first=str(FIRST_YEAR),
            last=str(today.year),
        )
    return None


def link_problem(text: str) -> Msg | None:
    """Why a link cannot be used."""
    link = text.strip()
    if len(link) > LINK_LIMIT or not _LINK.match(link):
        return _("Please send a web address that starts with https://, e.g. https://example.org")
    return None


def begin(facts: ProposeFacts, revision: int) -> ProposeOutcome:
    """Start the dialogue."""
    return _Propose({"step": CITY, "rev": revision}, facts).ask()


def handle(data: Mapping[str, Any], event: ev.Event, facts: ProposeFacts) -> ProposeOutcome:
    """Apply one event to the dialogue."""
    return _Propose(dict(data), facts).on(event)


class _Propose(Guided):
    def __init__(self, data: dict[str, Any], facts: ProposeFacts) -> None:
        super().__init__(data)
        self.facts = facts

    def on(self, event: ev.Event) -> ProposeOutcome:
        if self.stale(event):
            return self.ask()
        if isinstance(event, ev.Cancel):
            return ProposeOutcome(None, [Prompt((_("Cancelled. Nothing was sent."),))])
        if isinstance(event, ev.Back):
            self.step_back(ORDER)
            return self.ask()
        step = self.data["step"]
        if step in (CITY, RUNNER, CATEGORY):
            return self._on_choice(step, event)
        if step == CONFIRM:
            if isinstance(event, ev.Choose) and event.value == SEND:
                return ProposeOutcome(None, [], {k: self.data[k] for k in ORDER[:-1]})
            self._notice(_("Please choose with the buttons."))
            return self.ask()
        return self._on_text(step, event)

    def _on_choice(self, step: str, event: ev.Event) -> ProposeOutcome:
        offered = {
            CITY: [c.id for c in self.facts.cities],
            RUNNER: list(RUNNERS),
            CATEGORY: [c.id for c in self.facts.categories],
        }[step]
        if isinstance(event, ev.Choose) and event.value in offered:
            self._next(step, event.value)
        else:
            self._notice(_("Please choose with the buttons."))
        return self.ask()

    def _on_text(self, step: str, event: ev.Event) -> ProposeOutcome:
        if not isinstance(event, ev.Text):
            self._notice(_("Please type your answer."))
            return self.ask()
        text = event.text.strip()
        problem = {
            NAME: name_problem,
            WHAT: description_problem,
            SINCE: lambda t: since_problem(t, self.facts.today),
            LINK: link_problem,
        }[step](text)
        if problem is not None:
            self._notice(problem)
        else:
            self._next(step, int(text) if step == SINCE else text)
        return self.ask()

    def _next(self, step: str, value: Any) -> None:
        self.data[step] = value
        self.data["step"] = ORDER[ORDER.index(step) + 1]

    def ask(self) -> ProposeOutcome:
        step = self.data["step"]
        rows: list[tuple[Button, ...]] = []
        if step == CITY:
            line: Text = _(
                "Thank you for proposing a practice for the Open Cities evaluation. "
                "Which city is it in?"
            )
            rows = [(Button(Local(c.name), c.id),) for c in self.facts.cities]
        elif step == NAME:
            line = _("What is the practice called?")
        elif step == WHAT:
            line = _("What does it do, and for whom? Two or three sentences are enough.")
        elif step == RUNNER:
            line = _("Who runs it?")
            rows = [(Button(RUNNER_NAMES[r], r),) for r in RUNNERS]
        elif step == SINCE:
            line = _("Since what year has it been running?")
        elif step == LINK:
            line = _("Please send a link where we can read about it (a website or a page).")
        elif step == CATEGORY:
            line = _("Which kind of practice is it closest to?")
            rows = [(Button(Local(c.name), c.id),) for c in self.facts.categories]
        else:
            line = self._summary()
            rows = [(Button(_("Send the proposal"), SEND),)]
        if step != CITY:
            rows.append((Button(_("‹ Back"), ev.BACK),))
        prompt = Prompt((line,), tuple(rows), self.data["rev"], "question")
        return ProposeOutcome(self.data, [*self.notices, prompt])

    def _summary(self) -> Text:
        city = next(c for c in self.facts.cities if c.id == self.data[CITY])
        category = next(c for c in self.facts.categories if c.id == self.data[CATEGORY])
        return _(
            "Please check:\nCity: {city}\nName: {name}\nWhat it does: {what}\nRun by: {runner}\n"
            "Since: {since}\nLink: {link}\nKind: {category}\n\nOur team reviews every "
            "proposal and tells you the outcome here.",
            city=Local(city.name),
            name=self.data[NAME],
            what=self.data[WHAT],
            runner=RUNNER_NAMES[self.data[RUNNER]],
            since=str(self.data[SINCE]),
            link=self.data[LINK],
            category=Local(category.name),
        )
