"""Archiving inbound messages in their own transaction, before anything can fail on them, and settling the
courier webhooks an interrupted request left without a verdict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session

from dispatch.core.clock import utcnow
from dispatch.core.db import new_session
from dispatch.core.logging import log
from dispatch.inbox import repository
from dispatch.inbox.models import COURIER_SOURCE_PREFIX, InboxMessage, InboxStatus
from dispatch.webhooks import repository as webhooks_repository

# A webhook's request settles its message within seconds; one still "received" after this was cut off.
ORPHAN_AFTER = timedelta(minutes=5)
SWEEP_BATCH = 200
ORPHAN_TAKEN = (
    "Terputus sebelum diputuskan; kiriman ulang kurir (inbox {copy_id}) sudah diterima / "
    "interrupted before its verdict; the courier's retry (inbox {copy_id}) was taken"
)
ORPHAN_UNVERIFIED = (
    "Terputus sebelum diperiksa dan tidak dikirim ulang oleh kurir: tidak diverifikasi, jadi tidak "
    "diterapkan; periksa status pengiriman di aplikasi kurir / interrupted before it was checked and never "
    "sent again by the courier: not verified, so not applied; check the delivery's status with the courier"
)


def archive_raw(
    source: str, body: bytes, headers: Mapping[str, str], *, hospital_id: int | None = None
) -> int:
    """Commits at once: even if parsing or the database work after it fails, the raw message stays."""
    with new_session() as session:
        return archive_in(session, source, body, headers, hospital_id=hospital_id)


def archive_in(
    session: Session, source: str, body: bytes, headers: Mapping[str, str], *, hospital_id: int | None = None
) -> int:
    """``archive_raw`` on the caller's session, which must hold no pending work: this commits it.

    One INSERT … RETURNING without ORM objects: every courier webhook and receipt starts here.
    """
    message_id = repository.insert_one(
        session, repository.archive_row(source=source, body=body, headers=headers, hospital_id=hospital_id)
    )
    session.commit()
    return message_id


def reject(message_id: int, reason: str, *, hospital_id: int | None = None) -> None:
    settle(message_id, InboxStatus.REJECTED, reason, hospital_id=hospital_id)


def ignore(message_id: int, reason: str, *, hospital_id: int | None = None) -> None:
    """Kept for the record, but not quarantined: staff have nothing to fix."""
    settle(message_id, InboxStatus.IGNORED, reason, hospital_id=hospital_id)


def settle(
    message_id: int, status: InboxStatus, reason: str | None, *, hospital_id: int | None = None
) -> None:
    with new_session() as session:
        settle_in(session, message_id, status, reason, hospital_id=hospital_id)


def settle_in(
    session: Session,
    message_id: int,
    status: InboxStatus,
    reason: str | None,
    *,
    hospital_id: int | None = None,
) -> None:
    """``settle`` on the caller's session, committing it."""
    repository.update_message(session, message_id, status, reason, hospital_id=hospital_id)
    session.commit()


def archive_many(source: str, bodies: list[bytes], *, hospital_id: int | None) -> list[int]:
    """One commit for a whole batch a poll read, before any of it is parsed."""
    with new_session() as session:
        messages = [
            repository.archive(session, source=source, body=body, headers={}, hospital_id=hospital_id)
            for body in bodies
        ]
        session.commit()
        return [message.id for message in messages if message.id is not None]


def mark_processed(session: Session, inbox_ids: list[int]) -> None:
    """Inside the caller's transaction: the messages are done exactly when their orders exist."""
    repository.mark_many(session, inbox_ids, InboxStatus.PROCESSED)


def settle_many(message_ids: list[int], status: InboxStatus, reason: str | None = None) -> None:
    """Many messages to one status in one commit: what a poll archived that no order or refusal settled."""
    if message_ids:
        with new_session() as session:
            repository.mark_many(session, message_ids, status, reason)
            session.commit()


@dataclass(frozen=True)
class SweepOutcome:
    duplicates: int
    for_staff: int


def settle_orphans(*, older_than: timedelta = ORPHAN_AFTER) -> SweepOutcome:
    """Give a verdict to courier webhooks left "received" by a request that was killed after the raw archive
    committed (raw first means the archive commits before anything else).

    Nothing was lost with them: the sender got no answer, so it sent the same bytes again, and that copy was
    archived and taken. Such an orphan is settled as a duplicate of its retry. One with no taken retry is
    quarantined for staff, with the courier's sole hospital when only one has that courier. It is not run
    again through the webhook path: the archive keeps no credentials (a courier's token is never stored)
    and signed timestamps will have expired, so it could only be applied unverified.
    """
    duplicates = for_staff = 0
    while True:
        with new_session() as session:
            orphans = repository.unanswered(
                session,
                source_prefix=COURIER_SOURCE_PREFIX,
                received_before=utcnow() - older_than,
                limit=SWEEP_BATCH,
            )
            for message in orphans:
                copy_id = repository.later_taken_copy(session, message)
                if copy_id is not None:
                    repository.mark(message, InboxStatus.DUPLICATE, ORPHAN_TAKEN.format(copy_id=copy_id))
                    duplicates += 1
                else:
                    repository.mark(message, InboxStatus.REJECTED, ORPHAN_UNVERIFIED)
                    message.hospital_id = _sole_hospital(session, message)
                    log.warning("inbox.orphan_quarantined", inbox_id=message.id, source=message.source)
                    for_staff += 1
            session.commit()
        if len(orphans) < SWEEP_BATCH:
            return SweepOutcome(duplicates=duplicates, for_staff=for_staff)


def _sole_hospital(session: Session, message: InboxMessage) -> int | None:
    """The hospital staff who can look into an unverified message: the only one with its courier enabled.
    With several, none: the message cannot say whose it is without being verified."""
    courier = message.source.removeprefix(COURIER_SOURCE_PREFIX)
    return webhooks_repository.hospital_of(webhooks_repository.enabled_accounts(session, courier))
