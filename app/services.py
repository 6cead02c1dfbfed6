"""The application's services and start-up: settings → database (migrated) → pseudonym secret → surveys → catalog → catalogs.

Processes that start at the same time (compose starts three) take turns through the database
part under a start-up lock, so a fresh database is migrated and loaded exactly once."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from app.config import ConfigError, Settings
from app.i18n import Translator
from app.pipeline import Pipeline
from conversations.survey import content_hash, load_survey_file, survey_files
from storage.catalog import DEFAULT_CATALOG, load_catalog, read_catalog
from storage.db import Database
from storage.surveys import sync_survey

log = logging.getLogger(__name__)
SHIPPED_SURVEYS = Path(__file__).resolve().parent.parent / "conversations" / "surveys"
DEFAULT_SURVEY_KEY = "open-cities"


class Pseudonymizer:
    """Keyed pseudonyms: the same person always gets the same code; the code reveals nothing."""

    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def of(self, kind: str, ident: int | str) -> str:
        """The pseudonym of an identity such as ('tg', 12345)."""
        message = f"{kind}:{ident}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]

    def chat_key(self, kind: str, round_id: int, chat_id: int) -> str:
        """The dedupe key of a message to a respondent's chat about a round: a keyed hash of
        the chat, so that the key holds no raw id (docs/privacy.md), and not the pseudonym of
        the person's answers, so that it does not link the chat to them either."""
        return f"{kind}:{round_id}:{self.of('chat', chat_id)}"


@dataclass
class Services:
    """What every handler needs, created once at start and closed at shutdown."""

    settings: Settings
    db: Database
    translator: Translator
    pseudonyms: Pseudonymizer
    cache: dict[str, Any] = field(default_factory=dict)  # per process: see app/respond.py
    pipeline: Pipeline | None = None  # made by app/respond.py on the first event
    # Set by the adapters' composition root (bot/startup.py), which this layer does not import:
    health: Any = None  # bot/health.py's Health: background tasks' progress (/healthz)

    async def close(self) -> None:
        """Release the database connections."""
        await self.db.dispose()


async def start_application(settings: Settings, *, load_default_catalog: bool = True) -> Services:
    """Migrate, make sure the secret, surveys and catalog are in place, and load translations."""
    translator = Translator(settings.default_locale, settings.tz)
    db = Database(settings.database_url)
    try:
        async with db.exclusively():  # processes starting together take turns
            await db.upgrade()
            await count_tallies(db, settings.tz)
            secret = await ensure_pseudonym_secret(db, settings.pseudonym_secret)
            await rekey_outbox(db, Pseudonymizer(secret))
            await sync_surveys(db, survey_folders(settings))
            if load_default_catalog:
                await load_catalog_if_empty(db)
    except BaseException:
        await db.dispose()
        raise
    return Services(settings, db, translator, Pseudonymizer(secret))


async def rekey_outbox(db: Database, pseudonyms: Pseudonymizer) -> None:
    """Dedupe keys of messages queued by versions before 0010 held raw chat ids; hash them
    (here, not in the migration: only now is the secret known)."""
    async with db.unit_of_work() as uow:
        for kind in ("invite", "remind"):
            key = partial(pseudonyms.chat_key, kind)
            if changed := await uow.outbox.rekey(kind, key):
                log.info("outbox: %d %s key(s) hashed", changed, kind)


async def count_tallies(db: Database, zone: ZoneInfo) -> None:
    """Count the summaries' tallies unless they are counted in the configured time zone
    (first start after the migration that added them, or TIMEZONE changed)."""
    async with db.unit_of_work() as uow:
        recounted = await uow.tallies.ensure(zone)
    if recounted:
        log.info("counted the audit tallies in %s", zone.key)


def survey_folders(settings: Settings) -> list[Path]:
    """The shipped surveys, then the staff's own folder if configured."""
    return [SHIPPED_SURVEYS, *([settings.surveys_dir] if settings.surveys_dir else [])]


async def ensure_pseudonym_secret(db: Database, configured: str | None) -> str:
    """The secret in force; generated and stored on first run; never silently replaced."""
    async with db.unit_of_work() as uow:
        stored_fingerprint = await uow.settings.get("pseudonym_fingerprint")
        generated = await uow.settings.get("pseudonym_secret")
        if configured is None and generated is None:
            if stored_fingerprint is not None:
                raise ConfigError(
                    "PSEUDONYM_SECRET: not set, but this database was created with "
                    "one; set the same secret again"
                )
            generated = await uow.settings.set_once("pseudonym_secret", secrets.token_urlsafe(48))
            log.info("generated a pseudonym secret and stored it in the database")
        secret = configured or generated
        assert secret is not None
        fingerprint = hashlib.sha256(b"fingerprint:" + secret.encode()).hexdigest()
        stored_fingerprint = await uow.settings.set_once("pseudonym_fingerprint", fingerprint)
        if not hmac.compare_digest(stored_fingerprint, fingerprint):
            raise ConfigError(
                "PSEUDONYM_SECRET: differs from the secret this database was created "
                "with; answers would no longer match their respondents. Restore the "
                "previous secret."
            )
    return secret


async def sync_surveys(db: Database, folders: list[Path]) -> list[str]:
    """Store every survey file as a version (a changed, already answered survey gets a new one)."""
    lines = []
    for folder in folders:
        for path in survey_files(folder):
            _survey, data = load_survey_file(path)

            async with db.unit_of_work() as uow:
                _id, version, result = await sync_survey(uow, data["key"], content_hash(data), data)
            lines.append(f"{result}: survey {data['key']} v{version} ({path.name})")
    return lines


async def load_catalog_if_empty(db: Database) -> None:
    """Load the Open Cities catalog on first start."""
    async with db.unit_of_work() as uow:
        if await uow.catalog.cities():
            return
        changes = await load_catalog(uow, read_catalog(DEFAULT_CATALOG))
    log.info("loaded the Open Cities catalog (%d rows)", len(changes))
