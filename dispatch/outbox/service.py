"""Writing side effects: callers add them inside their own transaction; they are published after commit.

What the patient waits on, a booking or its cancellation (``URGENT_TASKS``), is handed to the broker by the
session that wrote it as soon as it commits: the release-to-booking latency is a broker hop, not the relay's
tick. Such a row is marked published when it is written, so the relay leaves it alone; if the process dies
between commit and publish, or the broker refuses it, the relay publishes it again (at once when the broker
refused, after ``relay_redeliver_after_seconds`` otherwise): nothing committed is lost, nothing uncommitted is
ever published. Everything else (SMS, write-backs, applying courier webhooks) waits for the relay's tick,
which publishes in batches outside the request: a publish costs the API a few milliseconds of CPU, which
the courier webhook endpoint, taking thousands of events, cannot spare for a second saved.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import event, inspect
from sqlmodel import Session

from dispatch.core.celery_app import URGENT_TASKS, celery_app
from dispatch.core.clock import utcnow
from dispatch.core.logging import log
from dispatch.core.settings import settings
from dispatch.outbox import repository
from dispatch.outbox.models import OutboxMessage

_PENDING = "outbox.publish_at_commit"


def enqueue(
    session: Session, topic: str, payload: dict[str, Any], *, hospital_id: int | None
) -> OutboxMessage:
    published_at = _published_at_commit(topic)
    message = repository.add(
        session, topic=topic, payload=payload, hospital_id=hospital_id, published_at=published_at
    )
    _publish_after_commit(session, topic, message, published_at)
    return message


def enqueue_now(session: Session, topic: str, payload: dict[str, Any], *, hospital_id: int | None) -> int:
    """The same row inserted at once, without an ORM object, for a caller that needs none back (every
    courier webhook): the unit of work's flush of one object costs more than the INSERT itself."""
    published_at = _published_at_commit(topic)
    message_id = repository.insert_now(
        session, topic=topic, payload=payload, hospital_id=hospital_id, published_at=published_at
    )
    _publish_after_commit(session, topic, message_id, published_at)
    return message_id


def left_to_relay(topic: str) -> bool:
    """Whether a row of this topic waits for the relay's tick rather than being published at commit."""
    return not (settings.outbox_publish_on_commit and topic in URGENT_TASKS)


def _published_at_commit(topic: str) -> datetime | None:
    """Now, for a row this session will publish when it commits; None for a row left to the relay."""
    return None if left_to_relay(topic) else utcnow()


def _publish_after_commit(
    session: Session, topic: str, message: OutboxMessage | int, published_at: datetime | None
) -> None:
    if published_at is not None:
        session.info.setdefault(_PENDING, []).append((topic, message))


def _committed_id(message: OutboxMessage | int) -> int | None:
    if isinstance(message, int):
        return message
    # The object is expired by the commit: its key is read from the identity, without a query.
    identity = inspect(message).identity
    return int(identity[0]) if identity else None


@event.listens_for(Session, "after_commit")
def _publish_committed(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    refused = []
    for topic, message in pending:
        message_id = _committed_id(message)
        if message_id is None:
            continue
        try:
            # No publish retries here: a broker that is down must not hold up the request that committed.
            celery_app.send_task(topic, args=[message_id], retry=False)
        except Exception as exc:  # the broker's own errors vary by transport; the relay covers them all
            log.warning("outbox.publish_deferred", topic=topic, outbox_id=message_id, error=str(exc))
            refused.append(message_id)
    if refused:
        from dispatch.core.db import new_session

        with new_session() as fresh:
            repository.mark_unpublished(fresh, refused)
            fresh.commit()


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)
