"""HL7 v2 RDE^O11 / ORM^O01 parsing: the three saved samples, the defects they carry, and refusals."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from hospital_adapter.canonical import SourceInputError
from hospital_adapter.hl7v2 import SOURCE
from hospital_adapter.hl7v2.parser import (
    KFA_SYSTEM,
    NDC_SYSTEM,
    parse_message,
    patient_identifier,
    read_message,
)

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "examples" / "hl7v2"
NHAPI = "RDE_O11_v251_nhapi.hl7"
MULTI = "RDE_O11_v26_multiorder_linuxforhealth.hl7"
ORM = "ORM_O01_pharmacy_linuxforhealth.hl7"
NIK = "3510012345670001"
WIB = timezone(timedelta(hours=7))


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def banyuwangi_rde(
    *, placer: str = "RX-HL7-0001", control: str = "NW", control_id: str = "MSG0001", extra: str = ""
) -> bytes:
    segments = [
        f"MSH|^~\\&|SIMRS|RSUDBLB|GANCANG|GANCANG|20261129080000||RDE^O11^RDE_O11|{control_id}|P|2.5|||AL|NE",
        f"PID|1||{NIK}^^^^NIK~RM-000123^^^RSUDBLB^MR||Wati^Sri^^^Ibu||19800101|F|||"
        "Jl. Kawah Ijen No. 5, RT 002/RW 001^Desa Kemiren, Kec. Glagah^Banyuwangi^Jawa Timur^68432^ID^H||"
        "0812-3456-7890^PRN^CP|||||||" + NIK,
        "PV1|1|O|POLI-DALAM||||||||||||||||KUNJ-778",
        "IN1|1|JKN^BPJS Kesehatan JKN|BPJS|BPJS Kesehatan|||||||||||PBI (APBN)" + "|" * 21 + "0001234567890",
        f"ORC|{control}|{placer}^SIMRS||{placer}^SIMRS|||||20261129075500",
        "RXE|^^^20261129080000|93000123^Paracetamol 500 mg tablet^KFA^B0001^Paracetamol^L|1||TAB|"
        "TAB^Tablet|^3x1 sesudah makan|||10|TAB",
        "RXR|PO^Oral^HL70162",
        "RXE||B0077^Amoksisilin 500 mg kapsul|1||CAP|CAP^Kapsul|^3x1 habiskan|||15|CAP",
        "RXR|PO^Oral^HL70162",
    ]
    return ("\r".join(segments) + extra).encode()


def test_the_source_is_declared_for_the_registry() -> None:
    assert SOURCE.name == "hl7v2"
    assert SOURCE.parse is parse_message
    assert "application/hl7-v2" in SOURCE.media_types


def test_a_banyuwangi_rde_becomes_one_prescription_with_two_items() -> None:
    [prescription] = parse_message(banyuwangi_rde())
    assert prescription.source == "hl7v2"
    assert prescription.prescription_id == "RX-HL7-0001"
    assert prescription.identifier_system == "SIMRS"
    assert prescription.status == "active"
    assert prescription.authored_on == datetime(2026, 11, 29, 7, 55, tzinfo=WIB)
    assert prescription.encounter_id == "KUNJ-778"
    patient = prescription.patient
    assert patient.source_id == "RM-000123"
    assert patient.name == "Sri Wati"
    assert patient.phone == "0812-3456-7890"
    address = patient.address
    assert address.lines == ["Jl. Kawah Ijen No. 5, RT 002/RW 001", "Desa Kemiren, Kec. Glagah"]
    assert (address.rt, address.rw) == ("002", "001")
    assert (address.village, address.district, address.city) == ("Kemiren", "Glagah", "Banyuwangi")
    assert address.postal_code == "68432"
    assert "Desa Kemiren, Kec. Glagah, Banyuwangi" in address.text
    first, second = prescription.items
    assert (first.code, first.code_system, first.local_code) == ("93000123", KFA_SYSTEM, "B0001")
    assert first.display == "Paracetamol 500 mg tablet"
    assert (first.quantity, first.unit, first.dosage_form) == (10, "TAB", "Tablet")
    assert first.instructions == "3x1 sesudah makan; route: Oral"
    assert (second.code, second.code_system, second.local_code) == ("B0077", None, "B0077")
    assert (second.quantity, second.unit, second.dosage_form) == (15, "CAP", "Kapsul")
    [coverage] = prescription.coverage
    assert coverage.plan == "BPJS Kesehatan JKN"
    assert coverage.payer == "BPJS Kesehatan"
    assert coverage.participant_type == "PBI (APBN)"
    assert coverage.subscriber_id == "0001234567890"


def test_the_nik_is_never_kept() -> None:
    [prescription] = parse_message(banyuwangi_rde())
    assert NIK not in prescription.model_dump_json()


def test_a_pid_with_only_a_nik_has_no_patient_identifier() -> None:
    raw = banyuwangi_rde().replace(b"~RM-000123^^^RSUDBLB^MR", b"")
    with pytest.raises(SourceInputError) as caught:
        parse_message(raw)
    assert ("required", "PID-3") in [(code, location) for code, _, location in caught.value.issues]
    assert NIK not in str(caught.value)


def test_an_untyped_16_digit_identifier_is_skipped() -> None:
    message = read_message(banyuwangi_rde().replace(b"^^^^NIK~", b"~"))
    assert patient_identifier(message.pids[0]) == "RM-000123"


@pytest.mark.parametrize("separator", [b"\n", b"\r\n"])
def test_lf_and_crlf_segment_separators_are_accepted(separator: bytes) -> None:
    [prescription] = parse_message(banyuwangi_rde().replace(b"\r", separator) + separator)
    assert len(prescription.items) == 2


def test_mllp_framing_bytes_are_stripped() -> None:
    [prescription] = parse_message(b"\x0b" + banyuwangi_rde() + b"\x1c\r")
    assert prescription.prescription_id == "RX-HL7-0001"


@pytest.mark.parametrize(("control", "status"), [("CA", "cancelled"), ("OC", "cancelled"), ("XO", "active")])
def test_order_control_sets_the_status(control: str, status: str) -> None:
    [prescription] = parse_message(banyuwangi_rde(control=control))
    assert prescription.status == status


def test_several_orc_groups_with_different_placer_numbers_are_several_prescriptions() -> None:
    second = "\rORC|NW|RX-HL7-0002\rRXE||B0100^Metformin 500 mg|1||TAB||||||30|TAB\rRXR|PO"
    prescriptions = parse_message(banyuwangi_rde(extra=second))
    assert [p.prescription_id for p in prescriptions] == ["RX-HL7-0001", "RX-HL7-0002"]
    assert [len(p.items) for p in prescriptions] == [2, 1]
    assert prescriptions[1].items[0].display == "Metformin 500 mg"


def test_orc_groups_sharing_a_placer_group_number_are_one_prescription() -> None:
    second = "\rORC|NW|RX-LINE-2^SIMRS||RX-HL7-0001^SIMRS\rRXE||B0100^Metformin 500 mg|1||TAB||||||30|TAB"
    [prescription] = parse_message(banyuwangi_rde(extra=second))
    assert [item.display for item in prescription.items][-1] == "Metformin 500 mg"
    assert len(prescription.items) == 3


def test_nhapi_sample_fields_and_its_missing_address_and_phone() -> None:
    message = read_message(sample(NHAPI))
    assert message.kind == ("RDE", "O11")
    assert message.version == "2.5.1"
    assert patient_identifier(message.pids[0]) == "EM010000008000000"  # the MR one, not DODID
    [order] = message.orders
    [item] = message._items(order, [])
    assert (item.code, item.code_system, item.local_code) == ("54569-4888-0", None, "54569-4888-0")
    assert item.display == "Oseltamivir"
    assert (item.quantity, item.unit) == (10, None)
    assert item.instructions == "po bid x 5d; route: Oral"
    with pytest.raises(SourceInputError) as caught:
        parse_message(sample(NHAPI))
    assert caught.value.http_status == 422
    assert [(code, location) for code, _, location in caught.value.issues] == [
        ("required", "PID-11"),
        ("required", "PID-13"),
    ]


def test_multiorder_sample_with_a_phone_gives_five_prescriptions() -> None:
    with pytest.raises(SourceInputError) as caught:
        parse_message(sample(MULTI))
    assert [(code, location) for code, _, location in caught.value.issues] == [("required", "PID-13")]
    # The sample lacks only a phone: give it one in PID-13 and it is taken whole.
    raw = sample(MULTI).replace(
        b"765 SOMESTREET RD UNIT 3A^^PASADENA^LA^|||",
        b"765 SOMESTREET RD UNIT 3A^^PASADENA^LA^||0812-3456-7890|",
    )
    prescriptions = parse_message(raw)
    assert [p.prescription_id for p in prescriptions] == [
        "PON001",
        "F700002",
        "F700003",
        "F700004",
        "F700005",
    ]
    assert {p.identifier_system for p in prescriptions} == {"OE"}
    assert all(p.status == "active" for p in prescriptions)
    first = prescriptions[0]
    assert first.patient.source_id == "000054321"  # "MRN" sits in CX-4 in this sample
    assert first.patient.name == "SHELDON COOPER"
    assert first.patient.address.lines == ["765 SOMESTREET RD UNIT 3A"]
    assert first.patient.address.city == "PASADENA"
    assert first.encounter_id == "8846511"
    assert first.authored_on == datetime(2017, 2, 15, 8, 0, tzinfo=WIB)
    # The first RXE runs into a TQ1 (missing CR): read as one RXE, its own fields intact.
    [ampicillin] = first.items
    assert (ampicillin.code, ampicillin.code_system) == ("999", NDC_SYSTEM)
    assert ampicillin.display == "Ampicillin 250 MG TAB"
    assert (ampicillin.quantity, ampicillin.dosage_form) == (10, "test")
    assert ampicillin.instructions == "route: MTH"
    displays = [p.items[0].display for p in prescriptions[1:]]
    assert displays == ["D5/.45NACL", "thyroxine 0.05 MG", "metformin 850 ml", "OxyContin 20 MG CAPSULE"]
    assert [p.items[0].quantity for p in prescriptions[1:]] == [40, 20, 3, 5]
    assert [p.items[0].instructions for p in prescriptions[1:]] == [
        "route: NS",
        "route: PR",
        "route: PO",
        "route: EP",
    ]


def test_orm_sample_reads_its_rxo_but_has_no_pid() -> None:
    message = read_message(sample(ORM))
    assert message.kind == ("ORM", "O01")
    [order] = message.orders
    [item] = message._items(order, [])
    assert (item.code, item.code_system) == ("50111032701", NDC_SYSTEM)
    assert item.display == "hydrALAZINE HCl 25 MG Oral Tablet"
    assert item.quantity is None
    with pytest.raises(SourceInputError) as caught:
        parse_message(sample(ORM))
    assert caught.value.http_status == 422
    assert [(code, location) for code, _, location in caught.value.issues] == [("required", "PID")]


def test_orm_with_a_patient_is_taken_with_orc_op_as_active() -> None:
    pid = (
        b"PID|1||RM-9^^^^MR||Rahayu^Siti||||||Dusun Krajan^Desa Kemiren, Kec. Glagah^Banyuwangi"
        b"||0812-3456-7890\r"
    )
    raw = sample(ORM).replace(b"\rORC|", b"\r" + pid + b"ORC|")
    [prescription] = parse_message(raw)
    assert prescription.prescription_id == "1000"
    assert prescription.status == "active"
    assert prescription.items[0].display == "hydrALAZINE HCl 25 MG Oral Tablet"


def test_missing_pid_is_a_data_error() -> None:
    raw = b"\r".join(line for line in banyuwangi_rde().split(b"\r") if not line.startswith(b"PID"))
    with pytest.raises(SourceInputError) as caught:
        parse_message(raw)
    assert caught.value.http_status == 422
    assert caught.value.issues[0][0] == "required"


def test_no_phone_and_no_address_are_data_errors() -> None:
    raw = (
        banyuwangi_rde()
        .replace(b"0812-3456-7890^PRN^CP", b"")
        .replace(b"Jl. Kawah Ijen No. 5, RT 002/RW 001^Desa Kemiren, Kec. Glagah", b"^")
    )
    with pytest.raises(SourceInputError) as caught:
        parse_message(raw)
    assert [(code, location) for code, _, location in caught.value.issues] == [
        ("required", "PID-11"),
        ("required", "PID-13"),
    ]


def test_no_orc_and_orc_without_rxe_are_refused() -> None:
    lines = banyuwangi_rde().split(b"\r")
    no_orc = b"\r".join(line for line in lines if not line.startswith((b"ORC", b"RXE", b"RXR")))
    with pytest.raises(SourceInputError) as caught:
        parse_message(no_orc)
    assert caught.value.issues == [("structure", "The message has no ORC segment, so no order", "ORC")]
    no_rxe = b"\r".join(line for line in lines if not line.startswith(b"RXE"))
    with pytest.raises(SourceInputError) as caught:
        parse_message(no_rxe)
    assert caught.value.issues[0][0] == "required"
    assert "RXE" in caught.value.issues[0][1]


def test_a_broken_segment_is_a_data_error() -> None:
    raw = banyuwangi_rde().replace(b"\rPV1|", b"\rthis is not a segment\rPV1|")
    with pytest.raises(SourceInputError) as caught:
        parse_message(raw)
    assert caught.value.http_status == 422
    assert caught.value.issues[0][0] == "invalid"


def test_an_unknown_order_control_is_invalid() -> None:
    with pytest.raises(SourceInputError) as caught:
        parse_message(banyuwangi_rde(control="ZZ"))
    assert caught.value.issues == [("invalid", "Order control 'ZZ' (ORC-1) is not supported", "ORC[1]-1")]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"hello world",
        b"PID|1||x",
        b"MSH|",
        b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01|X1|P|2.5\rPID|1||x",
        b"MSH|^~\\&|A|B|C|D|20260101||RDE^O11|X1|P|2.8\rPID|1||x",
    ],
)
def test_unreadable_or_unsupported_messages_are_refused_with_400(raw: bytes) -> None:
    with pytest.raises(SourceInputError) as caught:
        parse_message(raw)
    assert caught.value.http_status == 400
    assert caught.value.issues[0][0] in ("structure", "not-supported")
