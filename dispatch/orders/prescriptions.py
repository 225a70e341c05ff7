"""Prescriptions into orders, from any source: first arrival, repeats, amendments and cancellations.

The hospital's rules decide the first state: a restricted drug keeps the whole order at the pharmacy, an
ineligible patient is rejected (a pharmacist may override), anyone else waits for release. Never commits.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlalchemy import insert
from sqlmodel import Session

from dispatch.core import metrics
from dispatch.core.clock import utcnow
from dispatch.core.db import insert_rows
from dispatch.hospitals.models import Hospital
from dispatch.notify.phones import normalize_id_phone
from dispatch.orders import repository
from dispatch.orders.models import Order, OrderEvent, Patient, Prescription, PrescriptionItem, StateChange
from dispatch.orders.repository import StoredPatient
from dispatch.orders.service import (
    COLD_CHAIN,
    INVALID_PHONE,
    UNKNOWN_KFA_CODE,
    add_event,
    announce,
    cancel,
    event_row,
    state_fields,
    transition,
)
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
) -> tuple[int, bool]:
    """Returns the order id and whether it is new. Idempotent on the hospital's prescription number."""
    [outcome] = ingest_batch(session, hospital, [(prescription_in, inbox_id)])
    return outcome


def ingest_batch(
    session: Session, hospital: Hospital, batch: Sequence[tuple[PrescriptionIn, int | None]]
) -> list[tuple[int, bool]]:
    """Many prescriptions in one go (a poll, a file): new ones are written with a few bulk statements.

    Each entry gives the order id and whether it is new, in the order given. A prescription already known, or
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
    outcomes: dict[int, tuple[int, bool]] = {
        position: (order_id, True) for position, order_id in zip(fresh.values(), created, strict=True)
    }
    for position, (prescription, inbox_id) in enumerate(batch):
        if position not in outcomes:
            order = _update_known(session, hospital, prescription, inbox_id)
            assert order.id is not None
            outcomes[position] = (order.id, False)
    for position, (prescription, _inbox_id) in enumerate(batch):
        outcome = "created" if outcomes[position][1] else "repeat"
        metrics.INTAKE_PRESCRIPTIONS.labels(prescription.source, outcome).inc()
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
) -> list[int]:
    """New prescriptions as plain rows in a few bulk statements, each order written in its first state.

    The first state is decided before the order is written (received, then at once awaiting release,
    rejected or cancelled), so a poll of thousands never builds an ORM object; the timeline and what the
    change owes others are the same as :func:`transition` gives one order.
    """
    assert hospital.id is not None
    if not batch:
        return []
    policies = Policies.of(hospital)
    patients = _upsert_patients(session, hospital, [prescription.patient for prescription, _ in batch])
    prescription_ids = insert_rows(
        session,
        Prescription,
        [
            {
                "hospital_id": hospital.id,
                "patient_id": patients[prescription_in.patient.source_id].id,
                "source": prescription_in.source,
                "prescription_number": prescription_in.prescription_id,
                "inbox_id": inbox_id,
                **_prescription_fields(prescription_in),
            }
            for prescription_in, inbox_id in batch
        ],
    )
    _add_items(
        session,
        [
            row
            for prescription_id, (prescription_in, _inbox_id) in zip(prescription_ids, batch, strict=True)
            for row in _item_rows(prescription_id, prescription_in)
        ],
    )
    now = utcnow()
    order_rows, first_states = [], []
    for prescription_id, (prescription_in, _inbox_id) in zip(prescription_ids, batch, strict=True):
        patient = patients[prescription_in.patient.source_id]
        flags = [] if patient.phone_e164 else [INVALID_PHONE]
        if prescription_in.status in CANCELLING_STATUSES:
            first = (S.CANCELLED, f"Prescription {prescription_in.status}", "hospital")
            assessed: dict[str, Any] = {"flags": flags}
        else:
            assessment = _assess(prescription_in, policies)
            first = (assessment.target, assessment.detail, "system")
            assessed = assessment.order_fields(flags)
        first_states.append(first)
        order_rows.append(
            {
                "hospital_id": hospital.id,
                "prescription_id": prescription_id,
                "patient_id": patient.id,
                "created_at": now,
                **assessed,
                **state_fields(S.RECEIVED, first[0], now),
            }
        )
    order_ids = insert_rows(session, Order, order_rows)
    events = []
    for order_id, row, (prescription_in, _inbox_id), (target, detail, actor) in zip(
        order_ids, order_rows, batch, first_states, strict=True
    ):
        events.append(
            event_row(
                order_id,
                hospital.id,
                "system",
                f"Prescription {prescription_in.prescription_id} received from {prescription_in.source}",
            )
        )
        if INVALID_PHONE in row["flags"]:
            events.append(
                event_row(
                    order_id,
                    hospital.id,
                    "alert",
                    "Patient phone is not a valid Indonesian mobile number; fix before release",
                )
            )
        events.append(
            event_row(
                order_id,
                hospital.id,
                "state",
                detail,
                actor=actor,
                from_status=S.RECEIVED.value,
                to_status=target.value,
            )
        )
    event_ids = insert_rows(session, OrderEvent, events)
    state_event_ids = [
        event_id for event_id, event in zip(event_ids, events, strict=True) if event["to_status"]
    ]
    for order_id, state_event_id, (target, _detail, _actor) in zip(
        order_ids, state_event_ids, first_states, strict=True
    ):
        announce(
            session,
            StateChange(order_id, hospital.id, S.RECEIVED, target, functools.partial(int, state_event_id)),
        )
    return order_ids


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
    assert prescription.id is not None
    patient = _upsert_patients(session, hospital, [prescription_in.patient])[
        prescription_in.patient.source_id
    ]
    flags = [flag for flag in order.flags if flag not in (INVALID_PHONE, COLD_CHAIN, UNKNOWN_KFA_CODE)]
    if patient.phone_e164 is None:
        flags.append(INVALID_PHONE)
    for item in repository.items_for(session, prescription.id):
        session.delete(item)
    prescription.inbox_id = inbox_id
    for name, value in _prescription_fields(prescription_in).items():
        setattr(prescription, name, value)
    session.flush()
    _add_items(session, _item_rows(prescription.id, prescription_in))
    assessment = _assess(prescription_in, Policies.of(hospital))
    for name, value in assessment.order_fields(flags).items():
        setattr(order, name, value)
    target, detail = assessment.target, assessment.detail
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


@dataclass(frozen=True)
class Policies:
    """A hospital's rules, validated once per batch rather than once per prescription."""

    restriction: RestrictionPolicy
    eligibility: EligibilityPolicy

    @classmethod
    def of(cls, hospital: Hospital) -> Policies:
        return cls(
            RestrictionPolicy.model_validate(hospital.restriction_policy),
            EligibilityPolicy.model_validate(hospital.eligibility_policy),
        )


@dataclass(frozen=True)
class Assessment:
    """Where a prescription's order goes and the evidence for it, which stays on the order."""

    target: OrderStatus
    detail: str
    rejection_kind: str | None = None
    restriction: dict[str, Any] = field(default_factory=dict)
    eligibility: dict[str, Any] = field(default_factory=dict)
    flags: tuple[str, ...] = ()

    def order_fields(self, flags: list[str]) -> dict[str, Any]:
        """The order's evidence columns, ``flags`` (kept from elsewhere) joined by the assessment's own."""
        return {
            "flags": [*flags, *(flag for flag in self.flags if flag not in flags)],
            "restriction": self.restriction,
            "eligibility": self.eligibility,
            "rejection_kind": self.rejection_kind,
        }


def _assess(prescription_in: PrescriptionIn, policies: Policies) -> Assessment:
    """Restrictions first (they bind whatever the payer), then eligibility."""
    if prescription_in.status != "active":
        return Assessment(S.REJECTED, f"Prescription status is {prescription_in.status}", "source")
    restriction = assess_restrictions(prescription_in, policies.restriction)
    evidence = _json(restriction)
    flags = (COLD_CHAIN,) if restriction.cold_chain else ()
    unknown = unknown_kfa_codes(prescription_in)
    if unknown:
        # Restrictions matched by KFA code cannot vouch for a code that is not one: a pharmacist looks.
        flags = (*flags, UNKNOWN_KFA_CODE)
        evidence = {**evidence, "unknown_kfa_codes": unknown}
    if not restriction.deliverable:
        return Assessment(S.REJECTED, restriction.reason, "restricted", evidence, flags=flags)
    eligibility = assess_eligibility(prescription_in, policies.eligibility)
    if not eligibility.eligible:
        return Assessment(
            S.REJECTED, eligibility.reason, "eligibility", evidence, _json(eligibility), flags=flags
        )
    return Assessment(
        S.AWAITING_RELEASE,
        "Waiting for a pharmacist to verify and release",
        None,
        evidence,
        _json(eligibility),
        flags=flags,
    )


def _json(decision: BaseModel) -> dict[str, Any]:
    return decision.model_dump(mode="json")


def _prescription_fields(prescription_in: PrescriptionIn) -> dict[str, Any]:
    """What an amendment may change on a prescription."""
    return {
        "identifier_system": prescription_in.identifier_system,
        "status": prescription_in.status,
        "authored_on": prescription_in.authored_on,
        "content_hash": content_hash(prescription_in),
        "encounter_id": prescription_in.encounter_id,
        "poverty_declaration": prescription_in.poverty_declaration,
        "coverage": [coverage.model_dump(mode="json") for coverage in prescription_in.coverage],
    }


def _item_rows(prescription_id: int, prescription_in: PrescriptionIn) -> list[dict[str, Any]]:
    """Items as plain rows: nothing reads them back as objects here, so they skip the ORM's cost."""
    return [
        {
            "prescription_id": prescription_id,
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
) -> dict[str, StoredPatient]:
    """The patients by their hospital number, created or updated in bulk.

    A phone that cannot be normalised leaves the stored one in place (None for a new patient); the order is
    flagged for staff rather than dropped.
    """
    assert hospital.id is not None
    latest = {data.source_id: data for data in patients_in}  # a batch may name a patient twice: last wins
    stored = repository.stored_patients(session, hospital.id, list(latest))
    now = utcnow()
    rows = {}
    for source_id, data in latest.items():
        address = data.address
        row: dict[str, Any] = {
            "name": data.name,
            "address_text": (address.text or ", ".join(address.lines))[:500],
            "rt": address.rt,
            "rw": address.rw,
            "village_code": address.village_code,
            "district_code": address.district_code,
            "city_code": address.city_code,
            "postal_code": address.postal_code,
            "updated_at": now,
        }
        phone = normalize_id_phone(data.phone)
        if phone is not None:
            row["phone_e164"] = phone
        rows[source_id] = row
    known = {source_id: row for source_id, row in rows.items() if source_id in stored}
    repository.update_patients(session, {stored[source_id].id: row for source_id, row in known.items()})
    for source_id, row in known.items():
        stored[source_id] = StoredPatient(
            stored[source_id].id, row.get("phone_e164", stored[source_id].phone_e164)
        )
    new = [source_id for source_id in rows if source_id not in stored]
    new_ids = insert_rows(
        session,
        Patient,
        [
            {"hospital_id": hospital.id, "source_id": source_id, "created_at": now, **rows[source_id]}
            for source_id in new
        ],
    )
    for source_id, patient_id in zip(new, new_ids, strict=True):
        stored[source_id] = StoredPatient(patient_id, rows[source_id].get("phone_e164"))
    return stored
