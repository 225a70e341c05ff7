"""OAuth2 client credentials as SATUSEHAT does them, shared by everything that talks to a FHIR server.

``POST {oauth_url}/accesstoken?grant_type=client_credentials`` with a form body ``client_id`` /
``client_secret``; the token is kept until shortly before ``expires_in`` runs out. Callers do the HTTP and
turn failures into their own error types; this holds the protocol and the cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

# Refresh this long before the server says the token expires, so a request never carries a dying token.
TOKEN_MARGIN_SECONDS = 60.0


class ClientCredentialsToken:
    def __init__(
        self,
        oauth_url: str,
        client_id: str,
        client_secret: str,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._oauth_url = oauth_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._clock = clock
        self._value: str | None = None
        self._expires_at = 0.0

    def cached(self) -> str | None:
        return self._value if self._value is not None and self._clock() < self._expires_at else None

    def forget(self) -> None:
        """After a 401: the server revoked it or it expired early; the next call fetches a fresh one."""
        self._value = None

    def request(self) -> dict[str, Any]:
        """Keyword arguments for ``httpx.Client.request`` that ask for a token."""
        return {
            "method": "POST",
            "url": f"{self._oauth_url}/accesstoken",
            "params": {"grant_type": "client_credentials"},
            "data": {"client_id": self._client_id, "client_secret": self._client_secret},
        }

    def accept(self, body: Any) -> str:
        """Read the token response and cache it; ValueError when it holds no token."""
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise ValueError("OAuth token response has no access_token")
        try:
            # SATUSEHAT sends expires_in as a string ("14399"); RFC 6749 as a number.
            lifetime = float(body.get("expires_in", 0) or 0)
        except (TypeError, ValueError):
            lifetime = 0.0
        # A lifetime shorter than twice the margin is used for half its length, never cached past it.
        self._value = token
        self._expires_at = self._clock() + lifetime - min(TOKEN_MARGIN_SECONDS, lifetime / 2)
        return token
