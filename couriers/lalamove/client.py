"""Lalamove HTTP I/O: signing each request, the Market header, and failures as :class:`CourierError`."""

from __future__ import annotations

import json
import logging
import math
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import httpx

from couriers.base import Booking, Capabilities, CourierError, CourierEvent, DeliveryRequest, Quote
from couriers.http import HttpAdapter, json_body, json_or_none, path_segment
from couriers.lalamove import mapper, signature
from couriers.lalamove.settings import LalamoveSettings

logger = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class LalamoveError(CourierError):
    """A refusal Lalamove explained; ``codes`` holds its ``ERR_…`` codes so callers need not parse text."""

    def __init__(
        self,
        messages: list[str],
        *,
        codes: frozenset[str],
        status_code: int,
        retryable: bool,
        retry_after: float | None,
    ) -> None:
        super().__init__(messages, status_code=status_code, retryable=retryable, retry_after=retry_after)
        self.codes = codes


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _new_request_id() -> str:
    return str(uuid.uuid4())


class LalamoveAdapter(HttpAdapter):
    """The Lalamove courier adapter.

    ``clock`` and ``request_id`` are injectable so signatures, quotation expiry and webhook windows are
    deterministic in tests. ``retryable`` on a :class:`CourierError` covers 5xx, 429 (with ``retry_after``
    when Lalamove sends Retry-After), timeouts and connection failures.
    """

    name: ClassVar[str] = mapper.COURIER

    def __init__(
        self,
        settings: LalamoveSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] = _utc_now,
        request_id: Callable[[], str] = _new_request_id,
    ) -> None:
        self._settings = settings
        super().__init__(transport)
        self._clock = clock
        self._request_id = request_id

    def _client_options(self) -> dict[str, Any]:
        settings = self._settings
        return {
            "base_url": settings.base_url,
            "timeout": settings.timeout_seconds,
            "headers": {
                "Market": settings.market,
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        }

    @property
    def capabilities(self) -> Capabilities:
        """Lalamove's documented Indonesian cities. The cancel window counts from the driver match, not from
        the booking: before a match, cancelling is always allowed."""
        return Capabilities(
            instant=True,
            same_day=False,
            cancel_before_pickup_only=True,
            cancel_window_seconds=mapper.CANCEL_AFTER_MATCH_SECONDS,
            service_areas=self._settings.service_areas,
            lookup_by_reference=False,
        )

    def quote(self, request: DeliveryRequest) -> Quote:
        mapper.check_service(request.service)
        mapper.check_service_area(self._settings.service_areas, request)
        return self._quote(request)

    def book(self, request: DeliveryRequest, quote: Quote | None = None) -> Booking:
        """Place an order citing ``quote`` while it is valid, else a fresh quotation.

        A cited quotation Lalamove calls wrong or expired (our clock and theirs differ) is replaced once.
        Placing an order is not idempotent and Lalamove has no lookup by our reference: after a retryable
        failure here the order may exist under an id we never saw, so booking again risks a second driver.
        """
        mapper.check_service(request.service)
        mapper.check_service_area(self._settings.service_areas, request)
        mapper.check_contacts(request)
        margin = timedelta(seconds=self._settings.quote_margin_seconds)
        if mapper.quote_is_usable(quote, now=self._clock(), margin=margin):
            try:
                return self._place(request, quote)
            except LalamoveError as exc:
                if not exc.codes & mapper.EXPIRED_QUOTATION_CODES:
                    raise
                logger.info(
                    "lalamove refused quotation %s as %s; quoting again", quote.quote_id, sorted(exc.codes)
                )
        return self._place(request, self._quote(request))

    def cancel(self, provider_order_id: str) -> None:
        """Lalamove allows it while assigning a driver and for 5 minutes after a match; later it answers 409
        ERR_CANCELLATION_FORBIDDEN, raised as a non-retryable error carrying that code."""
        self._send("DELETE", f"/v3/orders/{path_segment(provider_order_id)}")

    def status(self, provider_order_id: str) -> CourierEvent:
        """The order, with its driver's name, phone and plate once a driver is on it (a second call)."""
        body = json_body(self._send("GET", f"/v3/orders/{path_segment(provider_order_id)}"), "Lalamove")
        driver_id = mapper.order_driver_id(body)
        driver = self.driver(provider_order_id, driver_id) if driver_id else None
        return mapper.parse_order(body, observed_at=self._clock(), driver=driver)

    def driver(self, provider_order_id: str, driver_id: str) -> mapper.Driver | None:
        """None when Lalamove withholds the driver: it answers 403 outside the window it shows one in."""
        path = f"/v3/orders/{path_segment(provider_order_id)}/drivers/{path_segment(driver_id)}"
        response = self._send("GET", path, tolerated=frozenset({httpx.codes.FORBIDDEN}))
        if response.status_code == httpx.codes.FORBIDDEN:
            return None
        return mapper.parse_driver(json_body(response, "Lalamove"))

    def find_by_reference(self, reference: str) -> CourierEvent | None:
        """Always raises: Lalamove cannot search orders by the reference we put in ``metadata``
        (couriers.md 3.3 lists no such endpoint), hence ``capabilities.lookup_by_reference`` is false."""
        raise CourierError([f"Lalamove cannot look orders up by our reference ({reference!r})"])

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Check the signature inside the body (Lalamove sends no signature header), our API key and the
        timestamp window. Lalamove's empty-body probe when a URL is registered is refused like any unsigned
        body.
        """
        settings = self._settings
        return signature.verify_webhook(
            body,
            api_key=settings.api_key,
            secret=settings.api_secret.get_secret_value(),
            path=settings.webhook_path,
            now_ms=_epoch_ms(self._clock()),
            max_age_ms=round(settings.webhook_max_age_seconds * 1000),
            max_skew_ms=round(settings.webhook_max_skew_seconds * 1000),
            signed_data=settings.webhook_signed_data,
        )

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> CourierEvent:
        return mapper.parse_webhook(body)

    def _quote(self, request: DeliveryRequest) -> Quote:
        settings = self._settings
        body = mapper.quotation_request(
            request, service_type=settings.service_type, language=settings.language
        )
        response = self._send("POST", "/v3/quotations", body)
        return mapper.parse_quote(json_body(response, "Lalamove"), service=request.service, now=self._clock())

    def _place(self, request: DeliveryRequest, quote: Quote) -> Booking:
        body = mapper.order_request(request, quote, pod_enabled=self._settings.pod_enabled)
        return mapper.parse_booking(json_body(self._send("POST", "/v3/orders", body), "Lalamove"), request)

    def _send(
        self, method: str, path: str, payload: Any = None, *, tolerated: frozenset[int] = frozenset()
    ) -> httpx.Response:
        """Serialise once and sign exactly those bytes, over the path as it goes on the wire."""
        settings = self._settings
        content = "" if payload is None else json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        request = self._http.build_request(method, path, content=content.encode() if content else None)
        request_id = self._request_id()
        request.headers["Request-ID"] = request_id
        request.headers["Authorization"] = signature.authorization(
            settings.api_key,
            settings.api_secret.get_secret_value(),
            _epoch_ms(self._clock()),
            method,
            request.url.raw_path.decode("ascii"),
            content,
        )
        try:
            response = self._http.send(request)
        except httpx.TimeoutException as exc:
            logger.warning("lalamove %s %s timed out (Request-ID %s)", method, path, request_id)
            raise CourierError([f"Lalamove timed out: {type(exc).__name__}"], retryable=True) from exc
        except httpx.TransportError as exc:
            logger.warning(
                "lalamove %s %s failed: %s (Request-ID %s)", method, path, type(exc).__name__, request_id
            )
            raise CourierError([f"Lalamove unreachable: {type(exc).__name__}"], retryable=True) from exc
        if response.is_success or response.status_code in tolerated:
            return response
        errors = mapper.parse_errors(json_or_none(response))
        messages = [error.text for error in errors] or [f"Lalamove answered HTTP {response.status_code}"]
        rate_limited = response.status_code == httpx.codes.TOO_MANY_REQUESTS
        logger.warning(
            "lalamove %s %s answered HTTP %s (Request-ID %s): %s",
            method,
            path,
            response.status_code,
            request_id,
            messages,
        )
        raise LalamoveError(
            messages,
            codes=frozenset(error.code for error in errors if error.code),
            status_code=response.status_code,
            retryable=rate_limited or response.is_server_error,
            retry_after=_retry_after(response.headers.get("Retry-After"), self._clock())
            if rate_limited
            else None,
        )


def _epoch_ms(moment: datetime) -> int:
    # Integer arithmetic: timestamp() is a float and can land a millisecond short.
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After in either HTTP form (seconds, or a date); None when absent or unreadable."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - now).total_seconds()
        except (TypeError, ValueError):
            return None
    return max(seconds, 0.0) if math.isfinite(seconds) else None
