"""Messages the bot sends on its own: invitations and reminders (rendered per subscriber)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from conversations import events as ev
from conversations.engine import Button, Prompt
from conversations.messages import Joined, Local, _


def last_moment(closes_at: datetime) -> datetime:
    """The last moment of a round, for "open until": a round closes at midnight after its last
    day, and "until 1 March" must name that last day, not the next one."""
    return closes_at - timedelta(seconds=1)


def _round_buttons(round_id: int, start_label: str) -> tuple[tuple[Button, ...], ...]:
    start = _("Take the survey") if start_label == "start" else _("Continue the survey")
    return (
        (Button(start, f"{ev.START_PREFIX}r_{round_id}"),),
        (Button(_("Stop invitations"), ev.STOP_INVITATIONS),),
    )


def invitation(
    round_id: int,
    city: Mapping[str, str],
    practices: Sequence[Mapping[str, str]],
    closes_at: datetime,
) -> Prompt:
    """An invitation to a new round in the subscriber's city."""
    text = _(
        "A new survey has started in {city}. Please tell us how useful these services are "
        "for you: {practices}. It takes about 3 minutes. The survey is open until {date}.",
        city=Local(city),
        practices=Joined(tuple(Local(p) for p in practices)),
        date=last_moment(closes_at),
    )
    return Prompt((text,), _round_buttons(round_id, "start"))


def reminder(
    round_id: int, city: Mapping[str, str], closes_at: datetime, *, started: bool
) -> Prompt:
    """One reminder before a round closes: to finish, or to take part at all."""
    if started:
        text = _(
            "Reminder: you have not finished the survey in {city}. "
            "It closes on {date}. Your answers so far are saved.",
            city=Local(city),
            date=last_moment(closes_at),
        )
    else:
        text = _(
            "Reminder: the survey in {city} closes on {date}. "
            "It takes about 3 minutes, and your opinion matters.",
            city=Local(city),
            date=last_moment(closes_at),
        )
    return Prompt((text,), _round_buttons(round_id, "continue" if started else "start"))


def nomination_outcome(outcome: str, name: str, year: int, reason: str) -> Prompt:
    """What became of a practice someone proposed."""
    if outcome == "accepted":
        text = _(
            "Good news: the practice you proposed, “{name}”, is nominated for the Open Cities "
            "evaluation {year}. Thank you!",
            name=name,
            year=str(year),
        )
    elif outcome == "merged":
        text = _(
            "The practice you proposed, “{name}”, had also been proposed by someone else, so "
            "we joined the two proposals. Thank you!",
            name=name,
        )
    else:
        text = _(
            "Thank you for proposing “{name}”. This time it was not nominated for the Open "
            "Cities evaluation {year}. Reason: {reason}",
            name=name,
            year=str(year),
            reason=reason,
        )
    return Prompt((text,))


def jury_reminder(year: int, closes_at: datetime) -> Prompt:
    """A daily reminder to a juror who has not submitted their scores yet."""
    text = _(
        "Reminder: your scores for the Open Cities evaluation {year} are not submitted yet. "
        "The jury is open until {date}. Send /jury to continue.",
        year=str(year),
        date=last_moment(closes_at),
    )
    return Prompt((text,))


def results(
    practice: Mapping[str, str],
    city: Mapping[str, str],
    completed: int | None,
    score: float | None,
    link: str | None,
) -> Prompt:
    """A practice's final results, to someone who asked for them at the end of the survey:
    the published figures, or that too few people answered to publish them."""
    if completed is None or score is None:
        text = _(
            "{practice}, {city}: the survey is over. Thank you for your answers! Too few people "
            "answered to publish the results of this service: we only publish results when "
            "enough people have answered, so that no one can be recognised.",
            practice=Local(practice),
            city=Local(city),
        )
    else:
        text = _(
            "{practice}, {city}: the results of the survey are ready. People who answered: "
            "{count}. The service's score: {score} out of 100. Thank you for your answers!",
            practice=Local(practice),
            city=Local(city),
            count=str(completed),
            score=str(round(score)),
        )
    lines = [text]
    if link:
        lines.append(_("All the results: {link}", link=link))
    return Prompt(tuple(lines))
