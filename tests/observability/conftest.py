"""Fixtures for the observability tests: a hospital with a GoSend account, orders made through the real API.

Outbox handlers run in-process (``Task.apply``), so the event metrics they count are this process's and
``/metrics`` of the test app reports them; courier HTTP is mocked with respx.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from itertools import count

import pytest
import respx
from celery import Celery
from fastapi.testclient import TestClient
from observability_support import (
    BOOKING_PATH,
    GOSEND_BASE_URL,
    PRICE_PATH,
    booking_created,
    gosend_settings,
    only_row,
    price_estimate,
    run_outbox,
)
from sqlmodel import Session, select

from dispatch.core.db import new_session
from dispatch.demo_data import PATIENTS, demo_bundle
from dispatch.hospitals.models import CourierAccount, Hospital
from dispatch.hospitals.service import add_courier_account
from dispatch.orders.models import Order, Prescription

OrderFactory = Callable[..., int]


@pytest.fixture
def gosend_account(session: Session, hospital: Hospital) -> CourierAccount:
    account = add_courier_account(session, hospital, "gosend", gosend_settings(), priority=10)
    session.commit()
    return account


@pytest.fixture
def make_order(client: TestClient, api_key: str, pharmacist_token: str, celery: Celery) -> OrderFactory:
    """FHIR intake and (by default) release over the staff API; returns the order id."""
    numbers = count(1)

    def make(*, release: bool = True) -> int:
        rx_number = f"RX-OBS-{next(numbers):04d}"
        response = client.post(
            "/fhir/r4/Bundle",
            content=json.dumps(demo_bundle(PATIENTS[0], rx_number)),
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
                f"/api/v1/orders/{order.id}/release", headers={"Authorization": f"Bearer {pharmacist_token}"}
            )
            assert released.status_code == 200, released.text
        return order.id

    return make


@pytest.fixture
def booked_order(make_order: OrderFactory, gosend_account: CourierAccount) -> int:
    """A released order that GoSend booked as GK-11-170563."""
    order_id = make_order()
    with respx.mock(base_url=GOSEND_BASE_URL, assert_all_called=True) as gosend:
        gosend.get(PRICE_PATH).mock(return_value=price_estimate())
        gosend.post(BOOKING_PATH).mock(return_value=booking_created())
        run_outbox(only_row("dispatch.book", order_id))
    return order_id
