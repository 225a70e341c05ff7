"""The journey engine every dialect shares: bookings, drivers, scenarios, knobs, faults and webhook delivery.

A dialect turns the engine's dialect-neutral :class:`Step` into its own statuses and webhook payloads; the
engine decides when each status happens, which booking plays which scenario, which API calls misbehave, and
how webhooks are delivered (retries, duplicates, shuffling).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
import random
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol, TypeVar

import httpx
from fastapi import APIRouter, Request, Response
from geopy.distance import geodesic
from pydantic import ValidationError

from couriers.sandbox.config import DialectName, Fault, Rule, SandboxConfig, ScenarioName

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

# A receiver's Retry-After is honoured up to this long; a misconfigured header must not park a journey for hours.
MAX_RETRY_AFTER_SECONDS = 30.0

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


class Step(enum.StrEnum):
    """A moment of a journey, before any dialect names it."""

    CREATED = "created"
    ALLOCATED = "allocated"
    TO_PICKUP = "to_pickup"
    PICKED_UP = "picked_up"
    TO_DROPOFF = "to_dropoff"
    # The driver reports a handover PIN the receiver did not give (misheard); only couriers taking PINs do.
    WRONG_PIN = "wrong_pin"
    DELIVERED = "delivered"
    NO_DRIVER = "no_driver"
    DELIVERY_FAILED = "delivery_failed"
    DRIVER_CANCELLED = "driver_cancelled"
    CANCELLED = "cancelled"


SCENARIOS: Mapping[ScenarioName, tuple[Step, ...]] = {
    "happy": (Step.CREATED, Step.ALLOCATED, Step.TO_PICKUP, Step.PICKED_UP, Step.TO_DROPOFF, Step.DELIVERED),
    "wrong_pin_first": (
        Step.CREATED,
        Step.ALLOCATED,
        Step.TO_PICKUP,
        Step.PICKED_UP,
        Step.TO_DROPOFF,
        Step.WRONG_PIN,
        Step.DELIVERED,
    ),
    "no_driver": (Step.CREATED, Step.NO_DRIVER),
    "failed_delivery": (
        Step.CREATED,
        Step.ALLOCATED,
        Step.TO_PICKUP,
        Step.PICKED_UP,
        Step.TO_DROPOFF,
        Step.DELIVERY_FAILED,
    ),
    "driver_cancels": (Step.CREATED, Step.ALLOCATED, Step.DRIVER_CANCELLED),
}


class ApiError(Exception):
    """A refusal the dialect renders in its provider's own error shape."""

    def __init__(
        self, status_code: int, message: str, *, code: str = "", headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.code = code
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class Driver:
    id: int
    name: str
    phone: str
    plate: str


@dataclass(frozen=True)
class Knobs:
    scenario: ScenarioName
    step_delay_seconds: float
    duplicate_events: bool
    shuffle: bool
    handover_pin: str


@dataclass(frozen=True)
class Outgoing:
    """One webhook to send; ``headers`` is called per attempt so signatures can carry the attempt's time."""

    url: str
    body: bytes
    key: str
    status: str
    headers: Callable[[bytes], Mapping[str, str]]


@dataclass
class WebhookDelivery:
    key: str
    status: str
    attempts: int = 0
    delivered: bool = False
    response_status: int | None = None
    error: str | None = None


@dataclass
class Journey:
    """One booking as the courier sees it; ``detail`` is the dialect's own record of what was asked."""

    id: int
    dialect: DialectName
    provider_id: str
    reference: str
    phone: str
    knobs: Knobs
    distance_km: float
    price_idr: int
    detail: Any
    status: str = ""
    history: list[tuple[str, datetime]] = field(default_factory=list)
    driver: Driver | None = None
    cancel_reason: str = ""
    webhooks: list[WebhookDelivery] = field(default_factory=list)
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)

    def at(self, status: str) -> datetime | None:
        """When the journey last reached ``status``."""
        return next((moment for seen, moment in reversed(self.history) if seen == status), None)

    def reached(self, status: str) -> bool:
        return self.at(status) is not None


class Dialect(Protocol):
    """One provider's protocol; its ``router`` serves the provider's API under its own prefix."""

    name: ClassVar[DialectName]
    router: APIRouter

    def statuses(self, step: Step) -> tuple[str, ...]:
        """The provider statuses one step passes through; empty when the provider has no word for it."""
        ...

    def webhooks(self, journey: Journey, status: str, previous: str) -> list[Outgoing]:
        """What the provider sends when ``journey`` reaches ``status`` (from ``previous``)."""
        ...

    def render_error(self, error: ApiError) -> Response: ...


class Engine:
    """All mutable sandbox state, owned by one app instance so parallel sandboxes in a test run stay apart.

    Every endpoint is ``async`` so the state is only touched from the event loop, never from a thread pool.
    """

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.journeys: list[Journey] = []
        self.rules: list[Rule] = list(config.rules)
        self.faults: list[tuple[Fault, list[int]]] = [(fault, [fault.calls]) for fault in config.faults]
        self.tasks: set[asyncio.Task[None]] = set()
        self.rng = random.Random()
        # Numbers continue from the clock, as a real courier's never repeat: a restarted sandbox must not hand
        # out an order number an earlier run already gave to a booking still in our database.
        self.next_id = int(time.time() * 10) % 10**10
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        """One HTTP client for every webhook the sandbox sends, made in the event loop on first use: a client
        per send builds a TLS context each time, which made the sandbox, not the service under test, the
        bottleneck of a 200-booking burst."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.config.webhook_timeout_seconds)
        return self._client

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def knobs_for(self, phone: str, reference: str) -> Knobs:
        """The newest matching rule wins, so a test can override an earlier one without clearing."""
        config = self.config
        rule = next(
            (rule for rule in reversed(self.rules) if _matches(rule, phone, reference)),
            Rule(match_reference=reference),
        )
        return Knobs(
            scenario=rule.scenario or config.default_scenario,
            step_delay_seconds=_unless_none(rule.step_delay_seconds, config.step_delay_seconds),
            duplicate_events=_unless_none(rule.duplicate_events, config.duplicate_events),
            shuffle=_unless_none(rule.shuffle, config.shuffle),
            handover_pin=rule.handover_pin or config.handover_pin or f"{self.rng.randint(0, 9999):04d}",
        )

    def handover_pin(self, journey: Journey) -> str:
        """The PIN the receiver tells the driver, read at the door rather than at booking.

        The order's PIN is made at release and the courier may be booked a moment later, so whoever plays
        the patient (the demo, a test) can only tell it once the booking may already exist: the newest
        matching rule that names a PIN wins over the one the journey was booked with.
        """
        told = next(
            (
                rule.handover_pin
                for rule in reversed(self.rules)
                if rule.handover_pin is not None and _matches(rule, journey.phone, journey.reference)
            ),
            None,
        )
        return told or journey.knobs.handover_pin

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

    def find(self, dialect: DialectName, provider_id: str) -> Journey | None:
        return next((j for j in self.journeys if j.dialect == dialect and j.provider_id == provider_id), None)

    def by_reference(self, dialect: DialectName, reference: str) -> list[Journey]:
        return [j for j in self.journeys if j.dialect == dialect and j.reference == reference]

    def start(self, dialect: Dialect, journey: Journey) -> None:
        """Record the journey at its first status and play the rest in the background."""
        steps = self._plan(dialect, journey.knobs.scenario)
        self.advance(journey, *steps[0])
        self.journeys.append(journey)
        self.spawn(self._play(dialect, journey, steps))

    def advance(self, journey: Journey, step: Step, status: str) -> None:
        journey.status = status
        journey.history.append((status, datetime.now(UTC)))
        if step is Step.ALLOCATED and journey.driver is None:
            journey.driver = self.new_driver()
        if step is Step.DRIVER_CANCELLED and not journey.cancel_reason:
            journey.cancel_reason = "Driver cancelled the booking"

    def cancel(self, dialect: Dialect, journey: Journey, reason: str) -> None:
        """Cancel on the partner's request; the journey's task reports it and stops."""
        journey.cancel_reason = reason
        self.advance(journey, Step.CANCELLED, dialect.statuses(Step.CANCELLED)[0])
        journey.cancelled.set()

    async def gate(self, dialect: DialectName, request: Request) -> None:
        """Play the first queued fault that matches this call, if any (a FastAPI dependency of every dialect)."""
        route = request.scope.get("route")
        operation = getattr(route, "name", None)
        for fault, remaining in self.faults:
            if remaining[0] and fault.dialect in (None, dialect) and fault.operation in (None, operation):
                remaining[0] -= 1
                await self._play_fault(fault, request)
                return

    async def _play_fault(self, fault: Fault, request: Request) -> None:
        if fault.kind == "timeout":
            # Read the body first: by the time the slow answer is due the client has hung up, and the work must
            # still be done, as at a courier that committed the booking and then stalled.
            await request.body()
            await asyncio.sleep(fault.delay_seconds)
        elif fault.kind == "rate_limit":
            raise ApiError(
                429,
                "Too many requests",
                code="ERR_RATE_LIMIT_EXCEEDED",
                headers={"Retry-After": str(fault.retry_after_seconds)},
            )
        else:
            raise ApiError(fault.status_code, "Service temporarily unavailable", code="ERR_INTERNAL")

    def add_fault(self, fault: Fault) -> None:
        self.faults.append((fault, [fault.calls]))

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Keep a reference to each background task (the loop holds only weak ones) and report its failure."""
        task: asyncio.Task[None] = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("sandbox background task failed", exc_info=task.exception())

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @staticmethod
    def _plan(dialect: Dialect, scenario: ScenarioName) -> list[tuple[Step, str]]:
        return [(step, status) for step in SCENARIOS[scenario] for status in dialect.statuses(step)]

    async def _play(self, dialect: Dialect, journey: Journey, steps: list[tuple[Step, str]]) -> None:
        """Walk the journey through its statuses, sending each one's webhooks as it happens.

        This task is the journey's only webhook sender, so webhooks leave in order; a cancel through the API
        only records the status and wakes the task, which reports the cancellation and stops. With ``shuffle``
        the second-to-last status's webhooks are held back and sent after the last one's.
        """
        knobs = journey.knobs
        held: list[Outgoing] = []
        previous = ""
        for index, (step, status) in enumerate(steps):
            if index:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(journey.cancelled.wait(), knobs.step_delay_seconds)
                if journey.cancelled.is_set():
                    await self._send_all(journey, dialect.webhooks(journey, journey.status, previous))
                    break
                self.advance(journey, step, status)
            outgoing = dialect.webhooks(journey, status, previous)
            previous = status
            if knobs.shuffle and index == len(steps) - 2:
                held = outgoing
                continue
            await self._send_all(journey, outgoing)
            await self._send_all(journey, held)
            held = []
        await self._send_all(journey, held)

    async def _send_all(self, journey: Journey, outgoing: list[Outgoing]) -> None:
        if not outgoing:
            return
        copies = 2 if journey.knobs.duplicate_events else 1
        for webhook in outgoing:
            for _ in range(copies):
                await self._deliver(journey, webhook)

    async def _deliver(self, journey: Journey, webhook: Outgoing) -> None:
        """POST one webhook, retrying failures like a courier would."""
        config = self.config
        delivery = WebhookDelivery(key=webhook.key, status=webhook.status)
        journey.webhooks.append(delivery)
        wait = 0.0
        for attempt in range(1, config.webhook_attempts + 1):
            if attempt > 1:
                await asyncio.sleep(max(wait, config.webhook_retry_delay_seconds))
            delivery.attempts = attempt
            headers = {"Content-Type": "application/json", **webhook.headers(webhook.body)}
            try:
                response = await self.client.post(webhook.url, content=webhook.body, headers=headers)
            except httpx.HTTPError as exc:
                delivery.error = f"{type(exc).__name__}: {exc}"
                continue
            delivery.response_status = response.status_code
            if response.is_success:
                delivery.delivered, delivery.error = True, None
                return
            delivery.error = f"HTTP {response.status_code}"
            wait = _retry_after(response)


def _matches(rule: Rule, phone: str, reference: str) -> bool:
    return rule.match_phone in (None, phone) and rule.match_reference in (None, reference)


def _unless_none(value: _T | None, default: _T) -> _T:
    return default if value is None else value


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(float(response.headers.get("Retry-After", "0")), MAX_RETRY_AFTER_SECONDS)
    except ValueError:
        return 0.0


def validation_messages(exc: ValidationError) -> list[str]:
    return [
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
        for error in exc.errors(include_url=False, include_input=False)
    ]


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def admin_view(engine: Engine, journey: Journey) -> dict[str, Any]:
    return {
        "dialect": journey.dialect,
        "provider_order_id": journey.provider_id,
        "reference": journey.reference,
        "phone": journey.phone,
        "scenario": journey.knobs.scenario,
        "handover_pin": engine.handover_pin(journey),
        "status": journey.status,
        "history": [{"status": status, "at": moment.isoformat()} for status, moment in journey.history],
        "webhooks": [asdict(delivery) for delivery in journey.webhooks],
    }
