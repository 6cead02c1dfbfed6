"""What a respondent can do, whatever the channel: the engine's input."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Start:
    """/start, optionally from a deep link, with the client's language if known."""

    payload: str | None = None
    language_code: str | None = None


@dataclass(frozen=True)
class Choose:
    """A button press: an option of the prompt that carried `token`."""

    token: int | None
    value: str


@dataclass(frozen=True)
class Text:
    """Typed text."""

    text: str


@dataclass(frozen=True)
class Back:
    """Go to the previous question (or list)."""

    token: int | None = None


@dataclass(frozen=True)
class Skip:
    """Leave the current question unanswered."""

    token: int | None = None


@dataclass(frozen=True)
class Done:
    """Confirm a multiple-choice selection, or go on after an information message."""

    token: int | None = None


@dataclass(frozen=True)
class Page:
    """Show another page of a long list."""

    token: int | None
    page: int


@dataclass(frozen=True)
class Pause:
    """Stop for now; everything given so far is kept."""

    token: int | None = None


@dataclass(frozen=True)
class Resume:
    """Continue exactly where the respondent stopped."""

    token: int | None = None


@dataclass(frozen=True)
class ChangeLanguage:
    """Switch language now (`locale`), or show the language picker (None)."""

    locale: str | None = None


@dataclass(frozen=True)
class Cancel:
    """Leave whatever is going on."""


@dataclass(frozen=True)
class Help:
    """/help: what the bot does and which commands there are."""


@dataclass(frozen=True)
class Delete:
    """/delete: erase everything about me (asks for confirmation first)."""


@dataclass(frozen=True)
class StopInvitations:
    """Stop invitations to this chat (/stop or the button under an invitation)."""


@dataclass(frozen=True)
class Unsupported:
    """Something the bot cannot take here (a sticker, a photo, a voice message)."""


Event = (
    Help
    | Delete
    | Start
    | Choose
    | Text
    | Back
    | Skip
    | Done
    | Page
    | Pause
    | Resume
    | ChangeLanguage
    | Cancel
    | Unsupported
    | StopInvitations
)

# Buttons carry an action string; one decoder turns it back into an event for every adapter.
BACK, SKIP, DONE, PAUSE, RESUME = "!back", "!skip", "!done", "!pause", "!resume"
PAGE_PREFIX = "!page:"
START_PREFIX = "!start:"  # a button that starts the survey from a deep-link payload
STOP_INVITATIONS = "!stop"


def from_action(token: int | None, action: str) -> Event:
    """The event a button with this action stands for."""
    simple: dict[str, type[Back | Skip | Done | Pause | Resume]] = {
        BACK: Back,
        SKIP: Skip,
        DONE: Done,
        PAUSE: Pause,
        RESUME: Resume,
    }
    if action in simple:
        return simple[action](token)
    if action.startswith(START_PREFIX):
        return Start(payload=action[len(START_PREFIX) :] or None)
    if action == STOP_INVITATIONS:
        return StopInvitations()
    page = whole_number(action[len(PAGE_PREFIX) :]) if action.startswith(PAGE_PREFIX) else None
    if page is not None:
        return Page(token, page)
    return Choose(token, action)


def whole_number(text: str, *, signed: bool = False) -> int | None:
    """A whole number written with ASCII digits (str.isdigit also accepts '¹' or '٣', which int()
    then rejects); None for anything else."""
    digits = text[1:] if signed and text.startswith("-") else text
    return int(text) if digits.isascii() and digits.isdigit() else None
