"""Security headers on every response, set in one place so a new route cannot forget them.

A header a route sets itself wins (the tracking pages' ``Referrer-Policy: no-referrer``). Pages get a
Content-Security-Policy that allows only our own scripts, each carrying the request's nonce
(``request.state.csp_nonce`` in the templates); inline styles stay allowed, as the SVG maps carry their own
``<style>``. Everything else (JSON, CSV, HL7) gets a policy that allows nothing at all. Nothing here is
meant to be cached by a browser or proxy: pages show patients' names and addresses, and the API answers
to credentials, so ``Cache-Control: no-store`` is the default.
"""

from __future__ import annotations

import secrets
from typing import Final
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dispatch.core.settings import settings

NO_CONTENT_POLICY: Final = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
# FastAPI's /docs and /redoc load their script and styles from jsDelivr and start them with an inline script.
DOCS_POLICY: Final = (
    "default-src 'none'; script-src https://cdn.jsdelivr.net 'unsafe-inline'; "
    "style-src https://cdn.jsdelivr.net 'unsafe-inline'; img-src 'self' data: https://fastapi.tiangolo.com; "
    "connect-src 'self'; worker-src blob:; frame-ancestors 'none'; base-uri 'none'"
)
DOCS_PATHS: Final = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
# Two years, as browsers' preload lists expect; only where the service is reached over HTTPS.
HSTS: Final = "max-age=63072000; includeSubDomains"


def page_policy(nonce: str) -> str:
    """The policy of our own HTML pages; the hospital's tile server, when configured, may serve map images."""
    images = "'self' data:"
    if settings.map_tile_url:
        parts = urlsplit(settings.map_tile_url)
        images += f" {parts.scheme}://{parts.netloc}"
    return (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
        f"img-src {images}; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


class SecurityHeaders:
    """Pure ASGI middleware (no per-request task, unlike BaseHTTPMiddleware): headers are added as the
    response starts."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})["csp_nonce"] = nonce
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if path in DOCS_PATHS:
                    policy = DOCS_POLICY
                elif headers.get("content-type", "").startswith("text/html"):
                    policy = page_policy(nonce)
                else:
                    policy = NO_CONTENT_POLICY
                headers.setdefault("Content-Security-Policy", policy)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault("Cache-Control", "no-store")
                if settings.env == "production":
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, send_with_headers)
