"""Order logic: transitions with their timeline and side effects, and the staff's actions on an order.

Never commits: the request or the task that calls it owns the transaction, so a state change and its
outbox rows land together or not at all.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlmodel import Session

from dispatch.auth.models import StaffUser
from dispatch.core.clock import utcnow
from dispatch.dispatching.models import ACTIVE_ATTEMPT, BookingAttempt
from dispatch.notify import service as notify_service
from dispatch.notify.phones import normalize_id_phone
from dispatch.orders.models import Order, OrderEvent, Patient, StateChange
from dispatch.orders.state_machine import TERMINAL, OrderStatus, TransitionRefused, check_transition
from dispatch.outbox.service import enqueue
from dispatch.writeback import service as writeback_service

S = OrderStatus

# The patient hears about the moments that change what they should do or expect.
SMS_ON_ENTRY: dict[OrderStatus, str] = {
    S.RELEASED: "released",
    S.NEEDS_ADDRESS: "needs_address",
    S.COURIER_ASSIGNED: "courier_assigned",
    S.PICKED_UP: "picked_up",
    S.DELIVERED: "delivered",
    S.DELIVERY_FAILED: "delivery_failed",
    S.NO_COURIER: "no_courier",
}

# Order flags: what staff must look at, or dispatch must honour.
INVALID_PHONE = "invalid_phone"
COLD_CHAIN = "cold_chain"
UNKNOWN_KFA_CODE = "unknown_kfa_code"

DISPATCH_TOPIC = "dispatch.book"
CANCEL_BOOKING_TOPIC = "dispatch.cancel_booking"


def event_row(
    order_id: int,
    hospital_id: int,
    kind: str,
    detail: str,
    *,
    actor: str = "system",
    data: dict[str, Any] | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
) -> dict[str, Any]:
    """One timeline entry as column values: an ORM object for a single change, a bulk row for an intake batch."""
    return {
        "order_id": order_id,
        "hospital_id": hospital_id,
        "kind": kind,
        "detail": detail[:500],
        "actor": actor,
        "data": data or {},
        "from_status": from_status,
        "to_status": to_status,
    }


def add_event(
    session: Session,
    order: Order,
    kind: str,
    detail: str,
    *,
    actor: str = "system",
    data: dict[str, Any] | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
) -> OrderEvent:
    assert order.id is not None
    event = OrderEvent(
        **event_row(
            order.id,
            order.hospital_id,
            kind,
            detail,
            actor=actor,
            data=data,
            from_status=from_status,
            to_status=to_status,
        )
    )
    session.add(event)
    return event


def state_fields(current: OrderStatus, target: OrderStatus, now: datetime) -> dict[str, Any]:
    """The order's columns after a checked move from ``current`` to ``target``."""
    check_transition(current, target)
    fields: dict[str, Any] = {"status": target, "status_changed_at": now}
    if target in TERMINAL:
        fields["closed_at"] = now
    return fields


def transition(
    session: Session,
    order: Order,
    target: OrderStatus,
    *,
    detail: str = "",
    actor: str = "system",
    data: dict[str, Any] | None = None,
) -> OrderEvent:
    """The only way an order changes state: checked, timed, on the timeline, and announced by SMS."""
    assert order.id is not None
    current = order.status
    for name, value in state_fields(current, target, utcnow()).items():
        setattr(order, name, value)
    event = add_event(
        session,
        order,
        "state",
        detail,
        actor=actor,
        data=data,
        from_status=current.value,
        to_status=target.value,
    )

    def event_id() -> int:
        if event.id is None:
            session.flush()
        assert event.id is not None
        return event.id

    announce(session, StateChange(order.id, order.hospital_id, current, target, event_id))
    return event


def announce(session: Session, change: StateChange) -> None:
    """What a state change owes others, queued in its transaction: the patient's SMS and the hospital's
    write-backs."""
    kind = SMS_ON_ENTRY.get(change.target)
    if change.target == S.CANCELLED and change.previous not in (S.RECEIVED, S.AWAITING_RELEASE):
        kind = "cancelled"
    if kind is not None:
        dedupe_key = f"order{change.order_id}:{kind}:{change.event_id()}"  # the SMS is keyed by the event
        notify_service.queue_sms(session, change.order_id, change.hospital_id, kind, dedupe_key=dedupe_key)
    writeback_service.queue_writebacks(session, change)


class ReleaseRefused(ValueError):
    """The order may not leave yet, for a reason staff can fix (e.g. no valid phone for the courier)."""


def release(session: Session, order: Order, user: StaffUser) -> None:
    if INVALID_PHONE in order.flags:
        raise ReleaseRefused(
            "Nomor HP pasien tidak valid; perbaiki dulu / the patient's phone is invalid; fix it first"
        )
    order.released_at = utcnow()
    order.released_by_id = user.id
    # Four digits: easy to say at the door, and a driver guessing has one chance in ten thousand per try.
    order.handover_pin = f"{secrets.randbelow(10_000):04d}"
    notify_service.issue_tracking_token(session, order)
    transition(session, order, S.RELEASED, actor=user.username, detail="Released for delivery")
    enqueue(session, DISPATCH_TOPIC, {"order_id": order.id}, hospital_id=order.hospital_id)


def cancel(session: Session, order: Order, actor: str, reason: str) -> None:
    """Staff or the hospital cancel; a booked courier is told to stand down through the outbox."""
    transition(session, order, S.CANCELLED, actor=actor, detail=reason or "Cancelled")
    attempt = session.get(BookingAttempt, order.current_attempt_id) if order.current_attempt_id else None
    if attempt is not None and attempt.status in ACTIVE_ATTEMPT:
        enqueue(session, CANCEL_BOOKING_TOPIC, {"attempt_id": attempt.id}, hospital_id=order.hospital_id)


def override_eligibility(session: Session, order: Order, user: StaffUser, justification: str) -> None:
    """A pharmacist may deliver to a patient the rules turned down; why is kept on the order for audit.

    Only eligibility can be overridden: a restricted drug stays at the pharmacy whatever anyone says.
    """
    if order.rejection_kind != "eligibility":
        raise TransitionRefused(order.status, S.AWAITING_RELEASE)
    transition(
        session,
        order,
        S.AWAITING_RELEASE,
        actor=user.username,
        detail=f"Eligibility overridden: {justification}",
        data={"justification": justification},
    )
    order.eligibility = {
        **order.eligibility,
        "override": {"by": user.username, "at": utcnow().isoformat(), "justification": justification},
    }
    order.rejection_kind = None


def set_patient_phone(session: Session, order: Order, raw_phone: str, actor: str) -> str:
    """Staff correct a phone the hospital sent wrong; the flag goes once the number is valid."""
    phone = normalize_id_phone(raw_phone)
    if phone is None:
        raise ValueError("Nomor HP tidak valid / not a valid Indonesian mobile number")
    patient = session.get(Patient, order.patient_id)
    assert patient is not None
    patient.phone_e164 = phone
    patient.updated_at = utcnow()
    order.flags = [flag for flag in order.flags if flag != INVALID_PHONE]
    add_event(session, order, "staff", "Patient phone corrected", actor=actor)
    return phone
