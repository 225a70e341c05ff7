"""FHIR intake over HTTP: POST /fhir/r4/Bundle and /fhir/r4/MedicationRequest against the real database.

Every case checks the answer (status, content type, a valid R4 OperationOutcome), the archived raw message
in ``inbox_messages``, and what the request did — or did not do — to orders, patients and their timeline.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.operationoutcome import OperationOutcome

from dispatch.demo_data import ORG_ID, PATIENTS, demo_bundle
from dispatch.inbox.models import InboxMessage
from dispatch.notify.models import TrackingToken
from dispatch.orders.models import Order, OrderEvent, Patient, Prescription, PrescriptionItem
from dispatch.outbox.models import OutboxMessage

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "examples"
NIK = "3171022809990001"
RX_SYSTEM = "http://sys-ids.kemkes.go.id/prescription/10000004"
FHIR_JSON = "application/fhir+json"
DOWNSTREAM = (Order, Patient, Prescription, PrescriptionItem, OrderEvent, OutboxMessage, TrackingToken)


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def nik_bundle() -> dict[str, Any]:
    """SATUSEHAT's Patient 100000030009 (with a NIK) and the ANC MedicationRequest, rewired to that patient."""
    patient = example("satusehat/Patient-100000030009.json")
    request = example("satusehat/MedicationRequest-ANC-peresepan-obat.json")
    request["subject"] = {"reference": "Patient/100000030009", "display": "Eric Smith"}
    request["status"] = "active"
    medication = example("satusehat/Medication-ANC-KFA-93006500.json")
    medication["id"] = request["medicationReference"]["reference"].removeprefix("Medication/")
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": resource} for resource in (patient, medication, request)],
    }


def banyuwangi_patient(patient_id: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": patient_id,
        "identifier": [{"system": "https://fhir.kemkes.go.id/id/ihs-number", "value": patient_id}],
        "name": [{"use": "official", "text": "Roel"}],
        "telecom": [{"system": "phone", "value": "+62 813-3456-0909", "use": "mobile"}],
        "address": [{"use": "home", "line": ["Dsn. Krajan RT 02 RW 03, Desa Kemiren, Kec. Glagah"]}],
    }


def contained_medication_request(status: str = "active") -> dict[str, Any]:
    """HL7's medicationrequest0301 with its Patient contained, as a single-resource POST carries it."""
    document = example("fhir/medicationrequest0301.json")
    document["contained"].append(
        {
            "resourceType": "Patient",
            "id": "pat1",
            "identifier": [
                {
                    "type": {
                        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]
                    },
                    "system": "urn:oid:2.16.840.1.113883.3.1",
                    "value": "RM-000123",
                }
            ],
            "name": [{"given": ["Donald"], "family": "Duck"}],
            "telecom": [{"system": "phone", "value": "0857-3456-0404", "use": "mobile"}],
            "address": [{"use": "home", "text": "Dusun Krajan RT 01 RW 01, Ds. Wongsorejo, Kec. Wongsorejo"}],
        }
    )
    document["subject"] = {"reference": "#pat1"}
    document["status"] = status
    return document


def outcome(response: Any, status: int) -> dict[str, Any]:
    """Asserts the status and that the body is a valid FHIR R4 OperationOutcome served as FHIR JSON."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == FHIR_JSON
    body = response.json()
    OperationOutcome.model_validate(body)
    return body


def assert_nothing_ingested(fetch: Any) -> None:
    for model in DOWNSTREAM:
        assert fetch(model) == [], f"{model.__tablename__} was written to"


def only_inbox_message(fetch: Any) -> InboxMessage:
    [message] = fetch(InboxMessage)
    return message


class TestBundleAccepted:
    def test_demo_bundle_becomes_an_order_awaiting_release(self, fhir, fetch, hospital, api_key):
        raw = encode(demo_bundle(PATIENTS[0], "RX-2026-0001"))

        response = fhir.bundle(raw)

        [order] = fetch(Order)
        assert outcome(response, 201) == {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "information",
                    "code": "informational",
                    "diagnostics": f"Prescription RX-2026-0001: order {order.id} created",
                }
            ],
        }
        assert (order.hospital_id, order.status, order.released_at) == (hospital.id, "awaiting_release", None)

        [patient] = fetch(Patient)
        assert order.patient_id == patient.id
        assert patient.model_dump(
            include={"hospital_id", "source_id", "name", "phone_e164", "address_text", "rt", "rw"}
            | {"village_code", "district_code", "city_code"}
        ) == {
            "hospital_id": hospital.id,
            "source_id": "RM-010231",
            "name": "Siti Aminah",
            "phone_e164": "+6281234560101",
            "address_text": "Dsn. Krajan, Desa Kemiren, Kec. Glagah",
            "rt": "02",
            "rw": "01",
            "village_code": "3510152004",
            "district_code": "351015",
            "city_code": "3510",
        }

        message = only_inbox_message(fetch)
        [prescription] = fetch(Prescription)
        assert order.prescription_id == prescription.id
        assert (prescription.prescription_number, prescription.identifier_system) == (
            "RX-2026-0001",
            f"http://sys-ids.kemkes.go.id/prescription/{ORG_ID}",
        )
        assert (prescription.source, prescription.status, prescription.inbox_id) == (
            "fhir",
            "active",
            message.id,
        )
        assert prescription.authored_on == datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
        assert [
            (item.code, item.display, item.quantity, item.unit, item.instructions)
            for item in fetch(PrescriptionItem)
        ] == [(None, "Amlodipine 10 mg Tablet", 30.0, "TAB", "1 tablet sehari")]

        assert [
            (event.order_id, event.kind, event.from_status, event.to_status, event.detail, event.actor)
            for event in fetch(OrderEvent)
        ] == [
            (order.id, "system", None, None, "Prescription RX-2026-0001 received from fhir", "system"),
            (
                order.id,
                "state",
                "received",
                "awaiting_release",
                "Waiting for a pharmacist to verify and release",
                "system",
            ),
        ]
        # Nothing to tell the patient or a courier until a pharmacist releases the order.
        assert fetch(OutboxMessage) == []
        assert fetch(TrackingToken) == []

        assert (message.source, message.status, message.error) == ("fhir", "processed", None)
        assert message.hospital_id == hospital.id
        assert message.body == raw
        assert message.content_type == FHIR_JSON
        # The credential is checked, never archived.
        assert "authorization" not in message.headers
        assert api_key not in json.dumps(message.headers)

    def test_the_same_prescription_twice_is_one_order(self, fhir, fetch):
        first = fhir.bundle(demo_bundle(PATIENTS[1], "RX-2026-0002"))
        [order] = fetch(Order)
        # The same prescription re-sent by the SIMRS: new urn:uuids, so different bytes, same identifier.
        second = fhir.bundle(demo_bundle(PATIENTS[1], "RX-2026-0002"))

        assert outcome(first, 201)["issue"][0]["diagnostics"] == (
            f"Prescription RX-2026-0002: order {order.id} created"
        )
        assert outcome(second, 200)["issue"] == [
            {
                "severity": "information",
                "code": "informational",
                "diagnostics": f"Prescription RX-2026-0002: order {order.id} already received",
            }
        ]
        assert [o.id for o in fetch(Order)] == [order.id]
        assert len(fetch(Patient)) == len(fetch(Prescription)) == len(fetch(PrescriptionItem)) == 1
        assert len(fetch(OrderEvent)) == 2
        assert [(m.status, m.error) for m in fetch(InboxMessage)] == [
            ("processed", None),
            ("processed", None),
        ]

    def test_satusehat_patient_is_stored_without_the_nik(self, fhir, fetch, run_sql, accept_all_patients):
        raw = encode(nik_bundle())
        assert NIK in raw.decode()

        response = fhir.bundle(raw)

        body = outcome(response, 201)
        assert NIK not in response.text
        [order] = fetch(Order)
        assert body["issue"][0]["diagnostics"] == f"Prescription 123456788: order {order.id} created"
        assert order.status == "awaiting_release"
        [patient] = fetch(Patient)
        # Keyed by the IHS number, never by the NIK next to it.
        assert (patient.source_id, patient.name, patient.phone_e164) == (
            "100000030009",
            "Eric Smith",
            "+628123456789",
        )
        assert (
            patient.address_text
            == "Gd. Prof. Dr. Sujudi Lt.5, Jl. H.R. Rasuna Said Blok X5 Kav. 4-9 Kuningan"
        )
        assert (patient.rt, patient.rw, patient.village_code, patient.postal_code) == (
            "1",
            "2",
            "1010101101",
            "12950",
        )
        [prescription] = fetch(Prescription)
        assert (prescription.prescription_number, prescription.identifier_system) == ("123456788", RX_SYSTEM)
        [item] = fetch(PrescriptionItem)
        assert (item.code, item.code_system) == ("93006500", "http://sys-ids.kemkes.go.id/kfa")

        # Every column of every table, as text (the raw body is bytea, so it shows as hex here): no NIK.
        tables = [name for (name,) in run_sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        assert {"orders", "patients", "prescriptions", "prescription_items", "inbox_messages"} <= set(tables)
        holding = {}
        for table in tables:
            query = f"SELECT count(*) FROM {table} r WHERE r::text LIKE :nik"  # noqa: S608 - names from pg_tables
            [(count,)] = run_sql(query, nik=f"%{NIK}%")
            if count:
                holding[table] = count
        assert holding == {}
        # Only the archived raw bytes keep it, exactly as the hospital sent them.
        message = only_inbox_message(fetch)
        assert NIK.encode() in message.body
        other_columns = message.model_dump(exclude={"body"})
        assert NIK not in json.dumps(other_columns, default=str)

    def test_transaction_bundle(self, fhir, fetch):
        document = demo_bundle(PATIENTS[2], "RX-2026-0003")
        document["type"] = "transaction"
        for entry in document["entry"]:
            entry["request"] = {"method": "POST", "url": entry["resource"]["resourceType"]}

        response = fhir.bundle(document)

        [order] = fetch(Order)
        assert outcome(response, 201)["issue"][0]["diagnostics"] == (
            f"Prescription RX-2026-0003: order {order.id} created"
        )
        assert order.status == "awaiting_release"
        [item] = fetch(PrescriptionItem)
        # Sumiati's Medication carries a KFA code; the urn:uuid reference resolved inside the transaction.
        assert (item.code, item.display) == ("93006500", "Ferrous Fumarate 60 mg / Folic Acid 0,4 mg Tablet")
        assert only_inbox_message(fetch).status == "processed"

    def test_satusehat_outpatient_transaction_yields_an_order_per_prescription(
        self, fhir, fetch, accept_all_patients
    ):
        document = example("satusehat/Bundle-transaction-RME-rawat-jalan.json")
        document["entry"].append(
            {
                "fullUrl": "urn:uuid:0d3b9a4e-5d0c-4b8e-9d1a-000030004000",
                "resource": banyuwangi_patient("P00030004"),
                "request": {"method": "PUT", "url": "Patient/P00030004"},
            }
        )

        response = fhir.bundle(document)

        orders = fetch(Order)
        assert len(orders) == 2
        assert outcome(response, 201)["issue"][0]["diagnostics"] == (
            f"Prescription 12345689: order {orders[0].id} created; "
            f"Prescription 12345690: order {orders[1].id} created"
        )
        assert {o.status for o in orders} == {"awaiting_release"}
        [patient] = fetch(Patient)
        assert (patient.source_id, patient.phone_e164) == ("P00030004", "+6281334560909")
        assert {o.patient_id for o in orders} == {patient.id}
        assert [p.prescription_number for p in fetch(Prescription)] == ["12345689", "12345690"]


class TestSingleMedicationRequest:
    def test_with_a_contained_patient(self, fhir, fetch, hospital, accept_all_patients):
        response = fhir.medication_request(contained_medication_request())

        [order] = fetch(Order)
        assert outcome(response, 201)["issue"][0]["diagnostics"] == (
            f"Prescription 12345689: order {order.id} created"
        )
        # The HL7 example prescribes oxycodone, a narcotic: taken, but it stays at the pharmacy.
        assert (order.status, order.rejection_kind, order.hospital_id) == (
            "rejected",
            "restricted",
            hospital.id,
        )
        assert order.restriction["denied_items"][0]["category"] == "narcotic"
        [patient] = fetch(Patient)
        assert (patient.source_id, patient.name, patient.phone_e164) == (
            "RM-000123",
            "Donald Duck",
            "+6285734560404",
        )
        assert patient.address_text == "Dusun Krajan RT 01 RW 01, Ds. Wongsorejo, Kec. Wongsorejo"
        [item] = fetch(PrescriptionItem)
        assert (item.code, item.display, item.quantity) == (
            "430127000",
            "Oral Form Oxycodone (product)",
            30.0,
        )
        assert only_inbox_message(fetch).status == "processed"

    def test_a_completed_prescription_is_kept_as_a_rejected_order(self, fhir, fetch):
        response = fhir.medication_request(contained_medication_request(status="completed"))

        [order] = fetch(Order)
        assert outcome(response, 201)["issue"][0]["diagnostics"] == (
            f"Prescription 12345689: order {order.id} created"
        )
        assert order.status == "rejected"
        assert order.closed_at is not None
        assert [(e.to_status, e.detail) for e in fetch(OrderEvent) if e.kind == "state"] == [
            ("rejected", "Prescription status is completed")
        ]
        assert fetch(OutboxMessage) == []

    def test_a_referenced_patient_that_is_not_contained_is_refused(self, fhir, fetch, hospital):
        raw = encode(example("fhir/medicationrequest0301.json"))

        body = outcome(fhir.medication_request(raw), 422)

        [issue] = body["issue"]
        assert (issue["severity"], issue["code"], issue["expression"]) == (
            "error",
            "required",
            ["MedicationRequest.subject"],
        )
        assert "'Patient/pat1' is not in the MedicationRequest's contained resources" in issue["diagnostics"]
        message = only_inbox_message(fetch)
        assert (message.status, message.error, message.hospital_id) == (
            "rejected",
            issue["diagnostics"],
            hospital.id,
        )
        assert message.body == raw
        assert_nothing_ingested(fetch)

    def test_the_raw_body_is_archived_before_the_parser_sees_it(self, fhir, fetch, monkeypatch):
        import dispatch.intake.api as intake_api

        real_parse = intake_api.parse_medication_request
        seen_by_parser: list[list[tuple[str, str]]] = []

        def spying_parse(raw: bytes) -> Any:
            # A separate session: the archive must already be committed, not merely flushed.
            seen_by_parser.append([(m.status, m.body) for m in fetch(InboxMessage)])
            return real_parse(raw)

        monkeypatch.setattr(intake_api, "parse_medication_request", spying_parse)
        raw = encode(contained_medication_request())

        outcome(fhir.medication_request(raw), 201)

        assert seen_by_parser == [[("received", raw)]]
        assert only_inbox_message(fetch).status == "processed"


def _without(document: dict[str, Any], resource_type: str) -> dict[str, Any]:
    document["entry"] = [e for e in document["entry"] if e["resource"]["resourceType"] != resource_type]
    return document


def _patient_edit(edit: Any) -> Any:
    def build() -> bytes:
        document = demo_bundle(PATIENTS[0], "RX-BAD-1")
        edit(document["entry"][0]["resource"])
        return encode(document)

    return build


REFUSALS = [
    pytest.param(
        "Bundle",
        lambda: b'{"resourceType": "Bundle", "type": "collection", "entry": [',
        400,
        "invalid",
        None,
        "Body is not valid JSON",
        id="malformed-json",
    ),
    pytest.param(
        "Bundle",
        lambda: encode(banyuwangi_patient("P1")),
        400,
        "invalid",
        ["resourceType"],
        "Expected a FHIR R4 Bundle (collection, transaction or batch); got resourceType 'Patient'",
        id="not-a-bundle",
    ),
    pytest.param(
        "Bundle",
        lambda: encode(_without(demo_bundle(PATIENTS[0], "RX-BAD-1"), "Patient")),
        422,
        "required",
        ["Bundle.entry[2].resource.subject"],
        "is not in the Bundle; include the Patient resource",
        id="bundle-without-patient",
    ),
    pytest.param(
        "Bundle",
        lambda: encode(_without(demo_bundle(PATIENTS[0], "RX-BAD-1"), "MedicationRequest")),
        422,
        "required",
        ["Bundle.entry"],
        "Bundle has no MedicationRequest",
        id="bundle-without-medication-request",
    ),
    pytest.param(
        "Bundle",
        _patient_edit(lambda patient: patient.pop("address")),
        422,
        "required",
        ["Bundle.entry[0].resource.address"],
        "Patient has no usable address",
        id="patient-without-address",
    ),
    pytest.param(
        "Bundle",
        _patient_edit(lambda patient: patient.pop("telecom")),
        422,
        "required",
        ["Bundle.entry[0].resource.telecom"],
        "Patient has no phone",
        id="patient-without-phone",
    ),
    pytest.param(
        "MedicationRequest",
        lambda: encode(demo_bundle(PATIENTS[0], "RX-BAD-1")),
        400,
        "invalid",
        ["resourceType"],
        "Expected a single MedicationRequest (contained or referenced Patient); got resourceType 'Bundle'",
        id="bundle-posted-as-medication-request",
    ),
]


@pytest.mark.parametrize(("endpoint", "build", "status", "code", "expression", "diagnostics"), REFUSALS)
def test_bad_input_is_refused_archived_and_changes_nothing(
    fhir, fetch, hospital, endpoint, build, status, code, expression, diagnostics
):
    raw = build()

    response = fhir.post(endpoint, raw)

    [issue] = outcome(response, status)["issue"]
    assert (issue["severity"], issue["code"], issue.get("expression")) == ("error", code, expression)
    assert diagnostics in issue["diagnostics"]
    message = only_inbox_message(fetch)
    assert (message.source, message.status, message.hospital_id) == ("fhir", "rejected", hospital.id)
    assert message.error == issue["diagnostics"]
    assert message.body == raw
    assert_nothing_ingested(fetch)


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="missing"),
        pytest.param("Bearer gk_this-key-was-never-issued", id="wrong-key"),
        pytest.param("Bearer ", id="empty-bearer"),
        pytest.param("Basic cnN1ZDpzZWNyZXQ=", id="basic-scheme"),
    ],
)
def test_without_a_valid_api_key_nothing_is_taken(client, fetch, api_key, authorization):
    raw = encode(demo_bundle(PATIENTS[0], "RX-NOAUTH-1"))
    headers = {"Content-Type": FHIR_JSON}
    if authorization is not None:
        headers["Authorization"] = authorization

    response = client.post("/fhir/r4/Bundle", content=raw, headers=headers)

    assert response.headers["www-authenticate"] == "Bearer"
    assert outcome(response, 401)["issue"] == [
        {"severity": "error", "code": "login", "diagnostics": "missing or invalid API key"}
    ]
    message = only_inbox_message(fetch)
    assert (message.status, message.error, message.hospital_id) == (
        "rejected",
        "missing or invalid API key",
        None,
    )
    assert message.body == raw
    assert "authorization" not in message.headers
    assert_nothing_ingested(fetch)


def test_authentication_comes_before_parsing(fhir, fetch):
    response = fhir.bundle(b"{not json", api_key="gk_wrong")

    assert outcome(response, 401)["issue"][0]["code"] == "login"
    assert only_inbox_message(fetch).error == "missing or invalid API key"


def test_a_revoked_api_key_is_refused(fhir, fetch, run_sql):
    run_sql("UPDATE api_keys SET revoked_at = now()")

    response = fhir.bundle(demo_bundle(PATIENTS[0], "RX-REVOKED-1"))

    assert outcome(response, 401)["issue"][0]["code"] == "login"
    assert response.headers["www-authenticate"] == "Bearer"
    assert only_inbox_message(fetch).status == "rejected"
    assert_nothing_ingested(fetch)


def test_each_hospitals_key_creates_orders_for_that_hospital_only(
    client, fhir, fetch, hospital, other_hospital, pharmacist_token, auth
):
    # The same prescription number at two hospitals is two prescriptions.
    mine = fhir.bundle(demo_bundle(PATIENTS[0], "RX-SHARED-7"))
    theirs = fhir.bundle(demo_bundle(PATIENTS[0], "RX-SHARED-7"), api_key=other_hospital.api_key)

    outcome(mine, 201)
    outcome(theirs, 201)
    orders = fetch(Order)
    assert [o.hospital_id for o in orders] == [hospital.id, other_hospital.hospital.id]
    assert [p.hospital_id for p in fetch(Patient)] == [hospital.id, other_hospital.hospital.id]
    assert [m.hospital_id for m in fetch(InboxMessage)] == [hospital.id, other_hospital.hospital.id]
    assert (
        theirs.json()["issue"][0]["diagnostics"] == f"Prescription RX-SHARED-7: order {orders[1].id} created"
    )

    listed_here = client.get("/api/v1/orders", headers=auth(pharmacist_token)).json()
    listed_there = client.get("/api/v1/orders", headers=auth(other_hospital.pharmacist_token)).json()
    assert ([o["id"] for o in listed_here["data"]], listed_here["count"]) == ([orders[0].id], 1)
    assert ([o["id"] for o in listed_there["data"]], listed_there["count"]) == ([orders[1].id], 1)


def _long_mrn(document: dict[str, Any]) -> None:
    document["entry"][0]["resource"]["identifier"][0]["value"] = "RM-" + "0" * 77


def _long_dosage_text(document: dict[str, Any]) -> None:
    document["entry"][3]["resource"]["dosageInstruction"] = [{"text": "Diminum sesudah makan. " * 26}]


@pytest.mark.parametrize(
    ("edit", "status", "inbox_status"),
    [(_long_mrn, 422, "rejected"), (_long_dosage_text, 201, "processed")],
    ids=["mrn-80-chars-refused", "dosage-text-598-chars-shortened"],
)
def test_values_longer_than_their_column_are_answered_in_fhir(
    client, api_key, fetch, edit, status, inbox_status
):
    document = demo_bundle(PATIENTS[3], "RX-LONG-1")
    edit(document)
    quiet = TestClient(client.app, raise_server_exceptions=False)

    response = quiet.post(
        "/fhir/r4/Bundle",
        content=encode(document),
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": FHIR_JSON},
    )

    # An identifier too long is refused with the reason; long free text is shortened, never a bare 500.
    assert response.status_code == status
    outcome(response, status)
    message = only_inbox_message(fetch)
    assert message.status == inbox_status
    assert message.processed_at is not None


class TestSubscriptionNotification:
    def test_a_notification_with_the_resources_is_taken_like_a_bundle(self, fhir, fetch):
        response = fhir.post("notify", demo_bundle(PATIENTS[0], "RX-SUB-1"))
        assert response.status_code == 201
        [order] = fetch(Order)
        assert order.status == "awaiting_release"

    def test_an_empty_ping_is_acknowledged_and_archived(self, fhir, fetch):
        response = fhir.post("notify", b"")
        assert outcome(response, 200)["issue"][0]["diagnostics"].startswith("Notification received")
        assert fetch(Order) == []
        [message] = fetch(InboxMessage)
        assert message.status == "processed"

    def test_a_wrong_key_is_refused(self, fhir, fetch):
        assert fhir.post("notify", b"", api_key="gk_wrong").status_code == 401
