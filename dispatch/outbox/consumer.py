"""Turns a handler of one outbox message into an idempotent Celery task.

The task owns its transaction. A message already processed is skipped, so a redelivery (late ack after a
crash, or the relay re-publishing a message the broker lost) does nothing twice.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from celery import Task
from sqlmodel import Session

from dispatch.core.celery_app import MAX_COUNTDOWN_SECONDS, celery_app
from dispatch.core.clock import utcnow
from dispatch.core.db import new_session
from dispatch.core.logging import bind_log_context, log, log_context
from dispatch.outbox import repository
from dispatch.outbox.models import OutboxMessage

MAX_RETRIES = 6


class RetryLater(Exception):
    """A transient failure (courier 5xx, timeout, a concurrent worker holding the lease): try again.

    Without ``after`` Celery retries within a minute; with ``after`` the message waits in the database and
    the relay publishes it when due, so a retry hours away never sits in a worker or past Redis's
    visibility timeout.
    """

    def __init__(self, message: str, *, after: timedelta | None = None):
        super().__init__(message)
        self.after = after


@dataclass
class TaskContext:
    session: Session
    message: OutboxMessage
    retries: int

    @property
    def final_try(self) -> bool:
        return self.retries >= MAX_RETRIES

    @property
    def attempts(self) -> int:
        """Scheduled retries so far (see ``RetryLater.after``)."""
        return self.message.attempts


Handler = Callable[[TaskContext], None]


def backoff_seconds(retries: int) -> float:
    """Short and capped: long countdowns sit in worker memory and break Redis visibility timeouts.

    Exponential with equal jitter (half fixed, half random): a wave of orders failing together at one
    courier does not come back at it in lockstep, and each retry still waits at least half its step.
    """
    step = min(2 ** (retries + 1), MAX_COUNTDOWN_SECONDS)
    return step / 2 + random.uniform(0, step / 2)


def _reschedule(message_id: int, after: timedelta, error: str) -> None:
    with new_session() as session:
        message = session.get(OutboxMessage, message_id)
        if message is not None:
            message.available_at = utcnow() + after
            message.published_at = None
            message.publish_count = 0
            message.attempts += 1
            message.last_error = error[:2000]
            session.commit()


def _record_error(message_id: int, error: str) -> None:
    with new_session() as session:
        message = session.get(OutboxMessage, message_id)
        if message is not None:
            message.last_error = error[:2000]
            session.commit()


def outbox_task(topic: str) -> Callable[[Handler], Any]:
    def register(handler: Handler) -> Any:
        @celery_app.task(name=topic, bind=True, max_retries=MAX_RETRIES)
        def run(self: Task, outbox_id: int) -> None:
            with new_session() as session, log_context(task=topic, outbox_id=outbox_id):
                message = repository.get_for_update(session, outbox_id)
                if message is None or message.processed_at is not None:
                    return
                if message.topic != topic:
                    # A task from before a database restore names a row that is now another message:
                    # it is not this handler's to run (the row's own task, or the relay, will).
                    log.warning(
                        "outbox.topic_mismatch", task=topic, outbox_id=outbox_id, row_topic=message.topic
                    )
                    return
                bind_log_context(order_id=message.payload.get("order_id"), hospital_id=message.hospital_id)
                try:
                    handler(TaskContext(session=session, message=message, retries=self.request.retries))
                except RetryLater as exc:
                    session.rollback()
                    if exc.after is not None:
                        _reschedule(outbox_id, exc.after, str(exc))
                        log.warning(
                            "outbox.rescheduled", topic=topic, outbox_id=outbox_id, after=str(exc.after)
                        )
                        return
                    _record_error(outbox_id, str(exc))
                    log.warning("outbox.retry", topic=topic, outbox_id=outbox_id, error=str(exc))
                    raise self.retry(countdown=backoff_seconds(self.request.retries), exc=exc) from exc
                except Exception as exc:
                    # A bug or bad data: fail loudly, keep the reason on the row; the relay tries again
                    # later a bounded number of times, then the message waits for a human.
                    session.rollback()
                    _record_error(outbox_id, f"{type(exc).__name__}: {exc}")
                    log.exception("outbox.failed", topic=topic, outbox_id=outbox_id)
                    raise
                message.processed_at = utcnow()
                message.last_error = None
                session.commit()

        return run

    return register
