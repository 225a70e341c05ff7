"""The demo's patients: RSUD Blambangan outpatients in six kecamatan of Banyuwangi (fictional people).

Bundles are built in the SATUSEHAT shape the intake expects: Patient with the AdministrativeCode extension,
KFA-coded Medication, MedicationRequest with the prescription identifier, and a BPJS PBI Coverage.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from couriers.sandbox.config import ScenarioName
from dispatch.hospitals.models import HospitalCreate

ORG_ID = "100026342"  # a stand-in SATUSEHAT organisation id for RSUD Blambangan in the demo
ADMIN_CODE_URL = "https://fhir.kemkes.go.id/r4/StructureDefinition/administrativeCode"

HOSPITAL = HospitalCreate(
    code="RSUDBLB",
    name="RSUD Blambangan",
    address="Jl. Letkol. Istiqlah No. 49, Singonegaran, Kec. Banyuwangi, Kab. Banyuwangi, Jawa Timur 68415",
    # The kelurahan centroid from the bundled data; capture the real pharmacy door on site.
    lat=-8.209705,
    lon=114.365270,
    kabupaten_code="35.10",
    phone="0811-3000-4949",  # a placeholder for the demo: set the pharmacy's real number on site
)


@dataclass(frozen=True)
class DemoPatient:
    mrn: str
    name: str
    phone: str
    line: str
    village_code: str | None
    rt: str
    rw: str
    drug: str
    kfa_code: str | None
    quantity: int
    # How the sandbox courier plays this patient's delivery (matched on the patient's phone).
    courier_scenario: ScenarioName = "happy"


PATIENTS = [
    DemoPatient(
        "RM-010231",
        "Siti Aminah",
        "0812-3456-0101",
        "Dsn. Krajan, Desa Kemiren, Kec. Glagah",
        "3510152004",
        "02",
        "01",
        "Amlodipine 10 mg Tablet",
        None,
        30,
    ),
    DemoPatient(
        "RM-010477",
        "Slamet Riyadi",
        "0813-3456-0202",
        "Dsn. Sumberejo, Desa Kedayunan, Kec. Kabat",
        "3510142011",
        "03",
        "02",
        "Metformin 500 mg Tablet",
        None,
        60,
    ),
    DemoPatient(
        "RM-011902",
        "Sumiati",
        "0852-3456-0303",
        "Dsn. Krajan, Desa Genteng Kulon, Kec. Genteng",
        "3510092003",
        "01",
        "04",
        "Ferrous Fumarate 60 mg / Folic Acid 0,4 mg Tablet",
        "93006500",
        90,
    ),
    DemoPatient(
        "RM-012345",
        "Hadi Susanto",
        "0857-3456-0404",
        "Dusun Krajan RT 01 RW 01, Ds. Wongsorejo, Kec. Wongsorejo",
        None,
        "01",
        "01",
        "Captopril 25 mg Tablet",
        None,
        30,
    ),
    DemoPatient(
        "RM-013579",
        "Sarinah",
        "0878-3456-0505",
        "Dsn. Tegalsari Krajan, Desa Tegalsari, Kec. Tegalsari",
        "3510232001",
        "04",
        "02",
        "Glibenclamide 5 mg Tablet",
        None,
        30,
        courier_scenario="no_driver",
    ),
    DemoPatient(
        "RM-014680",
        "Yatiningsih",
        "0821-3456-0606",
        "Lingk. Krajan, Desa Ketapang, Kec. Kalipuro",
        "3510212003",
        "02",
        "03",
        "Simvastatin 20 mg Tablet",
        None,
        30,
        # The shelter's driver mishears her PIN at the door: the pharmacy sees the alert, then the right PIN.
        courier_scenario="wrong_pin_first",
    ),
]

# The hospital's own driver pool at the shelter, on the local partner protocol (courier ``webhook``). It
# reaches Banyuwangi town and the kecamatan around it, and charges an almost flat fee: GoSend is cheaper for
# short trips (Glagah), the shelter for longer ones in its area (Kabat, Kalipuro); farther patients only GoSend
# can reach.
PARTNER_LABEL = "shelter"
PARTNER_TARIFF = {
    "base_fee_idr": 12_500,
    "per_km_idr": 500,
    "service_areas": [
        {"name": "Banyuwangi kota dan sekitarnya", "lat": HOSPITAL.lat, "lon": HOSPITAL.lon, "radius_km": 15}
    ],
    # By road: dispatch stretches the straight line (13 km to Ketapang) by the hospital's road factor.
    "max_distance_km": 20,
}


def demo_bundle(patient: DemoPatient, rx_number: str) -> dict[str, Any]:
    patient_url = f"urn:uuid:{uuid.uuid4()}"
    medication_url = f"urn:uuid:{uuid.uuid4()}"
    coverage_url = f"urn:uuid:{uuid.uuid4()}"
    admin_code: list[dict[str, str]] = [
        {"url": "rt", "valueCode": patient.rt},
        {"url": "rw", "valueCode": patient.rw},
    ]
    if patient.village_code:
        code = patient.village_code
        admin_code = [
            {"url": "province", "valueCode": code[:2]},
            {"url": "city", "valueCode": code[:4]},
            {"url": "district", "valueCode": code[:6]},
            {"url": "village", "valueCode": code},
            *admin_code,
        ]
    medication_code = (
        [{"system": "http://sys-ids.kemkes.go.id/kfa", "code": patient.kfa_code, "display": patient.drug}]
        if patient.kfa_code
        else []
    )
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": patient_url,
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [
                        {"system": f"http://sys-ids.kemkes.go.id/mrn/{ORG_ID}", "value": patient.mrn}
                    ],
                    "name": [{"use": "official", "text": patient.name}],
                    "telecom": [{"system": "phone", "value": patient.phone, "use": "mobile"}],
                    "address": [
                        {
                            "use": "home",
                            "line": [patient.line],
                            "city": "Kabupaten Banyuwangi",
                            "country": "ID",
                            "extension": [{"url": ADMIN_CODE_URL, "extension": admin_code}],
                        }
                    ],
                },
            },
            {
                "fullUrl": medication_url,
                "resource": {
                    "resourceType": "Medication",
                    "code": {"coding": medication_code, "text": patient.drug},
                },
            },
            {
                "fullUrl": coverage_url,
                "resource": {
                    "resourceType": "Coverage",
                    "status": "active",
                    "beneficiary": {"reference": patient_url},
                    "payor": [{"display": "BPJS Kesehatan"}],
                    "class": [
                        {
                            "type": {
                                "coding": [
                                    {
                                        "system": "http://terminology.hl7.org/CodeSystem/coverage-class",
                                        "code": "group",
                                    }
                                ]
                            },
                            "value": "PBI",
                            "name": "PBI (APBN)",
                        }
                    ],
                },
            },
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": {
                    "resourceType": "MedicationRequest",
                    "identifier": [
                        {"system": f"http://sys-ids.kemkes.go.id/prescription/{ORG_ID}", "value": rx_number},
                        {
                            "system": f"http://sys-ids.kemkes.go.id/prescription-item/{ORG_ID}",
                            "value": f"{rx_number}-1",
                        },
                    ],
                    "status": "active",
                    "intent": "order",
                    "medicationReference": {"reference": medication_url, "display": patient.drug},
                    "subject": {"reference": patient_url, "display": patient.name},
                    "authoredOn": "2026-11-29T02:00:00+00:00",
                    "insurance": [{"reference": coverage_url}],
                    "dosageInstruction": [{"text": "1 tablet sehari"}],
                    "dispenseRequest": {"quantity": {"value": patient.quantity, "unit": "TAB"}},
                },
            },
        ],
    }
