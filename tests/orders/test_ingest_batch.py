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
    assert results[1][0] == first
    assert results[3][0] == results[0][0]
    orders = {o.id: o for o in session.exec(select(Order).order_by(Order.id)).all()}
    assert len(orders) == 4
    assert {o.status.value for o in orders.values()} == {"awaiting_release"}
    assert orders[results[2][0]].flags == ["invalid_phone"]
    assert orders[results[0][0]].flags == []
    amended_items = session.exec(
        select(PrescriptionItem).where(PrescriptionItem.prescription_id == orders[first].prescription_id)
    ).all()
    assert [item.quantity for item in amended_items] == [10]
    assert len(session.exec(select(Patient)).all()) == 4
    # Every new order has its received event and its first state on the timeline, once.
    for order_id, created in results:
        if created:
            events = session.exec(
                select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)
            ).all()
            kinds = [event.kind for event in events]
            assert kinds.count("state") == 1
            assert kinds[0] == "system"
            assert (events[-1].from_status, events[-1].to_status) == ("received", "awaiting_release")
    assert [e.kind for e in session.exec(select(OrderEvent).where(OrderEvent.order_id == results[2][0]))] == [
        "system",
        "alert",
        "state",
    ]


def test_the_same_patient_twice_in_a_batch_is_one_patient(session: Session, hospital: Hospital) -> None:
    ingest_batch(session, hospital, [(prescription(0, "RX-A"), None), (prescription(0, "RX-B"), None)])
    session.commit()
    assert len(session.exec(select(Patient)).all()) == 1
    assert len(session.exec(select(Order)).all()) == 2
