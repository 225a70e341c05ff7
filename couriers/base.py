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
    """What we ask a courier to carry. ``reference`` is our idempotency key (GoSend ``storeOrderId``)."""

    reference: str
    origin: Place
    destination: Place
    item_description: str
    item_value_idr: int = 0
    service: str = "instant"


@dataclass(frozen=True)
class Quote:
    courier: str
    service: str
    price_idr: int
    distance_km: float | None
    serviceable: bool
    eta_text: str = ""


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
    raw: Mapping[str, Any] = field(default_factory=dict)


class CourierError(Exception):
    """A provider refused or failed a call; ``retryable`` says whether trying again may help."""

    def __init__(self, messages: list[str], *, status_code: int | None = None, retryable: bool = False):
        super().__init__("; ".join(messages) or f"courier error (HTTP {status_code})")
        self.messages = messages
        self.status_code = status_code
        self.retryable = retryable


class WebhookPayloadError(ValueError):
    """The webhook body is not a payload this courier sends."""


class CourierAdapter(Protocol):
    name: ClassVar[str]

    def quote(self, request: DeliveryRequest) -> Quote: ...

    def book(self, request: DeliveryRequest) -> Booking: ...

    def cancel(self, provider_order_id: str) -> None: ...

    def status(self, provider_order_id: str) -> CourierEvent: ...

    def find_by_reference(self, reference: str) -> CourierEvent | None:
        """Reconcile a booking whose response we never saw (timeout) by our own reference."""
        ...

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Authenticate a webhook over the raw bytes; must fail closed when no secret is configured."""
        ...

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> CourierEvent: ...


@dataclass(frozen=True)
class Capabilities:
    instant: bool = True
    same_day: bool = False
    max_distance_km: float | None = None
    cold_chain: bool = False
    cancel_before_pickup_only: bool = True


@dataclass(frozen=True)
class CourierPlugin:
    """What an entry point in group ``gancang.couriers`` exposes."""

    name: str
    label: str
    settings_model: type[BaseModel]
    build: Callable[[BaseModel, httpx.BaseTransport | None], CourierAdapter]
    capabilities: Capabilities = Capabilities()
