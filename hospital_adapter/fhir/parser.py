"""FHIR R4 (SATUSEHAT-profiled) payloads → canonical prescriptions.

Hospitals already generate SATUSEHAT-shaped FHIR for the national platform, so accepting that shape is the
cheapest integration for them. But SATUSEHAT payloads are written for a registry, not for a courier: the
address and phone live on a Patient that may sit elsewhere in the Bundle, items of one paper prescription
arrive as separate MedicationRequests, and the real examples carry known defects. This module resolves all
of that and rejects, with a FHIRPath location, anything a courier could not act on.

Privacy rule: the NIK (national ID) is never copied into the canonical model, not even as a fallback key.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, NoReturn, TypeVar, get_args

from annotated_types import MaxLen
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.address import Address
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.coverage import Coverage
from fhir.resources.R4B.medication import Medication
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from hospital_adapter.canonical import (
    AddressIn,
    CoverageIn,
    ItemIn,
    PatientIn,
    PrescriptionIn,
    PrescriptionStatus,
    SourceInputError,
)

SOURCE_NAME = "fhir"

Issue = tuple[str, str, str | None]
_Model = TypeVar("_Model", bound=Resource)

ACCEPTED_BUNDLE_TYPES = ("collection", "transaction", "batch")
ORDER_INTENTS = frozenset({"order", "original-order", "reflex-order", "filler-order", "instance-order"})
ALL_INTENTS = ORDER_INTENTS | {"proposal", "plan", "option"}
STATUSES: tuple[PrescriptionStatus, ...] = get_args(PrescriptionStatus)

# Systems are compared after _system_key(): SIMRS bridges mix http/https, case and trailing slashes, and
# for the NIK a missed variant would leak a national ID, so matching is deliberately generous.
PRESCRIPTION_SYSTEM_PREFIX = "sys-ids.kemkes.go.id/prescription/"
KFA_SYSTEM = "sys-ids.kemkes.go.id/kfa"
IHS_SYSTEMS = frozenset({"fhir.kemkes.go.id/id/ihs-number", "fhir.kemkes.go.id/id/patient-ihs-number"})
NIK_SYSTEM = "fhir.kemkes.go.id/id/nik"
# Passport and family-card numbers are as sensitive as the NIK and just as useless to a courier.
IDENTITY_DOCUMENT_SYSTEMS = frozenset({NIK_SYSTEM, "fhir.kemkes.go.id/id/paspor", "fhir.kemkes.go.id/id/kk"})
ADMINISTRATIVE_CODE_URL = "fhir.kemkes.go.id/r4/structuredefinition/administrativecode"
ADMINISTRATIVE_LEVELS = {
    "province": "province_code",
    "city": "city_code",
    "district": "district_code",
    "village": "village_code",
    "rt": "rt",
    "rw": "rw",
}

# When items of one prescription disagree, the prescription takes the most actionable status and carries
# only the items in that status: an active Rx with one cancelled line must not put the cancelled drug in
# the bag, and a fully cancelled Rx still reaches dispatch so an in-flight courier can be stopped.
STATUS_PRECEDENCE: tuple[PrescriptionStatus, ...] = (
    "active",
    "on-hold",
    "draft",
    "unknown",
    "completed",
    "stopped",
    "cancelled",
    "entered-in-error",
)
# "old" addresses and numbers are explicitly no longer valid; everything else is usable, home first.
ADDRESS_USE_ORDER = {"home": 0, None: 1, "temp": 2, "work": 3, "billing": 4}
NAME_USE_ORDER = {"official": 0, "usual": 0, None: 1}
MAX_VALIDATION_ISSUES = 20
# Real SATUSEHAT payloads nest about 11 levels; fhir.resources runs out of stack between 200 and 300.
MAX_JSON_DEPTH = 64
MAX_PRESCRIPTION_ID = next(
    rule.max_length
    for rule in PrescriptionIn.model_fields["prescription_id"].metadata
    if isinstance(rule, MaxLen)
)

_HISTORY_SUFFIX = re.compile(r"/_history/[^/]*$")
_TYPE_ID_TAIL = re.compile(r"(?:^|/)([A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64})$")
_SCHEME = re.compile(r"^https?://")
_CODE_NOISE = re.compile(r"[\s.]")


def parse_bundle(raw: bytes) -> list[PrescriptionIn]:
    """Parse a ``collection``, ``transaction`` or ``batch`` Bundle into one PrescriptionIn per paper Rx."""
    document = _decode(raw, "Bundle", "a FHIR R4 Bundle (collection, transaction or batch)")
    bundle = _validate(Bundle, document)
    if bundle.type not in ACCEPTED_BUNDLE_TYPES:
        _reject(
            "not-supported",
            f"Bundle.type {bundle.type!r} is not accepted; send a {', '.join(ACCEPTED_BUNDLE_TYPES)} Bundle",
            "Bundle.type",
        )
    index = _Index("Bundle")
    for position, entry in enumerate(bundle.entry or []):
        # Entries without a resource are transaction DELETEs or batch GETs: nothing to deliver.
        if entry.resource is not None:
            index.add(entry.resource, f"Bundle.entry[{position}].resource", entry.fullUrl)
    requests = index.top_level(MedicationRequest)
    if not requests:
        _reject("required", "Bundle has no MedicationRequest", "Bundle.entry")
    return _canonical(requests, index)


def parse_medication_request(raw: bytes) -> list[PrescriptionIn]:
    """Parse one MedicationRequest posted on its own; its Patient must be contained in it."""
    document = _decode(
        raw, "MedicationRequest", "a single MedicationRequest (contained or referenced Patient)"
    )
    request = _validate(MedicationRequest, document)
    index = _Index("MedicationRequest's contained resources")
    index.add(request, "MedicationRequest", None)
    return _canonical(index.top_level(MedicationRequest), index)


def _canonical(requests: list[_Request], index: _Index) -> list[PrescriptionIn]:
    """A value the FHIR model takes but the canonical one does not (a NUL, a unit too long) is a refusal."""
    try:
        return _prescriptions(requests, index)
    except ValidationError as exc:
        raise SourceInputError.from_validation_error(exc) from exc


@dataclass(frozen=True)
class _Located:
    """A resource plus where it sits, so every diagnostic can point at the offending element."""

    resource: Resource
    path: str
    # Path of the top-level resource whose ``contained`` answers ``#id`` references made from here.
    scope: str


class _Index:
    """Resolves references the way FHIR defines them inside one payload: fullUrl, Type/id, ``#contained``."""

    def __init__(self, noun: str) -> None:
        self.noun = noun
        self._top_level: list[_Located] = []
        self._by_url: dict[str, _Located] = {}
        self._by_type_id: dict[str, _Located] = {}
        self._contained: dict[tuple[str, str], _Located] = {}

    def add(self, resource: Resource, path: str, full_url: str | None) -> None:
        located = _Located(resource, path, path)
        self._top_level.append(located)
        if full_url:
            self._by_url.setdefault(full_url, located)
        if resource.id:
            self._by_type_id.setdefault(f"{resource.get_resource_type()}/{resource.id}", located)
        for position, inner in enumerate(getattr(resource, "contained", None) or []):
            if inner.id:
                self._contained.setdefault(
                    (path, inner.id), _Located(inner, f"{path}.contained[{position}]", path)
                )

    def top_level(self, kind: type[_Model]) -> list[tuple[_Located, _Model]]:
        return [
            (located, located.resource) for located in self._top_level if isinstance(located.resource, kind)
        ]

    def resolve(self, reference: Reference | None, holder: _Located) -> _Located | None:
        target = (reference.reference or "").strip() if reference else ""
        if target.startswith("#"):
            return self._contained.get((holder.scope, target[1:]))
        target = _HISTORY_SUFFIX.sub("", target)
        if not target:
            return None
        if target in self._by_url:
            return self._by_url[target]
        # Relative "Patient/1" or an absolute RESTful URL: both name the resource by type and id.
        match = _TYPE_ID_TAIL.search(target)
        return self._by_type_id.get(match[1]) if match else None


_Request = tuple[_Located, MedicationRequest]


@dataclass(frozen=True)
class _Line:
    """One accepted MedicationRequest, already mapped, waiting to be grouped into its prescription."""

    located: _Located
    request: MedicationRequest
    key: tuple[str | None, str]
    patient: _Located
    patient_resource: Patient
    item: ItemIn


def _prescriptions(requests: list[_Request], index: _Index) -> list[PrescriptionIn]:
    issues: list[Issue] = []
    for located, request in requests:
        issues.extend(_code_issues(request, located.path))
    _raise_if(issues)

    orders = [(located, request) for located, request in requests if _is_dispatchable(request)]
    if not orders:
        intents = sorted({str(request.intent) for _, request in requests})
        _reject(
            "required",
            f"No MedicationRequest is an order to dispense (intent {', '.join(intents)}; "
            "proposals, plans, options and doNotPerform requests are not dispatched)",
            f"{requests[0][0].path}.intent",
        )

    patients: dict[str, PatientIn] = {}
    checked: set[str] = set()  # so a Patient shared by several requests is reported once
    lines: list[_Line] = []
    for located, request in orders:
        key = _prescription_key(request, located.path, issues)
        subject = _subject(located, request, index, issues)
        item = _item(located, request, index, issues)
        if subject is not None and subject[0].path not in checked:
            checked.add(subject[0].path)
            patient = _patient(*subject, issues)
            if patient is not None:
                patients[subject[0].path] = patient
        if key is not None and subject is not None and item is not None:
            lines.append(_Line(located, request, key, *subject, item))
    _raise_if(issues)

    groups: dict[tuple[str | None, str], list[_Line]] = {}
    for line in lines:
        groups.setdefault(line.key, []).append(line)
    for (_, value), members in groups.items():
        subjects = sorted({line.patient.path for line in members})
        if len(subjects) > 1:
            issues.append(
                (
                    "business-rule",
                    f"Prescription {value!r} groups MedicationRequests for different patients "
                    f"({', '.join(subjects)}); one paper prescription has one patient",
                    f"{members[0].located.path}.identifier",
                )
            )
    _raise_if(issues)
    return [
        _prescription(key, members, patients[members[0].patient.path], index)
        for key, members in groups.items()
    ]


def _prescription(
    key: tuple[str | None, str], members: list[_Line], patient: PatientIn, index: _Index
) -> PrescriptionIn:
    system, value = key
    statuses = {line.request.status for line in members}
    status = next(candidate for candidate in STATUS_PRECEDENCE if candidate in statuses)
    authored = [moment for line in members if (moment := _aware(line.request.authoredOn)) is not None]
    return PrescriptionIn(
        source=SOURCE_NAME,
        prescription_id=value,
        identifier_system=system,
        status=status,
        authored_on=min(authored, default=None),
        patient=patient,
        items=[line.item for line in members if line.request.status == status],
        coverage=_coverages(members, index),
    )


def _decode(raw: bytes, resource_type: str, expected: str) -> dict[str, Any]:
    try:
        document = json.loads(raw, parse_constant=_reject_json_constant)
    except (ValueError, RecursionError) as exc:
        raise SourceInputError(
            [("invalid", f"Body is not valid JSON ({exc}); expected {expected}", None)], http_status=400
        ) from exc
    if not isinstance(document, dict) or document.get("resourceType") != resource_type:
        found = (
            f"resourceType {document.get('resourceType')!r}"
            if isinstance(document, dict)
            else f"a JSON {type(document).__name__}, not an object"
        )
        raise SourceInputError(
            [("invalid", f"Expected {expected}; got {found}", "resourceType")], http_status=400
        )
    _raise_if(_structure_issues(document, resource_type))
    return document


def _reject_json_constant(constant: str) -> NoReturn:
    # Python's json accepts NaN and Infinity; JSON and FHIR do not, and NaN would reach ItemIn.quantity.
    raise ValueError(f"{constant} is not a JSON number")


def _structure_issues(document: dict[str, Any], root: str) -> list[Issue]:
    """Find what fhir.resources would crash on instead of reporting.

    An unknown resourceType surfaces from it as a bare ``KeyError``, and deep nesting exhausts the stack
    (around 150 nested extensions), so both are caught here first, with a location. The walk is
    iterative for the same reason.
    """
    issues: list[Issue] = []
    pending: list[tuple[str, dict[str, Any] | list[Any], int]] = [(root, document, 1)]
    while pending:
        path, node, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            return [("too-costly", f"JSON nests deeper than {MAX_JSON_DEPTH} levels", path)]
        if isinstance(node, dict):
            if "resourceType" in node and not _is_resource_type(node["resourceType"]):
                issues.append(
                    (
                        "structure",
                        f"Unknown FHIR resourceType {node['resourceType']!r}",
                        f"{path}.resourceType",
                    )
                )
            children = [(f"{path}.{name}", value) for name, value in node.items()]
        else:
            children = [(f"{path}[{position}]", value) for position, value in enumerate(node)]
        # Reversed so that issues come out in document order.
        pending.extend(
            (child_path, value, depth + 1)
            for child_path, value in reversed(children)
            if isinstance(value, dict | list)
        )
    return issues


def _is_resource_type(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        get_fhir_model_class(value)
    except ValueError:
        return False
    return True


def _validate(model: type[_Model], document: dict[str, Any]) -> _Model:
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        errors = exc.errors()
        # The message only, never the input: a rejected identifier could be a NIK.
        issues: list[Issue] = [
            ("structure", error["msg"], _expression(model.__name__, error["loc"]))
            for error in errors[:MAX_VALIDATION_ISSUES]
        ]
        if len(errors) > MAX_VALIDATION_ISSUES:
            issues.append(("structure", f"{len(errors) - MAX_VALIDATION_ISSUES} more errors not shown", None))
        raise SourceInputError(issues) from exc


def _expression(root: str, location: tuple[int | str, ...]) -> str:
    return root + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in location)


def _code_issues(request: MedicationRequest, path: str) -> list[Issue]:
    """Check the two required bindings fhir.resources leaves unchecked; a wrong code must not guess."""
    issues: list[Issue] = []
    if request.status not in STATUSES:
        issues.append(
            (
                "code-invalid",
                f"MedicationRequest.status {request.status!r} is not one of {', '.join(STATUSES)}",
                f"{path}.status",
            )
        )
    if request.intent not in ALL_INTENTS:
        issues.append(
            (
                "code-invalid",
                f"MedicationRequest.intent {request.intent!r} is not one of {', '.join(sorted(ALL_INTENTS))}",
                f"{path}.intent",
            )
        )
    return issues


def _is_dispatchable(request: MedicationRequest) -> bool:
    return request.intent in ORDER_INTENTS and not request.doNotPerform


def _prescription_key(
    request: MedicationRequest, path: str, issues: list[Issue]
) -> tuple[str | None, str] | None:
    """SATUSEHAT's whole-Rx identifier, else groupIdentifier, else the first identifier with a value."""
    identifiers = [identifier for identifier in request.identifier or [] if _text(identifier.value)]
    chosen = next(
        (
            identifier
            for identifier in identifiers
            if _system_key(identifier.system).startswith(PRESCRIPTION_SYSTEM_PREFIX)
        ),
        None,
    )
    if chosen is None and request.groupIdentifier is not None and _text(request.groupIdentifier.value):
        chosen = request.groupIdentifier
    if chosen is None and identifiers:
        chosen = identifiers[0]
    if chosen is None:
        issues.append(
            (
                "required",
                "MedicationRequest has no identifier or groupIdentifier to name its prescription by",
                f"{path}.identifier",
            )
        )
        return None
    value = _text(chosen.value) or ""
    if len(value) > MAX_PRESCRIPTION_ID:
        issues.append(
            (
                "too-long",
                f"Prescription identifier is {len(value)} characters; at most {MAX_PRESCRIPTION_ID} are kept",
                f"{path}.identifier",
            )
        )
        return None
    return (chosen.system, value)


def _subject(
    located: _Located, request: MedicationRequest, index: _Index, issues: list[Issue]
) -> tuple[_Located, Patient] | None:
    if request.subject is None:
        issues.append(
            (
                "required",
                "MedicationRequest.subject is missing: whose medicine is it?",
                f"{located.path}.subject",
            )
        )
        return None
    target = index.resolve(request.subject, located)
    reference = request.subject.reference or request.subject.display or "(no reference)"
    if target is None:
        issues.append(
            (
                "required",
                f"MedicationRequest.subject {reference!r} is not in the {index.noun}; include the Patient "
                "resource, whose address and phone the courier needs",
                f"{located.path}.subject",
            )
        )
        return None
    if not isinstance(target.resource, Patient):
        issues.append(
            (
                "required",
                f"MedicationRequest.subject {reference!r} is a {target.resource.get_resource_type()}, "
                "not a Patient; medicine is delivered to one patient",
                f"{located.path}.subject",
            )
        )
        return None
    return target, target.resource


def _patient(located: _Located, patient: Patient, issues: list[Issue]) -> PatientIn | None:
    if patient.deceasedBoolean or patient.deceasedDateTime is not None:
        issues.append(("business-rule", "Patient is recorded as deceased", f"{located.path}.deceased[x]"))
        return None
    source_id = _patient_key(patient)
    name = _person_name(patient)
    address = _address(patient)
    phone = _phone(patient)
    if source_id is None:
        issues.append(
            (
                "required",
                "Patient has neither an IHS number, another non-NIK identifier, nor an id",
                located.path,
            )
        )
    if name is None:
        issues.append(("required", "Patient has no name for the courier to ask for", f"{located.path}.name"))
    if address is None:
        issues.append(
            (
                "required",
                "Patient has no usable address: one that is not 'old' and has text or a line to deliver to",
                f"{located.path}.address",
            )
        )
    if phone is None:
        issues.append(
            (
                "required",
                "Patient has no phone: a telecom with system phone or sms, a value, and use other than 'old'",
                f"{located.path}.telecom",
            )
        )
    if source_id is None or name is None or address is None or phone is None:
        return None
    return PatientIn(source_id=source_id, name=name, phone=phone, address=address)


def _identity_document_numbers(patient: Patient) -> set[str]:
    return {
        value
        for identifier in patient.identifier or []
        if _system_key(identifier.system) in IDENTITY_DOCUMENT_SYSTEMS and (value := _text(identifier.value))
    }


def _patient_key(patient: Patient) -> str | None:
    """IHS number, else the MRN or first other identifier, else Patient.id; never a NIK, passport or KK."""
    documents = _identity_document_numbers(patient)
    usable = [
        (identifier, value)
        for identifier in patient.identifier or []
        if (value := _text(identifier.value))
        and value not in documents
        and _system_key(identifier.system) not in IDENTITY_DOCUMENT_SYSTEMS
    ]
    for identifier, value in usable:
        if _system_key(identifier.system) in IHS_SYSTEMS:
            return value
    for identifier, value in usable:
        if _has_code(identifier.type, "MR"):
            return value
    if usable:
        return usable[0][1]
    return _text(patient.id)


def _person_name(patient: Patient) -> str | None:
    names = sorted(
        (name for name in patient.name or [] if name.use != "old"),
        key=lambda name: NAME_USE_ORDER.get(name.use, 2),
    )
    for name in names:
        parts = [_text(part) for part in [*(name.given or []), name.family]]
        text = _text(name.text) or _text(" ".join(part for part in parts if part))
        if text:
            return text
    return None


def _phone(patient: Patient) -> str | None:
    candidates = [
        (point.use != "mobile", point.rank if point.rank is not None else math.inf, position, value)
        for position, point in enumerate(patient.telecom or [])
        if point.system in ("phone", "sms") and point.use != "old" and (value := _text(point.value))
    ]
    return min(candidates)[3] if candidates else None


def _address(patient: Patient) -> AddressIn | None:
    candidates = [
        (ADDRESS_USE_ORDER[address.use], position, address)
        for position, address in enumerate(patient.address or [])
        if address.use in ADDRESS_USE_ORDER and _address_text(address)
    ]
    if not candidates:
        return None
    address = min(candidates, key=lambda candidate: candidate[:2])[2]
    codes = _administrative_codes(address)
    return AddressIn(
        text=_address_text(address),
        lines=_lines(address),
        city=_text(address.city),
        district=_text(address.district),
        postal_code=_text(address.postalCode),
        province_code=codes.get("province_code"),
        city_code=codes.get("city_code"),
        district_code=codes.get("district_code"),
        village_code=codes.get("village_code"),
        rt=codes.get("rt"),
        rw=codes.get("rw"),
    )


def _lines(address: Address) -> list[str]:
    return [line for raw in address.line or [] if (line := _text(raw))]


def _address_text(address: Address) -> str:
    return _text(address.text) or ", ".join(_lines(address))


def _administrative_codes(address: Address) -> dict[str, str]:
    """Read SATUSEHAT's AdministrativeCode extension, whose URL is spelled with either case of ``A``."""
    for extension in address.extension or []:
        if _system_key(extension.url) != ADMINISTRATIVE_CODE_URL:
            continue
        codes: dict[str, str] = {}
        for level in extension.extension or []:
            field = ADMINISTRATIVE_LEVELS.get(level.url or "")
            # Codes are kept as given (lengths vary even in the official examples); only the dotted
            # Kemendagri notation and stray whitespace are removed.
            code = _CODE_NOISE.sub("", level.valueCode or level.valueString or "")
            if field and code:
                codes[field] = code
        return codes
    return {}


def _item(located: _Located, request: MedicationRequest, index: _Index, issues: list[Issue]) -> ItemIn | None:
    concept: CodeableConcept | None = request.medicationCodeableConcept
    fallback: str | None = None
    if request.medicationReference is not None:
        fallback = request.medicationReference.display
        target = index.resolve(request.medicationReference, located)
        if target is not None and isinstance(target.resource, Medication):
            concept = target.resource.code
    coding = _preferred_coding(concept)
    displays = [
        coding.display if coding else None,
        concept.text if concept else None,
        fallback,
        *(other.display for other in (concept.coding or [] if concept else [])),
        coding.code if coding else None,
    ]
    display = next((text for candidate in displays if (text := _text(candidate))), None)
    if display is None:
        issues.append(
            (
                "required",
                "MedicationRequest names no medication: no code or text, and medicationReference neither "
                f"resolves to a Medication in the {index.noun} nor has a display",
                f"{located.path}.medication[x]",
            )
        )
        return None
    dispense = request.dispenseRequest
    quantity = dispense.quantity if dispense is not None else None
    return ItemIn(
        code=_text(coding.code) if coding else None,
        code_system=coding.system if coding else None,
        display=display,
        quantity=float(quantity.value) if quantity is not None and quantity.value is not None else None,
        unit=(_text(quantity.unit) or _text(quantity.code)) if quantity is not None else None,
        instructions=_instructions(request),
    )


def _preferred_coding(concept: CodeableConcept | None) -> Coding | None:
    codings = [coding for coding in (concept.coding or [] if concept else []) if _text(coding.code)]
    return next((coding for coding in codings if _system_key(coding.system) == KFA_SYSTEM), None) or next(
        iter(codings), None
    )


def _instructions(request: MedicationRequest) -> str | None:
    """What goes on the label: per dosage, the patient-facing wording, else the prescriber's SIG text."""
    dosages = sorted(request.dosageInstruction or [], key=lambda dosage: dosage.sequence or 0)
    texts = [text for dosage in dosages if (text := _text(dosage.patientInstruction) or _text(dosage.text))]
    return "; ".join(texts) or None


def _coverages(members: list[_Line], index: _Index) -> list[CoverageIn]:
    """Coverages the requests name in ``insurance``, then any other Coverage whose beneficiary is the patient.

    Only ``active`` ones count: eligibility is decided on coverage, and a cancelled policy must not pass.
    """
    patient = members[0].patient
    found: dict[str, Coverage] = {}
    for line in members:
        for reference in line.request.insurance or []:
            target = index.resolve(reference, line.located)
            if target is not None and isinstance(target.resource, Coverage):
                found.setdefault(target.path, target.resource)
    for located, coverage in index.top_level(Coverage):
        beneficiary = index.resolve(coverage.beneficiary, located)
        if beneficiary is not None and beneficiary.path == patient.path:
            found.setdefault(located.path, coverage)
    documents = _identity_document_numbers(members[0].patient_resource)
    return [_coverage(coverage, documents) for coverage in found.values() if coverage.status == "active"]


def _coverage(coverage: Coverage, documents: set[str]) -> CoverageIn:
    payor = next(iter(coverage.payor or []), None)
    classes = coverage.class_fhir or []
    # SATUSEHAT puts the JKN segment (e.g. "PBI (APBN)", which decides eligibility) in class[type=group].
    chosen = next((item for item in classes if _has_code(item.type, "group")), None) or next(
        (item for item in classes if _has_code(item.type, "plan")), None
    )
    subscriber_id = _text(coverage.subscriberId)
    return CoverageIn(
        payer=(_text(payor.display) or _text(payor.reference)) if payor is not None else None,
        plan=(_text(chosen.name) or _text(chosen.value)) if chosen is not None else None,
        subscriber_id=None if subscriber_id in documents else subscriber_id,
    )


def _aware(value: object) -> datetime | None:
    """FHIR dateTime → aware datetime; a bare date becomes 00:00 UTC, which is that date in every Indonesian zone.

    Partial dates (``2015`` or ``2015-01``) say too little to order prescriptions by, so they become None.
    """
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC)
    return None


def _has_code(concept: CodeableConcept | None, code: str) -> bool:
    # Compared on code alone: real payloads misspell systems (see the Coverage.type "CodeSystem v3-ActCode").
    return concept is not None and any(coding.code == code for coding in concept.coding or [])


def _system_key(uri: str | None) -> str:
    return _SCHEME.sub("", (uri or "").strip().lower()).rstrip("/")


def _text(value: str | None) -> str | None:
    stripped = (value or "").strip()
    return stripped or None


def _raise_if(issues: Iterable[Issue]) -> None:
    collected = list(issues)
    if collected:
        raise SourceInputError(collected)


def _reject(code: str, diagnostics: str, expression: str | None) -> NoReturn:
    raise SourceInputError([(code, diagnostics, expression)])


def parse_resource(raw: bytes) -> list[PrescriptionIn]:
    """A Bundle or a lone MedicationRequest, told apart by resourceType: what a file or a re-run holds."""
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        document = None
    if isinstance(document, dict) and document.get("resourceType") == "MedicationRequest":
        return parse_medication_request(raw)
    return parse_bundle(raw)
