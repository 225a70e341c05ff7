"""What every HTTP courier adapter shares: one httpx client made on first use, closed with the adapter.

Adapters built only to verify and parse webhooks never make one, so they never pay for a TLS context; the
context itself is made once per process (loading the CA bundle costs about 20 ms, and a booking task builds an
adapter for the quote and another for the booking). Contexts are thread-safe.
"""

from __future__ import annotations

import functools
import ssl
from abc import ABC, abstractmethod
from functools import cached_property
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx

from couriers.base import CourierError


@functools.cache
def shared_tls_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


class HttpAdapter(ABC):
    """Subclasses say how their client is configured in :meth:`_client_options`."""

    def __init__(self, transport: httpx.BaseTransport | None) -> None:
        self._transport = transport

    @abstractmethod
    def _client_options(self) -> dict[str, Any]:
        """Keyword arguments for ``httpx.Client`` besides the transport and the TLS context."""

    @cached_property
    def _http(self) -> httpx.Client:
        return httpx.Client(transport=self._transport, verify=shared_tls_context(), **self._client_options())

    def close(self) -> None:
        if "_http" in self.__dict__:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def json_body(response: httpx.Response, provider: str) -> Any:
    """A success answer's JSON; a body that is not JSON is the provider's error, not ours to guess around."""
    try:
        return response.json()
    except ValueError as exc:
        raise CourierError(
            [f"{provider} answered HTTP {response.status_code} with a body that is not JSON"],
            status_code=response.status_code,
        ) from exc


def json_or_none(response: httpx.Response) -> Any:
    """An error answer's JSON when it has one: gateways answer with empty, plain-text or HTML bodies."""
    try:
        return response.json()
    except ValueError:
        return None


def path_segment(value: str) -> str:
    """Percent-encode an id as one path segment so an id containing "/" cannot address another resource."""
    return quote(value, safe="")
