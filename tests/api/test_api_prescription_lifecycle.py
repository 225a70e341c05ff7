"""A prescription's life from the hospital's side: repeats, amendments, cancellations, rules, fixes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from dispatch.demo_data import PATIENTS, demo_bundle
from dispatch.hospitals.models import HospitalSink
from dispatch.inbox.models import InboxMessage
from dispatch.orders.models import Order, OrderEvent, PrescriptionItem
from dispatch.outbox.models import OutboxMessage


def medication_request(document: dict[str, Any]) -> dict[str, Any]:
    return next(
        e["resource"] for e in document["entry"] if e["resource"]["resourceType"] == "MedicationRequest"
    )


def medication(document: dict[str, Any]) -> dict[str, Any]:
    return next(e["resource"] for e in document["entry"] if e["resource"]["resourceType"] == "Medication")


def coverage(document: dict[str, Any]) -> dict[str, Any]:
    return next(e["resource"] for e in document["entry"] if e["resource"]["resourceType"] == "Coverage")


def the_order(fetch) -> Order:
    [order] = fetch(Order)
    return order


def details(fetch, order: Order) -> list[str]:
    return [e.detail for e in fetch(OrderEvent, OrderEvent.order_id == order.id)]


def test_a_repeat_changes_nothing_and_an_amendment_before_release_replaces_the_items(fhir, fetch):
    document = demo_bundle(PATIENTS[0], "RX-AM-1")
    assert fhir.bundle(document).status_code == 201
    events_after_first = len(fetch(OrderEvent))

    assert fhir.bundle(copy.deepcopy(document)).status_code == 200
    assert len(fetch(OrderEvent)) == events_after_first

    amended = copy.deepcopy(document)
    medication(amended)["code"]["text"] = "Amlodipine 5 mg Tablet"
    medication_request(amended)["medicationReference"]["display"] = "Amlodipine 5 mg Tablet"
    medication_request(amended)["dispenseRequest"]["quantity"]["value"] = 60
    assert fhir.bundle(amended).status_code == 200

    [item] = fetch(PrescriptionItem)
    assert (item.display, item.quantity) == ("Amlodipine 5 mg Tablet", 60)
    order = the_order(fetch)
    assert order.status == "awaiting_release"
    assert any(d.startswith("Prescription amended by the hospital") for d in details(fetch, order))


def test_an_amendment_after_release_is_not_applied_but_shown_to_staff(fhir, fetch, client, pharmacist_token):
    document = demo_bundle(PATIENTS[0], "RX-AM-2")
    fhir.bundle(document)
    order = the_order(fetch)
    client.post(f"/api/v1/orders/{order.id}/release", headers={"Authorization": f"Bearer {pharmacist_token}"})

    amended = copy.deepcopy(document)
    medication_request(amended)["dispenseRequest"]["quantity"]["value"] = 10
    assert fhir.bundle(amended).status_code == 200

    [item] = fetch(PrescriptionItem)
    assert item.quantity == 30
    alerts = fetch(OrderEvent, OrderEvent.kind == "alert")
    assert [a.detail for a in alerts] == [
        "The hospital amended prescription RX-AM-2 after release; not applied"
    ]


def test_a_cancelled_prescription_cancels_the_order_and_a_booked_courier(fhir, fetch, run_sql):
    document = demo_bundle(PATIENTS[1], "RX-CX-1")
    fhir.bundle(document)
    order = the_order(fetch)
    # A booked courier: an attempt in charge of the order, as the dispatcher leaves it.
    run_sql(
        "INSERT INTO courier_accounts (hospital_id, courier, label, priority, enabled, settings, created_at) "
        "VALUES (:h, 'gosend', 'default', 10, true, '{}', now())",
        h=order.hospital_id,
    )
    [(account_id,)] = run_sql("SELECT id FROM courier_accounts")
    run_sql(
        "INSERT INTO booking_attempts (order_id, hospital_id, courier, account_id, reference, status, "
        "provider_order_id, created_at, updated_at) VALUES (:o, :h, 'gosend', :a, 'REF-1', 'booked', 'GK-1', now(), now())",
        o=order.id,
        h=order.hospital_id,
        a=account_id,
    )
    [(attempt_id,)] = run_sql("SELECT id FROM booking_attempts")
    run_sql("UPDATE orders SET status = 'courier_assigned', current_attempt_id = :a", a=attempt_id)

    cancelled = copy.deepcopy(document)
    medication_request(cancelled)["status"] = "cancelled"
    assert fhir.bundle(cancelled).status_code == 200

    order = the_order(fetch)
    assert order.status == "cancelled"
    assert "Prescription cancelled by the hospital" in details(fetch, order)
    cancel_rows = fetch(OutboxMessage, OutboxMessage.topic == "dispatch.cancel_booking")
    assert [row.payload for row in cancel_rows] == [{"attempt_id": attempt_id}]


def test_an_invalid_phone_flags_the_order_blocks_release_and_staff_can_fix_it(
    fhir, fetch, client, pharmacist_token
):
    document = demo_bundle(PATIENTS[2], "RX-PH-1")
    next(e["resource"] for e in document["entry"] if e["resource"]["resourceType"] == "Patient")["telecom"][
        0
    ]["value"] = "0333-12"
    assert fhir.bundle(document).status_code == 201
    order = the_order(fetch)
    assert order.status == "awaiting_release"
    assert order.flags == ["invalid_phone"]
    auth = {"Authorization": f"Bearer {pharmacist_token}"}

    refused = client.post(f"/api/v1/orders/{order.id}/release", headers=auth)
    assert refused.status_code == 409
    assert "phone is invalid" in refused.json()["detail"]

    assert (
        client.post(f"/api/v1/orders/{order.id}/phone", json={"phone": "nope"}, headers=auth).status_code
        == 422
    )
    fixed = client.post(f"/api/v1/orders/{order.id}/phone", json={"phone": "0812-1111-2222"}, headers=auth)
    assert fixed.status_code == 200
    assert the_order(fetch).flags == []
    assert client.post(f"/api/v1/orders/{order.id}/release", headers=auth).status_code == 200


def test_a_patient_who_is_not_pbi_is_rejected_and_a_pharmacist_can_override(
    fhir, fetch, client, pharmacist_token
):
    document = demo_bundle(PATIENTS[0], "RX-EL-1")
    coverage(document)["class"][0].update({"value": "PBPU", "name": "PBPU (Mandiri)"})
    assert fhir.bundle(document).status_code == 201
    order = the_order(fetch)
    assert (order.status, order.rejection_kind) == ("rejected", "eligibility")
    assert order.eligibility["eligible"] is False
    auth = {"Authorization": f"Bearer {pharmacist_token}"}

    too_short = client.post(
        f"/api/v1/orders/{order.id}/override-eligibility", json={"justification": "ok"}, headers=auth
    )
    assert too_short.status_code == 422
    justification = "Pasien lansia tinggal sendiri, surat keterangan desa menyusul"
    overridden = client.post(
        f"/api/v1/orders/{order.id}/override-eligibility", json={"justification": justification}, headers=auth
    )
    assert overridden.status_code == 200
    order = the_order(fetch)
    assert order.status == "awaiting_release"
    assert order.eligibility["override"]["justification"] == justification
    assert order.eligibility["override"]["by"] == "apoteker1"


def test_a_restricted_drug_keeps_the_order_at_the_pharmacy_and_cannot_be_overridden(
    fhir, fetch, client, pharmacist_token
):
    document = demo_bundle(PATIENTS[0], "RX-RS-1")
    medication(document)["code"]["text"] = "Codeine 10 mg Tablet"
    medication_request(document)["medicationReference"]["display"] = "Codeine 10 mg Tablet"
    assert fhir.bundle(document).status_code == 201
    order = the_order(fetch)
    assert (order.status, order.rejection_kind) == ("rejected", "restricted")
    assert order.restriction["deliverable"] is False
    refused = client.post(
        f"/api/v1/orders/{order.id}/override-eligibility",
        json={"justification": "Pasien tidak bisa datang ke rumah sakit"},
        headers={"Authorization": f"Bearer {pharmacist_token}"},
    )
    assert refused.status_code == 409


def test_insulin_pens_travel_but_flag_the_order_cold_chain(fhir, fetch):
    document = demo_bundle(PATIENTS[0], "RX-CC-1")
    medication(document)["code"]["text"] = "Insulin Glargine 100 IU/mL Pen"
    medication_request(document)["medicationReference"]["display"] = "Insulin Glargine 100 IU/mL Pen"
    fhir.bundle(document)
    order = the_order(fetch)
    assert order.status == "awaiting_release"
    assert order.flags == ["cold_chain"]


def test_a_quarantined_message_is_listed_and_can_be_reprocessed_after_the_fix(
    fhir, fetch, client, pharmacist_token, run_sql
):
    document = demo_bundle(PATIENTS[0], "RX-Q-1")
    medication_request(document)["identifier"][0]["value"] = "X" * 129  # too long: refused, quarantined
    assert fhir.bundle(document).status_code == 422
    auth = {"Authorization": f"Bearer {pharmacist_token}"}
    [listed] = client.get("/api/v1/inbox", headers=auth).json()
    assert listed["status"] == "rejected"
    assert listed["error"]

    still = client.post(f"/api/v1/inbox/{listed['id']}/reprocess", headers=auth)
    assert still.status_code == 422
    # The fix: here, the raw message is corrected by the hospital's integrator in place (a stand-in for a
    # setting or code fix that makes the same bytes acceptable).
    fixed = demo_bundle(PATIENTS[0], "RX-Q-1")
    import json

    run_sql("UPDATE inbox_messages SET body = :b WHERE id = :i", b=json.dumps(fixed).encode(), i=listed["id"])
    done = client.post(f"/api/v1/inbox/{listed['id']}/reprocess", headers=auth)
    assert done.status_code == 200
    assert done.json()["orders"][0]["created"] is True
    [message] = fetch(InboxMessage)
    assert message.status == "processed"
    assert client.get("/api/v1/inbox", headers=auth).json() == []
    again = client.post(f"/api/v1/inbox/{listed['id']}/reprocess", headers=auth)
    assert again.status_code == 409


@pytest.mark.parametrize(("kind", "expected_topics"), [("event_webhook", 2), ("fhir_dispense", 0)])
def test_state_changes_queue_the_hospitals_write_backs(
    fhir, fetch, session, hospital, client, pharmacist_token, kind, expected_topics
):
    session.add(HospitalSink(hospital_id=hospital.id, kind=kind, settings={}))
    session.commit()
    fhir.bundle(demo_bundle(PATIENTS[0], "RX-WB-1"))
    order = the_order(fetch)
    client.post(f"/api/v1/orders/{order.id}/release", headers={"Authorization": f"Bearer {pharmacist_token}"})
    rows = fetch(OutboxMessage, OutboxMessage.topic == f"writeback.{kind}")
    # Event webhooks hear of every change (awaiting_release, released); outcome sinks only of the end.
    assert len(rows) == expected_topics
    assert all(row.payload["order_id"] == order.id for row in rows)


def test_a_code_that_cannot_be_kfa_flags_the_order_for_the_pharmacist(fhir, fetch):
    document = demo_bundle(PATIENTS[2], "RX-KFA-1")  # this patient's drug is KFA-coded (93006500)
    medication(document)["code"]["coding"][0]["code"] = "KFA-XYZ"
    assert fhir.bundle(document).status_code == 201
    order = the_order(fetch)
    assert order.status == "awaiting_release"
    assert order.flags == ["unknown_kfa_code"]
    assert order.restriction["unknown_kfa_codes"] == ["KFA-XYZ"]


def test_a_real_kfa_code_raises_no_flag(fhir, fetch):
    fhir.bundle(demo_bundle(PATIENTS[2], "RX-KFA-2"))
    assert the_order(fetch).flags == []
