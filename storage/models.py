"""Tables. Raw Telegram ids live only in `subscriptions`, `staff`, `jurors` (and their scores) and
undecided `nominations`; answers use pseudonyms."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

TELEGRAM, FACE_TO_FACE, PREVIEW = "telegram", "face_to_face", "preview"
CHANNELS = (TELEGRAM, FACE_TO_FACE)  # what reports may be limited to; previews are never counted

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as UTC and always read back timezone-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Normalise to UTC before storing."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware values")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC to what SQLite returns naive."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with stable constraint names for Alembic."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class AppSetting(Base):
    """Small key-value facts the bot keeps about itself (e.g. the pseudonym secret)."""

    __tablename__ = "app_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Category(Base):
    """A kind of practice, e.g. a municipal service point for foreigners."""

    __tablename__ = "categories"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[dict[str, Any]]


class City(Base):
    """A city taking part in the audit."""

    __tablename__ = "cities"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    name: Mapped[dict[str, Any]]
    position: Mapped[int] = mapped_column(Integer, default=0)


class Practice(Base):
    """A city's integration practice that respondents evaluate."""

    __tablename__ = "practices"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    city_id: Mapped[str] = mapped_column(ForeignKey("cities.id"), index=True)
    category_id: Mapped[str] = mapped_column(ForeignKey("categories.id"))
    name: Mapped[dict[str, Any]]
    description: Mapped[dict[str, Any]]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    distinguished_in: Mapped[int | None]
    documented: Mapped[list[Any]] = mapped_column(default=list)
    to_complete: Mapped[list[Any]] = mapped_column(default=list)
    source: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Survey(Base):
    """One version of a survey definition; immutable once it has answers."""

    __tablename__ = "surveys"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40))
    version: Mapped[int]
    content_hash: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Round(Base):
    """A survey round in one city, open between two dates."""

    __tablename__ = "rounds"

    id: Mapped[int] = mapped_column(primary_key=True)
    city_id: Mapped[str] = mapped_column(ForeignKey("cities.id"), index=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"))
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="planned")
    remind_days: Mapped[int] = mapped_column(Integer, default=3)
    remind_non_starters: Mapped[bool] = mapped_column(Boolean, default=False)
    opened_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # Invitations delivered whose outbox rows retention has pruned (they held chat ids); the
    # round's invitation count is this plus the delivered ones still in the outbox.
    invitations_pruned: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoundPractice(Base):
    """A practice evaluated in a round."""

    __tablename__ = "round_practices"

    round_id: Mapped[int] = mapped_column(
        ForeignKey("rounds.id", ondelete="CASCADE"), primary_key=True
    )
    practice_id: Mapped[str] = mapped_column(ForeignKey("practices.id"), primary_key=True)


class Respondent(Base):
    """A person answering, known only by a keyed pseudonym of their Telegram id."""

    __tablename__ = "respondents"

    pseudonym: Mapped[str] = mapped_column(String(64), primary_key=True)
    locale: Mapped[str | None] = mapped_column(String(8))
    consent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Progress(Base):
    """Where a respondent is in the conversation; survives restarts and serves any worker."""

    __tablename__ = "progress"

    pseudonym: Mapped[str] = mapped_column(
        ForeignKey("respondents.pseudonym", ondelete="CASCADE"), primary_key=True
    )
    stage: Mapped[str] = mapped_column(String(16))
    city_id: Mapped[str | None] = mapped_column(String(24))
    practice_id: Mapped[str | None] = mapped_column(String(40))
    round_id: Mapped[int | None]
    response_id: Mapped[int | None]
    page: Mapped[int] = mapped_column(Integer, default=0)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Response(Base):
    """One respondent's evaluation of one practice (in a round, or in the always-on survey)."""

    __tablename__ = "responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id"), index=True)
    practice_id: Mapped[str] = mapped_column(ForeignKey("practices.id"), index=True)
    pseudonym: Mapped[str] = mapped_column(
        ForeignKey("respondents.pseudonym", ondelete="CASCADE"), index=True
    )
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"))
    survey_version: Mapped[int]
    locale: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default="in_progress")
    # How the answers came: "telegram" (the bot), "face_to_face" (an interview recorded in
    # KoBo/ODK and imported with `auditbot responses import`) or "preview" (`auditbot chat`:
    # stored like any other so the preview behaves the same, but never counted; see
    # storage.tallies.counted_responses).
    channel: Mapped[str] = mapped_column(String(16), default=TELEGRAM, server_default=TELEGRAM)
    current_question: Mapped[str | None] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]  # set once, when completed; later events keep it
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Answer(Base):
    """One answer to one question; a changed answer replaces the old one."""

    __tablename__ = "answers"
    __table_args__ = (UniqueConstraint("response_id", "question_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"))
    question_id: Mapped[str] = mapped_column(String(16))
    value_number: Mapped[int | None]
    value_option: Mapped[str | None] = mapped_column(String(16))
    value_options: Mapped[list[Any] | None]
    value_text: Mapped[str | None] = mapped_column(Text)
    skipped: Mapped[bool] = mapped_column(Boolean, default=False)
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)


class ResponseTally(Base):
    """How many responses a round (0: the always-on survey) and practice have, per month they
    started in (YYYY-MM in the tallies' time zone), language and status; see storage/tallies.py."""

    __tablename__ = "response_tallies"
    __table_args__ = ({"sqlite_with_rowid": False},)

    practice_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    round_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    locale: Mapped[str] = mapped_column(String(8), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class AnswerTally(Base):
    """How many completed responses gave one value to one question, per round (0: always-on),
    practice, survey version and month; "no number" and "no option" are NO_NUMBER and "" so
    that the key has no NULLs (an upsert needs a unique key that NULLs would not collide in).

    The key starts with what a summary groups by, and SQLite stores the rows in key order
    (WITHOUT ROWID): a year's value counts are then read in order, without sorting."""

    __tablename__ = "answer_tallies"
    __table_args__ = ({"sqlite_with_rowid": False},)

    practice_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    survey_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    question_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    value_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value_option: Mapped[str] = mapped_column(String(16), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    round_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(Integer)


class CellChange(Base):
    """How many completed responses a publishable cell (a round × practice, or a month ×
    practice for answers outside a round) gained or lost since its latest published version:
    the disclosure rule publishes a new version only after k of them (audit/disclosure.py)."""

    __tablename__ = "cell_changes"

    practice_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    round_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)  # "" for a round's cell
    changes: Mapped[int] = mapped_column(Integer)


class PublishedCell(Base):
    """One published version of a cell's figures: counts only, never a comment's text (the
    comments of a version are named by answer id and read live, so an erased one is gone)."""

    __tablename__ = "published_cells"
    __table_args__ = (UniqueConstraint("practice_id", "round_id", "period", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[str] = mapped_column(String(40))
    round_id: Mapped[int] = mapped_column(Integer, index=True)  # 0: answers outside a round
    period: Mapped[str] = mapped_column(String(7))  # the month of such answers; "" for a round
    version: Mapped[int] = mapped_column(Integer)
    final: Mapped[bool] = mapped_column(Boolean, default=False)
    figures: Mapped[dict[str, Any]]
    comment_ids: Mapped[list[Any]]
    published_at: Mapped[datetime]


class MaskedComment(Base):
    """A free-text answer of a completed response with contacts masked, as reports show it;
    goes with its answer (cascade) and is erased with it (retention)."""

    __tablename__ = "masked_comments"

    answer_id: Mapped[int] = mapped_column(
        ForeignKey("answers.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    round_id: Mapped[int | None]
    practice_id: Mapped[str] = mapped_column(String(40))
    question_id: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime]
    text: Mapped[str] = mapped_column(Text)
    answered_at: Mapped[datetime]  # for retention
    answered_on: Mapped[date]  # for reports: a date reads much faster than a timestamp
    # The comment's public id (a keyed permutation of answer_id, audit.disclosure.public_id),
    # stored when a version that shows the comment is published, so reports read it instead of
    # computing tens of thousands of them each time. None until then (or after a recount).
    public_id: Mapped[int | None] = mapped_column(BigInteger)


class Subscription(Base):
    """A resident's wish to be invited to future rounds in a city. No surrogate key (a running
    number follows the order people subscribed in, which follows the order their responses
    were completed) and no time finer than the day: either would line the raw chat id up with
    the pseudonymous response it was made after (docs/privacy.md). SQLite keeps the rows in key
    order, not in the order made."""

    __tablename__ = "subscriptions"
    __table_args__ = ({"sqlite_with_rowid": False},)

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    city_id: Mapped[str] = mapped_column(ForeignKey("cities.id"), primary_key=True)
    locale: Mapped[str] = mapped_column(String(8))
    opted_in: Mapped[bool] = mapped_column(Boolean, default=True)
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    subscribed_on: Mapped[date]


class Staff(Base):
    """A person with a role: admin, staff (runs rounds) or coordinator (reads reports)."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    role: Mapped[str] = mapped_column(String(16))
    cities: Mapped[list[Any]] = mapped_column(default=list)
    report_locale: Mapped[str | None] = mapped_column(String(8))  # None: REPORT_LOCALE
    report_format: Mapped[str | None] = mapped_column(String(16))  # None: PDF
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReminderRequest(Base):
    """A person's wish, given when pausing a survey of a round, to be reminded once before the
    round closes. Kept only for that: deleted when the reminder is queued, the survey is
    finished, the round closes, or the person sends /stop or /delete. No surrogate key and no
    time finer than the day it was asked, so a row cannot be lined up with the pseudonymous
    progress it came from (SQLite keeps the rows in key order, not in the order asked)."""

    __tablename__ = "reminder_requests"
    __table_args__ = ({"sqlite_with_rowid": False},)

    round_id: Mapped[int] = mapped_column(
        ForeignKey("rounds.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    locale: Mapped[str] = mapped_column(String(8))
    asked_on: Mapped[date]


class ResultsRequest(Base):
    """A person's wish, given at the end of a survey of a round, to be sent the final results
    of the practice they evaluated when the round's figures are frozen. Kept only for that:
    deleted when the message is queued, or the person sends /stop or /delete. Like reminder
    requests: no surrogate key and no time finer than the day, so a row cannot be lined up with
    the pseudonymous response it came from (docs/privacy.md)."""

    __tablename__ = "results_requests"
    __table_args__ = ({"sqlite_with_rowid": False},)

    round_id: Mapped[int] = mapped_column(
        ForeignKey("rounds.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    practice_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    locale: Mapped[str] = mapped_column(String(8))
    asked_on: Mapped[date]


class ProcessedUpdate(Base):
    """An update already handled; a redelivery of the same update_id is ignored."""

    __tablename__ = "processed_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    processed_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditLog(Base):
    """Every staff action: who, what, on what, when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str | None] = mapped_column(String(80))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class OutboxMessage(Base):
    """A message to deliver (invitation, reminder, report); `dedupe_key` makes it exactly one.
    A respondent's key holds a keyed hash of the chat, never the chat id (app.rounds.chat_key),
    and the payload only what sending needs, never why the message is sent."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    dedupe_key: Mapped[str] = mapped_column(String(80), unique=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id"), index=True)
    locale: Mapped[str] = mapped_column(String(8))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(40))  # the sender's instance
    sent_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StaffDialog(Base):
    """Where a staff member is in a guided dialogue (e.g. opening a round); survives restarts."""

    __tablename__ = "staff_dialogs"

    telegram_user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CommentModeration(Base):
    """A coordinator's decision to hide a free-text answer from published reports."""

    __tablename__ = "comment_moderation"

    answer_id: Mapped[int] = mapped_column(
        ForeignKey("answers.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    hidden: Mapped[bool] = mapped_column(Boolean, default=True)
    changed_by: Mapped[str] = mapped_column(String(40))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReportRecord(Base):
    """A scheduled report that was compiled; `period_key` makes each compiled once, in each
    language and format a coordinator asked for. The file itself is not stored: it is built
    when it is sent (app.reports.build_stored), so no stored file keeps a comment that its
    author has since deleted."""

    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("period_key", "locale", "format"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    period_key: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(40))
    locale: Mapped[str] = mapped_column(String(8))
    format: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoginToken(Base):
    """A one-time dashboard sign-in link (only its hash is stored); 15 minutes, single use."""

    __tablename__ = "login_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class WebSession(Base):
    """A signed-in dashboard session (only the hash of the cookie is stored)."""

    __tablename__ = "web_sessions"

    session_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger)
    csrf_token: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class Edition(Base):
    """A year's evaluation: nominations, then analysis, then the jury, each phase between two
    moments; the weights of jury and residents are declared up front and frozen when the jury
    phase opens."""

    __tablename__ = "editions"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(16), default="planned")
    nominations_open_at: Mapped[datetime]
    analysis_open_at: Mapped[datetime]
    jury_open_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    jury_weight: Mapped[int] = mapped_column(Integer)  # percent; the two add up to 100
    residents_weight: Mapped[int] = mapped_column(Integer)
    weights_frozen_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EditionPractice(Base):
    """A practice evaluated in an edition: nominated (accepted) or on the re-analysis list."""

    __tablename__ = "edition_practices"

    edition_year: Mapped[int] = mapped_column(
        ForeignKey("editions.year", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    practice_id: Mapped[str] = mapped_column(ForeignKey("practices.id"), primary_key=True)
    origin: Mapped[str] = mapped_column(String(16))  # "nominated" or "reanalysis"


class Nomination(Base):
    """A practice someone proposed for an edition, waiting for staff or decided.

    Who proposed is kept only as far as needed: a keyed pseudonym (its own kind, not the survey
    one) to limit how many a person proposes, and the chat to tell them the outcome, emptied as
    soon as that message is queued."""

    __tablename__ = "nominations"

    id: Mapped[int] = mapped_column(primary_key=True)
    edition_year: Mapped[int] = mapped_column(ForeignKey("editions.year"), index=True)
    city_id: Mapped[str] = mapped_column(ForeignKey("cities.id"))
    category_id: Mapped[str] = mapped_column(ForeignKey("categories.id"))
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    runner: Mapped[str] = mapped_column(String(16))  # city, ngo, community or other
    since: Mapped[int] = mapped_column(Integer)
    link: Mapped[str] = mapped_column(Text)
    locale: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(16))  # telegram, dashboard or cli
    proposer: Mapped[str | None] = mapped_column(String(64), index=True)
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(Text)
    merged_into: Mapped[int | None] = mapped_column(ForeignKey("nominations.id"))
    practice_id: Mapped[str | None] = mapped_column(ForeignKey("practices.id"))
    decided_by: Mapped[str | None] = mapped_column(String(40))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Juror(Base):
    """A member of an edition's jury, known to the report only by a letter (Juror A–E)."""

    __tablename__ = "jurors"

    edition_year: Mapped[int] = mapped_column(
        ForeignKey("editions.year", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    label: Mapped[str] = mapped_column(String(1))
    submitted_at: Mapped[datetime | None]
    added_by: Mapped[str] = mapped_column(String(40))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    locale: Mapped[str | None] = mapped_column(String(8))  # for reminders; set at /jury or /grant


class JuryScore(Base):
    """One juror's 1–5 score of one practice on one criterion, with a one-sentence reason;
    a recusal from a practice is a row with criterion RECUSED and no score."""

    __tablename__ = "jury_scores"

    edition_year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    practice_id: Mapped[str] = mapped_column(ForeignKey("practices.id"), primary_key=True)
    criterion: Mapped[str] = mapped_column(String(24), primary_key=True)
    score: Mapped[int | None]
    justification: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Analysis(Base):
    """Stage one of an edition: staff's analysis of a nominated practice — per criterion notes
    and evidence links ({criterion: {"notes": str, "evidence": [url]}}) — and a recommendation."""

    __tablename__ = "analyses"

    edition_year: Mapped[int] = mapped_column(
        ForeignKey("editions.year", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    practice_id: Mapped[str] = mapped_column(ForeignKey("practices.id"), primary_key=True)
    criteria: Mapped[dict[str, Any]] = mapped_column(default=dict)
    recommendation: Mapped[str | None] = mapped_column(String(24))
    updated_by: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Reanalysis(Base):
    """An edition's verdict on a practice distinguished in an earlier one: still carried out,
    changed or discontinued, with notes and evidence links."""

    __tablename__ = "reanalyses"

    edition_year: Mapped[int] = mapped_column(
        ForeignKey("editions.year", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    practice_id: Mapped[str] = mapped_column(ForeignKey("practices.id"), primary_key=True)
    verdict: Mapped[str] = mapped_column(String(16))
    notes: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[list[Any]] = mapped_column(default=list)
    recorded_by: Mapped[str] = mapped_column(String(40))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Publication(Base):
    """Results staff made public: a closed round's final figures (kind "round", key its id) or
    a year's (kind "year", key the year). Only what has a row here is on the public pages."""

    __tablename__ = "publications"

    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    key: Mapped[str] = mapped_column(String(16), primary_key=True)
    published_by: Mapped[str] = mapped_column(String(40))
    published_at: Mapped[datetime]


class PracticeReply(Base):
    """A city's public response to a practice's published results of a year, in one language:
    proposed by a coordinator of the city, shown only once staff approved it."""

    __tablename__ = "practice_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[str] = mapped_column(ForeignKey("practices.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    locale: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="proposed")
    proposed_by: Mapped[str] = mapped_column(String(40))
    proposed_at: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(String(40))
    decided_at: Mapped[datetime | None]
