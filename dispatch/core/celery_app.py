"""The Celery app: Redis when configured, otherwise an embedded filesystem broker (no server to install).

Settings follow the reliability notes: late acks with idempotent tasks, prefetch 1, time limits below the
visibility timeout, and no long countdowns (the outbox and beat carry anything that must wait).
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from dispatch.core.settings import settings

TASK_MODULES = [
    "dispatch.outbox.tasks",
    "dispatch.dispatching.tasks",
    "dispatch.webhooks.tasks",
    "dispatch.notify.tasks",
    "dispatch.writeback.tasks",
    "dispatch.sources.tasks",
]

VISIBILITY_TIMEOUT_SECONDS = 600
TASK_TIME_LIMIT_SECONDS = 120


def _broker_config() -> dict[str, Any]:
    if settings.redis_url:
        options = {"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS}
        return {"broker_url": settings.redis_url, "broker_transport_options": options}
    queue_dir = (settings.data_dir / "broker").resolve()
    queue_dir.mkdir(parents=True, exist_ok=True)
    return {
        "broker_url": "filesystem://",
        # Kombu's filesystem transport with messages written whole before a worker can see them.
        "broker_transport": "dispatch.core.fs_broker:AtomicTransport",
        "broker_transport_options": {
            "data_folder_in": str(queue_dir),
            "data_folder_out": str(queue_dir),
            "store_processed": False,
            "polling_interval": 0.1,
        },
    }


celery_app = Celery("gancang", include=TASK_MODULES)
celery_app.conf.update(
    **_broker_config(),
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_time_limit=TASK_TIME_LIMIT_SECONDS,
    task_soft_time_limit=TASK_TIME_LIMIT_SECONDS - 30,
    worker_cancel_long_running_tasks_on_connection_loss=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    task_serializer="json",
    accept_content=["json"],
    timezone="UTC",
    beat_schedule={
        "relay-outbox": {"task": "outbox.relay", "schedule": settings.relay_interval_seconds},
        "poll-sources": {"task": "sources.poll_due", "schedule": settings.source_poll_seconds},
    },
    beat_schedule_filename=str((settings.data_dir / "celerybeat-schedule").resolve()),
)


@worker_process_init.connect
def _configure_worker_logging(**_kwargs: Any) -> None:
    from dispatch.core.logging import configure_logging

    configure_logging()
