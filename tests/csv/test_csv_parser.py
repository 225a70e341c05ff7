"""The CSV source: column set, encodings, delimiters, racikan grouping, and row-by-row errors."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from hospital_adapter.canonical import SourceInputError
from hospital_adapter.csv import SOURCE, TEMPLATE_CSV, parse_csv
from hospital_adapter.csv.parser import COLUMN_NAMES, FILE_ROW, REQUIRED_COLUMNS

HEADER = "no_resep,tgl_resep,no_rm,nama_pasien,no_hp,alamat,kode_desa,kecamatan,penjamin,jenis_peserta,no_sep,spm,kode_obat,kode_kfa,nama_obat,jumlah,satuan,aturan_pakai,golongan,racikan_ke"


def row(
    no_resep: str = "R1",
    *,
    tgl: str = "2026-11-29",
    no_rm: str = "RM-1",
    nama: str = "Siti Aminah",
    hp: str = "0812-3456-0101",
    alamat: str = "Dsn. Krajan",
    desa: str = "35.10.15.2004",
    kec: str = "Glagah",
    penjamin: str = "BPJS Kesehatan",
    peserta: str = "PBI (APBN)",
    sep: str = "SEP1",
    spm: str = "tidak",
    kode: str = "B1",
    kfa: str = "93006500",
    obat: str = "Amlodipine 10 mg",
    jumlah: str = "30",
    satuan: str = "TAB",
    aturan: str = "1 x 1",
    golongan: str = "",
    racikan: str = "",
) -> str:
    return ",".join(
        [
            no_resep,
            tgl,
            no_rm,
            nama,
            hp,
            alamat,
            desa,
            kec,
            penjamin,
            peserta,
            sep,
            spm,
            kode,
            kfa,
            obat,
            jumlah,
        ]
        + [satuan, aturan, golongan, racikan]
    )


def csv_of(*rows: str, header: str = HEADER) -> bytes:
    return ("\r\n".join([header, *rows]) + "\r\n").encode()


def test_a_good_file_gives_one_prescription_per_no_resep():
    result = parse_csv(
        csv_of(row("R1"), row("R1", kode="B2", obat="Metformin 500 mg"), row("R2", no_rm="RM-2"))
    )
    assert result.errors == []
    assert result.encoding == "utf-8"
    assert [(p.prescription.prescription_id, p.rows) for p in result.prescriptions] == [
        ("R1", [2, 3]),
        ("R2", [4]),
    ]
    rx = result.prescriptions[0].prescription
    assert rx.source == "csv"
    assert [item.display for item in rx.items] == ["Amlodipine 10 mg", "Metformin 500 mg"]
    item = rx.items[0]
    assert (item.code, item.code_system, item.local_code) == (
        "93006500",
        "http://sys-ids.kemkes.go.id/kfa",
        "B1",
    )
    assert (item.quantity, item.unit, item.instructions) == (30.0, "TAB", "1 x 1")
    assert rx.patient.source_id == "RM-1"
    address = rx.patient.address
    assert (address.village_code, address.district_code, address.city_code, address.province_code) == (
        "3510152004",
        "351015",
        "3510",
        "35",
    )
    assert address.text == "Dsn. Krajan, Kec. Glagah"
    coverage = rx.coverage[0]
    assert (coverage.payer, coverage.participant_type, coverage.sep_number) == (
        "BPJS Kesehatan",
        "PBI (APBN)",
        "SEP1",
    )
    assert rx.poverty_declaration is False


def test_the_template_parses_and_has_a_racikan():
    result = parse_csv(TEMPLATE_CSV)
    assert result.errors == []
    [entry] = result.prescriptions
    assert entry.prescription.patient.address.city == "Banyuwangi"
    assert [len(item.components) for item in entry.prescription.items] == [0, 2]
    assert TEMPLATE_CSV.decode().splitlines()[0].split(";") == list(COLUMN_NAMES)


def test_semicolons_and_spaced_capitalised_headers_are_read():
    header = HEADER.replace(",", ";").replace("no_resep", " No Resep ").replace("nama_obat", "NAMA_OBAT")
    body = csv_of(row().replace(",", ";"), header=header)
    result = parse_csv(body)
    assert result.errors == []
    assert result.prescriptions[0].prescription.items[0].display == "Amlodipine 10 mg"


def test_a_utf8_bom_is_dropped_and_reported():
    result = parse_csv(b"\xef\xbb\xbf" + csv_of(row(nama="Séno")))
    assert result.errors == []
    assert result.encoding == "utf-8-sig"
    assert result.prescriptions[0].prescription.patient.name == "Séno"


@pytest.mark.parametrize("name", ["Siti Ma\u2019rufah", "Séno Pramudya"])
def test_windows_1252_names_are_read(name):
    result = parse_csv(csv_of(row(nama=name)).decode().encode("cp1252"))
    assert result.errors == []
    assert result.encoding == "cp1252"
    assert result.prescriptions[0].prescription.patient.name == name


def test_a_bad_row_drops_only_its_prescription_and_names_line_and_column():
    result = parse_csv(csv_of(row("R1"), row("R2", hp=""), row("R2", kode="B2"), row("R3", no_rm="RM-3")))
    assert [p.prescription.prescription_id for p in result.prescriptions] == ["R1", "R3"]
    [error] = result.errors
    assert (error.row, error.column) == (3, "no_hp")
    assert error.message == "no_hp kosong / no_hp is empty"


def test_every_bad_row_is_reported():
    result = parse_csv(
        csv_of(
            row("R1", jumlah="nol"), row("R1", tgl="kemarin"), row("R2", desa="35.10"), row("", spm="mungkin")
        )
    )
    assert result.prescriptions == []
    assert {(e.row, e.column) for e in result.errors} == {
        (2, "jumlah"),
        (3, "tgl_resep"),
        (4, "kode_desa"),
        (5, "no_resep"),
        (5, "spm"),
    }
    assert all(" / " in e.message for e in result.errors)


def test_racikan_rows_become_one_item_with_components():
    result = parse_csv(
        csv_of(
            row(obat="Amlodipine 10 mg"),
            row(kode="B7", kfa="", obat="Paracetamol 500 mg", jumlah="10", satuan="BKS", racikan="1"),
            row(kode="B8", kfa="", obat="Codein 10 mg", jumlah="", golongan="Narkotika", racikan="1"),
            row(kode="B9", kfa="", obat="Salbutamol 2 mg", jumlah="5", racikan="2"),
        )
    )
    assert result.errors == []
    items = result.prescriptions[0].prescription.items
    assert [item.display for item in items] == ["Amlodipine 10 mg", "Paracetamol 500 mg", "Salbutamol 2 mg"]
    puyer = items[1]
    assert (puyer.quantity, puyer.unit) == (10.0, "BKS")
    assert [(c.local_code, c.display, c.drug_class) for c in puyer.components] == [
        ("B7", "Paracetamol 500 mg", None),
        ("B8", "Codein 10 mg", "Narkotika"),
    ]


def test_the_first_racikan_row_needs_a_quantity():
    result = parse_csv(csv_of(row(jumlah="", racikan="1"), row(kode="B8", racikan="1")))
    assert [(e.row, e.column) for e in result.errors] == [(2, "jumlah")]


@pytest.mark.parametrize("missing", REQUIRED_COLUMNS)
def test_a_missing_required_column_is_a_whole_file_error(missing):
    names = HEADER.split(",")
    keep = [i for i, name in enumerate(names) if name != missing]
    header = ",".join(names[i] for i in keep)
    line = ",".join(row().split(",")[i] for i in keep)
    result = parse_csv(csv_of(line, header=header))
    assert result.file_error
    assert result.prescriptions == []
    assert [(e.row, e.column) for e in result.errors] == [(1, missing)]
    assert "tidak ada" in result.errors[0].message


def test_rows_of_one_no_resep_with_different_patients_are_refused():
    result = parse_csv(csv_of(row("R1"), row("R1", no_rm="RM-9", nama="Slamet"), row("R2", no_rm="RM-2")))
    assert [p.prescription.prescription_id for p in result.prescriptions] == ["R2"]
    assert {(e.row, e.column) for e in result.errors} == {(3, "no_rm"), (3, "nama_pasien")}
    assert "pasien berbeda" in result.errors[0].message


def test_patient_names_compare_without_case_and_spacing():
    result = parse_csv(csv_of(row("R1"), row("R1", nama="siti  AMINAH")))
    assert result.errors == []


WIB = timezone(timedelta(hours=7))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-29", datetime(2026, 11, 29, tzinfo=WIB)),
        ("29/11/2026", datetime(2026, 11, 29, tzinfo=WIB)),
        ("29/11/2026 08:15", datetime(2026, 11, 29, 8, 15, tzinfo=WIB)),
        ("2026-11-29 08:15:30", datetime(2026, 11, 29, 8, 15, 30, tzinfo=WIB)),
        ("", None),
    ],
)
def test_dates_in_both_formats_are_wib(text, expected):
    result = parse_csv(csv_of(row(tgl=text)))
    assert result.errors == []
    assert result.prescriptions[0].prescription.authored_on == expected


@pytest.mark.parametrize(
    ("value", "expected"), [("ya", True), ("1", True), ("TRUE", True), ("0", False), ("", False)]
)
def test_spm_values(value, expected):
    assert parse_csv(csv_of(row(spm=value))).prescriptions[0].prescription.poverty_declaration is expected


def test_decimal_comma_quantities_in_quoted_cells():
    result = parse_csv(csv_of(row(jumlah='"0,5"')))
    assert result.prescriptions[0].prescription.items[0].quantity == 0.5


def test_garbage_bytes_are_an_unreadable_file():
    result = parse_csv(bytes(range(256)) * 4)
    assert result.file_error
    assert result.encoding is None
    assert [(e.row, e.column) for e in result.errors] == [(FILE_ROW, None)]
    assert "tidak dapat dibaca" in result.errors[0].message


@pytest.mark.parametrize("body", [b"", b"\r\n\r\n", b"\xef\xbb\xbf"])
def test_an_empty_file_is_one_error(body):
    result = parse_csv(body)
    assert result.file_error
    assert result.errors[0].message == "Berkas kosong / the file is empty"


def test_a_header_without_rows_is_one_error():
    result = parse_csv(csv_of())
    assert result.file_error
    assert result.errors[0].row == 1


def test_a_too_long_cell_is_a_row_error():
    result = parse_csv(csv_of(row(satuan="X" * 40)))
    assert [(e.row, e.column) for e in result.errors] == [(2, "satuan")]


def test_the_registered_source_is_all_or_nothing():
    assert SOURCE.name == "csv"
    assert SOURCE.media_types == ("text/csv",)
    assert len(SOURCE.parse(TEMPLATE_CSV)) == 1
    with pytest.raises(SourceInputError) as caught:
        SOURCE.parse(csv_of(row("R1"), row("R2", hp="")))
    assert caught.value.issues == [("invalid", "no_hp kosong / no_hp is empty", "line 3, no_hp")]


def test_a_plain_row_needs_a_quantity_even_after_a_good_one():
    result = parse_csv(csv_of(row(), row(kode="B2", jumlah="")))
    assert [(e.row, e.column, e.message) for e in result.errors] == [
        (3, "jumlah", "jumlah kosong / jumlah is empty")
    ]


def test_the_source_is_installed_through_its_entry_point():
    from hospital_adapter.registry import get_source

    assert get_source("csv") is SOURCE


def test_line_numbers_count_physical_lines_across_quoted_newlines_and_blank_lines():
    body = csv_of(row("R1", alamat='"Dsn. Krajan\nRT 02"'), "", row("R2", hp=""))
    result = parse_csv(body)
    assert [p.rows for p in result.prescriptions] == [[2]]
    assert result.prescriptions[0].prescription.patient.address.lines == ["Dsn. Krajan\nRT 02"]
    assert [(e.row, e.column) for e in result.errors] == [(5, "no_hp")]
