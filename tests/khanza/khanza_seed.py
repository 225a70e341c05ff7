"""Seed helpers for a Khanza-shaped MariaDB database (tests, and the lead's benchmarks).

Usage (e.g. a 10,000-prescription benchmark)::

    admin = sa.create_engine("mysql+pymysql://root@127.0.0.1:3306/")
    create_database(admin, "khanza_bench")
    engine = sa.create_engine("mysql+pymysql://root@127.0.0.1:3306/khanza_bench?charset=utf8mb4")
    with engine.begin() as conn:
        create_schema(conn)
        seed_reference(conn)
        generate_prescriptions(conn, 10_000, start=datetime(2026, 11, 1, 7, 0))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

SCHEMA_SQL = Path(__file__).with_name("schema.sql")
# Khanza runs with zero dates allowed: no NO_ZERO_DATE / NO_ZERO_IN_DATE / strict mode.
KHANZA_SQL_MODE = "NO_ENGINE_SUBSTITUTION"

# Hospital-local region codes (Khanza AUTO_INCREMENT numbers, deliberately NOT Kemendagri codes).
KD_PROP_JATIM = 2
KD_KAB_BANYUWANGI = 5
KD_KEC_BANYUWANGI = 11
KD_KEC_GIRI = 12
KD_KEL_KEPATIHAN = 101
KD_KEL_PENATABAN = 102
KD_KEL_BOYOLANGU = 103

DRUGS = [
    # kode_brng, nama_brng, kode_sat, kdjns, kode_kategori, kode_golongan
    ("B000000001", "Amlodipine 10 mg", "TAB", "J001", "K01", "G03"),
    ("B000000002", "Metformin 500 mg", "TAB", "J001", "K01", "G03"),
    ("B000000003", "Paracetamol 500 mg", "TAB", "J001", "K01", "G01"),
    ("B000000004", "Codein 10 mg", "TAB", "J001", "K01", "G04"),
    ("B000000005", "Diazepam 2 mg", "TAB", "J001", "K01", "G05"),
    ("B000000006", "Ambroxol Sirup 15 mg/5 ml", "BTL", "J002", "K01", "G03"),
    ("B000000007", "CTM 4 mg", "TAB", "J001", "-", "-"),
]


def create_database(admin: sa.Engine, name: str) -> None:
    """(Re)create an empty latin1 database ``name`` (admin = a server-level engine, e.g. root)."""
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET latin1 COLLATE latin1_swedish_ci"))


def drop_database(admin: sa.Engine, name: str) -> None:
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))


def khanza_session(conn: sa.Connection) -> None:
    """Make this session behave like Khanza's server: zero dates accepted."""
    conn.execute(sa.text(f"SET SESSION sql_mode = '{KHANZA_SQL_MODE}'"))


def create_schema(conn: sa.Connection) -> None:
    khanza_session(conn)
    for statement in SCHEMA_SQL.read_text().split(";\n"):
        body = "\n".join(line for line in statement.splitlines() if not line.startswith("--")).strip()
        if body:
            conn.exec_driver_sql(body)


TABLES = [
    "resep_dokter_racikan_detail",
    "resep_dokter_racikan",
    "resep_dokter",
    "resep_obat",
    "bridging_sep",
    "reg_periksa",
    "pasien",
    "databarang",
    "metode_racik",
    "kodesatuan",
    "jenis",
    "kategori_barang",
    "golongan_barang",
    "penjab",
    "kelurahan",
    "kecamatan",
    "kabupaten",
    "propinsi",
]


def truncate_all(conn: sa.Connection) -> None:
    for table in TABLES:
        conn.exec_driver_sql(f"TRUNCATE TABLE {table}")


def _insert(conn: sa.Connection, table: str, rows: Sequence[dict[str, object]]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"  # noqa: S608
    conn.execute(sa.text(sql), list(rows))


def seed_reference(conn: sa.Connection) -> None:
    """Master data: regions (local codes, Khanza's "-" seed row), payers, drug classes, drugs."""
    khanza_session(conn)
    _insert(
        conn,
        "propinsi",
        [{"kd_prop": 1, "nm_prop": "-"}, {"kd_prop": KD_PROP_JATIM, "nm_prop": "JAWA TIMUR"}],
    )
    _insert(
        conn,
        "kabupaten",
        [{"kd_kab": 1, "nm_kab": "-"}, {"kd_kab": KD_KAB_BANYUWANGI, "nm_kab": "BANYUWANGI"}],
    )
    _insert(
        conn,
        "kecamatan",
        [
            {"kd_kec": 1, "nm_kec": "-"},
            {"kd_kec": KD_KEC_BANYUWANGI, "nm_kec": "BANYUWANGI"},
            {"kd_kec": KD_KEC_GIRI, "nm_kec": "GIRI"},
        ],
    )
    _insert(
        conn,
        "kelurahan",
        [
            {"kd_kel": 1, "nm_kel": "-"},
            {"kd_kel": KD_KEL_KEPATIHAN, "nm_kel": "KEPATIHAN"},
            {"kd_kel": KD_KEL_PENATABAN, "nm_kel": "PENATABAN"},
            {"kd_kel": KD_KEL_BOYOLANGU, "nm_kel": "BOYOLANGU"},
        ],
    )
    _insert(
        conn,
        "penjab",
        [
            {"kd_pj": "BPJ", "png_jawab": "BPJS Kesehatan"},
            {"kd_pj": "UMU", "png_jawab": "Umum"},
            {"kd_pj": "-", "png_jawab": "-"},
        ],
    )
    _insert(
        conn,
        "golongan_barang",
        [
            {"kode": "-", "nama": "-"},
            {"kode": "G01", "nama": "Obat Bebas"},
            {"kode": "G03", "nama": "Obat Keras"},
            {"kode": "G04", "nama": "Narkotika"},
            {"kode": "G05", "nama": "Psikotropika"},
        ],
    )
    _insert(conn, "kategori_barang", [{"kode": "-", "nama": "-"}, {"kode": "K01", "nama": "Obat"}])
    _insert(conn, "jenis", [{"kdjns": "J001", "nama": "Tablet"}, {"kdjns": "J002", "nama": "Sirup"}])
    _insert(
        conn, "kodesatuan", [{"kode_sat": "TAB", "satuan": "Tablet"}, {"kode_sat": "BTL", "satuan": "Botol"}]
    )
    _insert(
        conn,
        "metode_racik",
        [{"kd_racik": "R01", "nm_racik": "Puyer"}, {"kd_racik": "R02", "nm_racik": "Kapsul"}],
    )
    _insert(
        conn,
        "databarang",
        [
            {
                "kode_brng": code,
                "nama_brng": name,
                "kode_sat": sat,
                "kdjns": jns,
                "kode_kategori": kat,
                "kode_golongan": gol,
                "expire": "0000-00-00",
            }
            for code, name, sat, jns, kat, gol in DRUGS
        ],
    )


def add_patient(
    conn: sa.Connection,
    no_rkm_medis: str,
    nm_pasien: str,
    *,
    alamat: str = "-",
    no_tlp: str = "",
    kd_kel: int = 1,
    kd_kec: int = 1,
    kd_kab: int = 1,
    kd_prop: int = 1,
    kd_pj: str = "UMU",
    tgl_lahir: str = "1970-01-01",
    no_peserta: str = "",
) -> None:
    _insert(
        conn,
        "pasien",
        [
            {
                "no_rkm_medis": no_rkm_medis,
                "nm_pasien": nm_pasien,
                "no_ktp": "",
                "jk": "P",
                "tgl_lahir": tgl_lahir,
                "alamat": alamat,
                "tgl_daftar": "0000-00-00",
                "no_tlp": no_tlp,
                "kd_pj": kd_pj,
                "no_peserta": no_peserta,
                "kd_kel": kd_kel,
                "kd_kec": kd_kec,
                "kd_kab": kd_kab,
                "kd_prop": kd_prop,
            }
        ],
    )


def add_visit(conn: sa.Connection, no_rawat: str, no_rkm_medis: str, *, kd_pj: str = "UMU") -> None:
    _insert(
        conn,
        "reg_periksa",
        [
            {
                "no_rawat": no_rawat,
                "tgl_registrasi": no_rawat[:10].replace("/", "-"),
                "jam_reg": "07:00:00",
                "kd_dokter": "D0001",
                "no_rkm_medis": no_rkm_medis,
                "kd_poli": "INT",
                "stts": "Sudah",
                "status_lanjut": "Ralan",
                "kd_pj": kd_pj,
            }
        ],
    )


def add_sep(
    conn: sa.Connection,
    no_sep: str,
    no_rawat: str,
    *,
    peserta: str,
    no_kartu: str,
    tglsep: str = "0000-00-00",
) -> None:
    _insert(
        conn,
        "bridging_sep",
        [
            {
                "no_sep": no_sep,
                "no_rawat": no_rawat,
                "tglsep": tglsep,
                "jnspelayanan": "2",
                "klsrawat": "3",
                "peserta": peserta,
                "no_kartu": no_kartu,
            }
        ],
    )


@dataclass
class Racikan:
    no_racik: str
    nama_racik: str
    jml_dr: int
    aturan_pakai: str
    components: list[str] = field(default_factory=list)  # kode_brng
    kd_racik: str = "R01"


def add_prescription(
    conn: sa.Connection,
    no_resep: str,
    no_rawat: str,
    peresepan: datetime | None,
    *,
    items: Sequence[tuple[str, float, str]] = (),
    racikan: Sequence[Racikan] = (),
    tgl_perawatan: str = "0000-00-00",
    jam: str | None = None,
    status: str = "ralan",
) -> None:
    """One resep_obat header with its resep_dokter lines ``(kode_brng, jml, aturan_pakai)`` and racikan."""
    _insert(
        conn,
        "resep_obat",
        [
            {
                "no_resep": no_resep,
                "tgl_perawatan": tgl_perawatan,
                "jam": jam or (peresepan.strftime("%H:%M:%S") if peresepan else "00:00:00"),
                "no_rawat": no_rawat,
                "kd_dokter": "D0001",
                "tgl_peresepan": peresepan.strftime("%Y-%m-%d") if peresepan else "0000-00-00",
                "jam_peresepan": peresepan.strftime("%H:%M:%S") if peresepan else "00:00:00",
                "status": status,
            }
        ],
    )
    add_items(conn, no_resep, items)
    for r in racikan:
        _insert(
            conn,
            "resep_dokter_racikan",
            [
                {
                    "no_resep": no_resep,
                    "no_racik": r.no_racik,
                    "nama_racik": r.nama_racik,
                    "kd_racik": r.kd_racik,
                    "jml_dr": r.jml_dr,
                    "aturan_pakai": r.aturan_pakai,
                    "keterangan": "",
                }
            ],
        )
        _insert(
            conn,
            "resep_dokter_racikan_detail",
            [
                {
                    "no_resep": no_resep,
                    "no_racik": r.no_racik,
                    "kode_brng": code,
                    "p1": 1,
                    "p2": 1,
                    "kandungan": "",
                    "jml": 1,
                }
                for code in r.components
            ],
        )


def add_items(conn: sa.Connection, no_resep: str, items: Sequence[tuple[str, float, str]]) -> None:
    _insert(
        conn,
        "resep_dokter",
        [
            {"no_resep": no_resep, "kode_brng": code, "jml": jml, "aturan_pakai": aturan}
            for code, jml, aturan in items
        ],
    )


def generate_prescriptions(
    conn: sa.Connection,
    count: int,
    *,
    start: datetime,
    step: timedelta = timedelta(seconds=7),
    prefix: str = "G",
) -> list[str]:
    """``count`` outpatient prescriptions (each its own patient and visit, two lines), bulk-inserted.

    Needs ``seed_reference`` first. Returns the no_resep values in (tgl_peresepan, jam_peresepan) order.
    """
    khanza_session(conn)
    patients, visits, headers, lines, seps = [], [], [], [], []
    numbers: list[str] = []
    for i in range(count):
        at = start + step * i
        no_resep = f"{prefix}{i:09d}"
        mrn = f"{prefix}{i:08d}"
        no_rawat = f"{at:%Y/%m/%d}/{prefix[:1]}{i:05d}"  # varchar(17): unique for < 100,000 per prefix
        bpjs = i % 3 == 0
        patients.append(
            {
                "no_rkm_medis": mrn,
                "nm_pasien": f"PASIEN {i}",
                "tgl_lahir": "0000-00-00" if i % 5 == 0 else "1980-05-17",
                "alamat": f"Jl. Ahmad Yani No. {i % 200} RT {i % 9 + 1:02d} RW {i % 4 + 1:02d}",
                "no_tlp": f"0812 {i:08d}",
                "kd_pj": "BPJ" if bpjs else "UMU",
                "kd_kel": KD_KEL_KEPATIHAN,
                "kd_kec": KD_KEC_BANYUWANGI,
                "kd_kab": KD_KAB_BANYUWANGI,
                "kd_prop": KD_PROP_JATIM,
            }
        )
        visits.append(
            {
                "no_rawat": no_rawat,
                "tgl_registrasi": f"{at:%Y-%m-%d}",
                "no_rkm_medis": mrn,
                "kd_pj": "BPJ" if bpjs else "UMU",
            }
        )
        if bpjs:
            seps.append(
                {
                    "no_sep": f"1327R001{i:011d}",
                    "no_rawat": no_rawat,
                    "peserta": "PBI (APBN)",
                    "no_kartu": f"{i:013d}",
                }
            )
        headers.append(
            {
                "no_resep": no_resep,
                "tgl_perawatan": "0000-00-00",
                "jam": f"{at:%H:%M:%S}",
                "no_rawat": no_rawat,
                "kd_dokter": "D0001",
                "tgl_peresepan": f"{at:%Y-%m-%d}",
                "jam_peresepan": f"{at:%H:%M:%S}",
                "status": "ralan",
            }
        )
        lines.append({"no_resep": no_resep, "kode_brng": "B000000001", "jml": 30, "aturan_pakai": "1 x 1"})
        lines.append(
            {"no_resep": no_resep, "kode_brng": "B000000003", "jml": 10, "aturan_pakai": "3 x 1 bila demam"}
        )
        numbers.append(no_resep)
    for table, rows in (
        ("pasien", patients),
        ("reg_periksa", visits),
        ("bridging_sep", seps),
        ("resep_obat", headers),
        ("resep_dokter", lines),
    ):
        for chunk_start in range(0, len(rows), 2000):
            _insert(conn, table, rows[chunk_start : chunk_start + 2000])
    return numbers
