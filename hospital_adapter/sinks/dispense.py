"""Pure builder: a finished (or abandoned) home delivery as SATUSEHAT-style FHIR R4 MedicationDispense resources.

SATUSEHAT wants one ``Medication`` + one ``MedicationDispense`` pair per drug (hospital.md §2.2), so
:func:`build_medication_dispenses` returns one resource per item, in item order. The mapping (hospital.md §1.2, §1.8):

=============  ===============  ===================================================================
outcome        ``status``       extra elements
=============  ===============  ===================================================================
delivered      ``completed``    ``whenHandedOver`` (UTC, proof of delivery), ``receiver`` = patient
failed         ``declined``     ``statusReasonCodeableConcept.text``
returned       ``declined``     ``statusReasonCodeableConcept.text``
cancelled      ``cancelled``    ``statusReasonCodeableConcept.text``
=============  ===============  ===================================================================

Every resource carries the prescription and prescription-item identifiers, ``authorizingPrescription`` (the join
key back to the MedicationRequest), ``performer.actor`` (the pharmacist; SATUSEHAT requires it) and a ``note``
"Diantar ke rumah oleh kurir (Gancang)". R4 ``receiver`` can only reference a Patient or Practitioner, so a family
member who took the package is recorded as a note ("Diterima oleh …").

The medication is a ``medicationCodeableConcept`` (KFA code) unless the caller passes ``medication_references``
(code → ``Medication/{id}``) for Medications it has already created, which is what SATUSEHAT's examples do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, NamedTuple

Outcome = Literal["delivered", "failed", "returned", "cancelled"]

DELIVERY_NOTE = "Diantar ke rumah oleh kurir (Gancang)"
CATEGORY_SYSTEM = "http://terminology.hl7.org/fhir/CodeSystem/medicationdispense-category"
DRUG_FORM_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm"
# v3-orderableDrugForm codes a unit may be given as; other units are sent as free text only.
DRUG_FORM_CODES = frozenset({"TAB", "CAP", "SUPP", "CRM", "OINT", "SOL", "SYRUP", "SUSP", "PWD", "GEL"})

STATUS_BY_OUTCOME: dict[str, str] = {
    "delivered": "completed",
    "failed": "declined",
    "returned": "declined",
    "cancelled": "cancelled",
}
DEFAULT_REASON: dict[str, str] = {
    "failed": "Pengantaran gagal",
    "returned": "Obat dikembalikan ke apotek",
    "cancelled": "Pengantaran dibatalkan",
}


class DispenseItem(NamedTuple):
    """One drug of the prescription: ``(code, code_system, display, quantity, unit)``."""

    code: str
    code_system: str
    display: str
    quantity: int | float | Decimal
    unit: str


@dataclass(frozen=True)
class DispenseOutcome:
    """What happened to one delivered prescription, in the terms a MedicationDispense needs."""

    prescription_number: str
    identifier_system: str  # e.g. "http://sys-ids.kemkes.go.id/prescription/{org}"
    organization_id: str
    patient_reference: str  # "Patient/P02478375538" or "system|value"
    items: Sequence[tuple[str, str, str, int | float | Decimal, str]]  # DispenseItem or plain tuples
    outcome: Outcome
    handed_over_at: datetime | None = None
    receiver_name: str | None = None
    receiver_relation: str | None = None
    performer_reference: str | None = None
    reason: str | None = None
    medication_request_reference: str | None = None
    item_identifier_system: str | None = None

    def __post_init__(self) -> None:
        if self.outcome not in STATUS_BY_OUTCOME:
            raise ValueError(f"unknown delivery outcome {self.outcome!r}")
        if not self.items:
            raise ValueError("a dispense needs at least one item")
        if not self.prescription_number.strip():
            raise ValueError("prescription_number is empty")
        if self.handed_over_at is not None and self.handed_over_at.utcoffset() is None:
            raise ValueError("handed_over_at must be timezone-aware")
        if self.outcome == "delivered" and self.handed_over_at is None:
            raise ValueError("a delivered outcome needs handed_over_at")
        _reference(self.patient_reference, "Patient")  # fail early on a malformed reference

    @property
    def prescription_item_system(self) -> str:
        """SATUSEHAT's item system; derived from the prescription system unless given explicitly."""
        if self.item_identifier_system:
            return self.item_identifier_system
        if "/prescription/" in self.identifier_system:
            return self.identifier_system.replace("/prescription/", "/prescription-item/")
        return f"http://sys-ids.kemkes.go.id/prescription-item/{self.organization_id}"


def build_medication_dispenses(
    outcome: DispenseOutcome, *, medication_references: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """One MedicationDispense per item (JSON-ready dicts, no ``id``: the server assigns it)."""
    return [
        _dispense(outcome, DispenseItem(*item), index, medication_references or {})
        for index, item in enumerate(outcome.items, start=1)
    ]


def to_utc_iso(moment: datetime) -> str:
    """SATUSEHAT's time format: UTC with an explicit offset, e.g. ``2023-08-31T04:40:00+00:00``."""
    if moment.utcoffset() is None:
        raise ValueError("refusing to send a naive datetime")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _dispense(
    outcome: DispenseOutcome, item: DispenseItem, index: int, medication_references: Mapping[str, str]
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationDispense",
        "identifier": [
            {"system": outcome.identifier_system, "use": "official", "value": outcome.prescription_number},
            {
                "system": outcome.prescription_item_system,
                "use": "official",
                "value": f"{outcome.prescription_number}-{index}",
            },
        ],
        "status": STATUS_BY_OUTCOME[outcome.outcome],
        "category": {"coding": [{"system": CATEGORY_SYSTEM, "code": "outpatient", "display": "Outpatient"}]},
    }
    if outcome.outcome != "delivered":
        resource["statusReasonCodeableConcept"] = {
            "text": (outcome.reason or "").strip() or DEFAULT_REASON[outcome.outcome]
        }
    if item.code in medication_references:
        resource["medicationReference"] = {
            "reference": medication_references[item.code],
            "display": item.display,
        }
    else:
        resource["medicationCodeableConcept"] = {
            "coding": [{"system": item.code_system, "code": item.code, "display": item.display}],
            "text": item.display,
        }
    patient = _reference(outcome.patient_reference, "Patient")
    resource["subject"] = patient
    if outcome.performer_reference:
        resource["performer"] = [{"actor": _reference(outcome.performer_reference, "Practitioner")}]
    if outcome.medication_request_reference:
        resource["authorizingPrescription"] = [
            _reference(outcome.medication_request_reference, "MedicationRequest")
        ]
    resource["quantity"] = _quantity(item)
    if outcome.outcome == "delivered":
        assert outcome.handed_over_at is not None  # checked in __post_init__
        resource["whenHandedOver"] = to_utc_iso(outcome.handed_over_at)
        resource["receiver"] = [patient]
    resource["note"] = [{"text": text} for text in _notes(outcome)]
    return resource


def _notes(outcome: DispenseOutcome) -> list[str]:
    notes = [DELIVERY_NOTE]
    if outcome.outcome == "delivered" and outcome.receiver_name:
        receiver = outcome.receiver_name.strip()
        if outcome.receiver_relation:
            receiver = f"{receiver} ({outcome.receiver_relation.strip()})"
        notes.append(f"Diterima oleh {receiver}")
    elif outcome.outcome == "delivered" and outcome.receiver_relation:
        notes.append(f"Diterima oleh {outcome.receiver_relation.strip()} pasien")
    return notes


def _quantity(item: DispenseItem) -> dict[str, Any]:
    value: int | float
    if isinstance(item.quantity, Decimal):
        value = (
            int(item.quantity) if item.quantity == item.quantity.to_integral_value() else float(item.quantity)
        )
    else:
        value = item.quantity
    if isinstance(value, bool) or value < 0:
        raise ValueError(f"bad quantity {item.quantity!r} for {item.code}")
    quantity: dict[str, Any] = {"value": value, "unit": item.unit}
    if item.unit.upper() in DRUG_FORM_CODES:
        quantity.update(system=DRUG_FORM_SYSTEM, code=item.unit.upper())
    return quantity


def _reference(value: str, resource_type: str) -> dict[str, Any]:
    """``Type/id`` becomes a literal reference; ``system|value`` a logical (identifier) reference."""
    value = value.strip()
    if "|" in value:
        system, _, identifier = value.partition("|")
        if system and identifier:
            return {"type": resource_type, "identifier": {"system": system, "value": identifier}}
    elif "/" in value and value.split("/")[-1]:
        return {"reference": value}
    raise ValueError(f"{value!r} is neither a {resource_type}/id reference nor a system|value identifier")
