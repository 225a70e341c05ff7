"""record_handover: the conditional, idempotent UPDATE of resep_obat.tgl_penyerahan / jam_penyerahan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import khanza_seed as ks
import pytest
import sqlalchemy as sa

from hospital_adapter.khanza import record_handover


@pytest.fixture
def write_engine(seed_engine: sa.Engine, khanza_dsn: str):
    with seed_engine.begin() as conn:
        ks.khanza_session(conn)
        ks.add_patient(conn, "000301", "Sri Wahyuni")
        ks.add_visit(conn, "2026/11/20/000301", "000301")
        ks.add_prescription(
            conn, "R301", "2026/11/20/000301", datetime(2026, 11, 20, 9), items=[("B000000003", 10, "3 x 1")]
        )
        ks.add_prescription(
            conn,
            "R302",
            "2026/11/20/000301",
            datetime(2026, 11, 20, 9, 5),
            items=[("B000000003", 10, "3 x 1")],
        )
    engine = sa.create_engine(sa.make_url(khanza_dsn).update_query_dict({"charset": "latin1"}))
    yield engine
    engine.dispose()


def handover(engine: sa.Engine, no_resep: str) -> tuple[str, str]:
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT CAST(tgl_penyerahan AS CHAR), CAST(jam_penyerahan AS CHAR) FROM resep_obat WHERE no_resep = :n"
            ),
            {"n": no_resep},
        ).one()
    return row[0], row[1]


def test_record_handover_is_idempotent(write_engine):
    assert handover(write_engine, "R301") == ("0000-00-00", "00:00:00")
    assert record_handover(write_engine, "R301", datetime(2026, 11, 20, 14, 35, 12)) is True
    assert handover(write_engine, "R301") == ("2026-11-20", "14:35:12")
    # a second call (retry, duplicate event) changes nothing and says so
    assert record_handover(write_engine, "R301", datetime(2026, 11, 20, 15, 0)) is False
    assert handover(write_engine, "R301") == ("2026-11-20", "14:35:12")
    assert handover(write_engine, "R302") == ("0000-00-00", "00:00:00")


def test_record_handover_keeps_a_pharmacy_entry_and_fills_null(write_engine):
    with write_engine.begin() as conn:
        ks.khanza_session(conn)
        conn.execute(
            sa.text(
                "UPDATE resep_obat SET tgl_penyerahan = '2026-11-20', jam_penyerahan = '10:00:00' WHERE no_resep = 'R301'"
            )
        )
        conn.execute(sa.text("ALTER TABLE resep_obat MODIFY tgl_penyerahan date NULL DEFAULT NULL"))
    try:
        with write_engine.begin() as conn:
            conn.execute(sa.text("UPDATE resep_obat SET tgl_penyerahan = NULL WHERE no_resep = 'R302'"))
        assert record_handover(write_engine, "R301", datetime(2026, 11, 20, 16)) is False
        assert handover(write_engine, "R301") == ("2026-11-20", "10:00:00")
        assert record_handover(write_engine, "R302", datetime(2026, 11, 20, 16)) is True
        assert handover(write_engine, "R302") == ("2026-11-20", "16:00:00")
    finally:
        with write_engine.begin() as conn:
            ks.khanza_session(conn)
            conn.execute(
                sa.text("UPDATE resep_obat SET tgl_penyerahan = '0000-00-00' WHERE tgl_penyerahan IS NULL")
            )
            conn.execute(
                sa.text("ALTER TABLE resep_obat MODIFY tgl_penyerahan date NOT NULL DEFAULT '0000-00-00'")
            )


def test_record_handover_unknown_prescription(write_engine):
    assert record_handover(write_engine, "NOPE", datetime(2026, 11, 20, 16)) is False


def test_record_handover_converts_aware_times_to_local(write_engine):
    utc_time = datetime(2026, 11, 20, 20, 30, tzinfo=UTC)
    assert record_handover(write_engine, "R301", utc_time) is True  # default WIB, UTC+7
    assert handover(write_engine, "R301") == ("2026-11-21", "03:30:00")
    wita = timezone(timedelta(hours=8))
    assert record_handover(write_engine, "R302", utc_time, tz=wita) is True
    assert handover(write_engine, "R302") == ("2026-11-21", "04:30:00")
