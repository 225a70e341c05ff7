"""CSV prescription export: one row per prescription item, rows sharing ``no_resep`` form one prescription.

The column set follows what a SIMRS Khanza export can give (``resep_obat``, ``resep_dokter``,
``resep_dokter_racikan``, ``pasien``, ``bridging_sep``); see ``docs/csv-intake.md``. Parsing is partial on
purpose: a prescription any of whose rows is bad is reported row by row (line number, column, message in
Bahasa Indonesia then English) and not taken, the others are. A file that cannot be read at all (unknown
encoding, no header, required columns missing) is one whole-file error.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from pydantic import ValidationError

from hospital_adapter.canonical import (
    AddressIn,
    ComponentIn,
    CoverageIn,
    ItemIn,
    PatientIn,
    PrescriptionIn,
)

SOURCE_NAME = "csv"
KFA_SYSTEM = "http://sys-ids.kemkes.go.id/kfa"
WIB = timezone(timedelta(hours=7), "WIB")
FILE_ROW = 0
"""``RowError.row`` for an error about the whole file (unreadable, empty)."""
HEADER_ROW = 1


@dataclass(frozen=True)
class Column:
    name: str
    required: bool
    """The header must have the column and every row a value (``jumlah``: see its meaning)."""
    meaning: str
    example: str
    max_length: int | None = None


COLUMNS: tuple[Column, ...] = (
    Column(
        "no_resep",
        True,
        "Nomor resep (Khanza resep_obat.no_resep) / prescription number",
        "202611290001",
        128,
    ),
    Column(
        "tgl_resep",
        False,
        "Tanggal resep, WIB: YYYY-MM-DD atau DD/MM/YYYY, jam opsional / prescription date",
        "2026-11-29 08:15",
    ),
    Column("no_rm", True, "Nomor rekam medis / medical record number", "RM-010231", 64),
    Column("nama_pasien", True, "Nama pasien / patient name", "Siti Aminah", 200),
    Column("no_hp", True, "Nomor HP pasien untuk SMS / patient's mobile", "0812-3456-0101", 100),
    Column("alamat", True, "Alamat rumah (dusun, jalan) / home address", "Dsn. Krajan", 500),
    Column("rt", False, "RT", "02", 8),
    Column("rw", False, "RW", "01", 8),
    Column(
        "kode_desa",
        False,
        "Kode desa/kelurahan Kemendagri, 10 digit, titik boleh / village code",
        "35.10.15.2004",
    ),
    Column("desa", False, "Nama desa/kelurahan / village", "Kemiren", 100),
    Column("kecamatan", False, "Nama kecamatan / district", "Glagah", 100),
    Column("kabupaten", False, "Nama kabupaten/kota / regency", "Banyuwangi", 100),
    Column("kode_pos", False, "Kode pos / postal code", "68432", 8),
    Column("penjamin", False, "Penjamin/cara bayar (penjab.png_jawab) / payer", "BPJS Kesehatan", 100),
    Column(
        "jenis_peserta",
        False,
        "Jenis peserta dari SEP (bridging_sep.peserta) / SEP participant type",
        "PBI (APBN)",
        100,
    ),
    Column("no_sep", False, "Nomor SEP / SEP number", "1311R0011126V000123", 64),
    Column(
        "spm",
        False,
        "Surat Pernyataan Miskin ada: ya/tidak/1/0/true/false / poverty declaration on file",
        "tidak",
    ),
    Column(
        "kode_obat", False, "Kode barang lokal (databarang.kode_brng) / local drug code", "B000000123", 64
    ),
    Column("kode_kfa", False, "Kode KFA / national KFA code", "93006500", 64),
    Column(
        "nama_obat",
        True,
        "Nama obat; pada racikan baris pertama menamai racikan / drug name",
        "Amlodipine 10 mg Tablet",
        500,
    ),
    Column(
        "jumlah",
        True,
        "Jumlah (angka > 0, koma desimal boleh); pada racikan wajib di baris pertama saja / quantity",
        "30",
        None,
    ),
    Column("satuan", False, "Satuan / unit", "TAB", 32),
    Column("aturan_pakai", False, "Aturan pakai / instructions", "1 x 1 sesudah makan", 500),
    Column("bentuk_sediaan", False, "Bentuk sediaan / dosage form", "Tablet", 64),
    Column(
        "golongan", False, "Golongan obat (mis. Narkotika, Psikotropika, OOT) / drug class", "Obat Keras", 64
    ),
    Column(
        "racikan_ke",
        False,
        "Nomor racikan: baris dengan nomor sama dalam satu resep = satu racikan / compound number",
        "1",
        16,
    ),
)
COLUMN_NAMES = tuple(column.name for column in COLUMNS)
REQUIRED_COLUMNS = tuple(column.name for column in COLUMNS if column.required)
_MAX_LENGTH = {column.name: column.max_length for column in COLUMNS if column.max_length}
PATIENT_COLUMNS = ("no_rm", "nama_pasien")

TEMPLATE_CSV: bytes = (
    ";".join(COLUMN_NAMES)
    + "\r\n"
    + "202611290001;2026-11-29 08:15;RM-010231;Siti Aminah;0812-3456-0101;Dsn. Krajan;02;01;35.10.15.2004;Kemiren;"
    "Glagah;Banyuwangi;68432;BPJS Kesehatan;PBI (APBN);1311R0011126V000123;tidak;B000000123;93006500;"
    "Amlodipine 10 mg Tablet;30;TAB;1 x 1 sesudah makan;Tablet;Obat Keras;\r\n"
    + "202611290001;2026-11-29 08:15;RM-010231;Siti Aminah;0812-3456-0101;Dsn. Krajan;02;01;35.10.15.2004;Kemiren;"
    "Glagah;Banyuwangi;68432;BPJS Kesehatan;PBI (APBN);1311R0011126V000123;tidak;B000000456;;"
    "Paracetamol 500 mg;10;BKS;3 x 1 bungkus;Puyer;Obat Keras;1\r\n"
    + "202611290001;2026-11-29 08:15;RM-010231;Siti Aminah;0812-3456-0101;Dsn. Krajan;02;01;35.10.15.2004;Kemiren;"
    "Glagah;Banyuwangi;68432;BPJS Kesehatan;PBI (APBN);1311R0011126V000123;tidak;B000000789;;"
    "Chlorpheniramine maleate 4 mg;;;;;Obat Keras;1\r\n"
).encode()


@dataclass(frozen=True)
class RowError:
    row: int
    """The file's line number, the header being line 1; 0 for the whole file."""
    column: str | None
    message: str


@dataclass(frozen=True)
class CsvPrescription:
    rows: list[int]
    prescription: PrescriptionIn


@dataclass
class CsvParseResult:
    prescriptions: list[CsvPrescription] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    encoding: str | None = None
    """``utf-8``, ``utf-8-sig`` (with a byte-order mark) or ``cp1252``; None when the file was unreadable."""
    file_error: bool = False
    """True when nothing could be read row by row (encoding, header, required columns)."""


class _Row:
    """One data row: its line number, its cells by column name, and the errors found in it."""

    def __init__(self, line: int, cells: dict[str, str]):
        self.line = line
        self.cells = cells
        self.errors: list[RowError] = []

    def get(self, name: str) -> str:
        return self.cells.get(name, "")

    def optional(self, name: str) -> str | None:
        return self.cells.get(name) or None

    def error(self, column: str | None, message: str) -> None:
        self.errors.append(RowError(self.line, column, message))


def parse_csv(raw: bytes) -> CsvParseResult:
    """Read a whole export; never raises for bad input (it is all in ``errors``)."""
    decoded = _decode(raw)
    if decoded is None:
        return _file_error(
            FILE_ROW,
            None,
            "Berkas tidak dapat dibaca: bukan teks CSV UTF-8 atau Windows-1252 / "
            "the file cannot be read: not UTF-8 or Windows-1252 CSV text",
        )
    text, encoding = decoded
    if not text.strip():
        return _file_error(FILE_ROW, None, "Berkas kosong / the file is empty", encoding)
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    try:
        header, rows = _read_rows(text, delimiter)
    except csv.Error as exc:
        return _file_error(FILE_ROW, None, f"CSV rusak / malformed CSV: {exc}", encoding)
    if header is None:
        return _file_error(FILE_ROW, None, "Berkas kosong / the file is empty", encoding)
    header_line, names = header
    problems = _check_header(header_line, names)
    if problems:
        return CsvParseResult(errors=problems, encoding=encoding, file_error=True)
    if not rows:
        return _file_error(
            header_line, None, "Tidak ada baris data / the file has a header but no data rows", encoding
        )
    parsed = [
        _Row(line, {name: value.strip() for name, value in zip(names, values, strict=False) if name})
        for line, values in rows
    ]
    result = CsvParseResult(encoding=encoding)
    groups: dict[str, list[_Row]] = {}
    for row in parsed:
        _check_cells(row)
        if number := row.get("no_resep"):
            groups.setdefault(number, []).append(row)
    orphans = [row for row in parsed if not row.get("no_resep")]
    for number, group in groups.items():
        prescription = _build(number, group)
        errors = [error for row in group for error in row.errors]
        if errors or prescription is None:
            result.errors.extend(errors)
        else:
            result.prescriptions.append(CsvPrescription([row.line for row in group], prescription))
    for row in orphans:
        result.errors.extend(row.errors)
    result.errors.sort(key=lambda error: error.row)
    return result


def _file_error(row: int, column: str | None, message: str, encoding: str | None = None) -> CsvParseResult:
    return CsvParseResult(errors=[RowError(row, column, message)], encoding=encoding, file_error=True)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _decode(raw: bytes) -> tuple[str, str] | None:
    """UTF-8 (with or without BOM) first, then Windows-1252 (a superset of latin-1's printable range)."""
    candidates = [
        ("utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8", "utf-8-sig"),
        ("cp1252", "cp1252"),
    ]
    for label, codec in candidates:
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError:
            continue
        if _CONTROL.search(text):
            return None  # binary: a spreadsheet file, an image, random bytes
        return text, label
    return None


Numbered = tuple[int, list[str]]


def _read_rows(text: str, delimiter: str) -> tuple[Numbered | None, list[Numbered]]:
    """The header and the data rows, each with the line it starts on; blank rows are skipped."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: Numbered | None = None
    rows: list[Numbered] = []
    line = 1
    for values in reader:
        start, line = line, reader.line_num + 1
        if not any(value.strip() for value in values):
            continue
        if header is None:
            header = (start, values)
        else:
            rows.append((start, values))
    return header, rows


def _normalise_name(name: str) -> str:
    return re.sub(r"[\s\-.]+", "_", name.strip().lower()).strip("_")


def _check_header(line: int, names: list[str]) -> list[RowError]:
    names[:] = [_normalise_name(name) for name in names]
    errors = []
    seen: set[str] = set()
    for name in names:
        if name in COLUMN_NAMES and name in seen:
            errors.append(RowError(line, name, f"kolom {name} ganda / column {name} appears twice"))
        seen.add(name)
    errors.extend(
        RowError(line, name, f"kolom wajib {name} tidak ada / required column {name} is missing")
        for name in REQUIRED_COLUMNS
        if name not in seen
    )
    if errors and not seen & set(COLUMN_NAMES):
        errors.append(
            RowError(
                line,
                None,
                "Baris pertama harus berisi nama kolom (lihat templat) / "
                "the first line must be the column names (see the template)",
            )
        )
    return errors


# --- cells ------------------------------------------------------------------------------------------------

_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y")
_TIME_FORMATS = ("", " %H:%M", " %H:%M:%S", "T%H:%M", "T%H:%M:%S")
_TRUE = frozenset({"ya", "y", "1", "true", "benar", "yes"})
_FALSE = frozenset({"tidak", "t", "0", "false", "salah", "no", "n", ""})


def parse_date(value: str) -> datetime | None:
    """A WIB wall-clock date (and optional time) as an aware datetime; None when the text is no date."""
    for date_format in _DATE_FORMATS:
        for time_format in _TIME_FORMATS:
            try:
                return datetime.strptime(value, date_format + time_format).replace(tzinfo=WIB)
            except ValueError:
                continue
    return None


def parse_quantity(value: str) -> float | None:
    """``30``, ``0,5`` or ``2.5``; None when not a positive number."""
    text = value.replace(" ", "")
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    try:
        number = float(text)
    except ValueError:
        return None
    return number if number > 0 and number != float("inf") else None


def village_code(value: str) -> str | None:
    """Kemendagri desa/kelurahan code without dots (10 digits), or None when malformed."""
    digits = value.replace(".", "").replace(" ", "")
    return digits if re.fullmatch(r"\d{10}", digits) else None


def _check_cells(row: _Row) -> None:
    for name in ("no_resep", "no_rm", "nama_pasien", "no_hp", "alamat", "nama_obat"):
        if not row.get(name):
            row.error(name, f"{name} kosong / {name} is empty")
    for name, limit in _MAX_LENGTH.items():
        if len(row.get(name)) > limit:
            row.error(name, f"{name} lebih dari {limit} karakter / {name} is longer than {limit} characters")
    phone = row.get("no_hp")
    if phone and not 8 <= len(re.sub(r"\D", "", phone)) <= 15:
        row.error("no_hp", f"no_hp bukan nomor telepon: {phone!r} / no_hp is not a phone number")
    if (value := row.get("tgl_resep")) and parse_date(value) is None:
        row.error(
            "tgl_resep",
            f"tgl_resep tidak dikenali: {value!r} (YYYY-MM-DD atau DD/MM/YYYY) / "
            "tgl_resep is not a date (YYYY-MM-DD or DD/MM/YYYY)",
        )
    if (value := row.get("kode_desa")) and village_code(value) is None:
        row.error(
            "kode_desa",
            f"kode_desa harus 10 digit Kemendagri: {value!r} / kode_desa must be a 10-digit Kemendagri code",
        )
    if row.get("spm").lower() not in _TRUE | _FALSE:
        row.error("spm", f"spm harus ya/tidak: {row.get('spm')!r} / spm must be yes/no (ya/tidak, 1/0)")
    if (value := row.get("jumlah")) and parse_quantity(value) is None:
        row.error("jumlah", f"jumlah harus angka > 0: {value!r} / jumlah must be a number above 0")


# --- prescriptions ----------------------------------------------------------------------------------------


def _build(number: str, group: list[_Row]) -> PrescriptionIn | None:
    first = group[0]
    for row in group[1:]:
        for name in PATIENT_COLUMNS:
            if _same(row.get(name)) != _same(first.get(name)):
                row.error(
                    name,
                    f"pasien berbeda dari baris {first.line} untuk no_resep {number} / "
                    f"a different patient than line {first.line} for the same no_resep",
                )
    _check_racikan(group)
    if any(row.errors for row in group):
        return None
    try:
        return PrescriptionIn(
            source=SOURCE_NAME,
            prescription_id=number,
            authored_on=parse_date(_first(group, "tgl_resep")) if _first(group, "tgl_resep") else None,
            patient=PatientIn(
                source_id=first.get("no_rm"),
                name=first.get("nama_pasien"),
                phone=first.get("no_hp"),
                address=_address(first),
            ),
            items=_items(group),
            coverage=_coverage(group),
            poverty_declaration=any(row.get("spm").lower() in _TRUE for row in group),
        )
    except ValidationError as exc:  # a bound the column table does not know: report, never the value
        for error in exc.errors()[:5]:
            first.error(
                None, f"data tidak valid / invalid data: {'.'.join(map(str, error['loc']))}: {error['msg']}"
            )
        return None


def _same(value: str) -> str:
    return " ".join(value.casefold().split())


def _first(group: list[_Row], name: str) -> str:
    return next((value for row in group if (value := row.get(name))), "")


def _check_racikan(group: list[_Row]) -> None:
    """``jumlah`` is needed on plain rows and on the first row of each racikan (the compound's count)."""
    seen: set[str] = set()
    for row in group:
        key = row.get("racikan_ke")
        if not key:
            if not row.get("jumlah"):
                row.error("jumlah", "jumlah kosong / jumlah is empty")
        elif key not in seen:
            seen.add(key)
            if not row.get("jumlah"):
                row.error(
                    "jumlah",
                    "jumlah kosong di baris pertama racikan / jumlah is empty on the first row of a compound",
                )


def _items(group: list[_Row]) -> list[ItemIn]:
    """Plain rows are items; rows sharing ``racikan_ke`` are one item, named by its first row."""
    items: list[ItemIn] = []
    compounds: dict[str, list[_Row]] = {}
    order: list[str | _Row] = []
    for row in group:
        key = row.get("racikan_ke")
        if not key:
            order.append(row)
        elif key in compounds:
            compounds[key].append(row)
        else:
            compounds[key] = [row]
            order.append(key)
    for entry in order:
        if isinstance(entry, _Row):
            items.append(_item(entry, components=[]))
        else:
            rows = compounds[entry]
            items.append(_item(rows[0], components=[_component(row) for row in rows]))
    return items


def _item(row: _Row, components: list[ComponentIn]) -> ItemIn:
    kfa = row.optional("kode_kfa")
    return ItemIn(
        code=None if components else kfa,
        code_system=KFA_SYSTEM if kfa and not components else None,
        local_code=None if components else row.optional("kode_obat"),
        display=row.get("nama_obat"),
        quantity=parse_quantity(row.get("jumlah")),
        unit=row.optional("satuan"),
        instructions=row.optional("aturan_pakai"),
        dosage_form=row.optional("bentuk_sediaan"),
        drug_class=row.optional("golongan"),
        components=components,
    )


def _component(row: _Row) -> ComponentIn:
    kfa = row.optional("kode_kfa")
    return ComponentIn(
        code=kfa,
        code_system=KFA_SYSTEM if kfa else None,
        local_code=row.optional("kode_obat"),
        display=row.get("nama_obat"),
        drug_class=row.optional("golongan"),
    )


def _address(row: _Row) -> AddressIn:
    line = row.get("alamat")
    code = village_code(row.get("kode_desa")) if row.get("kode_desa") else None
    parts = [line]
    # The patient record keeps only the text and the codes: the names go into the text unless already there.
    for prefix, name in (("Desa", "desa"), ("Kec.", "kecamatan"), ("Kab.", "kabupaten")):
        value = row.get(name)
        if value and _same(value) not in _same(line):
            parts.append(f"{prefix} {value}")
    return AddressIn(
        text=", ".join(parts),
        lines=[line],
        rt=row.optional("rt"),
        rw=row.optional("rw"),
        village_code=code,
        district_code=code[:6] if code else None,
        city_code=code[:4] if code else None,
        province_code=code[:2] if code else None,
        village=row.optional("desa"),
        district=row.optional("kecamatan"),
        city=row.optional("kabupaten"),
        postal_code=row.optional("kode_pos"),
    )


def _coverage(group: list[_Row]) -> list[CoverageIn]:
    payer, participant, sep = (_first(group, name) for name in ("penjamin", "jenis_peserta", "no_sep"))
    if not (payer or participant or sep):
        return []
    return [CoverageIn(payer=payer or None, participant_type=participant or None, sep_number=sep or None)]
