"""Fixtures for the courier webhook endpoint: a hospital whose GoSend booking GK-11-170563 is in progress.

The booking is made through the real services (FHIR intake, release over the staff API, the ``dispatch.book``
task with GoSend mocked by respx), so the webhook meets the rows production would have.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from celery import Celery
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select
from webhooks_support import EXAMPLES, GOSEND_BASE_URL, ORDER_NO, gosend_settings

from dispatch.core.db import new_session
from dispatch.demo_data import PATIENTS, demo_bundle
from dispatch.hospitals.models import CourierAccount, Hospital
from dispatch.hospitals.service import add_courier_account
from dispatch.orders.models import Order
from dispatch.outbox.models import OutboxMessage


@pytest.fixture
def recorded_event() -> dict[str, Any]:
    """gosend_webhook_booking_event_no_driver.json with booking_id / entity_id rewritten to our booking."""
    payload = json.loads(
        (EXAMPLES / "gosend_webhook_booking_event_no_driver.json").read_text(encoding="utf-8")
    )
    payload = copy.deepcopy(payload)
    payload["booking_id"] = payload["entity_id"] = ORDER_NO
    return payload


@pytest.fixture
def gosend_account(session: Session, hospital: Hospital) -> CourierAccount:
    account = add_courier_account(session, hospital, "gosend", gosend_settings(), priority=10)
    session.commit()
    return account


BookOrder = Callable[[str], int]


@pytest.fixture
def book(client: TestClient, api_key: str, pharmacist_token: str, celery: Celery) -> BookOrder:
    """FHIR intake → release → ``dispatch.book`` (GoSend answers 201 with the given orderNo) → order id."""

    def book_order(order_no: str) -> int:
        return _book_order(client, api_key, pharmacist_token, celery, order_no)

    return book_order


def _book_order(
    client: TestClient, api_key: str, pharmacist_token: str, celery: Celery, order_no: str
) -> int:
    rx_number = f"RX-WH-{order_no}"
    created = client.post(
        "/fhir/r4/Bundle",
        content=json.dumps(demo_bundle(PATIENTS[0], rx_number)),
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/fhir+json"},
    )
    assert created.status_code == 201, created.text
    with new_session() as session:
        order_id = session.exec(select(Order.id).order_by(col(Order.id).desc())).first()
    assert order_id is not None
    released = client.post(
        f"/api/v1/orders/{order_id}/release", headers={"Authorization": f"Bearer {pharmacist_token}"}
    )
    assert released.status_code == 200, released.text
    with new_session() as session:
        book_id = session.exec(
            select(OutboxMessage.id)
            .where(OutboxMessage.topic == "dispatch.book")
            .where(col(OutboxMessage.processed_at).is_(None))
        ).one()
    with respx.mock(base_url=GOSEND_BASE_URL, assert_all_called=True) as gosend:
        gosend.post("/gokilat/v10/booking").mock(
            return_value=httpx.Response(
                201, json={"id": 170563, "orderNo": order_no, "bookingType": "Instant", "errors": []}
            )
        )
        result = celery.tasks["dispatch.book"].apply(args=[book_id])
    assert result.successful(), result.result
    with new_session() as session:
        booked = session.get(Order, order_id)
        assert booked is not None and booked.status == "booking"
    return order_id


@pytest.fixture
def booked_order(book: BookOrder, gosend_account: CourierAccount) -> int:
    return book(ORDER_NO)
