"""Restricted drugs (PerBPOM 8/2020 art. 27, hospital.md §6) and cold-chain flags."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hospital_adapter.canonical import AddressIn, ComponentIn, ItemIn, PatientIn, PrescriptionIn
from hospital_adapter.restrictions import (
    DEFAULT_NAME_TERMS,
    RestrictionDecision,
    RestrictionPolicy,
    assess_restrictions,
    normalise,
)

KFA = "http://sys-ids.kemkes.go.id/kfa"


def prescription(*items: ItemIn) -> PrescriptionIn:
    return PrescriptionIn(
        source="test",
        prescription_id="RX-1",
        patient=PatientIn(
            source_id="000123", name="Siti", phone="081234567890", address=AddressIn(text="Jl. A")
        ),
        items=list(items),
    )


def assess(*items: ItemIn, policy: RestrictionPolicy | None = None) -> RestrictionDecision:
    return assess_restrictions(prescription(*items), policy or RestrictionPolicy())


def item(display: str, **fields: Any) -> ItemIn:
    return ItemIn(display=display, **fields)


def assert_bilingual(decision: RestrictionDecision) -> None:
    indonesian, english = decision.reason.split(" / ", 1)
    assert indonesian.strip()
    assert english.strip()
    json.dumps(decision.model_dump(mode="json"))


# ── deliverable, no cold chain ─────────────────────────────────────────────────────────────────────
DELIVERABLE = [
    "Amlodipine 10 mg Tablet",
    "Paracetamol 500 mg Tablet",
    "Metformin HCl 500 mg Tablet",
    "Captopril 25 mg",
    "Simvastatin 20 mg Tablet Salut Selaput",
    "Omeprazole 20 mg Kapsul",
    "Amoxicillin 500 mg Kapsul",
    "Glimepiride 2 mg",
    "Bisoprolol Fumarate 5 mg",
    "Clopidogrel 75 mg",
    "Asam Folat 1 mg",
    "Vitamin B Kompleks",
    "OBH Sirup 100 mL",
    "Ambroxol 30 mg",
    "Cetirizine 10 mg",
    "Salbutamol Inhaler 100 mcg",
    "Salep Gentamisin 0,1%",
    "Levonorgestrel 0,75 mg Tablet",  # emergency contraceptive pill, not the implant
    "Ampisilin 500 mg Kaplet",  # "amp…" must not read as ampul
    "Pentoxifylline 400 mg",  # "pen…" must not read as an injection pen
    "Sirup Dekstrometorfan 15 mg/5 mL",  # OOT but obat bebas terbatas: art. 27(a) bars only obat keras OOT
    "Aspartam Sachet",
    "Rifampisin 450 mg",
    "Lansoprazole 30 mg Kapsul",
]


@pytest.mark.parametrize("display", DELIVERABLE)
def test_ordinary_drugs_are_deliverable(display: str) -> None:
    decision = assess(item(display))
    assert decision.deliverable, decision.denied_items
    assert decision.denied_items == []
    assert not decision.cold_chain
    assert decision.reason == "Semua obat boleh diantar kurir / All items may be delivered by courier"


# ── denied by active-ingredient name ───────────────────────────────────────────────────────────────
DENIED_BY_NAME = [
    ("Codein 10 mg", "narcotic", "codein"),
    ("Kodein Fosfat 20 mg Tablet", "narcotic", "kodein"),
    ("Codeine Phosphate 10 mg", "narcotic", "codeine"),
    ("Morfin Sulfat 10 mg Tablet Lepas Lambat", "narcotic", "morfin"),
    ("MST Continus (Morphine Sulfate) 15 mg", "narcotic", "morphine"),
    ("Fentanyl 25 mcg/jam Patch", "narcotic", "fentanyl"),
    ("Oksikodon 10 mg", "narcotic", "oksikodon"),
    ("Petidin HCl 50 mg", "narcotic", "petidin"),
    ("Metadon Sirup 1 mg/mL", "narcotic", "metadon"),
    ("Alprazolam 0,5 mg", "psychotropic", "alprazolam"),
    ("Diazepam 2 mg Tablet", "psychotropic", "diazepam"),
    ("Clonazepam 2 mg", "psychotropic", "clonazepam"),
    ("Klobazam 10 mg", "psychotropic", "klobazam"),
    ("Fenobarbital 30 mg Tablet", "psychotropic", "fenobarbital"),
    ("Lorazepam 1 mg", "psychotropic", "lorazepam"),
    ("Zolpidem Tartrat 10 mg", "psychotropic", "zolpidem"),
    ("Tramadol 50 mg Kapsul", "oot", "tramadol"),
    ("Tramadol/Paracetamol 37,5/325 mg", "oot", "tramadol"),
    ("Triheksifenidil 2 mg Tablet", "oot", "triheksifenidil"),
    ("Trihexyphenidyl HCl 2 mg", "oot", "trihexyphenidyl"),
    ("THP 2 mg", "oot", "thp"),
    ("Klorpromazin 100 mg", "oot", "klorpromazin"),
    ("Chlorpromazine HCl 25 mg", "oot", "chlorpromazine"),
    ("Amitriptilin 25 mg", "oot", "amitriptilin"),
    ("Haloperidol 5 mg Tablet", "oot", "haloperidol"),
    ("Pseudoefedrin HCl 60 mg", "precursor", "pseudoefedrin"),
    ("Efedrin HCl 25 mg", "precursor", "efedrin"),
    ("Ergotamin Tartrat 1 mg + Kofein", "precursor", "ergotamin"),
    ("Ergometrin Maleat 0,2 mg Tablet", "precursor", "ergometrin"),
    ("Sildenafil 50 mg", "erectile_dysfunction", "sildenafil"),
    ("Tadalafil 20 mg Tablet Salut Selaput", "erectile_dysfunction", "tadalafil"),
    ("Vardenafil 10 mg", "erectile_dysfunction", "vardenafil"),
    ("Implan Levonorgestrel 2 x 75 mg", "implant", "implan"),
    ("Implanon NXT 68 mg", "implant", "implanon"),
    ("Susuk KB", "implant", "susuk kb"),
]


@pytest.mark.parametrize(("display", "category", "term"), DENIED_BY_NAME)
def test_restricted_ingredients_by_name(display: str, category: str, term: str) -> None:
    decision = assess(item("Amlodipine 10 mg"), item(display))
    assert not decision.deliverable
    assert len(decision.denied_items) == 1
    denied = decision.denied_items[0]
    assert (denied.item_index, denied.component_index, denied.display) == (1, None, display)
    assert (denied.category, denied.matched_by, denied.matched_value) == (category, "name", term)
    assert decision.reason.startswith("Obat golongan ")
    assert "tidak boleh diantar kurir" in decision.reason
    assert "pasien mengambil di farmasi" in decision.reason
    assert "may not be delivered by courier" in decision.reason
    assert display in decision.reason
    assert_bilingual(decision)


def test_narcotic_reason_wording() -> None:
    decision = assess(item("Codein 10 mg"))
    assert decision.reason == (
        "Obat golongan narkotika tidak boleh diantar kurir (PerBPOM 8/2020 pasal 27): Codein 10 mg; "
        "pasien mengambil di farmasi / Narcotic drugs may not be delivered by courier (PerBPOM 8/2020 art. 27): "
        "Codein 10 mg; the patient collects them at the pharmacy"
    )


@pytest.mark.parametrize(
    "display",
    ["CODEIN 10 MG", "códein 10 mg", "Codéine 10mg", "codein-10 mg", "(Codein) 10 mg", "Sirup Kodéin"],
)
def test_name_matching_is_case_diacritic_and_punctuation_insensitive(display: str) -> None:
    decision = assess(item(display))
    assert [d.category for d in decision.denied_items] == ["narcotic"]


@pytest.mark.parametrize(
    "display",
    [
        "Pseudoefedrin HCl 60 mg",  # its own entry, not "efedrin" inside it
        "Levodopa",
        "Kodeinamide",  # invented compound word: whole-word matching
        "Tramadolum",  # not a whole-word hit either
    ],
)
def test_word_boundaries(display: str) -> None:
    decision = assess(item(display))
    assert all(d.matched_value != "efedrin" for d in decision.denied_items)
    if display in {"Levodopa", "Kodeinamide", "Tramadolum"}:
        assert decision.deliverable


def test_negated_mentions_do_not_match() -> None:
    assert assess(item("Sirup Batuk Non Kodein")).deliverable
    assert assess(item("Obat X", drug_class="Non Narkotika")).deliverable
    assert assess(item("Obat X", drug_class="Bukan Psikotropika")).deliverable


# ── racikan components ─────────────────────────────────────────────────────────────────────────────
def test_precursor_in_a_racikan_component() -> None:
    racikan = item(
        "Puyer Batuk Anak",
        components=[
            ComponentIn(display="Ambroxol 30 mg"),
            ComponentIn(display="Pseudoefedrin HCl 30 mg"),
            ComponentIn(display="CTM 4 mg"),
        ],
    )
    decision = assess(item("Paracetamol 500 mg"), racikan)
    assert not decision.deliverable
    [denied] = decision.denied_items
    assert (denied.item_index, denied.component_index) == (1, 1)
    assert (denied.display, denied.category, denied.matched_by) == (
        "Pseudoefedrin HCl 30 mg",
        "precursor",
        "name",
    )
    assert "prekursor farmasi" in decision.reason


def test_component_drug_class_and_codes() -> None:
    racikan = item(
        "Racikan Kapsul",
        components=[
            ComponentIn(display="Luminal 30 mg", drug_class="PSIKOTROPIKA"),
            ComponentIn(display="Zat X", local_code="B000777"),
            ComponentIn(display="Zat Y", code="93000001", code_system=KFA),
        ],
    )
    policy = RestrictionPolicy(
        denied_local_codes={"B000777": "narcotic"}, denied_kfa_codes={"93000001": "oot"}
    )
    decision = assess(racikan, policy=policy)
    assert [(d.component_index, d.category, d.matched_by) for d in decision.denied_items] == [
        (0, "psychotropic", "drug_class"),
        (1, "narcotic", "local_code"),
        (2, "oot", "kfa_code"),
    ]


# ── Khanza golongan (drug_class) ───────────────────────────────────────────────────────────────────
CLASSES = [
    ("Narkotika", "narcotic"),
    ("NARKOTIKA", "narcotic"),
    ("Narkotik", "narcotic"),
    ("Narkotika Gol. II", "narcotic"),
    ("Obat Narkotika", "narcotic"),
    ("Psikotropika", "psychotropic"),
    ("Psikotropika Gol IV", "psychotropic"),
    ("Psikotropik", "psychotropic"),
    ("OKT", "psychotropic"),
    ("Prekursor", "precursor"),
    ("Prekursor Farmasi", "precursor"),
    ("OOT", "oot"),
    ("Obat-Obat Tertentu", "oot"),
    ("Obat-obatan Tertentu", "oot"),
    ("Obat Obat Tertentu (OOT)", "oot"),
    ("Implan", "implant"),
    ("Injeksi", "injection"),
]


@pytest.mark.parametrize(("drug_class", "category"), CLASSES)
def test_khanza_golongan(drug_class: str, category: str) -> None:
    decision = assess(item("Obat Lokal RS 123", drug_class=drug_class))
    assert not decision.deliverable
    [denied] = decision.denied_items
    assert (denied.category, denied.matched_by, denied.matched_value) == (category, "drug_class", drug_class)


@pytest.mark.parametrize(
    "drug_class",
    ["Obat Keras", "Obat Bebas", "Obat Bebas Terbatas", "Generik", "Paten", "-", "Alkes", "Tablet"],
)
def test_other_golongan_are_deliverable(drug_class: str) -> None:
    assert assess(item("Obat Lokal RS 123", drug_class=drug_class)).deliverable


def test_class_name_and_name_both_reported_once_per_category() -> None:
    decision = assess(item("Codein 10 mg", drug_class="Narkotika"))
    [denied] = decision.denied_items
    assert (denied.category, denied.matched_by) == ("narcotic", "drug_class")


def test_two_categories_on_one_item() -> None:
    decision = assess(item("Morfin 10 mg/mL Injeksi"))
    assert [(d.category, d.matched_by) for d in decision.denied_items] == [
        ("narcotic", "name"),
        ("injection", "name"),
    ]
    assert "narkotika, injeksi" in decision.reason


# ── codes ──────────────────────────────────────────────────────────────────────────────────────────
def test_kfa_code_list() -> None:
    policy = RestrictionPolicy(denied_kfa_codes={"93001234": "narcotic", " 91000999 ": "psychotropic"})
    denied = assess(item("Produk A", code="93001234", code_system=KFA), policy=policy)
    assert [(d.category, d.matched_by, d.matched_value) for d in denied.denied_items] == [
        ("narcotic", "kfa_code", "93001234")
    ]
    https_system = assess(
        item("Produk B", code="91000999", code_system="https://sys-ids.kemkes.go.id/kfa/"), policy=policy
    )
    assert not https_system.deliverable
    bare = assess(item("Produk B", code="91000999"), policy=policy)
    assert not bare.deliverable
    # The same code in another system is not a KFA code.
    other = assess(
        item("Produk C", code="93001234", code_system="http://sys-ids.kemkes.go.id/medication/100"),
        policy=policy,
    )
    assert other.deliverable
    assert assess(item("Produk A", code="93001234", code_system=KFA)).deliverable  # default list is empty


def test_local_code_list_is_case_and_space_insensitive() -> None:
    policy = RestrictionPolicy(denied_local_codes={"b000123": "oot"})
    decision = assess(item("Obat Lokal", local_code=" B000123 "), policy=policy)
    assert [(d.category, d.matched_by, d.matched_value) for d in decision.denied_items] == [
        ("oot", "local_code", " B000123 ")
    ]


def test_allowed_codes_clear_rules_but_not_explicit_denials() -> None:
    policy = RestrictionPolicy(allowed_local_codes={"B1"}, denied_local_codes={"B2": "narcotic"})
    assert assess(item("Tramadol 50 mg", local_code="B1"), policy=policy).deliverable
    policy = RestrictionPolicy(allowed_local_codes={"B2"}, denied_local_codes={"B2": "narcotic"})
    assert not assess(item("Obat", local_code="B2"), policy=policy).deliverable


# ── injections, insulin, vaccines ──────────────────────────────────────────────────────────────────
INJECTIONS = [
    (item("Ceftriaxone 1 g Injeksi"), "name"),
    (item("Ceftriaxone 1 g", dosage_form="Serbuk Injeksi"), "dosage_form"),
    (item("Ranitidin 25 mg/mL", dosage_form="Larutan Injeksi"), "dosage_form"),
    (item("Ondansetron 4 mg", dosage_form="BS034"), "dosage_form"),
    (item("Ondansetron 4 mg", dosage_form="bs-034"), "dosage_form"),
    (item("Gentamisin 80 mg/2 mL Ampul"), "name"),
    (item("Cefotaxime 1 g Vial"), "name"),
    (item("Dexamethasone Inj. 5 mg/mL"), "name"),
    (item("Ketorolac 30 mg", dosage_form="Ampul"), "dosage_form"),
    (item("Natrium Klorida 0,9% Infus 500 mL"), "name"),
    (item("Enoxaparin 40 mg Prefilled Syringe"), "name"),
    (item("Liraglutide 6 mg/mL FlexPen"), "name"),
    (item("Vaksin Hepatitis B"), "name"),
    (item("Vaksin Polio Oral (bOPV)"), "name"),
    (item("Ceftriaxone 1 g"), "name"),  # sold only as an injection
    (item("Enoxaparin Sodium 40 mg/0,4 mL"), "name"),
]


@pytest.mark.parametrize(("entry", "matched_by"), INJECTIONS)
def test_injections_are_denied(entry: ItemIn, matched_by: str) -> None:
    decision = assess(entry)
    assert not decision.deliverable
    assert [(d.category, d.matched_by) for d in decision.denied_items] == [("injection", matched_by)]
    assert "injeksi (selain insulin untuk pemakaian sendiri)" in decision.reason
    assert "Injectable (other than self-use insulin) drugs may not be delivered" in decision.reason


def test_vaccine_is_denied_and_cold_chain() -> None:
    decision = assess(item("Vaksin Hepatitis B"))
    assert not decision.deliverable
    assert decision.cold_chain
    assert decision.cold_chain_items == ["Vaksin Hepatitis B"]


def test_vaccines_can_be_allowed_by_policy() -> None:
    decision = assess(item("Vaksin Polio Oral (bOPV)"), policy=RestrictionPolicy(deny_vaccines=False))
    assert decision.deliverable
    assert decision.cold_chain


SELF_USE_INSULIN = [
    item("Insulin Glargine 100 IU/mL Pen"),
    item("Insulin Aspart 100 U/mL FlexPen"),
    item("Lantus SoloStar 100 IU/mL"),
    item("NovoRapid FlexPen"),
    item("Levemir Penfill 3 mL"),
    item("Insulin Regular (Actrapid) 100 IU/mL Vial"),
    item("Humulin R 100 IU/mL", dosage_form="Larutan Injeksi"),
    item("Insulin Glargine", dosage_form="BS034", drug_class="Injeksi"),
    item("Humalog Mix 25 KwikPen"),
]


@pytest.mark.parametrize("entry", SELF_USE_INSULIN)
def test_self_use_insulin_is_deliverable_with_cold_chain(entry: ItemIn) -> None:
    decision = assess(item("Metformin 500 mg"), entry)
    assert decision.deliverable, decision.denied_items
    assert decision.cold_chain
    assert decision.cold_chain_items == [entry.display]
    assert decision.reason.startswith("Semua obat boleh diantar kurir")
    assert "rantai dingin" in decision.reason
    assert "cold chain" in decision.reason
    assert_bilingual(decision)


def test_insulin_exemption_can_be_switched_off() -> None:
    decision = assess(
        item("Insulin Glargine 100 IU/mL Pen", dosage_form="Injeksi"),
        policy=RestrictionPolicy(allow_self_use_insulin=False),
    )
    assert [d.category for d in decision.denied_items] == ["injection"]


def test_insulin_exemption_does_not_override_an_explicit_code() -> None:
    policy = RestrictionPolicy(denied_local_codes={"INS-1": "injection"})
    assert not assess(item("Insulin Glargine Pen", local_code="INS-1"), policy=policy).deliverable


def test_insulin_exemption_covers_only_the_injection_rule() -> None:
    # A (contrived) insulin line that also names a narcotic is still denied as a narcotic.
    decision = assess(item("Insulin Vial + Morfin"))
    assert [d.category for d in decision.denied_items] == ["narcotic"]


# ── cold chain ─────────────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    "entry",
    [
        item("Epoetin Alfa 3000 IU", dosage_form="Injeksi"),
        item("Oksitosin 10 IU/mL Ampul"),
        item("Imunoglobulin Anti Tetanus 250 IU"),  # no form given: sold only as an injection
        item("Liraglutide 6 mg/mL"),
    ],
)
def test_cold_chain_injections_are_denied_but_flagged(entry: ItemIn) -> None:
    decision = assess(entry)
    assert not decision.deliverable
    assert [d.category for d in decision.denied_items] == ["injection"]
    assert decision.cold_chain


@pytest.mark.parametrize(
    "instructions",
    ["Simpan di lemari es", "simpan dalam KULKAS", "Simpan pada suhu 2–8 °C", "Store refrigerated"],
)
def test_storage_hints_flag_cold_chain(instructions: str) -> None:
    decision = assess(item("Sirup Khusus RS", instructions=instructions))
    assert decision.deliverable
    assert decision.cold_chain
    assert decision.cold_chain_items == ["Sirup Khusus RS"]


def test_storage_hint_negatives() -> None:
    assert not assess(item("Amlodipine 10 mg", instructions="3 x 1 sesudah makan")).cold_chain
    assert not assess(
        item("Amlodipine 10 mg", instructions="1 x 1 malam, simpan di tempat kering")
    ).cold_chain


def test_cold_chain_codes() -> None:
    policy = RestrictionPolicy(cold_chain_kfa_codes={"93009999"}, cold_chain_local_codes={"CC-1"})
    assert assess(item("Produk A", code="93009999", code_system=KFA), policy=policy).cold_chain
    assert assess(item("Produk B", local_code="cc-1"), policy=policy).cold_chain
    assert not assess(item("Produk B", local_code="cc-2"), policy=policy).cold_chain


def test_cold_chain_from_a_racikan_component() -> None:
    racikan = item("Racikan Tetes Mata", components=[ComponentIn(display="Insulin Regular 100 IU/mL")])
    decision = assess(racikan)
    assert decision.deliverable
    assert decision.cold_chain_items == ["Racikan Tetes Mata"]


# ── whole prescription ─────────────────────────────────────────────────────────────────────────────
def test_mixed_prescription_lists_every_denied_line() -> None:
    decision = assess(
        item("Amlodipine 10 mg Tablet"),
        item("Codein 10 mg"),
        item("Insulin Glargine 100 IU/mL Pen"),
        item("Ceftriaxone 1 g Injeksi"),
        item("Alprazolam 0,5 mg"),
    )
    assert not decision.deliverable
    assert [(d.item_index, d.category) for d in decision.denied_items] == [
        (1, "narcotic"),
        (3, "injection"),
        (4, "psychotropic"),
    ]
    assert decision.cold_chain_items == ["Insulin Glargine 100 IU/mL Pen"]
    assert "narkotika, psikotropika, injeksi" in decision.reason
    assert "Codein 10 mg, Ceftriaxone 1 g Injeksi, Alprazolam 0,5 mg" in decision.reason
    assert_bilingual(decision)


def test_deterministic_and_pure() -> None:
    rx = prescription(item("Codein 10 mg"), item("Insulin Glargine Pen"))
    before = rx.model_dump()
    assert assess_restrictions(rx, RestrictionPolicy()) == assess_restrictions(rx, RestrictionPolicy())
    assert rx.model_dump() == before


def test_policy_normalises_and_round_trips() -> None:
    policy = RestrictionPolicy(
        denied_drug_classes={"OBAT GOLONGAN-X": "narcotic"}, denied_name_terms={"Zat Lárangan": "oot"}
    )
    assert policy.denied_drug_classes == {"obat golongan x": "narcotic"}
    assert assess(item("ZAT LARANGAN 5 mg"), policy=policy).denied_items[0].category == "oot"
    assert assess(item("Codein 10 mg"), policy=policy).deliverable  # replaced wholesale
    assert RestrictionPolicy.model_validate_json(RestrictionPolicy().model_dump_json()) == RestrictionPolicy()


def test_default_terms_are_normalised() -> None:
    assert all(normalise(term) == term for term in DEFAULT_NAME_TERMS)


def test_cold_chain_reason_is_bilingual_whole_sentences() -> None:
    decision = assess(item("Insulin Glargine 100 IU/mL Pen"))
    assert decision.reason == (
        "Semua obat boleh diantar kurir; perlu rantai dingin (2–8 °C): Insulin Glargine 100 IU/mL Pen / "
        "All items may be delivered by courier; a cold chain (2–8 °C) is needed for: Insulin Glargine 100 IU/mL Pen"
    )


def test_component_reason_names_the_racikan_and_the_component() -> None:
    racikan = item("Puyer Batuk", components=[ComponentIn(display="Pseudoefedrin HCl 30 mg")])
    decision = assess(racikan)
    assert "Puyer Batuk (Pseudoefedrin HCl 30 mg)" in decision.reason


def test_english_reason_keeps_acronyms() -> None:
    decision = assess(item("Tramadol 50 mg Kapsul"), item("Sildenafil 50 mg"))
    assert "OOT (obat-obat tertentu), disfungsi ereksi tidak boleh diantar kurir" in decision.reason
    assert "/ OOT (drugs prone to abuse), erectile-dysfunction drugs may not be delivered" in decision.reason


@pytest.mark.parametrize(
    "display",
    ["Disposable Syringe 3 mL", "Spuit Insulin 1 mL", "Pen Needle 32G 4 mm", "Kasa Steril", "Alkohol Swab"],
)
def test_devices_for_home_use_are_deliverable(display: str) -> None:
    assert assess(item(display)).deliverable


def test_matched_term_is_deterministic_first_occurrence() -> None:
    decision = assess(item("Codeine (Codein) 10 mg"))
    assert decision.denied_items[0].matched_value == "codeine"
    decision = assess(
        item("Insulin Glargine Penfill"), policy=RestrictionPolicy(allow_self_use_insulin=False)
    )
    assert decision.denied_items[0].matched_value == "penfill"
