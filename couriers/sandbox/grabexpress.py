"""The GrabExpress dialect: OAuth2 client-credentials tokens, quotes, deliveries and tracking webhooks.

Follows couriers.md section 2. Grab's error body schema is NOT FOUND, so refusals use the one known JSON shape,
``{reason, message}``; token errors use OAuth2's ``{error, error_description}`` (RFC 6749 5.2).
"""

from __future__ import annotations

import hmac
import json
import secrets
import string
import time
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Annotated, Any, ClassVar, Literal

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError, model_validator

from couriers.gosend.mapper import normalize_phone
from couriers.sandbox.config import DialectName, GrabExpressDialectConfig
from couriers.sandbox.engine import ApiError, Engine, Journey, Outgoing, Step, iso, validation_messages

SCOPE = "grab_express.partner_deliveries"
STATUSES: dict[Step, tuple[str, ...]] = {
    Step.CREATED: ("ALLOCATING",),
    Step.ALLOCATED: ("PENDING_PICKUP",),
    Step.TO_PICKUP: ("PICKING_UP",),
    Step.PICKED_UP: ("PENDING_DROP_OFF",),
    Step.TO_DROPOFF: ("IN_DELIVERY",),
    Step.WRONG_PIN: (),  # no receiver's PIN at Grab: a wrong-PIN-first journey is a happy one
    Step.DELIVERED: ("COMPLETED",),
    Step.NO_DRIVER: ("FAILED",),
    Step.DELIVERY_FAILED: ("IN_RETURN", "RETURNED"),
    Step.DRIVER_CANCELLED: ("FAILED",),
    Step.CANCELLED: ("CANCELED",),
}
CANCELLABLE = frozenset({"QUEUEING", "ALLOCATING", "PENDING_PICKUP", "PICKING_UP"})
AFTER_PICKUP = frozenset({"PENDING_DROP_OFF", "IN_DELIVERY", "IN_RETURN", "COMPLETED", "RETURNED"})
# couriers.md 2.5 failedReason codes: 6 when nobody took the job, 2 when the driver dropped it.
FAILED_REASONS = {
    "no_driver": "6|Could not find driver",
    "driver_cancels": "2|Driver canceled : fake sender/order",
}
_ID_ALPHABET = string.ascii_uppercase + string.digits


class _Coordinates(BaseModel):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class _Location(BaseModel):
    address: str = Field(min_length=1)
    coordinates: _Coordinates
    keywords: str | None = None
    cityCode: str | None = None


class _Package(BaseModel):
    name: str = Field(min_length=1)
    description: str = Field(default="", max_length=500)
    quantity: int = Field(ge=1)
    price: float = Field(ge=0)
    dimensions: dict[str, float] = {}


class _QuoteBody(BaseModel):
    serviceType: Literal["INSTANT", "SAME_DAY", "BULK"]
    vehicleType: str = "BIKE"
    paymentMethod: Literal["CASH", "CASHLESS"] = "CASHLESS"
    payer: Literal["SENDER", "RECIPIENT"] = "SENDER"
    packages: list[_Package] = Field(min_length=1)
    origin: _Location
    destination: _Location

    @model_validator(mode="after")
    def _payer(self) -> _QuoteBody:
        if self.payer == "RECIPIENT" and self.paymentMethod == "CASHLESS":
            raise ValueError("Only SENDER payer value supported for CASHLESS payment method")
        return self


class _Contact(BaseModel):
    firstName: str = Field(min_length=1)
    lastName: str | None = None
    companyName: str | None = None
    email: str | None = None
    # E.164 without "+" (couriers.md 2.3).
    phone: str = Field(pattern=r"^[1-9]\d{6,14}$")
    smsEnabled: bool
    instruction: str | None = Field(default=None, max_length=1000)


class _DeliveryBody(_QuoteBody):
    merchantOrderID: str = Field(min_length=1)
    sender: _Contact
    recipient: _Contact


class GrabExpress:
    """Cancellation webhooks spell the status ``CANCELLED`` on even-numbered deliveries and ``CANCELED`` on
    odd-numbered ones (both are seen, couriers.md 2.5); the REST API always says ``CANCELED``."""

    name: ClassVar[DialectName] = "grabexpress"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.config: GrabExpressDialectConfig = engine.config.grabexpress
        self.tokens: dict[str, float] = {}
        self.router = self._router()

    def statuses(self, step: Step) -> tuple[str, ...]:
        return STATUSES[step]

    def render_error(self, error: ApiError) -> Response:
        reason = error.code or _reason(error.status_code)
        return JSONResponse(
            {"reason": reason, "message": error.message}, status_code=error.status_code, headers=error.headers
        )

    def webhooks(self, journey: Journey, status: str, previous: str) -> list[Outgoing]:
        config = self.config
        if config.webhook_url is None:
            return []
        moment = journey.at(status)
        assert moment is not None
        body: _DeliveryBody = journey.detail["body"]
        driver = journey.driver if journey.reached("PENDING_PICKUP") else None
        picked = journey.reached("PENDING_DROP_OFF")
        sent_status = status
        if status == "CANCELED":
            sent_status = "CANCELLED" if journey.id % 2 == 0 else "CANCELED"
        timestamp = int(moment.timestamp())
        payload: dict[str, Any] = {
            "deliveryID": journey.provider_id,
            "merchantOrderID": journey.reference,
            "timestamp": timestamp,
            "status": sent_status,
            "trackURL": self._tracking_url(journey) if picked else "",
            "pickupPin": journey.detail["pickup_pin"],
            "sender": _party(body.sender, body.origin),
            "recipient": _party(body.recipient, body.destination),
            "driver": (
                {
                    "name": driver.name,
                    "phone": driver.phone,
                    "licensePlate": driver.plate,
                    "photoURL": f"https://grab-sandbox.invalid/drivers/{driver.id}.jpg",
                    "currentLat": body.origin.coordinates.latitude,
                    "currentLng": body.origin.coordinates.longitude,
                }
                if driver
                else None
            ),
            "distance": round(journey.distance_km * 1000),
            "pickupProofURL": f"https://grab-sandbox.invalid/proofs/{journey.provider_id}/pickup.jpg"
            if picked
            else "",
            "dropoffProofURL": (
                f"https://grab-sandbox.invalid/proofs/{journey.provider_id}/dropoff.jpg"
                if status == "COMPLETED"
                else ""
            ),
            "cancelProofURL": "",
        }
        if status == "FAILED":
            payload["failedReason"] = FAILED_REASONS[journey.knobs.scenario]
        headers = {"Authorization": config.webhook_token} if config.webhook_token else {}
        if config.webhook_auth_id:
            headers["Authorization-Id"] = config.webhook_auth_id
        key = f"{journey.provider_id}:{sent_status}:{timestamp}"
        return [
            Outgoing(config.webhook_url, json.dumps(payload).encode(), key, sent_status, lambda _b: headers)
        ]

    def _tracking_url(self, journey: Journey) -> str:
        return f"https://grab-sandbox.invalid/track/{journey.provider_id}"

    def _quote(self, body: _QuoteBody, distance_km: float, price: int) -> dict[str, Any]:
        now = datetime.now(UTC)
        minutes = 10 + round(distance_km * 3)
        return {
            "service": {"id": 0, "type": body.serviceType, "name": "GrabExpress"},
            "currency": {"code": "IDR", "symbol": "Rp", "exponent": 0},
            "amount": price,
            "estimatedTimeline": {
                "pickup": _z(now + timedelta(minutes=10)),
                "dropoff": _z(now + timedelta(minutes=minutes)),
            },
            "distance": round(distance_km * 1000),
        }

    def _delivery_body(self, journey: Journey) -> dict[str, Any]:
        body: _DeliveryBody = journey.detail["body"]
        driver = journey.driver if journey.reached("PENDING_PICKUP") else None
        reason = FAILED_REASONS.get(journey.knobs.scenario) if journey.status == "FAILED" else None
        return {
            "deliveryID": journey.provider_id,
            "merchantOrderID": journey.reference,
            "paymentMethod": body.paymentMethod,
            "quote": self._quote(body, journey.distance_km, journey.price_idr)
            | {
                "origin": body.origin.model_dump(exclude_none=True),
                "destination": body.destination.model_dump(exclude_none=True),
                "packages": [package.model_dump() for package in body.packages],
            },
            "sender": body.sender.model_dump(exclude_none=True),
            "recipient": body.recipient.model_dump(exclude_none=True),
            "status": journey.status,
            "trackingURL": self._tracking_url(journey) if driver else "",
            "courier": (
                {
                    "name": driver.name,
                    "phone": driver.phone,
                    "pictureURL": f"https://grab-sandbox.invalid/drivers/{driver.id}.jpg",
                    "rating": 4.9,
                    "coordinates": body.origin.coordinates.model_dump(),
                    "vehicle": {
                        "licensePlate": driver.plate,
                        "model": "Honda Beat",
                        "physicalVehicleType": "BIKE",
                    },
                }
                if driver
                else None
            ),
            "timeline": {
                "create": iso(journey.at("ALLOCATING")),
                "allocate": iso(journey.at("PENDING_PICKUP")),
                "pickup": iso(journey.at("PENDING_DROP_OFF")),
                "dropoff": iso(journey.at("IN_DELIVERY")),
                "completed": iso(journey.at("COMPLETED")),
                "cancel": iso(journey.at("CANCELED")),
                "return": iso(journey.at("RETURNED")),
                "fail": iso(journey.at("FAILED")),
            },
            "schedule": None,
            "cashOnDelivery": None,
            "invoiceNo": "",
            "pickupPin": journey.detail["pickup_pin"],
            "advanceInfo": {"failedReason": reason} if reason else None,
        }

    def _router(self) -> APIRouter:
        engine, config = self.engine, self.config

        async def gate(request: Request) -> None:
            await engine.gate(self.name, request)

        async def bearer(authorization: Annotated[str, Header()] = "") -> None:
            scheme, _, token = authorization.partition(" ")
            expires = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
            if expires is None or expires < time.monotonic():
                raise ApiError(401, "invalid or expired access token", code="Unauthorized")

        router = APIRouter(prefix="/grabexpress", dependencies=[Depends(gate)])
        api = APIRouter(prefix="/v1", dependencies=[Depends(bearer)])

        @router.post("/grabid/v1/oauth2/token", name="token")
        async def token(request: Request) -> Response:
            try:
                body = json.loads(await request.body())
            except ValueError:
                return _oauth_error(400, "invalid_request", "body must be JSON")
            if not isinstance(body, dict) or body.get("grant_type") != "client_credentials":
                return _oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
            client_ok = hmac.compare_digest(
                str(body.get("client_id", "")).encode(), config.client_id.encode()
            )
            secret_ok = hmac.compare_digest(
                str(body.get("client_secret", "")).encode(), config.client_secret.encode()
            )
            if not (client_ok and secret_ok):
                return _oauth_error(401, "invalid_client", "client authentication failed")
            if body.get("scope") != SCOPE:
                return _oauth_error(400, "invalid_scope", f"scope must be {SCOPE}")
            access_token = secrets.token_urlsafe(32)
            self.tokens[access_token] = time.monotonic() + config.token_ttl_seconds
            return JSONResponse(
                {"access_token": access_token, "token_type": "Bearer", "expires_in": config.token_ttl_seconds}
            )

        def parse(model: type[_QuoteBody], raw: bytes) -> Any:
            try:
                return model.model_validate_json(raw)
            except ValidationError as exc:
                raise ApiError(400, "; ".join(validation_messages(exc)), code="Bad Request") from None

        def price(body: _QuoteBody) -> tuple[float, int]:
            origin, destination = body.origin.coordinates, body.destination.coordinates
            distance_km, total = engine.quote(
                (origin.latitude, origin.longitude), (destination.latitude, destination.longitude)
            )
            if distance_km > config.max_distance_km:
                raise ApiError(400, "Distance SLA Exceeded", code="Bad Request")
            return distance_km, total

        def find(delivery_id: str) -> Journey:
            journey = engine.find(self.name, delivery_id)
            if journey is None:
                raise ApiError(404, f"delivery {delivery_id} not found", code="Not Found")
            return journey

        def cancel_one(journey: Journey) -> None:
            if journey.status in AFTER_PICKUP:
                raise ApiError(409, "delivery already picked up and cannot be cancelled", code="Conflict")
            if journey.status not in CANCELLABLE:
                raise ApiError(409, f"delivery is {journey.status} and cannot be cancelled", code="Conflict")
            engine.cancel(self, journey, "Cancelled by sender")

        @api.post("/deliveries/quotes", name="quote")
        async def quotes(request: Request) -> dict[str, Any]:
            body = parse(_QuoteBody, await request.body())
            distance_km, total = price(body)
            return {
                "quotes": [self._quote(body, distance_km, total)],
                "origin": body.origin.model_dump(exclude_none=True),
                "destination": body.destination.model_dump(exclude_none=True),
                "packages": [package.model_dump() for package in body.packages],
            }

        @api.post("/deliveries", name="book")
        async def create(request: Request) -> dict[str, Any]:
            body: _DeliveryBody = parse(_DeliveryBody, await request.body())
            distance_km, total = price(body)
            try:
                phone = normalize_phone(body.recipient.phone)
            except ValueError as exc:
                raise ApiError(400, f"recipient.phone: {exc}", code="Bad Request") from None
            number = engine.new_id()
            rng = engine.rng
            journey = Journey(
                id=number,
                dialect=self.name,
                provider_id="IN-2-" + "".join(rng.choice(_ID_ALPHABET) for _ in range(20)),
                reference=body.merchantOrderID,
                phone=phone,
                knobs=engine.knobs_for(phone, body.merchantOrderID),
                distance_km=distance_km,
                price_idr=total,
                detail={"body": body, "pickup_pin": f"{rng.randint(0, 9999):04d}"},
            )
            engine.start(self, journey)
            return self._delivery_body(journey)

        @api.get("/deliveries/{delivery_id}", name="status")
        async def get(delivery_id: str) -> dict[str, Any]:
            return self._delivery_body(find(delivery_id))

        @api.delete("/deliveries/{delivery_id}", status_code=204, name="cancel")
        async def cancel(delivery_id: str) -> Response:
            cancel_one(find(delivery_id))
            return Response(status_code=204)

        @api.delete("/merchant/deliveries/{merchant_order_id}", status_code=204, name="cancel_by_reference")
        async def cancel_by_reference(merchant_order_id: str) -> Response:
            journeys = engine.by_reference(self.name, merchant_order_id)
            if not journeys:
                raise ApiError(404, f"no delivery for merchantOrderID {merchant_order_id}", code="Not Found")
            for journey in journeys:
                if journey.status in CANCELLABLE:
                    cancel_one(journey)
            return Response(status_code=204)

        router.include_router(api)
        return router


def _party(contact: _Contact, location: _Location) -> dict[str, str]:
    name = " ".join(part for part in (contact.firstName, contact.lastName) if part)
    return {"name": name, "address": location.address, "relationship": ""}


def _oauth_error(status_code: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status_code)


def _reason(status_code: int) -> str:
    return HTTPStatus(status_code).phrase


def _z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
