"""The GoSend dialect: the gokilat v10 endpoints and booking_event webhooks (couriers.md section 1).

Where GoSend's behaviour is not public (cancellable states, webhook ``type`` names, error status codes) the
choice is marked as the sandbox's own.
"""

from __future__ import annotations

import hmac
import json
import re
import uuid
from typing import Annotated, Any, ClassVar

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from couriers.gosend.mapper import normalize_phone
from couriers.sandbox.config import DialectName, GoSendDialectConfig
from couriers.sandbox.engine import ApiError, Engine, Journey, Outgoing, Step, iso, validation_messages

STATUSES: dict[Step, tuple[str, ...]] = {
    Step.CREATED: ("confirmed",),
    Step.ALLOCATED: ("allocated",),
    Step.TO_PICKUP: ("out_for_pickup",),
    Step.PICKED_UP: ("picked",),
    Step.TO_DROPOFF: ("out_for_delivery",),
    Step.WRONG_PIN: (),  # GoSend drivers take no handover PIN: a wrong-PIN-first journey is a happy one
    Step.DELIVERED: ("delivered",),
    Step.NO_DRIVER: ("no_driver",),
    Step.DELIVERY_FAILED: ("rejected",),
    Step.DRIVER_CANCELLED: ("cancelled",),
    Step.CANCELLED: ("cancelled",),
}
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

_LAT_LONG = re.compile(r"(-?\d{1,3}(?:\.\d+)?),(-?\d{1,3}(?:\.\d+)?)", re.ASCII)


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


class GoSend:
    name: ClassVar[DialectName] = "gosend"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.config: GoSendDialectConfig = engine.config.gosend
        self.router = self._router()

    def statuses(self, step: Step) -> tuple[str, ...]:
        return STATUSES[step]

    def render_error(self, error: ApiError) -> Response:
        """GoSend reports errors as an ``errors`` array and in the ``Error-Message`` header."""
        headers = {"Error-Message": error.message, **error.headers}
        return JSONResponse({"errors": [error.message]}, status_code=error.status_code, headers=headers)

    def webhooks(self, journey: Journey, status: str, previous: str) -> list[Outgoing]:
        """Shaped like GoSend's documented booking_event sample, plus ``vehicle_number`` once a driver is known.

        ``status`` is explicit because an event may be sent after the journey has moved on (held back by
        ``shuffle``, or a cancel that raced the first callback).
        """
        config = self.config
        if config.webhook_url is None:
            return []
        route: _Route = journey.detail["route"]
        driver = journey.driver if status not in ("confirmed", "no_driver") else None
        moment = journey.at(status)
        assert moment is not None
        event_id = str(uuid.uuid4())
        body = {
            "@type": "booking_event",
            "entity_id": journey.provider_id,
            "type": EVENT_TYPES.get(status, f"BOOKING_{status.upper()}"),
            "event_date": int(moment.timestamp() * 1000),
            "event_id": event_id,
            "partner_id": config.client_id,
            "destination_type": "market_place",
            "booking_id": journey.provider_id,
            "status": status,
            "booking_status": status,
            "booking_type": journey.detail["method"].lower(),
            "driver_name": driver.name if driver else "",
            "driver_phone": driver.phone if driver else "",
            "vehicle_number": driver.plate if driver else "",
            "total_distance_in_kms": journey.distance_km,
            "price": float(journey.price_idr),
            "receiver_name": route.destinationContactName if status == "delivered" else "",
            "live_tracking_url": self._tracking_url(journey),
        }
        token = config.webhook_token
        headers = {config.webhook_header: token} if token else {}
        return [
            Outgoing(config.webhook_url, json.dumps(body).encode(), event_id, status, lambda _body: headers)
        ]

    def _tracking_url(self, journey: Journey) -> str:
        return f"{self.config.tracking_base_url.rstrip('/')}/{journey.provider_id}"

    def _status_body(self, journey: Journey) -> dict[str, Any]:
        route: _Route = journey.detail["route"]
        driver = journey.driver
        closed = next((moment for status, moment in journey.history if status in TERMINAL), None)
        return {
            "id": journey.id,
            "orderNo": journey.provider_id,
            "status": STATUS_LABELS[journey.status],
            "bookingStatus": journey.status,
            "driverId": driver.id if driver else None,
            "driverName": driver.name if driver else None,
            "driverPhone": driver.phone if driver else None,
            "driverPhoto": f"https://gosend-sandbox.invalid/drivers/{driver.id}.jpg" if driver else None,
            "vehicleNumber": driver.plate if driver else None,
            "totalDiscount": 0,
            "totalPrice": journey.price_idr,
            "receiverName": route.destinationContactName if journey.status == "delivered" else None,
            "orderCreatedTime": iso(journey.at("confirmed")),
            "orderDispatchTime": iso(journey.at("allocated")),
            "orderArrivalTime": iso(journey.at("delivered")),
            "orderClosedTime": iso(closed),
            "orderCancelledTime": iso(journey.at("cancelled")),
            "sellerAddressName": route.originName,
            "sellerAddressDetail": route.originAddress,
            "buyerAddressName": route.destinationName,
            "buyerAddressDetail": route.destinationAddress,
            "bookingType": journey.detail["method"],
            "cancelDescription": journey.cancel_reason or None,
            "storeOrderId": route.storeOrderId,
            "liveTrackingUrl": self._tracking_url(journey),
            "insuranceDetails": route.insuranceDetails.model_dump(),
            "proofs": {"pop": None, "pod": None},
            "totalDistanceInKms": journey.distance_km,
        }

    def _router(self) -> APIRouter:
        engine, config = self.engine, self.config

        async def gate(request: Request) -> None:
            await engine.gate(self.name, request)

        async def authenticate(
            client_id: Annotated[str, Header(alias="Client-ID")] = "",
            pass_key: Annotated[str, Header(alias="Pass-Key")] = "",
        ) -> None:
            client_ok = hmac.compare_digest(client_id.encode(), config.client_id.encode())
            key_ok = hmac.compare_digest(pass_key.encode(), config.pass_key.encode())
            if not (client_ok and key_ok):
                raise ApiError(401, "Unauthorized: invalid Client-ID or Pass-Key")

        router = APIRouter(prefix="/gokilat/v10", dependencies=[Depends(gate), Depends(authenticate)])

        def find(order_no: str) -> Journey:
            journey = engine.find(self.name, order_no)
            if journey is None:
                raise ApiError(404, f"Booking {order_no} not found")
            return journey

        @router.get("/calculate/price", name="quote")
        async def price(origin: str = "", destination: str = "", paymentType: str = "") -> dict[str, Any]:
            if paymentType != "3":
                raise ApiError(400, "paymentType must be 3")
            try:
                distance_km, total = engine.quote(_parse_lat_long(origin), _parse_lat_long(destination))
            except ValueError as exc:
                raise ApiError(400, str(exc)) from None
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

        @router.post("/booking", status_code=201, name="book")
        async def book(request: Request) -> dict[str, Any]:
            try:
                body = _BookingBody.model_validate_json(await request.body())
            except ValidationError as exc:
                raise ApiError(400, "; ".join(validation_messages(exc))) from None
            route = body.routes[0]
            distance_km, total = engine.quote(
                _parse_lat_long(route.originLatLong), _parse_lat_long(route.destinationLatLong)
            )
            if distance_km > config.max_distance_km:
                raise ApiError(400, f"Distance {distance_km} km is beyond the serviceable area")
            phone = normalize_phone(route.destinationContactPhone)
            number = engine.new_id()
            journey = Journey(
                id=number,
                dialect=self.name,
                provider_id=f"GK-11-{number}",
                reference=route.storeOrderId,
                phone=phone,
                knobs=engine.knobs_for(phone, route.storeOrderId),
                distance_km=distance_km,
                price_idr=total,
                detail={"route": route, "method": body.shipment_method},
            )
            engine.start(self, journey)
            return {
                "id": journey.id,
                "orderNo": journey.provider_id,
                "bookingType": body.shipment_method,
                "storeOrderId": route.storeOrderId,
                "errorMessage": None,
                "prebook": False,
                "prebookMessage": "",
                "errors": [],
            }

        @router.get("/booking/orderno/{order_no}", name="status")
        async def by_order_no(order_no: str) -> dict[str, Any]:
            return self._status_body(find(order_no))

        @router.get("/booking/storeOrderId/{store_order_id}", name="find_by_reference")
        async def by_store_order_id(store_order_id: str) -> dict[str, Any]:
            # GoSend does not deduplicate storeOrderId either; the newest booking is the one being reconciled.
            matches = engine.by_reference(self.name, store_order_id)
            if not matches:
                raise ApiError(404, f"Booking with storeOrderId {store_order_id} not found")
            return self._status_body(matches[-1])

        @router.put("/booking/cancel", name="cancel")
        async def cancel(request: Request) -> dict[str, Any]:
            try:
                body = _CancelBody.model_validate_json(await request.body())
            except ValidationError as exc:
                raise ApiError(400, "; ".join(validation_messages(exc))) from None
            journey = find(body.orderNo)
            if journey.status not in CANCELLABLE:
                raise ApiError(
                    422, f"Booking {journey.provider_id} cannot be cancelled in status {journey.status}"
                )
            engine.cancel(self, journey, "Cancelled by partner")
            return {"message": f"Booking {journey.provider_id} cancelled"}

        return router
