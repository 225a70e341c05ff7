"""The whole loop on real processes: API (uvicorn), Celery worker with beat, courier sandbox over HTTP."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, col, select

from dispatch.demo import PATIENTS, demo_bundle, running_stack, seed
from dispatch.inbox.models import InboxMessage, InboxStatus
from dispatch.notify.models import SmsMessage
from dispatch.orders.models import Order, OrderEvent
from dispatch.outbox.models import OutboxMessage

pytestmark = pytest.mark.integration

DEMO_TIMEOUT = 300


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


def test_demo_until_done_on_postgres_and_redis(session: Session, tmp_path: Path) -> None:
    result = run_demo_process(dict(os.environ), tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    orders = session.exec(select(Order).order_by(col(Order.id))).all()
    assert [o.status.value for o in orders] == ["delivered"] * 4 + ["no_courier"]
    assert [o.kecamatan_name for o in orders] == ["Glagah", "Kabat", "Genteng", "Wongsorejo", "Tegalsari"]
    no_driver_events = session.exec(select(OrderEvent).where(OrderEvent.order_id == orders[4].id)).all()
    assert any("no_driver" in e.detail for e in no_driver_events)
    unfinished = session.exec(select(OutboxMessage).where(col(OutboxMessage.processed_at).is_(None))).all()
    assert unfinished == []
    kinds = Counter((m.order_id, m.kind) for m in session.exec(select(SmsMessage)).all())
    assert all(count == 1 for count in kinds.values())
    assert {kind for order_id, kind in kinds if order_id == orders[0].id} == {
        "released", "courier_assigned", "picked_up", "delivered",
    }  # fmt: skip
    assert "/t/" in result.stdout and "/console" in result.stdout
    assert "Sarinah: no_courier" in result.stdout  # the final report says what happened to her order


def test_demo_until_done_on_embedded_defaults(tmp_path: Path) -> None:
    """No DATABASE_URL, no REDIS_URL, no secret: a SQLite file and the filesystem broker, as `make demo` runs."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GANCANG_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    result = run_demo_process(env, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with sqlite3.connect(tmp_path / "var" / "gancang.db") as db:
        statuses = [row[0] for row in db.execute("SELECT status FROM orders ORDER BY id")]
        sms = Counter(db.execute("SELECT order_id, kind FROM sms_messages ORDER BY order_id").fetchall())
    assert statuses == ["delivered"] * 4 + ["no_courier"]
    assert max(sms.values()) == 1, sms  # never the same message twice
    delivered_kinds = {"released", "courier_assigned", "picked_up", "delivered"}
    assert [{kind for (order, kind) in sms if order == n} for n in range(1, 6)] == [delivered_kinds] * 4 + [
        {"released", "no_courier"}
    ], sms
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
    duplicates = session.exec(select(InboxMessage).where(InboxMessage.status == InboxStatus.DUPLICATE)).all()
    assert duplicates, "the sandbox sent every webhook twice; the inbox must have caught the copies"
    per_kind = Counter((m.order_id, m.kind) for m in session.exec(select(SmsMessage)).all())
    assert max(per_kind.values()) == 1
    delivered_events = session.exec(
        select(OrderEvent).where(OrderEvent.order_id == order_ids[0], OrderEvent.to_status == "delivered")
    ).all()
    assert len(delivered_events) == 1
    cancelled_timeline = session.exec(select(OrderEvent).where(OrderEvent.order_id == order_ids[2])).all()
    assert any("gave the job back (cancelled)" in e.detail for e in cancelled_timeline)
