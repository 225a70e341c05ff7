"""The whole loop on real processes: API (uvicorn), Celery worker with beat, courier sandbox over HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, col, create_engine, select

from dispatch.demo import PATIENTS, demo_bundle, running_stack, seed
from dispatch.dispatching.models import ACTIVE_ATTEMPT, BookingAttempt
from dispatch.inbox.models import InboxMessage, InboxStatus
from dispatch.notify.models import SmsMessage
from dispatch.orders.models import Order, OrderEvent
from dispatch.orders.service import SMS_ON_ENTRY
from dispatch.outbox.models import OutboxMessage

pytestmark = pytest.mark.integration

DEMO_TIMEOUT = 300

# The demo's designed outcome, patient by patient: kecamatan, final status, the courier of the last booking.
# The shelter (courier "webhook") is cheaper in Kabat and Kalipuro, GoSend in Glagah; the others are beyond the
# shelter's area. The Kalipuro patient's driver reports a misheard PIN first. Tegalsari is left without a
# courier: GoSend finds no driver there, or, when dispatch reckons the road longer than GoSend's 40 km (34 km
# in a straight line, times the road factor), nobody is asked.
EXPECTED = [
    ("Glagah", "delivered", "gosend"),
    ("Kabat", "delivered", "webhook"),
    ("Genteng", "delivered", "gosend"),
    ("Wongsorejo", "delivered", "gosend"),
    ("Tegalsari", "no_courier", None),
    ("Kalipuro", "delivered", "webhook"),
]
# Where both couriers reach, both quoted and the cheaper one was booked.
CHOSEN_BY_PRICE = {
    "Glagah": "cheapest of 2 quotes: gosend",
    "Kabat": "cheapest of 2 quotes: webhook",
    "Kalipuro": "cheapest of 2 quotes: webhook",
}
DELIVERED_SMS = {"released", "courier_assigned", "picked_up", "delivered"}
# The PIN reminder when the driver heads for the door: sent at most once, like every kind, but only where
# dispatch sends it at all, so it is neither required nor refused here.
PIN_REMINDER_SMS = "arriving"
PIN_ALERT = "handover PIN missing or wrong; not marked delivered"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_demo_process(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "dispatch", "demo", "--until-done",
        "--port", str(free_port()), "--sandbox-port", str(free_port()), "--step-delay", "0.3",
    ]  # fmt: skip
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=DEMO_TIMEOUT)


def failure_report(result: subprocess.CompletedProcess[str], data_dir: Path) -> str:
    """The demo's own output and the end of the worker's log, where a crashed worker says why."""
    worker_log = data_dir / "logs" / "worker.log"
    log_tail = worker_log.read_text(errors="replace")[-3000:] if worker_log.exists() else "(no worker log)"
    return result.stdout[-3000:] + result.stderr[-3000:] + "\n--- worker.log ---\n" + log_tail


def delivered_pins(session: Session, attempt: BookingAttempt) -> list[str]:
    """The PINs the partner reported on job.delivered for this booking, in the order they arrived."""
    messages = session.exec(
        select(InboxMessage).where(InboxMessage.source == "courier:webhook").order_by(col(InboxMessage.id))
    ).all()
    bodies = [json.loads(message.body) for message in messages]
    return [
        body["data"]["handover_pin"]
        for body in bodies
        if body["type"] == "job.delivered" and body["data"]["job_id"] == attempt.provider_order_id
    ]


def assert_demo_outcome(session: Session, stdout: str) -> None:
    """What the demo must end with, whichever database and broker it ran on."""
    orders = session.exec(select(Order).order_by(col(Order.id))).all()
    assert [(o.kecamatan_name, o.status.value) for o in orders] == [(k, s) for k, s, _ in EXPECTED]
    for order, (kecamatan, status, courier) in zip(orders, EXPECTED, strict=True):
        timeline = session.exec(
            select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(col(OrderEvent.id))
        ).all()
        attempts = session.exec(
            select(BookingAttempt).where(BookingAttempt.order_id == order.id).order_by(col(BookingAttempt.id))
        ).all()
        delivered = [e for e in timeline if e.to_status == "delivered"]
        assert len(delivered) == (status == "delivered"), kecamatan
        alerts = [e for e in timeline if PIN_ALERT in e.detail]
        if courier is None:
            assert [(a.courier, a.status.value) for a in attempts] in ([], [("gosend", "no_driver")])
            reason = "no_driver" if attempts else "no enabled courier can take this order"
            assert any(reason in e.detail for e in timeline), kecamatan
            continue
        booked = attempts[-1]
        assert (booked.courier, booked.quoted_price_idr is not None) == (courier, True), kecamatan
        booking = next(e.detail for e in timeline if e.to_status == "booking")
        assert CHOSEN_BY_PRICE.get(kecamatan, "cheapest of 1 quotes") in booking, booking
        if courier == "webhook":
            # The order was marked delivered by the report carrying its PIN, and by no other.
            pins = delivered_pins(session, booked)
            assert order.handover_pin is not None and pins[-1] == order.handover_pin, kecamatan
            if kecamatan == "Kalipuro":
                assert len(pins) == 2 and pins[0] != order.handover_pin
                assert [e.kind for e in alerts] == ["alert"] and alerts[0].id < delivered[0].id
            else:
                assert (pins, alerts) == ([order.handover_pin], [])
        else:
            assert alerts == []

    sms = Counter((m.order_id, m.kind) for m in session.exec(select(SmsMessage)).all())
    assert max(sms.values()) == 1, sms  # never the same message twice
    assert [{kind for order_id, kind in sms if order_id == o.id} - {PIN_REMINDER_SMS} for o in orders] == [
        DELIVERED_SMS if status == "delivered" else {"released", "no_courier"} for _, status, _ in EXPECTED
    ], sms

    # Nothing stuck: every side effect done, every booking over, every accepted webhook applied.
    assert session.exec(select(OutboxMessage).where(col(OutboxMessage.processed_at).is_(None))).all() == []
    assert [a for a in session.exec(select(BookingAttempt)).all() if a.status in ACTIVE_ATTEMPT] == []
    waiting = (InboxStatus.RECEIVED, InboxStatus.ACCEPTED)
    assert session.exec(select(InboxMessage).where(col(InboxMessage.status).in_(waiting))).all() == []

    assert "/t/" in stdout and "/console" in stdout
    assert "Sarinah: no_courier" in stdout  # the final report says what happened to her order
    assert "Slamet Riyadi: delivered, courier shelter (webhook) quoted Rp" in stdout
    assert "Siti Aminah: delivered, courier gosend quoted Rp" in stdout


def test_demo_until_done_on_postgres_and_redis(session: Session, tmp_path: Path) -> None:
    result = run_demo_process(dict(os.environ), tmp_path)
    assert result.returncode == 0, failure_report(result, Path(os.environ["GANCANG_DATA_DIR"]))

    assert_demo_outcome(session, result.stdout)


def test_demo_until_done_on_embedded_defaults(tmp_path: Path) -> None:
    """No DATABASE_URL, no REDIS_URL, no secret: a SQLite file and the filesystem broker, as `make demo` runs."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GANCANG_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    result = run_demo_process(env, tmp_path)
    assert result.returncode == 0, failure_report(result, tmp_path / "var")

    engine = create_engine(f"sqlite:///{tmp_path / 'var' / 'gancang.db'}")
    try:
        with Session(engine) as session:
            assert_demo_outcome(session, result.stdout)
    finally:
        engine.dispose()
    assert "embedded (filesystem)" in result.stdout


SETTLED = {"delivered", "delivery_failed", "no_courier", "cancelled"}


def test_duplicate_and_reordered_webhooks_failed_delivery_and_driver_cancel(session: Session) -> None:
    port, sandbox_port = free_port(), free_port()
    webhook_token = "e2e-webhook-token-0123456789"
    credentials = seed(f"http://127.0.0.1:{sandbox_port}", webhook_token)
    flags = ("--duplicate-events", "--shuffle")
    with (
        running_stack(port, sandbox_port, webhook_token, step_delay=0.3, sandbox_flags=flags),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=15) as api,
        httpx.Client(base_url=f"http://127.0.0.1:{sandbox_port}", timeout=5) as sandbox,
    ):
        scenarios = {PATIENTS[1].phone: "failed_delivery", PATIENTS[2].phone: "driver_cancels"}
        for phone, scenario in scenarios.items():
            gosend_phone = "62" + phone.replace("-", "")[1:]
            sandbox.post(
                "/_sandbox/rules", json={"match_phone": gosend_phone, "scenario": scenario}
            ).raise_for_status()
        auth = {"Authorization": f"Bearer {credentials.api_key}"}
        for number, patient in enumerate(PATIENTS[:3]):
            api.post(
                "/fhir/r4/Bundle", json=demo_bundle(patient, f"E2E{number}"), headers=auth
            ).raise_for_status()
        login = {"username": credentials.username, "password": credentials.password}
        staff = {
            "Authorization": "Bearer " + api.post("/api/v1/auth/login", json=login).json()["access_token"]
        }
        order_ids = [o["id"] for o in api.get("/api/v1/orders", headers=staff).json()["data"]][::-1]
        for order_id in order_ids:
            api.post(f"/api/v1/orders/{order_id}/release", headers=staff).raise_for_status()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            statuses = [api.get(f"/api/v1/orders/{i}", headers=staff).json()["status"] for i in order_ids]
            if all(s in SETTLED for s in statuses):
                break
            time.sleep(0.5)
    assert statuses == ["delivered", "delivery_failed", "no_courier"]
    couriers = [
        [a.courier for a in session.exec(select(BookingAttempt).where(BookingAttempt.order_id == i)).all()]
        for i in order_ids
    ]
    # The failed delivery is the shelter's, over its own protocol; the driver who cancels is given one more
    # booking on the same GoSend account (the fallback cascade) before the order is left to staff.
    assert couriers == [["gosend"], ["webhook"], ["gosend", "gosend"]]
    duplicates = session.exec(select(InboxMessage).where(InboxMessage.status == InboxStatus.DUPLICATE)).all()
    assert duplicates, "the sandbox sent every webhook twice; the inbox must have caught the copies"
    # One message per state the order entered: a second driver after a cancel is news to the patient (a new
    # name and plate), the sandbox's copies of the same webhook are not.
    state_kinds = set(SMS_ON_ENTRY.values())
    sms = session.exec(select(SmsMessage)).all()
    per_state = Counter((m.order_id, m.kind) for m in sms if m.kind in state_kinds)
    entered = Counter(
        (e.order_id, e.to_status)
        for e in session.exec(select(OrderEvent)).all()
        if e.to_status in state_kinds
    )
    # (The stack stops once every order has settled: the last SMS may still be waiting in the outbox.)
    assert per_state and all(count <= entered[key] for key, count in per_state.items()), (per_state, entered)
    assert (
        max(Counter((m.order_id, m.kind) for m in sms if m.kind not in state_kinds).values(), default=1) == 1
    )
    delivered_events = session.exec(
        select(OrderEvent).where(OrderEvent.order_id == order_ids[0], OrderEvent.to_status == "delivered")
    ).all()
    assert len(delivered_events) == 1
    cancelled_timeline = session.exec(select(OrderEvent).where(OrderEvent.order_id == order_ids[2])).all()
    assert any("gave the job back (cancelled)" in e.detail for e in cancelled_timeline)
