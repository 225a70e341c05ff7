"""Cancelling a booked order: the ``dispatch.cancel_booking`` task and GoSend's PUT /booking/cancel."""

from __future__ import annotations

import json

import httpx
import pytest
import respx
from celery.exceptions import Retry
from dispatching_support import (
    BOOKING_PATH,
    CANCEL_PATH,
    ORDER_NO,
    PRIMARY_BASE_URL,
    attempts,
    booking_status,
    deliver_once,
    load,
    order,
    pending_rows,
    run_outbox,
    sms_kinds,
    timeline,
)

from dispatch.dispatching.models import AttemptStatus
from dispatch.orders.state_machine import OrderStatus
from dispatch.outbox.models import OutboxMessage


@pytest.fixture
def cancel(client, pharmacist_token):
    def cancel_order(order_id: int, reason: str = "Pasien mengambil obat sendiri") -> dict:
        response = client.post(
            f"/api/v1/orders/{order_id}/cancel",
            json={"reason": reason},
            headers={"Authorization": f"Bearer {pharmacist_token}"},
        )
        assert response.status_code == 200, response.text
        return response.json()

    return cancel_order


@pytest.fixture
def gosend():
    with respx.mock(base_url=PRIMARY_BASE_URL, assert_all_called=True) as router:
        yield router


def cancel_row_id(attempt_id: int | None) -> int:
    [row] = pending_rows("dispatch.cancel_booking")
    assert row.payload == {"attempt_id": attempt_id}
    assert row.id is not None
    return row.id


def test_cancelling_a_booked_order_cancels_the_gosend_booking(booked_order, cancel, gosend):
    [attempt] = attempts(booked_order)
    detail = cancel(booked_order)
    assert detail["status"] == "cancelled"
    assert detail["events"][-1]["detail"] == "Pasien mengambil obat sendiri"
    row_id = cancel_row_id(attempt.id)
    route = gosend.put(CANCEL_PATH).mock(return_value=httpx.Response(200, json={"message": "ok"}))

    run_outbox(row_id)

    assert route.call_count == 1
    request = route.calls.last.request
    assert json.loads(request.content) == {"orderNo": ORDER_NO}
    assert (request.headers["Client-ID"], request.headers["Pass-Key"]) == (
        "rsud-blambangan",
        "pass-key-primary",
    )
    [cancelled] = attempts(booked_order)
    assert (cancelled.status, cancelled.error) == (AttemptStatus.CANCELLED, None)
    assert order(booked_order).status == OrderStatus.CANCELLED
    assert sms_kinds(booked_order) == ["released", "cancelled"]
    assert load(OutboxMessage, row_id).processed_at is not None


def test_running_the_cancel_twice_calls_gosend_once(booked_order, cancel, gosend):
    cancel(booked_order)
    row_id = cancel_row_id(attempts(booked_order)[0].id)
    route = gosend.put(CANCEL_PATH).mock(return_value=httpx.Response(200, json={"message": "ok"}))
    run_outbox(row_id)
    run_outbox(row_id)
    assert route.call_count == 1


def test_courier_refusing_to_cancel_leaves_an_alert(booked_order, cancel, gosend):
    cancel(booked_order)
    row_id = cancel_row_id(attempts(booked_order)[0].id)
    gosend.put(CANCEL_PATH).mock(
        return_value=httpx.Response(
            422, headers={"Error-Message": "Booking cannot be cancelled after pickup"}
        )
    )

    run_outbox(row_id)

    [attempt] = attempts(booked_order)
    assert attempt.status == AttemptStatus.BOOKED  # GoSend still holds it: a person must follow up
    assert attempt.error == "cancel refused: Booking cannot be cancelled after pickup"
    alert = timeline(booked_order)[-1]
    assert (alert.kind, alert.detail) == (
        "alert",
        "gosend refused to cancel: Booking cannot be cancelled after pickup",
    )
    assert order(booked_order).status == OrderStatus.CANCELLED
    assert load(OutboxMessage, row_id).processed_at is not None


def test_cancel_server_error_is_retried_with_the_booking_untouched(booked_order, cancel, gosend):
    cancel(booked_order)
    row_id = cancel_row_id(attempts(booked_order)[0].id)
    gosend.put(CANCEL_PATH).mock(return_value=httpx.Response(503))

    with pytest.raises(Retry):
        deliver_once(row_id)

    [attempt] = attempts(booked_order)
    assert (attempt.status, attempt.error) == (AttemptStatus.BOOKED, None)
    assert [e.kind for e in timeline(booked_order)].count("alert") == 0
    message = load(OutboxMessage, row_id)
    assert message.processed_at is None
    assert message.last_error == "gosend: GoSend answered HTTP 503"


def test_cancelling_while_the_booking_answer_was_lost_finds_it_by_reference(
    make_order, book_row, primary_account, cancel, gosend
):
    order_id = make_order()
    gosend.post(BOOKING_PATH).mock(side_effect=httpx.ReadTimeout("no answer"))
    with pytest.raises(Retry):
        deliver_once(book_row(order_id))
    [pending] = attempts(order_id)
    assert pending.status == AttemptStatus.PENDING

    cancel(order_id)
    gosend.routes.clear()
    gosend.calls.clear()
    lookup = gosend.get(f"/gokilat/v10/booking/storeOrderId/{pending.reference}").mock(
        return_value=httpx.Response(200, json=booking_status(pending.reference))
    )
    put = gosend.put(CANCEL_PATH).mock(return_value=httpx.Response(200, json={"message": "ok"}))

    run_outbox(cancel_row_id(pending.id))

    assert (lookup.call_count, put.call_count) == (1, 1)
    assert json.loads(put.calls.last.request.content) == {"orderNo": ORDER_NO}
    assert attempts(order_id)[0].status == AttemptStatus.CANCELLED


def test_cancelling_before_any_booking_calls_no_courier(make_order, primary_account, cancel, gosend):
    order_id = make_order()
    cancel(order_id)
    assert pending_rows("dispatch.cancel_booking") == []
    assert gosend.calls.call_count == 0
