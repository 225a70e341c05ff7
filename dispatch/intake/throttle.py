"""The intake rate limit, shared by the FHIR and HL7 routes: counted per API key as presented (hashed by the
limiter), or per client address for requests without one, before anything is archived or parsed."""

from __future__ import annotations

from fastapi import Request

from dispatch.core import ratelimit
from dispatch.core.http import bearer_token, client_address


def intake_wait(request: Request) -> int | None:
    """Seconds to wait (for ``Retry-After``) when this key or client is over the limit, else None."""
    key = bearer_token(request)
    return ratelimit.hit(
        ratelimit.INTAKE_PER_KEY, f"key:{key}" if key else f"client:{client_address(request)}"
    )
