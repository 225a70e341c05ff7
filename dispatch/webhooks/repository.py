"""The reads a courier webhook needs, as plain rows from statements built once.

Every webhook runs them: loading full ORM objects (an account's every column, a booking's twenty) and
building and keying each statement anew cost more than the queries themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select
from sqlmodel import Session

from dispatch.dispatching.models import BookingAttempt
from dispatch.hospitals.models import CourierAccount

_accounts = CourierAccount.__table__  # type: ignore[attr-defined]
_attempts = BookingAttempt.__table__  # type: ignore[attr-defined]

_ENABLED_ACCOUNTS = (
    select(_accounts.c.id, _accounts.c.hospital_id, _accounts.c.courier, _accounts.c.settings)
    .where(_accounts.c.courier == bindparam("courier"), _accounts.c.enabled.is_(True))
    .order_by(_accounts.c.id)
)
_BOOKING_ACCOUNT = select(_attempts.c.account_id).where(
    _attempts.c.courier == bindparam("courier"),
    _attempts.c.provider_order_id == bindparam("provider_order_id"),
)


class AccountKey(NamedTuple):
    """What verifying a webhook and routing it to a hospital need of a courier account."""

    id: int
    hospital_id: int
    courier: str
    settings: dict[str, Any]


def hospital_of(accounts: Iterable[AccountKey]) -> int | None:
    """The hospital a message belongs to, when the accounts agree on one."""
    hospitals = {account.hospital_id for account in accounts}
    return hospitals.pop() if len(hospitals) == 1 else None


def enabled_accounts(session: Session, courier: str) -> Sequence[AccountKey]:
    return [AccountKey(*row) for row in session.execute(_ENABLED_ACCOUNTS, {"courier": courier})]


def booking_account(session: Session, courier: str, provider_order_id: str) -> int | None:
    """The account that made this courier booking, if we have it."""
    params = {"courier": courier, "provider_order_id": provider_order_id}
    account_id: int | None = session.execute(_BOOKING_ACCOUNT, params).scalar()
    return account_id
