"""The Celery app: Redis when configured, otherwise an embedded filesystem broker (no server to install).

Settings follow the reliability notes: late acks with idempotent tasks, a message of a killed worker
process rejected back to the queue (every handler is idempotent and the outbox bounds publications),
prefetch 1, time limits below the visibility timeout, and no long countdowns (the outbox and beat carry
anything that must wait longer than ``MAX_COUNTDOWN_SECONDS``).

Beat: one scheduler at a time. With Redis, beats may run on several hosts for availability: each holds
the schedule only while it holds a lease in Redis (:class:`LeaderScheduler`), the others stay idle and
take over within ``BEAT_LEASE_SECONDS`` of the leader's death.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import redis
from celery import Celery
from celery.beat import PersistentScheduler
from celery.signals import worker_init, worker_process_init

from dispatch.core.logging import log
from dispatch.core.settings import settings

TASK_MODULES = [
    "dispatch.outbox.tasks",
    "dispatch.dispatching.tasks",
    "dispatch.webhooks.tasks",
    "dispatch.notify.tasks",
    "dispatch.writeback.tasks",
    "dispatch.sources.tasks",
    "dispatch.inbox.tasks",
]

TASK_TIME_LIMIT_SECONDS = 120
# The longest a task waits in a worker before it runs: Celery retry countdowns (the outbox consumer's
# backoff is capped here); anything longer waits in the database and is published by the relay.
MAX_COUNTDOWN_SECONDS = 60
# Redis hands an unacknowledged message to another worker after this long. It must exceed the longest
# task plus the longest countdown, or a message still running or waiting in a worker runs twice.
VISIBILITY_TIMEOUT_SECONDS = 600
if VISIBILITY_TIMEOUT_SECONDS <= TASK_TIME_LIMIT_SECONDS + MAX_COUNTDOWN_SECONDS:
    raise RuntimeError("the broker's visibility timeout must exceed the task time limit plus countdowns")
# Booking a courier is what the patient waits on: its tasks (and the relay that feeds them) have a queue of
# their own, which workers take from in turn with the other, so a wave of SMS and webhook tasks never stands
# between a release and its booking (a booking waits for one of them at most). In turn, not first: drained
# first, a release rate above the booking rate held every courier report and patient SMS back for as long
# as it lasted (a 20,000-order day applied no webhook in its first ten minutes).
URGENT_QUEUE = "dispatch"
DEFAULT_QUEUE = "celery"
WORKER_QUEUES = (URGENT_QUEUE, DEFAULT_QUEUE)
URGENT_TASKS = ("dispatch.book", "dispatch.cancel_booking", "outbox.relay")
BEAT_LEASE_KEY = "gancang:beat:leader"
BEAT_LEASE_SECONDS = 15


def _broker_config() -> dict[str, Any]:
    if settings.redis_url:
        # "round_robin": after taking from a queue a worker asks the other first (kombu rotates the list).
        options = {"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS, "queue_order_strategy": "round_robin"}
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
            # Kombu's default is "control" in the working directory: keep the exchange files with the queue.
            "control_folder": str(queue_dir / "control"),
            "store_processed": False,
            "polling_interval": 0.1,
        },
    }


celery_app = Celery("gancang", include=TASK_MODULES)
celery_app.conf.update(
    **_broker_config(),
    task_ignore_result=True,
    task_default_queue=DEFAULT_QUEUE,
    task_routes={name: {"queue": URGENT_QUEUE} for name in URGENT_TASKS},
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
        "reconcile-bookings": {"task": "dispatching.reconcile", "schedule": 60.0},
        "sweep-inbox-orphans": {"task": "inbox.sweep_orphans", "schedule": 60.0},
    },
    beat_schedule_filename=str((settings.data_dir / "celerybeat-schedule").resolve()),
    beat_scheduler="dispatch.core.celery_app:LeaderScheduler"
    if settings.redis_url
    else "celery.beat:PersistentScheduler",
    # The leader renews its lease at least this often (the relay's 1 s tick makes it more often anyway).
    beat_max_loop_interval=BEAT_LEASE_SECONDS / 3,
)


class BeatLease:
    """A lease in Redis held by one beat at a time: taken when free, renewed only by its holder."""

    _RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"

    def __init__(self, client: redis.Redis, key: str = BEAT_LEASE_KEY, seconds: float = BEAT_LEASE_SECONDS):
        self._redis = client
        self._key = key
        self._milliseconds = int(seconds * 1000)
        self.token = uuid.uuid4().hex

    def hold(self) -> bool:
        """True while this beat leads: renews its lease, or takes a free one."""
        if self._redis.eval(self._RENEW, 1, self._key, self.token, self._milliseconds):
            return True
        return bool(self._redis.set(self._key, self.token, nx=True, px=self._milliseconds))

    def release(self) -> None:
        script = (
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
        )
        self._redis.eval(script, 1, self._key, self.token)


class LeaderScheduler(PersistentScheduler):
    """Beat's scheduler, sending tasks only while it holds the lease; a standby beat checks every second.

    A beat that cannot reach Redis cannot publish either, so it simply waits. Two beats may overlap for
    at most one tick when a leader stalls longer than the lease; the beat's tasks (outbox relay, source
    polls) claim their rows with SKIP LOCKED, so an extra tick is harmless.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lease = BeatLease(redis.Redis.from_url(self.app.conf.broker_url, socket_timeout=2))
        self._leading = False

    def tick(self, *args: Any, **kwargs: Any) -> float:
        try:
            leading = self._lease.hold()
        except redis.RedisError as exc:
            log.warning("beat.lease_unavailable", error=str(exc))
            leading = False
        if leading != self._leading:
            log.info("beat.leading" if leading else "beat.standby", token=self._lease.token)
            self._leading = leading
        if not leading:
            return 1.0
        return float(super().tick(*args, **kwargs))

    def close(self) -> None:
        with contextlib.suppress(redis.RedisError):  # the lease expires on its own
            self._lease.release()
        super().close()


@worker_init.connect
def _load_reference_data(**_kwargs: Any) -> None:
    """In the worker's main process, before it forks its pool: every child then starts with the gazetteer
    (most of a second to parse) and the courier plugins, instead of loading them in its first booking, which
    in a morning's release burst held the whole queue back by seconds."""
    from couriers.registry import all_plugins
    from dispatch.dispatching.locating import geocoder

    geocoder()
    all_plugins()


@worker_process_init.connect
def _configure_worker_logging(**_kwargs: Any) -> None:
    from dispatch.core.logging import configure_logging

    configure_logging()
