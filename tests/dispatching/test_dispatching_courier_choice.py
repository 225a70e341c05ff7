"""Choosing the courier in the ``dispatch.book`` task: quotes from every eligible account at once, the
hospital's policy (cost or preference, price cap, deadline), staff's own pick, and couriers that cannot be
asked by our reference."""

from __future__ import annotations

import time

import httpx
import pytest
import respx
from dispatching_support import (
    BACKUP_BASE_URL,
    BACKUP_ORDER_NO,
    BOOKING_PATH,
    ORDER_NO,
    PRICE_PATH,
    PRIMARY_BASE_URL,
    attempts,
    booking_created,
    order,
    price_estimate,
    run_outbox,
    state_changes,
    timeline,
)
from fastapi.testclient import TestClient
from sqlmodel import Session

from dispatch.hospitals.models import CourierAccount, Hospital
from dispatch.hospitals.service import add_courier_account
from dispatch.orders.state_machine import OrderStatus

S = OrderStatus


@pytest.fixture
def couriers():
    """Both GoSend accounts' APIs; every route a test sets up must be called."""
    with (
        respx.mock(base_url=PRIMARY_BASE_URL, assert_all_called=True) as primary,
        respx.mock(base_url=BACKUP_BASE_URL, assert_all_called=True) as backup,
    ):
        yield primary, backup


def set_policy(session: Session, hospital: Hospital, **policy: object) -> None:
    stored = session.get(Hospital, hospital.id)
    assert stored is not None
    stored.dispatch_policy = policy
    session.commit()


@pytest.fixture
def dispatcher_token(session: Session, hospital: Hospital, staff_maker) -> str:
    return staff_maker(session, hospital, "dispatcher1", "dispatcher")


def test_the_cheaper_account_is_booked_though_the_other_is_preferred(
    make_order, book_row, couriers, primary_account, backup_account
):
    primary, backup = couriers
    primary.get(PRICE_PATH).mock(return_value=price_estimate(21_000))
    backup.get(PRICE_PATH).mock(return_value=price_estimate(17_500))
    backup.post(BOOKING_PATH).mock(return_value=booking_created(BACKUP_ORDER_NO))
    order_id = make_order()

    run_outbox(book_row(order_id))

    [attempt] = attempts(order_id)
    assert (attempt.account_id, attempt.provider_order_id, attempt.quoted_price_idr) == (
        backup_account.id,
        BACKUP_ORDER_NO,
        17_500,
    )
    assert state_changes(order_id)[-1] == (
        "ready",
        "booking",
        "Booking gosend (attempt 1): cheapest of 2 quotes: gosend Rp17,500",
    )


def test_preference_mode_books_the_preferred_account_within_the_cap(
    make_order, book_row, couriers, session, hospital, primary_account, backup_account
):
    set_policy(session, hospital, choose_by="preference", price_cap_idr=25_000)
    primary, backup = couriers
    primary.get(PRICE_PATH).mock(return_value=price_estimate(21_000))
    backup.get(PRICE_PATH).mock(return_value=price_estimate(17_500))
    primary.post(BOOKING_PATH).mock(return_value=booking_created(ORDER_NO))
    order_id = make_order()

    run_outbox(book_row(order_id))

    [attempt] = attempts(order_id)
    assert (attempt.account_id, attempt.quoted_price_idr) == (primary_account.id, 21_000)


def test_quotes_above_the_cap_leave_the_order_to_staff_and_book_nobody(
    make_order, book_row, couriers, session, hospital, primary_account, backup_account
):
    set_policy(session, hospital, price_cap_idr=15_000)
    primary, backup = couriers
    primary.get(PRICE_PATH).mock(return_value=price_estimate(21_000))
    backup.get(PRICE_PATH).mock(return_value=price_estimate(17_500))
    order_id = make_order()

    run_outbox(book_row(order_id))

    assert attempts(order_id) == []
    assert order(order_id).status == S.NO_COURIER
    assert state_changes(order_id)[-1] == (
        "ready",
        "no_courier",
        "No courier: cheapest quote Rp17,500 is above the cap of Rp15,000",
    )


def test_quotes_are_asked_in_parallel_and_a_late_one_is_left_out(
    make_order, book_row, couriers, session, hospital, primary_account, backup_account
):
    set_policy(session, hospital, quote_deadline_seconds=0.5)
    primary, backup = couriers

    def slow_quote(request: httpx.Request) -> httpx.Response:
        time.sleep(1.0)
        return price_estimate(9_000)

    late_quote = primary.get(PRICE_PATH).mock(side_effect=slow_quote)
    backup.get(PRICE_PATH).mock(return_value=price_estimate(19_000))
    backup.post(BOOKING_PATH).mock(return_value=booking_created(BACKUP_ORDER_NO))
    order_id = make_order()

    started = time.monotonic()
    run_outbox(book_row(order_id))
    elapsed = time.monotonic() - started

    [attempt] = attempts(order_id)
    assert attempt.account_id == backup_account.id  # the cheaper primary answered too late
    assert elapsed < 2.5  # waited for the deadline, not for the slow courier's full answer plus the rest
    assert "No quote from gosend: no answer within 0.5 s" in [event.detail for event in timeline(order_id)]
    # The late call finishes in the background and is discarded.
    finish_by = time.monotonic() + 5
    while not late_quote.called and time.monotonic() < finish_by:
        time.sleep(0.05)
    assert late_quote.called


def test_a_failed_quote_does_not_stop_the_others(
    make_order, book_row, couriers, primary_account, backup_account
):
    primary, backup = couriers
    primary.get(PRICE_PATH).mock(return_value=httpx.Response(503))
    backup.get(PRICE_PATH).mock(return_value=price_estimate(19_000))
    backup.post(BOOKING_PATH).mock(return_value=booking_created(BACKUP_ORDER_NO))
    order_id = make_order()

    run_outbox(book_row(order_id))

    [attempt] = attempts(order_id)
    assert attempt.account_id == backup_account.id
    assert "No quote from gosend: CourierError: GoSend answered HTTP 503" in [
        event.detail for event in timeline(order_id)
    ]


def test_a_courier_whose_area_excludes_the_trip_is_not_even_asked(
    make_order, book_row, couriers, session, hospital, primary_account
):
    far_away = {
        "client_id": "c",
        "pass_key": "p",
        "base_url": BACKUP_BASE_URL,
        "webhook_token": "t",
        "max_distance_km": 1.0,
    }
    add_courier_account(session, hospital, "gosend", far_away, priority=5, label="short-range")
    session.commit()
    primary, _backup = couriers  # nothing routed at the backup URL: a call there would fail the test
    primary.get(PRICE_PATH).mock(return_value=price_estimate())
    primary.post(BOOKING_PATH).mock(return_value=booking_created())
    order_id = make_order()

    run_outbox(book_row(order_id))

    [attempt] = attempts(order_id)
    assert attempt.account_id == primary_account.id


def test_staff_pick_a_courier_for_an_order_left_without_one(
    make_order,
    book_row,
    couriers,
    client: TestClient,
    dispatcher_token,
    session,
    hospital,
    primary_account,
    backup_account,
):
    set_policy(session, hospital, price_cap_idr=15_000)
    primary, backup = couriers
    primary.get(PRICE_PATH).mock(return_value=price_estimate(21_000))
    backup.get(PRICE_PATH).mock(return_value=price_estimate(17_500))
    order_id = make_order()
    run_outbox(book_row(order_id))
    assert order(order_id).status == S.NO_COURIER

    # The dispatcher accepts the backup's price above the cap: booked without asking for quotes again.
    booking = backup.post(BOOKING_PATH).mock(return_value=booking_created(BACKUP_ORDER_NO))
    response = client.post(
        f"/api/v1/orders/{order_id}/courier",
        json={"account_id": backup_account.id, "reason": "Pasien lansia, tidak bisa menunggu"},
        headers={"Authorization": f"Bearer {dispatcher_token}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ready"
    run_outbox(book_row(order_id))

    assert booking.call_count == 1
    assert backup.routes[0].call_count == 1  # the quote from the first round only
    [attempt] = attempts(order_id)
    assert attempt.account_id == backup_account.id
    assert state_changes(order_id)[-1] == ("ready", "booking", "Booking gosend (attempt 1): chosen by staff")
    assert order(order_id).courier_override_account_id is None  # used once
    staff_event = next(event for event in timeline(order_id) if event.kind == "staff")
    assert staff_event.actor == "dispatcher1"
    assert staff_event.detail == "Courier chosen by hand: gosend (backup); Pasien lansia, tidak bisa menunggu"


def test_staff_cannot_pick_a_courier_while_one_is_on_its_way_nor_another_hospitals_account(
    client: TestClient, dispatcher_token, pharmacist_token, booked_order, session, primary_account
):
    headers = {"Authorization": f"Bearer {dispatcher_token}"}
    body = {"account_id": primary_account.id, "reason": "coba lagi"}

    busy = client.post(f"/api/v1/orders/{booked_order}/courier", json=body, headers=headers)
    assert busy.status_code == 409
    assert "booking" in busy.json()["detail"]

    other = Hospital(code="RSUDX", name="RSUD Lain", phone="0333", address="x", lat=-8.0, lon=114.0)
    session.add(other)
    session.commit()
    foreign = add_courier_account(session, other, "gosend", {"client_id": "x", "pass_key": "y"})
    session.commit()
    refused = client.post(
        f"/api/v1/orders/{booked_order}/courier", json={**body, "account_id": foreign.id}, headers=headers
    )
    assert refused.status_code == 409
    assert refused.json()["detail"].endswith("courier account not found or disabled")

    pharmacist = client.post(
        f"/api/v1/orders/{booked_order}/courier",
        json=body,
        headers={"Authorization": f"Bearer {pharmacist_token}"},
    )
    assert pharmacist.status_code == 403


GRAB_BASE_URL = "https://grab-partner.test/grab-express-sandbox"
GRAB_TOKEN_URL = "https://grab-partner.test/grabid/v1/oauth2/token"


def test_a_lost_booking_answer_at_a_courier_without_reference_lookup_goes_to_staff(
    make_order, book_row, session, hospital
):
    """Grab cannot be asked whether it took the job: booking again could send two drivers."""
    account: CourierAccount = add_courier_account(
        session,
        hospital,
        "grabexpress",
        {
            "client_id": "grab-id",
            "client_secret": "grab-secret",
            "base_url": GRAB_BASE_URL,
            "token_url": GRAB_TOKEN_URL,
        },
    )
    session.commit()
    order_id = make_order()
    with respx.mock(assert_all_called=True) as grab:
        grab.post(GRAB_TOKEN_URL).mock(
            return_value=httpx.Response(
                200, json={"access_token": "tok", "token_type": "Bearer", "expires_in": 3600}
            )
        )
        grab.post(f"{GRAB_BASE_URL}/v1/deliveries/quotes").mock(return_value=httpx.Response(503))
        create = grab.post(f"{GRAB_BASE_URL}/v1/deliveries").mock(side_effect=httpx.ReadTimeout("slow"))
        run_outbox(book_row(order_id))

    assert create.call_count == 1  # never a second POST after the lost answer
    [attempt] = attempts(order_id)
    assert attempt.account_id == account.id
    assert attempt.status.value == "failed"
    assert order(order_id).status == S.NO_COURIER
    alert = [event for event in timeline(order_id) if event.kind == "alert"][-1]
    assert alert.detail.startswith("grabexpress did not answer the booking and cannot be asked by reference")
