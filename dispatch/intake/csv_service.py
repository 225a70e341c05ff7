"""CSV intake: archive the file first, parse it, then take each good prescription in its own transaction.

One bad prescription (a row error, or a value the database or the order service refuses) never undoes the
others; it is reported by line number instead. The inbox row ends ``processed`` when at least one
prescription was taken (already-received ones count: re-uploading a file is harmless), else ``rejected``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from dispatch.core.db import new_session
from dispatch.hospitals.models import Hospital
from dispatch.inbox import repository as inbox_repository
from dispatch.inbox import service as inbox_service
from dispatch.inbox.models import InboxMessage, InboxStatus
from dispatch.orders import prescriptions as prescription_intake
from hospital_adapter.csv import CsvPrescription, RowError, parse_csv

SOURCE = "csv"
CONTENT_TYPE = "text/csv"
MAX_ERRORS_IN_SUMMARY = 20

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AcceptedPrescription:
    no_resep: str
    rows: list[int]
    order_id: int
    created: bool


@dataclass
class CsvIngestReport:
    inbox_id: int
    filename: str
    encoding: str | None
    accepted: list[AcceptedPrescription] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def taken(self) -> bool:
        return bool(self.accepted)

    @property
    def created_count(self) -> int:
        return sum(1 for entry in self.accepted if entry.created)

    def as_dict(self) -> dict[str, Any]:
        return {
            "inbox_id": self.inbox_id,
            "filename": self.filename,
            "encoding": self.encoding,
            "accepted": [asdict(entry) for entry in self.accepted],
            "errors": [asdict(error) for error in self.errors],
        }

    def summary(self) -> str:
        lines = [
            f"line {error.row}" + (f" {error.column}" if error.column else "") + f": {error.message}"
            for error in self.errors[:MAX_ERRORS_IN_SUMMARY]
        ]
        if len(self.errors) > MAX_ERRORS_IN_SUMMARY:
            lines.append(f"… {len(self.errors) - MAX_ERRORS_IN_SUMMARY} more")
        return "; ".join(lines)


def ingest_csv(hospital: Hospital, raw: bytes, filename: str, actor: str) -> CsvIngestReport:
    """Archive, parse, create orders; owns its transactions (one per prescription), never raises for input."""
    assert hospital.id is not None
    inbox_id = inbox_service.archive_raw(SOURCE, raw, {"content-type": CONTENT_TYPE}, hospital_id=hospital.id)
    parsed = parse_csv(raw)
    report = CsvIngestReport(inbox_id, filename, parsed.encoding, errors=list(parsed.errors))
    for entry in parsed.prescriptions:
        accepted = _take(hospital, entry, inbox_id, report.errors)
        if accepted is not None:
            report.accepted.append(accepted)
    report.errors.sort(key=lambda error: error.row)
    _finish(inbox_id, report, filename, actor)
    return report


def _take(
    hospital: Hospital, entry: CsvPrescription, inbox_id: int, errors: list[RowError]
) -> AcceptedPrescription | None:
    number = entry.prescription.prescription_id
    with new_session() as session:
        try:
            order_id, created = prescription_intake.ingest_prescription(
                session, hospital, entry.prescription, inbox_id=inbox_id
            )
            session.commit()
        except (SQLAlchemyError, ValueError) as exc:
            session.rollback()
            log.warning("csv intake: prescription %s refused: %s", number, type(exc).__name__)
            errors.extend(
                RowError(
                    row,
                    None,
                    f"resep {number} tidak dapat disimpan / prescription could not be stored "
                    f"({type(exc).__name__})",
                )
                for row in entry.rows
            )
            return None
    return AcceptedPrescription(number, entry.rows, order_id, created)


def _finish(inbox_id: int, report: CsvIngestReport, filename: str, actor: str) -> None:
    with new_session() as session:
        message = session.get(InboxMessage, inbox_id)
        assert message is not None
        message.headers = {**message.headers, "x-filename": filename[:200], "x-actor": actor[:64]}
        if report.taken:
            inbox_repository.mark(message, InboxStatus.PROCESSED, report.summary() or None)
        else:
            inbox_repository.mark(message, InboxStatus.REJECTED, report.summary() or "no prescription taken")
        session.commit()
