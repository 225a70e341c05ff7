"""Applying GoSend status reports to orders: ``webhooks.apply`` and ``apply_courier_event``.

Reports arrive through the real endpoint and are applied by the outbox task, except where the service is
called directly to look at its outcome.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import respx
from dispatching_support import (
    BACKUP_BASE_URL,
    BACKUP_ORDER_NO,
    BACKUP_TOKEN,
    BOOKING_PATH,
    ORDER_NO,
    PRICE_PATH,
    PRIMARY_TOKEN,
    at,
    attempts,
    booking_created,
    driver_fields,
    gosend_event,
    load,
    order,
    pending_rows,
    price_estimate,
    run_outbox,
    sms_kinds,
    state_changes,
    timeline,
)
from fastapi.testclient import TestClient
from sqlmodel import Session

from couriers.gosend import mapper
from dispatch.core.db import new_session
from dispatch.dispatching import repository as dispatching_repository
from dispatch.dispatching.models import AttemptStatus
from dispatch.dispatching.service import EventOutcome, apply_courier_event
from dispatch.hospitals.models import Hospital
from dispatch.inbox.models import InboxMessage, InboxStatus
from dispatch.orders.state_machine import OrderStatus

S = OrderStatus


@pytest.fixture(autouse=True)
def one_try_per_account(session: Session, hospital: Hospital) -> None:
    """These tests cover the fallback to the next account, so a give-back does not re-book the same one;
    the cascade's retry on the same courier is covered in ``test_dispatching_cascade.py``."""
    stored = session.get(Hospital, hospital.id)
    assert stored is not None
    stored.dispatch_policy = {"retry_same_courier_once": False}
    session.commit()


def report(client: TestClient, payload: dict[str, Any], token: str = PRIMARY_TOKEN) -> int:
    """POST one GoSend callback, then run the ``webhooks.apply`` row it queued; returns the inbox id."""
    response = client.post(
        "/webhooks/couriers/gosend", content=json.dumps(payload), headers={"Authorization": token}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"message": "ok"}
    [row] = pending_rows("webhooks.apply")
    run_outbox(row.id)
    return row.payload["inbox_id"]


def apply_directly(payload: dict[str, Any]) -> EventOutcome:
    """``apply_courier_event`` in its own transaction, as the task runs it."""
    event = mapper.parse_webhook(json.dumps(payload).encode())
    with new_session() as session:
        attempt = dispatching_repository.get_by_provider_id(session, "gosend", event.provider_order_id)
        assert attempt is not None
        outcome = apply_courier_event(session, attempt, event)
        session.commit()
    return outcome


def test_happy_sequence_delivers_the_order_and_records_the_driver(client, booked_order):
    statuses = ["confirmed", "allocated", "out_for_pickup", "picked", "out_for_delivery", "delivered"]
    seen = []
    inbox_ids = []
    for minute, status in enumerate(statuses, start=1):
        inbox_ids.append(report(client, gosend_event(status, event_date=at(minute), **driver_fields())))
        seen.append(order(booked_order).status)

    assert seen == [
        S.BOOKING,  # confirmed: GoSend is still looking for a driver
        S.COURIER_ASSIGNED,
        S.COURIER_ASSIGNED,
        S.PICKED_UP,
        S.PICKED_UP,
        S.DELIVERED,
    ]
    [attempt] = attempts(booked_order)
    assert attempt.status == AttemptStatus.DELIVERED
    assert attempt.provider_status == "delivered"
    assert (attempt.driver_name, attempt.vehicle_plate, attempt.driver_phone) == (
        "Budi Santoso",
        "P 4521 XY",
        "6281299990000",
    )
    assert attempt.tracking_url == "https://gosend.test/track/GK-11-170563"
    assert attempt.price_idr == 20000
    assert attempt.last_event_at is not None
    assert int(attempt.last_event_at.timestamp() * 1000) == at(6)

    delivered = order(booked_order)
    assert delivered.closed_at is not None
    assert state_changes(booked_order)[-3:] == [
        ("booking", "courier_assigned", "gosend: allocated"),
        ("courier_assigned", "picked_up", "gosend: picked"),
        ("picked_up", "delivered", "gosend: delivered"),
    ]
    moved_by = [e.actor for e in timeline(booked_order) if e.kind == "state"][-3:]
    assert moved_by == ["gosend", "gosend", "gosend"]
    # out_for_delivery after pick-up reminds the patient of the PIN ("arriving").
    assert sms_kinds(booked_order) == ["released", "courier_assigned", "picked_up", "arriving", "delivered"]

    inbox = [load(InboxMessage, inbox_id) for inbox_id in inbox_ids]
    assert {message.status for message in inbox} == {InboxStatus.PROCESSED}
    assert all(message.processed_at is not None for message in inbox)
    assert [message.error for message in inbox] == [
        "no state change",
        None,
        "no state change",
        None,
        "no state change",
        None,
    ]


def test_older_report_arriving_late_is_recorded_and_ignored(client, booked_order):
    report(client, gosend_event("picked", event_date=at(5), **driver_fields()))
    report(client, gosend_event("allocated", event_date=at(2), event_id="late-allocated", **driver_fields()))

    assert order(booked_order).status == S.PICKED_UP
    [attempt] = attempts(booked_order)
    assert attempt.provider_status == "picked"
    assert int(attempt.last_event_at.timestamp() * 1000) == at(5)
    stale = timeline(booked_order)[-1]
    assert (stale.kind, stale.detail, stale.data) == (
        "courier",
        "gosend: allocated (stale, ignored)",
        {"event_id": "late-allocated"},
    )
    assert state_changes(booked_order)[-1] == ("booking", "picked_up", "gosend: picked")
    assert "courier_assigned" not in sms_kinds(booked_order)


def test_the_same_report_applied_twice_changes_nothing_the_second_time(booked_order):
    allocated = gosend_event("allocated", event_date=at(1), **driver_fields())

    assert apply_directly(allocated) == EventOutcome(True, "applied")
    events_before = len(timeline(booked_order))
    sms_before = sms_kinds(booked_order)

    # Not older than the last report, so not stale; but the order is already there: recorded, nothing moves.
    assert apply_directly(allocated) == EventOutcome(False, "no state change")

    assert order(booked_order).status == S.COURIER_ASSIGNED
    assert sms_kinds(booked_order) == sms_before
    after = timeline(booked_order)
    assert len(after) == events_before + 1
    assert after[-1].detail == "gosend: allocated"


def test_the_same_apply_message_run_twice_applies_once(client, booked_order):
    client.post(
        "/webhooks/couriers/gosend",
        content=json.dumps(gosend_event("allocated", event_date=at(1), **driver_fields())),
        headers={"Authorization": PRIMARY_TOKEN},
    )
    [row] = pending_rows("webhooks.apply")
    run_outbox(row.id)
    events = len(timeline(booked_order))
    run_outbox(row.id)
    assert len(timeline(booked_order)) == events
    assert sms_kinds(booked_order) == ["released", "courier_assigned"]


def test_unknown_status_raises_an_alert_and_leaves_the_order_alone(client, booked_order):
    inbox_id = report(client, gosend_event("driver_teleported", event_date=at(1), **driver_fields()))

    assert order(booked_order).status == S.BOOKING
    alert = timeline(booked_order)[-1]
    assert alert.kind == "alert"
    assert alert.detail == "gosend: driver_teleported: unknown courier status; order unchanged"
    assert alert.data["status"] == "driver_teleported"
    [attempt] = attempts(booked_order)
    assert (attempt.status, attempt.provider_status, attempt.last_event_at, attempt.driver_name) == (
        AttemptStatus.BOOKED,
        None,
        None,
        None,
    )
    message = load(InboxMessage, inbox_id)
    assert (message.status, message.error) == (InboxStatus.PROCESSED, "unknown status")


def test_no_driver_from_the_only_courier_hands_the_order_to_a_person(client, booked_order):
    inbox_id = report(client, gosend_event("no_driver", event_date=at(3)))

    assert order(booked_order).status == S.NO_COURIER
    [attempt] = attempts(booked_order)
    assert attempt.status == AttemptStatus.NO_DRIVER
    assert state_changes(booked_order)[-2:] == [
        ("booking", "ready", "gosend gave the job back (no_driver)"),
        ("ready", "no_courier", "No enabled courier left that can take this order"),
    ]
    assert pending_rows("dispatch.book") == []
    assert sms_kinds(booked_order) == ["released", "no_courier"]
    message = load(InboxMessage, inbox_id)
    assert (message.status, message.error) == (InboxStatus.PROCESSED, None)


def rebook_with_backup(client: TestClient, order_id: int) -> None:
    """no_driver on the primary account, then the new dispatch.book row run against the backup account."""
    report(client, gosend_event("no_driver", event_date=at(3)))
    assert order(order_id).status == S.READY
    [row] = pending_rows("dispatch.book")
    assert row.payload == {"order_id": order_id}
    with respx.mock(base_url=BACKUP_BASE_URL, assert_all_called=True) as backup:
        backup.get(PRICE_PATH).mock(return_value=price_estimate(18_500))
        route = backup.post(BOOKING_PATH).mock(return_value=booking_created(BACKUP_ORDER_NO))
        run_outbox(row.id)
    assert route.call_count == 1
    request = route.calls.last.request
    assert request.headers["Client-ID"] == "rsud-blambangan-backup"
    assert request.headers["Pass-Key"] == "pass-key-backup"


def test_no_driver_falls_back_to_the_next_account_which_books_attempt_two(
    client, booked_order, primary_account, backup_account
):
    rebook_with_backup(client, booked_order)

    first, second = attempts(booked_order)
    assert (first.account_id, first.status, first.provider_order_id) == (
        primary_account.id,
        AttemptStatus.NO_DRIVER,
        ORDER_NO,
    )
    assert (second.account_id, second.status, second.provider_order_id) == (
        backup_account.id,
        AttemptStatus.BOOKED,
        BACKUP_ORDER_NO,
    )
    assert second.reference.startswith(f"GCG{booked_order}A2-")
    rebooked = order(booked_order)
    assert rebooked.status == S.BOOKING
    assert rebooked.current_attempt_id == second.id
    assert state_changes(booked_order)[-2:] == [
        ("booking", "ready", "gosend gave the job back (no_driver)"),
        ("ready", "booking", "Booking gosend (attempt 2): cheapest of 1 quotes: gosend Rp18,500"),
    ]
    assert second.quoted_price_idr == 18_500
    assert "no_courier" not in sms_kinds(booked_order)

    # The new booking's reports come with the backup account's token and move the order.
    report(client, gosend_event("allocated", event_date=at(4), order_no=BACKUP_ORDER_NO), token=BACKUP_TOKEN)
    assert order(booked_order).status == S.COURIER_ASSIGNED


def test_reports_for_a_superseded_attempt_do_not_move_the_order(client, booked_order, backup_account):
    rebook_with_backup(client, booked_order)

    # The first booking's driver turns up after all; that booking is no longer in charge.
    report(client, gosend_event("allocated", event_date=at(5), **driver_fields()))
    report(client, gosend_event("picked", event_date=at(6), **driver_fields()))

    assert order(booked_order).status == S.BOOKING
    first, second = attempts(booked_order)
    assert first.provider_status == "picked"
    assert first.status == AttemptStatus.NO_DRIVER
    assert second.status == AttemptStatus.BOOKED
    assert state_changes(booked_order)[-1] == (
        "ready",
        "booking",
        "Booking gosend (attempt 2): cheapest of 1 quotes: gosend Rp18,500",
    )
    assert [e.detail for e in timeline(booked_order)[-2:]] == ["gosend: allocated", "gosend: picked"]


def test_late_no_driver_for_a_superseded_attempt_does_not_fall_back_again(
    client, booked_order, backup_account
):
    rebook_with_backup(client, booked_order)
    outcome = apply_directly(gosend_event("no_driver", event_date=at(9), event_id="second-no-driver"))
    assert outcome == EventOutcome(False, "given back")
    assert order(booked_order).status == S.BOOKING
    assert pending_rows("dispatch.book") == []


def test_rejected_after_pick_up_is_a_failed_delivery(client, booked_order):
    report(client, gosend_event("allocated", event_date=at(1), **driver_fields()))
    report(client, gosend_event("picked", event_date=at(2), **driver_fields()))
    report(client, gosend_event("rejected", event_date=at(3), **driver_fields()))

    failed = order(booked_order)
    assert failed.status == S.DELIVERY_FAILED
    assert failed.closed_at is None  # the medicine still has to come back to the pharmacy
    [attempt] = attempts(booked_order)
    assert (attempt.status, attempt.provider_status) == (AttemptStatus.FAILED, "rejected")
    assert state_changes(booked_order)[-1] == ("picked_up", "delivery_failed", "gosend: rejected")
    assert sms_kinds(booked_order)[-1] == "delivery_failed"


@pytest.mark.parametrize("status", ["allocated", "picked", "delivered"])
def test_reports_after_cancellation_never_reopen_the_order(client, booked_order, pharmacist_token, status):
    cancelled = client.post(
        f"/api/v1/orders/{booked_order}/cancel",
        json={"reason": "Pasien datang sendiri"},
        headers={"Authorization": f"Bearer {pharmacist_token}"},
    )
    assert cancelled.status_code == 200

    report(client, gosend_event(status, event_date=at(1), **driver_fields()))

    assert order(booked_order).status == S.CANCELLED
    assert state_changes(booked_order)[-1][1] == "cancelled"


def test_over_long_driver_details_do_not_block_the_report(client, booked_order):
    inbox_id = report(
        client,
        gosend_event(
            "allocated",
            event_date=at(1),
            driver_name="Budi " + "Santoso " * 20,
            driver_phone="6281299990000, 6281299990001, 6281299990002",
            vehicle_number="P 4521 XY (Honda Vario 125 hitam)",
            live_tracking_url="https://gosend.test/track?" + "x" * 600,
            price=1e12,
        ),
    )

    assert order(booked_order).status == S.COURIER_ASSIGNED
    [attempt] = attempts(booked_order)
    assert attempt.driver_name is not None and attempt.driver_name.startswith("Budi Santoso")
    assert len(attempt.driver_name) <= 100
    assert attempt.driver_phone == "6281299990000, 6281299990001, 62"
    assert attempt.vehicle_plate == "P 4521 XY (Honda Var"
    assert attempt.tracking_url is None  # a cut link would be a wrong link
    assert attempt.price_idr is None
    assert load(InboxMessage, inbox_id).status == InboxStatus.PROCESSED


def test_reports_in_the_same_millisecond_are_both_applied_in_lifecycle_order(client, booked_order):
    report(client, gosend_event("allocated", event_date=at(2), event_id="same-ms-1", **driver_fields()))
    report(client, gosend_event("picked", event_date=at(2), event_id="same-ms-2", **driver_fields()))

    assert order(booked_order).status == S.PICKED_UP
    assert [change[1] for change in state_changes(booked_order)[-2:]] == ["courier_assigned", "picked_up"]


def test_a_same_millisecond_report_can_never_move_the_order_backwards(client, booked_order):
    report(client, gosend_event("picked", event_date=at(2), event_id="same-ms-1", **driver_fields()))
    outcome = apply_directly(
        gosend_event("allocated", event_date=at(2), event_id="same-ms-2", **driver_fields())
    )

    assert outcome == EventOutcome(False, "no state change")
    assert order(booked_order).status == S.PICKED_UP


def test_a_driver_on_a_cancelled_order_is_told_to_stand_down(client, booked_order, pharmacist_token):
    client.post(
        f"/api/v1/orders/{booked_order}/cancel",
        json={"reason": "Pasien datang sendiri"},
        headers={"Authorization": f"Bearer {pharmacist_token}"},
    ).raise_for_status()
    cancels_before = len(pending_rows("dispatch.cancel_booking"))

    outcome = apply_directly(gosend_event("allocated", event_date=at(3), **driver_fields()))

    assert outcome == EventOutcome(False, "stray booking")
    assert order(booked_order).status == S.CANCELLED
    alert = timeline(booked_order)[-1]
    assert alert.kind == "alert"
    assert "no longer in charge" in alert.detail
    assert len(pending_rows("dispatch.cancel_booking")) == cancels_before + 1


def test_a_second_give_back_leaves_a_no_courier_order_with_the_person(client, booked_order):
    report(client, gosend_event("no_driver", event_date=at(3)))
    assert order(booked_order).status == S.NO_COURIER

    # GoSend reports the same booking again (a cancel after no_driver, or a resend under a new event id).
    report(client, gosend_event("cancelled", event_date=at(4), event_id="after-no-driver"))

    assert order(booked_order).status == S.NO_COURIER
    assert state_changes(booked_order)[-1] == (
        "ready",
        "no_courier",
        "No enabled courier left that can take this order",
    )
    assert sms_kinds(booked_order) == ["released", "no_courier"]
    assert pending_rows("dispatch.book") == []
