"""Fixtures for the dispatching tests: a hospital with GoSend accounts and orders made through the real API.

Outbox handlers run in-process (``Task.apply``); courier HTTP is mocked with respx at each account's base URL.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterator
from itertools import count

import pytest
import respx
from celery import Celery
from dispatching_support import (
    BACKUP_BASE_URL,
    BACKUP_TOKEN,
    BOOKING_PATH,
    PRICE_PATH,
    PRIMARY_BASE_URL,
    booking_created,
    gosend_settings,
    pending_rows,
    price_estimate,
    run_outbox,
)
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dispatch.core.db import new_session
from dispatch.demo_data import PATIENTS, DemoPatient, demo_bundle
from dispatch.hospitals.models import CourierAccount, Hospital
from dispatch.hospitals.service import add_courier_account
from dispatch.notify.gateways import ConsoleGateway, RecordedSms
from dispatch.orders.models import Order, Prescription


@pytest.fixture
def primary_account(session: Session, hospital: Hospital) -> CourierAccount:
    account = add_courier_account(session, hospital, "gosend", gosend_settings(), priority=10)
    session.commit()
    return account


@pytest.fixture
def backup_account(session: Session, hospital: Hospital, primary_account: CourierAccount) -> CourierAccount:
    """A second GoSend account (label "backup", priority 20, its own base URL and webhook token)."""
    from dispatch.hospitals.service import add_courier_account

    settings = gosend_settings(
        BACKUP_BASE_URL,
        client_id="rsud-blambangan-backup",
        pass_key="pass-key-backup",
        webhook_token=BACKUP_TOKEN,
    )
    account = add_courier_account(session, hospital, "gosend", settings, priority=20, label="backup")
    session.commit()
    return account


OrderFactory = Callable[..., int]


@pytest.fixture
def make_order(client: TestClient, api_key: str, pharmacist_token: str, celery: Celery) -> OrderFactory:
    """Ingest a demo bundle over FHIR and (by default) release it over the staff API; returns the order id."""
    numbers = count(1)

    def make(patient: DemoPatient = PATIENTS[0], *, release: bool = True) -> int:
        rx_number = f"RX-DSP-{next(numbers):04d}"
        response = client.post(
            "/fhir/r4/Bundle",
            content=json.dumps(demo_bundle(patient, rx_number)),
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/fhir+json"},
        )
        assert response.status_code == 201, response.text
        with new_session() as db_session:
            order = db_session.exec(
                select(Order).join(Prescription).where(Prescription.prescription_number == rx_number)
            ).one()
        assert order.id is not None
        if release:
            released = client.post(
                f"/api/v1/orders/{order.id}/release",
                headers={"Authorization": f"Bearer {pharmacist_token}"},
            )
            assert released.status_code == 200, released.text
            assert released.json()["status"] == "released"
        return order.id

    return make


def book_row_id(order_id: int) -> int:
    """The id of the order's one unprocessed ``dispatch.book`` row."""
    rows = [row for row in pending_rows("dispatch.book") if row.payload["order_id"] == order_id]
    assert len(rows) == 1, rows
    assert rows[0].id is not None
    return rows[0].id


@pytest.fixture
def book_row() -> Callable[[int], int]:
    return book_row_id


@pytest.fixture
def booked_order(make_order: OrderFactory, primary_account: CourierAccount) -> int:
    """An order in ``booking`` whose first attempt GoSend accepted as GK-11-170563."""
    order_id = make_order()
    with respx.mock(base_url=PRIMARY_BASE_URL, assert_all_called=True) as gosend:
        gosend.get(PRICE_PATH).mock(return_value=price_estimate())
        gosend.post(BOOKING_PATH).mock(return_value=booking_created())
        run_outbox(book_row_id(order_id))
    return order_id


@pytest.fixture
def console_outbox() -> Iterator[deque[RecordedSms]]:
    """The console SMS gateway's record of sent messages, emptied around the test."""
    from dispatch.notify.tasks import gateway

    console = gateway()
    assert isinstance(console, ConsoleGateway)
    sent = console.outbox
    sent.clear()
    yield sent
    sent.clear()
