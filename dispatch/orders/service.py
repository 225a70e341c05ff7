"""Order logic: intake of canonical prescriptions, transitions with their timeline and side effects.

Never commits: the request or the task that calls it owns the transaction, so a state change and its
outbox rows land together or not at all.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from dispatch.auth.models import StaffUser
from dispatch.core.clock import utcnow
from dispatch.dispatching.models import ACTIVE_ATTEMPT, BookingAttempt
from dispatch.hospitals.models import Hospital
from dispatch.notify import service as notify_service
from dispatch.notify.phones import normalize_id_phone
from dispatch.orders import repository
from dispatch.orders.models import Order, OrderEvent, Patient, Prescription, PrescriptionItem
from dispatch.orders.state_machine import TERMINAL, OrderStatus, check_transition
from dispatch.outbox.service import enqueue
from hospital_adapter.canonical import PatientIn, PrescriptionIn, SourceInputError

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

# A long drug name or dosage text must not block a delivery: it is shortened to the column, not refused.
DISPLAY_MAX = 300
INSTRUCTIONS_MAX = 500

DISPATCH_TOPIC = "dispatch.book"
CANCEL_BOOKING_TOPIC = "dispatch.cancel_booking"


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
        order_id=order.id,
        hospital_id=order.hospital_id,
        kind=kind,
        detail=detail[:500],
        actor=actor,
        data=data or {},
        from_status=from_status,
        to_status=to_status,
    )
    session.add(event)
    return event


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
    current = order.status
    check_transition(current, target)
    now = utcnow()
    order.status = target
    order.status_changed_at = now
    if target in TERMINAL:
        order.closed_at = now
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
    session.flush()
    kind = SMS_ON_ENTRY.get(target)
    if target == S.CANCELLED and current not in (S.RECEIVED, S.AWAITING_RELEASE):
        kind = "cancelled"
    if kind is not None:
        assert event.id is not None
        notify_service.queue_sms(session, order, kind, dedupe_key=f"order{order.id}:{kind}:{event.id}")
    return event


def _upsert_patient(session: Session, hospital: Hospital, data: PatientIn) -> Patient:
    assert hospital.id is not None
    phone = normalize_id_phone(data.phone)
    if phone is None:
        raise SourceInputError(
            [("value", f"Patient phone {data.phone!r} is not a valid Indonesian number", None)]
        )
    address = data.address
    fields = {
        "name": data.name,
        "phone_e164": phone,
        "address_text": (address.text or ", ".join(address.lines))[:500],
        "rt": address.rt,
        "rw": address.rw,
        "village_code": address.village_code,
        "district_code": address.district_code,
        "city_code": address.city_code,
        "postal_code": address.postal_code,
    }
    patient = repository.get_patient(session, hospital.id, data.source_id)
    if patient is None:
        patient = Patient(hospital_id=hospital.id, source_id=data.source_id, name=data.name)
        session.add(patient)
    for key, value in fields.items():
        setattr(patient, key, value)
    patient.updated_at = utcnow()
    session.flush()
    return patient


def ingest_prescription(
    session: Session, hospital: Hospital, prescription_in: PrescriptionIn, *, inbox_id: int | None
) -> tuple[Order, bool]:
    """Idempotent on the prescription number: the same prescription twice is one order."""
    assert hospital.id is not None
    existing = repository.get_prescription(session, hospital.id, prescription_in.prescription_id)
    if existing is not None:
        order = repository.get_order_for_prescription(session, existing.id or 0)
        assert order is not None
        return order, False
    patient = _upsert_patient(session, hospital, prescription_in.patient)
    assert patient.id is not None
    prescription = Prescription(
        hospital_id=hospital.id,
        patient_id=patient.id,
        source=prescription_in.source,
        prescription_number=prescription_in.prescription_id,
        identifier_system=prescription_in.identifier_system,
        status=prescription_in.status,
        authored_on=prescription_in.authored_on,
        inbox_id=inbox_id,
    )
    session.add(prescription)
    session.flush()
    assert prescription.id is not None
    for item in prescription_in.items:
        session.add(
            PrescriptionItem(
                prescription_id=prescription.id,
                code=item.code,
                code_system=item.code_system,
                display=item.display[:DISPLAY_MAX],
                quantity=item.quantity,
                unit=item.unit,
                instructions=item.instructions[:INSTRUCTIONS_MAX] if item.instructions else None,
            )
        )
    order = Order(hospital_id=hospital.id, prescription_id=prescription.id, patient_id=patient.id)
    session.add(order)
    session.flush()
    add_event(
        session,
        order,
        "system",
        f"Prescription {prescription.prescription_number} received from {prescription.source}",
    )
    if prescription_in.status == "active":
        transition(
            session, order, S.AWAITING_RELEASE, detail="Waiting for a pharmacist to verify and release"
        )
    else:
        transition(session, order, S.REJECTED, detail=f"Prescription status is {prescription_in.status}")
    return order, True


def release(session: Session, order: Order, user: StaffUser) -> None:
    order.released_at = utcnow()
    order.released_by_id = user.id
    notify_service.issue_tracking_token(session, order)
    transition(session, order, S.RELEASED, actor=user.username, detail="Released for delivery")
    enqueue(session, DISPATCH_TOPIC, {"order_id": order.id}, hospital_id=order.hospital_id)


def cancel(session: Session, order: Order, user: StaffUser, reason: str) -> None:
    transition(session, order, S.CANCELLED, actor=user.username, detail=reason or "Cancelled by staff")
    attempt = session.get(BookingAttempt, order.current_attempt_id) if order.current_attempt_id else None
    if attempt is not None and attempt.status in ACTIVE_ATTEMPT:
        enqueue(session, CANCEL_BOOKING_TOPIC, {"attempt_id": attempt.id}, hospital_id=order.hospital_id)
