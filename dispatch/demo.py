"""`gancang demo`: the whole loop on real processes — API, Celery worker with beat, courier sandbox.

It seeds RSUD Blambangan, posts five FHIR prescriptions as the hospital's SIMRS would, releases them as a
pharmacist would (through the JSON API), and follows them to the end. One patient's area has no driver.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from rich.console import Console
from rich.live import Live
from rich.table import Table
from sqlmodel import select

from dispatch.auth.models import Role, StaffUserCreate
from dispatch.auth.repository import get_user_by_username
from dispatch.auth.service import create_user
from dispatch.core.db import new_session
from dispatch.core.migrate import upgrade_database
from dispatch.core.security import hash_password
from dispatch.core.settings import settings
from dispatch.demo_data import HOSPITAL, NO_DRIVER_PATIENT, PATIENTS, demo_bundle
from dispatch.hospitals.models import CourierAccount
from dispatch.hospitals.repository import get_by_code
from dispatch.hospitals.service import add_courier_account, create_api_key, create_hospital
from dispatch.notify.models import SmsMessage
from dispatch.orders.state_machine import OrderStatus
from dispatch.outbox.repository import count_unfinished

console = Console()

# The demo is over for an order when it is delivered, or when a human has to decide (no courier left).
SETTLED = {
    OrderStatus.DELIVERED,
    OrderStatus.NO_COURIER,
    OrderStatus.CANCELLED,
    OrderStatus.RETURNED,
    OrderStatus.REJECTED,
    OrderStatus.NEEDS_ADDRESS,
}
DEMO_TIMEOUT_SECONDS = 240.0
DEMO_PHARMACIST = "apoteker.demo"


@dataclass(frozen=True)
class DemoCredentials:
    api_key: str
    username: str
    password: str


def seed(sandbox_url: str, webhook_token: str) -> DemoCredentials:
    """Idempotent: reuses the hospital on a second run and points its GoSend account at this sandbox."""
    password = secrets.token_urlsafe(12)
    with new_session() as session:
        hospital = get_by_code(session, HOSPITAL.code) or create_hospital(session, HOSPITAL)
        _key, api_key = create_api_key(session, hospital, "demo-simrs")
        user = get_user_by_username(session, DEMO_PHARMACIST)
        if user is None:
            create_user(
                session,
                hospital,
                StaffUserCreate(
                    username=DEMO_PHARMACIST,
                    full_name="Apoteker Demo",
                    role=Role.PHARMACIST,
                    password=password,
                ),
            )
        else:
            user.password_hash = hash_password(password)
        gosend_settings = {
            "client_id": "sandbox-client",
            "pass_key": "sandbox-pass-key",
            "base_url": sandbox_url,
            "webhook_token": webhook_token,
        }
        account = session.exec(
            select(CourierAccount).where(
                CourierAccount.hospital_id == hospital.id, CourierAccount.courier == "gosend"
            )
        ).first()
        if account is None:
            add_courier_account(session, hospital, "gosend", gosend_settings, priority=10)
        else:
            account.settings = gosend_settings
            account.enabled = True
        session.commit()
    return DemoCredentials(api_key=api_key, username=DEMO_PHARMACIST, password=password)


@contextmanager
def running_stack(
    port: int, sandbox_port: int, webhook_token: str, step_delay: float, sandbox_flags: tuple[str, ...] = ()
) -> Iterator[None]:
    """Starts the three processes, waits until they answer, and always stops them."""
    log_dir = settings.data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "GANCANG_SECRET_KEY": settings.secret_key,
        "GANCANG_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
    }
    python = [sys.executable, "-m", "dispatch"]
    commands = {
        "sandbox": [
            *python,
            "sandbox",
            "--port",
            str(sandbox_port),
            "--step-delay",
            str(step_delay),
            "--webhook-url",
            f"http://127.0.0.1:{port}/webhooks/couriers/gosend",
            "--webhook-token",
            webhook_token,
            *sandbox_flags,
        ],
        "api": [*python, "serve", "--port", str(port)],
        "worker": [*python, "worker", "--beat", "--concurrency", "2"],
    }
    processes: dict[str, subprocess.Popen[bytes]] = {}
    with ExitStack() as logs:
        try:
            for name, command in commands.items():
                log_file = logs.enter_context((log_dir / f"{name}.log").open("ab"))
                processes[name] = subprocess.Popen(
                    command, env=env, stdout=log_file, stderr=subprocess.STDOUT
                )
            wait_until_up(f"http://127.0.0.1:{port}/readyz", processes)
            wait_until_up(f"http://127.0.0.1:{sandbox_port}/_sandbox/bookings", processes)
            yield
        finally:
            _stop(processes)


def _stop(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes.values():
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_up(
    url: str, processes: Mapping[str, subprocess.Popen[bytes]] | None = None, timeout: float = 60.0
) -> None:
    """Until ``url`` answers 200; fails at once if one of the ``processes`` serving it has died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, process in (processes or {}).items():
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {process.returncode}; see {settings.data_dir / 'logs'}"
                )
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up within {timeout:.0f} s")


def post_prescriptions(api: httpx.Client, api_key: str, run_id: str) -> list[int]:
    order_ids = []
    for number, patient in enumerate(PATIENTS, start=1):
        bundle = demo_bundle(patient, f"RX{run_id}{number:02d}")
        response = api.post(
            "/fhir/r4/Bundle",
            json=bundle,
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/fhir+json"},
        )
        response.raise_for_status()
        order_ids.append(int(response.json()["issue"][0]["diagnostics"].split("order ")[1].split()[0]))
    return order_ids


def release_all(api: httpx.Client, token: str, order_ids: list[int]) -> None:
    for order_id in order_ids:
        api.post(
            f"/api/v1/orders/{order_id}/release", headers={"Authorization": f"Bearer {token}"}
        ).raise_for_status()


def order_rows(api: httpx.Client, token: str, order_ids: list[int]) -> list[dict[str, Any]]:
    return [
        api.get(f"/api/v1/orders/{order_id}", headers={"Authorization": f"Bearer {token}"})
        .raise_for_status()
        .json()
        for order_id in order_ids
    ]


def _minutes(order: dict[str, Any]) -> str:
    released = next((e["at"] for e in order["events"] if e["to_status"] == "released"), None)
    if released is None or order["status"] not in ("delivered", "no_courier"):
        return "-"
    delta = datetime.fromisoformat(order["status_changed_at"]) - datetime.fromisoformat(released)
    return f"{delta.total_seconds() / 60:.1f}"


def progress_table(orders: list[dict[str, Any]]) -> Table:
    table = Table(title="Gancang demo — RSUD Blambangan")
    for column in ("order", "patient", "kecamatan", "courier", "status", "minutes"):
        table.add_column(column)
    for order in orders:
        table.add_row(
            str(order["id"]),
            order["patient_name"],
            order["kecamatan_name"] or "-",
            order["courier"] or "-",
            order["status"],
            _minutes(order),
        )
    return table


def _explain(order: dict[str, Any]) -> str:
    last = [e for e in order["events"] if e["kind"] in ("state", "courier", "alert")][-3:]
    return " → ".join(f"{e['detail']}" for e in last if e["detail"])


def _exit_on_sigterm(_signum: int, _frame: object) -> None:
    """A terminated demo stops its API, worker and sandbox the same way Ctrl-C does."""
    raise KeyboardInterrupt


def run_demo(*, until_done: bool, port: int, sandbox_port: int, step_delay: float = 1.5) -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    upgrade_database()
    webhook_token = secrets.token_urlsafe(24)
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    credentials = seed(sandbox_url, webhook_token)
    earlier_backlog = _unfinished_side_effects()
    run_id = time.strftime("%H%M%S")
    console.print(
        f"Database: {settings.sqlalchemy_url.split('@')[-1]}   Broker: {settings.redis_url or 'embedded (filesystem)'}"
    )
    with ExitStack() as stack:
        stack.enter_context(running_stack(port, sandbox_port, webhook_token, step_delay))
        api = stack.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=15))
        sandbox = stack.enter_context(httpx.Client(base_url=sandbox_url, timeout=5))
        phone = "62" + NO_DRIVER_PATIENT.phone.replace("-", "")[1:]
        sandbox.post(
            "/_sandbox/rules", json={"match_phone": phone, "scenario": "no_driver"}
        ).raise_for_status()
        order_ids = post_prescriptions(api, credentials.api_key, run_id)
        token = (
            api.post(
                "/api/v1/auth/login",
                json={"username": credentials.username, "password": credentials.password},
            )
            .raise_for_status()
            .json()["access_token"]
        )
        release_all(api, token, order_ids)
        deadline = time.monotonic() + DEMO_TIMEOUT_SECONDS
        with Live(console=console, refresh_per_second=2) as live:
            while True:
                orders = order_rows(api, token, order_ids)
                live.update(progress_table(orders))
                if all(OrderStatus(o["status"]) in SETTLED for o in orders) or time.monotonic() > deadline:
                    break
                time.sleep(1)
        done = all(OrderStatus(o["status"]) in SETTLED for o in orders)
        _wait_for_side_effects(earlier_backlog)
        _report(orders, port, credentials)
        if until_done:
            return 0 if done else 1
        console.print("Serving until Ctrl-C …")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


def _unfinished_side_effects() -> int:
    with new_session() as session:
        return count_unfinished(session)


def _wait_for_side_effects(earlier_backlog: int, timeout: float = 30.0) -> None:
    """The last SMS are still on their way when the last order settles; let this run's outbox drain first.

    ``earlier_backlog`` is what an earlier run left unfinished (a failed message waits for a person), which
    this run must not wait for.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _unfinished_side_effects() > earlier_backlog:
        time.sleep(0.3)


def _report(orders: list[dict[str, Any]], port: int, credentials: DemoCredentials) -> None:
    console.print()
    for order in orders:
        console.print(
            f"[bold]Order {order['id']}[/bold] {order['patient_name']}: {order['status']} — {_explain(order)}"
        )
        console.print(f"  tracking: {order['tracking_url']}")
    with new_session() as session:
        sms = session.exec(select(SmsMessage).where(SmsMessage.order_id.in_([o["id"] for o in orders]))).all()  # type: ignore[attr-defined]
    console.print(f"\n{len(sms)} SMS sent through the console gateway, for example:")
    for message in sms[:3]:
        console.print(f"  {message.to_phone[:-4]}****: {message.text}")
    console.print(
        f"\nConsole: http://127.0.0.1:{port}/console  (user {credentials.username}, password {credentials.password})"
    )
