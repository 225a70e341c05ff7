"""CSV prescription export (one row per item), registered as entry point ``csv`` in ``gancang.hospital_sources``.

``SOURCE.parse`` is all-or-nothing (any bad row raises ``SourceInputError``), for callers such as a CLI
import; the upload API uses ``parse_csv`` and takes the good prescriptions while listing the bad rows.
"""

from __future__ import annotations

from hospital_adapter.canonical import PrescriptionIn, SourceInputError
from hospital_adapter.csv.parser import (
    COLUMNS,
    TEMPLATE_CSV,
    Column,
    CsvParseResult,
    CsvPrescription,
    RowError,
    parse_csv,
)
from hospital_adapter.registry import HospitalSource


def parse_all_or_nothing(raw: bytes) -> list[PrescriptionIn]:
    """Every prescription in the file, or ``SourceInputError`` naming every bad row (line, column)."""
    result = parse_csv(raw)
    if result.errors:
        raise SourceInputError(
            [
                ("invalid" if error.row else "structure", error.message, _location(error))
                for error in result.errors
            ]
        )
    return [entry.prescription for entry in result.prescriptions]


def _location(error: RowError) -> str | None:
    if not error.row:
        return None
    return f"line {error.row}" + (f", {error.column}" if error.column else "")


SOURCE = HospitalSource(name="csv", label="CSV", media_types=("text/csv",), parse=parse_all_or_nothing)

__all__ = [
    "COLUMNS",
    "SOURCE",
    "TEMPLATE_CSV",
    "Column",
    "CsvParseResult",
    "CsvPrescription",
    "RowError",
    "parse_all_or_nothing",
    "parse_csv",
]
