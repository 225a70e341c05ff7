"""read_changes against a real MariaDB holding a Khanza-shaped schema."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta, timezone

import khanza_seed as ks
import pytest
import sqlalchemy as sa

from hospital_adapter.canonical import AddressIn, ComponentIn, CoverageIn, ItemIn, PatientIn, PrescriptionIn
from hospital_adapter.khanza import KhanzaSettings, Watermark, parse_rt_rw, read_changes, record_handover
from hospital_adapter.khanza.reader import _datetime, repair_mojibake

WIB = timezone(timedelta(hours=7))
DAY = datetime(2026, 11, 20)
SITI = "Siti Ma\u2019rufah"  # the right single quote is byte 0x92 in latin1 (cp1252)
SITI_PHONE = "0812 3456 7890 / 0813-1111-2222 (anak)"


def at(hour: int, minute: int = 0) -> datetime:
    return DAY.replace(hour=hour, minute=minute)


def seed_scenario(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        ks.khanza_session(conn)
        # 1. PBI (APBN) patient in Banyuwangi, zero tgl_lahir, latin1 name, free-text phones
        ks.add_patient(
            conn,
            "000101",
            SITI,
            alamat="Jl. Kepiting No. 5 RT 02 RW 03",
            no_tlp=SITI_PHONE,
            kd_kel=ks.KD_KEL_KEPATIHAN,
            kd_kec=ks.KD_KEC_BANYUWANGI,
            kd_kab=ks.KD_KAB_BANYUWANGI,
            kd_prop=ks.KD_PROP_JATIM,
            kd_pj="BPJ",
            tgl_lahir="0000-00-00",
            no_peserta="0001234567890",
        )
        ks.add_visit(conn, "2026/11/20/000001", "000101", kd_pj="BPJ")
        ks.add_sep(
            conn, "1327R0011126V000001", "2026/11/20/000001", peserta="PBI (APBN)", no_kartu="0001234567890"
        )
        ks.add_prescription(
            conn,
            "20261120000001",
            "2026/11/20/000001",
            at(8),
            items=[("B000000001", 30, "1 x 1 pagi"), ("B000000003", 10, "3 x 1 Sesudah Makan")],
        )
        # 2. BPJS non-PBI patient in Banyuwangi (another kecamatan), with a racikan
        ks.add_patient(
            conn,
            "000102",
            "Ahmad Fauzi",
            alamat="Dusun Krajan RT.002/RW.003 Penataban",
            no_tlp="(0333) 421234",
            kd_kel=ks.KD_KEL_PENATABAN,
            kd_kec=ks.KD_KEC_GIRI,
            kd_kab=ks.KD_KAB_BANYUWANGI,
            kd_prop=ks.KD_PROP_JATIM,
            kd_pj="BPJ",
        )
        ks.add_visit(conn, "2026/11/20/000002", "000102", kd_pj="BPJ")
        ks.add_sep(
            conn,
            "1327R0011126V000002",
            "2026/11/20/000002",
            peserta="PEKERJA MANDIRI",
            no_kartu="0009876543210",
        )
        ks.add_prescription(
            conn,
            "20261120000002",
            "2026/11/20/000002",
            at(8, 10),
            items=[("B000000005", 10, "1 x 1 malam")],
            racikan=[ks.Racikan("1", "Puyer Batuk Anak", 15, "3 x 1 bungkus", ["B000000004", "B000000007"])],
            tgl_perawatan="2026-11-20",
        )
        # 3. a general (Umum) patient whose header has no items yet -> error entry
        ks.add_patient(conn, "000103", "Bambang", alamat="-", no_tlp="", kd_pj="UMU")
        ks.add_visit(conn, "2026/11/20/000003", "000103", kd_pj="UMU")
        ks.add_prescription(conn, "20261120000003", "2026/11/20/000003", at(8, 20))
        # 4. an inpatient prescription (status ranap) is not read
        ks.add_prescription(
            conn,
            "20261120000004",
            "2026/11/20/000003",
            at(8, 30),
            items=[("B000000003", 5, "3 x 1")],
            status="ranap",
        )


@pytest.fixture
def scenario(seed_engine: sa.Engine) -> sa.Engine:
    seed_scenario(seed_engine)
    return seed_engine


@pytest.fixture
def settings(khanza_dsn: str) -> KhanzaSettings:
    return KhanzaSettings(dsn=khanza_dsn, start_date=date(2026, 11, 20), lookback_minutes=60)


@pytest.fixture
def reader(settings: KhanzaSettings):
    engine = settings.create_engine()
    yield engine
    engine.dispose()


def expected_siti() -> PrescriptionIn:
    return PrescriptionIn(
        source="khanza",
        prescription_id="20261120000001",
        status="active",
        authored_on=at(8).replace(tzinfo=WIB),
        patient=PatientIn(
            source_id="000101",
            name=SITI,
            phone=SITI_PHONE,
            address=AddressIn(
                text="Jl. Kepiting No. 5 RT 02 RW 03",
                lines=["Jl. Kepiting No. 5 RT 02 RW 03"],
                rt="002",
                rw="003",
                village="KEPATIHAN",
                district="BANYUWANGI",
                city="BANYUWANGI",
            ),
        ),
        items=[
            ItemIn(
                local_code="B000000001",
                display="Amlodipine 10 mg",
                quantity=30,
                unit="Tablet",
                instructions="1 x 1 pagi",
                dosage_form="Tablet",
                drug_class="Obat Keras",
            ),
            ItemIn(
                local_code="B000000003",
                display="Paracetamol 500 mg",
                quantity=10,
                unit="Tablet",
                instructions="3 x 1 Sesudah Makan",
                dosage_form="Tablet",
                drug_class="Obat Bebas",
            ),
        ],
        coverage=[
            CoverageIn(
                payer="BPJS Kesehatan",
                plan="JKN",
                subscriber_id="0001234567890",
                participant_type="PBI (APBN)",
                sep_number="1327R0011126V000001",
            )
        ],
        poverty_declaration=False,
        encounter_id="2026/11/20/000001",
    )


def test_first_poll_maps_prescriptions_exactly(scenario, reader, settings):
    batch = read_changes(reader, None, settings)

    assert [p.prescription_id for p in batch.prescriptions] == ["20261120000001", "20261120000002"]
    assert batch.prescriptions[0] == expected_siti()
    ahmad = batch.prescriptions[1]
    assert ahmad.patient.name == "Ahmad Fauzi"
    assert ahmad.patient.phone == "(0333) 421234"
    assert ahmad.patient.address.model_dump(exclude_defaults=True) == {
        "text": "Dusun Krajan RT.002/RW.003 Penataban",
        "lines": ["Dusun Krajan RT.002/RW.003 Penataban"],
        "rt": "002",
        "rw": "003",
        "village": "PENATABAN",
        "district": "GIRI",
        "city": "BANYUWANGI",
    }
    assert ahmad.coverage == [
        CoverageIn(
            payer="BPJS Kesehatan",
            plan="JKN",
            subscriber_id="0009876543210",
            participant_type="PEKERJA MANDIRI",
            sep_number="1327R0011126V000002",
        )
    ]
    assert ahmad.items == [
        ItemIn(
            local_code="B000000005",
            display="Diazepam 2 mg",
            quantity=10,
            unit="Tablet",
            instructions="1 x 1 malam",
            dosage_form="Tablet",
            drug_class="Psikotropika",
        ),
        ItemIn(
            display="Puyer Batuk Anak",
            quantity=15,
            instructions="3 x 1 bungkus",
            dosage_form="Puyer",
            components=[
                ComponentIn(local_code="B000000004", display="Codein 10 mg", drug_class="Narkotika"),
                ComponentIn(local_code="B000000007", display="CTM 4 mg", drug_class=None),
            ],
        ),
    ]
    assert batch.errors == [
        ("20261120000003", "prescription has no items (resep_dokter / resep_dokter_racikan)")
    ]
    assert batch.deleted == []
    assert batch.watermark.high_water == "2026-11-20 08:20:00"
    assert set(batch.watermark.seen) == {"20261120000001", "20261120000002", "20261120000003"}


def test_latin1_bytes_are_stored_and_decoded(scenario, reader, settings):
    with scenario.connect() as conn:
        raw = conn.execute(
            sa.text("SELECT HEX(nm_pasien) FROM pasien WHERE no_rkm_medis = '000101'")
        ).scalar()
    assert raw == SITI.encode("cp1252").hex().upper()  # 0x92 for the quote: real latin1 storage
    batch = read_changes(reader, None, settings)
    assert batch.prescriptions[0].patient.name == SITI


def test_utf8mb4_connection_charset_decodes_too(scenario, settings):
    engine = settings.model_copy(update={"charset": "utf8mb4"}).create_engine()
    try:
        assert read_changes(engine, None, settings).prescriptions[0].patient.name == SITI
    finally:
        engine.dispose()


def test_second_poll_returns_nothing_new(scenario, reader, settings):
    first = read_changes(reader, None, settings)
    second = read_changes(reader, first.watermark, settings)
    assert second.prescriptions == []
    assert second.deleted == []
    assert second.errors == []  # the item-less header was already reported
    assert second.watermark == first.watermark


def test_watermark_survives_json(scenario, reader, settings):
    first = read_changes(reader, None, settings)
    stored = json.dumps(first.watermark.model_dump(mode="json"))
    second = read_changes(reader, Watermark.model_validate(json.loads(stored)), settings)
    assert second.prescriptions == []


def test_late_edit_is_an_amendment(scenario, reader, settings):
    first = read_changes(reader, None, settings)
    with scenario.begin() as conn:
        ks.add_items(conn, "20261120000001", [("B000000002", 60, "2 x 1")])
        conn.execute(sa.text("UPDATE resep_dokter SET jml = 20 WHERE no_resep = '20261120000002'"))

    second = read_changes(reader, first.watermark, settings)

    assert [p.prescription_id for p in second.prescriptions] == ["20261120000001", "20261120000002"]
    siti = second.prescriptions[0]
    assert [(i.local_code, i.quantity) for i in siti.items] == [
        ("B000000001", 30),
        ("B000000002", 60),  # resep_dokter has no line number: lines come in kode_brng order
        ("B000000003", 10),
    ]
    assert second.prescriptions[1].items[0].quantity == 20
    assert read_changes(reader, second.watermark, settings).prescriptions == []


def test_items_added_to_an_empty_header_make_it_new(scenario, reader, settings):
    first = read_changes(reader, None, settings)
    with scenario.begin() as conn:
        ks.add_items(conn, "20261120000003", [("B000000003", 10, "3 x 1")])
    second = read_changes(reader, first.watermark, settings)
    assert [p.prescription_id for p in second.prescriptions] == ["20261120000003"]
    bambang = second.prescriptions[0]
    assert bambang.coverage == [CoverageIn(payer="Umum")]
    assert bambang.patient.address == AddressIn(text="-", lines=["-"])  # "-" region seed rows -> None
    assert bambang.patient.phone == ""
    assert second.errors == []


def test_deleted_prescription_is_reported_once(scenario, reader, settings):
    first = read_changes(reader, None, settings)
    with scenario.begin() as conn:
        conn.execute(sa.text("DELETE FROM resep_dokter WHERE no_resep = '20261120000002'"))
        conn.execute(sa.text("DELETE FROM resep_dokter_racikan_detail WHERE no_resep = '20261120000002'"))
        conn.execute(sa.text("DELETE FROM resep_dokter_racikan WHERE no_resep = '20261120000002'"))
        conn.execute(sa.text("DELETE FROM resep_obat WHERE no_resep = '20261120000002'"))
        # the never-emitted error header disappearing is not a deletion to report
        conn.execute(sa.text("DELETE FROM resep_obat WHERE no_resep = '20261120000003'"))

    second = read_changes(reader, first.watermark, settings)
    assert second.deleted == ["20261120000002"]
    assert second.prescriptions == []
    third = read_changes(reader, second.watermark, settings)
    assert third.deleted == []


def test_status_change_to_ranap_is_not_a_deletion(scenario, reader, settings):
    first = read_changes(reader, None, settings)
    with scenario.begin() as conn:
        conn.execute(sa.text("UPDATE resep_obat SET status = 'ranap' WHERE no_resep = '20261120000001'"))
    assert read_changes(reader, first.watermark, settings).deleted == []


def test_later_and_late_inserted_prescriptions_are_picked_up(scenario, reader, settings):
    first = read_changes(reader, None, settings)
    with scenario.begin() as conn:
        ks.khanza_session(conn)
        # written now but dated before the high-water mark (a clerk's late save), inside the window
        ks.add_prescription(
            conn, "20261120000005", "2026/11/20/000002", at(8, 5), items=[("B000000006", 1, "3 x 5 ml")]
        )
        ks.add_prescription(
            conn, "20261120000006", "2026/11/20/000001", at(9, 30), items=[("B000000002", 60, "2 x 1")]
        )

    second = read_changes(reader, first.watermark, settings)
    assert [p.prescription_id for p in second.prescriptions] == ["20261120000005", "20261120000006"]
    assert second.prescriptions[1].coverage[0].participant_type == "PBI (APBN)"
    assert second.watermark.high_water == "2026-11-20 09:30:00"
    # the window (60 min before 09:30) no longer holds the 08:xx prescriptions: the watermark stays bounded
    assert set(second.watermark.seen) == {"20261120000006"}
    assert read_changes(reader, second.watermark, settings).prescriptions == []


def test_null_jam_peresepan_counts_as_midnight(seed_engine, reader, settings):
    with seed_engine.begin() as conn:
        ks.khanza_session(conn)
        ks.add_patient(conn, "000201", "Nur Aini", kd_pj="UMU")
        ks.add_visit(conn, "2026/11/20/000201", "000201")
        ks.add_prescription(
            conn, "R201", "2026/11/20/000201", datetime(2026, 11, 21, 10), items=[("B000000003", 10, "3 x 1")]
        )
        conn.execute(sa.text("UPDATE resep_obat SET jam_peresepan = NULL WHERE no_resep = 'R201'"))
    batch = read_changes(reader, None, settings)
    assert [p.authored_on for p in batch.prescriptions] == [datetime(2026, 11, 21, tzinfo=WIB)]
    assert batch.watermark.high_water == "2026-11-21 00:00:00"
    assert read_changes(reader, batch.watermark, settings).prescriptions == []


def test_authored_on_uses_the_hospital_zone(scenario, reader, settings):
    wita = settings.model_copy(update={"utc_offset_hours": 8})
    authored = read_changes(reader, None, wita).prescriptions[0].authored_on
    assert authored == datetime(2026, 11, 20, 8, tzinfo=timezone(timedelta(hours=8)))


def test_utf8_stored_through_a_latin1_connection_is_repaired(seed_engine, reader, settings):
    with seed_engine.begin() as conn:
        ks.khanza_session(conn)
        # what a client that sent UTF-8 bytes over a latin1 connection leaves behind
        ks.add_patient(
            conn, "000202", SITI.encode("utf-8").decode("cp1252"), alamat="Jl. Adi\u00e9 RT 1 RW 2"
        )
        ks.add_visit(conn, "2026/11/20/000202", "000202")
        ks.add_prescription(conn, "R202", "2026/11/20/000202", at(11), items=[("B000000003", 10, "3 x 1")])
    patient = read_changes(reader, None, settings).prescriptions[0].patient
    assert patient.name == SITI
    assert patient.address.text == "Jl. Adi\u00e9 RT 1 RW 2"  # a real latin1 "é" is left alone


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("Siti Ma\u00e2\u20ac\u2122rufah", SITI),
        ("Jos\u00c3\u00a9", "Jos\u00e9"),
        (SITI, SITI),
        ("Andr\u00e9 \u00e2 ok", "Andr\u00e9 \u00e2 ok"),
        ("Budi", "Budi"),
    ],
)
def test_repair_mojibake(stored, expected):
    assert repair_mojibake(stored) == expected


def test_many_prescriptions_in_batches(seed_engine, reader, settings):
    with seed_engine.begin() as conn:
        numbers = ks.generate_prescriptions(conn, 2500, start=at(7), step=timedelta(seconds=7))
    small = settings.model_copy(update={"batch_size": 1000})

    first = read_changes(reader, None, small)
    assert [p.prescription_id for p in first.prescriptions] == numbers
    assert first.errors == []
    assert first.prescriptions[0].coverage[0].participant_type == "PBI (APBN)"
    assert first.prescriptions[1].coverage == [CoverageIn(payer="Umum")]
    # bounded: only the last 60 minutes (at 7 s apart) stay in the watermark
    assert len(first.watermark.seen) == 60 * 60 // 7 + 1

    with seed_engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE resep_dokter SET jml = 31 WHERE no_resep = :n AND jml = 30"), {"n": numbers[-3]}
        )
        conn.execute(sa.text("DELETE FROM resep_obat WHERE no_resep = :n"), {"n": numbers[-1]})
    second = read_changes(reader, first.watermark, small)
    assert [p.prescription_id for p in second.prescriptions] == [numbers[-3]]
    assert second.deleted == [numbers[-1]]


def test_poverty_marker_column(scenario, khanza_dsn, reader):
    with scenario.begin() as conn:
        conn.execute(sa.text("ALTER TABLE pasien ADD COLUMN spm_gancang varchar(30) NULL"))
    try:
        with scenario.begin() as conn:
            conn.execute(
                sa.text("UPDATE pasien SET spm_gancang = 'SPM/2026/0012' WHERE no_rkm_medis = '000102'")
            )
            conn.execute(sa.text("UPDATE pasien SET spm_gancang = '-' WHERE no_rkm_medis = '000101'"))
        settings = KhanzaSettings(
            dsn=khanza_dsn, start_date=date(2026, 11, 20), poverty_marker_column="pasien.spm_gancang"
        )
        batch = read_changes(reader, None, settings)
        assert [p.poverty_declaration for p in batch.prescriptions] == [False, True]
    finally:
        with scenario.begin() as conn:
            conn.execute(sa.text("ALTER TABLE pasien DROP COLUMN spm_gancang"))


@pytest.mark.parametrize("column", ["pasien.x; DROP TABLE pasien", "dokter.flag", "pasien", "pasien.`a`"])
def test_poverty_marker_column_is_validated(column):
    with pytest.raises(ValueError, match="poverty_marker_column"):
        KhanzaSettings(dsn="mysql+pymysql://u@h/sik", poverty_marker_column=column)


def test_read_only_user_can_poll(scenario, admin_engine, khanza_db, settings):
    user, password = f"gancang_ro_{uuid.uuid4().hex[:8]}", "ro-secret-123"
    with admin_engine.begin() as conn:
        for host in ("localhost", "127.0.0.1"):
            conn.execute(sa.text(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY '{password}'"))
            conn.execute(sa.text(f"GRANT SELECT ON `{khanza_db}`.* TO '{user}'@'{host}'"))
    ro_url = sa.make_url(settings.dsn).set(username=user, password=password)
    ro_settings = settings.model_copy(update={"dsn": ro_url.render_as_string(hide_password=False)})
    engine = ro_settings.create_engine()
    try:
        batch = read_changes(engine, None, ro_settings)
        assert [p.prescription_id for p in batch.prescriptions] == ["20261120000001", "20261120000002"]
        with pytest.raises(sa.exc.OperationalError, match="denied"), engine.begin() as conn:
            conn.execute(sa.text("UPDATE resep_obat SET jam = jam"))
    finally:
        engine.dispose()
        with admin_engine.begin() as conn:
            for host in ("localhost", "127.0.0.1"):
                conn.execute(sa.text(f"DROP USER '{user}'@'{host}'"))


def test_first_poll_without_start_date_begins_today(scenario, khanza_dsn, reader):
    batch = read_changes(reader, None, KhanzaSettings(dsn=khanza_dsn))
    with reader.connect() as conn:
        today = conn.execute(sa.text("SELECT CAST(CURDATE() AS CHAR)")).scalar_one()
    assert batch.prescriptions == []  # the scenario is dated 2026-11-20, in the DB's past
    assert batch.watermark.high_water <= f"{today} 00:00:00"
    assert batch.watermark.high_water >= "2026-11-29"


@pytest.mark.parametrize(
    ("day", "time", "expected"),
    [
        (None, None, None),
        ("0000-00-00", "00:00:00", None),
        (b"0000-00-00", b"10:00:00", None),
        ("2026-00-10", "10:00:00", None),
        ("2026-11-20", "08:15:30", datetime(2026, 11, 20, 8, 15, 30)),
        ("2026-11-20", None, datetime(2026, 11, 20)),
        ("2026-11-20", "bad", datetime(2026, 11, 20)),
    ],
)
def test_zero_and_odd_dates(day, time, expected):
    assert _datetime(day, time) == expected


@pytest.mark.parametrize(
    ("alamat", "expected"),
    [
        ("Jl. Kepiting No. 5 RT 02 RW 03", ("002", "003")),
        ("Dusun Krajan RT.002/RW.003", ("002", "003")),
        ("Dsn Krajan rt 2 / rw 11 Ds. Boyolangu", ("002", "011")),
        ("Perum Griya RT:05 RW:01", ("005", "001")),
        ("Jl. Brawijaya RT/RW 004/002", ("004", "002")),
        ("Jl. Raya Jember No. 12", (None, None)),
        ("-", (None, None)),
    ],
)
def test_parse_rt_rw(alamat, expected):
    assert parse_rt_rw(alamat) == expected


def test_strict_server_modes_still_read_and_write_back(scenario, settings):
    """MySQL 8 style NO_ZERO_DATE/strict sessions: zero dates are only read, never written or compared."""
    engine = settings.create_engine()

    @sa.event.listens_for(engine, "connect")
    def _strict(dbapi_connection, _record):
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE'")

    try:
        batch = read_changes(engine, None, settings)
        assert [p.prescription_id for p in batch.prescriptions] == ["20261120000001", "20261120000002"]
        assert record_handover(engine, "20261120000001", datetime(2026, 11, 20, 13)) is True
        assert record_handover(engine, "20261120000001", datetime(2026, 11, 20, 14)) is False
    finally:
        engine.dispose()
