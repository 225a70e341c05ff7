"""All SQL for booking attempts."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from dispatch.core.db import is_postgres
from dispatch.dispatching.models import AttemptStatus, BookingAttempt


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
    if is_postgres(session):
        query = query.with_for_update()
    return session.exec(query).first()
