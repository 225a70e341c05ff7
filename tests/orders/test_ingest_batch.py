"""Many prescriptions in one call: new ones in bulk, known and repeated ones one by one, results in order."""

from __future__ import annotations

import json

from sqlmodel import Session, select

from dispatch.demo_data import PATIENTS, demo_bundle
from dispatch.hospitals.models import Hospital
from dispatch.orders.models import Order, OrderEvent, Patient, PrescriptionItem
from dispatch.orders.prescriptions import ingest_batch
from hospital_adapter.fhir.parser import parse_bundle


def prescription(patient_index: int, number: str, *, quantity: int | None = None, phone: str | None = None):
    document = demo_bundle(PATIENTS[patient_index], number)
    for entry in document["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "MedicationRequest" and quantity is not None:
            resource["dispenseRequest"]["quantity"]["value"] = quantity
        if resource["resourceType"] == "Patient" and phone is not None:
            resource["telecom"][0]["value"] = phone
    [parsed] = parse_bundle(json.dumps(document).encode())
    return parsed


def test_a_mixed_batch_creates_amends_and_repeats_in_the_order_given(
    session: Session, hospital: Hospital
) -> None:
    [(first, created)] = ingest_batch(session, hospital, [(prescription(0, "RX-1"), None)])
    session.commit()
    assert created

    results = ingest_batch(
        session,
        hospital,
        [
            (prescription(1, "RX-2"), None),
            (prescription(0, "RX-1", quantity=10), None),  # known: an amendment
            (prescription(2, "RX-3", phone="021-555"), None),  # a landline: flagged, still taken
            (prescription(1, "RX-2"), None),  # repeated within the batch: the same order
            (prescription(3, "RX-4"), None),
        ],
    )
    session.commit()

    assert [created for _order, created in results] == [True, False, True, False, True]
    assert results[1][0].id == first.id
    assert results[3][0].id == results[0][0].id
    orders = session.exec(select(Order).order_by(Order.id)).all()
    assert len(orders) == 4
    assert {o.status.value for o in orders} == {"awaiting_release"}
    assert results[2][0].flags == ["invalid_phone"]
    amended_items = session.exec(
        select(PrescriptionItem).where(PrescriptionItem.prescription_id == first.prescription_id)
    ).all()
    assert [item.quantity for item in amended_items] == [10]
    assert len(session.exec(select(Patient)).all()) == 4
    # Every new order has its received event and its first state on the timeline, once.
    for order, created in results:
        if created:
            kinds = [
                e.kind for e in session.exec(select(OrderEvent).where(OrderEvent.order_id == order.id)).all()
            ]
            assert kinds.count("state") == 1
            assert kinds[0] == "system"


def test_the_same_patient_twice_in_a_batch_is_one_patient(session: Session, hospital: Hospital) -> None:
    ingest_batch(session, hospital, [(prescription(0, "RX-A"), None), (prescription(0, "RX-B"), None)])
    session.commit()
    assert len(session.exec(select(Patient)).all()) == 1
    assert len(session.exec(select(Order)).all()) == 2
