"""GrabExpress HTTP I/O: the OAuth2 token, URLs, and turning transport or HTTP failures into :class:`CourierError`."""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from couriers.base import Booking, Capabilities, CourierError, CourierEvent, DeliveryRequest, Quote
from couriers.gosend.mapper import header_value
from couriers.grabexpress import mapper
from couriers.grabexpress.settings import GrabExpressSettings
from couriers.http import HttpAdapter, json_body, json_or_none, path_segment
from hospital_adapter.oauth import ClientCredentialsToken
from hospital_adapter.sinks.errors import is_retryable_status, parse_retry_after

logger = logging.getLogger(__name__)

# Grab's id for a call, worth quoting to their support (couriers.md 2.1).
REQUEST_ID_HEADER = "X-Grabkit-Grab-Requestid"
MAX_TEXT_MESSAGE = 300


class GrabExpressAdapter(HttpAdapter):
    """The GrabExpress courier adapter.

    ``retryable`` on a :class:`CourierError` covers 5xx, 408, 429 (with ``retry_after`` when Grab sends
    ``Retry-After``), timeouts and connection failures. Creating a delivery is not idempotent at Grab and Grab
    documents no lookup by ``merchantOrderID``, so after a retryable booking failure nothing here can tell
    whether the delivery exists: see :meth:`find_by_reference`.
    """

    name: ClassVar[str] = mapper.COURIER

    def __init__(
        self,
        settings: GrabExpressSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        super().__init__(transport)
        # The shared helper keeps the token and its expiry; its own request() is SATUSEHAT's form-encoded call,
        # so the Grab call (a JSON body with a scope) is built by the mapper instead.
        self._token = ClientCredentialsToken(
            settings.token_url, settings.client_id, settings.client_secret.get_secret_value(), clock=clock
        )
        # Celery threads share one adapter; one lock means one token call when the cached token runs out.
        self._token_lock = threading.Lock()

    def _client_options(self) -> dict[str, Any]:
        return {
            "base_url": self._settings.base_url,
            "timeout": self._settings.timeout_seconds,
            "headers": {"Content-Type": "application/json", "Accept": "application/json"},
        }

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            instant=True,
            same_day=False,
            max_distance_km=self._settings.max_distance_km,
            lookup_by_reference=False,
        )

    def quote(self, request: DeliveryRequest) -> Quote:
        body = mapper.quote_request(
            request, vehicle_type=self._settings.vehicle_type, city_code=self._settings.city_code
        )
        response = self._send("POST", "/v1/deliveries/quotes", json=body)
        return mapper.parse_quote(
            json_body(response, "GrabExpress"), service=request.service, observed_at=datetime.now(UTC)
        )

    def book(self, request: DeliveryRequest, quote: Quote | None = None) -> Booking:
        """Grab books without citing a quotation; ``quote`` is accepted for the protocol and not needed."""
        body = mapper.delivery_request(
            request,
            vehicle_type=self._settings.vehicle_type,
            city_code=self._settings.city_code,
            sms_enabled=self._settings.sms_enabled,
        )
        response = self._send("POST", "/v1/deliveries", json=body)
        return mapper.parse_booking(json_body(response, "GrabExpress"), request)

    def cancel(self, provider_order_id: str) -> None:
        try:
            self._send("DELETE", f"/v1/deliveries/{path_segment(provider_order_id)}")
        except CourierError as exc:
            if exc.status_code != httpx.codes.CONFLICT:
                raise
            # couriers.md 2.7: 409 on cancel means the driver already has the parcel.
            raise CourierError(
                [f"GrabExpress refuses to cancel {provider_order_id}: already picked up", *exc.messages],
                status_code=exc.status_code,
            ) from exc

    def status(self, provider_order_id: str) -> CourierEvent:
        response = self._send("GET", f"/v1/deliveries/{path_segment(provider_order_id)}")
        return mapper.parse_delivery(json_body(response, "GrabExpress"), observed_at=datetime.now(UTC))

    def find_by_reference(self, reference: str) -> CourierEvent | None:
        """Grab documents no read by ``merchantOrderID`` (only a cancel-all by it), so this cannot answer."""
        raise CourierError(["GrabExpress has no lookup by merchantOrderID; reconcile this booking by hand"])

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Check the credentials Grab echoes in ``Authorization`` (and ``Authorization-Id`` when we gave one).

        Grab signs nothing, so the body plays no part. Fails closed: no configured token refuses every callback.
        """
        token = self._settings.webhook_token
        if token is None:
            return False
        presented = header_value(headers, "Authorization") or ""
        token_ok = hmac.compare_digest(presented.encode(), token.get_secret_value().encode())
        auth_id = self._settings.webhook_auth_id
        if auth_id is None:
            return token_ok
        presented_id = header_value(headers, "Authorization-Id") or ""
        # Evaluate both comparisons so the time taken does not reveal which one failed.
        id_ok = hmac.compare_digest(presented_id.encode(), auth_id.get_secret_value().encode())
        return token_ok and id_ok

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> CourierEvent:
        return mapper.parse_webhook(body)

    def _send(self, method: str, path: str, *, json: Any = None) -> httpx.Response:
        """Call the API with the cached token; a 401 gets one fresh token and one more try."""
        token = self._access_token()
        response = self._request(method, path, json=json, headers=_bearer(token))
        if response.status_code == httpx.codes.UNAUTHORIZED:
            logger.info("grabexpress %s %s answered 401; fetching a new access token once", method, path)
            response = self._request(method, path, json=json, headers=_bearer(self._access_token(token)))
        if not response.is_success:
            raise _error(method, path, response)
        return response

    def _access_token(self, rejected: str | None = None) -> str:
        """The cached token unless it is about to expire or is the one the API just ``rejected``.

        The lock is held across the token call so that threads finding the cache empty wait for one fetch
        instead of each making their own; a thread whose 401 another thread already dealt with finds the new
        token cached.
        """
        with self._token_lock:
            cached = self._token.cached()
            if cached is not None and cached != rejected:
                return cached
            settings = self._settings
            response = self._request(
                "POST",
                settings.token_url,
                json=mapper.token_request(settings.client_id, settings.client_secret.get_secret_value()),
                headers={"Cache-Control": "no-cache"},
            )
            if not response.is_success:
                error = _error("POST", settings.token_url, response)
                raise CourierError(
                    ["GrabExpress access token request failed", *error.messages],
                    status_code=error.status_code,
                    retryable=error.retryable,
                    retry_after=error.retry_after,
                )
            try:
                token = self._token.accept(json_body(response, "GrabExpress"))
            except ValueError as exc:
                raise CourierError([f"GrabExpress {exc}"], status_code=response.status_code) from exc
            logger.info("fetched a GrabExpress access token")
            return token

    def _request(self, method: str, url: str, *, json: Any, headers: Mapping[str, str]) -> httpx.Response:
        try:
            return self._http.request(method, url, json=json, headers=headers)
        except httpx.TimeoutException as exc:
            logger.warning("grabexpress %s %s timed out", method, url)
            raise CourierError([f"GrabExpress timed out: {type(exc).__name__}"], retryable=True) from exc
        except httpx.TransportError as exc:
            logger.warning("grabexpress %s %s failed: %s", method, url, type(exc).__name__)
            raise CourierError([f"GrabExpress unreachable: {type(exc).__name__}"], retryable=True) from exc


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _error(method: str, url: str, response: httpx.Response) -> CourierError:
    status_code = response.status_code
    messages = mapper.parse_errors(json_or_none(response))
    text = response.text.strip()
    # One client reads Grab's errors as plain text (couriers.md 2.7); gateway HTML pages are not messages.
    if not messages and text and response.headers.get("Content-Type", "").startswith("text/plain"):
        messages = [text[:MAX_TEXT_MESSAGE]]
    logger.warning(
        "grabexpress %s %s answered HTTP %s (request id %s): %s",
        method,
        url,
        status_code,
        response.headers.get(REQUEST_ID_HEADER, "-"),
        messages,
    )
    return CourierError(
        messages or [f"GrabExpress answered HTTP {status_code}"],
        status_code=status_code,
        retryable=is_retryable_status(status_code),
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )
