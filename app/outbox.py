"""What a queued message says, and whether it may still be sent: the use cases behind the
outbox sender (bot/telegram/outbox.py only delivers).

A queued row holds what is needed to send, not why it was queued (docs/privacy.md), so its text
is composed when it is sent, from the round, the report or the published figures it names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.jury import JURY_REMINDER, still_to_remind
from app.reports import build_stored
from app.services import Services
from app.staff import role_of
from app.summaries import published_report, round_period
from audit.model import Report
from audit.summary import ScopeError
from conversations import notices
from conversations.engine import Prompt
from conversations.messages import _
from storage.models import OutboxMessage, utcnow
from storage.uow import UnitOfWork

RESPONDENT_KINDS = (
    "invitation",
    "reminder",
    "nomination",
    JURY_REMINDER,
    "results",
)  # every other kind of message is for staff


class Undeliverable(Exception):
    """A queued message that can never be sent (what it names is gone); the reason is kept on
    the row, so it names no person."""


@dataclass(frozen=True)
class Document:
    """A scheduled report as a file, with its caption in the recipient's language."""

    filename: str
    content: bytes
    caption: str


class Composer:
    """Composes queued messages; keeps what rounds and closed rounds' figures it has read (they
    do not change while a batch of messages about them goes out)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.rounds: dict[int, tuple[dict[str, str], list[dict[str, str]], datetime]] = {}
        self.reports: dict[int, Report] = {}  # a closed round's final figures, for results

    async def document(self, message: OutboxMessage) -> Document:
        """A scheduled report, built now from the figures published for its period."""
        async with self.services.db.reading() as uow:
            report = await uow.reports.get(int(message.payload["report_id"]))
        if report is None:
            raise Undeliverable("the report of this message no longer exists")
        try:
            name, content = await build_stored(self.services, report)
        except (ValueError, LookupError) as error:  # its round is gone, or a key of no period
            raise Undeliverable(f"the report of this message cannot be built: {error}") from None
        caption = self.services.translator.render(
            _("Open Cities audit summary: {name}", name=name), message.locale
        )
        return Document(name, content, caption)

    async def prompt(self, message: OutboxMessage) -> Prompt:
        """The message for a queued row, from the round it belongs to (or its own payload)."""
        if message.kind == JURY_REMINDER:
            payload = message.payload
            until = datetime.fromisoformat(payload["until"])
            return notices.jury_reminder(int(payload["year"]), until)
        if message.kind == "nomination":
            payload = message.payload
            return notices.nomination_outcome(
                payload["outcome"], payload["name"], int(payload["year"]), payload["reason"]
            )
        if message.round_id is None:
            raise Undeliverable("an outbox message without a round")
        if message.kind == "results":
            return await self._results(message.round_id, str(message.payload.get("practice_id")))
        city, practices, closes_at = await self._round_facts(message.round_id)
        if message.kind == "invitation":
            return notices.invitation(message.round_id, city, practices, closes_at)
        async with self.services.db.reading() as uow:
            status = await round_status(uow, self.services, message)
        return notices.reminder(message.round_id, city, closes_at, started=status is not None)

    async def _results(self, round_id: int, practice_id: str) -> Prompt:
        """A practice's final results in a closed round, from its published (frozen) figures."""
        settings = self.services.settings
        if round_id not in self.reports:
            async with self.services.db.reading() as uow:
                try:
                    period = await round_period(uow, round_id, settings.tz)
                except ScopeError:
                    raise Undeliverable("the round of this message no longer exists") from None
            self.reports[round_id] = await published_report(
                self.services.db, period, settings.min_group_size, settings.tz
            )
        report = self.reports[round_id]
        practice = next((p for p in report.practices if p.practice_id == practice_id), None)
        if practice is None:
            raise Undeliverable("the practice of this message is not in its round")
        base = settings.dashboard_url
        # the round's public page: "coming soon" until staff publish the round, then its results
        link = f"{base}/results/rounds/{round_id}" if base else None
        score = practice.composite.score if practice.composite else None
        return notices.results(practice.practice, practice.city, practice.completed, score, link)

    async def _round_facts(
        self, round_id: int
    ) -> tuple[dict[str, str], list[dict[str, str]], datetime]:
        """City name, practice names and closing time of a round (cached per round)."""
        if round_id not in self.rounds:
            async with self.services.db.reading() as uow:
                round_ = await uow.rounds.get(round_id)
                if round_ is None:
                    raise Undeliverable("the round of this message no longer exists")
                city = await uow.catalog.city(round_.city_id)
                practices = [
                    await uow.catalog.practice(p) for p in await uow.rounds.practice_ids(round_id)
                ]
            assert city is not None
            names = [p.name for p in practices if p is not None]
            self.rounds[round_id] = (city.name, names, round_.closes_at)
        return self.rounds[round_id]


async def unwanted(uow: UnitOfWork, services: Services, message: OutboxMessage) -> str | None:
    """Why a queued message must not be sent now (None: send it). Checked at send time, since
    the queue may be old: the round closed while the bot was down, the person sent /stop or
    blocked the bot, a coordinator lost their role."""
    if await uow.subscriptions.is_blocked(message.chat_id):
        return "blocked: the person blocked the bot"
    if message.kind not in RESPONDENT_KINDS:  # reports and anything else for staff
        role = await role_of(uow, services, message.chat_id)
        return None if role is not None and role.reads_reports else "no role: no longer staff"
    if message.kind == JURY_REMINDER:
        year = int(message.payload["year"])
        if not await still_to_remind(uow, year, message.chat_id, utcnow()):
            return "jury: submitted, or the jury phase is over"
        return None
    if message.round_id is None or message.kind == "results":  # /stop cancels queued results
        return None
    round_ = await uow.rounds.get(message.round_id)
    if round_ is None or round_.status != "open":
        return "round closed: the round is no longer open"
    if await uow.subscriptions.opted_out(message.chat_id, round_.city_id):
        return "opted out: the person stopped invitations"
    if message.kind == "reminder" and await round_status(uow, services, message) == "completed":
        return "finished: the person finished the survey"
    return None


async def round_status(uow: UnitOfWork, services: Services, message: OutboxMessage) -> str | None:
    """How far the person a message goes to got in its round ('completed', 'in_progress' or
    None), looked up when sending: the row does not say why it was queued (docs/privacy.md)."""
    assert message.round_id is not None
    pseudonym = services.pseudonyms.of("tg", message.chat_id)
    statuses = await uow.responses.statuses_in_round(message.round_id, [pseudonym])
    return statuses.get(pseudonym)
