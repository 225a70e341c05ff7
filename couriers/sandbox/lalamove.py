"""The Lalamove v3 dialect: HMAC-signed requests, quotations, orders, drivers and signed webhooks.

Follows couriers.md section 3. Errors use the documented ``{"errors": [{"id", "message"}]}`` shape; an
order outside the served cities gets exactly the body the live sandbox answered with,
``{"errors": [{"id": "ERR_OUT_OF_SERVICE_AREA"}]}``. Lalamove has no failed-delivery status: the sandbox marks
the drop-off stop's POD ``FAILED`` and cancels the order (the sandbox's own choice).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from geopy.distance import great_circle
from pydantic import BaseModel, Field, ValidationError

from couriers.gosend.mapper import normalize_phone
from couriers.sandbox.config import DialectName, LalamoveDialectConfig
from couriers.sandbox.engine import ApiError, Engine, Journey, Outgoing, Step, validation_messages

STATUSES: dict[Step, tuple[str, ...]] = {
    Step.CREATED: ("ASSIGNING_DRIVER",),
    Step.ALLOCATED: ("ON_GOING",),
    Step.TO_PICKUP: (),
    Step.PICKED_UP: ("PICKED_UP",),
    Step.TO_DROPOFF: (),
    Step.WRONG_PIN: (),  # no receiver's PIN at Lalamove: a wrong-PIN-first journey is a happy one
    Step.DELIVERED: ("COMPLETED",),
    Step.NO_DRIVER: ("EXPIRED",),
    Step.DELIVERY_FAILED: ("CANCELED",),
    # A driver who rejects sends the order back to matching (the documented regression); after too many
    # rejections it ends REJECTED.
    Step.DRIVER_CANCELLED: ("ASSIGNING_DRIVER", "REJECTED"),
    Step.CANCELLED: ("CANCELED",),
}
WITH_DRIVER = frozenset({"ON_GOING", "PICKED_UP", "COMPLETED", "CANCELED"})
SERVICE_TYPES = frozenset({"MOTORCYCLE", "SEDAN", "MPV", "VAN", "TRUCK175"})
MIN_STOPS, MAX_STOPS = 2, 16
_PHONE = re.compile(r"\+[1-9]\d{1,14}", re.ASCII)
_AUTHORIZATION = re.compile(r"hmac ([^:\s]+):(\d+):([0-9a-f]{64})", re.ASCII)


@dataclass(frozen=True)
class City:
    code: str
    name: str
    lat: float
    lon: float
    radius_km: float


# couriers.md 0.6: Lalamove Indonesia lists only these three cities. The codes follow ID_SUB (Lalamove's
# changelog); ID_JKT and ID_BDO are the sandbox's guesses in the same style.
CITIES = (
    City("ID_JKT", "Jakarta", -6.2088, 106.8456, 45.0),
    City("ID_BDO", "Bandung", -6.9175, 107.6191, 30.0),
    City("ID_SUB", "Surabaya", -7.2575, 112.7521, 30.0),
)


class _Coordinates(BaseModel):
    lat: str = Field(pattern=r"^-?\d{1,3}(\.\d+)?$")
    lng: str = Field(pattern=r"^-?\d{1,3}(\.\d+)?$")


class _Stop(BaseModel):
    coordinates: _Coordinates
    address: str = Field(min_length=1)


class _QuotationBody(BaseModel):
    serviceType: str
    language: str = "en_ID"
    stops: list[_Stop]
    scheduleAt: str | None = None
    isRouteOptimized: bool = False


class _Contact(BaseModel):
    stopId: str = Field(min_length=1)
    name: str = Field(min_length=1)
    phone: str
    remarks: str = Field(default="", max_length=1500)


class _OrderBody(BaseModel):
    quotationId: str = Field(min_length=1)
    sender: _Contact
    recipients: list[_Contact] = Field(min_length=1)
    isPODEnabled: bool = False
    partner: str | None = None
    metadata: dict[str, Any] = {}


@dataclass(frozen=True)
class Quotation:
    id: str
    body: _QuotationBody
    stop_ids: tuple[str, ...]
    city: City
    distance_km: float
    price_idr: int
    created_at: datetime
    expires_at: datetime


class Lalamove:
    name: ClassVar[DialectName] = "lalamove"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.config: LalamoveDialectConfig = engine.config.lalamove
        self.webhook_url = self.config.webhook_url
        self.quotations: dict[str, Quotation] = {}
        self.router = self._router()

    def statuses(self, step: Step) -> tuple[str, ...]:
        return STATUSES[step]

    def render_error(self, error: ApiError) -> Response:
        entry = {"id": error.code or "ERR_UNKNOWN"}
        if error.message:
            entry["message"] = error.message
        return JSONResponse({"errors": [entry]}, status_code=error.status_code, headers=error.headers)

    def sign(self, timestamp: int, method: str, path: str, body: str) -> str:
        message = f"{timestamp}\r\n{method}\r\n{path}\r\n\r\n{body}"
        return hmac.new(self.config.api_secret.encode(), message.encode(), hashlib.sha256).hexdigest()

    def webhooks(self, journey: Journey, status: str, previous: str) -> list[Outgoing]:
        """ORDER_STATUS_CHANGED for every change (none for the first status: nothing changed yet), preceded by
        DRIVER_ASSIGNED when a driver is matched."""
        if self.webhook_url is None or not previous:
            return []
        moment = journey.at(status)
        assert moment is not None
        quotation: Quotation = journey.detail["quotation"]
        driver = journey.driver
        events: list[tuple[str, dict[str, Any]]] = []
        if status == "ON_GOING" and previous == "ASSIGNING_DRIVER" and driver is not None:
            events.append(
                (
                    "DRIVER_ASSIGNED",
                    {
                        "driver": {
                            "driverId": str(driver.id),
                            "phone": "+" + driver.phone,
                            "name": driver.name,
                            "photo": "",
                            "plateNumber": _masked(driver.plate),
                        },
                        "location": {"lat": quotation.city.lat, "lng": quotation.city.lon},
                        "order": {"orderId": journey.provider_id},
                        "updatedAt": _z(moment),
                    },
                )
            )
        order = {
            "orderId": journey.provider_id,
            "scheduleAt": _z(quotation.created_at),
            "shareLink": self._share_link(journey),
            "market": quotation.city.code,
            "createdAt": _z(quotation.created_at),
            "driverId": str(driver.id) if driver and status in WITH_DRIVER else "",
            "previousStatus": previous,
            "status": status,
        }
        events.append(("ORDER_STATUS_CHANGED", {"order": order, "updatedAt": _z(moment)}))
        path = urlsplit(self.webhook_url).path or "/"
        outgoing = []
        for event_type, data in events:
            timestamp = int(time.time() * 1000)
            serialized = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
            event_id = str(uuid.uuid4()).upper()
            envelope = {
                "apiKey": self.config.api_key,
                "timestamp": timestamp,
                "signature": self.sign(timestamp, "POST", path, serialized),
                "eventId": event_id,
                "eventType": event_type,
                "eventVersion": "v3",
                "data": data,
            }
            body = json.dumps(envelope, ensure_ascii=False).encode()
            outgoing.append(
                Outgoing(self.webhook_url, body, event_id, f"{event_type}:{status}", lambda _b: {})
            )
        return outgoing

    def _share_link(self, journey: Journey) -> str:
        return f"https://share.sandbox.lalamove.invalid/?{journey.provider_id}&lang=en_ID"

    def _quotation_data(self, quotation: Quotation) -> dict[str, Any]:
        body = quotation.body
        price = str(quotation.price_idr)
        return {
            "quotationId": quotation.id,
            "scheduleAt": _z(quotation.created_at),
            "expiresAt": _z(quotation.expires_at),
            "serviceType": body.serviceType,
            "specialRequests": [],
            "language": body.language.upper(),
            "stops": [
                {"stopId": stop_id} | stop.model_dump()
                for stop_id, stop in zip(quotation.stop_ids, body.stops, strict=True)
            ],
            "isRouteOptimized": body.isRouteOptimized,
            "priceBreakdown": {
                "base": price,
                "totalBeforeOptimization": price,
                "totalExcludePriorityFee": price,
                "total": price,
                "currency": "IDR",
            },
            "distance": {"value": str(round(quotation.distance_km * 1000)), "unit": "m"},
        }

    def _order_data(self, journey: Journey) -> dict[str, Any]:
        quotation: Quotation = journey.detail["quotation"]
        order: _OrderBody = journey.detail["order"]
        driver = journey.driver if journey.status in WITH_DRIVER else None
        contacts = [order.sender, *order.recipients]
        stops = []
        for index, (stop_id, stop) in enumerate(zip(quotation.stop_ids, quotation.body.stops, strict=True)):
            contact = next(c for c in contacts if c.stopId == stop_id)
            entry: dict[str, Any] = {
                "stopId": stop_id,
                **stop.model_dump(),
                "name": contact.name,
                "phone": contact.phone,
            }
            if index:
                entry["POD"] = self._pod(journey)
            stops.append(entry)
        return {
            "orderId": journey.provider_id,
            "quotationId": quotation.id,
            "priceBreakdown": self._quotation_data(quotation)["priceBreakdown"],
            "driverId": str(driver.id) if driver else "",
            "shareLink": self._share_link(journey),
            "status": journey.status,
            "distance": {"value": str(round(quotation.distance_km * 1000)), "unit": "m"},
            "stops": stops,
            "metadata": order.metadata,
        }

    def _pod(self, journey: Journey) -> dict[str, Any]:
        delivered = journey.at("COMPLETED")
        if delivered is not None:
            image = f"https://pod.sandbox.lalamove.invalid/{journey.provider_id}.jpg"
            return {"status": "DELIVERED", "image": image, "deliveredAt": _z(delivered)}
        failed = journey.status == "CANCELED" and journey.knobs.scenario == "failed_delivery"
        return {"status": "FAILED" if failed else "PENDING", "image": "", "deliveredAt": ""}

    def _router(self) -> APIRouter:
        engine, config = self.engine, self.config

        async def gate(request: Request) -> None:
            await engine.gate(self.name, request)

        async def authenticate(
            request: Request,
            authorization: Annotated[str, Header()] = "",
            market: Annotated[str, Header()] = "",
        ) -> None:
            """Check the ``hmac key:timestamp:signature`` header over the exact bytes received (couriers.md 3.2)."""
            match = _AUTHORIZATION.fullmatch(authorization.strip())
            if match is None:
                raise ApiError(
                    401, "Authorization must be 'hmac <key>:<timestamp>:<signature>'", code="ERR_UNAUTHORIZED"
                )
            key, timestamp, signature = match.groups()
            # The path as received: behind the sandbox's prefix that is what the client sent and signed.
            path = request.scope.get("raw_path", b"").decode("ascii") or request.url.path
            expected = self.sign(int(timestamp), request.method, path, (await request.body()).decode())
            key_ok = hmac.compare_digest(key.encode(), config.api_key.encode())
            if not (hmac.compare_digest(signature, expected) and key_ok):
                raise ApiError(401, "invalid signature", code="ERR_UNAUTHORIZED")
            if abs(time.time() * 1000 - int(timestamp)) > config.clock_skew_seconds * 1000:
                raise ApiError(401, "request timestamp is too old or too new", code="ERR_UNAUTHORIZED")
            # couriers.md 3.1: Indonesia is ID; city-style values (ID_JKT) are accepted as well.
            if market != "ID" and market not in {city.code for city in CITIES}:
                raise ApiError(422, f"market {market!r} is not served", code="ERR_INVALID_MARKET")

        router = APIRouter(prefix="/lalamove/v3", dependencies=[Depends(gate), Depends(authenticate)])

        async def data(request: Request, model: type[BaseModel]) -> Any:
            try:
                wrapper = json.loads(await request.body())
            except ValueError:
                raise ApiError(400, "body is not JSON", code="ERR_INVALID_JSON") from None
            if not isinstance(wrapper, dict) or not isinstance(wrapper.get("data"), dict):
                raise ApiError(
                    422, "'data' validation failed: value cannot be null or empty.", code="ERR_REQUIRED_FIELD"
                )
            try:
                return model.model_validate(wrapper["data"])
            except ValidationError as exc:
                raise ApiError(422, "; ".join(validation_messages(exc)), code="ERR_REQUIRED_FIELD") from None

        def find(order_id: str) -> Journey:
            journey = engine.find(self.name, order_id)
            if journey is None:
                raise ApiError(404, f"order {order_id} not found", code="ERR_ORDER_NOT_FOUND")
            return journey

        def lalamove_id() -> str:
            return str(3_300_000_000_000_000_000 + engine.new_id())

        @router.post("/quotations", status_code=201, name="quote")
        async def quotations(request: Request) -> dict[str, Any]:
            body: _QuotationBody = await data(request, _QuotationBody)
            if body.serviceType not in SERVICE_TYPES:
                raise ApiError(
                    422, f"serviceType {body.serviceType} is not offered", code="ERR_INVALID_SERVICE_TYPE"
                )
            if len(body.stops) < MIN_STOPS:
                raise ApiError(422, "at least 2 stops are required", code="ERR_INSUFFICIENT_STOPS")
            if len(body.stops) > MAX_STOPS:
                raise ApiError(422, f"at most {MAX_STOPS} stops", code="ERR_TOO_MANY_STOPS")
            points = [(float(stop.coordinates.lat), float(stop.coordinates.lng)) for stop in body.stops]
            city = _city_of(points)
            distance_km = sum(great_circle(a, b).km for a, b in zip(points, points[1:], strict=False))
            _, price = engine.quote(points[0], points[-1])
            now = datetime.now(UTC)
            quotation = Quotation(
                id=lalamove_id(),
                body=body,
                stop_ids=tuple(lalamove_id() for _ in body.stops),
                city=city,
                distance_km=round(distance_km, 3),
                price_idr=price,
                created_at=now,
                expires_at=now + timedelta(seconds=config.quotation_ttl_seconds),
            )
            self.quotations[quotation.id] = quotation
            return {"data": self._quotation_data(quotation)}

        def valid_quotation(quotation_id: str) -> Quotation:
            quotation = self.quotations.get(quotation_id)
            if quotation is None or quotation.expires_at <= datetime.now(UTC):
                raise ApiError(422, "quotation is wrong or expired", code="ERR_INVALID_QUOTATION_ID")
            return quotation

        @router.get("/quotations/{quotation_id}", name="quote_details")
        async def quotation_details(quotation_id: str) -> dict[str, Any]:
            return {"data": self._quotation_data(valid_quotation(quotation_id))}

        @router.post("/orders", status_code=201, name="book")
        async def place_order(request: Request) -> dict[str, Any]:
            order: _OrderBody = await data(request, _OrderBody)
            quotation = valid_quotation(order.quotationId)
            contacts = [order.sender, *order.recipients]
            if (
                sorted(c.stopId for c in contacts) != sorted(quotation.stop_ids)
                or order.sender.stopId != quotation.stop_ids[0]
            ):
                raise ApiError(422, "stopId does not match the quotation's stops", code="ERR_INVALID_STOP_ID")
            for contact in contacts:
                if not _PHONE.fullmatch(contact.phone) or not contact.phone.startswith("+62"):
                    raise ApiError(
                        422,
                        f"{contact.phone!r} is not an Indonesian E.164 number",
                        code="ERR_INVALID_PHONE_NUMBER",
                    )
            phone = normalize_phone(order.recipients[-1].phone)
            reference = _reference(order.metadata)
            journey = Journey(
                id=engine.new_id(),
                dialect=self.name,
                provider_id=lalamove_id(),
                reference=reference,
                phone=phone,
                knobs=engine.knobs_for(phone, reference),
                distance_km=quotation.distance_km,
                price_idr=quotation.price_idr,
                detail={"quotation": quotation, "order": order},
            )
            engine.start(self, journey)
            return {"data": self._order_data(journey)}

        @router.get("/orders/{order_id}", name="status")
        async def order_details(order_id: str) -> dict[str, Any]:
            return {"data": self._order_data(find(order_id))}

        @router.get("/orders/{order_id}/drivers/{driver_id}", name="driver")
        async def driver_details(order_id: str, driver_id: str) -> dict[str, Any]:
            journey = find(order_id)
            driver = journey.driver if journey.status in WITH_DRIVER else None
            if driver is None or str(driver.id) != driver_id or journey.status in ("COMPLETED", "CANCELED"):
                raise ApiError(
                    403, "driver details are not available for this order now", code="ERR_FORBIDDEN"
                )
            quotation: Quotation = journey.detail["quotation"]
            return {
                "data": {
                    "driverId": str(driver.id),
                    "name": driver.name,
                    "phone": "+" + driver.phone,
                    "plateNumber": _masked(driver.plate),
                    "photo": "",
                    "coordinates": {
                        "lat": str(quotation.body.stops[0].coordinates.lat),
                        "lng": str(quotation.body.stops[0].coordinates.lng),
                        "updatedAt": _z(datetime.now(UTC)),
                    },
                }
            }

        @router.delete("/orders/{order_id}", status_code=204, name="cancel")
        async def cancel(order_id: str) -> Response:
            journey = find(order_id)
            matched = journey.at("ON_GOING")
            in_window = (
                journey.status == "ON_GOING"
                and matched is not None
                and (datetime.now(UTC) - matched).total_seconds() < config.cancel_window_seconds
            )
            if journey.status != "ASSIGNING_DRIVER" and not in_window:
                raise ApiError(409, f"order is {journey.status}", code="ERR_CANCELLATION_FORBIDDEN")
            engine.cancel(self, journey, "Cancelled by user")
            return Response(status_code=204)

        @router.patch("/webhook", name="set_webhook")
        async def set_webhook(request: Request) -> dict[str, Any]:
            """Lalamove first probes the URL with an empty body and keeps it only if it answers 200."""
            wrapper = json.loads(await request.body() or b"{}")
            url = (wrapper.get("data") or {}).get("url") if isinstance(wrapper, dict) else None
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ApiError(422, "'url' validation failed", code="ERR_REQUIRED_FIELD")
            try:
                probe = await engine.client.post(url, content=b"")
            except httpx.HTTPError:
                probe = None
            if probe is None or probe.status_code != 200:
                raise ApiError(422, "Non-200 response received", code="ERR_INVALID_RESPONSE")
            self.webhook_url = url
            return {"data": {"url": url}}

        return router


def _city_of(points: list[tuple[float, float]]) -> City:
    """Intra-city only: every stop inside one served city (couriers.md 3.7)."""
    for city in CITIES:
        if all(great_circle((city.lat, city.lon), point).km <= city.radius_km for point in points):
            return city
    raise ApiError(422, "", code="ERR_OUT_OF_SERVICE_AREA")


def _reference(metadata: dict[str, Any]) -> str:
    """Our reference rides in ``metadata`` under a key of our choosing; the first text value is taken."""
    return next((value for value in metadata.values() if isinstance(value, str)), "")


def _masked(plate: str) -> str:
    """Lalamove masks plates (``**LAM0V*``)."""
    compact = plate.replace(" ", "")
    return "**" + compact[2:-1] + "*"


def _z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 10_000:02d}Z"
