"""Console preview: the same engine and database as the Telegram bot, printed to a terminal.

Reads numbers (a button) or text from stdin, so it also works piped:
`printf '1\n1\n...' | auditbot chat --lang pl`. Its responses are stored as previews
(channel "preview"), which nothing counts: a preview is not data (docs/privacy.md).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from app.respond import Identity, Reply, my_data, respond
from app.services import Services
from conversations import events as ev
from conversations.engine import Prompt
from storage.models import PREVIEW

COMMANDS: dict[str, Callable[[], ev.Event]] = {
    "/start": ev.Start,
    "/back": ev.Back,
    "/skip": ev.Skip,
    "/pause": ev.Pause,
    "/resume": ev.Resume,
    "/language": ev.ChangeLanguage,
    "/cancel": ev.Cancel,
    "/help": ev.Help,
    "/delete": ev.Delete,
}
HELP = "Type a number to press a button, or text to answer. Commands: " + " ".join(
    [*COMMANDS, "/mydata", "/quit"]
)


class ConsoleChat:
    """One respondent talking to the engine through stdin and stdout."""

    def __init__(self, services: Services, user: str, out: TextIO = sys.stdout) -> None:
        self.services = services
        self.identity = Identity(services.pseudonyms.of("console", user), channel=PREVIEW)
        self.out = out
        self.prompt: Prompt | None = None
        self.locale = services.settings.default_locale

    async def begin(self, locale: str | None, payload: str | None) -> None:
        """Open the conversation, choosing the language first when one is given."""
        self._print(HELP)
        if locale:
            await respond(self.services, self.identity, ev.ChangeLanguage(locale))
        await self.send(ev.Start(payload=payload, language_code=locale))

    async def send(self, event: ev.Event) -> None:
        """Handle one event and print the reply."""
        self.show(await respond(self.services, self.identity, event))

    async def feed(self, line: str) -> bool:
        """Turn one input line into an event; False when the user wants to leave."""
        text = line.strip()
        if text in ("/quit", "/exit"):
            return False
        if text in COMMANDS:
            await self.send(COMMANDS[text]())
            return True
        if text == "/mydata":
            self.show(await my_data(self.services, self.identity, self.locale))
            return True
        buttons = [b for row in self.prompt.buttons for b in row] if self.prompt else []
        number = ev.whole_number(text)
        if number is not None and 1 <= number <= len(buttons) and self.prompt is not None:
            await self.send(ev.from_action(self.prompt.token, buttons[number - 1].action))
        else:
            await self.send(ev.Text(line.rstrip("\n")))
        return True

    def show(self, reply: Reply) -> None:
        """Print a reply: the echo of the answer, notices, then prompts with numbered buttons."""
        self.locale = reply.locale
        if reply.echo:
            self._print("✓ " + self._render(reply.echo.lines[-1]))
        for prompt in reply.prompts:
            if prompt.kind == "notice":
                self._print("! " + " ".join(self._render(t) for t in prompt.lines))
                continue
            self._print("")
            for line in prompt.lines:
                self._print(self._render(line))
            number = 0
            for row in prompt.buttons:
                labels = []
                for button in row:
                    number += 1
                    labels.append(f"[{number}] {self._render(button.label)}")
                self._print("   ".join(labels))
            if prompt.buttons or prompt.expects_text:
                self.prompt = prompt

    def _render(self, text: object) -> str:
        return self.services.translator.render(text, self.locale)  # type: ignore[arg-type]

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)


async def run_console(
    services: Services,
    *,
    locale: str | None,
    payload: str | None,
    user: str = "local",
    stdin: TextIO = sys.stdin,
) -> None:
    """Chat until /quit or the end of input."""
    chat = ConsoleChat(services, user)
    await chat.begin(locale, payload)
    interactive = stdin.isatty()
    while True:
        if interactive:
            print("> ", end="", flush=True)
        line = stdin.readline()
        if not line:
            break
        if not await chat.feed(line):
            break
