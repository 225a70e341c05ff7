"""Fixtures for the dispatching tests: a hospital with GoSend accounts, orders made through the real API.

Outbox handlers run in-process with Celery's ``Task.apply``; courier HTTP is mocked with respx at the
GoSend base URL of each account.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import respx
from celery.result import EagerResult
from sqlmodel import Session, col, select

import dispatch.dispatching.tasks
import dispatch.notify.tasks
import dispatch.outbox.tasks
import dispatch.webhooks.tasks  # noqa: F401  (registers the webhooks.apply task)
from dispatch.core.celery_app import celery_app
from dispatch.core.db import new_session
from dispatch.demo_data import PATIENTS, DemoPatient, demo_bundle
from dispatch.dispatching.models import BookingAttempt
from dispatch.hospitals.models import CourierAccount, Hospital
from dispatch.hospitals.service import add_courier_account
from dispatch.orders.models import Order, OrderEvent, Prescription
from dispatch.outbox.models import OutboxMessage

PRIMARY_BASE_URL = "https://gosend-primary.test"
BACKUP_BASE_URL = "https://gosend-backup.test"
WEBHOOK_TOKEN = "primary-hook-token"
BOOKING_PATH = "/gokilat/v10/booking"


def _sync_settings_with_test_environment() -> None:
    """Work around tests/conftest.py reading the settings before it sets the test environment.

    It imports ``dispatch.hospitals.models`` (hence ``dispatch.core.settings``) above its ``os.environ.update``,
    so ``settings`` holds the development defaults (a SQLite file under ./var) and the ``database`` fixture
    fails. The shared object is updated in place from the now-complete environment; a no-op once fixed.
    """
    from dispatch.core import settings as settings_module

    fresh = settings_module.Settings()
    current = settings_module.settings
    for name in type(current).model_fields:
        setattr(current, name, getattr(fresh, name))


_sync_settings_with_test_environment()


def gosend_settings(base_url: str = PRIMARY_BASE_URL, **extra: Any) -> dict[str, Any]:
    return {
        "client_id": "rsud-blambangan",
        "pass_key": "pass-key-primary",
        "base_url": base_url,
        "webhook_token": WEBHOOK_TOKEN,
        **extra,
    }


def booking_created(order_no: str, reference: str = "AWBfromPartner", booking_id: int = 170563) -> httpx.Response:
    """The documented 201 answer (gosend_booking_response_partial.json), for our reference."""
    return httpx.Response(
        201,
        json={
            "id": booking_id,
            "orderNo": order_no,
            "bookingType": "Instant",
            "storeOrderId": reference,
            "errors": [],
        },
    )


@pytest.fixture
def primary_account(session: Session, hospital: Hospital) -> CourierAccount:
    account = add_courier_account(session, hospital, "gosend", gosend_settings(), priority=10)
    session.commit()
    return account


@pytest.fixture
def backup_account(session: Session, hospital: Hospital, primary_account: CourierAccount) -> CourierAccount:
    """A second GoSend account tried after the primary one.

    ``add_courier_account`` takes no label, and both accounts would collide on (hospital, courier, "default"),
    so the row is built here after validating the settings the same way.
    """
    from couriers.registry import get_plugin

    settings = gosend_settings(
        BACKUP_BASE_URL, client_id="rsud-blambangan-backup", pass_key="pass-key-backup", webhook_token="backup-hook"
    )
    get_plugin("gosend").settings_model.model_validate(settings)
    account = CourierAccount(
        hospital_id=hospital.id, courier="gosend", label="backup", priority=20, settings=settings
    )
    session.add(account)
    session.commit()
    return account


# --- reading state with fresh sessions (tasks commit in their own sessions) -------------------------------


def load(model: type[Any], row_id: int) -> Any:
    with new_session() as db_session:
        return db_session.get(model, row_id)


def outbox_rows(topic: str | None = None) -> list[OutboxMessage]:
    with new_session() as db_session:
        query = select(OutboxMessage).order_by(col(OutboxMessage.id))
        if topic is not None:
            query = query.where(OutboxMessage.topic == topic)
        return list(db_session.exec(query).all())


def attempts(order_id: int) -> list[BookingAttempt]:
    with new_session() as db_session:
        query = select(BookingAttempt).where(BookingAttempt.order_id == order_id)
        return list(db_session.exec(query.order_by(col(BookingAttempt.id))).all())


def timeline(order_id: int) -> list[OrderEvent]:
    with new_session() as db_session:
        query = select(OrderEvent).where(OrderEvent.order_id == order_id)
        return list(db_session.exec(query.order_by(col(OrderEvent.id))).all())


def apply_outbox(outbox_id: int) -> EagerResult:
    """Run the handler of one outbox row in-process, as a worker would (eagerly, through Task.apply)."""
    message = load(OutboxMessage, outbox_id)
    assert message is not None
    return celery_app.tasks[message.topic].apply(args=[outbox_id])


def run_outbox(outbox_id: int) -> None:
    result = apply_outbox(outbox_id)
    assert result.successful(), f"{result.state}: {result.result!r}"


# --- orders made through the real endpoints ----------------------------------------------------------------


OrderFactory = Callable[..., int]


@pytest.fixture
def make_order(client, api_key: str, pharmacist_token: str) -> OrderFactory:
    """Ingest a demo bundle over FHIR, optionally release it over the staff API; returns the order id."""
    counter = iter(range(1, 1000))

    def make(patient: DemoPatient = PATIENTS[0], *, release: bool = True, rx: str | None = None) -> int:
        number = rx or f"RX-DSP-{next(counter):04d}"
        response = client.post(
            "/fhir/r4/Bundle",
            content=json.dumps(demo_bundle(patient, number)),
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/fhir+json"},
        )
        assert response.status_code == 201, response.text
        with new_session() as db_session:
            order = db_session.exec(
                select(Order).join(Prescription).where(Prescription.prescription_number == number)
            ).one()
        assert order.id is not None
        if release:
            released = client.post(
                f"/api/v1/orders/{order.id}/release", headers={"Authorization": f"Bearer {pharmacist_token}"}
            )
            assert released.status_code == 200, released.text
        return order.id

    return make


def book_row(order_id: int) -> OutboxMessage:
    """The unprocessed dispatch.book row of an order."""
    rows = [
        row
        for row in outbox_rows("dispatch.book")
        if row.payload["order_id"] == order_id and row.processed_at is None
    ]
    assert len(rows) == 1, rows
    return rows[0]


@pytest.fixture
def gosend_mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=True) as router:
        yield router


@pytest.fixture
def booked_order(make_order: OrderFactory, primary_account: CourierAccount) -> int:
    """An order in ``booking`` whose attempt GoSend accepted as GK-11-170563."""
    order_id = make_order()
    with respx.mock(base_url=PRIMARY_BASE_URL, assert_all_called=True) as router:
        router.post(BOOKING_PATH).mock(return_value=booking_created("GK-11-170563"))
        run_outbox(book_row(order_id).id)
    return order_id
