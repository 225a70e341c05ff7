"""The MedicationDispense builder against the SATUSEHAT examples' shape, validated with fhir.resources R4B."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.medicationdispense import MedicationDispense

from hospital_adapter.sinks.dispense import (
    DELIVERY_NOTE,
    DispenseItem,
    DispenseOutcome,
    build_medication_dispenses,
)

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "examples"
ORG = "10000004"
RX_SYSTEM = f"http://sys-ids.kemkes.go.id/prescription/{ORG}"
ITEM_SYSTEM = f"http://sys-ids.kemkes.go.id/prescription-item/{ORG}"
KFA = "http://sys-ids.kemkes.go.id/kfa"
WIB = timezone(timedelta(hours=7))

ITEMS = [
    DispenseItem("93006500", KFA, "Ferrous Fumarate 60 mg / Folic Acid 0,4 mg Tablet Salut Gula", 90, "TAB"),
    ("93001019", KFA, "Obat Anti Tuberculosis FDC Kaplet Salut Selaput", Decimal("120"), "tab"),
    DispenseItem("93000123", KFA, "Amoksisilin Sirup Kering 125 mg/5 mL", Decimal("1.5"), "Botol"),
]


def outcome(kind: str = "delivered", **changes: Any) -> DispenseOutcome:
    values: dict[str, Any] = {
        "prescription_number": "123456788",
        "identifier_system": RX_SYSTEM,
        "organization_id": ORG,
        "patient_reference": "Patient/P02478375538",
        "items": ITEMS,
        "outcome": kind,
        "handed_over_at": datetime(2023, 8, 31, 11, 40, tzinfo=WIB) if kind == "delivered" else None,
        "receiver_name": "Siti Aminah",
        "receiver_relation": "anak",
        "performer_reference": "Practitioner/N10000003",
        "reason": None,
        "medication_request_reference": "MedicationRequest/90857a2a-d8a8-4e74-b39b-e9a604030e17",
    }
    values.update(changes)
    return DispenseOutcome(**values)


def valid(resources: list[dict[str, Any]]) -> list[MedicationDispense]:
    """Every resource must parse as R4B, and survive a JSON round trip unchanged."""
    for resource in resources:
        assert json.loads(json.dumps(resource)) == resource
    return [MedicationDispense.model_validate(resource) for resource in resources]


def example(name: str, folder: str = "satusehat") -> dict[str, Any]:
    return json.loads((EXAMPLES / folder / name).read_text(encoding="utf-8"))


def test_delivered_one_completed_dispense_per_item():
    resources = build_medication_dispenses(outcome())

    valid(resources)
    assert len(resources) == 3
    first = resources[0]
    assert first["status"] == "completed"
    assert first["whenHandedOver"] == "2023-08-31T04:40:00+00:00"  # 11:40 WIB in UTC, SATUSEHAT's format
    assert first["identifier"] == [
        {"system": RX_SYSTEM, "use": "official", "value": "123456788"},
        {"system": ITEM_SYSTEM, "use": "official", "value": "123456788-1"},
    ]
    assert [r["identifier"][1]["value"] for r in resources] == ["123456788-1", "123456788-2", "123456788-3"]
    assert first["authorizingPrescription"] == [
        {"reference": "MedicationRequest/90857a2a-d8a8-4e74-b39b-e9a604030e17"}
    ]
    assert first["subject"] == {"reference": "Patient/P02478375538"}
    assert first["receiver"] == [{"reference": "Patient/P02478375538"}]
    assert first["performer"] == [{"actor": {"reference": "Practitioner/N10000003"}}]
    assert first["note"] == [{"text": DELIVERY_NOTE}, {"text": "Diterima oleh Siti Aminah (anak)"}]
    assert "statusReasonCodeableConcept" not in first
    assert first["medicationCodeableConcept"]["coding"] == [
        {"system": KFA, "code": "93006500", "display": ITEMS[0][2]}
    ]
    assert [r["quantity"] for r in resources] == [
        {
            "value": 90,
            "unit": "TAB",
            "system": "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm",
            "code": "TAB",
        },
        {
            "value": 120,
            "unit": "tab",
            "system": "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm",
            "code": "TAB",
        },
        {"value": 1.5, "unit": "Botol"},
    ]


@pytest.mark.parametrize(
    "name", ["MedicationDispense-ANC-pengeluaran-obat.json", "MedicationDispense-TB.json"]
)
def test_shape_matches_satusehat_examples(name):
    """Same keys and value shapes as SATUSEHAT's own examples for everything we can know."""
    reference = example(name)
    built = build_medication_dispenses(outcome(), medication_references={"93006500": "Medication/66ddd838"})[
        0
    ]

    assert built["identifier"][0].keys() == reference["identifier"][0].keys()
    assert [i["system"].rsplit("/", 1)[0] for i in built["identifier"]] == [
        i["system"].rsplit("/", 1)[0] for i in reference["identifier"]
    ]
    assert built["category"] == reference["category"]
    assert built["medicationReference"]["reference"].startswith("Medication/")
    assert built["performer"][0].keys() == reference["performer"][0].keys()
    assert built["authorizingPrescription"][0]["reference"].startswith("MedicationRequest/")
    assert {k: v for k, v in built["quantity"].items() if k != "unit"}.keys() == reference["quantity"].keys()
    assert built["quantity"]["system"] == reference["quantity"]["system"]
    valid([built])


def test_example_handover_format_is_what_we_send():
    """The ANC example's whenHandedOver is UTC with +00:00; ours parses back to the same instant."""
    sent = build_medication_dispenses(outcome())[0]["whenHandedOver"]
    ref = example("MedicationDispense-ANC-pengeluaran-obat.json")["whenHandedOver"]
    assert datetime.fromisoformat(sent) == datetime.fromisoformat(ref)
    assert sent.endswith("+00:00")


def test_receiver_and_performer_shaped_like_the_hl7_example():
    reference = example("medicationdispense0301.json", folder="fhir")
    built = build_medication_dispenses(outcome())[0]
    assert [r.keys() - {"display"} for r in reference["receiver"]] == [r.keys() for r in built["receiver"]]
    assert (
        built["receiver"][0]["reference"].split("/")[0] == reference["receiver"][0]["reference"].split("/")[0]
    )
    assert built["performer"][0]["actor"].keys() == reference["performer"][0]["actor"].keys()
    valid([built])


@pytest.mark.parametrize(
    ("kind", "status", "reason"),
    [
        ("failed", "declined", "Pengantaran gagal"),
        ("returned", "declined", "Obat dikembalikan ke apotek"),
        ("cancelled", "cancelled", "Pengantaran dibatalkan"),
    ],
)
def test_not_delivered_outcomes(kind, status, reason):
    resources = build_medication_dispenses(outcome(kind))

    valid(resources)
    assert len(resources) == len(ITEMS)
    for resource in resources:
        assert resource["status"] == status
        assert resource["statusReasonCodeableConcept"] == {"text": reason}
        assert "whenHandedOver" not in resource
        assert "receiver" not in resource
        assert resource["note"] == [{"text": DELIVERY_NOTE}]
        assert resource["authorizingPrescription"][0]["reference"].startswith("MedicationRequest/")


def test_given_reason_is_used():
    resource = build_medication_dispenses(outcome("failed", reason="Pasien tidak di rumah"))[0]
    assert resource["statusReasonCodeableConcept"] == {"text": "Pasien tidak di rumah"}


def test_patient_identifier_reference_and_optional_parts_left_out():
    resources = build_medication_dispenses(
        outcome(
            patient_reference="https://fhir.kemkes.go.id/id/nik|3171022809990001",
            performer_reference=None,
            medication_request_reference=None,
            receiver_name=None,
            receiver_relation=None,
            items=ITEMS[:1],
            handed_over_at=datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
        )
    )

    valid(resources)
    (resource,) = resources
    assert resource["subject"] == {
        "type": "Patient",
        "identifier": {"system": "https://fhir.kemkes.go.id/id/nik", "value": "3171022809990001"},
    }
    assert resource["receiver"] == [resource["subject"]]
    assert resource["whenHandedOver"] == "2024-01-02T03:04:05+00:00"
    assert "performer" not in resource
    assert "authorizingPrescription" not in resource
    assert resource["note"] == [{"text": DELIVERY_NOTE}]


def test_custom_identifier_system():
    resource = build_medication_dispenses(
        outcome(identifier_system="urn:oid:1.2.3", item_identifier_system="urn:oid:1.2.3.1")
    )[1]
    assert [i["system"] for i in resource["identifier"]] == ["urn:oid:1.2.3", "urn:oid:1.2.3.1"]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"handed_over_at": None}, "needs handed_over_at"),
        ({"handed_over_at": datetime(2023, 8, 31, 4, 40)}, "timezone-aware"),
        ({"items": []}, "at least one item"),
        ({"outcome": "lost"}, "unknown delivery outcome"),
        ({"patient_reference": "P02478375538"}, "neither"),
        ({"prescription_number": " "}, "empty"),
    ],
)
def test_invalid_outcomes_rejected(changes, error):
    with pytest.raises(ValueError, match=error):
        outcome(**changes)
