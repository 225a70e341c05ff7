"""The fallback cascade: the same courier once more, then the next account, then the partner pool, then staff."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import httpx
import respx
from dispatching_support import (
    BACKUP_BASE_URL,
    BACKUP_ORDER_NO,
    BACKUP_TOKEN,
    BOOKING_PATH,
    CANCEL_PATH,
    ORDER_NO,
    PRICE_PATH,
    PRIMARY_BASE_URL,
    PRIMARY_TOKEN,
    at,
    attempts,
    booking_created,
    gosend_event,
    order,
    pending_rows,
    price_estimate,
    run_outbox,
    state_changes,
    timeline,
)
from fastapi.testclient import TestClient
from sqlmodel import Session

from dispatch.core.clock import utcnow
from dispatch.dispatching import tasks
from dispatch.dispatching.models import AttemptStatus
from dispatch.hospitals.models import Hospital
from dispatch.hospitals.service import add_courier_account
from dispatch.orders.state_machine import OrderStatus

S = OrderStatus

PARTNER_URL = "https://shelter-rsud.test/gancang/jobs"
PARTNER_SETTINGS: dict[str, Any] = {
    "url": PARTNER_URL,
    "signing_secret": "whsec_" + base64.b64encode(b"gancang-to-shelter-signing-key!!").decode(),
    "webhook_secret": "whsec_" + base64.b64encode(b"shelter-to-gancang-webhook-key!!").decode(),
    "base_fee_idr": 5000,
    "per_km_idr": 2000,
    "service_areas": [{"name": "Banyuwangi", "lat": -8.2192, "lon": 114.3691, "radius_km": 25}],
    "max_distance_km": 25,
}


def report(client: TestClient, payload: dict[str, Any], token: str = PRIMARY_TOKEN) -> None:
    response = client.post(
        "/webhooks/couriers/gosend", content=json.dumps(payload), headers={"Authorization": token}
    )
    assert response.status_code == 200, response.text
    [row] = pending_rows("webhooks.apply")
    run_outbox(row.id)


def book_row_id(order_id: int) -> int:
    """The order's one unprocessed ``dispatch.book`` row."""
    [row] = [row for row in pending_rows("dispatch.book") if row.payload["order_id"] == order_id]
    assert row.id is not None
    return row.id


def book_gosend(order_id: int, base_url: str, order_no: str, price: int) -> None:
    with respx.mock(base_url=base_url, assert_all_called=True) as gosend:
        gosend.get(PRICE_PATH).mock(return_value=price_estimate(price))
        gosend.post(BOOKING_PATH).mock(return_value=booking_created(order_no))
        run_outbox(book_row_id(order_id))


def test_cascade_retries_the_courier_once_then_the_next_then_the_partner_then_staff(
    client, session: Session, hospital: Hospital, booked_order, primary_account, backup_account
):
    # The shelter is the cheapest and the most preferred, yet in a fallback it comes after every commercial one.
    partner = add_courier_account(session, hospital, "webhook", PARTNER_SETTINGS, priority=1, label="shelter")
    session.commit()

    report(client, gosend_event("no_driver", event_date=at(3)))
    assert order(booked_order).status == S.READY
    book_gosend(booked_order, PRIMARY_BASE_URL, "GK-11-170600", 16_000)  # the same account once more
    report(client, gosend_event("no_driver", event_date=at(4), order_no="GK-11-170600"))
    book_gosend(booked_order, BACKUP_BASE_URL, BACKUP_ORDER_NO, 18_500)  # then the next account
    report(client, gosend_event("cancelled", event_date=at(5), order_no=BACKUP_ORDER_NO), token=BACKUP_TOKEN)
    book_gosend(booked_order, BACKUP_BASE_URL, "GK-11-170700", 18_000)  # a driver cancelled: once more
    report(client, gosend_event("no_driver", event_date=at(6), order_no="GK-11-170700"), token=BACKUP_TOKEN)
    with respx.mock(assert_all_called=True) as shelter:  # then the partner pool, which refuses
        shelter.post(PARTNER_URL).mock(return_value=httpx.Response(422, json={"error": "no riders today"}))
        run_outbox(book_row_id(booked_order))

    tried = [(a.account_id, a.status, a.quoted_price_idr) for a in attempts(booked_order)]
    assert tried == [
        (primary_account.id, AttemptStatus.NO_DRIVER, 16_000),
        (primary_account.id, AttemptStatus.NO_DRIVER, 16_000),
        (backup_account.id, AttemptStatus.CANCELLED, 18_500),
        (backup_account.id, AttemptStatus.NO_DRIVER, 18_000),
        (partner.id, AttemptStatus.REFUSED, tried[-1][2]),
    ]
    reasons = [a.error for a in attempts(booked_order)]
    assert reasons[:4] == [
        "given back: no_driver",
        "given back: no_driver",
        "given back: cancelled",
        "given back: no_driver",
    ]
    assert reasons[4]  # the partner's refusal, as it gave it
    assert order(booked_order).status == S.NO_COURIER
    assert state_changes(booked_order)[-1] == (
        "ready",
        "no_courier",
        "No enabled courier left that can take this order",
    )
    alerts = [e.detail for e in timeline(booked_order) if e.kind == "alert"]
    assert any("No courier left" in detail for detail in alerts), alerts
    assert pending_rows("dispatch.book") == []


def test_without_retry_the_same_courier_is_not_booked_twice(
    client, session: Session, hospital: Hospital, booked_order, primary_account
):
    stored = session.get(Hospital, hospital.id)
    assert stored is not None
    stored.dispatch_policy = {"retry_same_courier_once": False}
    session.commit()

    report(client, gosend_event("no_driver", event_date=at(3)))

    assert order(booked_order).status == S.NO_COURIER
    assert any(e.kind == "alert" for e in timeline(booked_order))


def test_a_booking_without_a_driver_past_the_timeout_is_cancelled_and_falls_back(
    booked_order, primary_account
):
    [attempt] = attempts(booked_order)
    assert attempt.id is not None
    assert not tasks.check_allocation(attempt.id, utcnow() + timedelta(minutes=14))

    assert tasks.check_allocation(attempt.id, utcnow() + timedelta(minutes=16))

    [given_back] = attempts(booked_order)
    assert given_back.error == "given back: no driver within 15 min"
    fallen = order(booked_order)
    assert (fallen.status, fallen.current_attempt_id) == (S.READY, None)
    assert state_changes(booked_order)[-1] == ("booking", "ready", "gosend: no driver within 15 min")
    [cancel] = pending_rows("dispatch.cancel_booking")
    assert cancel.payload == {"attempt_id": attempt.id}
    with respx.mock(base_url=PRIMARY_BASE_URL, assert_all_called=True) as gosend:
        gosend.put(CANCEL_PATH).mock(return_value=httpx.Response(200, json={"message": "ok"}))
        run_outbox(cancel.id)
    assert attempts(booked_order)[0].status == AttemptStatus.CANCELLED
    # A give-back: the same account is asked once more.
    book_gosend(booked_order, PRIMARY_BASE_URL, "GK-11-170601", 16_000)
    first, second = attempts(booked_order)
    assert (second.account_id, second.status) == (primary_account.id, AttemptStatus.BOOKED)
    assert first.provider_order_id == ORDER_NO
