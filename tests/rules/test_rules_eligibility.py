"""Eligibility: who is poor, read from payer evidence (hospital.md §5)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hospital_adapter.canonical import AddressIn, CoverageIn, ItemIn, PatientIn, PrescriptionIn
from hospital_adapter.eligibility import (
    EligibilityDecision,
    EligibilityPolicy,
    assess_eligibility,
    classify_participant_label,
)

# The SATUSEHAT IG example "Coverage-BPJS-kepesertaan.json" (shared reference examples/satusehat/), the
# fields that matter, copied verbatim so the test does not read outside the repository.
SATUSEHAT_COVERAGE: dict[str, Any] = {
    "resourceType": "Coverage",
    "status": "active",
    "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem v3-ActCode", "code": "PUBLICPOL"}]},
    "subscriberId": "367400001111222",
    "payor": [{"reference": "Organization/10080028"}],
    "class": [
        {
            "type": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/coverage-class", "code": "group"}
                ]
            },
            "value": "COV000009",
            "name": "Pegawai Swasta",
        },
        {
            "type": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/coverage-class", "code": "class"}
                ]
            },
            "value": "3",
            "name": "Kelas 3",
        },
    ],
}


def prescription(
    *coverage: CoverageIn, poverty_declaration: bool = False, patient_id: str = "000123"
) -> PrescriptionIn:
    return PrescriptionIn(
        source="test",
        prescription_id="RX-1",
        patient=PatientIn(
            source_id=patient_id, name="Siti", phone="081234567890", address=AddressIn(text="Jl. A")
        ),
        items=[ItemIn(display="Amlodipine 10 mg Tablet")],
        coverage=list(coverage),
        poverty_declaration=poverty_declaration,
    )


def sep(participant_type: str) -> CoverageIn:
    return CoverageIn(
        payer="BPJS Kesehatan", participant_type=participant_type, sep_number="1311R0010125V000001"
    )


def coverage_evidence(decision: EligibilityDecision) -> dict[str, Any]:
    value = decision.evidence["coverage"]
    assert isinstance(value, dict)
    return value


def assert_bilingual(decision: EligibilityDecision) -> None:
    assert " / " in decision.reason
    indonesian, english = decision.reason.split(" / ", 1)
    assert indonesian.strip()
    assert english.strip()
    json.dumps(decision.evidence)  # JSON-serialisable
    json.dumps(decision.model_dump(mode="json"))


APBN_LABELS = [
    "PBI (APBN)",
    "PBI APBN",
    "PBI-APBN",
    "pbi apbn",
    "PBI(APBN)",
    "PBIAPBN",
    "PBI_APBN",
    "  Pbi  (Apbn) ",
    "Penerima Bantuan Iuran",
    "Penerima Bantuan Iuran (PBI) APBN",
    "PENERIMA BANTUAN IURAN JAMINAN KESEHATAN",
    "PBI JK",
    "PBI JKN",
    "PBI",
    "BPJS PBI",
    "Peserta PBI",
    "PBI Pusat",
]
APBD_LABELS = [
    "PBI (APBD)",
    "PBI APBD",
    "PBI-APBD",
    "pbi(apbd)",
    "Penerima Bantuan Iuran (APBD)",
    "PBPU Pemda",
    "PBPU (Pemda)",
    "PBPU dan BP Pemda",
    "PBPU BP Pemda",
    "BP Pemda",
    "Peserta didaftarkan Pemda",
    "PBPU Pemerintah Daerah",
    "APBD",
    "Jamkesda",
    "PBI Daerah",
    "PBI Pemda",
]
NOT_POOR_LABELS = [
    "Non PBI",
    "NON-PBI",
    "NonPBI",
    "Bukan PBI",
    "Bukan Penerima Bantuan Iuran",
    "PPU",
    "PPU Swasta",
    "PPU Pemda",
    "PBPU",
    "PBPU Mandiri",
    "Mandiri",
    "BP",
    "Bukan Pekerja",
    "Pekerja Penerima Upah",
    "Pekerja Bukan Penerima Upah",
    "PEGAWAI SWASTA",
    "Pegawai Pemda",
    "Pegawai Pemerintah Daerah",
    "PNS Daerah",
    "PNS Pusat",
    "Pensiunan PNS",
    "TNI AD",
    "POLRI",
]
UNRELATED_LABELS = ["BPJS Kesehatan", "Kelas 3", "Umum", "", "-", "COV000009", "Asuransi Lain", "Pemda"]


@pytest.mark.parametrize("label", APBN_LABELS)
def test_apbn_labels_are_pbi_apbn(label: str) -> None:
    match = classify_participant_label(label)
    assert match is not None
    assert match.kind == "apbn"


@pytest.mark.parametrize("label", APBD_LABELS)
def test_apbd_labels_are_pbi_apbd(label: str) -> None:
    match = classify_participant_label(label)
    assert match is not None
    assert match.kind == "apbd"


@pytest.mark.parametrize("label", NOT_POOR_LABELS)
def test_non_pbi_labels_are_explicitly_not_pbi(label: str) -> None:
    match = classify_participant_label(label)
    assert match is not None
    assert match.kind is None


@pytest.mark.parametrize("label", UNRELATED_LABELS)
def test_unrelated_labels_say_nothing(label: str) -> None:
    assert classify_participant_label(label) is None


def test_none_label_says_nothing() -> None:
    assert classify_participant_label(None) is None


@pytest.mark.parametrize("label", APBN_LABELS)
def test_sep_participant_type_apbn_is_eligible(label: str) -> None:
    decision = assess_eligibility(prescription(sep(label)), EligibilityPolicy())
    assert decision.eligible
    assert decision.basis == "bpjs_pbi_apbn"
    assert coverage_evidence(decision)["field"] == "participant_type"
    assert coverage_evidence(decision)["value"] == label
    assert_bilingual(decision)


@pytest.mark.parametrize("label", APBD_LABELS)
def test_sep_participant_type_apbd_is_eligible(label: str) -> None:
    decision = assess_eligibility(prescription(sep(label)), EligibilityPolicy())
    assert decision.eligible
    assert decision.basis == "bpjs_pbi_apbd"
    assert_bilingual(decision)


@pytest.mark.parametrize("label", NOT_POOR_LABELS + UNRELATED_LABELS)
def test_non_pbi_sep_is_not_eligible(label: str) -> None:
    decision = assess_eligibility(prescription(sep(label)), EligibilityPolicy())
    assert not decision.eligible
    assert decision.basis is None
    assert decision.reason.startswith("Bukan peserta PBI")
    assert "Not a PBI member" in decision.reason
    assert_bilingual(decision)


def test_no_coverage_is_not_eligible() -> None:
    decision = assess_eligibility(prescription(), EligibilityPolicy())
    assert not decision.eligible
    assert decision.evidence["coverages"] == []
    assert decision.evidence["poverty_declaration"] is False
    assert_bilingual(decision)


def test_satusehat_coverage_example_pegawai_swasta_is_not_pbi() -> None:
    """The official SATUSEHAT BPJS Coverage: class[group] "Pegawai Swasta" (COV000009), class 3 → not poor."""
    resource = SATUSEHAT_COVERAGE
    group = next(c for c in resource["class"] if c["type"]["coding"][0]["code"] == "group")
    # What the FHIR parser maps: plan = class[group].name or value; subscriber id kept.
    coverage = CoverageIn(
        payer="Organization/10080028", plan=group["name"], subscriber_id=resource["subscriberId"]
    )
    decision = assess_eligibility(prescription(coverage), EligibilityPolicy())
    assert group["name"] == "Pegawai Swasta"
    assert not decision.eligible
    assert decision.evidence["coverages"] == [
        {
            "coverage_index": 0,
            "field": "plan",
            "value": "Pegawai Swasta",
            "rule": "non_pbi_segment",
            "result": "not_pbi",
        }
    ]
    assert_bilingual(decision)


def test_satusehat_style_plan_pbi_is_eligible() -> None:
    coverage = CoverageIn(payer="BPJS Kesehatan", plan="PBI (APBN)", subscriber_id="0001234567890")
    decision = assess_eligibility(prescription(coverage), EligibilityPolicy())
    assert decision.eligible
    assert decision.basis == "bpjs_pbi_apbn"
    assert coverage_evidence(decision)["field"] == "plan"


def test_payer_name_is_read_last() -> None:
    """A Khanza penjab named "BPJS PBI" with no SEP is still PBI."""
    decision = assess_eligibility(prescription(CoverageIn(payer="BPJS PBI")), EligibilityPolicy())
    assert decision.basis == "bpjs_pbi_apbn"
    assert coverage_evidence(decision)["field"] == "payer"


def test_sep_participant_type_outranks_plan() -> None:
    stale = CoverageIn(payer="BPJS Kesehatan", plan="PBI (APBN)", participant_type="PPU")
    decision = assess_eligibility(prescription(stale), EligibilityPolicy())
    assert not decision.eligible


def test_unrecognised_participant_type_falls_through_to_plan() -> None:
    coverage = CoverageIn(payer="BPJS Kesehatan", plan="PBI (APBD)", participant_type="Kelas 3")
    decision = assess_eligibility(prescription(coverage), EligibilityPolicy())
    assert decision.basis == "bpjs_pbi_apbd"
    assert coverage_evidence(decision)["field"] == "plan"


def test_any_pbi_coverage_counts_and_apbn_is_preferred() -> None:
    decision = assess_eligibility(
        prescription(sep("PPU"), sep("PBI (APBD)"), sep("PBI (APBN)")), EligibilityPolicy()
    )
    assert decision.basis == "bpjs_pbi_apbn"
    assert coverage_evidence(decision)["coverage_index"] == 2
    assert coverage_evidence(decision)["sep_number"] == "1311R0010125V000001"


def test_spm_declaration_is_eligible() -> None:
    decision = assess_eligibility(prescription(sep("PBPU"), poverty_declaration=True), EligibilityPolicy())
    assert decision.eligible
    assert decision.basis == "spm"
    assert decision.evidence["poverty_declaration"] is True
    assert "SPM" in decision.reason
    assert_bilingual(decision)


def test_spm_not_accepted_by_policy() -> None:
    policy = EligibilityPolicy(accept_poverty_declaration=False)
    decision = assess_eligibility(prescription(poverty_declaration=True), policy)
    assert not decision.eligible
    assert decision.evidence["poverty_declaration_accepted"] is False


def test_pbi_beats_spm_as_basis() -> None:
    decision = assess_eligibility(
        prescription(sep("PBI (APBN)"), poverty_declaration=True), EligibilityPolicy()
    )
    assert decision.basis == "bpjs_pbi_apbn"


def test_imported_list() -> None:
    policy = EligibilityPolicy(eligible_patient_ids=frozenset({" 000123 ", "000999"}))
    decision = assess_eligibility(prescription(patient_id="000123"), policy)
    assert decision.eligible
    assert decision.basis == "imported_list"
    assert decision.evidence["patient_source_id"] == "000123"
    assert_bilingual(decision)
    assert not assess_eligibility(prescription(patient_id="000124"), policy).eligible


def test_imported_list_accepts_a_json_list() -> None:
    policy = EligibilityPolicy.model_validate({"eligible_patient_ids": ["A1", "A2"]})
    assert policy.eligible_patient_ids == frozenset({"A1", "A2"})
    assert assess_eligibility(prescription(patient_id="A2"), policy).basis == "imported_list"


def test_accept_all_records_a_stronger_basis_when_there_is_one() -> None:
    policy = EligibilityPolicy(accept_all=True)
    plain = assess_eligibility(prescription(sep("PPU")), policy)
    assert plain.eligible
    assert plain.basis == "policy_accept_all"
    assert_bilingual(plain)
    assert assess_eligibility(prescription(sep("PBI (APBN)")), policy).basis == "bpjs_pbi_apbn"


def test_pbi_kind_not_accepted_by_policy() -> None:
    policy = EligibilityPolicy(accept_pbi_apbd=False)
    decision = assess_eligibility(prescription(sep("PBI (APBD)")), policy)
    assert not decision.eligible
    assert decision.evidence["pbi_not_accepted_by_policy"] == ["apbd"]
    assert_bilingual(decision)
    # …but APBN still passes, and an SPM still counts.
    assert assess_eligibility(prescription(sep("PBI (APBN)")), policy).eligible
    assert (
        assess_eligibility(prescription(sep("PBI (APBD)"), poverty_declaration=True), policy).basis == "spm"
    )


def test_extra_site_labels() -> None:
    policy = EligibilityPolicy(
        extra_pbi_apbn_labels=frozenset({"BPJS Miskin"}), extra_pbi_apbd_labels=frozenset({"Jamkesmaskab"})
    )
    assert assess_eligibility(prescription(CoverageIn(payer="bpjs-miskin")), policy).basis == "bpjs_pbi_apbn"
    assert assess_eligibility(prescription(CoverageIn(plan="JAMKESMASKAB")), policy).basis == "bpjs_pbi_apbd"
    assert not assess_eligibility(prescription(CoverageIn(payer="BPJS Miskin")), EligibilityPolicy()).eligible


def test_decision_is_deterministic_and_pure() -> None:
    rx = prescription(sep("PPU"), sep("PBI (APBD)"), poverty_declaration=True)
    before = rx.model_dump()
    first = assess_eligibility(rx, EligibilityPolicy())
    second = assess_eligibility(rx, EligibilityPolicy())
    assert first == second
    assert rx.model_dump() == before


def test_policy_round_trips_through_json() -> None:
    policy = EligibilityPolicy(eligible_patient_ids=frozenset({"1", "2"}), accept_all=True)
    assert EligibilityPolicy.model_validate_json(policy.model_dump_json()) == policy
