"""Reconciliation: the beat asks couriers about bookings whose webhooks went quiet."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import respx
from dispatching_support import (
    ORDER_NO,
    PRIMARY_BASE_URL,
    PRIMARY_TOKEN,
    at,
    attempts,
    booking_status,
    driver_fields,
    gosend_event,
    order,
    pending_rows,
    run_outbox,
    timeline,
)
from fastapi.testclient import TestClient

from dispatch.core.clock import utcnow
from dispatch.core.db import new_session
from dispatch.dispatching import tasks
from dispatch.dispatching.models import AttemptStatus, BookingAttempt
from dispatch.orders.state_machine import OrderStatus

S = OrderStatus
STATUS_PATH = f"/gokilat/v10/booking/orderno/{ORDER_NO}"


def report(client: TestClient, payload: dict[str, Any]) -> None:
    response = client.post(
        "/webhooks/couriers/gosend", content=json.dumps(payload), headers={"Authorization": PRIMARY_TOKEN}
    )
    assert response.status_code == 200, response.text
    [row] = pending_rows("webhooks.apply")
    run_outbox(row.id)


def go_quiet(attempt_id: int | None, minutes: int = 11) -> None:
    """The booking has heard nothing from its courier for a while."""
    with new_session() as session:
        attempt = session.get(BookingAttempt, attempt_id)
        assert attempt is not None
        attempt.updated_at = utcnow() - timedelta(minutes=minutes)
        session.commit()


def test_a_delivery_found_by_polling_is_applied_like_a_webhook(client, booked_order):
    report(client, gosend_event("allocated", event_date=at(1), **driver_fields()))
    report(client, gosend_event("picked", event_date=at(2), **driver_fields()))
    [attempt] = attempts(booked_order)
    go_quiet(attempt.id)
    reference = attempt.reference

    with respx.mock(base_url=PRIMARY_BASE_URL, assert_all_called=True) as gosend:
        route = gosend.get(STATUS_PATH).mock(
            return_value=httpx.Response(200, json=booking_status(reference, label="delivered"))
        )
        tasks.reconcile()
        assert route.call_count == 1

    assert order(booked_order).status == S.DELIVERED
    [delivered] = attempts(booked_order)
    assert (delivered.status, delivered.provider_status) == (AttemptStatus.DELIVERED, "delivered")
    assert [e.to_status for e in timeline(booked_order) if e.kind == "state"][-1] == "delivered"


def test_a_recent_booking_is_not_polled(client, booked_order):
    with respx.mock(base_url=PRIMARY_BASE_URL, assert_all_called=False) as gosend:
        route = gosend.get(STATUS_PATH).mock(return_value=httpx.Response(500))
        tasks.reconcile()
        assert route.call_count == 0
    assert order(booked_order).status == S.BOOKING


def test_a_quiet_booking_whose_status_call_fails_stays_and_is_noted(client, booked_order):
    [attempt] = attempts(booked_order)
    go_quiet(attempt.id)

    with respx.mock(base_url=PRIMARY_BASE_URL, assert_all_called=True) as gosend:
        gosend.get(STATUS_PATH).mock(
            return_value=httpx.Response(400, headers={"Error-Message": "Bad request"})
        )
        tasks.reconcile()

    assert order(booked_order).status == S.BOOKING
    [kept] = attempts(booked_order)
    assert kept.status == AttemptStatus.BOOKED
    assert kept.updated_at > utcnow() - timedelta(minutes=1)  # asked again a quiet period later, not at once
    notes = [e.detail for e in timeline(booked_order) if "status check failed" in e.detail]
    assert len(notes) == 1, notes
