"""All SQL for the outbox."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, or_, update
from sqlmodel import Session, col, select

from dispatch.core.db import is_postgres
from dispatch.outbox.models import OutboxMessage

# After this many publications a message that still fails is left for a person to look at.
MAX_PUBLISH_COUNT = 5


def add(
    session: Session,
    *,
    topic: str,
    payload: dict[str, Any],
    hospital_id: int | None,
    published_at: datetime | None = None,
) -> OutboxMessage:
    message = OutboxMessage(
        topic=topic,
        payload=payload,
        hospital_id=hospital_id,
        published_at=published_at,
        publish_count=0 if published_at is None else 1,
    )
    session.add(message)
    return message


_table = OutboxMessage.__table__  # type: ignore[attr-defined]
_INSERT = insert(_table).returning(_table.c.id)


def insert_now(
    session: Session,
    *,
    topic: str,
    payload: dict[str, Any],
    hospital_id: int | None,
    published_at: datetime | None = None,
) -> int:
    """The row inserted at once by a statement built once; the table's column defaults fill in the rest."""
    params = {
        "topic": topic,
        "payload": payload,
        "hospital_id": hospital_id,
        "published_at": published_at,
        "publish_count": 0 if published_at is None else 1,
    }
    return int(session.execute(_INSERT, params).scalar_one())


def mark_unpublished(session: Session, message_ids: Sequence[int]) -> None:
    """Hands rows the broker refused back to the relay's next tick."""
    session.execute(
        update(_table)
        .where(_table.c.id.in_(message_ids), _table.c.processed_at.is_(None))
        .values(published_at=None, publish_count=0)
    )


def claim_for_relay(
    session: Session, *, now: datetime, redeliver_before: datetime, limit: int
) -> Sequence[OutboxMessage]:
    """Unpublished rows, and published ones never processed (a broker may lose a message on restart).

    SKIP LOCKED lets several relays run on PostgreSQL without blocking or double-publishing each other;
    SQLite serialises writers anyway.
    """
    query = (
        select(OutboxMessage)
        .where(col(OutboxMessage.processed_at).is_(None))
        .where(col(OutboxMessage.publish_count) < MAX_PUBLISH_COUNT)
        .where(col(OutboxMessage.available_at) <= now)
        .where(
            or_(
                col(OutboxMessage.published_at).is_(None),
                col(OutboxMessage.published_at) < redeliver_before,
            )
        )
        .order_by(col(OutboxMessage.id))
        .limit(limit)
    )
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    return session.exec(query).all()


def get_for_update(session: Session, message_id: int) -> OutboxMessage | None:
    query = select(OutboxMessage).where(OutboxMessage.id == message_id)
    query = query.with_for_update()
    return session.exec(query).first()


def count_unfinished(session: Session) -> int:
    query = select(OutboxMessage.id).where(col(OutboxMessage.processed_at).is_(None))
    return len(session.exec(query).all())


def count_unprocessed_by_topic(session: Session) -> dict[str, int]:
    """The queue as the relay sees it, per task: waiting, published and not yet done, or waiting to retry."""
    query = (
        select(OutboxMessage.topic, func.count())
        .where(col(OutboxMessage.processed_at).is_(None))
        .group_by(OutboxMessage.topic)
    )
    return dict(session.exec(query).all())
