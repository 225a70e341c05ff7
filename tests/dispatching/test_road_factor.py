"""The road factor: learned from the road distances couriers quoted for delivered trips, and applied to the
straight line when the dispatch policy holds a trip against a courier's distance limit."""

from __future__ import annotations

import httpx
import pytest
import respx
from dispatching_support import (
    BOOKING_PATH,
    PRICE_PATH,
    PRIMARY_BASE_URL,
    attempts,
    booking_created,
    gosend_settings,
    order,
    run_outbox,
    state_changes,
)
from sqlmodel import Session

from dispatch.demo_data import HOSPITAL, PATIENTS
from dispatch.dispatching.distance import (
    DEFAULT_ROAD_FACTOR,
    geodesic_km,
    learned_road_factor,
    road_factor,
)
from dispatch.dispatching.models import AttemptStatus, BookingAttempt
from dispatch.dispatching.service import trip_for
from dispatch.hospitals.models import Hospital
from dispatch.hospitals.service import add_courier_account
from dispatch.orders.models import Order
from dispatch.orders.state_machine import OrderStatus

SITI = PATIENTS[0]  # Desa Kemiren: its centroid is 5.203 km from the pharmacy in a straight line
KEMIREN_KM = geodesic_km((HOSPITAL.lat, HOSPITAL.lon), (-8.202007, 114.318686))


def test_too_few_trips_leave_the_default():
    assert road_factor([]) == DEFAULT_ROAD_FACTOR == 1.3
    assert road_factor([(15.0, 10.0)] * 4) == 1.3


def test_the_median_ratio_is_robust_to_one_odd_trip():
    samples = [(12.0, 10.0), (14.0, 10.0), (7.5, 5.0), (140.0, 10.0), (13.0, 10.0)]  # 1.2 1.4 1.5 14 1.3
    assert road_factor(samples) == pytest.approx(1.4)


def test_the_factor_stays_in_a_sane_range():
    assert road_factor([(9.0, 10.0)] * 5) == 1.0  # a road cannot be shorter than the straight line
    assert road_factor([(40.0, 10.0)] * 5) == 2.5  # four times the line is a wrong pin or a ferry


def test_trips_too_short_to_measure_do_not_count():
    short = [(1.2, 0.3)] * 10  # a 300 m trip's ratio is the pin's error
    assert road_factor(short) == 1.3
    assert road_factor([*short, *[(6.0, 4.0)] * 5]) == pytest.approx(1.5)


def price_with_distance(distance_km: float) -> httpx.Response:
    """GoSend's price estimate (couriers.md 1.3) for a trip it measures at ``distance_km`` by road."""
    body = {
        "Instant": {
            "shipment_method": "Instant",
            "shipment_method_description": "Instant 1 - 2 hours",
            "serviceable": True,
            "active": True,
            "distance": distance_km,
            "price": {"total_price": 18_000},
        }
    }
    return httpx.Response(200, json=body)


def deliver(session: Session, attempt_id: int | None) -> None:
    """The courier's delivered report, as its effect on the attempt (applying reports is tested elsewhere)."""
    attempt = session.get(BookingAttempt, attempt_id)
    assert attempt is not None
    attempt.status = AttemptStatus.DELIVERED
    session.commit()


def test_booked_quotes_keep_their_road_distance_and_delivered_trips_teach_the_factor(
    session: Session, hospital: Hospital, make_order, book_row
):
    # GoSend takes trips up to 7 km: Kemiren's 5.2 km line is 6.8 km at the default factor, so it is asked.
    add_courier_account(session, hospital, "gosend", gosend_settings(max_distance_km=7.0), priority=10)
    session.commit()
    road_km = 7.8  # what GoSend measures by road: 1.5 times the straight line
    with respx.mock(base_url=PRIMARY_BASE_URL, assert_all_called=True) as gosend:
        gosend.get(PRICE_PATH).mock(return_value=price_with_distance(road_km))
        gosend.post(BOOKING_PATH).mock(side_effect=[booking_created(f"GK-RF-{n}") for n in range(5)])
        for _ in range(5):
            order_id = make_order(SITI)
            run_outbox(book_row(order_id))
            [attempt] = attempts(order_id)
            assert attempt.quoted_distance_km == road_km
            assert learned_road_factor(session, hospital) == DEFAULT_ROAD_FACTOR  # booked is not delivered
            deliver(session, attempt.id)

    session.expire_all()
    assert learned_road_factor(session, hospital) == pytest.approx(road_km / KEMIREN_KM)
    # Another hospital's roads are its own.
    other = Hospital(code="RSUDX", name="RSUD Lain", phone="0333", address="x", lat=-8.0, lon=114.0)
    session.add(other)
    session.commit()
    assert learned_road_factor(session, other) == DEFAULT_ROAD_FACTOR

    # The next trip there is 7.8 km by the learned factor: beyond GoSend's limit, so it is not asked at all.
    order_id = make_order(SITI)
    record = session.get(Order, order_id)
    assert record is not None
    record.dest_lat, record.dest_lon = -8.202007, 114.318686
    assert trip_for(session, record).distance_km == pytest.approx(road_km)
    session.rollback()
    with respx.mock(base_url=PRIMARY_BASE_URL, assert_all_called=False) as gosend:
        price = gosend.get(PRICE_PATH)
        run_outbox(book_row(order_id))
    assert price.call_count == 0
    assert order(order_id).status == OrderStatus.NO_COURIER
    assert state_changes(order_id)[-1][1:] == (
        "no_courier",
        "No courier: no enabled courier can take this order",
    )
