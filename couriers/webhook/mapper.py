"""Pure translation between our canonical types and the local-partner protocol (docs/courier-partner-protocol.md).

We define this protocol, so its payloads are pydantic models and the published JSON Schemas
(``job.schema.json``, ``status.schema.json`` next to this module) are generated from them by
``python -m couriers.webhook``: what we validate and what partners build against cannot drift apart.
Models are strict and forbid unknown fields, because a partner's typo ("handoverPin") must be refused while it
integrates, not silently dropped at a patient's door.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import phonenumbers
from geopy.distance import geodesic
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)

from couriers.base import (
    Booking,
    Capabilities,
    CourierError,
    CourierEvent,
    CourierStatus,
    DeliveryRequest,
    OutsideServiceArea,
    Place,
    Quote,
    WebhookPayloadError,
)

COURIER = "webhook"
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# Job ids are our booking references; they also go into webhook-ids, which may not contain "." or spaces.
JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
JobId = Annotated[str, Field(pattern=JOB_ID.pattern, description="Our reference for the job.")]
Phone = Annotated[str, Field(pattern=r"^\+62[0-9]{7,13}$", description="Indonesian number in E.164 form.")]
# Event times as RFC 3339 with an offset; the pattern puts into the schema what AwareDatetime checks, since
# JSON Schema validators do not check "format" unless asked to.
RFC3339 = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$"
)


def _rfc3339(value: Any) -> datetime:
    """Parse here: after a before-validator a strict model takes only datetimes, and this keeps out epoch numbers."""
    if not isinstance(value, str) or not RFC3339.fullmatch(value):
        raise ValueError("timestamp must be RFC 3339 with a UTC offset, e.g. 2026-11-29T15:40:12+07:00")
    return datetime.fromisoformat(value)


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339),
    Field(
        json_schema_extra={"pattern": RFC3339.pattern},
        description="When it happened (RFC 3339, with offset).",
    ),
]
HttpsUrl = Annotated[str, Field(pattern=r"^https://\S+$", max_length=2000)]
Text = Annotated[str, Field(min_length=1, max_length=500)]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- our -> partner ------------------------------------------------------------------------------------------


class Stop(_Payload):
    """Where the driver picks up or hands over; the phone is the one to call on arrival."""

    name: Text
    contact_name: Text
    phone: Phone
    address: Text
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    note: str = Field(default="", max_length=500)


class OfferData(_Payload):
    """A job for the partner. The handover PIN is deliberately absent: the patient tells it to the driver."""

    job_id: JobId
    service: Literal["instant", "same_day"]
    cold_chain: bool = Field(description="Carry in the insulated box and go straight to the patient.")
    pickup: Stop
    dropoff: Stop
    item_description: Text = Field(description="A generic parcel description; never names the medicines.")
    weight_kg: float = Field(gt=0)
    distance_km: float = Field(ge=0, description="Straight-line distance the fee was computed from.")
    fee_idr: int = Field(ge=0, description="What we pay for this job under the agreed tariff.")


class CancelData(_Payload):
    job_id: JobId


class JobOffered(_Payload):
    type: Literal["job.offered"]
    timestamp: Timestamp
    data: OfferData


class JobCancelled(_Payload):
    type: Literal["job.cancelled"]
    timestamp: Timestamp
    data: CancelData


JobMessage = TypeAdapter(Annotated[JobOffered | JobCancelled, Field(discriminator="type")])


# --- partner -> us -------------------------------------------------------------------------------------------


class Driver(_Payload):
    name: Text
    phone: Phone
    vehicle_plate: str | None = Field(default=None, max_length=20)


class Receiver(_Payload):
    """Who took the parcel when it was not the patient (a relative, a neighbour)."""

    name: Text
    relation: str | None = Field(default=None, max_length=50)


class JobData(_Payload):
    job_id: JobId
    partner_job_id: str | None = Field(default=None, max_length=100)
    driver: Driver | None = Field(default=None, description="Resend it when the driver changes.")
    tracking_url: HttpsUrl | None = None


class AcceptedData(JobData):
    driver: Driver


class DeliveredData(JobData):
    handover_pin: str = Field(
        pattern=r"^[0-9]{4,8}$", description="The PIN the receiver told the driver, exactly as told."
    )
    proof_photo_url: HttpsUrl | None = None
    receiver: Receiver | None = None


class FailedData(JobData):
    reason: Text


class GivenBackData(JobData):
    reason: Text | None = None


class JobAccepted(_Payload):
    type: Literal["job.accepted"]
    timestamp: Timestamp
    data: AcceptedData


class JobPickedUp(_Payload):
    type: Literal["job.picked_up"]
    timestamp: Timestamp
    data: JobData


class JobArriving(_Payload):
    type: Literal["job.arriving"]
    timestamp: Timestamp
    data: JobData


class JobDelivered(_Payload):
    type: Literal["job.delivered"]
    timestamp: Timestamp
    data: DeliveredData


class JobFailed(_Payload):
    type: Literal["job.failed"]
    timestamp: Timestamp
    data: FailedData


class JobGivenBack(_Payload):
    type: Literal["job.declined", "job.no_driver", "job.cancelled"]
    timestamp: Timestamp
    data: GivenBackData


StatusModel = JobAccepted | JobPickedUp | JobArriving | JobDelivered | JobFailed | JobGivenBack
StatusMessage: TypeAdapter[StatusModel] = TypeAdapter(Annotated[StatusModel, Field(discriminator="type")])

STATUS_BY_TYPE: Mapping[str, CourierStatus] = {
    "job.accepted": CourierStatus.DRIVER_ASSIGNED,
    "job.picked_up": CourierStatus.PICKED_UP,
    "job.arriving": CourierStatus.EN_ROUTE_DROPOFF,
    "job.delivered": CourierStatus.DELIVERED,
    "job.failed": CourierStatus.FAILED,
    # Declining is not a failure of the delivery: the dispatcher offers the order to the next courier.
    "job.declined": CourierStatus.NO_DRIVER,
    "job.no_driver": CourierStatus.NO_DRIVER,
    "job.cancelled": CourierStatus.CANCELLED,
}


def schemas() -> dict[str, dict[str, Any]]:
    """The published schemas by file name, as ``python -m couriers.webhook`` writes them."""
    return {
        "job.schema.json": {
            "$schema": SCHEMA_DIALECT,
            "title": "Gancang job message (Gancang -> partner)",
            "description": "Body of a signed POST to the partner's job URL. See docs/courier-partner-protocol.md.",
            **JobMessage.json_schema(),
        },
        "status.schema.json": {
            "$schema": SCHEMA_DIALECT,
            "title": "Partner status message (partner -> Gancang)",
            "description": (
                "Body of a signed POST to Gancang's webhook endpoint, and of the partner's optional status "
                "lookup response. See docs/courier-partner-protocol.md."
            ),
            **StatusMessage.json_schema(),
        },
    }


# --- requests ------------------------------------------------------------------------------------------------


def job_id(reference: str) -> str:
    """Our reference is the partner's job id; one that cannot travel in a webhook-id is a wiring bug."""
    if not JOB_ID.fullmatch(reference):
        raise CourierError([f"reference {reference!r} cannot be used as a partner job id"])
    return reference


def message_id(job: str, kind: Literal["offered", "cancelled"]) -> str:
    """One webhook-id per job message, identical on every retry, so the partner can drop repeats."""
    return f"msg_{job}_{kind}"


def ensure_served(request: DeliveryRequest, capabilities: Capabilities) -> float:
    """The trip's distance, after refusing trips outside the partner's area or reach (before any HTTP call).

    Geodesic, as the dispatcher measures, so an order it picks this partner for is not refused at the limit.
    """
    if not capabilities.serves(request.origin.lat, request.origin.lon):
        raise OutsideServiceArea(COURIER, "the pickup point")
    if not capabilities.serves(request.destination.lat, request.destination.lon):
        raise OutsideServiceArea(COURIER, "the drop-off point")
    distance = float(
        geodesic(
            (request.origin.lat, request.origin.lon), (request.destination.lat, request.destination.lon)
        ).km
    )
    limit = capabilities.max_distance_km
    if limit is not None and distance > limit:
        raise OutsideServiceArea(COURIER, f"a {distance:.1f} km trip (limit {limit:g} km)")
    return distance


def ensure_offered(service: str, capabilities: Capabilities) -> str:
    offered = {"instant": capabilities.instant, "same_day": capabilities.same_day}
    if not offered.get(service, False):
        raise CourierError([f"the partner does not offer service {service!r}"])
    return service


def fee_idr(distance_km: float, *, base_fee_idr: int, per_km_idr: int) -> int:
    """Flat fee plus a price per started kilometre, as local ojek tariffs are quoted."""
    return base_fee_idr + per_km_idr * math.ceil(distance_km)


def quote(service: str, distance_km: float, price_idr: int) -> Quote:
    return Quote(
        courier=COURIER,
        service=service,
        price_idr=price_idr,
        distance_km=round(distance_km, 3),
        serviceable=True,
    )


def offer_data(request: DeliveryRequest, *, distance_km: float, price_idr: int) -> dict[str, Any]:
    fields = {
        "job_id": job_id(request.reference),
        "service": request.service,
        "cold_chain": request.cold_chain,
        "pickup": _stop(request.origin),
        "dropoff": _stop(request.destination),
        "item_description": request.item_description,
        "weight_kg": request.weight_kg,
        "distance_km": round(distance_km, 3),
        "fee_idr": price_idr,
    }
    try:
        data = OfferData.model_validate(fields)
    except ValidationError as exc:
        # Field names and reasons only: the values are a patient's name, phone and address.
        raise CourierError([f"the job cannot be sent to the partner: {_problems(exc)}"]) from None
    return data.model_dump(mode="json")


def _stop(place: Place) -> dict[str, Any]:
    return {
        "name": place.name,
        "contact_name": place.contact_name or place.name,
        "phone": e164(place.phone),
        "address": place.address,
        "lat": place.lat,
        "lon": place.lon,
        "note": place.note,
    }


def e164(phone: str) -> str:
    """Any dialable Indonesian number (a pharmacy landline too) in E.164, the one form the protocol allows.

    Anything else is returned as given, for the payload model to refuse with the field's name.
    """
    try:
        number = phonenumbers.parse(phone, "ID")
    except phonenumbers.NumberParseException:
        return phone
    if number.country_code != 62 or not phonenumbers.is_valid_number(number):
        return phone
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def cancel_data(job: str) -> dict[str, Any]:
    return CancelData(job_id=job_id(job)).model_dump(mode="json")


# --- responses -----------------------------------------------------------------------------------------------


def parse_booking(body: Any, request: DeliveryRequest) -> Booking:
    """Any 2xx means the partner has the job; it may answer with its own id, which we keep but never use as
    the key: our reference names the job in every message both ways."""
    return Booking(
        courier=COURIER,
        provider_order_id=request.reference,
        reference=request.reference,
        status=CourierStatus.REQUESTED,
        raw=body if isinstance(body, Mapping) else {},
    )


def error_messages(body: Any, text: str) -> list[str]:
    """The partner's own reason, from ``{"message": …}`` / ``{"error": …}``, else the start of the body."""
    if isinstance(body, Mapping):
        found = [body[key] for key in ("message", "error") if isinstance(body.get(key), str) and body[key]]
        if found:
            return found
    snippet = " ".join(text.split())[:300]
    return [snippet] if snippet else []


def parse_status(body: bytes, job: str) -> CourierEvent:
    """A status lookup answers with the latest status message.

    Its id is the same for every poll that sees the same message, so repeated polls are dropped as duplicates.
    """
    try:
        message = StatusMessage.validate_json(body)
    except ValidationError as exc:
        raise CourierError([f"partner status response is not a status message: {_problems(exc)}"]) from None
    if message.data.job_id != job:
        raise CourierError([f"partner answered the status of job {message.data.job_id!r}, not {job!r}"])
    return _event(message, json.loads(body), event_id=f"{job}:{message.type}:{message.timestamp.isoformat()}")


def parse_webhook(headers: Mapping[str, str], body: bytes) -> CourierEvent:
    """Parse a verified status webhook.

    The event id is the job id plus the partner's webhook-id: the webhook-id alone is unique only among one
    partner's messages, and every partner shares this courier's inbox.
    """
    webhook_id = {key.lower(): value for key, value in headers.items()}.get("webhook-id", "").strip()
    if not webhook_id:
        raise WebhookPayloadError("partner webhook has no webhook-id header")
    try:
        message = StatusMessage.validate_json(body)
    except ValidationError as exc:
        raise WebhookPayloadError(
            f"partner webhook does not match status.schema.json: {_problems(exc)}"
        ) from None
    return _event(message, json.loads(body), event_id=f"{message.data.job_id}:{webhook_id}")


def _event(message: StatusModel, raw: Mapping[str, Any], *, event_id: str) -> CourierEvent:
    data = message.data
    driver = data.driver
    delivered = data if isinstance(data, DeliveredData) else None
    receiver = delivered.receiver if delivered else None
    return CourierEvent(
        courier=COURIER,
        provider_order_id=data.job_id,
        status=STATUS_BY_TYPE[message.type],
        provider_status=message.type,
        event_id=event_id,
        occurred_at=message.timestamp.astimezone(UTC),
        reference=data.job_id,
        driver_name=driver.name if driver else None,
        driver_phone=driver.phone if driver else None,
        vehicle_plate=driver.vehicle_plate if driver else None,
        tracking_url=data.tracking_url,
        handover_pin=delivered.handover_pin if delivered else None,
        proof_of_delivery_url=delivered.proof_photo_url if delivered else None,
        receiver_name=_receiver_name(receiver),
        raw=raw,
    )


def _receiver_name(receiver: Receiver | None) -> str | None:
    if receiver is None:
        return None
    return f"{receiver.name} ({receiver.relation})" if receiver.relation else receiver.name


def _problems(exc: ValidationError) -> str:
    """Where and why a payload is wrong, never the values (PINs, phones)."""
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or '(body)'}: {error['msg']}"
        for error in exc.errors(include_input=False, include_url=False)
    )
