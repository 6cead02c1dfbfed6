"""/round: the guided dialogue in which staff open a survey round (pure; state is plain data).

Steps: city → practices (several) → survey version → opening date → closing date → confirm.
The state is a small dict stored in `staff_dialogs`, so the dialogue survives restarts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from conversations import events as ev
from conversations.engine import Button, Prompt
from conversations.guided import Guided
from conversations.messages import Joined, Local, Text, _, _n

CITY, PRACTICES, SURVEY, OPENS, CLOSES, CONFIRM = (
    "city",
    "practices",
    "survey",
    "opens",
    "closes",
    "confirm",
)
ORDER = (CITY, PRACTICES, SURVEY, OPENS, CLOSES, CONFIRM)
ALL, TODAY, CREATE = "all", "today", "create"
_DATE = re.compile(r"^\s*(?:(\d{4})-(\d{1,2})-(\d{1,2})|(\d{1,2})\.(\d{1,2})\.(\d{4}))\s*$")


@dataclass(frozen=True)
class Choice:
    """Something staff can pick: a city, a practice or a survey version."""

    id: str
    name: Mapping[str, str]


@dataclass(frozen=True)
class SetupFacts:
    """What the dialogue may offer this staff member."""

    cities: tuple[Choice, ...]
    practices: Mapping[str, tuple[Choice, ...]]  # by city id
    surveys: tuple[Choice, ...]  # id = survey version id
    today: date


@dataclass(frozen=True)
class RoundPlan:
    """A confirmed round, ready to be created."""

    city_id: str
    practice_ids: tuple[str, ...]
    survey_id: int
    opens_on: date
    closes_on: date


@dataclass
class SetupOutcome:
    """The new dialogue state (None when it ended), prompts, and a plan once confirmed."""

    data: dict[str, Any] | None
    prompts: list[Prompt] = field(default_factory=list)
    plan: RoundPlan | None = None


def begin(facts: SetupFacts, revision: int) -> SetupOutcome:
    """Start the dialogue."""
    if not facts.cities:
        return SetupOutcome(None, [Prompt((_("You have no cities to run rounds in."),))])
    return _Setup({"step": CITY, "rev": revision}, facts).ask()


def handle(data: Mapping[str, Any], event: ev.Event, facts: SetupFacts) -> SetupOutcome:
    """Apply one event to the dialogue."""
    return _Setup(dict(data), facts).on(event)


class _Setup(Guided):
    def __init__(self, data: dict[str, Any], facts: SetupFacts) -> None:
        super().__init__(data)
        self.facts = facts

    def on(self, event: ev.Event) -> SetupOutcome:
        if self.stale(event):
            return self.ask()
        if isinstance(event, ev.Cancel):
            return SetupOutcome(None, [Prompt((_("Cancelled. No round was created."),))])
        if isinstance(event, ev.Back):
            self.step_back(ORDER)
            return self.ask()
        step = self.data["step"]
        handler = {
            CITY: self._on_city,
            PRACTICES: self._on_practices,
            SURVEY: self._on_survey,
            OPENS: self._on_opens,
            CLOSES: self._on_closes,
            CONFIRM: self._on_confirm,
        }
        return handler[step](event)

    # --- steps ----------------------------------------------------------------------------

    def _on_city(self, event: ev.Event) -> SetupOutcome:
        city = _picked(event, [c.id for c in self.facts.cities])
        if city is None:
            self._notice(_("Please choose with the buttons."))
        else:
            self.data.update(step=PRACTICES, city=city, practices=[])
        return self.ask()

    def _on_practices(self, event: ev.Event) -> SetupOutcome:
        offered = [p.id for p in self.facts.practices.get(self.data["city"], ())]
        chosen: list[str] = self.data["practices"]
        if isinstance(event, ev.Done):
            if chosen:
                self.data["step"] = SURVEY
            else:
                self._notice(_("Please choose at least one service."))
        elif isinstance(event, ev.Choose) and event.value == ALL:
            self.data["practices"] = list(offered)
        elif isinstance(event, ev.Choose) and event.value in offered:
            if event.value in chosen:
                chosen.remove(event.value)
            else:
                chosen.append(event.value)
            self.data["practices"] = [p for p in offered if p in chosen]
        else:
            self._notice(_("Please choose with the buttons."))
        return self.ask()

    def _on_survey(self, event: ev.Event) -> SetupOutcome:
        survey = _picked(event, [s.id for s in self.facts.surveys])
        if survey is None:
            self._notice(_("Please choose with the buttons."))
        else:
            self.data.update(step=OPENS, survey=int(survey))
        return self.ask()

    def _on_opens(self, event: ev.Event) -> SetupOutcome:
        day = self._date_from(event)
        if day is None or day < self.facts.today:
            self._notice(_("Please choose a date from today on, or type it as 2026-03-01."))
        else:
            self.data.update(step=CLOSES, opens=day.isoformat())
        return self.ask()

    def _on_closes(self, event: ev.Event) -> SetupOutcome:
        day = self._date_from(event)
        if day is None or day <= date.fromisoformat(self.data["opens"]):
            self._notice(_("The round must close after the day it opens."))
        else:
            self.data.update(step=CONFIRM, closes=day.isoformat())
        return self.ask()

    def _on_confirm(self, event: ev.Event) -> SetupOutcome:
        if isinstance(event, ev.Choose) and event.value == CREATE:
            plan = RoundPlan(
                self.data["city"],
                tuple(self.data["practices"]),
                self.data["survey"],
                date.fromisoformat(self.data["opens"]),
                date.fromisoformat(self.data["closes"]),
            )
            return SetupOutcome(None, [], plan)
        self._notice(_("Please choose with the buttons."))
        return self.ask()

    # --- prompts --------------------------------------------------------------------------

    def ask(self) -> SetupOutcome:
        step = self.data["step"]
        lines: list[Text]
        rows: list[tuple[Button, ...]]
        if step == CITY:
            lines = [_("New round. Which city?")]
            rows = [(Button(Local(c.name), c.id),) for c in self.facts.cities]
        elif step == PRACTICES:
            lines = [
                _("Which services will residents evaluate? Choose one or more, then press Done.")
            ]
            chosen = self.data["practices"]
            rows = [
                (
                    Button(
                        _("✓ {label}", label=Local(p.name)) if p.id in chosen else Local(p.name),
                        p.id,
                    ),
                )
                for p in self.facts.practices.get(self.data["city"], ())
            ]
            rows.append((Button(_("All"), ALL), Button(_("Done"), ev.DONE)))
        elif step == SURVEY:
            lines = [_("Which survey?")]
            rows = [(Button(Local(s.name), s.id),) for s in self.facts.surveys]
        elif step == OPENS:
            lines = [_("When does the round open? Choose, or type a date such as 2026-03-01.")]
            today = self.facts.today
            rows = [
                (
                    Button(_("Today"), today.isoformat()),
                    Button(_("Tomorrow"), (today + timedelta(days=1)).isoformat()),
                    Button(_("In a week"), (today + timedelta(days=7)).isoformat()),
                )
            ]
        elif step == CLOSES:
            opens = date.fromisoformat(self.data["opens"])
            lines = [_("When does it close? Choose, or type a date.")]
            rows = [
                tuple(
                    Button(
                        _n("After {count} week", "After {count} weeks", weeks),
                        (opens + timedelta(weeks=weeks)).isoformat(),
                    )
                    for weeks in (2, 4, 8)
                )
            ]
        else:
            lines = [self._summary()]
            rows = [(Button(_("Create the round"), CREATE),)]
        if step != CITY:
            rows.append((Button(_("‹ Back"), ev.BACK),))
        prompt = Prompt(tuple(lines), tuple(rows), self.data["rev"], "question")
        return SetupOutcome(self.data, [*self.notices, prompt])

    def _summary(self) -> Text:
        city = next(c for c in self.facts.cities if c.id == self.data["city"])
        names = {p.id: p.name for p in self.facts.practices.get(city.id, ())}
        survey = next(s for s in self.facts.surveys if int(s.id) == self.data["survey"])
        return _(
            "Please check:\nCity: {city}\nServices: {practices}\nSurvey: {survey}\n"
            "Opens: {opens}\nCloses: {closes}\n\nSubscribers in this city get an invitation "
            "when the round opens.",
            city=Local(city.name),
            practices=Joined(tuple(Local(names[p]) for p in self.data["practices"])),
            survey=Local(survey.name),
            opens=date.fromisoformat(self.data["opens"]),
            closes=date.fromisoformat(self.data["closes"]),
        )

    def _date_from(self, event: ev.Event) -> date | None:
        if isinstance(event, ev.Choose):
            try:
                return date.fromisoformat(event.value)
            except ValueError:
                return None
        if isinstance(event, ev.Text):
            return parse_date(event.text)
        return None


def parse_date(text: str) -> date | None:
    """2026-03-01 or 01.03.2026; None when it is not a real date."""
    found = _DATE.match(text)
    if not found:
        return None
    year, month, day = (
        (found.group(1), found.group(2), found.group(3))
        if found.group(1)
        else (found.group(6), found.group(5), found.group(4))
    )
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


def _picked(event: ev.Event, offered: Sequence[str]) -> str | None:
    if isinstance(event, ev.Choose) and event.value in offered:
        return event.value
    return None
