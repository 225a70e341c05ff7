"""All SQL for the inbox."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, update
from sqlmodel import Session, col, select

from dispatch.core.clock import utcnow
from dispatch.inbox.models import InboxMessage, InboxStatus

FINAL_STATUSES = frozenset({InboxStatus.PROCESSED, InboxStatus.REJECTED, InboxStatus.DUPLICATE})
# A message whose event was taken: queued to apply, applied, or refused because a copy of it was.
TAKEN_STATUSES = (InboxStatus.ACCEPTED, InboxStatus.PROCESSED, InboxStatus.DUPLICATE)

# Only headers known to carry no secret are archived: a courier may put its token in any header it likes,
# so a deny-list by name would leak whatever it misses. Signatures are kept: they prove, they do not unlock.
ARCHIVED_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "user-agent",
        "x-forwarded-for",
        "x-request-id",
        "x-file-name",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "x-twilio-signature",
        "x-hub-signature-256",
    }
)


def archivable_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items() if name.lower() in ARCHIVED_HEADERS}


def archive_row(
    *, source: str, body: bytes, headers: Mapping[str, str], hospital_id: int | None = None
) -> dict[str, Any]:
    """The inbox columns of a message as received; the model's defaults fill in the rest."""
    return {
        "source": source,
        "hospital_id": hospital_id,
        "content_type": headers.get("content-type", "")[:100],
        "headers": archivable_headers(headers),
        "body": body,
    }


def archive(
    session: Session,
    *,
    source: str,
    body: bytes,
    headers: Mapping[str, str],
    hospital_id: int | None = None,
) -> InboxMessage:
    message = InboxMessage(**archive_row(source=source, body=body, headers=headers, hospital_id=hospital_id))
    session.add(message)
    return message


# Built once: every webhook archives one message and settles it, and building and keying a statement anew
# costs more than running it (``insert_rows`` is for batches). The table's column defaults fill in the rest.
_table = InboxMessage.__table__  # type: ignore[attr-defined]
_INSERT = insert(_table).returning(_table.c.id)
_UPDATE = update(_table).where(_table.c.id == bindparam("message_id"))


def insert_one(session: Session, row: Mapping[str, Any]) -> int:
    """One message as ``archive_row`` gives it, inserted at once; its id."""
    return int(session.execute(_INSERT, dict(row)).scalar_one())


def update_message(
    session: Session,
    message_id: int,
    status: InboxStatus,
    error: str | None = None,
    *,
    hospital_id: int | None = None,
    dedupe_key: str | None = None,
) -> None:
    """One UPDATE, no read first and no ORM bookkeeping: every webhook settles its message here.

    Setting ``dedupe_key`` is where a second copy of an event breaks the unique (source, dedupe_key).
    """
    values: dict[str, Any] = {
        "message_id": message_id,
        "status": status,
        "error": _clipped(error),
        "processed_at": utcnow() if status in FINAL_STATUSES else None,
    }
    if hospital_id is not None:
        values["hospital_id"] = hospital_id
    if dedupe_key is not None:
        values["dedupe_key"] = dedupe_key
    session.execute(_UPDATE, values)


def mark(message: InboxMessage, status: InboxStatus, error: str | None = None) -> None:
    message.status = status
    message.error = _clipped(error)
    if status in FINAL_STATUSES:
        message.processed_at = utcnow()


def list_for_hospital(
    session: Session, hospital_id: int, *, status: InboxStatus | None, limit: int
) -> Sequence[InboxMessage]:
    query = select(InboxMessage).where(InboxMessage.hospital_id == hospital_id)
    if status is not None:
        query = query.where(InboxMessage.status == status)
    return session.exec(query.order_by(col(InboxMessage.id).desc()).limit(limit)).all()


def mark_many(session: Session, inbox_ids: list[int], status: InboxStatus, error: str | None = None) -> None:
    query = update(InboxMessage).where(col(InboxMessage.id).in_(inbox_ids))
    processed_at = utcnow() if status in FINAL_STATUSES else None
    session.execute(query.values(status=status, processed_at=processed_at, error=_clipped(error)))


def _clipped(error: str | None) -> str | None:
    return error[:2000] if error else None


def oldest_received_by_source(session: Session, status: InboxStatus) -> dict[str, datetime]:
    """When the oldest message still in ``status`` arrived, per source: accepted ones measure the apply lag."""
    query = (
        select(InboxMessage.source, func.min(InboxMessage.received_at))
        .where(InboxMessage.status == status)
        .group_by(InboxMessage.source)
    )
    return dict(session.exec(query).all())


def unanswered(
    session: Session, *, source_prefix: str, received_before: datetime, limit: int
) -> Sequence[InboxMessage]:
    """Messages archived before ``received_before`` that never got a verdict, oldest first.

    Locked for the caller's transaction; a row another transaction holds is skipped (PostgreSQL), so two
    sweeps, or a sweep and a request still settling its message, never decide the same message.
    """
    query = (
        select(InboxMessage)
        .where(
            InboxMessage.status == InboxStatus.RECEIVED,
            col(InboxMessage.source).startswith(source_prefix),
            col(InboxMessage.received_at) < received_before,
        )
        .order_by(col(InboxMessage.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return session.exec(query).all()


def later_taken_copy(session: Session, message: InboxMessage) -> int | None:
    """The first later message from the same source with exactly the same bytes whose event was taken.

    Later only: the sender retries what it got no answer for, and the primary key bounds the scan to what
    arrived since (a sweep looks at messages a few minutes old), where a body comparison stays cheap.
    """
    query = (
        select(InboxMessage.id)
        .where(
            InboxMessage.source == message.source,
            col(InboxMessage.id) > message.id,
            InboxMessage.body == message.body,
            col(InboxMessage.status).in_(TAKEN_STATUSES),
        )
        .order_by(col(InboxMessage.id))
        .limit(1)
    )
    return session.exec(query).first()
