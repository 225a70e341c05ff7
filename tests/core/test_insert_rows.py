"""Bulk rows: a few by INSERT … RETURNING, many by COPY on PostgreSQL; both must store the same values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from dispatch.core.db import FEW_ROWS, insert_rows
from dispatch.hospitals.models import Hospital
from dispatch.orders.models import OrderEvent, Patient


@pytest.mark.parametrize("count", [1, FEW_ROWS, FEW_ROWS + 1, 300])
def test_rows_come_back_as_written_with_ids_in_order(
    session: Session, hospital: Hospital, count: int
) -> None:
    assert hospital.id is not None
    confirmed = datetime(2026, 11, 30, 1, 2, 3, tzinfo=UTC)
    rows = [
        {
            "hospital_id": hospital.id,
            "source_id": f"RM-{i:05d}",
            "name": f"Pasien 'ke-{i}', \\\\ tab\\there\nbaris",  # COPY's special characters
            "phone_e164": None if i % 2 else f"+62812{i:08d}",
            "confirmed_at": confirmed,
        }
        for i in range(count)
    ]

    ids = insert_rows(session, Patient, rows)
    session.commit()

    assert len(ids) == len(set(ids)) == count
    stored = {patient.id: patient for patient in session.exec(select(Patient)).all()}
    for patient_id, row in zip(ids, rows, strict=True):
        patient = stored[patient_id]
        assert (patient.source_id, patient.name, patient.phone_e164) == (
            row["source_id"],
            row["name"],
            row["phone_e164"],
        )
        assert patient.confirmed_at == confirmed
        assert patient.address_text == ""  # the model's declared default
        assert patient.created_at.tzinfo is not None


@pytest.mark.parametrize("count", [2, 50])
def test_json_and_status_columns_survive_both_paths(session: Session, hospital: Hospital, count: int) -> None:
    assert hospital.id is not None
    patient_id = insert_rows(
        session, Patient, [{"hospital_id": hospital.id, "source_id": "RM-1", "name": "A"}]
    )
    data = {"nested": {"list": [1, "dua", None]}, "quote": 'a "b"', "unicode": "Ibu Sri – Banyuwangi"}
    from dispatch.orders.models import Order, Prescription

    [prescription_id] = insert_rows(
        session,
        Prescription,
        [
            {
                "hospital_id": hospital.id,
                "patient_id": patient_id[0],
                "source": "csv",
                "prescription_number": "RX",
                "status": "active",
            }
        ],
    )
    [order_id] = insert_rows(
        session,
        Order,
        [{"hospital_id": hospital.id, "prescription_id": prescription_id, "patient_id": patient_id[0]}],
    )
    ids = insert_rows(
        session,
        OrderEvent,
        [
            {
                "order_id": order_id,
                "hospital_id": hospital.id,
                "kind": "state",
                "data": data,
                "to_status": "ready",
            }
            for _ in range(count)
        ],
    )
    session.commit()
    events = session.exec(select(OrderEvent).order_by(OrderEvent.id)).all()
    assert [event.id for event in events] == ids
    assert all(event.data == data and event.to_status == "ready" for event in events)
    order = session.get(Order, order_id)
    assert order is not None and order.status.value == "received" and order.flags == []
