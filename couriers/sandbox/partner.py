"""The local partner dialect: the sandbox plays a partner of the protocol we publish
(docs/courier-partner-protocol.md, couriers/webhook/*.schema.json).

We POST signed ``job.offered`` / ``job.cancelled`` messages to ``/partner/jobs``; the sandbox answers, plays
the job, and POSTs signed status messages (``job.accepted`` … ``job.delivered``) to our webhook URL. Both
directions are Standard Webhooks; the optional status lookup is ``GET /partner/jobs/{job_id}``, signed over an
empty body. The sandbox builds its messages by hand rather than with our mapper, so the adapter's tests
against it check the published protocol, not the adapter against itself.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from standardwebhooks import Webhook

from couriers.gosend.mapper import normalize_phone
from couriers.sandbox.config import DialectName, PartnerDialectConfig
from couriers.sandbox.engine import ApiError, Engine, Journey, Outgoing, Step

# "offered" (no driver yet) and "withdrawn" (we cancelled) are the sandbox's own names; nothing is sent for them.
# "wrong_pin" is its name for a job.delivered carrying a misheard PIN, which the right one follows.
STATUSES: dict[Step, tuple[str, ...]] = {
    Step.CREATED: ("offered",),
    Step.ALLOCATED: ("job.accepted",),
    Step.TO_PICKUP: (),
    Step.PICKED_UP: ("job.picked_up",),
    Step.TO_DROPOFF: ("job.arriving",),
    Step.WRONG_PIN: ("wrong_pin",),
    Step.DELIVERED: ("job.delivered",),
    Step.NO_DRIVER: ("job.no_driver",),
    Step.DELIVERY_FAILED: ("job.failed",),
    Step.DRIVER_CANCELLED: ("job.cancelled",),
    Step.CANCELLED: ("withdrawn",),
}
CANCELLABLE = frozenset({"offered", "job.accepted"})
REASONS = {
    "job.no_driver": "Tidak ada driver yang tersedia",
    "job.failed": "Penerima tidak dapat dihubungi di alamat tujuan",
    "job.cancelled": "Driver membatalkan pekerjaan",
}
_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_E164_ID = re.compile(r"\+62\d{7,13}")


class Partner:
    name: ClassVar[DialectName] = "webhook"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.config: PartnerDialectConfig = engine.config.webhook
        self.seen: dict[str, dict[str, Any]] = {}
        self.router = self._router()

    def statuses(self, step: Step) -> tuple[str, ...]:
        return STATUSES[step]

    def render_error(self, error: ApiError) -> Response:
        return JSONResponse({"message": error.message}, status_code=error.status_code, headers=error.headers)

    def webhooks(self, journey: Journey, status: str, previous: str) -> list[Outgoing]:
        url = self.config.webhook_url
        message = self.message(journey, status)
        if url is None or message is None or status == "withdrawn":
            return []
        body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
        msg_id = f"msg_{uuid.uuid4().hex}"
        return [Outgoing(url, body, msg_id, status, lambda raw: self._signed(msg_id, raw))]

    def _signed(self, msg_id: str, body: bytes) -> dict[str, str]:
        """Re-signed per attempt with the attempt's time; the id stays, as Standard Webhooks asks."""
        now = datetime.now(UTC)
        signature = Webhook(self.config.event_secret).sign(msg_id, now, body.decode())
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        }

    def message(self, journey: Journey, status: str) -> dict[str, Any] | None:
        """The status message for ``status``; None before a driver has taken the job."""
        if status == "offered":
            return None
        moment = journey.at(status)
        assert moment is not None
        event_type = {"withdrawn": "job.cancelled", "wrong_pin": "job.delivered"}.get(status, status)
        driver = journey.driver
        data: dict[str, Any] = {
            "job_id": journey.provider_id,
            "partner_job_id": journey.detail["partner_job_id"],
        }
        if driver is not None and status != "job.no_driver":
            data["driver"] = {"name": driver.name, "phone": "+" + driver.phone, "vehicle_plate": driver.plate}
            data["tracking_url"] = f"https://partner-sandbox.invalid/track/{journey.provider_id}"
        if event_type == "job.delivered":
            pin = self.engine.handover_pin(journey)
            data["handover_pin"] = _misheard(pin) if status == "wrong_pin" else pin
            data["proof_photo_url"] = f"{self.config.proof_base_url.rstrip('/')}/{journey.provider_id}.jpg"
            data["receiver"] = {"name": journey.detail["dropoff"]["contact_name"]}
        if status == "withdrawn":
            data["reason"] = journey.cancel_reason
        elif status in REASONS:
            data["reason"] = REASONS[status]
        return {"type": event_type, "timestamp": moment.isoformat(), "data": data}

    def _router(self) -> APIRouter:
        engine = self.engine

        async def verified(request: Request) -> bytes:
            body = await request.body()
            try:
                Webhook(self.config.job_secret).verify(body, dict(request.headers), json_parse=False)
            except Exception:  # the library raises ValueError and binascii.Error on malformed headers too
                raise ApiError(401, "invalid webhook signature") from None
            return body

        async def gate(request: Request) -> None:
            await engine.gate(self.name, request)

        router = APIRouter(prefix="/partner", dependencies=[Depends(gate)])

        @router.post("/jobs", name="offer")
        async def jobs(request: Request) -> Response:
            body = await verified(request)
            msg_id = request.headers["webhook-id"]
            if msg_id in self.seen:  # a repeat of a message already handled gets the same answer
                return JSONResponse(self.seen[msg_id])
            try:
                message = json.loads(body)
                kind, data = message["type"], message["data"]
                job_id = data["job_id"]
            except (ValueError, KeyError, TypeError):
                raise ApiError(422, "body must be a job message with type and data.job_id") from None
            if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
                raise ApiError(422, "data.job_id must match ^[A-Za-z0-9_-]{1,64}$")
            if kind == "job.offered":
                answer = self._offer(job_id, data)
            elif kind == "job.cancelled":
                answer = self._withdraw(job_id)
            else:
                raise ApiError(422, f"unknown message type {kind!r}")
            self.seen[msg_id] = answer
            return JSONResponse(answer)

        @router.get("/jobs/{job_id}", name="status")
        async def status(job_id: str, request: Request) -> Response:
            await verified(request)
            journey = engine.find(self.name, job_id)
            message = self.message(journey, journey.status) if journey else None
            if message is None:
                raise ApiError(404, f"no status for job {job_id} yet")
            return JSONResponse(message)

        return router

    def _offer(self, job_id: str, data: dict[str, Any]) -> dict[str, Any]:
        existing = self.engine.find(self.name, job_id)
        if existing is not None:  # the same job offered again (after a timeout): already ours
            return {"partner_job_id": existing.detail["partner_job_id"]}
        try:
            pickup, dropoff = data["pickup"], data["dropoff"]
            points = [(float(stop["lat"]), float(stop["lon"])) for stop in (pickup, dropoff)]
            phones = [stop["phone"] for stop in (pickup, dropoff)]
            dropoff["contact_name"]
        except (KeyError, TypeError, ValueError):
            raise ApiError(
                422, "data.pickup and data.dropoff need lat, lon, phone and contact_name"
            ) from None
        if not all(isinstance(phone, str) and _E164_ID.fullmatch(phone) for phone in phones):
            raise ApiError(422, "phones must be Indonesian numbers in E.164 form")
        engine = self.engine
        distance_km, price = engine.quote(points[0], points[1])
        phone = normalize_phone(phones[1])
        number = engine.new_id()
        journey = Journey(
            id=number,
            dialect=self.name,
            provider_id=job_id,
            reference=job_id,
            phone=phone,
            knobs=engine.knobs_for(phone, job_id),
            distance_km=distance_km,
            price_idr=int(data.get("fee_idr") or price),
            detail={"partner_job_id": f"MITRA-{number}", "dropoff": dropoff},
        )
        engine.start(self, journey)
        return {"partner_job_id": journey.detail["partner_job_id"]}

    def _withdraw(self, job_id: str) -> dict[str, Any]:
        journey = self.engine.find(self.name, job_id)
        if journey is None:
            raise ApiError(404, f"unknown job {job_id}")
        if journey.status == "withdrawn":
            return {"status": "cancelled"}
        if journey.status not in CANCELLABLE:
            raise ApiError(409, f"job {job_id} cannot be cancelled: {journey.status}")
        self.engine.cancel(self, journey, "Cancelled by Gancang")
        return {"status": "cancelled"}


def _misheard(pin: str) -> str:
    """A PIN one digit off, as a driver mishearing it at the door would report; never the right one."""
    return pin[:-1] + str((int(pin[-1]) + 1) % 10)
