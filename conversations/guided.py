"""What the guided dialogues (/round, /propose) share: stale buttons, going back, notices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from conversations import events as ev
from conversations.engine import Prompt
from conversations.messages import Text, _


class Guided:
    """A dialogue whose state is a plain dict with its `step` and a revision `rev`, which each
    event advances so that a button of an older message is recognised as out of date."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.notices: list[Prompt] = []

    def stale(self, event: ev.Event) -> bool:
        """Whether a button is out of date (noticed); otherwise the revision moves on."""
        token = getattr(event, "token", None)
        if token is not None and token != self.data["rev"]:
            self._notice(_("This button is out of date. Here is where you are now."))
            return True
        self.data["rev"] += 1
        return False

    def step_back(self, order: Sequence[str]) -> None:
        """Go to the step before the current one (staying on the first)."""
        position = order.index(self.data["step"])
        self.data["step"] = order[max(0, position - 1)]

    def _notice(self, message: Text) -> None:
        self.notices.append(Prompt((message,), kind="notice"))
