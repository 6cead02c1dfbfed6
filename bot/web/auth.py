"""Dashboard sign-in: one-time links sent by the bot, server-side sessions, CSRF tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web

from app.jury import juror_now
from app.services import Services
from app.staff import JUROR, Role, role_of, staff_actor
from storage.models import utcnow
from storage.uow import UnitOfWork

COOKIE = "auditbot_session"
LINK_LIFETIME = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=8)


def digest(secret: str) -> str:
    """What the database keeps of a token: its SHA-256, never the token itself."""
    return hashlib.sha256(secret.encode()).hexdigest()


async def sign_in_link(services: Services, user_id: int) -> str:
    """A single-use dashboard link for a coordinator or staff member, valid 15 minutes."""
    base = services.settings.dashboard_url
    if base is None:
        raise LookupError(
            "PUBLIC_URL (or WEBHOOK_URL) is not set, so there is no dashboard address to send"
        )
    token = secrets.token_urlsafe(32)
    async with services.db.unit_of_work() as uow:
        await uow.web.forget_expired(utcnow())
        await uow.web.add_token(digest(token), user_id, utcnow() + LINK_LIFETIME)
    return f"{base}/dashboard/login/{token}"


@dataclass(frozen=True)
class Viewer:
    """The signed-in person: their role, language and this session's CSRF token."""

    role: Role
    locale: str
    csrf: str
    session_hash: str


async def link_usable(services: Services, token: str) -> bool:
    """Whether a sign-in link is unspent and unexpired (looking does not spend it)."""
    async with services.db.reading() as uow:
        return await uow.web.token_usable(digest(token), utcnow())


async def sign_in(services: Services, token: str, locale: str) -> str | None:
    """Spend a link and open a session; the session cookie value, or None when refused."""
    now = utcnow()
    async with services.db.unit_of_work() as uow:
        user_id = await uow.web.use_token(digest(token), now)
        if user_id is None:
            return None
        role = await dashboard_role(uow, services, user_id)
        if role is None:
            return None
        cookie = secrets.token_urlsafe(32)
        await uow.web.add_session(
            digest(cookie), user_id, secrets.token_urlsafe(24), locale, now + SESSION_LIFETIME
        )
        await uow.audit_log.add(staff_actor(user_id), "dashboard.sign_in")
    return cookie


async def viewer_of(request: web.Request, services: Services) -> Viewer | None:
    """The signed-in person behind a request, if any (and if they still have a role)."""
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    async with services.db.unit_of_work() as uow:
        session = await uow.web.get_session(digest(cookie), utcnow())
        if session is None:
            return None
        role = await dashboard_role(uow, services, session.telegram_user_id)
    if role is None:
        return None
    return Viewer(role, session.locale, session.csrf_token, session.session_hash)


async def dashboard_role(uow: UnitOfWork, services: Services, user_id: int) -> Role | None:
    """Who may use the dashboard: anyone with a role reads reports; a juror without one sees
    the jury's pages only (JUROR: no city, no reports) while their edition's jury is open."""
    role = await role_of(uow, services, user_id)
    if role is not None and role.reads_reports:
        return role
    if await juror_now(uow, user_id, utcnow()) is not None:
        return Role(user_id, JUROR, ())
    return None


def csrf_ok(viewer: Viewer, submitted: str | None) -> bool:
    """A form is accepted only with this session's CSRF token (constant-time comparison)."""
    return bool(submitted) and hmac.compare_digest(viewer.csrf, str(submitted))


def set_session_cookie(response: web.StreamResponse, cookie: str, secure: bool) -> None:
    """HttpOnly, SameSite=Lax (the first page is opened from Telegram), Secure behind HTTPS."""
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="Lax",
        secure=secure,
        path="/dashboard",
    )
