"""Pure translation between our canonical types and GoSend's gokilat v10 payloads.

Nothing here does I/O, so every function can be fed recorded payloads in tests. Payload shapes follow
``couriers.md`` section 1; GoSend publishes no schema, so parsing checks the fields we rely on and keeps the
rest in ``raw``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from couriers.base import (
    Booking,
    CourierError,
    CourierEvent,
    CourierStatus,
    DeliveryRequest,
    Place,
    Quote,
    WebhookPayloadError,
)

COURIER = "gosend"

# Every GoSend integration seen sends 3; its meaning is not public, so it is not configurable either.
PAYMENT_TYPE = 3

STATUS_BY_CODE: Mapping[str, CourierStatus] = {
    "confirmed": CourierStatus.REQUESTED,
    "allocated": CourierStatus.DRIVER_ASSIGNED,
    "out_for_pickup": CourierStatus.EN_ROUTE_PICKUP,
    "picked": CourierStatus.PICKED_UP,
    "out_for_delivery": CourierStatus.EN_ROUTE_DROPOFF,
    "on_hold": CourierStatus.ON_HOLD,
    "delivered": CourierStatus.DELIVERED,
    "cancelled": CourierStatus.CANCELLED,
    "rejected": CourierStatus.RETURNING,
    "no_driver": CourierStatus.NO_DRIVER,
}

# The status lookup may answer with human labels instead of codes (couriers.md 1.6/1.8); keys are lower case.
CODE_BY_LABEL: Mapping[str, str] = {
    "finding driver": "confirmed",
    "driver allocated": "allocated",
    "enroute pickup": "out_for_pickup",
    "picked": "picked",
    "item picked by driver": "picked",
    "enroute drop": "out_for_delivery",
    "on hold": "on_hold",
    "delivered": "delivered",
    "completed": "delivered",
    "cancelled": "cancelled",
    "rejected": "rejected",
    "driver not found": "no_driver",
}

# Our service names -> GoSend shipment methods; "instant" is resolved from settings (Instant or InstantCar).
SAME_DAY_METHOD = "SameDay"

_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
_INDONESIAN_PHONE = re.compile(r"62\d{7,13}", re.ASCII)


def normalize_phone(phone: str) -> str:
    """Bring 08…, +62… and 62… numbers to the bare 62… digits GoSend expects.

    Raises ValueError for anything that is not an Indonesian number, because a courier that cannot call the
    recipient is a failed delivery we would only discover at the door.
    """
    digits = _PHONE_SEPARATORS.sub("", phone)
    if digits.startswith("+"):
        digits = digits[1:]
    elif digits.startswith("00"):
        digits = digits[2:]
    elif digits.startswith("0"):
        digits = "62" + digits[1:]
    elif digits.startswith("8"):
        digits = "62" + digits
    if not _INDONESIAN_PHONE.fullmatch(digits):
        raise ValueError(f"not an Indonesian phone number: {phone!r}")
    return digits


def shipment_method(service: str, instant_method: str) -> str:
    """Resolve our service name to GoSend's method; an unknown service is refused rather than booked as instant."""
    if service == "instant":
        return instant_method
    if service == "same_day":
        return SAME_DAY_METHOD
    raise CourierError([f"GoSend does not offer service {service!r}"])


def lat_long(lat: float, lon: float) -> str:
    """GoSend takes one "lat,lng" string; repr keeps full precision, but exponents (near the equator) are spelled out."""
    return f"{_coordinate(lat)},{_coordinate(lon)}"


def _coordinate(value: float) -> str:
    text = repr(float(value))
    return f"{value:.7f}" if "e" in text else text


def price_query(request: DeliveryRequest) -> dict[str, str]:
    return {
        "origin": lat_long(request.origin.lat, request.origin.lon),
        "destination": lat_long(request.destination.lat, request.destination.lon),
        "paymentType": str(PAYMENT_TYPE),
    }


def booking_request(request: DeliveryRequest, method: str) -> dict[str, Any]:
    """Build the booking body; GoSend accepts several routes but every integration sends exactly one."""
    route = {
        **_place_fields("origin", request.origin),
        **_place_fields("destination", request.destination),
        "item": request.item_description,
        "storeOrderId": request.reference,
        "insuranceDetails": {
            "applied": "false",
            "fee": "0",
            "product_description": request.item_description,
            "product_price": str(request.item_value_idr),
        },
    }
    return {"paymentType": PAYMENT_TYPE, "shipment_method": method, "routes": [route]}


def _place_fields(prefix: str, place: Place) -> dict[str, str]:
    return {
        f"{prefix}Name": place.name,
        f"{prefix}Note": place.note,
        f"{prefix}ContactName": place.contact_name or place.name,
        f"{prefix}ContactPhone": normalize_phone(place.phone),
        f"{prefix}LatLong": lat_long(place.lat, place.lon),
        f"{prefix}Address": place.address,
    }


def cancel_request(provider_order_id: str) -> dict[str, str]:
    # The older ``bookingId`` field is deprecated; orderNo is what the integration guide asks for.
    return {"orderNo": provider_order_id}


def parse_errors(body: Any, headers: Mapping[str, str]) -> list[str]:
    """Collect GoSend's error messages, which arrive in ``errors``, ``errorMessage`` or only the Error-Message header."""
    messages: list[str] = []
    if isinstance(body, Mapping):
        errors = body.get("errors")
        if isinstance(errors, list):
            messages.extend(str(error) for error in errors if error)
        error_message = body.get("errorMessage")
        if isinstance(error_message, str) and error_message:
            messages.append(error_message)
    header = header_value(headers, "Error-Message")
    if header and header not in messages:
        messages.append(header)
    return messages


def parse_quote(body: Any, *, service: str, method: str) -> Quote:
    """Quote the first estimate of the requested method that GoSend says it can serve right now."""
    matching = [
        estimate
        for key, estimate in _object(body).items()
        if isinstance(estimate, Mapping) and estimate.get("shipment_method", key) == method
    ]
    for estimate in matching:
        if estimate.get("serviceable") is True and estimate.get("active") is True:
            price = _object(estimate.get("price"))
            return Quote(
                courier=COURIER,
                service=service,
                price_idr=_require_idr(price.get("total_price")),
                distance_km=_number(estimate.get("distance")),
                serviceable=True,
                eta_text=_text(estimate.get("shipment_method_description")) or "",
            )
    distance = _number(matching[0].get("distance")) if matching else None
    return Quote(courier=COURIER, service=service, price_idr=0, distance_km=distance, serviceable=False)


def parse_booking(body: Any, request: DeliveryRequest) -> Booking:
    payload = _object(body)
    order_no = _text(payload.get("orderNo"))
    if order_no is None:
        raise CourierError(["GoSend accepted the booking but returned no orderNo"])
    return Booking(
        courier=COURIER,
        provider_order_id=order_no,
        reference=request.reference,
        status=CourierStatus.REQUESTED,
        raw=payload,
    )


def map_status(value: str) -> tuple[str, CourierStatus]:
    """Map a status code or label to (code, canonical); anything not in table 1.8 is UNKNOWN, never a guess."""
    key = " ".join(value.split()).lower()
    code = key if key in STATUS_BY_CODE else CODE_BY_LABEL.get(key)
    if code is None:
        return value, CourierStatus.UNKNOWN
    return code, STATUS_BY_CODE[code]


def parse_status(body: Any, *, observed_at: datetime) -> CourierEvent:
    """Turn a status lookup into an event.

    The lookup carries no event time, so the event is dated when we observed it. Its id is the same for every
    poll that sees the same status, which lets the dispatcher drop repeated polls as duplicates.
    """
    payload = _object(body)
    order_no = _text(payload.get("orderNo"))
    if order_no is None:
        raise CourierError(["GoSend status response has no orderNo"])
    code, status = _first_known_status(payload.get("status"), payload.get("bookingStatus"))
    return CourierEvent(
        courier=COURIER,
        provider_order_id=order_no,
        status=status,
        provider_status=code,
        event_id=f"{order_no}:{code}:poll",
        occurred_at=observed_at,
        reference=_text(payload.get("storeOrderId")),
        driver_name=_text(payload.get("driverName")),
        driver_phone=_text(payload.get("driverPhone")),
        vehicle_plate=_text(payload.get("vehicleNumber")),
        tracking_url=_text(payload.get("liveTrackingUrl")),
        price_idr=_idr(payload.get("totalPrice")),
        raw=payload,
    )


def _first_known_status(*candidates: Any) -> tuple[str, CourierStatus]:
    # ``status`` is the field the guide says to use, ``bookingStatus`` the fallback; the first that maps wins.
    values = [value for value in candidates if isinstance(value, str) and value.strip()]
    if not values:
        raise CourierError(["GoSend status response has no status"])
    for value in values:
        code, status = map_status(value)
        if status is not CourierStatus.UNKNOWN:
            return code, status
    return values[0], CourierStatus.UNKNOWN


def parse_webhook(body: bytes) -> CourierEvent:
    """Parse a booking_event callback; it must name the booking, its status and when it happened.

    ``event_date`` is required because the dispatcher orders out-of-order callbacks by it, and it makes up
    the idempotency key when GoSend leaves out ``event_id``.
    """
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise WebhookPayloadError(f"GoSend webhook body is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise WebhookPayloadError("GoSend webhook body is not a JSON object")
    booking_id = _text(payload.get("booking_id"))
    provider_status = _text(payload.get("status")) or _text(payload.get("booking_status"))
    if booking_id is None or provider_status is None:
        raise WebhookPayloadError("GoSend webhook lacks booking_id or status")
    event_ms, occurred_at = _event_time(payload.get("event_date"))
    code, status = map_status(provider_status)
    return CourierEvent(
        courier=COURIER,
        provider_order_id=booking_id,
        status=status,
        provider_status=code,
        event_id=_text(payload.get("event_id")) or f"{booking_id}:{code}:{event_ms}",
        occurred_at=occurred_at,
        driver_name=_text(payload.get("driver_name")),
        driver_phone=_text(payload.get("driver_phone")),
        # Not in the public sample (no driver there); named after the REST lookup's ``vehicleNumber``.
        vehicle_plate=_text(payload.get("vehicle_number")),
        tracking_url=_text(payload.get("live_tracking_url")),
        price_idr=_idr(payload.get("price")),
        raw=payload,
    )


def _event_time(value: Any) -> tuple[int, datetime]:
    """Read ``event_date`` (epoch milliseconds) as both the integer used in ids and an aware UTC datetime."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WebhookPayloadError("GoSend webhook lacks a numeric event_date")
    try:
        event_ms = int(value)
        return event_ms, datetime.fromtimestamp(event_ms / 1000, UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise WebhookPayloadError(f"GoSend webhook event_date out of range: {value!r}") from exc


def _object(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise CourierError(
            [f"unexpected GoSend response: expected a JSON object, got {type(value).__name__}"]
        )
    return value


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """Look a header up case-insensitively in any mapping (a plain dict from a test, or a framework's headers)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted and value.strip():
            return value.strip()
    return None


def _text(value: Any) -> str | None:
    """GoSend sends empty strings (not null) for absent drivers; both mean "not known"."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _idr(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else round(number)


def _require_idr(value: Any) -> int:
    price = _idr(value)
    if price is None:
        raise CourierError(["GoSend price estimate has no total_price"])
    return price
