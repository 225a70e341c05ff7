"""HL7 v2 intake against the real database: MLLP over a TCP socket on 127.0.0.1, and POST /hl7v2."""

from __future__ import annotations

import asyncio
from typing import Any

import hl7
import pytest
from fastapi.testclient import TestClient
from sqlmodel import SQLModel, select

from dispatch.hospitals.models import Hospital
from dispatch.inbox.models import InboxMessage, InboxStatus
from dispatch.intake.mllp_listener import make_handler
from dispatch.orders.models import Order, Patient, Prescription, PrescriptionItem
from dispatch.orders.state_machine import OrderStatus
from hospital_adapter.hl7v2.mllp import MLLPDecoder, frame, serve_mllp

NIK = "3510012345670001"
HL7_V2 = "application/hl7-v2"


def banyuwangi_rde(placer: str = "RX-HL7-0001", control_id: str = "MSG0001") -> bytes:
    segments = [
        f"MSH|^~\\&|SIMRS|RSUDBLB|GANCANG|GANCANG|20261129080000||RDE^O11^RDE_O11|{control_id}|P|2.5",
        f"PID|1||{NIK}^^^^NIK~RM-000123^^^RSUDBLB^MR||Wati^Sri||19800101|F|||"
        "Jl. Kawah Ijen No. 5, RT 002/RW 001^Desa Kemiren, Kec. Glagah^Banyuwangi^Jawa Timur^68432^ID^H||"
        "0812-3456-7890^PRN^CP",
        "IN1|1|JKN^JKN|BPJS|BPJS Kesehatan|||||||||||PBI (APBN)",
        f"ORC|NW|{placer}^SIMRS|||||||20261129075500",
        "RXE||B0001^Paracetamol 500 mg tablet|1||TAB|TAB^Tablet|^3x1 sesudah makan|||10|TAB",
        "RXR|PO^Oral^HL70162",
    ]
    return "\r".join(segments).encode()


BROKEN = b"MSH|^~\\&|SIMRS|RSUDBLB|GANCANG||20261129080000||RDE^O11^RDE_O11|MSG-BAD|P|2.5\rORC|NW|RX-9"


def rows(model: type[SQLModel], *where: Any) -> list[Any]:
    from dispatch.core.db import new_session

    with new_session() as session:
        query = select(model)
        for clause in where:
            query = query.where(clause)
        return list(session.exec(query).all())


def msa(ack: bytes) -> tuple[str, str]:
    segment = hl7.parse(ack.decode()).segment("MSA")
    return str(segment[1]), str(segment[2])


async def _mllp_roundtrip(hospital_code: str, messages: list[bytes]) -> list[bytes]:
    server = await serve_mllp("127.0.0.1", 0, make_handler(hospital_code))
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        decoder = MLLPDecoder()
        acks: list[bytes] = []
        for message in messages:
            writer.write(frame(message))
            await writer.drain()
            while len(acks) < len(messages[: messages.index(message) + 1]):
                data = await asyncio.wait_for(reader.read(65536), timeout=30)
                assert data
                acks.extend(item for item in decoder.feed(data) if isinstance(item, bytes))
        writer.close()
        await writer.wait_closed()
        return acks
    finally:
        server.close()
        await server.wait_closed()


def test_mllp_rde_gives_aa_and_an_order_awaiting_release(hospital: Hospital) -> None:
    [ack] = asyncio.run(_mllp_roundtrip(hospital.code, [banyuwangi_rde()]))
    assert msa(ack) == ("AA", "MSG0001")
    [prescription] = rows(Prescription)
    assert prescription.prescription_number == "RX-HL7-0001"
    assert prescription.source == "hl7v2"
    [order] = rows(Order)
    assert order.status == OrderStatus.AWAITING_RELEASE
    [item] = rows(PrescriptionItem)
    assert (item.local_code, item.quantity) == ("B0001", 10)
    [patient] = rows(Patient)
    assert patient.source_id == "RM-000123"
    assert patient.phone_e164 == "+6281234567890"
    [message] = rows(InboxMessage)
    assert message.status == InboxStatus.PROCESSED
    assert message.hospital_id == hospital.id
    assert message.body == banyuwangi_rde()


def test_mllp_broken_message_is_refused_and_archived_as_rejected(hospital: Hospital) -> None:
    acks = asyncio.run(_mllp_roundtrip(hospital.code, [BROKEN, b"not hl7 at all"]))
    assert msa(acks[0]) == ("AE", "MSG-BAD")
    assert msa(acks[1]) == ("AR", "")
    assert rows(Order) == []
    messages = rows(InboxMessage)
    assert [m.status for m in messages] == [InboxStatus.REJECTED, InboxStatus.REJECTED]
    assert {m.hospital_id for m in messages} == {hospital.id}
    assert "PID" in (messages[0].error or "")


def test_mllp_listener_for_an_unknown_hospital_answers_ar(db: None) -> None:
    [ack] = asyncio.run(_mllp_roundtrip("NOSUCH", [banyuwangi_rde()]))
    assert msa(ack) == ("AR", "MSG0001")
    [message] = rows(InboxMessage)
    assert message.status == InboxStatus.REJECTED
    assert rows(Order) == []


def post(client: TestClient, body: bytes, api_key: str | None) -> Any:
    headers = {"content-type": HL7_V2}
    if api_key is not None:
        headers["authorization"] = f"Bearer {api_key}"
    return client.post("/hl7v2", content=body, headers=headers)


def test_post_hl7v2_creates_one_order_even_when_sent_twice(client: TestClient, api_key: str) -> None:
    first = post(client, banyuwangi_rde(), api_key)
    assert first.status_code == 200
    assert first.headers["content-type"].startswith(HL7_V2)
    assert msa(first.content) == ("AA", "MSG0001")
    assert "created" in str(hl7.parse(first.content.decode()).segment("MSA")[3])
    second = post(client, banyuwangi_rde(control_id="MSG0002"), api_key)
    assert second.status_code == 200
    assert msa(second.content) == ("AA", "MSG0002")
    assert "already received" in str(hl7.parse(second.content.decode()).segment("MSA")[3])
    [order] = rows(Order)
    assert order.status == OrderStatus.AWAITING_RELEASE
    assert [m.status for m in rows(InboxMessage)] == [InboxStatus.PROCESSED, InboxStatus.PROCESSED]


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_post_hl7v2_without_a_valid_key_is_401_ar(client: TestClient, api_key: str, key: str | None) -> None:
    response = post(client, banyuwangi_rde(), key)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert msa(response.content) == ("AR", "MSG0001")
    assert rows(Order) == []
    [message] = rows(InboxMessage)
    assert message.status == InboxStatus.REJECTED


def test_post_hl7v2_data_error_is_400_ae_and_unsupported_type_is_400_ar(
    client: TestClient, api_key: str
) -> None:
    response = post(client, BROKEN, api_key)
    assert response.status_code == 400
    assert msa(response.content) == ("AE", "MSG-BAD")
    adt = b"MSH|^~\\&|SIMRS|RSUDBLB|GANCANG||20260101||ADT^A01^ADT_A01|ADT-1|P|2.5\rPID|1||RM-1"
    response = post(client, adt, api_key)
    assert response.status_code == 400
    assert msa(response.content) == ("AR", "ADT-1")
    assert rows(Order) == []
    assert [m.status for m in rows(InboxMessage)] == [InboxStatus.REJECTED, InboxStatus.REJECTED]


def test_post_hl7v2_is_documented_in_openapi(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/hl7v2"]["post"]
    assert HL7_V2 in operation["requestBody"]["content"]
    assert set(operation["responses"]) >= {"200", "400", "401"}
