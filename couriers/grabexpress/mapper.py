"""Pure translation between our canonical types and GrabExpress partner API payloads.

Nothing here does I/O, so every function can be fed recorded payloads in tests. Payload shapes follow
``couriers.md`` section 2; Grab's docs sit behind a partner login, so parsing checks the fields we rely on and
keeps the rest in ``raw``.
"""

from __future__ import annotations

import json
import math
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
from couriers.gosend.mapper import normalize_phone

COURIER = "grabexpress"

# couriers.md 2.1 (HIGH): the only scope the delivery endpoints need.
DELIVERIES_SCOPE = "grab_express.partner_deliveries"

# Grab's own default (couriers.md 2.3); paying by deposit means RECIPIENT can never be asked to pay.
PAYMENT_METHOD = "CASHLESS"

# couriers.md 2.3 limits.
MAX_PACKAGE_DESCRIPTION = 500
MAX_INSTRUCTION = 1000

# Only instant: SAME_DAY needs a pickup window (``schedule``) that a DeliveryRequest does not carry.
SERVICE_TYPE_BY_SERVICE: Mapping[str, str] = {"instant": "INSTANT"}

# couriers.md 2.5 and the mapping in section 6.
STATUS_BY_CODE: Mapping[str, CourierStatus] = {
    "QUEUEING": CourierStatus.REQUESTED,
    "ALLOCATING": CourierStatus.REQUESTED,
    "PENDING_PICKUP": CourierStatus.DRIVER_ASSIGNED,
    "PICKING_UP": CourierStatus.EN_ROUTE_PICKUP,
    "PENDING_DROP_OFF": CourierStatus.PICKED_UP,
    "IN_DELIVERY": CourierStatus.EN_ROUTE_DROPOFF,
    "IN_RETURN": CourierStatus.RETURNING,
    "COMPLETED": CourierStatus.DELIVERED,
    "RETURNED": CourierStatus.RETURNED,
    "CANCELED": CourierStatus.CANCELLED,
    "FAILED": CourierStatus.FAILED,
}

# Both spellings are seen (couriers.md 2.5): the REST API says CANCELED, the webhook CANCELLED; one client
# library spells QUEUING. One spelling per status keeps event ids equal whichever one arrives.
CODE_BY_SPELLING: Mapping[str, str] = {"CANCELLED": "CANCELED", "QUEUING": "QUEUEING"}

# A FAILED delivery whose failedReason starts with this code found no driver (couriers.md 2.5, section 6); the
# dispatcher re-dispatches those to the next courier instead of treating them as a failed delivery.
NO_DRIVER_REASON_CODE = "6"


def service_type(service: str) -> str:
    """Resolve our service name to Grab's; an unknown service is refused rather than booked as instant."""
    try:
        return SERVICE_TYPE_BY_SERVICE[service]
    except KeyError:
        raise CourierError([f"GrabExpress does not offer service {service!r}"]) from None


def token_request(client_id: str, client_secret: str) -> dict[str, str]:
    """The JSON body Grab's token endpoint takes (couriers.md 2.1, MED: JSON rather than a form)."""
    return {
        "client_id": client_id,
        "client_secret": client_secret,
        "grant_type": "client_credentials",
        "scope": DELIVERIES_SCOPE,
    }


def quote_request(request: DeliveryRequest, *, vehicle_type: str, city_code: str | None) -> dict[str, Any]:
    return {
        "serviceType": service_type(request.service),
        "vehicleType": vehicle_type,
        "paymentMethod": PAYMENT_METHOD,
        "packages": [_package(request)],
        "origin": _location(request.origin, city_code),
        "destination": _location(request.destination, city_code),
    }


def delivery_request(
    request: DeliveryRequest, *, vehicle_type: str, city_code: str | None, sms_enabled: bool
) -> dict[str, Any]:
    """The create body: the quote's fields plus who hands over, who receives, and our idempotency key."""
    return {
        "merchantOrderID": request.reference,
        **quote_request(request, vehicle_type=vehicle_type, city_code=city_code),
        "sender": _contact(request.origin, sms_enabled),
        "recipient": _contact(request.destination, sms_enabled),
    }


def _package(request: DeliveryRequest) -> dict[str, Any]:
    return {
        "name": request.item_description,
        "description": request.item_description[:MAX_PACKAGE_DESCRIPTION],
        "quantity": 1,
        "price": request.item_value_idr,
        # couriers.md 2.3: weight in grams; we know no box size, so height/width/depth are left out.
        "dimensions": {"weight": round(request.weight_kg * 1000)},
    }


def _location(place: Place, city_code: str | None) -> dict[str, Any]:
    location: dict[str, Any] = {
        "address": place.address,
        "coordinates": {"latitude": place.lat, "longitude": place.lon},
    }
    if city_code is not None:
        location["cityCode"] = city_code
    return location


def _contact(place: Place, sms_enabled: bool) -> dict[str, Any]:
    """A person to call at one end; the place's own name (a hospital) becomes the company when both are given."""
    contact: dict[str, Any] = {
        "firstName": place.contact_name or place.name,
        # E.164 without "+", which is what normalize_phone yields (couriers.md 2.3).
        "phone": normalize_phone(place.phone),
        "smsEnabled": sms_enabled,
    }
    if place.contact_name and place.contact_name != place.name:
        contact["companyName"] = place.name
    if place.note:
        contact["instruction"] = place.note[:MAX_INSTRUCTION]
    return contact


def parse_errors(body: Any) -> list[str]:
    """Collect Grab's error messages.

    The error body schema is NOT FOUND (couriers.md 2.7): the one known JSON shape is ``{target, reason,
    message}``, and one client reads the body as plain text, so a JSON string counts as a message too.
    """
    if isinstance(body, str):
        text = _text(body)
        return [text] if text is not None else []
    if not isinstance(body, Mapping):
        return []
    messages: list[str] = []
    for key in ("message", "reason"):
        text = _text(body.get(key))
        if text is not None and text not in messages:
            messages.append(text)
    return messages


def parse_quote(body: Any, *, service: str, observed_at: datetime) -> Quote:
    """Quote the first offer for the requested service type; none at all means Grab cannot serve the route."""
    wanted = service_type(service)
    quotes = _object(body).get("quotes")
    offers = [
        offer
        for offer in (quotes if isinstance(quotes, list) else [])
        if isinstance(offer, Mapping) and _service_type_of(offer) == wanted
    ]
    if not offers:
        return Quote(courier=COURIER, service=service, price_idr=0, distance_km=None, serviceable=False)
    offer = offers[0]
    currency = _currency(offer)
    if currency not in (None, "IDR"):
        # A wrong-country account must not be mistaken for a cheap one.
        raise CourierError([f"GrabExpress priced in {currency}, not IDR: check the account's country"])
    price = _idr(offer)
    if price is None:
        raise CourierError(["GrabExpress quote has no amount"])
    timeline = offer.get("estimatedTimeline")
    dropoff = _timestamp(timeline.get("dropoff")) if isinstance(timeline, Mapping) else None
    return Quote(
        courier=COURIER,
        service=service,
        price_idr=price,
        distance_km=_kilometres(offer.get("distance")),
        serviceable=True,
        eta_minutes=_minutes_until(dropoff, observed_at),
        raw=offer,
    )


def parse_booking(body: Any, request: DeliveryRequest) -> Booking:
    payload = _object(body)
    delivery_id = _text(payload.get("deliveryID"))
    if delivery_id is None:
        raise CourierError(["GrabExpress accepted the delivery but returned no deliveryID"])
    _, status = map_status(_text(payload.get("status")) or "")
    return Booking(
        courier=COURIER,
        provider_order_id=delivery_id,
        reference=request.reference,
        status=status,
        raw=payload,
    )


def map_status(value: str, failed_reason: str | None = None) -> tuple[str, CourierStatus]:
    """Map a status to (code, canonical) by the table; anything not in it is UNKNOWN, never a guess.

    ``failed_reason`` only matters for FAILED: recorded deliveries carry a stale reason on COMPLETED.
    """
    code = value.strip().upper()
    code = CODE_BY_SPELLING.get(code, code)
    status = STATUS_BY_CODE.get(code)
    if status is None:
        return value, CourierStatus.UNKNOWN
    if status is CourierStatus.FAILED and _reason_code(failed_reason) == NO_DRIVER_REASON_CODE:
        return code, CourierStatus.NO_DRIVER
    return code, status


def _reason_code(failed_reason: str | None) -> str | None:
    """``"6|Could not find driver"`` -> ``"6"``."""
    if failed_reason is None:
        return None
    return failed_reason.partition("|")[0].strip() or None


def parse_delivery(body: Any, *, observed_at: datetime) -> CourierEvent:
    """Turn a get-delivery response into an event.

    It is dated when we observed it (the timeline has no entry for most statuses), and its id is the same for
    every poll that sees the same status, which lets the dispatcher drop repeated polls as duplicates.
    """
    payload = _object(body)
    delivery_id = _text(payload.get("deliveryID"))
    provider_status = _text(payload.get("status"))
    if delivery_id is None or provider_status is None:
        raise CourierError(["GrabExpress delivery response lacks deliveryID or status"])
    advance_info = payload.get("advanceInfo")
    failed_reason = _text(advance_info.get("failedReason")) if isinstance(advance_info, Mapping) else None
    code, status = map_status(provider_status, failed_reason)
    courier = payload.get("courier")
    driver = courier if isinstance(courier, Mapping) else {}
    vehicle = driver.get("vehicle")
    quote = payload.get("quote")
    return CourierEvent(
        courier=COURIER,
        provider_order_id=delivery_id,
        status=status,
        provider_status=code,
        event_id=f"{delivery_id}:{code}:poll",
        occurred_at=observed_at,
        reference=_text(payload.get("merchantOrderID")),
        driver_name=_text(driver.get("name")),
        driver_phone=_text(driver.get("phone")),
        vehicle_plate=_text(vehicle.get("licensePlate")) if isinstance(vehicle, Mapping) else None,
        tracking_url=_text(payload.get("trackingURL")),
        price_idr=_idr(quote) if isinstance(quote, Mapping) else None,
        raw=payload,
    )


def parse_webhook(body: bytes) -> CourierEvent:
    """Parse a tracking webhook; it must name the delivery, its status and when it happened.

    Grab sends no event id, so the id is (deliveryID, status, timestamp), as couriers.md 2.6 advises; the
    timestamp is required because the dispatcher orders out-of-order callbacks by it.
    """
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise WebhookPayloadError(f"GrabExpress webhook body is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise WebhookPayloadError("GrabExpress webhook body is not a JSON object")
    delivery_id = _text(payload.get("deliveryID"))
    provider_status = _text(payload.get("status"))
    if delivery_id is None or provider_status is None:
        raise WebhookPayloadError("GrabExpress webhook lacks deliveryID or status")
    seconds, occurred_at = _event_time(payload.get("timestamp"))
    code, status = map_status(provider_status, _text(payload.get("failedReason")))
    driver = payload.get("driver")
    driver = driver if isinstance(driver, Mapping) else {}
    return CourierEvent(
        courier=COURIER,
        provider_order_id=delivery_id,
        status=status,
        provider_status=code,
        event_id=f"{delivery_id}:{code}:{seconds}",
        occurred_at=occurred_at,
        reference=_text(payload.get("merchantOrderID")),
        driver_name=_text(driver.get("name")),
        driver_phone=_text(driver.get("phone")),
        vehicle_plate=_text(driver.get("licensePlate")),
        # The webhook spells it trackURL, the REST API trackingURL (couriers.md 2.6).
        tracking_url=_text(payload.get("trackURL")),
        # Signed and short-lived (about 2 h): whoever needs the photo must fetch it promptly.
        proof_of_delivery_url=_text(payload.get("dropoffProofURL")),
        raw=payload,
    )


def _event_time(value: Any) -> tuple[int, datetime]:
    """Read ``timestamp`` (Unix seconds, couriers.md 2.6 MED) as the integer used in ids and an aware datetime.

    There is no captured sample, so a decimal string is accepted as well; milliseconds would land past the year
    9999 and are refused rather than misread.
    """
    if isinstance(value, str) and value.strip().isdecimal():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise WebhookPayloadError("GrabExpress webhook lacks a numeric timestamp")
    seconds = int(value)
    try:
        return seconds, datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise WebhookPayloadError(f"GrabExpress webhook timestamp out of range: {value!r}") from exc


def _service_type_of(offer: Mapping[str, Any]) -> str | None:
    service = offer.get("service")
    return _text(service.get("type")) if isinstance(service, Mapping) else None


def _currency(priced: Mapping[str, Any]) -> str | None:
    currency = priced.get("currency")
    return _text(currency.get("code")) if isinstance(currency, Mapping) else None


def _idr(priced: Mapping[str, Any]) -> int | None:
    """Read ``amount`` as rupiah; None when absent or in another currency.

    ``amount`` is in major units whatever ``currency.exponent`` says: Grab's docs quote S$11 as ``amount: 11``
    with exponent 2.
    """
    amount = priced.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int | float) or not math.isfinite(amount):
        return None
    if _currency(priced) not in (None, "IDR"):
        return None
    return round(amount)


def _kilometres(metres: Any) -> float | None:
    if isinstance(metres, bool) or not isinstance(metres, int | float) or not math.isfinite(metres):
        return None
    return metres / 1000


def _timestamp(value: Any) -> datetime | None:
    text = _text(value)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _minutes_until(moment: datetime | None, observed_at: datetime) -> int | None:
    """Whole minutes from now until ``moment``; None when unknown or already past (a stale estimate)."""
    if moment is None or moment <= observed_at:
        return None
    return math.ceil((moment - observed_at).total_seconds() / 60)


def _object(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise CourierError(
            [f"unexpected GrabExpress response: expected a JSON object, got {type(value).__name__}"]
        )
    return value


def _text(value: Any) -> str | None:
    """Grab sends empty strings (not null) for links it does not have yet; both mean "not known"."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None
