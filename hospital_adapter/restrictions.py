"""Which prescribed items a courier may not carry, and which need a cold chain.

The default deny-list is PerBPOM 8/2020 art. 27 (hospital.md §6.1), applied as the minimum until the restricted
annex of its replacement, PerBPOM 14/2024, is read (§6.2). Pharmacies and e-pharmacy operators may not
distribute online: (a) *obat keras* that are OOT (*obat-obat tertentu*); (b) drugs containing pharmaceutical
precursors; (c) erectile-dysfunction drugs; (d) injectables **except insulin for self-use**; (e) implants that
need a health worker; (f) narcotics and psychotropics. A Gancang Aron courier carries medicine the hospital
pharmacy has already dispensed, which is arguably handover rather than online distribution (§6.2), but the
conservative practice is to honour art. 27; a denied item is collected at the pharmacy.

How an item (and every racikan component) is matched, strongest first (§6.5):

1. ``denied_kfa_codes`` / ``denied_local_codes``: code → category lists the hospital configures. KFA carries no
   narcotic/OOT flag (§2.5), so the default lists are **empty**; no KFA code was verified for these drugs.
2. ``denied_drug_classes``: the hospital's class as written (Khanza ``golongan_barang``: "Narkotika",
   "Psikotropika", "Prekursor", "OOT", "Obat-Obat Tertentu" …), matched as whole words, not when negated
   ("Non Narkotika", "Bukan Psikotropika").
3. Injection: the dosage form (KFA form code ``BS034`` Larutan Injeksi, or words such as "Injeksi", "Vial",
   "Ampul", "Infus" — an infusion is a large-volume injection), those words in the name, or a substance sold
   only as an injection (``injection_only_terms``: biologics, oxytocin, enoxaparin, ceftriaxone …).
4. ``denied_name_terms``: active-ingredient names (Indonesian and English spellings) — see ``DEFAULT_NAME_TERMS``.

Names are compared case-, diacritic- and punctuation-insensitively and by whole words only, so "Paracetamol"
and "Metformin" match nothing, and "Efedrin" does not match inside "Pseudoefedrin" (each has its own entry).

**Insulin.** Art. 27(d) exempts insulin for self-use. Every insulin the hospital dispenses to an outpatient for
home delivery is for self-use, so any item whose name says insulin (or an insulin analogue/brand in
``insulin_terms``) is exempt from the *injection* rule whatever its form — pen, penfill cartridge or vial (a
patient may draw up from a vial with a syringe at home). The exemption covers only the injection rule: a code
the hospital lists explicitly still denies. Other self-injected drugs (e.g. GLP-1 pens, heparins) are not
insulin and stay denied.

**Vaccines** are given by health workers and need a strict cold chain; §6.4 infers that they fall under art.
27(d). With ``deny_vaccines`` (default) any vaccine is denied as an injection, including oral ones given in
the immunisation programme. Vaccines are also flagged cold-chain.

**Cold chain** is a flag, never a denial: insulin, vaccines, some biologics and oxytocin by name, configured
codes, or storage hints in the instructions ("simpan di lemari es", "2-8 °C").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hospital_adapter.canonical import PrescriptionIn

RestrictionCategory = Literal[
    "narcotic", "psychotropic", "precursor", "oot", "injection", "implant", "erectile_dysfunction"
]
MatchedBy = Literal["kfa_code", "local_code", "drug_class", "dosage_form", "name"]

KFA_SYSTEM = "sys-ids.kemkes.go.id/kfa"

CATEGORY_ORDER: tuple[RestrictionCategory, ...] = (
    "narcotic",
    "psychotropic",
    "precursor",
    "oot",
    "erectile_dysfunction",
    "implant",
    "injection",
)
CATEGORY_LABELS: dict[RestrictionCategory, tuple[str, str]] = {
    "narcotic": ("narkotika", "narcotic"),
    "psychotropic": ("psikotropika", "psychotropic"),
    "precursor": ("prekursor farmasi", "pharmaceutical precursor"),
    "oot": ("OOT (obat-obat tertentu)", "OOT (drugs prone to abuse)"),
    "erectile_dysfunction": ("disfungsi ereksi", "erectile-dysfunction"),
    "implant": ("implan", "implant"),
    "injection": (
        "injeksi (selain insulin untuk pemakaian sendiri)",
        "injectable (other than self-use insulin)",
    ),
}


def normalise(text: str) -> str:
    """Lower-case, strip diacritics, turn punctuation into spaces: "Kodéin-HCl" → "kodein hcl"."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(re.sub(r"[^0-9a-z]+", " ", ascii_text.casefold()).split())


_NEGATORS = frozenset({"non", "bukan", "tanpa", "bebas"})


def find_term(text: str, terms: Iterable[str]) -> str | None:
    """Which of ``terms`` (already normalised) occurs in normalised ``text`` as whole words, not negated.

    Deterministic whatever the iteration order of ``terms``: the match that starts first wins, then the longest.
    """
    padded = f" {text} "
    best: tuple[int, int, str] | None = None
    for term in terms:
        if not term:
            continue
        start = padded.find(f" {term} ")
        while start != -1:
            before = padded[:start].split()
            if not before or before[-1] not in _NEGATORS:
                candidate = (start, -len(term), term)
                if best is None or candidate < best:
                    best = candidate
                break
            start = padded.find(f" {term} ", start + 1)
    return best[2] if best is not None else None


def _terms(mapping: Mapping[str, RestrictionCategory], category: RestrictionCategory) -> list[str]:
    return [term for term, value in mapping.items() if value == category]


# Khanza golongan_barang and similar class names (site-defined, §4.1); keys are normalised.
DEFAULT_DRUG_CLASSES: dict[str, RestrictionCategory] = {
    "narkotika": "narcotic",
    "narkotik": "narcotic",
    "narcotic": "narcotic",
    "narcotics": "narcotic",
    "psikotropika": "psychotropic",
    "psikotropik": "psychotropic",
    "psychotropic": "psychotropic",
    "psychotropics": "psychotropic",
    # "Obat keras tertentu" (OKT) is the pre-1997 name for psychotropics, still seen in old masters.
    "okt": "psychotropic",
    "obat keras tertentu": "psychotropic",
    "prekursor": "precursor",
    "precursor": "precursor",
    "precursors": "precursor",
    "oot": "oot",
    "obat obat tertentu": "oot",
    "obat obatan tertentu": "oot",
    "obat tertentu": "oot",
    "implan": "implant",
    "implant": "implant",
    "injeksi": "injection",
    "injection": "injection",
    "injectable": "injection",
    "obat disfungsi ereksi": "erectile_dysfunction",
}

# Active ingredients, Indonesian and English spellings. Sources: OOT = PerBPOM 10/2019 (BPOM 2023 booklet
# "Cegah Penyalahgunaan Obat-Obat Tertentu"): tramadol, triheksifenidil, klorpromazin, amitriptilin, haloperidol
# and dekstrometorfan; dekstrometorfan is left out because art. 27(a) bars only OOT that are *obat keras*, and
# DMP products are *obat bebas terbatas*. Narcotics (UU 35/2009), psychotropics (UU 5/1997), precursors
# (PP 44/2010) and ED drugs are well-known members of those classes; hospital.md says these lists were not
# verified there (§6.1), so a hospital can replace ``denied_name_terms`` wholesale. "THP" is the usual Indonesian
# abbreviation for triheksifenidil in drug masters.
DEFAULT_NAME_TERMS: dict[str, RestrictionCategory] = {
    **dict.fromkeys(
        [
            "morfin",
            "morphine",
            "morfina",
            "kodein",
            "codein",
            "codeine",
            "dihidrokodein",
            "dihydrocodeine",
            "fentanil",
            "fentanyl",
            "sufentanil",
            "remifentanil",
            "alfentanil",
            "oksikodon",
            "oxycodone",
            "hidromorfon",
            "hydromorphone",
            "petidin",
            "pethidine",
            "meperidin",
            "meperidine",
            "metadon",
            "methadone",
            "kokain",
            "cocaine",
        ],
        "narcotic",
    ),
    **dict.fromkeys(
        [
            "diazepam",
            "alprazolam",
            "klonazepam",
            "clonazepam",
            "lorazepam",
            "midazolam",
            "estazolam",
            "nitrazepam",
            "bromazepam",
            "klobazam",
            "clobazam",
            "klordiazepoksid",
            "chlordiazepoxide",
            "fenobarbital",
            "phenobarbital",
            "phenobarbitone",
            "zolpidem",
            "metilfenidat",
            "methylphenidate",
        ],
        "psychotropic",
    ),
    **dict.fromkeys(
        [
            "efedrin",
            "ephedrine",
            "pseudoefedrin",
            "pseudoephedrine",
            "norefedrin",
            "norephedrine",
            "fenilpropanolamin",
            "phenylpropanolamine",
            "ergometrin",
            "ergometrine",
            "ergonovine",
            "ergotamin",
            "ergotamine",
        ],
        "precursor",
    ),
    **dict.fromkeys(
        [
            "tramadol",
            "triheksifenidil",
            "trihexyphenidyl",
            "trihexifenidil",
            "thp",
            "klorpromazin",
            "chlorpromazine",
            "amitriptilin",
            "amitriptyline",
            "haloperidol",
        ],
        "oot",
    ),
    **dict.fromkeys(["sildenafil", "tadalafil", "vardenafil", "avanafil"], "erectile_dysfunction"),
    **dict.fromkeys(["implan", "implant", "implanon", "jadena", "indoplant", "susuk kb"], "implant"),
}

DEFAULT_INJECTION_FORM_TERMS: frozenset[str] = frozenset(
    {
        "injeksi",
        "injection",
        "injectable",
        "inj",
        "injeksi pen",
        "vial",
        "ampul",
        "ampule",
        "ampoule",
        "ampulla",
        "infus",
        "infusion",
        "parenteral",
        "prefilled",
        "prefilled syringe",
        "pfs",
        "penfill",
        "flexpen",
        "kwikpen",
        "solostar",
        "flextouch",
        "pen injector",
    }
)
# KFA / SATUSEHAT medication-form codes (http://terminology.kemkes.go.id/CodeSystem/medication-form) verified as
# injections: BS034 Larutan Injeksi (§2.4). Add others per hospital once verified.
DEFAULT_INJECTION_FORM_CODES: frozenset[str] = frozenset({"bs034"})

DEFAULT_INSULIN_TERMS: frozenset[str] = frozenset(
    {
        "insulin",
        "insulina",
        "glargine",
        "glargin",
        "detemir",
        "degludec",
        "aspart",
        "lispro",
        "glulisine",
        "glulisin",
        "lantus",
        "levemir",
        "novorapid",
        "novomix",
        "humalog",
        "apidra",
        "tresiba",
        "toujeo",
        "humulin",
        "actrapid",
        "insulatard",
        "ryzodeg",
        "basaglar",
    }
)
DEFAULT_VACCINE_TERMS: frozenset[str] = frozenset({"vaksin", "vaccine", "vaccin", "vaksinasi", "imunisasi"})
# Biologics and hormones that are both refrigerated and given only by injection.
_REFRIGERATED_INJECTABLES: frozenset[str] = frozenset(
    {
        "imunoglobulin",
        "immunoglobulin",
        "immunoglobin",
        "eritropoietin",
        "erythropoietin",
        "epoetin",
        "filgrastim",
        "pegfilgrastim",
        "interferon",
        "peginterferon",
        "adalimumab",
        "etanercept",
        "infliximab",
        "rituximab",
        "trastuzumab",
        "liraglutide",
        "dulaglutide",
        "exenatide",
        "oksitosin",
        "oxytocin",
    }
)
DEFAULT_COLD_CHAIN_TERMS: frozenset[str] = _REFRIGERATED_INJECTABLES | {"semaglutide"}
# Substances sold in Indonesia only as injections, so a line naming them is an injection even when the
# hospital sends no dosage form (semaglutide is left out: it also exists as a tablet).
DEFAULT_INJECTION_ONLY_TERMS: frozenset[str] = _REFRIGERATED_INJECTABLES | frozenset(
    {
        "enoxaparin",
        "fondaparinux",
        "ceftriaxone",
        "seftriakson",
    }
)
DEFAULT_COLD_CHAIN_STORAGE_TERMS: frozenset[str] = frozenset(
    {
        "lemari es",
        "kulkas",
        "lemari pendingin",
        "refrigerator",
        "refrigerate",
        "refrigerated",
        "rantai dingin",
        "cold chain",
        "2 8 c",
        "2 8 derajat",
        "2 sampai 8",
        "2 hingga 8",
        "2 to 8",
        "2 8 oc",
        "suhu 2 8",
    }
)


def _normalised_set(values: Iterable[str]) -> frozenset[str]:
    return frozenset(normalised for value in values if (normalised := normalise(value)))


def _normalised_keys(values: Mapping[str, RestrictionCategory]) -> dict[str, RestrictionCategory]:
    return {normalised: category for key, category in values.items() if (normalised := normalise(key))}


def _code_keys(values: Mapping[str, RestrictionCategory]) -> dict[str, RestrictionCategory]:
    return {key.strip().casefold(): category for key, category in values.items() if key.strip()}


def _code_set(values: Iterable[str]) -> frozenset[str]:
    return frozenset(value.strip().casefold() for value in values if value.strip())


class RestrictionPolicy(BaseModel):
    """One hospital's deny-list and cold-chain hints; the defaults are PerBPOM 8/2020 art. 27.

    Codes are compared trimmed and case-insensitively; names, classes and terms normalised (see ``normalise``).
    ``allowed_kfa_codes``/``allowed_local_codes`` exempt an item the pharmacist has cleared from the class,
    form and name rules (never from the explicit denied-code lists).
    """

    model_config = ConfigDict(frozen=True)

    denied_kfa_codes: dict[str, RestrictionCategory] = Field(default_factory=dict)
    denied_local_codes: dict[str, RestrictionCategory] = Field(default_factory=dict)
    denied_drug_classes: dict[str, RestrictionCategory] = Field(
        default_factory=lambda: dict(DEFAULT_DRUG_CLASSES)
    )
    denied_name_terms: dict[str, RestrictionCategory] = Field(
        default_factory=lambda: dict(DEFAULT_NAME_TERMS)
    )
    injection_form_terms: frozenset[str] = DEFAULT_INJECTION_FORM_TERMS
    injection_form_codes: frozenset[str] = DEFAULT_INJECTION_FORM_CODES
    allow_self_use_insulin: bool = True
    insulin_terms: frozenset[str] = DEFAULT_INSULIN_TERMS
    deny_vaccines: bool = True
    injection_only_terms: frozenset[str] = DEFAULT_INJECTION_ONLY_TERMS
    vaccine_terms: frozenset[str] = DEFAULT_VACCINE_TERMS
    allowed_kfa_codes: frozenset[str] = Field(default_factory=frozenset)
    allowed_local_codes: frozenset[str] = Field(default_factory=frozenset)
    cold_chain_terms: frozenset[str] = DEFAULT_COLD_CHAIN_TERMS
    cold_chain_storage_terms: frozenset[str] = DEFAULT_COLD_CHAIN_STORAGE_TERMS
    cold_chain_kfa_codes: frozenset[str] = Field(default_factory=frozenset)
    cold_chain_local_codes: frozenset[str] = Field(default_factory=frozenset)

    @field_validator("denied_drug_classes", "denied_name_terms")
    @classmethod
    def _normalise_mapping(cls, value: dict[str, RestrictionCategory]) -> dict[str, RestrictionCategory]:
        return _normalised_keys(value)

    @field_validator("denied_kfa_codes", "denied_local_codes")
    @classmethod
    def _normalise_code_mapping(cls, value: dict[str, RestrictionCategory]) -> dict[str, RestrictionCategory]:
        return _code_keys(value)

    @field_validator(
        "injection_form_terms",
        "injection_only_terms",
        "insulin_terms",
        "vaccine_terms",
        "cold_chain_terms",
        "cold_chain_storage_terms",
    )
    @classmethod
    def _normalise_terms(cls, value: frozenset[str]) -> frozenset[str]:
        return _normalised_set(value)

    @field_validator(
        "injection_form_codes",
        "allowed_kfa_codes",
        "allowed_local_codes",
        "cold_chain_kfa_codes",
        "cold_chain_local_codes",
    )
    @classmethod
    def _normalise_codes(cls, value: frozenset[str]) -> frozenset[str]:
        return _code_set(value)


class DeniedItem(BaseModel):
    """One restricted item or racikan component; ``matched_value`` is the code/class/form/term that matched."""

    model_config = ConfigDict(frozen=True)

    item_index: int
    component_index: int | None
    display: str
    category: RestrictionCategory
    matched_by: MatchedBy
    matched_value: str


class RestrictionDecision(BaseModel):
    """``reason`` is Indonesian / English; ``cold_chain_items`` are display names (a flag, not a denial)."""

    model_config = ConfigDict(frozen=True)

    deliverable: bool
    denied_items: list[DeniedItem]
    cold_chain: bool
    cold_chain_items: list[str]
    reason: str


class _Line(BaseModel):
    """An item or a component, as the rules see it."""

    item_index: int
    component_index: int | None
    display: str
    code: str | None
    code_system: str | None
    local_code: str | None
    drug_class: str | None
    dosage_form: str | None = None


def _is_kfa(code_system: str | None) -> bool:
    # A missing system is read as KFA: SIMRS exports often carry the KFA code bare.
    if code_system is None or not code_system.strip():
        return True
    return code_system.strip().casefold().split("://", 1)[-1].rstrip("/") == KFA_SYSTEM


def _kfa_key(line: _Line) -> str | None:
    if line.code and line.code.strip() and _is_kfa(line.code_system):
        return line.code.strip().casefold()
    return None


def _local_key(line: _Line) -> str | None:
    return line.local_code.strip().casefold() if line.local_code and line.local_code.strip() else None


def _matches(line: _Line, policy: RestrictionPolicy, insulin: bool) -> list[DeniedItem]:
    """Every category this line falls in, each with its strongest matching method."""
    found: dict[RestrictionCategory, tuple[MatchedBy, str]] = {}

    def add(category: RestrictionCategory, by: MatchedBy, value: str) -> None:
        found.setdefault(category, (by, value))

    kfa, local = _kfa_key(line), _local_key(line)
    if kfa is not None and kfa in policy.denied_kfa_codes:
        add(policy.denied_kfa_codes[kfa], "kfa_code", line.code or "")
    if local is not None and local in policy.denied_local_codes:
        add(policy.denied_local_codes[local], "local_code", line.local_code or "")
    cleared = (kfa is not None and kfa in policy.allowed_kfa_codes) or (
        local is not None and local in policy.allowed_local_codes
    )
    if not cleared:
        exempt_injection = insulin and policy.allow_self_use_insulin
        rule_found: dict[RestrictionCategory, tuple[MatchedBy, str]] = {}
        if line.drug_class:
            drug_class = normalise(line.drug_class)
            for category in CATEGORY_ORDER:
                term = find_term(drug_class, _terms(policy.denied_drug_classes, category))
                if term is not None:
                    rule_found.setdefault(category, ("drug_class", line.drug_class))
        if line.dosage_form:
            form = normalise(line.dosage_form)
            if form.replace(" ", "") in policy.injection_form_codes or find_term(
                form, policy.injection_form_terms
            ):
                rule_found.setdefault("injection", ("dosage_form", line.dosage_form))
            implant_term = find_term(form, _terms(policy.denied_name_terms, "implant"))
            if implant_term is not None:
                rule_found.setdefault("implant", ("dosage_form", line.dosage_form))
        name = normalise(line.display)
        for category in CATEGORY_ORDER:
            term = find_term(name, _terms(policy.denied_name_terms, category))
            if term is not None:
                rule_found.setdefault(category, ("name", term))
        injection_term = find_term(name, policy.injection_form_terms)
        if injection_term is not None:
            rule_found.setdefault("injection", ("name", injection_term))
        injection_only = find_term(name, policy.injection_only_terms)
        if injection_only is not None:
            rule_found.setdefault("injection", ("name", injection_only))
        if policy.deny_vaccines:
            vaccine_term = find_term(name, policy.vaccine_terms)
            if vaccine_term is not None:
                rule_found.setdefault("injection", ("name", vaccine_term))
        if exempt_injection:
            rule_found.pop("injection", None)
        for category, (by, value) in rule_found.items():
            add(category, by, value)
    return [
        DeniedItem(
            item_index=line.item_index,
            component_index=line.component_index,
            display=line.display,
            category=category,
            matched_by=found[category][0],
            matched_value=found[category][1],
        )
        for category in CATEGORY_ORDER
        if category in found
    ]


def _lines(prescription: PrescriptionIn) -> list[tuple[_Line, list[_Line]]]:
    result: list[tuple[_Line, list[_Line]]] = []
    for index, item in enumerate(prescription.items):
        head = _Line(
            item_index=index,
            component_index=None,
            display=item.display,
            code=item.code,
            code_system=item.code_system,
            local_code=item.local_code,
            drug_class=item.drug_class,
            dosage_form=item.dosage_form,
        )
        parts = [
            _Line(
                item_index=index,
                component_index=position,
                display=component.display,
                code=component.code,
                code_system=component.code_system,
                local_code=component.local_code,
                drug_class=component.drug_class,
            )
            for position, component in enumerate(item.components)
        ]
        result.append((head, parts))
    return result


def _is_cold_chain(line: _Line, instructions: str | None, policy: RestrictionPolicy) -> bool:
    kfa, local = _kfa_key(line), _local_key(line)
    if (kfa is not None and kfa in policy.cold_chain_kfa_codes) or (
        local is not None and local in policy.cold_chain_local_codes
    ):
        return True
    name = normalise(line.display)
    terms = policy.insulin_terms | policy.vaccine_terms | policy.cold_chain_terms
    if find_term(name, terms) is not None:
        return True
    return (
        bool(instructions)
        and find_term(normalise(instructions or ""), policy.cold_chain_storage_terms) is not None
    )


def _join(values: list[str]) -> str:
    return ", ".join(values)


def _reason(prescription: PrescriptionIn, denied: list[DeniedItem], cold_chain_items: list[str]) -> str:
    if not denied:
        if not cold_chain_items:
            return "Semua obat boleh diantar kurir / All items may be delivered by courier"
        cold = _join(cold_chain_items)
        return (
            f"Semua obat boleh diantar kurir; perlu rantai dingin (2–8 °C): {cold} / "
            f"All items may be delivered by courier; a cold chain (2–8 °C) is needed for: {cold}"
        )
    categories = [category for category in CATEGORY_ORDER if any(d.category == category for d in denied)]
    names = list(
        dict.fromkeys(
            d.display
            if d.component_index is None
            else f"{prescription.items[d.item_index].display} ({d.display})"
            for d in denied
        )
    )
    indonesian = ", ".join(CATEGORY_LABELS[category][0] for category in categories)
    english = ", ".join(CATEGORY_LABELS[category][1] for category in categories)
    return (
        f"Obat golongan {indonesian} tidak boleh diantar kurir (PerBPOM 8/2020 pasal 27): {_join(names)}; "
        f"pasien mengambil di farmasi / {english[:1].upper()}{english[1:]} drugs may not be delivered by courier "
        f"(PerBPOM 8/2020 art. 27): {_join(names)}; the patient collects them at the pharmacy"
    )


def assess_restrictions(prescription: PrescriptionIn, policy: RestrictionPolicy) -> RestrictionDecision:
    """Check every item and every racikan component; pure and deterministic.

    The prescription is deliverable only if nothing is denied (a paper Rx is released as one parcel; a
    denied line means the patient comes to the pharmacy). The insulin exemption is decided per item: the item
    or any of its components naming insulin makes the item's injection match void.
    """
    denied: list[DeniedItem] = []
    cold_chain_items: list[str] = []
    for (head, parts), item in zip(_lines(prescription), prescription.items, strict=True):
        names = [normalise(line.display) for line in (head, *parts)]
        insulin = any(find_term(name, policy.insulin_terms) is not None for name in names)
        for line in (head, *parts):
            denied.extend(_matches(line, policy, insulin))
        if any(_is_cold_chain(line, item.instructions, policy) for line in (head, *parts)):
            cold_chain_items.append(item.display)
    return RestrictionDecision(
        deliverable=not denied,
        denied_items=denied,
        cold_chain=bool(cold_chain_items),
        cold_chain_items=cold_chain_items,
        reason=_reason(prescription, denied, cold_chain_items),
    )
