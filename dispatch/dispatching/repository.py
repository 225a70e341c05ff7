"""All SQL for booking attempts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from dispatch.dispatching.models import AttemptStatus, BookingAttempt
from dispatch.orders.models import Order
from dispatch.orders.state_machine import OrderStatus


def attempts_for(session: Session, order_id: int) -> Sequence[BookingAttempt]:
    query = select(BookingAttempt).where(BookingAttempt.order_id == order_id)
    return session.exec(query.order_by(col(BookingAttempt.id))).all()


def get_by_provider_id(session: Session, courier: str, provider_order_id: str) -> BookingAttempt | None:
    query = select(BookingAttempt).where(
        BookingAttempt.courier == courier, BookingAttempt.provider_order_id == provider_order_id
    )
    return session.exec(query).first()


def has_pending_attempt(session: Session, account_ids: list[int]) -> bool:
    query = select(BookingAttempt.id).where(
        col(BookingAttempt.account_id).in_(account_ids), BookingAttempt.status == AttemptStatus.PENDING
    )
    return session.exec(query.limit(1)).first() is not None


def get_for_update(session: Session, attempt_id: int) -> BookingAttempt | None:
    query = select(BookingAttempt).where(BookingAttempt.id == attempt_id)
    query = query.with_for_update()
    return session.exec(query).first()


def delivered_trips(session: Session, hospital_id: int, limit: int) -> list[tuple[float, float, float]]:
    """The hospital's latest delivered bookings whose courier gave a road distance: (road km, dest lat, lon)."""
    query = (
        select(BookingAttempt.quoted_distance_km, Order.dest_lat, Order.dest_lon)
        .join(Order, col(Order.id) == col(BookingAttempt.order_id))
        .where(
            BookingAttempt.hospital_id == hospital_id,
            BookingAttempt.status == AttemptStatus.DELIVERED,
            col(BookingAttempt.quoted_distance_km).is_not(None),
            col(Order.dest_lat).is_not(None),
            col(Order.dest_lon).is_not(None),
        )
        .order_by(col(BookingAttempt.id).desc())
        .limit(limit)
    )
    return [
        (road_km, lat, lon)
        for road_km, lat, lon in session.exec(query).all()
        if road_km is not None and lat is not None and lon is not None
    ]


def quiet_bookings(session: Session, quiet_since: datetime, limit: int = 200) -> list[int]:
    """Booked attempts not touched since ``quiet_since`` (every applied report and status check touches
    ``updated_at``), oldest first."""
    query = (
        select(BookingAttempt.id)
        .where(
            BookingAttempt.status == AttemptStatus.BOOKED,
            col(BookingAttempt.provider_order_id).is_not(None),
            col(BookingAttempt.updated_at) < quiet_since,
        )
        .order_by(col(BookingAttempt.updated_at))
        .limit(limit)
    )
    return [attempt_id for attempt_id in session.exec(query).all() if attempt_id is not None]


def bookings_waiting_for_driver(session: Session, limit: int = 200) -> list[int]:
    """Booked attempts in charge of an order still waiting for its driver (status ``booking``)."""
    query = (
        select(BookingAttempt.id)
        .join(Order, col(Order.current_attempt_id) == col(BookingAttempt.id))
        .where(BookingAttempt.status == AttemptStatus.BOOKED, Order.status == OrderStatus.BOOKING)
        .order_by(col(BookingAttempt.id))
        .limit(limit)
    )
    return [attempt_id for attempt_id in session.exec(query).all() if attempt_id is not None]
