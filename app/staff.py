"""Roles and what each may do: admin (grants roles), staff (runs rounds), coordinator (reads)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from app.services import Services
from conversations.round_setup import Choice, SetupFacts
from storage.repositories import telegram_id
from storage.uow import UnitOfWork

ADMIN, STAFF, COORDINATOR = "admin", "staff", "coordinator"
ROLES = (ADMIN, STAFF, COORDINATOR)
# A juror of the edition whose jury is open, with no role above: the dashboard's jury pages
# only (never granted: it comes from the jury's seats, app/jury.py).
JUROR = "juror"


@dataclass(frozen=True)
class Role:
    """A person's role; `cities` None means every city."""

    user_id: int
    role: str
    cities: tuple[str, ...] | None

    def covers(self, city_id: str) -> bool:
        """Whether this role reaches a city."""
        return self.cities is None or city_id in self.cities

    @property
    def runs_rounds(self) -> bool:
        """Admins and staff run rounds."""
        return self.role in (ADMIN, STAFF)

    @property
    def reads_reports(self) -> bool:
        """Everyone with a role reads reports of their cities."""
        return self.role in ROLES


def staff_actor(user_id: int) -> str:
    """How the audit log names a person with a role (staff ids are kept in `staff` anyway)."""
    return f"tg:{user_id}"


def person_actor(services: Services, user_id: int) -> str:
    """How the audit log names a person without a role (e.g. refused a staff command): by the
    pseudonym of their answers, never the raw id, so /delete can erase these lines too."""
    return pseudonym_actor(services.pseudonyms.of("tg", user_id))


def pseudonym_actor(pseudonym: str) -> str:
    """person_actor of a known pseudonym."""
    return f"p:{pseudonym}"


async def role_of(uow: UnitOfWork, services: Services, user_id: int) -> Role | None:
    """The role of a Telegram user: ADMIN_IDS are admins of every city, the rest from the table."""
    if user_id in services.settings.admin_ids:
        return Role(user_id, ADMIN, None)
    row = await uow.staff.get(user_id)
    if row is None:
        return None
    cities = None if row.role == ADMIN or not row.cities else tuple(row.cities)
    return Role(user_id, row.role, cities)


async def grant(
    uow: UnitOfWork, actor: str, user_id: int, role: str, cities: Sequence[str]
) -> None:
    """Give a role (replacing any earlier one); logged."""
    if role not in ROLES:
        raise ValueError(f"unknown role '{role}'; use one of {', '.join(ROLES)}")
    if not telegram_id(user_id):
        raise ValueError(f"{user_id} is not a Telegram user id")
    known = {c.id for c in await uow.catalog.cities()}
    unknown = [c for c in cities if c not in known]
    if unknown:
        raise ValueError(f"unknown cities: {', '.join(unknown)}")
    await uow.staff.put(user_id, role, cities)
    await uow.audit_log.add(actor, "staff.grant", f"user:{user_id}", role=role, cities=list(cities))


async def revoke(uow: UnitOfWork, actor: str, user_id: int) -> bool:
    """Take a role away and end the person's dashboard sessions (a later grant does not bring
    them back); logged."""
    if not telegram_id(user_id):
        return False
    removed = await uow.staff.remove(user_id)
    sessions = await uow.web.end_sessions_of(user_id)
    await uow.audit_log.add(
        actor, "staff.revoke", f"user:{user_id}", removed=removed, sessions_ended=sessions
    )
    return removed


async def setup_facts(uow: UnitOfWork, role: Role, today: date) -> SetupFacts:
    """What a staff member may choose when opening a round."""
    practices = [p for p in await uow.catalog.practices(active_only=True) if role.covers(p.city_id)]
    with_practices = {p.city_id for p in practices}
    cities = [c for c in await uow.catalog.cities() if c.id in with_practices]
    latest: dict[str, Choice] = {}
    for survey in await uow.surveys.all_versions():
        if survey.key not in latest:
            title = survey.definition.get("title", {})
            name = {lang: f"{text} (v{survey.version})" for lang, text in title.items()}
            latest[survey.key] = Choice(str(survey.id), name)
    return SetupFacts(
        cities=tuple(Choice(c.id, c.name) for c in cities),
        practices={
            c.id: tuple(Choice(p.id, p.name) for p in practices if p.city_id == c.id)
            for c in cities
        },
        surveys=tuple(latest.values()),
        today=today,
    )


def day_start(day: date, zone: tzinfo) -> datetime:
    """Midnight at the start of a day in the configured time zone."""
    return datetime.combine(day, time(), tzinfo=zone)


def round_window(
    opens_on: date, closes_on: date, zone: ZoneInfo, now: datetime
) -> tuple[datetime, datetime]:
    """Opening (now, if it is today) and closing (end of the closing day) moments."""
    opens_at = (
        max(day_start(opens_on, zone), now)
        if opens_on <= now.astimezone(zone).date()
        else day_start(opens_on, zone)
    )
    return opens_at, day_start(closes_on + timedelta(days=1), zone)
