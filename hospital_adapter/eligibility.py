"""Who gets free delivery: a rule over *payer* evidence, never over clinical data.

Why the payer: in Indonesia "poor" is an administrative status, not a diagnosis. The state decides it (the
Ministry of Social Affairs' welfare register, DTKS, now DTSEN) and expresses it by paying the patient's JKN
premium: the patient is then a BPJS **PBI** member (*Penerima Bantuan Iuran*), paid from the central budget
(PBI APBN) or a regional budget (PBI APBD). That status reaches the hospital only through the payer path:
the SEP's ``peserta.jnsPeserta`` (Khanza ``bridging_sep.peserta``, e.g. ``"PBI (APBN)"``), the VClaim
participant type, or a Coverage class. Where the patient is poor but not (yet) PBI, Banyuwangi used a local
*Surat Pernyataan Miskin* (SPM). Diagnoses, drugs or wards say nothing about poverty, so nothing here reads
them (reference: hospital.md §5.1–§5.3, §4.3 "Khanza ships no poverty flag").

Non-PBI JKN members are **not** poor by this rule: PPU (wage earners, civil servants, private employees),
PBPU *mandiri* (self-paying informal workers) and BP (non-workers) pay their own premium or have it paid by an
employer. The exception is PBPU/BP registered *by the regional government* ("PBPU Pemda", "BP Pemda"): their
premium is paid from the APBD, which is how regionally funded poor residents are enrolled, so they count as
APBD-funded PBI. A bare "Pemda" does not count (a regional civil servant is PPU, paid by their employer).

The decision keeps which evidence matched (§5.3: "store which evidence was used"), so that a pharmacist or an
auditor can see why an order was or was not free.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from hospital_adapter.canonical import CoverageIn, PrescriptionIn

EligibilityBasis = Literal["bpjs_pbi_apbn", "bpjs_pbi_apbd", "spm", "imported_list", "policy_accept_all"]
PbiKind = Literal["apbn", "apbd"]

# The coverage fields read, most authoritative first: the SEP's jnsPeserta is issued per visit by BPJS;
# a Coverage class (SATUSEHAT class[group], mapped to ``plan``) comes next; a payer name such as a Khanza
# ``penjab.png_jawab`` "BPJS PBI" is a site-defined label and comes last.
COVERAGE_FIELDS: tuple[Literal["participant_type", "plan", "payer"], ...] = (
    "participant_type",
    "plan",
    "payer",
)

_NEGATORS = frozenset({"non", "bukan", "tanpa"})


def normalise(text: str) -> str:
    """Lower-case, strip diacritics, turn punctuation into spaces: "PBI-(APBN)" → "pbi apbn"."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(re.sub(r"[^0-9a-z]+", " ", ascii_text.casefold()).split())


class PbiMatch(BaseModel):
    """A coverage label read as state-paid JKN (``kind``) or as explicitly not PBI (``kind`` None)."""

    model_config = ConfigDict(frozen=True)

    kind: PbiKind | None
    rule: str


def classify_participant_label(
    label: str | None, *, extra_apbn: frozenset[str] = frozenset(), extra_apbd: frozenset[str] = frozenset()
) -> PbiMatch | None:
    """Read one participant-type/plan/payer string as hospitals and BPJS write it.

    Returns ``PbiMatch(kind="apbn"|"apbd")`` for PBI, ``PbiMatch(kind=None)`` for a label that says the member
    is *not* PBI (e.g. "Non PBI", "PPU", "PBPU", "BP", "Pegawai Swasta"), and None for a label that says
    nothing about PBI (e.g. "BPJS Kesehatan", "Kelas 3"). Comparison is case-, diacritic- and
    punctuation-insensitive and by whole words, so "PBI (APBN)", "PBI APBN", "pbi-apbn" and "PBIAPBN" agree.

    A bare "PBI", "PBI JK"/"PBI JKN" or "Penerima Bantuan Iuran" is read as APBN: PBI Jaminan Kesehatan is by
    definition the centrally funded group; regionally funded members are labelled APBD, Daerah or Pemda.
    "Jamkesda" (the regional scheme for the poor that was folded into JKN as APBD-funded membership) reads as APBD.
    """
    if not label:
        return None
    text = normalise(label)
    if not text:
        return None
    if text in extra_apbd:
        return PbiMatch(kind="apbd", rule="policy_extra_apbd_label")
    if text in extra_apbn:
        return PbiMatch(kind="apbn", rule="policy_extra_apbn_label")
    words = text.split()
    compact = text.replace(" ", "")
    padded = f" {text} "
    # "Non PBI", "Non-PBI", "NONPBI", "Bukan PBI", "bukan penerima bantuan iuran".
    for index, word in enumerate(words):
        is_pbi = word == "pbi" or (
            word == "penerima" and words[index + 1 : index + 3] == ["bantuan", "iuran"]
        )
        if is_pbi and index > 0 and words[index - 1] in _NEGATORS:
            return PbiMatch(kind=None, rule="negated_pbi")
    if any(word in {"nonpbi", "bukanpbi"} for word in words):
        return PbiMatch(kind=None, rule="negated_pbi")
    has_pbi = "pbi" in words or " penerima bantuan iuran " in padded or compact.startswith("pbi")
    has_apbd = "apbd" in words or compact.endswith("apbd") or "jamkesda" in words
    has_apbn = "apbn" in words or compact.endswith("apbn")
    # PBPU/BP registered and paid by the regional government ("PBPU Pemda", "PBPU dan BP Pemda",
    # "BP Pemda", "PBPU (Pemda)", "Peserta didaftarkan Pemda").
    pemda = "pemda" in words or "pemerintah daerah" in text
    pemda_paid = pemda and (
        bool({"pbpu", "bp", "didaftarkan"} & set(words)) or compact.startswith(("pbpupemda", "bppemda"))
    )
    regional = has_apbd or pemda or "daerah" in words
    if (has_pbi and regional) or (has_apbd and not has_apbn and "ppu" not in words) or pemda_paid:
        return PbiMatch(kind="apbd", rule="pbi_apbd" if not pemda_paid else "pbpu_bp_pemda")
    if has_pbi or (has_apbn and "ppu" not in words):
        return PbiMatch(kind="apbn", rule="pbi_apbn" if has_apbn else "pbi")
    # Labels that name a non-PBI segment: the member pays (or an employer pays) the premium.
    if {"ppu", "pbpu", "bp", "mandiri"} & set(words) or " bukan pekerja " in padded:
        return PbiMatch(kind=None, rule="non_pbi_segment")
    if " pekerja penerima upah " in padded or " pekerja bukan penerima upah " in padded:
        return PbiMatch(kind=None, rule="non_pbi_segment")
    if words[0] in {"pegawai", "pns", "tni", "polri", "pensiunan", "veteran", "perintis"}:
        return PbiMatch(kind=None, rule="non_pbi_segment")
    return None


class EligibilityPolicy(BaseModel):
    """One hospital's rule for who gets delivery (Gancang Aron: BPJS PBI holders free; §5.2 item 5).

    ``eligible_patient_ids`` is an imported list of MRNs (the hospital's ``no_rkm_medis``, our
    ``patient.source_id``), e.g. the patients with an SPM/SKTM on paper or a Dinsos list. ``accept_all`` is for
    hospitals that deliver to everyone; the decision still records the stronger basis when there is one.
    ``extra_pbi_apbn_labels``/``extra_pbi_apbd_labels`` add site-specific labels (compared normalised, whole
    string), e.g. a Khanza payer named "BPJS Miskin".
    """

    model_config = ConfigDict(frozen=True)

    accept_pbi_apbn: bool = True
    accept_pbi_apbd: bool = True
    accept_poverty_declaration: bool = True
    eligible_patient_ids: frozenset[str] = Field(default_factory=frozenset)
    accept_all: bool = False
    extra_pbi_apbn_labels: frozenset[str] = Field(default_factory=frozenset)
    extra_pbi_apbd_labels: frozenset[str] = Field(default_factory=frozenset)

    @field_validator("eligible_patient_ids")
    @classmethod
    def _strip_ids(cls, value: frozenset[str]) -> frozenset[str]:
        return frozenset(stripped for item in value if (stripped := item.strip()))

    @field_validator("extra_pbi_apbn_labels", "extra_pbi_apbd_labels")
    @classmethod
    def _normalise_labels(cls, value: frozenset[str]) -> frozenset[str]:
        return frozenset(normalised for item in value if (normalised := normalise(item)))


class EligibilityDecision(BaseModel):
    """``reason`` is Indonesian / English; ``evidence`` is JSON-serialisable and says what matched."""

    model_config = ConfigDict(frozen=True)

    eligible: bool
    basis: EligibilityBasis | None
    reason: str
    evidence: dict[str, JsonValue]


_REASONS: dict[EligibilityBasis, str] = {
    "bpjs_pbi_apbn": "Peserta BPJS PBI (APBN) / BPJS PBI member (central government pays the premium)",
    "bpjs_pbi_apbd": "Peserta BPJS PBI (APBD) / BPJS PBI member (regional government pays the premium)",
    "spm": "Ada Surat Pernyataan Miskin (SPM) / A poverty declaration (SPM) is on file",
    "imported_list": "Pasien ada dalam daftar pasien layak antar / Patient is on the hospital's eligible list",
    "policy_accept_all": "Rumah sakit mengantar obat untuk semua pasien / The hospital delivers to every patient",
}
_NOT_ELIGIBLE = (
    "Bukan peserta PBI, tidak ada SPM, dan tidak ada dalam daftar pasien layak antar / "
    "Not a PBI member, no poverty declaration, and not on the eligible-patient list"
)


def _coverage_match(coverage: CoverageIn, policy: EligibilityPolicy) -> tuple[str, str, PbiMatch] | None:
    """The first field of one coverage that says PBI or not-PBI decides for that coverage."""
    for field in COVERAGE_FIELDS:
        value = getattr(coverage, field)
        match = classify_participant_label(
            value, extra_apbn=policy.extra_pbi_apbn_labels, extra_apbd=policy.extra_pbi_apbd_labels
        )
        if match is not None:
            return field, value, match
    return None


def assess_eligibility(prescription: PrescriptionIn, policy: EligibilityPolicy) -> EligibilityDecision:
    """Decide eligibility from payer evidence only; pure and deterministic.

    Order: BPJS PBI on any active coverage (APBN before APBD, then coverage order) → SPM → imported MRN list →
    ``accept_all``. Within one coverage the SEP participant type outranks the plan, which outranks the payer
    name: a SEP saying "PPU" is not overridden by a stale "PBI" plan label. A PBI kind the policy does not
    accept is recorded in the evidence but does not make the patient eligible.
    """
    checked: list[JsonValue] = []
    found: dict[PbiKind, dict[str, JsonValue]] = {}
    for index, coverage in enumerate(prescription.coverage):
        matched = _coverage_match(coverage, policy)
        entry: dict[str, JsonValue] = {"coverage_index": index}
        if matched is None:
            entry["result"] = "unrecognised"
        else:
            field, value, match = matched
            entry.update(field=field, value=value, rule=match.rule, result=match.kind or "not_pbi")
            if match.kind is not None:
                found.setdefault(
                    match.kind, entry | {"payer": coverage.payer, "sep_number": coverage.sep_number}
                )
        checked.append(entry)

    accepted: dict[PbiKind, tuple[bool, EligibilityBasis]] = {
        "apbn": (policy.accept_pbi_apbn, "bpjs_pbi_apbn"),
        "apbd": (policy.accept_pbi_apbd, "bpjs_pbi_apbd"),
    }
    for kind in ("apbn", "apbd"):
        allowed, basis = accepted[kind]
        if kind in found and allowed:
            return EligibilityDecision(
                eligible=True, basis=basis, reason=_REASONS[basis], evidence={"coverage": found[kind]}
            )
    context: dict[str, JsonValue] = {"coverages": checked}
    not_accepted = [kind for kind in ("apbn", "apbd") if kind in found]
    if not_accepted:
        context["pbi_not_accepted_by_policy"] = list(not_accepted)
    if prescription.poverty_declaration and policy.accept_poverty_declaration:
        return EligibilityDecision(
            eligible=True,
            basis="spm",
            reason=_REASONS["spm"],
            evidence={"poverty_declaration": True} | context,
        )
    patient_id = prescription.patient.source_id.strip()
    if patient_id in policy.eligible_patient_ids:
        return EligibilityDecision(
            eligible=True,
            basis="imported_list",
            reason=_REASONS["imported_list"],
            evidence={"patient_source_id": patient_id} | context,
        )
    if policy.accept_all:
        return EligibilityDecision(
            eligible=True, basis="policy_accept_all", reason=_REASONS["policy_accept_all"], evidence=context
        )
    reason = _NOT_ELIGIBLE
    if not_accepted:
        reason = (
            "Jenis PBI ini tidak diterima kebijakan rumah sakit; tidak ada SPM / "
            "This PBI kind is not accepted by the hospital's policy; no poverty declaration"
        )
    evidence = context | {
        "poverty_declaration": prescription.poverty_declaration,
        "poverty_declaration_accepted": policy.accept_poverty_declaration,
        "on_imported_list": False,
    }
    return EligibilityDecision(eligible=False, basis=None, reason=reason, evidence=evidence)
