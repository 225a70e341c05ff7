"""`gancang demo`: the whole loop on real processes — API, Celery worker with beat, courier sandbox.

It seeds RSUD Blambangan with two courier accounts (GoSend, and the hospital's shelter drivers on the local
partner protocol), posts six FHIR prescriptions as the hospital's SIMRS would, releases them as a pharmacist
would (through the JSON API), and follows them to the end. The cheaper quote wins where both couriers reach;
the shelter's drivers take the patient's handover PIN, and one of them mishears it first. The patient farthest
out (Tegalsari) is left for a person to decide: GoSend finds no driver there, or dispatch already reckons the
road beyond GoSend's reach.
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
from sqlmodel import Session, select

from couriers.sandbox.config import DEMO_EVENT_SECRET, DEMO_PARTNER_SECRET
from dispatch.auth.models import Role, StaffUserCreate
from dispatch.auth.repository import get_user_by_username
from dispatch.auth.service import create_user
from dispatch.core.db import new_session
from dispatch.core.migrate import upgrade_database
from dispatch.core.security import hash_password
from dispatch.core.settings import settings
from dispatch.demo_data import HOSPITAL, PARTNER_LABEL, PARTNER_TARIFF, PATIENTS, DemoPatient, demo_bundle
from dispatch.hospitals.models import CourierAccount, Hospital
from dispatch.hospitals.repository import get_by_code
from dispatch.hospitals.service import add_courier_account, create_api_key, create_hospital
from dispatch.notify.models import SmsMessage
from dispatch.orders.models import Order
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
# A driver who misheard the PIN reports the right one at least this long after the wrong one: the wrong
# report must reach the order first (the outbox relay ticks every second on the embedded defaults) for the
# pharmacy to see its alert, rather than arriving after the right one and being set aside as stale.
PIN_RETRY_SECONDS = 2.0
DEMO_PHARMACIST = "apoteker.demo"


@dataclass(frozen=True)
class DemoCredentials:
    api_key: str
    username: str
    password: str


def seed(sandbox_url: str, webhook_token: str) -> DemoCredentials:
    """Idempotent: reuses the hospital on a second run and points its two courier accounts at this sandbox.

    The shelter account signs with the sandbox's published demo secrets, because `gancang sandbox` takes no
    secrets for its partner dialect; GoSend's webhook token is new on every run.
    """
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
        partner_settings = {
            "url": f"{sandbox_url}/partner/jobs",
            "signing_secret": DEMO_PARTNER_SECRET,
            "webhook_secret": DEMO_EVENT_SECRET,
            "status_url": f"{sandbox_url}/partner/jobs/{{job_id}}",
            **PARTNER_TARIFF,
        }
        _point_account(session, hospital, "gosend", "default", gosend_settings, priority=10)
        _point_account(session, hospital, "webhook", PARTNER_LABEL, partner_settings, priority=20)
        session.commit()
    return DemoCredentials(api_key=api_key, username=DEMO_PHARMACIST, password=password)


def _point_account(
    session: Session,
    hospital: Hospital,
    courier: str,
    label: str,
    courier_settings: dict[str, Any],
    priority: int,
) -> None:
    account = session.exec(
        select(CourierAccount).where(
            CourierAccount.hospital_id == hospital.id,
            CourierAccount.courier == courier,
            CourierAccount.label == label,
        )
    ).first()
    if account is None:
        add_courier_account(session, hospital, courier, courier_settings, priority=priority, label=label)
    else:
        account.settings = courier_settings
        account.enabled = True


@contextmanager
def running_stack(
    port: int, sandbox_port: int, webhook_token: str, step_delay: float, sandbox_flags: tuple[str, ...] = ()
) -> Iterator[Mapping[str, subprocess.Popen[bytes]]]:
    """Starts the three processes, waits until they answer, yields them by name, and always stops them."""
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
            "--partner-webhook-url",
            f"http://127.0.0.1:{port}/webhooks/couriers/webhook",
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
            yield processes
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
        ensure_running(processes or {})
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up within {timeout:.0f} s")


def ensure_running(processes: Mapping[str, subprocess.Popen[bytes]]) -> None:
    """Fails at once when one of the demo's processes has died, rather than waiting out the demo's timeout."""
    for name, process in processes.items():
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}; see {settings.data_dir / 'logs'}")


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


def _journey(patient: DemoPatient, step_delay: float) -> dict[str, Any]:
    """The sandbox rule that plays this patient's delivery."""
    rule: dict[str, Any] = {"match_phone": patient.phone, "scenario": patient.courier_scenario}
    if patient.courier_scenario == "wrong_pin_first":
        rule["step_delay_seconds"] = max(step_delay, PIN_RETRY_SECONDS)
    return rule


def tell_scenarios(sandbox: httpx.Client, step_delay: float) -> None:
    """Before the bookings: how the sandbox courier plays each patient whose delivery is not a plain one."""
    for patient in PATIENTS:
        if patient.courier_scenario != "happy":
            sandbox.post("/_sandbox/rules", json=_journey(patient, step_delay)).raise_for_status()


def tell_pins(sandbox: httpx.Client, order_ids: list[int], step_delay: float) -> None:
    """Every patient tells the driver at the door the PIN their tracking page shows (made at release).

    Only the shelter's drivers ask for it; GoSend's ignore it. The sandbox reads the PIN at the handover, so a
    booking made before this call still gets it. The rule repeats the patient's journey because the newest
    matching rule decides a booking made after it. The PIN comes from the database, as the staff API never
    shows it.
    """
    with new_session() as session:
        for order_id, patient in zip(order_ids, PATIENTS, strict=True):
            order = session.get(Order, order_id)
            if order is None or order.handover_pin is None:
                continue
            rule = _journey(patient, step_delay) | {"handover_pin": order.handover_pin}
            sandbox.post("/_sandbox/rules", json=rule).raise_for_status()


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


def _courier(order: dict[str, Any], labels: Mapping[str, str]) -> str:
    """The courier of the order's latest booking, named by the hospital's account label where it has one."""
    courier = order["courier"]
    if courier is None:
        return "-"
    label = labels.get(courier, "default")
    return courier if label == "default" else f"{label} ({courier})"


def _quoted(order: dict[str, Any]) -> str:
    bookings = order["bookings"]
    price = bookings[-1]["quoted_price_idr"] if bookings else None
    return "-" if price is None else f"Rp{price:,}"


def progress_table(orders: list[dict[str, Any]], labels: Mapping[str, str]) -> Table:
    table = Table(title="Gancang demo — RSUD Blambangan")
    for column in ("order", "patient", "kecamatan", "courier", "quoted", "status", "minutes"):
        table.add_column(column)
    for order in orders:
        table.add_row(
            str(order["id"]),
            order["patient_name"],
            order["kecamatan_name"] or "-",
            _courier(order, labels),
            _quoted(order),
            order["status"],
            _minutes(order),
        )
    return table


def account_labels() -> dict[str, str]:
    """The demo hospital has one account per courier, so the courier's name finds its label."""
    with new_session() as session:
        hospital = get_by_code(session, HOSPITAL.code)
        assert hospital is not None
        accounts = session.exec(select(CourierAccount).where(CourierAccount.hospital_id == hospital.id)).all()
        return {account.courier: account.label for account in accounts}


def _booking_reason(order: dict[str, Any]) -> str:
    """Why the last courier was asked, as dispatch wrote it on the timeline (the quotes it weighed)."""
    reasons = [e["detail"] for e in order["events"] if e["to_status"] == "booking" and e["detail"]]
    return reasons[-1] if reasons else "no courier was booked"


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
        processes = stack.enter_context(running_stack(port, sandbox_port, webhook_token, step_delay))
        api = stack.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=15))
        sandbox = stack.enter_context(httpx.Client(base_url=sandbox_url, timeout=5))
        tell_scenarios(sandbox, step_delay)
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
        tell_pins(sandbox, order_ids, step_delay)
        labels = account_labels()
        deadline = time.monotonic() + DEMO_TIMEOUT_SECONDS
        with Live(console=console, refresh_per_second=2) as live:
            while True:
                ensure_running(processes)
                orders = order_rows(api, token, order_ids)
                live.update(progress_table(orders, labels))
                if all(OrderStatus(o["status"]) in SETTLED for o in orders) or time.monotonic() > deadline:
                    break
                time.sleep(1)
        done = all(OrderStatus(o["status"]) in SETTLED for o in orders)
        _wait_for_side_effects(earlier_backlog)
        _report(orders, labels, port, credentials)
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


def _report(
    orders: list[dict[str, Any]], labels: Mapping[str, str], port: int, credentials: DemoCredentials
) -> None:
    console.print()
    for order in orders:
        # Unwrapped, so each line stays whole in a log or a captured test output.
        console.print(
            f"[bold]Order {order['id']}[/bold] {order['patient_name']}: {order['status']}, "
            f"courier {_courier(order, labels)} quoted {_quoted(order)} — {_explain(order)}",
            soft_wrap=True,
        )
        console.print(f"  {_booking_reason(order)}", soft_wrap=True)
        console.print(f"  tracking: {order['tracking_url']}", soft_wrap=True)
    with new_session() as session:
        sms = session.exec(select(SmsMessage).where(SmsMessage.order_id.in_([o["id"] for o in orders]))).all()  # type: ignore[attr-defined]
    console.print(f"\n{len(sms)} SMS sent through the console gateway, for example:")
    for message in sms[:3]:
        console.print(f"  {message.to_phone[:-4]}****: {message.text}")
    console.print(
        f"\nConsole: http://127.0.0.1:{port}/console  (user {credentials.username}, password {credentials.password})"
    )
