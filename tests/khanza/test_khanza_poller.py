"""The Celery poller and the hand-over write-back against a real Khanza-shaped MariaDB and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from khanza_seed import add_patient, add_prescription, add_sep, add_visit, generate_prescriptions
from sqlmodel import Session, select

from dispatch.core.clock import WIB
from dispatch.core.db import new_session
from dispatch.hospitals.models import Hospital, HospitalSink, HospitalSource
from dispatch.inbox.models import InboxMessage
from dispatch.orders.models import Order, OrderEvent, Prescription
from dispatch.orders.service import transition
from dispatch.orders.state_machine import OrderStatus as S
from dispatch.outbox.models import OutboxMessage
from dispatch.sources.tasks import poll_source

WHEN = datetime(2026, 11, 29, 9, 15)


def seed_pbi_patient(engine: sa.Engine, no_resep: str = "202611290001") -> None:
    with engine.begin() as conn:
        add_patient(
            conn,
            "000123",
            "SITI AMINAH",
            alamat="DSN KRAJAN RT 02 RW 01 KEMIREN",
            no_tlp="0812 3456 7890 / 0813 1111 2222",
        )
        add_visit(conn, "2026/11/29/000001", "000123", kd_pj="BPJ")
        add_sep(
            conn, "1310R0011126V000001", "2026/11/29/000001", peserta="PBI (APBN)", no_kartu="0001234567890"
        )
        add_prescription(
            conn, no_resep, "2026/11/29/000001", WHEN, items=[("B000000001", 30, "1x1 sesudah makan")]
        )


def khanza_source(session: Session, hospital: Hospital, dsn: str) -> HospitalSource:
    source = HospitalSource(
        hospital_id=hospital.id, source="khanza", settings={"dsn": dsn, "start_date": "2026-11-01"}
    )
    session.add(source)
    session.commit()
    return source


def test_a_poll_takes_khanza_prescriptions_once_and_a_deletion_cancels_the_order(
    session, hospital, seed_engine, khanza_dsn
):
    seed_pbi_patient(seed_engine)
    source = khanza_source(session, hospital, khanza_dsn)

    assert poll_source.apply(args=[source.id]).result == 1
    with new_session() as db:
        [order] = db.exec(select(Order)).all()
        [prescription] = db.exec(select(Prescription)).all()
        polled = db.get(HospitalSource, source.id)
        [archived] = db.exec(select(InboxMessage)).all()
    assert prescription.prescription_number == "202611290001"
    assert (order.status, order.eligibility["basis"]) == ("awaiting_release", "bpjs_pbi_apbn")
    assert polled.watermark["high_water"].startswith("2026-11-29")
    assert (archived.source, archived.status) == ("khanza", "processed")

    assert poll_source.apply(args=[source.id]).result == 0  # nothing new: taken exactly once

    with seed_engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM resep_dokter WHERE no_resep = '202611290001'"))
        conn.execute(sa.text("DELETE FROM resep_obat WHERE no_resep = '202611290001'"))
    poll_source.apply(args=[source.id])
    with new_session() as db:
        [order] = db.exec(select(Order)).all()
    assert order.status == "cancelled"


def test_an_unreachable_khanza_keeps_the_watermark_and_says_why(session, hospital):
    source = khanza_source(session, hospital, "mysql+pymysql://nobody@127.0.0.1:1/sik")
    assert poll_source.apply(args=[source.id]).result == 0
    with new_session() as db:
        stored = db.get(HospitalSource, source.id)
    assert stored.watermark == {}
    assert stored.last_error.startswith("Khanza database: OperationalError")


def test_delivery_writes_the_hand_over_time_into_khanza(session, hospital, seed_engine, khanza_dsn, celery):
    seed_pbi_patient(seed_engine)
    poll_source.apply(args=[khanza_source(session, hospital, khanza_dsn).id])
    session.add(HospitalSink(hospital_id=hospital.id, kind="khanza_handover", settings={"dsn": khanza_dsn}))
    session.commit()
    with new_session() as db:
        order = db.exec(select(Order)).one()
        for target in (S.RELEASED, S.READY, S.BOOKING, S.PICKED_UP, S.DELIVERED):
            transition(db, order, target)
        db.commit()
    with new_session() as db:
        [row] = db.exec(select(OutboxMessage).where(OutboxMessage.topic == "writeback.khanza_handover")).all()
    assert celery.tasks[row.topic].apply(args=[row.id]).successful()
    with new_session() as db:
        delivered = db.exec(select(OrderEvent).where(OrderEvent.to_status == "delivered")).one()
    with seed_engine.connect() as conn:
        written = conn.execute(
            sa.text("SELECT CAST(tgl_penyerahan AS CHAR), CAST(jam_penyerahan AS CHAR) FROM resep_obat")
        ).one()
    handed_over = delivered.at.astimezone(WIB)  # Khanza keeps local time
    assert tuple(written) == (handed_over.strftime("%Y-%m-%d"), handed_over.strftime("%H:%M:%S"))


def test_one_poll_of_many_prescriptions(session, hospital, seed_engine, khanza_dsn):
    with seed_engine.begin() as conn:
        generate_prescriptions(conn, 300, start=WHEN)
    hospital.eligibility_policy = {"accept_all": True}
    session.add(hospital)
    source = khanza_source(session, hospital, khanza_dsn)
    assert poll_source.apply(args=[source.id]).result == 300
    with new_session() as db:
        assert len(db.exec(select(Order)).all()) == 300
