"""The reads a courier webhook needs, as plain rows: every webhook runs them, and loading full ORM objects
(an account's every column, a booking's twenty) cost more than the queries themselves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlmodel import Session, col, select

from dispatch.dispatching.models import BookingAttempt
from dispatch.hospitals.models import CourierAccount


class AccountKey(NamedTuple):
    """What verifying a webhook and routing it to a hospital need of a courier account."""

    id: int
    hospital_id: int
    courier: str
    settings: dict[str, Any]


def enabled_accounts(session: Session, courier: str) -> Sequence[AccountKey]:
    query = (
        select(CourierAccount.id, CourierAccount.hospital_id, CourierAccount.courier, CourierAccount.settings)
        .where(CourierAccount.courier == courier)
        .where(col(CourierAccount.enabled).is_(True))
        .order_by(col(CourierAccount.id))
    )
    return [AccountKey(*row) for row in session.exec(query).all()]


def booking_account(session: Session, courier: str, provider_order_id: str) -> int | None:
    """The account that made this courier booking, if we have it."""
    query = select(BookingAttempt.account_id).where(
        BookingAttempt.courier == courier, BookingAttempt.provider_order_id == provider_order_id
    )
    return session.exec(query).first()
