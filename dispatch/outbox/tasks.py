"""The relay: publishes committed outbox rows to Celery. Beat runs it every second."""

from __future__ import annotations

from datetime import timedelta

from dispatch.core.celery_app import celery_app
from dispatch.core.clock import utcnow
from dispatch.core.db import new_session
from dispatch.core.settings import settings
from dispatch.outbox import repository

RELAY_BATCH = 200


def relay_once() -> int:
    """Publish one batch; returns how many. Publishing before the commit can only duplicate, never lose."""
    now = utcnow()
    with new_session() as session:
        batch = repository.claim_for_relay(
            session,
            now=now,
            redeliver_before=now - timedelta(seconds=settings.relay_redeliver_after_seconds),
            limit=RELAY_BATCH,
        )
        for message in batch:
            celery_app.send_task(message.topic, args=[message.id])
            message.published_at = now
            message.publish_count += 1
        session.commit()
        return len(batch)


@celery_app.task(name="outbox.relay", ignore_result=True, acks_late=False)
def relay() -> None:
    while relay_once() == RELAY_BATCH:
        continue
