from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome

from hospital_adapter.canonical import (
    AddressIn,
    CoverageIn,
    ItemIn,
    PatientIn,
    PrescriptionIn,
    SourceInputError,
)
from hospital_adapter.fhir import parse_bundle, parse_medication_request
from hospital_adapter.operation_outcome import operation_outcome

NIK = "3171022809990001"
RX_SYSTEM = "http://sys-ids.kemkes.go.id/prescription/10000004"
ITEM_SYSTEM = "http://sys-ids.kemkes.go.id/prescription-item/10000004"


def bundle(*resources: dict[str, Any], kind: str = "collection") -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": kind,
        "entry": [{"resource": resource} for resource in resources],
    }


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def rejection(
    parse: Callable[[bytes], list[PrescriptionIn]], document: dict[str, Any] | bytes
) -> SourceInputError:
    """Parse, expect a SourceInputError, and prove its issues make a valid R4 OperationOutcome."""
    with pytest.raises(SourceInputError) as caught:
        parse(document if isinstance(document, bytes) else encode(document))
    OperationOutcome.model_validate(operation_outcome(caught.value.issues))
    return caught.value


def patient(**overrides: Any) -> dict[str, Any]:
    resource = {
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [{"system": "https://fhir.kemkes.go.id/id/ihs-number", "value": "P02478375538"}],
        "name": [{"text": "Siti Aminah"}],
        "telecom": [{"system": "phone", "value": "081234500001", "use": "mobile"}],
        "address": [{"use": "home", "line": ["Jl. Ahmad Yani No. 1"], "city": "Banyuwangi"}],
    }
    return _without_none(resource | overrides)


def request(rx: str = "RX-1", item: str = "1", **overrides: Any) -> dict[str, Any]:
    resource = {
        "resourceType": "MedicationRequest",
        "identifier": [
            {"system": ITEM_SYSTEM, "value": f"{rx}-{item}"},
            {"system": RX_SYSTEM, "value": rx},
        ],
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"text": f"Obat {item}"},
        "subject": {"reference": "Patient/p1"},
        "authoredOn": "2024-05-02T01:00:00+00:00",
    }
    return _without_none(resource | overrides)


def _without_none(resource: dict[str, Any]) -> dict[str, Any]:
    """Drop keys overridden with None, because FHIR JSON forbids empty arrays and nulls."""
    return {key: value for key, value in resource.items() if value is not None}


class TestSatusehatCollectionBundle:
    def test_maps_the_ig_examples_to_one_prescription(self, anc_resources):
        resources = anc_resources
        document = bundle(
            resources["patient"], resources["request"], resources["medication"], resources["coverage"]
        )

        assert parse_bundle(encode(document)) == [
            PrescriptionIn(
                source="fhir",
                prescription_id="123456788",
                identifier_system=RX_SYSTEM,
                status="active",
                authored_on=datetime(2023, 8, 31, 4, 10, tzinfo=UTC),
                patient=PatientIn(
                    source_id="100000030009",
                    name="Eric Smith",
                    phone="08123456789",
                    address=AddressIn(
                        text="Gd. Prof. Dr. Sujudi Lt.5, Jl. H.R. Rasuna Said Blok X5 Kav. 4-9 Kuningan",
                        lines=["Gd. Prof. Dr. Sujudi Lt.5, Jl. H.R. Rasuna Said Blok X5 Kav. 4-9 Kuningan"],
                        province_code="10",
                        city_code="1010",
                        district_code="1010101",
                        village_code="1010101101",
                        rt="1",
                        rw="2",
                        city="Jakarta",
                        postal_code="12950",
                    ),
                ),
                items=[
                    ItemIn(
                        code="93006500",
                        code_system="http://sys-ids.kemkes.go.id/kfa",
                        display="Ferrous Fumarate 60 mg / Folic Acid 0.4 mg Tablet Salut Selaput (KIMIA FARMA)",
                        quantity=90.0,
                        unit="TAB",
                        instructions="1 tablet perhari, diminum setiap hari tanpa jeda selama 3 bulan",
                    )
                ],
                # The Coverage.type.system typo ("CodeSystem v3-ActCode") is tolerated.
                coverage=[
                    CoverageIn(
                        payer="Organization/10080028", plan="Pegawai Swasta", subscriber_id="367400001111222"
                    )
                ],
            )
        ]

    def test_nik_is_never_copied(self, anc_resources):
        resources = anc_resources
        resources["coverage"]["subscriberId"] = NIK
        document = bundle(
            resources["patient"], resources["request"], resources["medication"], resources["coverage"]
        )

        prescriptions = parse_bundle(encode(document))

        assert NIK in json.dumps(document)
        assert NIK not in json.dumps([prescription.model_dump(mode="json") for prescription in prescriptions])
        assert prescriptions[0].coverage[0].subscriber_id is None

    def test_without_an_ihs_number_the_key_falls_back_past_the_nik_to_the_id(self, anc_resources):
        resources = anc_resources
        resources["patient"]["identifier"] = [
            identifier
            for identifier in resources["patient"]["identifier"]
            if identifier["system"] == "https://fhir.kemkes.go.id/id/nik"
        ]

        [prescription] = parse_bundle(encode(bundle(resources["patient"], resources["request"])))

        assert prescription.patient.source_id == "100000030009"

    def test_coverage_of_another_patient_is_not_attached(self, anc_resources, example):
        resources = anc_resources
        unrelated = example("satusehat/Coverage-BPJS-kepesertaan.json")  # beneficiary Patient/100000030006

        [prescription] = parse_bundle(encode(bundle(resources["patient"], resources["request"], unrelated)))

        assert prescription.coverage == []

    def test_only_active_coverage_counts(self, anc_resources):
        resources = anc_resources
        resources["coverage"]["status"] = "cancelled"
        document = bundle(resources["patient"], resources["request"], resources["coverage"])

        [prescription] = parse_bundle(encode(document))

        assert prescription.coverage == []

    def test_unresolved_medication_reference_falls_back_to_its_display(self, anc_resources):
        resources = anc_resources

        [prescription] = parse_bundle(encode(bundle(resources["patient"], resources["request"])))

        assert prescription.items[0].display == "Ferrous Fumarate 60 mg / Folic Acid 0,4 mg Tablet Salut Gula"
        assert prescription.items[0].code is None


def test_transaction_bundle_resolves_urn_uuid_references(anc_resources):
    resources = anc_resources
    full_urls = {
        "patient": "urn:uuid:8c1f3f4e-1c52-4b61-9d57-3c1b8f1e0001",
        "medication": "urn:uuid:8c1f3f4e-1c52-4b61-9d57-3c1b8f1e0002",
        "coverage": "urn:uuid:8c1f3f4e-1c52-4b61-9d57-3c1b8f1e0003",
        "request": "urn:uuid:8c1f3f4e-1c52-4b61-9d57-3c1b8f1e0004",
    }
    for name in ("patient", "medication", "coverage"):
        resources[name].pop("id", None)
    resources["request"]["subject"] = {"reference": full_urls["patient"]}
    resources["request"]["medicationReference"] = {"reference": full_urls["medication"]}
    resources["request"]["insurance"] = [{"reference": full_urls["coverage"]}]
    resources["coverage"]["beneficiary"] = {"reference": "Patient/somebody-else"}
    document = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": full_urls[name],
                "resource": resources[name],
                "request": {"method": "POST", "url": resources[name]["resourceType"]},
            }
            for name in ("request", "patient", "medication", "coverage")
        ],
    }

    [prescription] = parse_bundle(encode(document))

    assert prescription.patient.source_id == "100000030009"
    assert prescription.items[0].code == "93006500"
    # Named in MedicationRequest.insurance, so it counts whatever its beneficiary says.
    assert prescription.coverage == [
        CoverageIn(payer="Organization/10080028", plan="Pegawai Swasta", subscriber_id="367400001111222")
    ]


class TestSingleMedicationRequest:
    def test_hl7_example_with_contained_medication_and_patient(self, example):
        document = example("fhir/medicationrequest0301.json")
        document["contained"].append(
            patient(
                id="pat1",
                identifier=[
                    {
                        "type": {
                            "coding": [
                                {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}
                            ]
                        },
                        "system": "urn:oid:2.16.840.1.113883.3.1",
                        "value": "RM-000123",
                    },
                ],
                name=[{"given": ["Donald"], "family": "Duck"}],
            )
        )
        document["subject"] = {"reference": "#pat1"}

        [prescription] = parse_medication_request(encode(document))

        assert prescription.prescription_id == "12345689"
        assert prescription.identifier_system == "http://www.bmc.nl/portal/prescriptions"
        assert prescription.status == "completed"
        assert prescription.authored_on == datetime(2015, 1, 15, tzinfo=UTC)
        assert prescription.patient.source_id == "RM-000123"
        assert prescription.patient.name == "Donald Duck"
        assert prescription.items == [
            ItemIn(
                code="430127000",
                code_system="http://snomed.info/sct",
                display="Oral Form Oxycodone (product)",
                quantity=30.0,
                unit="TAB",
                instructions="Take one to two tablets every four to six hours as needed for rib pain",
            )
        ]
        # insurance → Coverage/9876B1 is not in the payload: nothing to report, nothing invented.
        assert prescription.coverage == []

    def test_referenced_patient_that_is_not_contained_is_rejected(self, example):
        error = rejection(parse_medication_request, example("fhir/medicationrequest0301.json"))

        assert error.http_status == 422
        assert [(code, where) for code, _, where in error.issues] == [
            ("required", "MedicationRequest.subject")
        ]
        assert "'Patient/pat1'" in error.issues[0][1]

    def test_a_bundle_is_not_a_single_medication_request(self):
        error = rejection(parse_medication_request, bundle(request()))

        assert (error.http_status, error.issues[0][0]) == (400, "invalid")
        assert "a single MedicationRequest (contained or referenced Patient)" in error.issues[0][1]


class TestRmeRawatJalanTransaction:
    """The 34-entry SATUSEHAT outpatient bundle: 2 MedicationRequests for Patient/P00030004, no Patient."""

    path = "satusehat/Bundle-transaction-RME-rawat-jalan.json"

    def test_is_rejected_because_the_patient_is_not_in_it(self, example):
        document = example(self.path)
        assert not any(entry["resource"]["resourceType"] == "Patient" for entry in document["entry"])

        error = rejection(parse_bundle, document)

        assert error.http_status == 422
        assert [(code, where) for code, _, where in error.issues] == [
            ("required", "Bundle.entry[16].resource.subject"),
            ("required", "Bundle.entry[18].resource.subject"),
        ]
        assert all("'Patient/P00030004' is not in the Bundle" in text for _, text, _ in error.issues)

    def test_with_the_patient_added_yields_two_prescriptions(self, example):
        document = example(self.path)
        document["entry"].append(
            {
                "fullUrl": "urn:uuid:0d3b9a4e-5d0c-4b8e-9d1a-000030004000",
                "resource": patient(id="P00030004", identifier=None),
                "request": {"method": "PUT", "url": "Patient/P00030004"},
            }
        )

        prescriptions = parse_bundle(encode(document))

        assert [(rx.prescription_id, rx.status) for rx in prescriptions] == [
            ("12345689", "active"),
            ("12345690", "active"),
        ]
        assert {rx.patient.source_id for rx in prescriptions} == {"P00030004"}
        assert prescriptions[0].items[0].model_dump(
            exclude={"instructions", "components", "dosage_form", "drug_class", "local_code"}
        ) == {
            "code": "76388-713-25",
            "code_system": "http://hl7.org/fhir/sid/ndc",
            "display": "Myleran 2mg tablet, film coated",
            "quantity": None,
            "unit": None,
        }
        # A compounded ointment: its Medication has no code, so the reference display names it.
        assert prescriptions[1].items[0] == ItemIn(
            display="Ointment (Compound)",
            quantity=30.0,
            unit="g",
            instructions="Apply twice daily to affected area on left arm",
        )
        assert prescriptions[0].authored_on == datetime(2015, 1, 15, tzinfo=UTC)


class TestGrouping:
    def test_items_of_one_satusehat_prescription_become_one_prescription(self):
        document = bundle(patient(), request("RX-1", "1"), request("RX-1", "2"), request("RX-2", "1"))

        prescriptions = parse_bundle(encode(document))

        assert [(rx.prescription_id, rx.identifier_system) for rx in prescriptions] == [
            ("RX-1", RX_SYSTEM),
            ("RX-2", RX_SYSTEM),
        ]
        assert [item.display for item in prescriptions[0].items] == ["Obat 1", "Obat 2"]

    def test_group_identifier_then_first_identifier(self):
        grouped = request(identifier=[{"system": "urn:simrs:item", "value": "A-1"}])
        grouped["groupIdentifier"] = {"system": "urn:simrs:resep", "value": "R-77"}
        plain = request(identifier=[{"system": "urn:simrs:item", "value": "B-1"}])

        prescriptions = parse_bundle(encode(bundle(patient(), grouped, plain)))

        assert [(rx.identifier_system, rx.prescription_id) for rx in prescriptions] == [
            ("urn:simrs:resep", "R-77"),
            ("urn:simrs:item", "B-1"),
        ]

    def test_a_cancelled_line_is_left_out_of_an_active_prescription(self):
        document = bundle(patient(), request("RX-1", "1"), request("RX-1", "2", status="cancelled"))

        [prescription] = parse_bundle(encode(document))

        assert prescription.status == "active"
        assert [item.display for item in prescription.items] == ["Obat 1"]

    def test_a_fully_cancelled_prescription_still_arrives(self):
        document = bundle(
            patient(), request("RX-1", "1", status="cancelled"), request("RX-1", "2", status="cancelled")
        )

        [prescription] = parse_bundle(encode(document))

        assert prescription.status == "cancelled"
        assert len(prescription.items) == 2

    def test_proposals_and_do_not_perform_requests_are_not_dispatched(self):
        document = bundle(
            patient(),
            request("RX-1", "1"),
            request("RX-2", "1", intent="proposal"),
            request("RX-3", "1", doNotPerform=True),
            request("RX-4", "1", intent="filler-order"),
        )

        assert [rx.prescription_id for rx in parse_bundle(encode(document))] == ["RX-1", "RX-4"]

    def test_only_proposals_is_rejected(self):
        error = rejection(parse_bundle, bundle(patient(), request(intent="proposal")))

        assert [(code, where) for code, _, where in error.issues] == [
            ("required", "Bundle.entry[1].resource.intent")
        ]

    def test_one_prescription_for_two_patients_is_rejected(self):
        document = bundle(
            patient(),
            patient(id="p2"),
            request("RX-1", "1"),
            request("RX-1", "2", subject={"reference": "Patient/p2"}),
        )

        error = rejection(parse_bundle, document)

        assert [code for code, _, _ in error.issues] == ["business-rule"]

    def test_a_request_without_any_identifier_is_rejected(self):
        error = rejection(parse_bundle, bundle(patient(), request(identifier=None)))

        assert error.issues == [
            (
                "required",
                "MedicationRequest has no identifier or groupIdentifier to name its prescription by",
                "Bundle.entry[1].resource.identifier",
            )
        ]

    def test_an_overlong_prescription_identifier_is_rejected(self):
        error = rejection(parse_bundle, bundle(patient(), request("R" * 129)))

        assert [code for code, _, _ in error.issues] == ["too-long"]


class TestPatientMapping:
    def test_home_address_with_administrative_codes_in_either_spelling(self):
        home = {
            "use": "home",
            "text": "Jl. Brawijaya 5, Kebalenan, Banyuwangi",
            "line": ["Jl. Brawijaya 5"],
            "district": "Banyuwangi",
            "extension": [
                {
                    "url": "https://fhir.kemkes.go.id/r4/StructureDefinition/administrativeCode",
                    "extension": [
                        {"url": "province", "valueCode": "35"},
                        {"url": "city", "valueCode": "35.10"},
                        {"url": "district", "valueCode": "35 10 20"},
                        {"url": "village", "valueCode": "35.10.20.1003"},
                        {"url": "rt", "valueCode": "003"},
                        {"url": "rw", "valueCode": "001"},
                    ],
                }
            ],
        }
        addresses = [
            {"use": "old", "line": ["Alamat lama"]},
            {"use": "work", "line": ["Kantor"]},
            home,
        ]

        [prescription] = parse_bundle(encode(bundle(patient(address=addresses), request())))

        assert prescription.patient.address == AddressIn(
            text="Jl. Brawijaya 5, Kebalenan, Banyuwangi",
            lines=["Jl. Brawijaya 5"],
            district="Banyuwangi",
            province_code="35",
            city_code="3510",
            district_code="351020",
            village_code="3510201003",
            rt="003",
            rw="001",
        )

    def test_address_text_is_joined_from_lines_when_absent(self):
        address = [{"line": ["Jl. Ahmad Yani No. 1", "RT 3 RW 1"], "city": "Banyuwangi"}]

        [prescription] = parse_bundle(encode(bundle(patient(address=address), request())))

        assert prescription.patient.address.text == "Jl. Ahmad Yani No. 1, RT 3 RW 1"

    def test_phone_prefers_mobile_then_lowest_rank(self):
        telecom = [
            {"system": "email", "value": "siti@example.id"},
            {"system": "phone", "value": "0333-421000", "use": "home", "rank": 1},
            {"system": "phone", "value": "081200000001", "use": "old"},
            {"system": "sms", "value": "081200000003", "use": "mobile", "rank": 3},
            {"system": "phone", "value": "081200000002", "use": "mobile", "rank": 2},
        ]

        [prescription] = parse_bundle(encode(bundle(patient(telecom=telecom), request())))

        assert prescription.patient.phone == "081200000002"

    def test_name_from_given_and_family_when_there_is_no_text(self):
        names = [
            {"use": "old", "text": "Nama Lama"},
            {"use": "official", "given": ["Siti"], "family": "Aminah"},
        ]

        [prescription] = parse_bundle(encode(bundle(patient(name=names), request())))

        assert prescription.patient.name == "Siti Aminah"

    def test_deceased_patient_is_rejected(self):
        error = rejection(parse_bundle, bundle(patient(deceasedBoolean=True), request()))

        assert [code for code, _, _ in error.issues] == ["business-rule"]


class TestItems:
    def test_kfa_coding_is_preferred(self):
        medication = {
            "coding": [
                {"system": "http://snomed.info/sct", "code": "387517004", "display": "Paracetamol"},
                {
                    "system": "http://sys-ids.kemkes.go.id/kfa",
                    "code": "93000155",
                    "display": "Paracetamol 500 mg",
                },
            ]
        }
        dosage = [
            {"sequence": 2, "text": "malam: 1 tablet"},
            {"sequence": 1, "text": "3x1", "patientInstruction": "pagi: 1 tablet sesudah makan"},
        ]
        rx = request(medicationCodeableConcept=medication, dosageInstruction=dosage)
        rx["dispenseRequest"] = {"quantity": {"value": 10, "code": "TAB"}}

        [prescription] = parse_bundle(encode(bundle(patient(), rx)))

        assert prescription.items == [
            ItemIn(
                code="93000155",
                code_system="http://sys-ids.kemkes.go.id/kfa",
                display="Paracetamol 500 mg",
                quantity=10.0,
                unit="TAB",
                instructions="pagi: 1 tablet sesudah makan; malam: 1 tablet",
            )
        ]

    def test_a_request_naming_no_medication_is_rejected(self):
        rx = request(medicationReference={"reference": "Medication/absent"})
        del rx["medicationCodeableConcept"]

        error = rejection(parse_bundle, bundle(patient(), rx))

        assert [(code, where) for code, _, where in error.issues] == [
            ("required", "Bundle.entry[1].resource.medication[x]")
        ]

    def test_partial_authored_date_is_dropped(self):
        [prescription] = parse_bundle(encode(bundle(patient(), request(authoredOn="2024-05"))))

        assert prescription.authored_on is None


@pytest.mark.parametrize(
    ("body", "status", "code", "expression"),
    [
        pytest.param(b'{"resourceType": "Bundle", ', 400, "invalid", None, id="malformed-json"),
        pytest.param(b"\xff\xfe\x00", 400, "invalid", None, id="not-utf"),
        pytest.param(b"[" * 100_000, 400, "invalid", None, id="nested-too-deep"),
        pytest.param(
            b'{"resourceType": "Bundle", "type": "collection", "x": NaN}', 400, "invalid", None, id="nan"
        ),
        pytest.param(b"[]", 400, "invalid", "resourceType", id="not-an-object"),
        pytest.param(encode(patient()), 400, "invalid", "resourceType", id="wrong-resource-type"),
        pytest.param(
            encode(bundle(patient(), kind="searchset")),
            422,
            "not-supported",
            "Bundle.type",
            id="searchset-bundle",
        ),
        pytest.param(
            encode(bundle({"resourceType": "Prescription"})),
            422,
            "structure",
            "Bundle.entry[0].resource.resourceType",
            id="unknown-resource-type",
        ),
        pytest.param(
            encode(bundle(patient(), request(intent=7))),
            422,
            "structure",
            "Bundle.entry[1].resource.intent",
            id="invalid-fhir-type",
        ),
        pytest.param(
            encode(bundle(patient(), request(status="bogus"))),
            422,
            "code-invalid",
            "Bundle.entry[1].resource.status",
            id="status-outside-value-set",
        ),
        pytest.param(
            encode(bundle(patient(), request(intent="wish"))),
            422,
            "code-invalid",
            "Bundle.entry[1].resource.intent",
            id="intent-outside-value-set",
        ),
        pytest.param(encode(bundle(patient())), 422, "required", "Bundle.entry", id="no-medication-request"),
        pytest.param(
            encode(bundle(request())), 422, "required", "Bundle.entry[0].resource.subject", id="no-patient"
        ),
        pytest.param(
            encode(bundle(patient(address=None), request())),
            422,
            "required",
            "Bundle.entry[0].resource.address",
            id="patient-without-address",
        ),
        pytest.param(
            encode(bundle(patient(address=[{"use": "home", "city": "Banyuwangi"}]), request())),
            422,
            "required",
            "Bundle.entry[0].resource.address",
            id="patient-address-without-street",
        ),
        pytest.param(
            encode(bundle(patient(telecom=[{"system": "email", "value": "a@b.id"}]), request())),
            422,
            "required",
            "Bundle.entry[0].resource.telecom",
            id="patient-without-phone",
        ),
        pytest.param(
            encode(bundle(patient(identifier=None, name=None), request())),
            422,
            "required",
            "Bundle.entry[0].resource.name",
            id="patient-without-name",
        ),
        pytest.param(
            encode(
                bundle({"resourceType": "Group", "id": "p1", "type": "person", "actual": True}, request())
            ),
            422,
            "required",
            "Bundle.entry[1].resource.subject",
            id="subject-not-a-patient",
        ),
    ],
)
def test_bad_input_is_rejected_with_an_operation_outcome(body, status, code, expression):
    error = rejection(parse_bundle, body)

    assert (error.http_status, error.issues[0][0], error.issues[0][2]) == (status, code, expression)
    assert error.issues[0][1]


def test_every_missing_patient_detail_is_reported_at_once():
    error = rejection(parse_bundle, bundle(patient(address=None, telecom=None), request()))

    assert [(code, where) for code, _, where in error.issues] == [
        ("required", "Bundle.entry[0].resource.address"),
        ("required", "Bundle.entry[0].resource.telecom"),
    ]


def test_no_medication_request_diagnostic():
    error = rejection(parse_bundle, bundle(patient()))

    assert error.issues == [("required", "Bundle has no MedicationRequest", "Bundle.entry")]


def test_validation_issues_are_capped():
    requests = [request(str(position), intent=position) for position in range(30)]

    error = rejection(parse_bundle, bundle(patient(), *requests))

    assert len(error.issues) == 21
    assert error.issues[-1] == ("structure", "10 more errors not shown", None)


def test_nesting_deep_enough_to_exhaust_the_stack_is_refused_up_front():
    extension: dict[str, Any] = {"url": "urn:x", "valueString": "y"}
    for _ in range(200):
        extension = {"url": "urn:x", "extension": [extension]}

    error = rejection(parse_bundle, bundle(patient(extension=[extension]), request()))

    assert (error.http_status, [code for code, _, _ in error.issues]) == (422, ["too-costly"])


def test_a_patient_shared_by_several_requests_is_reported_once():
    document = bundle(patient(telecom=None), request("RX-1"), request("RX-2"))

    error = rejection(parse_bundle, document)

    assert error.issues == [
        (
            "required",
            "Patient has no phone: a telecom with system phone or sms, a value, and use other than 'old'",
            "Bundle.entry[0].resource.telecom",
        )
    ]


def test_unknown_resource_types_are_reported_in_document_order():
    document = bundle(*({"resourceType": f"Nope{position}"} for position in range(12)))

    error = rejection(parse_bundle, document)

    assert [where for _, _, where in error.issues] == [
        f"Bundle.entry[{position}].resource.resourceType" for position in range(12)
    ]


def test_a_medication_request_whose_subject_came_out_empty_is_refused_with_its_reason() -> None:
    """fhir.resources can hand back a MedicationRequest whose subject is None (hypothesis found one); the
    parser says what is missing instead of failing on it."""
    from fhir.resources.R4B.medicationrequest import MedicationRequest

    from hospital_adapter.fhir import parser

    request = MedicationRequest.model_construct(status="active", intent="order", subject=None)
    located = parser._Located(request, "MedicationRequest", "MedicationRequest")
    issues: list = []

    assert parser._subject(located, request, parser._Index("Bundle"), issues) is None
    assert issues == [
        (
            "required",
            "MedicationRequest.subject is missing: whose medicine is it?",
            "MedicationRequest.subject",
        )
    ]
