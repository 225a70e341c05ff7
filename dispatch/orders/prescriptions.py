"""Prescriptions into orders, from any source: first arrival, repeats, amendments and cancellations.

The hospital's rules decide the first state: a restricted drug keeps the whole order at the pharmacy, an
ineligible patient is rejected (a pharmacist may override), anyone else waits for release. Never commits.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy import insert
from sqlmodel import Session

from dispatch.core.clock import utcnow
from dispatch.hospitals.models import Hospital
from dispatch.notify.phones import normalize_id_phone
from dispatch.orders import repository
from dispatch.orders.models import Order, Patient, Prescription, PrescriptionItem
from dispatch.orders.service import COLD_CHAIN, INVALID_PHONE, UNKNOWN_KFA_CODE, add_event, cancel, transition
from dispatch.orders.state_machine import CANCELLABLE, OrderStatus, can_transition
from hospital_adapter.canonical import PatientIn, PrescriptionIn
from hospital_adapter.eligibility import EligibilityPolicy, assess_eligibility
from hospital_adapter.restrictions import RestrictionPolicy, assess_restrictions

S = OrderStatus

# A long drug name or dosage text must not block a delivery: it is shortened to the column, not refused.
DISPLAY_MAX = 300
INSTRUCTIONS_MAX = 500

KFA_SYSTEM = "http://sys-ids.kemkes.go.id/kfa"
KFA_CODE = re.compile(r"9[1-4]\d{6}")

CANCELLING_STATUSES = frozenset({"cancelled", "stopped", "entered-in-error"})

# Before release the pharmacy has not acted yet, so the hospital's newer version simply replaces the old.
AMENDABLE = frozenset({S.RECEIVED, S.AWAITING_RELEASE, S.REJECTED})


def content_hash(prescription: PrescriptionIn) -> str:
    """Same hash, same prescription: a repeat is a no-op, a different one is an amendment."""
    return hashlib.sha256(prescription.model_dump_json(exclude={"source"}).encode()).hexdigest()


def ingest_prescription(
    session: Session, hospital: Hospital, prescription_in: PrescriptionIn, *, inbox_id: int | None
) -> tuple[Order, bool]:
    """Returns the order and whether it is new. Idempotent on the hospital's prescription number."""
    [outcome] = ingest_batch(session, hospital, [(prescription_in, inbox_id)])
    return outcome


def ingest_batch(
    session: Session, hospital: Hospital, batch: Sequence[tuple[PrescriptionIn, int | None]]
) -> list[tuple[Order, bool]]:
    """Many prescriptions in one go (a poll, a file): new ones are written with a few bulk statements.

    Each entry gives the order and whether it is new, in the order given. A prescription already known, or
    repeated within the batch, takes the one-by-one path after the new ones: repeat, amendment, cancellation.
    """
    assert hospital.id is not None
    numbers = [prescription.prescription_id for prescription, _ in batch]
    known = repository.prescriptions_by_number(session, hospital.id, numbers)
    fresh: dict[str, int] = {}
    for position, (prescription, _inbox_id) in enumerate(batch):
        if prescription.prescription_id not in known and prescription.prescription_id not in fresh:
            fresh[prescription.prescription_id] = position
    created = _create_many(session, hospital, [batch[position] for position in fresh.values()])
    outcomes: dict[int, tuple[Order, bool]] = {
        position: (order, True) for position, order in zip(fresh.values(), created, strict=True)
    }
    for position, (prescription, inbox_id) in enumerate(batch):
        if position not in outcomes:
            outcomes[position] = (_update_known(session, hospital, prescription, inbox_id), False)
    return [outcomes[position] for position in range(len(batch))]


def _update_known(
    session: Session, hospital: Hospital, prescription_in: PrescriptionIn, inbox_id: int | None
) -> Order:
    assert hospital.id is not None
    existing = repository.get_prescription(session, hospital.id, prescription_in.prescription_id)
    assert existing is not None and existing.id is not None
    order = repository.get_order_for_prescription(session, existing.id, for_update=True)
    assert order is not None
    if prescription_in.status in CANCELLING_STATUSES:
        _cancel_by_hospital(session, order, prescription_in.status)
    elif existing.content_hash != content_hash(prescription_in):
        _amend(session, hospital, order, existing, prescription_in, inbox_id)
    return order


def cancel_by_hospital(
    session: Session, hospital: Hospital, prescription_number: str, reason: str
) -> Order | None:
    """A source saw the prescription withdrawn (e.g. deleted in Khanza)."""
    assert hospital.id is not None
    prescription = repository.get_prescription(session, hospital.id, prescription_number)
    if prescription is None or prescription.id is None:
        return None
    order = repository.get_order_for_prescription(session, prescription.id, for_update=True)
    if order is not None:
        _cancel_by_hospital(session, order, reason)
    return order


def _create_many(
    session: Session, hospital: Hospital, batch: Sequence[tuple[PrescriptionIn, int | None]]
) -> list[Order]:
    """Patients, prescriptions, items and orders each in one flush; then each order's first state."""
    assert hospital.id is not None
    if not batch:
        return []
    patients = _upsert_patients(session, hospital, [prescription.patient for prescription, _ in batch])
    prescriptions = []
    for prescription_in, inbox_id in batch:
        patient = patients[prescription_in.patient.source_id]
        prescription = Prescription(
            hospital_id=hospital.id,
            patient_id=patient.id or 0,
            source=prescription_in.source,
            prescription_number=prescription_in.prescription_id,
            status=prescription_in.status,
            inbox_id=inbox_id,
        )
        _set_fields(prescription, prescription_in)
        prescriptions.append(prescription)
    session.add_all(prescriptions)
    session.flush()
    _add_items(
        session,
        [
            row
            for prescription, (prescription_in, _inbox_id) in zip(prescriptions, batch, strict=True)
            for row in _item_rows(prescription, prescription_in)
        ],
    )
    orders = []
    for prescription, (prescription_in, _inbox_id) in zip(prescriptions, batch, strict=True):
        patient = patients[prescription_in.patient.source_id]
        order = Order(
            hospital_id=hospital.id, prescription_id=prescription.id or 0, patient_id=patient.id or 0
        )
        if patient.phone_e164 is None:
            order.flags = [INVALID_PHONE]
        orders.append(order)
    session.add_all(orders)
    session.flush()
    for order, prescription, (prescription_in, _inbox_id) in zip(orders, prescriptions, batch, strict=True):
        _enter_first_state(session, hospital, order, prescription, prescription_in)
    return orders


def _enter_first_state(
    session: Session,
    hospital: Hospital,
    order: Order,
    prescription: Prescription,
    prescription_in: PrescriptionIn,
) -> None:
    add_event(
        session,
        order,
        "system",
        f"Prescription {prescription.prescription_number} received from {prescription.source}",
    )
    if INVALID_PHONE in order.flags:
        add_event(
            session,
            order,
            "alert",
            "Patient phone is not a valid Indonesian mobile number; fix before release",
        )
    if prescription_in.status in CANCELLING_STATUSES:
        transition(
            session, order, S.CANCELLED, actor="hospital", detail=f"Prescription {prescription_in.status}"
        )
        return
    target, detail = _assess(order, hospital, prescription_in)
    transition(session, order, target, detail=detail)


def _amend(
    session: Session,
    hospital: Hospital,
    order: Order,
    prescription: Prescription,
    prescription_in: PrescriptionIn,
    inbox_id: int | None,
) -> None:
    if order.status not in AMENDABLE:
        add_event(
            session,
            order,
            "alert",
            f"The hospital amended prescription {prescription.prescription_number} after release; not applied",
        )
        return
    patient = _upsert_patients(session, hospital, [prescription_in.patient])[
        prescription_in.patient.source_id
    ]
    order.flags = [flag for flag in order.flags if flag not in (INVALID_PHONE, COLD_CHAIN, UNKNOWN_KFA_CODE)]
    if patient.phone_e164 is None:
        order.flags = [*order.flags, INVALID_PHONE]
    for item in repository.items_for(session, prescription.id or 0):
        session.delete(item)
    prescription.inbox_id = inbox_id
    _set_fields(prescription, prescription_in)
    session.flush()
    _add_items(session, _item_rows(prescription, prescription_in))
    target, detail = _assess(order, hospital, prescription_in)
    if target == order.status:
        add_event(session, order, "system", f"Prescription amended by the hospital; {detail}")
    elif can_transition(order.status, target):
        transition(session, order, target, detail=f"Prescription amended by the hospital; {detail}")


def _cancel_by_hospital(session: Session, order: Order, status: str) -> None:
    if order.status == S.CANCELLED:
        return
    if order.status not in CANCELLABLE:
        add_event(
            session, order, "alert", f"The hospital cancelled the prescription ({status}) too late to stop it"
        )
        return
    cancel(session, order, "hospital", f"Prescription {status} by the hospital")


def unknown_kfa_codes(prescription: PrescriptionIn) -> list[str]:
    """KFA codes that cannot be KFA codes (8 digits, 91–94 for substances and products), as sent."""
    codes = [
        code
        for item in prescription.items
        for code, system in (
            (item.code, item.code_system),
            *((c.code, c.code_system) for c in item.components),
        )
        if code and system == KFA_SYSTEM
    ]
    return [code for code in codes if not KFA_CODE.fullmatch(code)]


def _assess(order: Order, hospital: Hospital, prescription_in: PrescriptionIn) -> tuple[OrderStatus, str]:
    """Restrictions first (they bind whatever the payer), then eligibility; the evidence stays on the order."""
    if prescription_in.status != "active":
        order.rejection_kind = "source"
        return S.REJECTED, f"Prescription status is {prescription_in.status}"
    restriction = assess_restrictions(
        prescription_in, RestrictionPolicy.model_validate(hospital.restriction_policy)
    )
    order.restriction = _json(restriction)
    if restriction.cold_chain and COLD_CHAIN not in order.flags:
        order.flags = [*order.flags, COLD_CHAIN]
    unknown = unknown_kfa_codes(prescription_in)
    if unknown:
        # Restrictions matched by KFA code cannot vouch for a code that is not one: a pharmacist looks.
        order.flags = [*order.flags, UNKNOWN_KFA_CODE]
        order.restriction = {**order.restriction, "unknown_kfa_codes": unknown}
    if not restriction.deliverable:
        order.rejection_kind = "restricted"
        return S.REJECTED, restriction.reason
    eligibility = assess_eligibility(
        prescription_in, EligibilityPolicy.model_validate(hospital.eligibility_policy)
    )
    order.eligibility = _json(eligibility)
    if not eligibility.eligible:
        order.rejection_kind = "eligibility"
        return S.REJECTED, eligibility.reason
    order.rejection_kind = None
    return S.AWAITING_RELEASE, "Waiting for a pharmacist to verify and release"


def _json(decision: BaseModel) -> dict[str, Any]:
    return decision.model_dump(mode="json")


def _set_fields(prescription: Prescription, prescription_in: PrescriptionIn) -> None:
    prescription.identifier_system = prescription_in.identifier_system
    prescription.status = prescription_in.status
    prescription.authored_on = prescription_in.authored_on
    prescription.content_hash = content_hash(prescription_in)
    prescription.encounter_id = prescription_in.encounter_id
    prescription.poverty_declaration = prescription_in.poverty_declaration
    prescription.coverage = [coverage.model_dump(mode="json") for coverage in prescription_in.coverage]


def _item_rows(prescription: Prescription, prescription_in: PrescriptionIn) -> list[dict[str, Any]]:
    """Items as plain rows: nothing reads them back as objects here, so they skip the ORM's cost."""
    assert prescription.id is not None
    return [
        {
            "prescription_id": prescription.id,
            "code": item.code,
            "code_system": item.code_system,
            "local_code": item.local_code,
            "display": item.display[:DISPLAY_MAX],
            "quantity": item.quantity,
            "unit": item.unit,
            "instructions": item.instructions[:INSTRUCTIONS_MAX] if item.instructions else None,
            "dosage_form": item.dosage_form,
            "drug_class": item.drug_class,
            "components": [component.model_dump(mode="json") for component in item.components],
        }
        for item in prescription_in.items
    ]


def _add_items(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(PrescriptionItem), rows)


def _upsert_patients(
    session: Session, hospital: Hospital, patients_in: Sequence[PatientIn]
) -> dict[str, Patient]:
    """The patients by their hospital number, created or updated in one flush.

    A phone that cannot be normalised leaves the stored one in place (None for a new patient); the order is
    flagged for staff rather than dropped.
    """
    assert hospital.id is not None
    stored = repository.patients_by_source_id(session, hospital.id, [data.source_id for data in patients_in])
    for data in patients_in:
        patient = stored.get(data.source_id)
        if patient is None:
            patient = Patient(hospital_id=hospital.id, source_id=data.source_id, name=data.name)
            session.add(patient)
            stored[data.source_id] = patient
        address = data.address
        patient.name = data.name
        patient.address_text = (address.text or ", ".join(address.lines))[:500]
        patient.rt, patient.rw = address.rt, address.rw
        patient.village_code, patient.district_code = address.village_code, address.district_code
        patient.city_code, patient.postal_code = address.city_code, address.postal_code
        phone = normalize_id_phone(data.phone)
        if phone is not None:
            patient.phone_e164 = phone
        patient.updated_at = utcnow()
    session.flush()
    return stored
