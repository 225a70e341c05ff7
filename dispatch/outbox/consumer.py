"""Turns a handler of one outbox message into an idempotent Celery task.

The task owns its transaction. A message already processed is skipped, so a redelivery (late ack after a
crash, or the relay re-publishing a message the broker lost) does nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery import Task
from sqlmodel import Session

from dispatch.core.celery_app import celery_app
from dispatch.core.clock import utcnow
from dispatch.core.db import new_session
from dispatch.core.logging import log
from dispatch.outbox import repository
from dispatch.outbox.models import OutboxMessage

MAX_RETRIES = 6


class RetryLater(Exception):
    """A transient failure (courier 5xx, timeout, a concurrent worker holding the lease): try again soon."""


@dataclass
class TaskContext:
    session: Session
    message: OutboxMessage
    retries: int

    @property
    def final_try(self) -> bool:
        return self.retries >= MAX_RETRIES


Handler = Callable[[TaskContext], None]


def backoff_seconds(retries: int) -> float:
    """Short and capped: long countdowns sit in worker memory and break Redis visibility timeouts."""
    return float(min(2 ** (retries + 1), 60))


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
            with new_session() as session:
                message = repository.get_for_update(session, outbox_id)
                if message is None or message.processed_at is not None:
                    return
                try:
                    handler(TaskContext(session=session, message=message, retries=self.request.retries))
                except RetryLater as exc:
                    session.rollback()
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
