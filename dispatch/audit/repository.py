"""All SQL for the audit log."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func
from sqlmodel import Session, col, select

from dispatch.audit.models import AuditEntry


def add(session: Session, entry: AuditEntry) -> AuditEntry:
    session.add(entry)
    return entry


def list_for_hospital(
    session: Session, hospital_id: int, *, limit: int, offset: int
) -> tuple[Sequence[AuditEntry], int]:
    """Newest first; the id breaks ties between entries of one transaction (same ``at`` to the microsecond)."""
    query = select(AuditEntry).where(AuditEntry.hospital_id == hospital_id)
    counter = select(func.count()).select_from(AuditEntry).where(AuditEntry.hospital_id == hospital_id)
    rows = session.exec(
        query.order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc()).limit(limit).offset(offset)
    ).all()
    return rows, session.exec(counter).one()
