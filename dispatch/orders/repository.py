"""All SQL for patients, prescriptions, orders and their events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import func
from sqlmodel import Session, col, select

from dispatch.hospitals.models import Hospital
from dispatch.orders.models import Order, OrderEvent, Patient, Prescription, PrescriptionItem
from dispatch.orders.state_machine import OrderStatus


def get_prescription(session: Session, hospital_id: int, number: str) -> Prescription | None:
    query = select(Prescription).where(
        Prescription.hospital_id == hospital_id, Prescription.prescription_number == number
    )
    return session.exec(query).first()


def get_order_for_prescription(
    session: Session, prescription_id: int, *, for_update: bool = False
) -> Order | None:
    query = select(Order).where(Order.prescription_id == prescription_id)
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def get_order(session: Session, hospital_id: int, order_id: int, *, for_update: bool = False) -> Order | None:
    """Scoped by hospital: another hospital's order id reads as not found.

    ``for_update`` locks the row, so two staff actions at once (a double click) are applied one after the
    other and the second sees the state the first left.
    """
    query = select(Order).where(Order.id == order_id, Order.hospital_id == hospital_id)
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def get_order_for_update(session: Session, order_id: int) -> Order | None:
    query = select(Order).where(Order.id == order_id)
    query = query.with_for_update()
    return session.exec(query).first()


def get_order_for_booking(session: Session, order_id: int) -> tuple[Order, Patient, Hospital] | None:
    """The order locked, with its patient and hospital loaded in the same round trip: a booking needs all
    three. While the caller holds them, each later ``session.get`` of them is answered from the session."""
    query = (
        select(Order, Patient, Hospital)
        .join(Patient, col(Patient.id) == col(Order.patient_id))
        .join(Hospital, col(Hospital.id) == col(Order.hospital_id))
        .where(Order.id == order_id)
        .with_for_update(of=Order)
    )
    row = session.exec(query).first()
    return None if row is None else (row[0], row[1], row[2])


def list_orders(
    session: Session, hospital_id: int, *, status: OrderStatus | None, limit: int, offset: int
) -> tuple[Sequence[Order], int]:
    query = select(Order).where(Order.hospital_id == hospital_id)
    counter = select(func.count()).select_from(Order).where(Order.hospital_id == hospital_id)
    if status is not None:
        query = query.where(Order.status == status)
        counter = counter.where(Order.status == status)
    rows = session.exec(query.order_by(col(Order.id).desc()).limit(limit).offset(offset)).all()
    return rows, session.exec(counter).one()


def events_for(session: Session, order_id: int) -> Sequence[OrderEvent]:
    query = select(OrderEvent).where(OrderEvent.order_id == order_id)
    return session.exec(query.order_by(col(OrderEvent.at), col(OrderEvent.id))).all()


def items_for(session: Session, prescription_id: int) -> Sequence[PrescriptionItem]:
    return session.exec(
        select(PrescriptionItem).where(PrescriptionItem.prescription_id == prescription_id)
    ).all()


def count_by_hospital_and_status(session: Session) -> list[tuple[str, str, int]]:
    """(hospital code, status, orders) for every pair that has orders: the metrics' orders by state."""
    query = (
        select(Hospital.code, Order.status, func.count())
        .join(Hospital, col(Hospital.id) == col(Order.hospital_id))
        .group_by(Hospital.code, Order.status)
    )
    return [(code, str(status), count) for code, status, count in session.exec(query).all()]


def prescriptions_by_number(session: Session, hospital_id: int, numbers: list[str]) -> set[str]:
    """Which of these prescription numbers the hospital has sent before."""
    query = select(Prescription.prescription_number).where(
        Prescription.hospital_id == hospital_id, col(Prescription.prescription_number).in_(numbers)
    )
    return set(session.exec(query).all())


class StoredPatient(NamedTuple):
    id: int
    phone_e164: str | None


def stored_patients(session: Session, hospital_id: int, source_ids: list[str]) -> dict[str, StoredPatient]:
    """By hospital patient number; plain rows, since an intake batch only needs the id and the phone."""
    query = select(Patient.source_id, Patient.id, Patient.phone_e164).where(
        Patient.hospital_id == hospital_id, col(Patient.source_id).in_(source_ids)
    )
    rows = session.exec(query).all()
    return {source_id: StoredPatient(patient_id or 0, phone) for source_id, patient_id, phone in rows}


def update_patients(session: Session, rows_by_id: dict[int, dict[str, Any]]) -> None:
    """Each patient's new values, in one executemany per set of columns."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for patient_id, row in rows_by_id.items():
        # Bind names must differ from column names in an executemany UPDATE.
        values = {f"new_{name}": value for name, value in row.items()}
        by_columns.setdefault(tuple(sorted(row)), []).append({"patient_id": patient_id, **values})
    table = Patient.__table__  # type: ignore[attr-defined]
    for columns, rows in by_columns.items():
        statement = (
            sa.update(table)
            .where(table.c.id == sa.bindparam("patient_id"))
            .values({name: sa.bindparam(f"new_{name}") for name in columns})
        )
        session.connection().execute(statement, rows)
