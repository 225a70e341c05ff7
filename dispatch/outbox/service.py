"""Writing side effects: callers add them inside their own transaction; the relay publishes after commit."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from dispatch.outbox import repository
from dispatch.outbox.models import OutboxMessage


def enqueue(
    session: Session, topic: str, payload: dict[str, Any], *, hospital_id: int | None
) -> OutboxMessage:
    return repository.add(session, topic=topic, payload=payload, hospital_id=hospital_id)


def enqueue_now(session: Session, topic: str, payload: dict[str, Any], *, hospital_id: int | None) -> int:
    """The same row inserted at once, without an ORM object, for a caller that needs none back (every
    courier webhook): the unit of work's flush of one object costs more than the INSERT itself."""
    return repository.insert_now(session, topic=topic, payload=payload, hospital_id=hospital_id)
