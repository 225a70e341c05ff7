"""Read prescriptions out of a SIMRS Khanza database (MySQL/MariaDB) as canonical ``PrescriptionIn``.

Read-only: only parameterised SELECTs, run in one REPEATABLE READ transaction per poll (a consistent
snapshot across the paged queries) that is rolled back at the end. A MariaDB user with ``SELECT`` on the
Khanza schema is enough.

Watermark
---------
Khanza has no reliable ``updated_at``, and rows are edited in place (items added, ``jml`` changed) after
the header was written. So each poll:

1. scans ``resep_obat`` in keyset order ``(tgl_peresepan, jam_peresepan, no_resep)`` in pages of
   ``batch_size``, starting ``lookback_minutes`` before the high-water mark (the largest
   ``tgl_peresepan jam_peresepan`` ever read), so the *re-read window* is covered again together with
   everything newer;
2. builds each prescription and hashes its canonical content (a SHA-256 "fingerprint");
3. emits a prescription when its ``no_resep`` is not in ``Watermark.seen`` (new) or when its fingerprint
   changed (an amendment: same ``prescription_id``, new content);
4. reports as ``deleted`` every ``no_resep`` that was emitted earlier, sits inside the window, was not
   met by the scan and no longer exists in ``resep_obat`` at all;
5. keeps in ``Watermark.seen`` only the prescriptions inside the new window, so the watermark stays
   bounded (roughly "prescriptions per lookback period") and JSON-serialisable
   (``watermark.model_dump(mode="json")`` / ``Watermark.model_validate(...)``).

The window is anchored on the high-water mark, not on the wall clock, so clock skew between the SIMRS
clients, the DB server and the poller does not matter. Limits: an edit, insert or delete of a prescription
dated more than ``lookback_minutes`` before the newest prescription read is not seen; a ``resep_obat``
row whose ``tgl_peresepan`` is NULL or ``0000-00-00`` is never read (Khanza fills it on every
prescription it creates); a NULL ``jam_peresepan`` counts as 00:00:00 (authored at midnight) but may be
skipped when it sits on the first day of the window. The caller gets "exactly once" by persisting the returned watermark after it
has stored the batch; if it crashes in between, the next poll repeats the batch (store idempotently on
``prescription_id``). The scan uses the index ``(tgl_peresepan, jam_peresepan, no_resep)`` when the site
has one; without it, every poll reads ``resep_obat`` from the start of the window with a filesort.

Region codes
------------
``pasien.kd_kel/kd_kec/kd_kab/kd_prop`` are hospital-local AUTO_INCREMENT numbers, **not** Kemendagri
codes, so the reader puts the region *names* (``kelurahan.nm_kel`` ...) in ``AddressIn.village`` /
``district`` / ``city`` and leaves every ``*_code`` field empty. A hospital that keeps a local → Kemendagri
crosswalk would have to supply it; there is none in Khanza.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field, field_validator

from hospital_adapter.canonical import (
    AddressIn,
    ComponentIn,
    CoverageIn,
    ItemIn,
    PatientIn,
    PrescriptionIn,
)

SOURCE_NAME = "khanza"

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_POVERTY_TABLES = {"pasien": "p", "reg_periksa": "rp"}
_FALSY_MARKERS = {"", "0", "-", "n", "no", "t", "tidak", "false"}
_KEY_FORMAT = "%Y-%m-%d %H:%M:%S"
# UTF-8 read back through cp1252: "Ã©", "â€™", "Â "...
_MOJIBAKE_HINT = re.compile("[\u00c2\u00c3\u00e2][\u0080-\u00bf\u0152-\u2122]")
# "RT 02 RW 03", "RT.002/RW.003", "Rt 2 / Rw 3", "RT:02 RW:05", "RT/RW 002/003"
_RT_RW = re.compile(r"\bRT\s*[.:]?\s*0*(\d{1,3})\s*[/,\-]?\s*RW\s*[.:]?\s*0*(\d{1,3})\b", re.IGNORECASE)
_RT_RW_PAIR = re.compile(r"\bRT\s*/\s*RW\s*[.:]?\s*0*(\d{1,3})\s*/\s*0*(\d{1,3})\b", re.IGNORECASE)


class KhanzaSettings(BaseModel):
    """Per-hospital settings for reading its Khanza database (stored by the dispatch service).

    ``dsn`` must name a **read-only** user (``GRANT SELECT ON sik.* ...``); the hand-over write-back
    uses its own write-capable DSN (see ``writeback``).
    """

    dsn: str = Field(description='SQLAlchemy URL, e.g. "mysql+pymysql://gancang_ro:secret@10.0.0.5/sik"')
    charset: str = Field(
        default="latin1", description="Connection charset; Khanza tables are latin1 (cp1252)"
    )
    identifier_system: str | None = Field(default=None, description="Namespace of no_resep for this hospital")
    poverty_marker_column: str | None = Field(
        default=None,
        description='Optional site-specific SPM flag, "pasien.<column>" or "reg_periksa.<column>"; '
        'any value other than NULL, "", "0", "-", "N", "Tidak" means a poverty declaration is on file',
    )
    kd_pj_pbi: list[str] = Field(
        default_factory=lambda: ["BPJ"],
        description="penjab.kd_pj codes meaning BPJS/JKN; such coverage gets plan 'JKN' and the card number",
    )
    statuses: list[str] = Field(
        default_factory=lambda: ["ralan"], description="resep_obat.status values read"
    )
    utc_offset_hours: Literal[7, 8, 9] = Field(
        default=7,
        description="Khanza stores local wall-clock time: WIB 7, WITA 8, WIT 9 (no DST in Indonesia)",
    )
    lookback_minutes: int = Field(default=24 * 60, ge=1, le=31 * 24 * 60)
    batch_size: int = Field(default=1000, ge=1, le=10000)
    start_date: date | None = Field(
        default=None, description="Where the very first poll (no watermark) starts; None = the DB's CURDATE()"
    )

    @field_validator("poverty_marker_column")
    @classmethod
    def _check_marker(cls, value: str | None) -> str | None:
        if value is None:
            return None
        table, _, column = value.partition(".")
        if table not in _POVERTY_TABLES or not _IDENT.match(column):
            raise ValueError('poverty_marker_column must be "pasien.<column>" or "reg_periksa.<column>"')
        return value

    @field_validator("statuses")
    @classmethod
    def _check_statuses(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("statuses must not be empty")
        return value

    def engine_url(self) -> sa.URL:
        """The DSN with ``charset`` added unless the DSN sets one."""
        url = sa.make_url(self.dsn)
        if "charset" not in url.query:
            url = url.update_query_dict({"charset": self.charset})
        return url

    def create_engine(self) -> sa.Engine:
        """An engine for ``read_changes`` (small pool, pre-ping: the SIMRS DB may restart at night)."""
        return sa.create_engine(self.engine_url(), pool_pre_ping=True, pool_size=1, max_overflow=1)


class Watermark(BaseModel):
    """Where the last poll stopped; store it as JSON between polls.

    ``high_water`` is the largest ``"YYYY-MM-DD HH:MM:SS"`` (tgl_peresepan jam_peresepan) read so far;
    ``seen`` maps each ``no_resep`` inside the re-read window to ``[key, fingerprint]`` (a fingerprint that
    starts with ``"!"`` marks a prescription that was reported as an error, never emitted).
    """

    high_water: str
    seen: dict[str, tuple[str, str]] = Field(default_factory=dict)


@dataclass
class KhanzaBatch:
    """The result of one poll."""

    prescriptions: list[PrescriptionIn]
    deleted: list[str]
    watermark: Watermark
    errors: list[tuple[str, str]] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- queries

_HEADER_SQL = """
SELECT ro.no_resep, ro.no_rawat,
       CAST(ro.tgl_peresepan AS CHAR) AS tgl_peresepan, CAST(ro.jam_peresepan AS CHAR) AS jam_peresepan,
       rp.no_rawat AS rp_no_rawat, rp.kd_pj, pj.png_jawab,
       p.no_rkm_medis, p.nm_pasien, p.no_tlp, p.alamat, p.no_peserta,
       kel.nm_kel, kec.nm_kec, kab.nm_kab, prop.nm_prop{marker}
FROM resep_obat ro
LEFT JOIN reg_periksa rp ON rp.no_rawat = ro.no_rawat
LEFT JOIN pasien p ON p.no_rkm_medis = rp.no_rkm_medis
LEFT JOIN kelurahan kel ON kel.kd_kel = p.kd_kel
LEFT JOIN kecamatan kec ON kec.kd_kec = p.kd_kec
LEFT JOIN kabupaten kab ON kab.kd_kab = p.kd_kab
LEFT JOIN propinsi prop ON prop.kd_prop = p.kd_prop
LEFT JOIN penjab pj ON pj.kd_pj = rp.kd_pj
WHERE ro.status IN :statuses
  AND ro.tgl_peresepan >= :d
  AND (ro.tgl_peresepan > :d
       OR (ro.tgl_peresepan = :d AND (ro.jam_peresepan > :t OR (ro.jam_peresepan = :t AND ro.no_resep > :n))))
ORDER BY ro.tgl_peresepan, ro.jam_peresepan, ro.no_resep
LIMIT :limit
"""

_ITEMS_SQL = sa.text(
    """
SELECT rd.no_resep, rd.kode_brng, rd.jml, rd.aturan_pakai, db.nama_brng,
       g.nama AS golongan, k.nama AS kategori, j.nama AS jenis, s.satuan
FROM resep_dokter rd
LEFT JOIN databarang db ON db.kode_brng = rd.kode_brng
LEFT JOIN golongan_barang g ON g.kode = db.kode_golongan
LEFT JOIN kategori_barang k ON k.kode = db.kode_kategori
LEFT JOIN jenis j ON j.kdjns = db.kdjns
LEFT JOIN kodesatuan s ON s.kode_sat = db.kode_sat
WHERE rd.no_resep IN :ids
ORDER BY rd.no_resep, rd.kode_brng
"""
).bindparams(sa.bindparam("ids", expanding=True))

_RACIKAN_SQL = sa.text(
    """
SELECT r.no_resep, r.no_racik, r.nama_racik, r.jml_dr, r.aturan_pakai, r.keterangan, m.nm_racik
FROM resep_dokter_racikan r
LEFT JOIN metode_racik m ON m.kd_racik = r.kd_racik
WHERE r.no_resep IN :ids
ORDER BY r.no_resep, r.no_racik
"""
).bindparams(sa.bindparam("ids", expanding=True))

_RACIKAN_DETAIL_SQL = sa.text(
    """
SELECT d.no_resep, d.no_racik, d.kode_brng, db.nama_brng, g.nama AS golongan, k.nama AS kategori
FROM resep_dokter_racikan_detail d
LEFT JOIN databarang db ON db.kode_brng = d.kode_brng
LEFT JOIN golongan_barang g ON g.kode = db.kode_golongan
LEFT JOIN kategori_barang k ON k.kode = db.kode_kategori
WHERE d.no_resep IN :ids
ORDER BY d.no_resep, d.no_racik, d.kode_brng
"""
).bindparams(sa.bindparam("ids", expanding=True))

_SEP_SQL = sa.text(
    """
SELECT no_rawat, no_sep, peserta, no_kartu, CAST(tglsep AS CHAR) AS tglsep
FROM bridging_sep
WHERE no_rawat IN :ids
ORDER BY no_rawat, tglsep, no_sep
"""
).bindparams(sa.bindparam("ids", expanding=True))

_EXISTING_SQL = sa.text("SELECT no_resep FROM resep_obat WHERE no_resep IN :ids").bindparams(
    sa.bindparam("ids", expanding=True)
)


def _header_sql(settings: KhanzaSettings) -> sa.TextClause:
    marker = ""
    if settings.poverty_marker_column:
        table, _, column = settings.poverty_marker_column.partition(".")
        # both parts are validated identifiers (KhanzaSettings._check_marker), so quoting is safe
        marker = f",\n       {_POVERTY_TABLES[table]}.`{column}` AS poverty_marker"
    return sa.text(_HEADER_SQL.format(marker=marker)).bindparams(sa.bindparam("statuses", expanding=True))


# --------------------------------------------------------------------------------------------- reading


def read_changes(engine: sa.Engine, watermark: Watermark | None, settings: KhanzaSettings) -> KhanzaBatch:
    """One poll: new and amended prescriptions, deletions and the next watermark (see module doc)."""
    prescriptions: list[PrescriptionIn] = []
    errors: list[tuple[str, str]] = []
    lookback = timedelta(minutes=settings.lookback_minutes)
    old_seen = dict(watermark.seen) if watermark else {}
    new_seen: dict[str, tuple[str, str]] = {}

    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        if watermark is not None:
            high_water = watermark.high_water
            window_start = _parse_key(high_water) - lookback
        else:
            start = settings.start_date or conn.execute(sa.text("SELECT CURDATE()")).scalar_one()
            if isinstance(start, str):
                start = date.fromisoformat(start)
            window_start = datetime.combine(start, datetime.min.time())
            high_water = window_start.strftime(_KEY_FORMAT)
        window_key = window_start.strftime(_KEY_FORMAT)

        header_sql = _header_sql(settings)
        cursor = (window_start.strftime("%Y-%m-%d"), window_start.strftime("%H:%M:%S"), "")
        while True:
            rows = (
                conn.execute(
                    header_sql,
                    {
                        "statuses": settings.statuses,
                        "d": cursor[0],
                        "t": cursor[1],
                        "n": cursor[2],
                        "limit": settings.batch_size,
                    },
                )
                .mappings()
                .all()
            )
            if not rows:
                break
            last = rows[-1]
            cursor = (last["tgl_peresepan"], last["jam_peresepan"], last["no_resep"])
            for no_resep, key, result in _build_page(conn, rows, settings):
                high_water = max(high_water, key)
                if isinstance(result, str):
                    fingerprint = "!" + _hash(result)
                    if old_seen.get(no_resep, ("", ""))[1] != fingerprint:
                        errors.append((no_resep, result))
                else:
                    fingerprint = _hash(result.model_dump_json())
                    if old_seen.get(no_resep, ("", ""))[1] != fingerprint:
                        prescriptions.append(result)
                new_seen[no_resep] = (key, fingerprint)
            if len(rows) < settings.batch_size:
                break

        missing = [
            no_resep
            for no_resep, (key, fingerprint) in old_seen.items()
            if no_resep not in new_seen and key >= window_key and not fingerprint.startswith("!")
        ]
        still_there: set[str] = set()
        for chunk in _chunks(missing, settings.batch_size):
            still_there.update(r[0] for r in conn.execute(_EXISTING_SQL, {"ids": chunk}))
        deleted = sorted(no_resep for no_resep in missing if no_resep not in still_there)
        conn.rollback()

    new_window_key = (_parse_key(high_water) - lookback).strftime(_KEY_FORMAT)
    kept = {no_resep: entry for no_resep, entry in new_seen.items() if entry[0] >= new_window_key}
    return KhanzaBatch(
        prescriptions=prescriptions,
        deleted=deleted,
        watermark=Watermark(high_water=high_water, seen=kept),
        errors=errors,
    )


def _build_page(
    conn: sa.Connection, headers: Sequence[sa.RowMapping], settings: KhanzaSettings
) -> list[tuple[str, str, PrescriptionIn | str]]:
    """Build one page of headers into (no_resep, key, prescription-or-error-message)."""
    ids = [h["no_resep"] for h in headers]
    items: dict[str, list[ItemIn]] = defaultdict(list)
    for row in conn.execute(_ITEMS_SQL, {"ids": ids}).mappings():
        items[row["no_resep"]].append(
            ItemIn(
                local_code=row["kode_brng"],
                display=_text(row["nama_brng"]) or row["kode_brng"] or "?",
                quantity=row["jml"],
                unit=_clip(_text(row["satuan"]), 32),
                instructions=_text(row["aturan_pakai"]),
                dosage_form=_clip(_text(row["jenis"]), 64),
                drug_class=_drug_class(row),
            )
        )
    components: dict[tuple[str, str], list[ComponentIn]] = defaultdict(list)
    for row in conn.execute(_RACIKAN_DETAIL_SQL, {"ids": ids}).mappings():
        components[(row["no_resep"], row["no_racik"])].append(
            ComponentIn(
                local_code=row["kode_brng"],
                display=_text(row["nama_brng"]) or row["kode_brng"],
                drug_class=_drug_class(row),
            )
        )
    for row in conn.execute(_RACIKAN_SQL, {"ids": ids}).mappings():
        items[row["no_resep"]].append(
            ItemIn(
                display=_text(row["nama_racik"]) or f"Racikan {row['no_racik']}",
                quantity=row["jml_dr"],
                instructions=_join(_text(row["aturan_pakai"]), _text(row["keterangan"])),
                dosage_form=_clip(_text(row["nm_racik"]), 64),
                components=components.get((row["no_resep"], row["no_racik"]), []),
            )
        )
    seps: dict[str, dict[str, Any]] = {}
    rawat_ids = sorted({h["no_rawat"] for h in headers})
    for row in conn.execute(_SEP_SQL, {"ids": rawat_ids}).mappings():
        seps[row["no_rawat"]] = dict(row)  # ordered by tglsep: the latest SEP of the visit wins

    out: list[tuple[str, str, PrescriptionIn | str]] = []
    for header in headers:
        no_resep = header["no_resep"]
        key = f"{header['tgl_peresepan']} {header['jam_peresepan'] or '00:00:00'}"
        out.append((no_resep, key, _prescription(header, items.get(no_resep, []), seps, settings)))
    return out


def _prescription(
    h: sa.RowMapping, items: list[ItemIn], seps: dict[str, dict[str, Any]], settings: KhanzaSettings
) -> PrescriptionIn | str:
    if h["rp_no_rawat"] is None:
        return f"no reg_periksa row for no_rawat {h['no_rawat']!r}"
    if h["no_rkm_medis"] is None:
        return f"no pasien row for the visit {h['no_rawat']!r}"
    if not items:
        return "prescription has no items (resep_dokter / resep_dokter_racikan)"
    name = _text(h["nm_pasien"])
    if not name:
        return f"patient {h['no_rkm_medis']!r} has no name"
    alamat = _text(h["alamat"]) or ""
    rt, rw = parse_rt_rw(alamat)
    address = AddressIn(
        text=alamat,
        lines=[alamat] if alamat else [],
        rt=rt,
        rw=rw,
        village=_region(h["nm_kel"]),
        district=_region(h["nm_kec"]),
        city=_region(h["nm_kab"]),
    )
    coverage: list[CoverageIn] = []
    sep = seps.get(h["no_rawat"])
    is_bpjs = h["kd_pj"] in settings.kd_pj_pbi
    if h["kd_pj"] is not None or sep is not None:
        coverage.append(
            CoverageIn(
                payer=_text(h["png_jawab"]) or h["kd_pj"],
                plan="JKN" if is_bpjs or sep is not None else None,
                subscriber_id=_clip(
                    _text(sep["no_kartu"]) if sep else (_text(h["no_peserta"]) if is_bpjs else None), 200
                ),
                participant_type=_clip(_text(sep["peserta"]), 100) if sep else None,
                sep_number=_clip(_text(sep["no_sep"]), 64) if sep else None,
            )
        )
    try:
        return PrescriptionIn(
            source=SOURCE_NAME,
            prescription_id=h["no_resep"],
            identifier_system=settings.identifier_system,
            status="active",
            authored_on=_local(_datetime(h["tgl_peresepan"], h["jam_peresepan"]), settings),
            patient=PatientIn(
                source_id=h["no_rkm_medis"],
                name=name,
                phone=_clip(_text(h["no_tlp"]) or "", 100) or "",
                address=address,
            ),
            items=items,
            coverage=coverage,
            poverty_declaration=_marker(h.get("poverty_marker")),
            encounter_id=h["no_rawat"] or None,
        )
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        return f"invalid prescription: {exc}"


# --------------------------------------------------------------------------------------------- helpers


def parse_rt_rw(alamat: str) -> tuple[str | None, str | None]:
    """RT/RW written in free-text ``alamat`` ("RT 02 RW 03", "RT.002/RW.003"), as 3-digit strings."""
    match = _RT_RW.search(alamat) or _RT_RW_PAIR.search(alamat)
    if not match:
        return None, None
    return match.group(1).zfill(3), match.group(2).zfill(3)


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("cp1252", errors="replace")
    text = repair_mojibake(str(value).strip())
    return text or None


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 text that a client stored through a latin1 connection ("Maâ€™rufah" → "Ma’rufah").

    Applied only when the text carries the tell-tale lead characters and re-decodes as valid UTF-8, so a
    correctly stored latin1/cp1252 name ("Ma’rufah", byte 0x92) is left alone.
    """
    if not _MOJIBAKE_HINT.search(text):
        return text
    try:
        return text.encode("cp1252").decode("utf-8")
    except UnicodeError:
        return text


def _local(moment: datetime | None, settings: KhanzaSettings) -> datetime | None:
    return moment.replace(tzinfo=timezone(timedelta(hours=settings.utc_offset_hours))) if moment else None


def _clip(value: str | None, size: int) -> str | None:
    return value[:size] if value else None


def _join(*parts: str | None) -> str | None:
    return " ".join(p for p in parts if p and p != "-") or None


def _region(value: object) -> str | None:
    text = _text(value)
    return None if text in (None, "-") else text


def _drug_class(row: sa.RowMapping) -> str | None:
    for column in ("golongan", "kategori"):
        text = _text(row[column])
        if text and text != "-":
            return text[:64]
    return None


def _marker(value: object) -> bool:
    if value is None:
        return False
    if isinstance(value, bytes):
        value = value.decode("cp1252", errors="replace")
    return str(value).strip().lower() not in _FALSY_MARKERS


def _datetime(day: object, time: object) -> datetime | None:
    """Khanza date + time columns (read as text) → datetime; zero or NULL dates → None."""
    if day is None:
        return None
    day_text = day.decode() if isinstance(day, bytes) else str(day)
    if not day_text or day_text.startswith("0000") or "-00" in day_text:
        return None
    time_text = (time.decode() if isinstance(time, bytes) else str(time or "00:00:00")) or "00:00:00"
    try:
        return datetime.strptime(f"{day_text[:10]} {time_text[:8]}", _KEY_FORMAT)
    except ValueError:
        try:
            return datetime.strptime(day_text[:10], "%Y-%m-%d")
        except ValueError:
            return None


def _parse_key(key: str) -> datetime:
    try:
        return datetime.strptime(key[:19], _KEY_FORMAT)
    except ValueError:
        return datetime.strptime(key[:10], "%Y-%m-%d")


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _chunks(values: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
