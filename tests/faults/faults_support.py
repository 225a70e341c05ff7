"""The real stack for the fault tests (API, worker, beat, courier sandbox as processes) and the tally.

Every process talks to this suite's own PostgreSQL and Redis (see ``faults_instances``), so a test may kill
or restart any of them. The tally is what the issue asks of every fault: no order lost, none booked twice
at the courier, no SMS sent twice, nothing stuck.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from faults_instances import free_port
from sqlmodel import col, select

from dispatch.core.db import new_session
from dispatch.demo import PATIENTS, DemoCredentials, demo_bundle, seed, wait_until_up
from dispatch.dispatching.models import AttemptStatus, BookingAttempt
from dispatch.hospitals.models import CourierAccount
from dispatch.inbox.models import InboxMessage, InboxStatus
from dispatch.inbox.service import SweepOutcome, settle_orphans
from dispatch.notify.models import SmsMessage
from dispatch.orders.models import Order
from dispatch.orders.state_machine import OrderStatus
from dispatch.outbox.models import OutboxMessage

S = OrderStatus
# Where an order may rest when the faults are over: delivered, or handed to a person with a reason.
SETTLED = frozenset({S.DELIVERED, S.DELIVERY_FAILED, S.NO_COURIER, S.CANCELLED, S.RETURNED, S.NEEDS_ADDRESS})
# Sandbox statuses of a booking that no longer sends a driver (GoSend and the local partner's words).
DEAD_BOOKING = frozenset({"cancelled", "no_driver", "withdrawn", "job.no_driver", "job.cancelled"})
REFERENCE = re.compile(r"^GCG(\d+)A\d+-")
# Patients within both couriers' reach (the demo's Tegalsari patient is beyond them on purpose).
REACHABLE = [patient for patient in PATIENTS if patient.courier_scenario != "no_driver"]
# The courier clients give up after this long, so the sandbox's slow answers outlast them.
COURIER_TIMEOUT_SECONDS = 2.0
# The relay publishes a message again when it is still unprocessed this long after publication; production
# waits 120 s, the tests less so that a message the broker lost comes back within the test's deadline.
REDELIVER_AFTER_SECONDS = 8.0
# A live request settles its message within seconds even under the faults; one older than this was cut off.
ORPHAN_GRACE = timedelta(seconds=30)


@dataclass
class Stack:
    """The processes of one test, by name, and how to reach them."""

    port: int
    sandbox_port: int
    env: dict[str, str]
    log_dir: Path
    commands: dict[str, list[str]]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: ExitStack = field(default_factory=ExitStack)
    # Restarts by the stand-in supervisor (see ``supervise``), by process name.
    restarts: Counter[str] = field(default_factory=Counter)
    _held_down: set[str] = field(default_factory=set)
    _stopping: threading.Event = field(default_factory=threading.Event)
    # The test and the supervisor both start processes: one at a time, so neither replaces the other's.
    _starting: threading.Lock = field(default_factory=threading.Lock)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    def start(self, name: str) -> None:
        with self._starting:
            self._start(name)

    def _start(self, name: str) -> None:
        self._held_down.discard(name)
        log = self.logs.enter_context((self.log_dir / f"{name}.log").open("ab"))
        # Each in its own process group, so a kill reaches a worker's pool children too.
        self.processes[name] = subprocess.Popen(
            self.commands[name], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def supervise(self, every_seconds: float = 0.5) -> None:
        """What production's supervisor does (docker compose ``restart: unless-stopped``): a process that
        exits on its own is started again. Celery's worker can die of its broker dropping the connection
        ("Unrecoverable error" restoring unacknowledged messages, kombu#970); its messages are not lost, the
        relay publishes them again. A process the test killed stays down until the test starts it."""

        def watch() -> None:
            while not self._stopping.wait(every_seconds):
                for name in list(self.processes):
                    with self._starting:
                        if self._stopping.is_set():
                            return
                        if name not in self._held_down and self.processes[name].poll() is not None:
                            self.restarts[name] += 1
                            self._start(name)

        threading.Thread(target=watch, name="supervisor", daemon=True).start()

    def kill(self, name: str) -> None:
        """kill -9 of the whole process group: the worker and its pool children die mid-task."""
        with self._starting:
            self._held_down.add(name)
            process = self.processes[name]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def kill_pool_children(self, name: str = "worker") -> int:
        """kill -9 of every prefork child, each in the middle of its task: the parent survives, sees
        WorkerLostError for each and starts new children. Returns how many were killed."""
        pid = self.processes[name].pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        for child in children:
            os.kill(int(child), signal.SIGKILL)
        return len(children)

    def stop(self) -> None:
        with self._starting:
            self._stopping.set()
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.logs.close()

    def log_tail(self, name: str, size: int = 4000) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-size:] if path.exists() else ""


def sandbox_config(port: int, webhook_token: str, **knobs: Any) -> dict[str, Any]:
    """The sandbox as the tests want it: quick journeys, and webhooks retried for about 20 s like a real
    courier retries (the default three tries in a second would give up during a database restart)."""
    return {
        "step_delay_seconds": 0.3,
        "webhook_attempts": 40,
        "webhook_retry_delay_seconds": 0.5,
        "webhook_timeout_seconds": 5.0,
        "gosend": {
            "client_id": "sandbox-client",
            "pass_key": "sandbox-pass-key",
            "webhook_url": f"http://127.0.0.1:{port}/webhooks/couriers/gosend",
            "webhook_token": webhook_token,
        },
        "webhook": {"webhook_url": f"http://127.0.0.1:{port}/webhooks/couriers/webhook"},
        **knobs,
    }


SANDBOX_MAIN = (
    "import sys; from couriers.sandbox import SandboxConfig, serve; "
    "serve('127.0.0.1', int(sys.argv[1]), SandboxConfig.model_validate_json(sys.argv[2]))"
)


@contextmanager
def running(
    database_url: str, redis_url: str, data_dir: Path, webhook_token: str, **sandbox_knobs: Any
) -> Iterator[Stack]:
    """API, one worker (4 pool processes), one beat and the sandbox, up and answering."""
    port, sandbox_port = free_port(), free_port()
    log_dir = data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "GANCANG_DATA_DIR": str(data_dir),
        "GANCANG_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "GANCANG_RELAY_INTERVAL_SECONDS": "0.3",
        "GANCANG_RELAY_REDELIVER_AFTER_SECONDS": str(REDELIVER_AFTER_SECONDS),
    }
    python = [sys.executable, "-m", "dispatch"]
    config = json.dumps(sandbox_config(port, webhook_token, **sandbox_knobs))
    stack = Stack(
        port=port,
        sandbox_port=sandbox_port,
        env=env,
        log_dir=log_dir,
        commands={
            "sandbox": [sys.executable, "-c", SANDBOX_MAIN, str(sandbox_port), config],
            "api": [*python, "serve", "--port", str(port)],
            "worker": [*python, "worker", "--concurrency", "4"],
            "beat": [*python, "beat"],
        },
    )
    try:
        for name in stack.commands:
            stack.start(name)
        wait_until_up(f"{stack.api_url}/readyz", stack.processes)
        wait_until_up(f"{stack.sandbox_url}/_sandbox/bookings", stack.processes)
        stack.supervise()
        yield stack
    finally:
        stack.stop()


def seed_hospital(stack: Stack, webhook_token: str) -> DemoCredentials:
    """The demo hospital with its GoSend and shelter accounts pointed at this sandbox, clients timing out
    after ``COURIER_TIMEOUT_SECONDS``."""
    credentials = seed(stack.sandbox_url, webhook_token)
    with new_session() as session:
        for account in session.exec(select(CourierAccount)).all():
            account.settings = {**account.settings, "timeout_seconds": COURIER_TIMEOUT_SECONDS}
            session.add(account)
        session.commit()
    return credentials


@dataclass(frozen=True)
class Wave:
    order_ids: list[int]
    staff: dict[str, str]


def ingest(api: httpx.Client, credentials: DemoCredentials, count: int, tag: str) -> Wave:
    """``count`` prescriptions posted as the SIMRS posts them, each to a patient of its own (own phone)."""
    auth = {"Authorization": f"Bearer {credentials.api_key}"}
    order_ids = []
    for number in range(count):
        base = REACHABLE[number % len(REACHABLE)]
        patient = replace(base, mrn=f"{base.mrn}-{tag}{number}", phone=f"{base.phone[:-4]}{number:04d}")
        response = api.post(
            "/fhir/r4/Bundle", json=demo_bundle(patient, f"RX{tag}{number:03d}"), headers=auth
        )
        response.raise_for_status()
        order_ids.append(int(response.json()["issue"][0]["diagnostics"].split("order ")[1].split()[0]))
    login = {"username": credentials.username, "password": credentials.password}
    token = api.post("/api/v1/auth/login", json=login).raise_for_status().json()["access_token"]
    return Wave(order_ids, {"Authorization": f"Bearer {token}"})


def release(api: httpx.Client, wave: Wave) -> None:
    for order_id in wave.order_ids:
        api.post(f"/api/v1/orders/{order_id}/release", headers=wave.staff).raise_for_status()


def tell_pins(sandbox: httpx.Client, wave: Wave) -> None:
    """Each patient tells the shelter's driver the PIN made at release (GoSend's drivers take none)."""
    with new_session() as session:
        for order_id in wave.order_ids:
            order = session.get(Order, order_id)
            assert order is not None and order.handover_pin is not None
            rule = {"match_phone": _patient_phone(session, order), "handover_pin": order.handover_pin}
            sandbox.post("/_sandbox/rules", json=rule).raise_for_status()


def _patient_phone(session: Any, order: Order) -> str:
    from dispatch.orders.models import Patient

    patient = session.get(Patient, order.patient_id)
    assert patient is not None and patient.phone_e164 is not None
    return str(patient.phone_e164)


def pending_attempts(order_ids: list[int]) -> int:
    """Bookings whose courier call is under way (or was cut off): the moment to strike."""
    with new_session() as session:
        query = select(BookingAttempt.id).where(
            col(BookingAttempt.order_id).in_(order_ids), BookingAttempt.status == AttemptStatus.PENDING
        )
        return len(session.exec(query).all())


def statuses(order_ids: list[int]) -> Counter[str]:
    with new_session() as session:
        orders = session.exec(select(Order).where(col(Order.id).in_(order_ids))).all()
        return Counter(order.status.value for order in orders)


def waiting_inbox(session: Any) -> list[InboxMessage]:
    """Inbound messages not yet done, including a copy an API process killed mid-request left "received":
    the beat's sweep must settle it (see ``settle``)."""
    waiting = (InboxStatus.RECEIVED, InboxStatus.ACCEPTED)
    return list(session.exec(select(InboxMessage).where(col(InboxMessage.status).in_(waiting))).all())


def in_flight(order_ids: list[int]) -> int:
    """Orders not yet settled, plus side effects and accepted webhooks not yet done."""
    with new_session() as session:
        orders = session.exec(select(Order).where(col(Order.id).in_(order_ids))).all()
        unsettled = len(order_ids) - sum(order.status in SETTLED for order in orders)
        outbox = session.exec(select(OutboxMessage.id).where(col(OutboxMessage.processed_at).is_(None))).all()
        return unsettled + len(outbox) + len(waiting_inbox(session))


def wait_until(predicate: Any, timeout: float, stack: Stack | None = None, poll: float = 0.3) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll)
    return False


def settle(wave: Wave, timeout: float) -> SweepOutcome:
    """Until every order has settled and every side effect is done, or the deadline passes; what the inbox
    sweep settled meanwhile.

    The stack's beat sweeps messages left "received" for five minutes, longer than a test runs, so the sweep
    runs here on each poll, on messages ``ORPHAN_GRACE`` old: a request still under way settles its own.
    """
    swept = [SweepOutcome(duplicates=0, for_staff=0)]

    def done() -> bool:
        swept.append(settle_orphans(older_than=ORPHAN_GRACE))
        return in_flight(wave.order_ids) == 0

    wait_until(done, timeout)
    return SweepOutcome(
        duplicates=sum(s.duplicates for s in swept), for_staff=sum(s.for_staff for s in swept)
    )


@dataclass(frozen=True)
class Tally:
    orders: int
    by_status: Mapping[str, int]
    lost: list[str]
    doubled_bookings: list[str]
    doubled_sms: list[str]
    stuck: list[str]
    orphans: SweepOutcome

    def line(self, scenario: str) -> str:
        return (
            f"[faults] {scenario}: orders={self.orders} {dict(self.by_status)} lost={len(self.lost)} "
            f"doubled_at_courier={len(self.doubled_bookings)} doubled_sms={len(self.doubled_sms)} "
            f"stuck={len(self.stuck)} orphans_settled_as_duplicates={self.orphans.duplicates} "
            f"orphans_for_staff={self.orphans.for_staff}"
        )

    @property
    def problems(self) -> list[str]:
        # The sandbox sends again whatever got no answer, so every orphan's retry must have been taken.
        unretried = [f"{self.orphans.for_staff} orphaned webhooks without a taken retry"]
        return [
            *self.lost,
            *self.doubled_bookings,
            *self.doubled_sms,
            *self.stuck,
            *(unretried if self.orphans.for_staff else []),
        ]


def tally(wave: Wave, sandbox: httpx.Client, orphans: SweepOutcome) -> Tally:
    """The four counts, each with what it counted, so a failure names the order and the reason."""
    ids = set(wave.order_ids)
    with new_session() as session:
        orders = {o.id: o for o in session.exec(select(Order).where(col(Order.id).in_(ids))).all()}
        lost = [f"order {i} missing" for i in sorted(ids - orders.keys())]
        lost += [f"order {i} never released" for i, o in orders.items() if o.status == S.AWAITING_RELEASE]

        journeys = sandbox.get("/_sandbox/bookings").raise_for_status().json()["bookings"]
        live: Counter[int] = Counter()
        for journey in journeys:
            match = REFERENCE.match(journey["reference"])
            if match and journey["status"] not in DEAD_BOOKING:
                live[int(match.group(1))] += 1
        doubled_bookings = [f"order {i}: {n} live bookings at the courier" for i, n in live.items() if n > 1]

        sms = Counter(
            (m.order_id, m.kind)
            for m in session.exec(select(SmsMessage).where(col(SmsMessage.order_id).in_(ids))).all()
        )
        doubled_sms = [f"order {i}: {kind} x{n}" for (i, kind), n in sms.items() if n > 1]

        stuck = [f"order {i} still {o.status.value}" for i, o in orders.items() if o.status not in SETTLED]
        stuck += [
            f"outbox {m.id} {m.topic} unprocessed (published {m.publish_count}x, {m.last_error})"
            for m in session.exec(
                select(OutboxMessage).where(col(OutboxMessage.processed_at).is_(None))
            ).all()
        ]
        attempts = session.exec(select(BookingAttempt).where(col(BookingAttempt.order_id).in_(ids))).all()
        stuck += [
            f"attempt {a.id} of order {a.order_id} pending"
            for a in attempts
            if a.status == AttemptStatus.PENDING
        ]
        stuck += [
            f"attempt {a.id} booked but order {a.order_id} is {orders[a.order_id].status.value}"
            for a in attempts
            if a.status == AttemptStatus.BOOKED and orders[a.order_id].status in SETTLED
        ]
        stuck += [f"inbox {m.id} still {m.status.value}" for m in waiting_inbox(session)]
    return Tally(len(ids), statuses(wave.order_ids), lost, doubled_bookings, doubled_sms, stuck, orphans)
