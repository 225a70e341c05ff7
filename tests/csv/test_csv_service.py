"""ingest_csv: each prescription in its own transaction, so one refused by the database spares the others."""

from __future__ import annotations

from sqlmodel import select

from dispatch.core.db import new_session
from dispatch.inbox.models import InboxMessage
from dispatch.intake import csv_service
from dispatch.orders.models import Prescription
from hospital_adapter.csv import TEMPLATE_CSV

HEADER = "no_resep,no_rm,nama_pasien,no_hp,alamat,jenis_peserta,nama_obat,jumlah"
BODY = (
    f"{HEADER}\r\n"
    "RX-A,RM-1,Siti,0812-3456-0101,Dsn. Krajan,PBI (APBN),Amlodipine,30\r\n"
    "RX-B,RM-2,Slamet,0813-3456-0202,Dsn. Sumberejo,PBI (APBN),Metformin,60\r\n"
    "RX-C,RM-3,Sumiati,0852-3456-0303,Dsn. Krajan,PBI (APBN),Captopril,30\r\n"
).encode()


def numbers() -> set[str]:
    with new_session() as session:
        return {p.prescription_number for p in session.exec(select(Prescription)).all()}


def test_a_database_error_on_one_prescription_becomes_its_row_error(hospital, monkeypatch):
    real = csv_service.prescription_intake.ingest_prescription

    def flaky(session, hospital, prescription, *, inbox_id):
        order = real(session, hospital, prescription, inbox_id=inbox_id)
        if prescription.prescription_id == "RX-B":
            raise ValueError("simulated failure after a flush")
        return order

    monkeypatch.setattr(csv_service.prescription_intake, "ingest_prescription", flaky)
    report = csv_service.ingest_csv(hospital, BODY, "x.csv", "apoteker1")
    assert [a.no_resep for a in report.accepted] == ["RX-A", "RX-C"]
    assert [(e.row, e.column) for e in report.errors] == [(3, None)]
    assert "RX-B" in report.errors[0].message
    assert numbers() == {"RX-A", "RX-C"}  # RX-B's flushed rows were rolled back, the others kept


def test_the_report_as_json_and_the_archive(hospital):
    report = csv_service.ingest_csv(hospital, TEMPLATE_CSV, "templat.csv", "apoteker1")
    data = report.as_dict()
    assert data["encoding"] == "utf-8"
    assert data["errors"] == []
    assert [(a["no_resep"], a["rows"], a["created"]) for a in data["accepted"]] == [
        ("202611290001", [2, 3, 4], True)
    ]
    with new_session() as session:
        message = session.get(InboxMessage, report.inbox_id)
        assert message is not None
        assert (message.source, message.hospital_id, message.status) == ("csv", hospital.id, "processed")
        assert bytes(message.body) == TEMPLATE_CSV
        assert message.error is None
