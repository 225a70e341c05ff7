"""Pure translation between our canonical types and Lalamove Open API v3 payloads (couriers.md section 3).

Nothing here does I/O, so every function can be fed recorded payloads in tests. Lalamove wraps every body in
``{"data": ...}``, sends numbers as strings and ids of up to 19+ digits, so ids stay text throughout.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypeGuard

import phonenumbers

from couriers.base import (
    Booking,
    CourierError,
    CourierEvent,
    CourierStatus,
    DeliveryRequest,
    OutsideServiceArea,
    Place,
    Quote,
    ServiceArea,
    WebhookIgnored,
    WebhookPayloadError,
)

COURIER = "lalamove"

# "Quotation honoured for exactly 5 minutes" (couriers.md 3.5, HIGH); used when a response omits expiresAt.
QUOTATION_VALIDITY = timedelta(minutes=5)

# Cancelling is allowed while ASSIGNING_DRIVER and for 5 minutes after a driver is matched (couriers.md 3.5).
CANCEL_AFTER_MATCH_SECONDS = 300

# Our own key in the order's free-form metadata, which Lalamove echoes back on the order.
METADATA_REFERENCE_KEY = "gancangReference"

# Lalamove takes remarks of at most this length, with CRLF line breaks (couriers.md 3.4).
REMARKS_MAX = 1500

CURRENCY = "IDR"

# Order statuses (couriers.md 3.5) onto ours by the suggested table in section 6. ON_GOING means the driver
# accepted and is heading to pick-up; the assignment itself arrives as its own DRIVER_ASSIGNED event.
STATUS_BY_CODE: Mapping[str, CourierStatus] = {
    "ASSIGNING_DRIVER": CourierStatus.REQUESTED,
    "ON_GOING": CourierStatus.EN_ROUTE_PICKUP,
    "PICKED_UP": CourierStatus.PICKED_UP,
    "COMPLETED": CourierStatus.DELIVERED,
    "CANCELED": CourierStatus.CANCELLED,
    "REJECTED": CourierStatus.NO_DRIVER,
    "EXPIRED": CourierStatus.NO_DRIVER,
}

# Statuses in which Lalamove shows the driver (details are refused with 403 outside this window).
DRIVER_VISIBLE = frozenset({"ON_GOING", "PICKED_UP"})

# Place-order refusals meaning the quotation is wrong or expired; one integration alone reports the second.
EXPIRED_QUOTATION_CODES = frozenset({"ERR_INVALID_QUOTATION_ID", "ERR_QUOTATION_EXPIRED"})

DRIVER_ASSIGNED_EVENT = "DRIVER_ASSIGNED"
ORDER_STATUS_CHANGED_EVENT = "ORDER_STATUS_CHANGED"

# ISO 8601 as Lalamove writes it, including its "HH:MM.ff" form (a decimal fraction of the minute).
_ISO_TIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?"
    r"(?:[.,](?P<fraction>\d+))?(?P<zone>Z|[+-]\d{2}:?\d{2})",
    re.ASCII,
)


@dataclass(frozen=True)
class Driver:
    driver_id: str
    name: str | None
    phone: str | None
    plate: str | None
    photo_url: str | None


@dataclass(frozen=True)
class ApiError:
    """One error from a Lalamove error body: its ``ERR_…`` code when given, and the text to show."""

    code: str | None
    text: str


def check_service_area(areas: Sequence[ServiceArea], request: DeliveryRequest) -> None:
    """Refuse a trip Lalamove cannot take, before any call: both stops must lie in one city zone.

    Lalamove is intra-city only (a trip between two served cities is ERR_OUT_OF_SERVICE_AREA as well).
    """
    origin = [area for area in areas if area.contains(request.origin.lat, request.origin.lon)]
    if not origin:
        raise OutsideServiceArea(COURIER, f"the pick-up at {_where(request.origin)}")
    destination = [area for area in areas if area.contains(request.destination.lat, request.destination.lon)]
    if not destination:
        raise OutsideServiceArea(COURIER, f"the drop-off at {_where(request.destination)}")
    if not set(origin) & set(destination):
        raise OutsideServiceArea(
            COURIER,
            f"trips from {origin[0].name} to {destination[0].name} (it only delivers within one city)",
        )


def _where(place: Place) -> str:
    return f"{place.name} ({place.lat:.4f}, {place.lon:.4f})"


def check_service(service: str) -> None:
    """Lalamove's services are vehicle types of an immediate delivery; our same-day service is not one."""
    if service != "instant":
        raise CourierError([f"Lalamove does not offer service {service!r}"])


def coordinate(value: float) -> str:
    """Lalamove takes coordinates as strings; repr keeps full precision, exponents (near 0) written out."""
    text = repr(float(value))
    return f"{value:.7f}" if "e" in text else text


def e164(phone: str) -> str:
    """An Indonesian number as E.164 with "+", which Lalamove requires (and validates per market).

    Raises a non-retryable CourierError before any call, because Lalamove would refuse it anyway and a courier
    who cannot call the recipient is a failed delivery.
    """
    try:
        number = phonenumbers.parse(phone, "ID")
    except phonenumbers.NumberParseException as exc:
        raise CourierError([f"not a phone number: {phone!r}"]) from exc
    if number.country_code != 62 or not phonenumbers.is_valid_number(number):
        raise CourierError([f"not an Indonesian phone number: {phone!r}"])
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_contacts(request: DeliveryRequest) -> None:
    """Both phones are checked before a booking sends anything, so a bad number does not cost a quotation."""
    e164(request.origin.phone)
    e164(request.destination.phone)


def quotation_request(request: DeliveryRequest, *, service_type: str, language: str) -> dict[str, Any]:
    """The quotation body: pick-up first, then the drop-off. Item details are only read in TH/VN/HK."""
    return {
        "data": {
            "serviceType": service_type,
            "language": language,
            "stops": [_stop(request.origin), _stop(request.destination)],
        }
    }


def _stop(place: Place) -> dict[str, Any]:
    return {
        "coordinates": {"lat": coordinate(place.lat), "lng": coordinate(place.lon)},
        "address": place.address,
    }


def parse_quote(body: Any, *, service: str, now: datetime) -> Quote:
    """A quotation as our Quote; ``raw`` is Lalamove's quotation, whose stop ids the order must cite."""
    data = _data(body)
    quotation_id = _text(data.get("quotationId"))
    if quotation_id is None:
        raise CourierError(["Lalamove returned a quotation without quotationId"])
    # The order must cite both stop ids: a quotation without them is refused now rather than at booking.
    stop_ids(data)
    breakdown = _mapping(data.get("priceBreakdown"))
    currency = _text(breakdown.get("currency"))
    if currency != CURRENCY:
        raise CourierError(
            [f"Lalamove quoted in {currency or 'no currency'}, not {CURRENCY}; check the market"]
        )
    price = _idr(breakdown.get("total"))
    if price is None:
        raise CourierError(["Lalamove quotation has no total price"])
    expires_at = _optional_time(data.get("expiresAt")) or now + QUOTATION_VALIDITY
    return Quote(
        courier=COURIER,
        service=service,
        price_idr=price,
        distance_km=_distance_km(data.get("distance")),
        serviceable=True,
        quote_id=quotation_id,
        expires_at=expires_at,
        raw=data,
    )


def stop_ids(quotation: Mapping[str, Any]) -> tuple[str, str]:
    """The sender's and the recipient's stop ids, in the order we sent the stops."""
    stops = quotation.get("stops")
    ids = [_text(_mapping(stop).get("stopId")) for stop in stops] if isinstance(stops, list) else []
    sender, recipient = ids if len(ids) == 2 else (None, None)
    if sender is None or recipient is None:
        raise CourierError(["Lalamove quotation does not name exactly two stops with stop ids"])
    return sender, recipient


def quote_is_usable(quote: Quote | None, *, now: datetime, margin: timedelta) -> TypeGuard[Quote]:
    """Whether an order may still cite ``quote``: ours, with an id, stop ids and time left before expiry."""
    if quote is None or quote.courier != COURIER or quote.quote_id is None or quote.expires_at is None:
        return False
    try:
        stop_ids(quote.raw)
    except CourierError:
        return False
    return now + margin < quote.expires_at


def order_request(request: DeliveryRequest, quote: Quote, *, pod_enabled: bool) -> dict[str, Any]:
    """The place-order body citing ``quote``; our reference rides in ``metadata``, which Lalamove echoes."""
    sender_stop, recipient_stop = stop_ids(quote.raw)
    recipient = {
        "stopId": recipient_stop,
        "name": request.destination.name,
        "phone": e164(request.destination.phone),
    }
    remarks = "\r\n".join(
        line for part in (request.item_description, request.destination.note) for line in part.splitlines()
    )
    if remarks:
        recipient["remarks"] = remarks[:REMARKS_MAX]
    return {
        "data": {
            "quotationId": quote.quote_id,
            "sender": {
                "stopId": sender_stop,
                "name": request.origin.name,
                "phone": e164(request.origin.phone),
            },
            "recipients": [recipient],
            "isPODEnabled": pod_enabled,
            "metadata": {METADATA_REFERENCE_KEY: request.reference},
        }
    }


def parse_booking(body: Any, request: DeliveryRequest) -> Booking:
    """The placed order; its status is mapped like any other (a fresh order is ASSIGNING_DRIVER)."""
    data = _data(body)
    order_id = _text(data.get("orderId"))
    if order_id is None:
        raise CourierError(["Lalamove accepted the order but returned no orderId"])
    provider_status = _text(data.get("status"))
    return Booking(
        courier=COURIER,
        provider_order_id=order_id,
        reference=request.reference,
        status=CourierStatus.REQUESTED if provider_status is None else map_status(provider_status),
        raw=data,
    )


def map_status(code: str) -> CourierStatus:
    """Anything not in the documented table is UNKNOWN, never a guess."""
    return STATUS_BY_CODE.get(code.strip().upper(), CourierStatus.UNKNOWN)


def order_driver_id(body: Any) -> str | None:
    """The driver to fetch details for, when the order's status is one in which Lalamove shows them."""
    data = _data(body)
    if _text(data.get("status")) not in DRIVER_VISIBLE:
        return None
    return _text(data.get("driverId"))


def parse_driver(body: Any) -> Driver:
    data = _data(body)
    driver_id = _text(data.get("driverId"))
    if driver_id is None:
        raise CourierError(["Lalamove driver details have no driverId"])
    return Driver(
        driver_id=driver_id,
        name=_text(data.get("name")),
        phone=_text(data.get("phone")),
        plate=_text(data.get("plateNumber")),
        photo_url=_text(data.get("photo")),
    )


def parse_order(body: Any, *, observed_at: datetime, driver: Driver | None = None) -> CourierEvent:
    """Turn an order lookup into an event.

    The lookup carries no event time, so the event is dated when we observed it. Its id is the same for every
    poll that sees the same status, which lets the dispatcher drop repeated polls as duplicates.
    """
    data = _data(body)
    order_id = _text(data.get("orderId"))
    provider_status = _text(data.get("status"))
    if order_id is None or provider_status is None:
        raise CourierError(["Lalamove order details lack orderId or status"])
    return CourierEvent(
        courier=COURIER,
        provider_order_id=order_id,
        status=map_status(provider_status),
        provider_status=provider_status,
        event_id=f"{order_id}:{provider_status}:poll",
        occurred_at=observed_at,
        reference=_text(_mapping(data.get("metadata")).get(METADATA_REFERENCE_KEY)),
        driver_name=driver.name if driver else None,
        driver_phone=driver.phone if driver else None,
        vehicle_plate=driver.plate if driver else None,
        tracking_url=_text(data.get("shareLink")),
        price_idr=_price_idr(data.get("priceBreakdown")),
        proof_of_delivery_url=_pod_image(data.get("stops")),
        raw=data,
    )


def _pod_image(stops: Any) -> str | None:
    """The drop-off's proof-of-delivery photo, once Lalamove reports it delivered or signed."""
    if not isinstance(stops, list):
        return None
    for stop in reversed(stops):
        pod = _mapping(stop.get("POD")) if isinstance(stop, Mapping) else {}
        if _text(pod.get("status")) in ("DELIVERED", "SIGNED"):
            return _text(pod.get("image"))
    return None


def parse_errors(body: Any) -> list[ApiError]:
    """Both documented error shapes: ``{"message": "ERR_…"}`` and
    ``{"errors": [{"id", "message", "detail"}]}``."""
    if not isinstance(body, Mapping):
        return []
    errors: list[ApiError] = []
    items = body.get("errors")
    if isinstance(items, list):
        for item in items:
            if not isinstance(item, Mapping):
                continue
            code = _text(item.get("id"))
            details = " ".join(
                text for text in (_text(item.get("message")), _text(item.get("detail"))) if text
            )
            text = ": ".join(part for part in (code, details) if part)
            if text:
                errors.append(ApiError(code, text))
    message = _text(body.get("message"))
    if message is not None:
        errors.append(ApiError(message if message.startswith("ERR_") else None, message))
    return errors


def parse_webhook(body: bytes) -> CourierEvent:
    """Parse a webhook envelope into an event, for any event that names an order.

    ``occurred_at`` is ``data.updatedAt`` when present, else the envelope's ``timestamp`` (epoch ms):
    Lalamove delivers out of order, and the dispatcher orders events by this time. ORDER_STATUS_CHANGED
    carries the new status, DRIVER_ASSIGNED the driver. The other events (amount changed, order replaced,
    POD, …) have undocumented shapes, so they come back as UNKNOWN rather than as a guessed status.
    """
    try:
        envelope = json.loads(body)
    except ValueError as exc:
        raise WebhookPayloadError(f"Lalamove webhook body is not JSON: {exc}") from exc
    if not isinstance(envelope, dict):
        raise WebhookPayloadError("Lalamove webhook body is not a JSON object")
    event_type = _text(envelope.get("eventType"))
    data = envelope.get("data")
    if event_type is None or not isinstance(data, Mapping):
        raise WebhookPayloadError("Lalamove webhook lacks eventType or data")
    order = _mapping(data.get("order"))
    order_id = _text(order.get("orderId"))
    if order_id is None:
        raise WebhookIgnored(f"Lalamove {event_type} webhook names no order")
    occurred_at, stamp = _webhook_time(envelope, data)
    driver = _mapping(data.get("driver"))
    if event_type == ORDER_STATUS_CHANGED_EVENT:
        provider_status = _text(order.get("status"))
        if provider_status is None:
            raise WebhookPayloadError("Lalamove ORDER_STATUS_CHANGED webhook has no order status")
        status = map_status(provider_status)
    elif event_type == DRIVER_ASSIGNED_EVENT:
        provider_status, status = event_type, CourierStatus.DRIVER_ASSIGNED
    else:
        provider_status, status = event_type, CourierStatus.UNKNOWN
    # "eventId" in the signed envelope, "eventID" in Partner Portal copies (couriers.md 3.6).
    event_id = _text(envelope.get("eventId")) or _text(envelope.get("eventID"))
    return CourierEvent(
        courier=COURIER,
        provider_order_id=order_id,
        status=status,
        provider_status=provider_status,
        event_id=event_id or f"{order_id}:{event_type}:{provider_status}:{stamp}",
        occurred_at=occurred_at,
        driver_name=_text(driver.get("name")),
        driver_phone=_text(driver.get("phone")),
        vehicle_plate=_text(driver.get("plateNumber")),
        tracking_url=_text(order.get("shareLink")),
        raw=envelope,
    )


def _webhook_time(envelope: Mapping[str, Any], data: Mapping[str, Any]) -> tuple[datetime, str]:
    updated_at = data.get("updatedAt")
    if updated_at is not None:
        try:
            return parse_time(updated_at), str(updated_at)
        except ValueError as exc:
            raise WebhookPayloadError(f"Lalamove webhook updatedAt is not a time: {updated_at!r}") from exc
    timestamp = envelope.get("timestamp")
    if isinstance(timestamp, str) and timestamp.isascii() and timestamp.isdigit():
        timestamp = int(timestamp)
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise WebhookPayloadError("Lalamove webhook has neither data.updatedAt nor a numeric timestamp")
    try:
        return datetime.fromtimestamp(timestamp / 1000, UTC), str(timestamp)
    except (OverflowError, OSError, ValueError) as exc:
        raise WebhookPayloadError(f"Lalamove webhook timestamp out of range: {timestamp!r}") from exc


def parse_time(value: Any) -> datetime:
    """Read Lalamove's ISO 8601 times as aware UTC datetimes; raises ValueError for anything else.

    Lalamove writes "2025-08-03T16:43.00Z" as well as "…T16:43:00.000Z"; in the first the fraction belongs to
    the minute, as ISO 8601 allows for the last component written.
    """
    match = _ISO_TIME.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"not an ISO 8601 time: {value!r}")
    zone = match["zone"]
    base = datetime.fromisoformat(
        f"{match['date']}T{match['hour']}:{match['minute']}:{match['second'] or '00'}"
        f"{'+00:00' if zone == 'Z' else zone}"
    )
    fraction = Decimal(f"0.{match['fraction'] or 0}")
    unit = timedelta(seconds=1) if match["second"] is not None else timedelta(minutes=1)
    return (base + unit * float(fraction)).astimezone(UTC)


def _optional_time(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise CourierError([f"Lalamove sent an unreadable time: {value!r}"]) from exc


def _distance_km(value: Any) -> float | None:
    distance = _mapping(value)
    metres = _decimal(distance.get("value"))
    if metres is None:
        return None
    unit = _text(distance.get("unit"))
    if unit == "m":
        return float(metres / 1000)
    if unit == "km":
        return float(metres)
    return None


def _price_idr(value: Any) -> int | None:
    """The total in rupiah; None when the order is priced in another currency (a misconfigured market)."""
    breakdown = _mapping(value)
    if _text(breakdown.get("currency")) != CURRENCY:
        return None
    return _idr(breakdown.get("total"))


def _idr(value: Any) -> int | None:
    amount = _decimal(value)
    return None if amount is None else int(amount.to_integral_value())


def _decimal(value: Any) -> Decimal | None:
    """Lalamove sends amounts and distances as strings; numbers are accepted too, anything else is unknown."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _data(body: Any) -> Mapping[str, Any]:
    """The ``data`` object every Lalamove response wraps its payload in."""
    data = body.get("data") if isinstance(body, Mapping) else None
    if not isinstance(data, Mapping):
        raise CourierError([f"unexpected Lalamove response: no data object in a {type(body).__name__}"])
    return data


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    """Lalamove sends "" (not null) for a driver not yet matched; both mean "not known"."""
    if value is None or isinstance(value, Mapping | list):
        return None
    text = str(value).strip()
    return text or None
