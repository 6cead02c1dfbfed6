"""Headers every response of the web server carries, and the dashboard pages' own policy.

The dashboard is server-rendered HTML without scripts: its only inline content is the style
sheet, allowed by a nonce per response. Nothing may frame it, it sends no Referer (sign-in
links carry their token in the URL), and browsers must not guess content types.
"""

from __future__ import annotations

import secrets

from aiohttp import web

BASE_POLICY = "default-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
PERMISSIONS = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


def new_nonce() -> str:
    """A fresh nonce for one page's inline style sheet."""
    return secrets.token_urlsafe(16)


def page_policy(nonce: str) -> str:
    """The Content-Security-Policy of a dashboard page whose <style> carries `nonce`."""
    return f"{BASE_POLICY}; style-src 'nonce-{nonce}'; img-src 'self' data:"


def add_security_headers(app: web.Application, *, https: bool) -> None:
    """Give every response of `app` the headers a careful reviewer expects (HSTS only when the
    public address is https)."""

    async def secure(_request: web.Request, response: web.StreamResponse) -> None:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", BASE_POLICY)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        headers["X-Frame-Options"] = "DENY"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Cross-Origin-Resource-Policy"] = "same-origin"
        headers["Permissions-Policy"] = PERMISSIONS
        if https:
            headers["Strict-Transport-Security"] = "max-age=63072000"
        headers.popall("Server", None)  # no software versions for scanners

    app.on_response_prepare.append(secure)
