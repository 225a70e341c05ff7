"""GoSend HTTP I/O: URLs, auth headers and turning transport or HTTP failures into :class:`CourierError`."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from couriers.base import Booking, Capabilities, CourierError, CourierEvent, DeliveryRequest, Quote
from couriers.gosend import mapper
from couriers.gosend.settings import GoSendSettings
from couriers.http import HttpAdapter, json_body, json_or_none, path_segment

logger = logging.getLogger(__name__)

API_PREFIX = "/gokilat/v10"


class GoSendAdapter(HttpAdapter):
    """The GoSend courier adapter.

    ``retryable`` on a :class:`CourierError` covers 5xx, 429, timeouts and connection failures. Booking is not
    idempotent at GoSend, so after a retryable booking failure the caller must look the booking up with
    :meth:`find_by_reference` before booking again.
    """

    name: ClassVar[str] = mapper.COURIER

    def __init__(self, settings: GoSendSettings, *, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(transport)
        self._settings = settings

    def _client_options(self) -> dict[str, Any]:
        settings = self._settings
        return {
            "base_url": settings.base_url + API_PREFIX,
            "timeout": settings.timeout_seconds,
            "headers": {
                "Client-ID": settings.client_id,
                "Pass-Key": settings.pass_key.get_secret_value(),
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        }

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(instant=True, same_day=True, max_distance_km=self._settings.max_distance_km)

    def quote(self, request: DeliveryRequest) -> Quote:
        method = mapper.shipment_method(request.service, self._settings.shipment_method)
        response = self._send("GET", "/calculate/price", params=mapper.price_query(request))
        return mapper.parse_quote(json_body(response, "GoSend"), service=request.service, method=method)

    def book(self, request: DeliveryRequest, quote: Quote | None = None) -> Booking:
        """GoSend books without a quotation; ``quote`` is accepted for the protocol and not needed."""
        method = mapper.shipment_method(request.service, self._settings.shipment_method)
        response = self._send("POST", "/booking", json=mapper.booking_request(request, method))
        body = json_body(response, "GoSend")
        # GoSend signals some refusals with a 2xx whose body lacks ``id``; the reason is in errors or a header.
        if not isinstance(body, Mapping) or body.get("id") is None:
            messages = mapper.parse_errors(body, response.headers) or ["GoSend returned no booking id"]
            raise CourierError(messages, status_code=response.status_code)
        return mapper.parse_booking(body, request)

    def cancel(self, provider_order_id: str) -> None:
        self._send("PUT", "/booking/cancel", json=mapper.cancel_request(provider_order_id))

    def status(self, provider_order_id: str) -> CourierEvent:
        response = self._send("GET", f"/booking/orderno/{path_segment(provider_order_id)}")
        return mapper.parse_status(json_body(response, "GoSend"), observed_at=datetime.now(UTC))

    def find_by_reference(self, reference: str) -> CourierEvent | None:
        response = self._send("GET", f"/booking/storeOrderId/{path_segment(reference)}", not_found_ok=True)
        if response.status_code == httpx.codes.NOT_FOUND:
            return None
        return mapper.parse_status(json_body(response, "GoSend"), observed_at=datetime.now(UTC))

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Check the shared token GoSend echoes in a header (GoSend signs nothing, so the body plays no part).

        Fails closed: no configured token means every callback is refused.
        """
        token = self._settings.webhook_token
        if token is None:
            return False
        presented = mapper.header_value(headers, self._settings.webhook_header)
        if not presented:
            return False
        expected = token.get_secret_value().encode()
        scheme, _, credentials = presented.partition(" ")
        bearer = credentials.strip() if scheme.lower() == "bearer" else ""
        # Evaluate both comparisons so the time taken does not reveal which form was sent.
        raw_ok = hmac.compare_digest(presented.encode(), expected)
        bearer_ok = hmac.compare_digest(bearer.encode(), expected)
        return raw_ok or bearer_ok

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> CourierEvent:
        return mapper.parse_webhook(body)

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        not_found_ok: bool = False,
    ) -> httpx.Response:
        try:
            response = self._http.request(method, path, params=params, json=json)
        except httpx.TimeoutException as exc:
            logger.warning("gosend %s %s timed out", method, path)
            raise CourierError([f"GoSend timed out: {type(exc).__name__}"], retryable=True) from exc
        except httpx.TransportError as exc:
            logger.warning("gosend %s %s failed: %s", method, path, type(exc).__name__)
            raise CourierError([f"GoSend unreachable: {type(exc).__name__}"], retryable=True) from exc
        if response.is_success or (not_found_ok and response.status_code == httpx.codes.NOT_FOUND):
            return response
        messages = mapper.parse_errors(json_or_none(response), response.headers)
        retryable = response.is_server_error or response.status_code == httpx.codes.TOO_MANY_REQUESTS
        logger.warning("gosend %s %s answered HTTP %s: %s", method, path, response.status_code, messages)
        raise CourierError(
            messages or [f"GoSend answered HTTP {response.status_code}"],
            status_code=response.status_code,
            retryable=retryable,
        )
