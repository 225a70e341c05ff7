"""One HTTP call to a message provider, its failures sorted by whether the message can have left.

A patient must not get the same SMS twice, and none of the providers here takes an idempotency key on
sending. So the one question about a failure is whether the request can have reached the provider:

* the connection never opened (refused, DNS, connect timeout, no free pooled connection): nothing was
  sent, and :class:`GatewayUnavailable` tells the caller a retry is safe;
* the provider answered 429 or 5xx: it says it did not take the message, also safe to retry;
* the request went out and no answer came back (read timeout, a dropped connection, a write that broke
  half-way): the provider may have sent it, so :class:`SendOutcomeUnknown` tells the caller not to retry.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from dispatch.notify.gateways import GatewayUnavailable, SendOutcomeUnknown

__all__ = ["call_provider", "raise_if_unavailable"]

_NOTHING_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def call_provider(
    provider: str, timeout_seconds: float, request: Callable[[httpx.Client], httpx.Response]
) -> httpx.Response:
    """``request`` made on a fresh client; transport failures become GatewayUnavailable or SendOutcomeUnknown.

    The error names the exception type only: httpx messages can carry the URL, and some providers put
    credentials in it.
    """
    try:
        with httpx.Client(timeout=timeout_seconds) as client:
            return request(client)
    except _NOTHING_SENT as exc:
        raise GatewayUnavailable(f"{provider} unreachable ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise SendOutcomeUnknown(f"{provider} did not answer ({type(exc).__name__})") from exc


def raise_if_unavailable(provider: str, response: httpx.Response, detail: str) -> None:
    """429 and 5xx mean the provider did not take the message: retry, after its Retry-After if it gave one."""
    if response.status_code == 429 or response.status_code >= 500:
        raise GatewayUnavailable(
            f"{provider} answered HTTP {response.status_code}: {detail}"[:500],
            retry_after=_retry_after(response),
        )


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds; the HTTP-date form is not used by these providers and is ignored."""
    try:
        seconds = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
