"""The courier adapter protocol and the canonical types every adapter maps to and from.

Adapters are pure protocol translators plus thin HTTP I/O; the dispatcher owns state. Business errors from
a provider come back as :class:`CourierError` with the provider's own messages, never swallowed.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

import httpx
from geopy.distance import great_circle
from pydantic import BaseModel


class CourierStatus(enum.StrEnum):
    """Canonical courier-side status; providers' codes map onto these by table, never by guess."""

    REQUESTED = "requested"
    DRIVER_ASSIGNED = "driver_assigned"
    EN_ROUTE_PICKUP = "en_route_pickup"
    PICKED_UP = "picked_up"
    EN_ROUTE_DROPOFF = "en_route_dropoff"
    ON_HOLD = "on_hold"
    DELIVERED = "delivered"
    RETURNING = "returning"
    RETURNED = "returned"
    NO_DRIVER = "no_driver"
    CANCELLED = "cancelled"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Place:
    name: str
    phone: str
    address: str
    lat: float
    lon: float
    note: str = ""
    contact_name: str = ""


@dataclass(frozen=True)
class DeliveryRequest:
    """What we ask a courier to carry.

    ``reference`` is our idempotency key (GoSend ``storeOrderId``, Grab ``merchantOrderID``, Lalamove
    ``metadata``). The handover PIN is deliberately absent: the patient gives it to the driver, and the courier
    reports what it was given, so sending it along would defeat the check.
    """

    reference: str
    origin: Place
    destination: Place
    item_description: str
    item_value_idr: int = 0
    service: str = "instant"
    weight_kg: float = 1.0
    cold_chain: bool = False


@dataclass(frozen=True)
class Quote:
    """A price offer. ``quote_id`` and ``expires_at`` are set by couriers whose bookings must cite a quotation
    (Lalamove: valid 5 minutes); ``raw`` keeps what the booking needs from it (stop ids, say)."""

    courier: str
    service: str
    price_idr: int
    distance_km: float | None
    serviceable: bool
    eta_text: str = ""
    eta_minutes: int | None = None
    quote_id: str | None = None
    expires_at: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Booking:
    courier: str
    provider_order_id: str
    reference: str
    status: CourierStatus
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CourierEvent:
    """One status report from a courier, by webhook or by polling."""

    courier: str
    provider_order_id: str
    status: CourierStatus
    provider_status: str
    event_id: str
    occurred_at: datetime
    reference: str | None = None
    driver_name: str | None = None
    driver_phone: str | None = None
    vehicle_plate: str | None = None
    tracking_url: str | None = None
    price_idr: int | None = None
    # Handover evidence: the PIN the patient told the driver (local partners), or a proof-of-delivery photo.
    handover_pin: str | None = None
    proof_of_delivery_url: str | None = None
    receiver_name: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


class CourierError(Exception):
    """A provider refused or failed a call; ``retryable`` says whether trying again may help.

    ``retry_after`` carries a provider's rate-limit hint in seconds (HTTP 429 ``Retry-After``) when it gave one.
    """

    def __init__(
        self,
        messages: list[str],
        *,
        status_code: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ):
        super().__init__("; ".join(messages) or f"courier error (HTTP {status_code})")
        self.messages = messages
        self.status_code = status_code
        self.retryable = retryable
        self.retry_after = retry_after


class OutsideServiceArea(CourierError):
    """The courier does not operate where the order starts or ends; refused before any HTTP call."""

    def __init__(self, courier: str, where: str) -> None:
        super().__init__([f"{courier} does not serve {where}"])


class WebhookPayloadError(ValueError):
    """The webhook body is not a payload this courier sends."""


class WebhookIgnored(Exception):
    """An authentic webhook that concerns no delivery (Lalamove's wallet balance, say): acknowledged with 200
    and archived, never applied. Answering an error instead makes the courier retry, and Lalamove disables a
    URL after repeated failures."""


class CourierAdapter(Protocol):
    name: ClassVar[str]

    @property
    def capabilities(self) -> Capabilities:
        """What this account can carry and where; may depend on its settings (a partner's own area)."""
        ...

    def quote(self, request: DeliveryRequest) -> Quote: ...

    def book(self, request: DeliveryRequest, quote: Quote | None = None) -> Booking:
        """Book a pickup. Couriers that book against a quotation use ``quote`` when it is still valid and
        fetch a fresh one otherwise; the others ignore it."""
        ...

    def cancel(self, provider_order_id: str) -> None:
        """Raises :class:`CourierError` (not retryable) when the provider refuses, e.g. after pick-up."""
        ...

    def status(self, provider_order_id: str) -> CourierEvent: ...

    def find_by_reference(self, reference: str) -> CourierEvent | None:
        """Reconcile a booking whose response we never saw (timeout) by our own reference.

        Only called when ``capabilities.lookup_by_reference`` is true; couriers without such a lookup
        (Lalamove) raise :class:`CourierError`.
        """
        ...

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Authenticate a webhook over the raw bytes; must fail closed when no secret is configured."""
        ...

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> CourierEvent: ...


@dataclass(frozen=True)
class ServiceArea:
    """A circle a courier serves (a city and its reach), by great-circle distance from its centre."""

    name: str
    lat: float
    lon: float
    radius_km: float

    def contains(self, lat: float, lon: float) -> bool:
        return float(great_circle((self.lat, self.lon), (lat, lon)).km) <= self.radius_km


@dataclass(frozen=True)
class Capabilities:
    """What a courier account can take.

    ``service_areas`` empty means the courier names no limit (GoSend and Grab publish none; the hospital's
    contract says where they go). ``cold_chain`` means the courier carries an insulated box within the cold-chain
    time limit; otherwise only instant couriers may take cold-chain orders. ``cancel_window_seconds`` is how long
    after booking a cancellation is free, when the provider says.
    """

    instant: bool = True
    same_day: bool = False
    max_distance_km: float | None = None
    cold_chain: bool = False
    multi_stop: bool = False
    cancel_before_pickup_only: bool = True
    cancel_window_seconds: int | None = None
    service_areas: tuple[ServiceArea, ...] = ()
    lookup_by_reference: bool = True
    handover_pin: bool = False

    def serves(self, lat: float, lon: float) -> bool:
        return not self.service_areas or any(area.contains(lat, lon) for area in self.service_areas)


@dataclass(frozen=True)
class CourierPlugin:
    """What an entry point in group ``gancang.couriers`` exposes."""

    name: str
    label: str
    settings_model: type[BaseModel]
    build: Callable[[BaseModel, httpx.BaseTransport | None], CourierAdapter]
