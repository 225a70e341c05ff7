"""Archiving inbound messages in their own transaction, before anything can fail on them."""

from __future__ import annotations

from collections.abc import Mapping

from sqlmodel import Session

from dispatch.core.db import new_session
from dispatch.inbox import repository
from dispatch.inbox.models import InboxStatus


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
