"""The CSV parser and the address parser promise never to raise: every bad row is reported, and text that
is no address gives an empty ``Address``. Hypothesis holds them to it."""

from __future__ import annotations

import csv
import io
import unicodedata

from fuzz_support import awkward_text, mutated_bytes
from hypothesis import example, given
from hypothesis import strategies as st

from dispatch.geocoding.address import parse_address
from hospital_adapter.csv import TEMPLATE_CSV
from hospital_adapter.csv.parser import CsvParseResult, parse_csv

TEMPLATE_ROWS = list(csv.reader(io.StringIO(TEMPLATE_CSV.decode("utf-8")), delimiter=";"))


@st.composite
def mutated_csv(draw: st.DrawFn) -> bytes:
    """The template with cells replaced, rows dropped or repeated, columns cut, and a drawn delimiter."""
    rows = [list(row) for row in TEMPLATE_ROWS]
    for _ in range(draw(st.integers(1, 6))):
        row = draw(st.integers(0, len(rows) - 1))
        action = draw(st.sampled_from(["cell", "cell", "cell", "drop_row", "repeat_row", "cut"]))
        if action == "drop_row" and len(rows) > 1:
            del rows[row]
        elif action == "repeat_row":
            rows.insert(row, list(rows[row]))
        elif action == "cut" and rows[row]:
            del rows[row][draw(st.integers(0, len(rows[row]) - 1))]
        elif rows[row]:
            rows[row][draw(st.integers(0, len(rows[row]) - 1))] = draw(awkward_text)
    delimiter = draw(st.sampled_from([";", ",", "\t"]))
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter).writerows(rows)
    return out.getvalue().encode(draw(st.sampled_from(["utf-8", "utf-8-sig"])), "surrogatepass")


csv_files = st.one_of(mutated_csv(), mutated_bytes(TEMPLATE_CSV), st.binary(max_size=300))


def test_template_is_taken() -> None:
    result = parse_csv(TEMPLATE_CSV)
    assert result.prescriptions and not result.errors


@given(csv_files)
@example(b"no_resep\n\x00\n")
@example(b'"unterminated\n')
@example(b"\xef\xbb\xbf")
def test_parse_csv_reports_instead_of_raising(raw: bytes) -> None:
    result = parse_csv(raw)
    assert isinstance(result, CsvParseResult)
    assert result.prescriptions or result.errors, "a file gives orders, errors, or both"
    if result.file_error:
        assert not result.prescriptions
    lines = raw.count(b"\n") + raw.count(b"\r") + 1
    for error in result.errors:
        assert error.message and 0 <= error.row <= lines
    taken = {line for prescription in result.prescriptions for line in prescription.rows}
    assert not taken & {error.row for error in result.errors}, "a row is taken or reported, not both"
    for prescription in result.prescriptions:
        assert "\x00" not in prescription.prescription.model_dump_json()


ADDRESS_WORDS = st.sampled_from(
    ["Jl.", "Jalan", "Gg.", "Dsn.", "Dusun", "Ds.", "Desa", "Kel.", "Kec.", "Kecamatan", "Kab.", "Kota", "RT", "RW",
     "RT.02/RW.01", "002/003", "No.", "5", "12A", "68461", "Banyuwangi", "Kemiren", "Glagah", ",", "/", "dekat",
     "masjid", "belakang", "Krajan", "Blimbingsari"]
)  # fmt: skip
addresses = st.one_of(
    st.lists(st.one_of(ADDRESS_WORDS, awkward_text), max_size=12).map(" ".join),
    st.text(max_size=200),
)


def _squeezed(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


@given(addresses)
@example("RT 0000000000000000000000000000000000000000002 / RW 3")
@example("Desa ,,, Kec. ")
def test_parse_address_never_raises_and_keeps_the_input_spelling(text: str) -> None:
    address = parse_address(text)
    source = _squeezed(text)
    for name in ("street", "number", "gang", "dusun", "desa", "kecamatan", "kabupaten", "postal_code"):
        value = getattr(address, name)
        assert value is None or _squeezed(value) in source, (name, value)
    for landmark in address.landmarks:
        assert _squeezed(landmark) in source
    for number in (address.rt, address.rw):
        assert number is None or (number.isdigit() and (number == "0" or not number.startswith("0")))
    assert address.postal_code is None or (len(address.postal_code) == 5 and address.postal_code.isdigit())
