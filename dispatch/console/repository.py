"""The console's own queries: its queues, and the hospital's staff, keys and courier accounts for admins.

Every query is scoped by hospital, so another hospital's id reads as not found.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import func, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from dispatch.auth.models import StaffSession, StaffUser
from dispatch.core.clock import utcnow
from dispatch.hospitals.models import ApiKey, CourierAccount
from dispatch.inbox.models import InboxMessage, InboxStatus
from dispatch.orders.models import Order, OrderEvent
from dispatch.orders.state_machine import TERMINAL, OrderStatus

QUEUE_LIMIT = 200


def orders_in(
    session: Session, hospital_id: int, statuses: Collection[OrderStatus]
) -> tuple[Sequence[Order], int]:
    """The oldest change first: a queue is worked from the order that has waited longest."""
    where = (Order.hospital_id == hospital_id, col(Order.status).in_(statuses))
    rows = session.exec(
        select(Order).where(*where).order_by(col(Order.status_changed_at), col(Order.id)).limit(QUEUE_LIMIT)
    ).all()
    return rows, session.exec(select(func.count()).select_from(Order).where(*where)).one()


def _open_alert_clause(hospital_id: int):  # type: ignore[no-untyped-def]
    """An order still under way with an alert newer than the last staff action on it: a person has not yet
    answered the courier's unknown status, the wrong PIN, the unconfirmed booking."""
    alert, staff = aliased(OrderEvent), aliased(OrderEvent)
    last_staff = (
        select(func.coalesce(func.max(staff.id), 0))
        .where(staff.order_id == Order.id, staff.kind == "staff")
        .scalar_subquery()
    )
    unanswered = (
        select(alert.id)
        .where(alert.order_id == Order.id, alert.kind == "alert", col(alert.id) > last_staff)
        .exists()
    )
    return (Order.hospital_id == hospital_id, col(Order.status).not_in(TERMINAL), unanswered)


def orders_with_open_alerts(session: Session, hospital_id: int) -> tuple[Sequence[Order], int]:
    where = _open_alert_clause(hospital_id)
    rows = session.exec(
        select(Order).where(*where).order_by(col(Order.status_changed_at), col(Order.id)).limit(QUEUE_LIMIT)
    ).all()
    return rows, session.exec(select(func.count()).select_from(Order).where(*where)).one()


def has_open_alert(session: Session, order: Order) -> bool:
    query = (
        select(func.count())
        .select_from(Order)
        .where(Order.id == order.id, *_open_alert_clause(order.hospital_id))
    )
    return bool(session.exec(query).one())


def quarantined_count(session: Session, hospital_id: int) -> int:
    query = select(func.count()).select_from(InboxMessage)
    return session.exec(
        query.where(InboxMessage.hospital_id == hospital_id, InboxMessage.status == InboxStatus.REJECTED)
    ).one()


def users(session: Session, hospital_id: int) -> Sequence[StaffUser]:
    return session.exec(
        select(StaffUser).where(StaffUser.hospital_id == hospital_id).order_by(col(StaffUser.username))
    ).all()


def get_user(session: Session, hospital_id: int, user_id: int) -> StaffUser | None:
    return session.exec(
        select(StaffUser).where(StaffUser.id == user_id, StaffUser.hospital_id == hospital_id)
    ).first()


def revoke_sessions(session: Session, user_id: int) -> None:
    session.exec(
        update(StaffSession)
        .where(col(StaffSession.user_id) == user_id, col(StaffSession.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )


def api_keys(session: Session, hospital_id: int) -> Sequence[ApiKey]:
    return session.exec(
        select(ApiKey).where(ApiKey.hospital_id == hospital_id).order_by(col(ApiKey.id))
    ).all()


def get_api_key(session: Session, hospital_id: int, key_id: int) -> ApiKey | None:
    return session.exec(select(ApiKey).where(ApiKey.id == key_id, ApiKey.hospital_id == hospital_id)).first()


def courier_accounts(session: Session, hospital_id: int) -> Sequence[CourierAccount]:
    query = select(CourierAccount).where(CourierAccount.hospital_id == hospital_id)
    return session.exec(query.order_by(col(CourierAccount.priority), col(CourierAccount.id))).all()


def get_courier_account(session: Session, hospital_id: int, account_id: int) -> CourierAccount | None:
    query = select(CourierAccount).where(
        CourierAccount.id == account_id, CourierAccount.hospital_id == hospital_id
    )
    return session.exec(query).first()
