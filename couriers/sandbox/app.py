"""A GoSend look-alike: the gokilat v10 endpoints plus scripted journeys that call our webhook.

It exists so the dispatcher can be demonstrated and tested end to end without a GoSend partner account.
Everything it answers follows ``couriers.md`` section 1; where GoSend's behaviour is not public (cancellable
states, webhook ``type`` names, error status codes) the choice is marked as the sandbox's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import math
import random
import re
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, FastAPI, Header, Request, Response
from fastapi.responses import JSONResponse
from geopy.distance import geodesic
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from couriers.gosend.mapper import normalize_phone
from couriers.sandbox.config import SCENARIOS, SandboxConfig, ScenarioName

logger = logging.getLogger(__name__)

# What the REST lookup shows in ``status``: GoSend may answer with labels there (couriers.md 1.6), so the
# sandbox does, keeping the code in ``bookingStatus``.
STATUS_LABELS = {
    "confirmed": "Finding Driver",
    "allocated": "Driver Allocated",
    "out_for_pickup": "Enroute Pickup",
    "picked": "Item Picked by Driver",
    "out_for_delivery": "Enroute Drop",
    "on_hold": "On Hold",
    "delivered": "Completed",
    "cancelled": "Cancelled",
    "rejected": "Rejected",
    "no_driver": "Driver not found",
}
TERMINAL = frozenset({"delivered", "cancelled", "rejected", "no_driver"})
# Sandbox's own rule: GoSend's cancellable states are not public, so "before the item is picked up".
CANCELLABLE = frozenset({"confirmed", "allocated", "out_for_pickup"})
# Only DRIVER_NOT_FOUND is a documented webhook ``type``; the rest are the sandbox's own names.
EVENT_TYPES = {"no_driver": "DRIVER_NOT_FOUND"}
SHIPMENT_METHODS = {"Instant": "1-2 hours", "SameDay": "6-8 hours", "InstantCar": "1-2 hours"}

DRIVER_NAMES = (
    "Budi Santoso",
    "Agus Setiawan",
    "Slamet Riyadi",
    "Dewi Lestari",
    "Eko Prasetyo",
    "Joko Susilo",
    "Rina Wulandari",
    "Hendra Wijaya",
    "Imam Syafii",
    "Siti Aminah",
)
# Banyuwangi plates start with "P" (Besuki region).
PLATE_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"

_LAT_LONG = re.compile(r"(-?\d{1,3}(?:\.\d+)?),(-?\d{1,3}(?:\.\d+)?)", re.ASCII)


class GoSendApiError(Exception):
    """Answered the way GoSend reports errors: an ``errors`` array and the ``Error-Message`` header."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def _parse_lat_long(value: str) -> tuple[float, float]:
    match = _LAT_LONG.fullmatch(value)
    if match is None:
        raise ValueError(f"invalid lat,long {value!r}")
    lat, lon = float(match.group(1)), float(match.group(2))
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"lat,long out of range {value!r}")
    return lat, lon


class _Insurance(BaseModel):
    applied: str = "false"
    fee: str = "0"
    product_description: str = ""
    product_price: str = "0"


class _Route(BaseModel):
    model_config = ConfigDict(strict=True)

    originName: str = Field(min_length=1)
    originNote: str
    originContactName: str = Field(min_length=1)
    originContactPhone: str
    originLatLong: str
    originAddress: str = Field(min_length=1)
    destinationName: str = Field(min_length=1)
    destinationNote: str
    destinationContactName: str = Field(min_length=1)
    destinationContactPhone: str
    destinationLatLong: str
    destinationAddress: str = Field(min_length=1)
    item: str = Field(min_length=1)
    storeOrderId: str = Field(min_length=1)
    insuranceDetails: _Insurance = _Insurance()

    @field_validator("originContactPhone", "destinationContactPhone")
    @classmethod
    def _gosend_phone(cls, value: str) -> str:
        # GoSend wants bare 62… digits; a 08… or +62… number here is a client bug worth failing on.
        if not re.fullmatch(r"62\d{7,13}", value, re.ASCII):
            raise ValueError("phone must be 62… digits without +")
        return value

    @field_validator("originLatLong", "destinationLatLong")
    @classmethod
    def _lat_long(cls, value: str) -> str:
        _parse_lat_long(value)
        return value


class _BookingBody(BaseModel):
    model_config = ConfigDict(strict=True)

    paymentType: int
    shipment_method: str
    routes: list[_Route] = Field(min_length=1, max_length=1)

    @field_validator("paymentType")
    @classmethod
    def _payment_type(cls, value: int) -> int:
        if value != 3:
            raise ValueError("paymentType must be 3")
        return value

    @field_validator("shipment_method")
    @classmethod
    def _method(cls, value: str) -> str:
        if value not in SHIPMENT_METHODS:
            raise ValueError(f"shipment_method must be one of {', '.join(SHIPMENT_METHODS)}")
        return value


class _CancelBody(BaseModel):
    orderNo: str = Field(min_length=1)


class RuleIn(BaseModel):
    match_phone: str
    scenario: ScenarioName

    @field_validator("match_phone")
    @classmethod
    def _normalize(cls, value: str) -> str:
        return normalize_phone(value)


@dataclass
class Driver:
    id: int
    name: str
    phone: str
    plate: str


@dataclass
class WebhookDelivery:
    event_id: str
    status: str
    attempts: int = 0
    delivered: bool = False
    response_status: int | None = None
    error: str | None = None


@dataclass
class SandboxBooking:
    id: int
    order_no: str
    route: _Route
    shipment_method: str
    scenario: ScenarioName
    distance_km: float
    price_idr: int
    status: str = "confirmed"
    times: dict[str, datetime] = field(default_factory=dict)
    driver: Driver | None = None
    cancel_description: str = ""
    webhooks: list[WebhookDelivery] = field(default_factory=list)
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class SandboxState:
    """All mutable sandbox state, owned by one app instance so parallel sandboxes in a test run stay apart.

    Every endpoint is ``async`` so the state is only touched from the event loop, never from a thread pool.
    """

    config: SandboxConfig
    bookings: dict[str, SandboxBooking] = field(default_factory=dict)
    rules: list[RuleIn] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    rng: random.Random = field(default_factory=random.Random)
    # Numbers continue from the clock, as a real courier's never repeat: a restarted sandbox must not hand
    # out an order number an earlier run already gave to a booking still in our database.
    next_id: int = field(default_factory=lambda: int(time.time() * 10) % 10**10)

    def scenario_for(self, route: _Route) -> ScenarioName:
        # The newest rule wins, so a test can override an earlier one without clearing.
        for rule in reversed(self.rules):
            if rule.match_phone == route.destinationContactPhone:
                return rule.scenario
        return self.config.default_scenario

    def quote(self, origin: tuple[float, float], destination: tuple[float, float]) -> tuple[float, int]:
        distance_km = round(geodesic(origin, destination).km, 3)
        price = math.ceil(distance_km * self.config.price_per_km_idr)
        return distance_km, max(self.config.minimum_price_idr, price)

    def new_driver(self) -> Driver:
        rng = self.rng
        plate = f"P {rng.randint(1000, 9999)} {rng.choice(PLATE_LETTERS)}{rng.choice(PLATE_LETTERS)}"
        return Driver(
            id=rng.randint(100_000, 999_999),
            name=rng.choice(DRIVER_NAMES),
            phone=f"628{rng.randint(11, 59)}{rng.randint(10_000_000, 99_999_999)}",
            plate=plate,
        )

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Keep a reference to each background task (the loop holds only weak ones) and report its failure."""
        task: asyncio.Task[None] = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("sandbox background task failed", exc_info=task.exception())


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _tracking_url(config: SandboxConfig, booking: SandboxBooking) -> str:
    return f"{config.tracking_base_url.rstrip('/')}/{booking.order_no}"


def _advance(state: SandboxState, booking: SandboxBooking, status: str) -> None:
    booking.status = status
    booking.times[status] = datetime.now(UTC)
    if status == "allocated" and booking.driver is None:
        booking.driver = state.new_driver()
    if status == "cancelled" and not booking.cancel_description:
        booking.cancel_description = "Driver cancelled the booking"


def _status_body(config: SandboxConfig, booking: SandboxBooking) -> dict[str, Any]:
    route, driver, times = booking.route, booking.driver, booking.times
    closed = next((times[status] for status in TERMINAL if status in times), None)
    return {
        "id": booking.id,
        "orderNo": booking.order_no,
        "status": STATUS_LABELS[booking.status],
        "bookingStatus": booking.status,
        "driverId": driver.id if driver else None,
        "driverName": driver.name if driver else None,
        "driverPhone": driver.phone if driver else None,
        "driverPhoto": f"https://gosend-sandbox.invalid/drivers/{driver.id}.jpg" if driver else None,
        "vehicleNumber": driver.plate if driver else None,
        "totalDiscount": 0,
        "totalPrice": booking.price_idr,
        "receiverName": route.destinationContactName if booking.status == "delivered" else None,
        "orderCreatedTime": _iso(times.get("confirmed")),
        "orderDispatchTime": _iso(times.get("allocated")),
        "orderArrivalTime": _iso(times.get("delivered")),
        "orderClosedTime": _iso(closed),
        "orderCancelledTime": _iso(times.get("cancelled")),
        "sellerAddressName": route.originName,
        "sellerAddressDetail": route.originAddress,
        "buyerAddressName": route.destinationName,
        "buyerAddressDetail": route.destinationAddress,
        "bookingType": booking.shipment_method,
        "cancelDescription": booking.cancel_description or None,
        "storeOrderId": route.storeOrderId,
        "liveTrackingUrl": _tracking_url(config, booking),
        "insuranceDetails": route.insuranceDetails.model_dump(),
        "proofs": {"pop": None, "pod": None},
        "totalDistanceInKms": booking.distance_km,
    }


def _webhook_body(config: SandboxConfig, booking: SandboxBooking, status: str) -> dict[str, Any]:
    """Shaped like GoSend's documented booking_event sample, plus ``vehicle_number`` once a driver is known.

    ``status`` is explicit because an event may be sent after the booking has moved on (held back by
    ``shuffle``, or a cancel that raced the first callback).
    """
    driver = booking.driver if status not in ("confirmed", "no_driver") else None
    return {
        "@type": "booking_event",
        "entity_id": booking.order_no,
        "type": EVENT_TYPES.get(status, f"BOOKING_{status.upper()}"),
        "event_date": _epoch_ms(booking.times[status]),
        "event_id": str(uuid.uuid4()),
        "partner_id": config.client_id,
        "destination_type": "market_place",
        "booking_id": booking.order_no,
        "status": status,
        "booking_status": status,
        "booking_type": booking.shipment_method.lower(),
        "driver_name": driver.name if driver else "",
        "driver_phone": driver.phone if driver else "",
        "vehicle_number": driver.plate if driver else "",
        "total_distance_in_kms": booking.distance_km,
        "price": float(booking.price_idr),
        "receiver_name": booking.route.destinationContactName if status == "delivered" else "",
        "live_tracking_url": _tracking_url(config, booking),
    }


async def _send_webhook(config: SandboxConfig, booking: SandboxBooking, body: dict[str, Any]) -> None:
    """POST one event (twice when duplicates are on), retrying failures like a courier would."""
    if config.webhook_url is None:
        return
    headers = {config.webhook_header: config.webhook_token} if config.webhook_token else {}
    copies = 2 if config.duplicate_events else 1
    async with httpx.AsyncClient(timeout=config.webhook_timeout_seconds) as client:
        for _ in range(copies):
            delivery = WebhookDelivery(event_id=body["event_id"], status=body["status"])
            booking.webhooks.append(delivery)
            for attempt in range(1, config.webhook_attempts + 1):
                if attempt > 1:
                    await asyncio.sleep(config.webhook_retry_delay_seconds)
                delivery.attempts = attempt
                try:
                    response = await client.post(config.webhook_url, json=body, headers=headers)
                except httpx.HTTPError as exc:
                    delivery.error = f"{type(exc).__name__}: {exc}"
                    continue
                delivery.response_status = response.status_code
                if response.is_success:
                    delivery.delivered, delivery.error = True, None
                    break
                delivery.error = f"HTTP {response.status_code}"


async def _play(state: SandboxState, booking: SandboxBooking) -> None:
    """Walk the booking through its scenario, sending each event as it happens.

    This task is the booking's only webhook sender, so events leave in order; a cancel through the API only
    flags the booking and wakes the task, which reports the cancellation and stops. With ``shuffle`` the
    second-to-last event is held back and sent after the last one, keeping its true ``event_date`` so the
    receiver can tell it is stale.
    """
    config = state.config
    steps = SCENARIOS[booking.scenario]
    held: dict[str, Any] | None = None
    for index, status in enumerate(steps):
        if index:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(booking.cancelled.wait(), config.step_delay_seconds)
            if booking.cancelled.is_set():
                await _send_webhook(config, booking, _webhook_body(config, booking, "cancelled"))
                break
            _advance(state, booking, status)
        body = _webhook_body(config, booking, status)
        if config.shuffle and index == len(steps) - 2:
            held = body
            continue
        await _send_webhook(config, booking, body)
        if held is not None:
            await _send_webhook(config, booking, held)
            held = None
    if held is not None:
        await _send_webhook(config, booking, held)


def _validation_messages(exc: ValidationError) -> list[str]:
    return [
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
        for error in exc.errors(include_url=False, include_input=False)
    ]


def create_app(config: SandboxConfig) -> FastAPI:
    """Build one independent sandbox; its state lives and dies with the returned app."""
    state = SandboxState(config=config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        for task in list(state.tasks):
            task.cancel()
        await asyncio.gather(*state.tasks, return_exceptions=True)

    app = FastAPI(title="GoSend sandbox", lifespan=lifespan)
    app.state.sandbox = state

    @app.exception_handler(GoSendApiError)
    async def _gosend_error(_: Request, exc: GoSendApiError) -> JSONResponse:
        return JSONResponse(
            {"errors": [exc.message]}, status_code=exc.status_code, headers={"Error-Message": exc.message}
        )

    async def authenticate(
        client_id: Annotated[str, Header(alias="Client-ID")] = "",
        pass_key: Annotated[str, Header(alias="Pass-Key")] = "",
    ) -> None:
        client_ok = hmac.compare_digest(client_id.encode(), config.client_id.encode())
        key_ok = hmac.compare_digest(pass_key.encode(), config.pass_key.encode())
        if not (client_ok and key_ok):
            raise GoSendApiError(401, "Unauthorized: invalid Client-ID or Pass-Key")

    gokilat = APIRouter(prefix="/gokilat/v10", dependencies=[Depends(authenticate)])

    def find(order_no: str) -> SandboxBooking:
        booking = state.bookings.get(order_no)
        if booking is None:
            raise GoSendApiError(404, f"Booking {order_no} not found")
        return booking

    @gokilat.get("/calculate/price")
    async def price(origin: str = "", destination: str = "", paymentType: str = "") -> dict[str, Any]:
        if paymentType != "3":
            raise GoSendApiError(400, "paymentType must be 3")
        try:
            distance_km, total = state.quote(_parse_lat_long(origin), _parse_lat_long(destination))
        except ValueError as exc:
            raise GoSendApiError(400, str(exc)) from None
        serviceable = distance_km <= config.max_distance_km
        return {
            method: {
                "shipment_method": method,
                "shipment_method_description": eta,
                "serviceable": serviceable,
                "active": True,
                "distance": distance_km,
                "route_polyline": "",
                "price": {
                    "total_price": total,
                    "go_pay_total_price": total,
                    "go_pay_discount": 0,
                    "go_pay_message": "",
                    "voucher_discount": 0,
                    "voucher_go_pay_discount": 0,
                    "go_pay_discount_with_voucher": 0,
                    "voucher_message": "",
                    "voucher_monetary_value": 0,
                    "total_price_with_voucher": total,
                    "go_pay_total_price_with_voucher": total,
                },
            }
            for method, eta in SHIPMENT_METHODS.items()
        }

    @gokilat.post("/booking", status_code=201)
    async def book(request: Request) -> dict[str, Any]:
        try:
            body = _BookingBody.model_validate_json(await request.body())
        except ValidationError as exc:
            raise GoSendApiError(400, "; ".join(_validation_messages(exc))) from None
        route = body.routes[0]
        distance_km, total = state.quote(
            _parse_lat_long(route.originLatLong), _parse_lat_long(route.destinationLatLong)
        )
        if distance_km > config.max_distance_km:
            raise GoSendApiError(400, f"Distance {distance_km} km is beyond the serviceable area")
        state.next_id += 1
        booking = SandboxBooking(
            id=state.next_id,
            order_no=f"GK-11-{state.next_id}",
            route=route,
            shipment_method=body.shipment_method,
            scenario=state.scenario_for(route),
            distance_km=distance_km,
            price_idr=total,
        )
        _advance(state, booking, "confirmed")
        state.bookings[booking.order_no] = booking
        state.spawn(_play(state, booking))
        return {
            "id": booking.id,
            "orderNo": booking.order_no,
            "bookingType": booking.shipment_method,
            "storeOrderId": route.storeOrderId,
            "errorMessage": None,
            "prebook": False,
            "prebookMessage": "",
            "errors": [],
        }

    @gokilat.get("/booking/orderno/{order_no}")
    async def by_order_no(order_no: str) -> dict[str, Any]:
        return _status_body(config, find(order_no))

    @gokilat.get("/booking/storeOrderId/{store_order_id}")
    async def by_store_order_id(store_order_id: str) -> dict[str, Any]:
        # GoSend does not deduplicate storeOrderId either; the newest booking is the one being reconciled.
        matches = [b for b in state.bookings.values() if b.route.storeOrderId == store_order_id]
        if not matches:
            raise GoSendApiError(404, f"Booking with storeOrderId {store_order_id} not found")
        return _status_body(config, matches[-1])

    @gokilat.put("/booking/cancel")
    async def cancel(request: Request) -> dict[str, Any]:
        try:
            body = _CancelBody.model_validate_json(await request.body())
        except ValidationError as exc:
            raise GoSendApiError(400, "; ".join(_validation_messages(exc))) from None
        booking = find(body.orderNo)
        if booking.status not in CANCELLABLE:
            raise GoSendApiError(
                422, f"Booking {booking.order_no} cannot be cancelled in status {booking.status}"
            )
        booking.cancel_description = "Cancelled by partner"
        _advance(state, booking, "cancelled")
        booking.cancelled.set()
        return {"message": f"Booking {booking.order_no} cancelled"}

    app.include_router(gokilat)

    admin = APIRouter(prefix="/_sandbox")

    @admin.post("/rules", status_code=201)
    async def add_rule(rule: RuleIn) -> dict[str, Any]:
        state.rules.append(rule)
        return rule.model_dump()

    @admin.delete("/rules", status_code=204)
    async def clear_rules() -> Response:
        state.rules.clear()
        return Response(status_code=204)

    @admin.get("/bookings")
    async def list_bookings() -> dict[str, Any]:
        return {"bookings": [_admin_view(booking) for booking in state.bookings.values()]}

    app.include_router(admin)
    return app


def _admin_view(booking: SandboxBooking) -> dict[str, Any]:
    return {
        "orderNo": booking.order_no,
        "storeOrderId": booking.route.storeOrderId,
        "destinationContactPhone": booking.route.destinationContactPhone,
        "scenario": booking.scenario,
        "status": booking.status,
        "history": list(_history(booking)),
        "webhooks": [asdict(delivery) for delivery in booking.webhooks],
    }


def _history(booking: SandboxBooking) -> Iterator[dict[str, str]]:
    for status, moment in sorted(booking.times.items(), key=lambda item: item[1]):
        yield {"status": status, "at": moment.isoformat()}
