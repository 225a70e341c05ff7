"""Payloads for the FHIR pull and Subscription tests, built from the shared SATUSEHAT and FHIR examples; the
hospital's FHIR server as respx answers for it; what a poll left in the inbox and the orders."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import respx
from sqlmodel import col, select

from hospital_adapter.canonical import PrescriptionIn
from hospital_adapter.fhir.pull import PullResult

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "examples"
RX_SYSTEM = "http://sys-ids.kemkes.go.id/prescription/10000004"
ITEM_SYSTEM = "http://sys-ids.kemkes.go.id/prescription-item/10000004"
MEDICATION_ID = "aa771fa4-9e13-44fd-9881-e9558d67c9a8"
BASE = "https://fhir.rsud-blambangan.example/fhir-r4/v1"
OAUTH = "https://api-satusehat-stg.dto.kemkes.go.id/oauth2/v1"
PAGE_2 = f"{BASE}?_getpages=9d3c6a&_getpagesoffset=50&_count=50&_bundletype=searchset"

_cache: dict[str, dict[str, Any]] = {}


def load(name: str) -> dict[str, Any]:
    if name not in _cache:
        _cache[name] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return copy.deepcopy(_cache[name])


def banyuwangi_patient(patient_id: str = "P-BWI-0001") -> dict[str, Any]:
    """The SATUSEHAT example Patient moved to Banyuwangi (Jawa Timur 35, Kab. Banyuwangi 3510)."""
    patient = load("satusehat/Patient-100000030009.json")
    patient["id"] = patient_id
    patient["identifier"][0]["value"] = f"ihs-{patient_id}"
    patient["name"] = [{"use": "official", "text": "Siti Rohmah"}]
    patient["telecom"] = [{"system": "phone", "value": "+6281234567890", "use": "mobile"}]
    patient["meta"]["lastUpdated"] = "2026-11-29T08:00:00+07:00"
    patient["address"] = [
        {
            "use": "home",
            "line": ["Jl. Ahmad Yani No. 78, Penganjuran"],
            "city": "Banyuwangi",
            "postalCode": "68416",
            "country": "ID",
            "extension": [
                {
                    "url": "https://fhir.kemkes.go.id/r4/StructureDefinition/AdministrativeCode",
                    "extension": [
                        {"url": "province", "valueCode": "35"},
                        {"url": "city", "valueCode": "3510"},
                        {"url": "district", "valueCode": "351018"},
                        {"url": "village", "valueCode": "3510181004"},
                        {"url": "rt", "valueCode": "3"},
                        {"url": "rw", "valueCode": "1"},
                    ],
                }
            ],
        }
    ]
    return patient


def medication() -> dict[str, Any]:
    resource = load("satusehat/Medication-ANC-KFA-93006500.json")
    resource["id"] = MEDICATION_ID
    return resource


def medication_request(
    rid: str = "mr-1",
    rx: str = "RX-1",
    item: str = "1",
    *,
    patient_id: str = "P-BWI-0001",
    updated: str = "2026-11-29T10:00:00+07:00",
) -> dict[str, Any]:
    """The SATUSEHAT ANC MedicationRequest, made active, for a Banyuwangi patient."""
    request = load("satusehat/MedicationRequest-ANC-peresepan-obat.json")
    request["id"] = rid
    request["meta"] = {"lastUpdated": updated}
    request["status"] = "active"
    request["identifier"] = [
        {"system": RX_SYSTEM, "use": "official", "value": rx},
        {"system": ITEM_SYSTEM, "use": "official", "value": f"{rx}-{item}"},
    ]
    request["subject"] = {"reference": f"Patient/{patient_id}", "display": "Siti Rohmah"}
    return request


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


class Archive:
    """Stands in for the inbox: keeps every body it is given, in order, and numbers them from 1."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def __call__(self, bodies: list[bytes]) -> list[int]:
        first = len(self.bodies) + 1
        self.bodies.extend(bodies)
        return list(range(first, first + len(bodies)))


def taken(result: PullResult) -> list[PrescriptionIn]:
    return [prescription for prescription, _page in result.prescriptions]


def refusals(result: PullResult) -> dict[str, str]:
    """Refusals by what they name ("MedicationRequest/mr-2"), from "MedicationRequest/mr-2: reason"."""
    return dict(reason.split(": ", 1) for _page, reason in result.errors)


def bpjs_coverage(coverage_id: str = "cov-bpjs-1", patient_id: str = "P-BWI-0001") -> dict[str, Any]:
    """The SATUSEHAT BPJS membership example, given an id and our patient as beneficiary."""
    coverage = load("satusehat/Coverage-BPJS-kepesertaan.json")
    coverage["id"] = coverage_id
    for role in ("policyHolder", "subscriber", "beneficiary"):
        coverage[role] = {"reference": f"Patient/{patient_id}"}
    return coverage


# -- the hospital's FHIR server, as respx answers for it ------------------------------------------------


def token_route(api: respx.MockRouter) -> respx.Route:
    return api.post(f"{OAUTH}/accesstoken").respond(
        200, json={"access_token": "tok-1", "expires_in": "14399"}
    )


def entry(resource: dict[str, Any], mode: str) -> dict[str, Any]:
    return {
        "fullUrl": f"{BASE}/{resource['resourceType']}/{resource['id']}",
        "resource": resource,
        "search": {"mode": mode},
    }


def page(*entries: dict[str, Any], next_url: str | None = None) -> bytes:
    """A searchset as a HAPI server writes it: pretty-printed, so a re-serialised copy would differ."""
    links = [{"relation": "self", "url": f"{BASE}/MedicationRequest"}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    bundle = {"resourceType": "Bundle", "type": "searchset", "link": links, "entry": list(entries)}
    return json.dumps(bundle, indent=2, ensure_ascii=False).encode()


def served(raw: bytes) -> httpx.Response:
    return httpx.Response(200, content=raw, headers={"Content-Type": "application/fhir+json;charset=UTF-8"})


def resource(body: dict[str, Any]) -> httpx.Response:
    return served(json.dumps(body, indent=1).encode())


# -- the poller and what it leaves --------------------------------------------------------------------------


def inbox() -> list[Any]:
    from dispatch.core.db import new_session
    from dispatch.inbox.models import InboxMessage

    with new_session() as db:
        return list(db.exec(select(InboxMessage).order_by(col(InboxMessage.id))).all())


def prescriptions() -> dict[str, int | None]:
    from dispatch.core.db import new_session
    from dispatch.orders.models import Prescription

    with new_session() as db:
        return {rx.prescription_number: rx.inbox_id for rx in db.exec(select(Prescription)).all()}


def poll(source: Any) -> int:
    from dispatch.sources.tasks import poll_source

    return poll_source.apply(args=[source.id]).result
