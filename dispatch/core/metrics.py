"""Prometheus metrics, measured in two ways because the API and the Celery workers are many processes.

State (orders by state, outbox backlog, webhook lag, broker queue length) is read from the database and the
broker at scrape time by :class:`StateCollector`: any API process reports the same truth, there is nothing to
add up across processes and nothing to reset when a process dies.

Events (booking latency, courier errors, webhook apply delay, SMS failures, intake) happen mostly in worker
processes, so they are counters and histograms in prometheus-client's multiprocess mode: with
``PROMETHEUS_MULTIPROC_DIR`` set to one directory shared by the API and the workers (and emptied before they
start), every process writes its samples there and ``/metrics`` on any API process sums them all. Without it
(tests, one process) ``/metrics`` reports the events of the process serving it. No gauge is event-driven, so
the multiprocess gauge modes and ``mark_process_dead`` are not needed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime

import httpx
import redis
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from couriers.base import CourierError
from dispatch.core.celery_app import WORKER_QUEUES
from dispatch.core.clock import utcnow
from dispatch.core.db import new_session
from dispatch.core.logging import log
from dispatch.core.settings import settings
from dispatch.inbox.models import InboxStatus
from dispatch.inbox.repository import oldest_received_by_source
from dispatch.orders.repository import count_by_hospital_and_status
from dispatch.outbox.repository import count_unprocessed_by_topic

# The *_created series (when each label set first appeared) only doubles what is scraped; nothing charts them.
disable_created_metrics()

# A booking takes seconds when the courier answers at once, minutes when it is retried or waits for a quote.
_BOOKING_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
# A courier report is applied within a second or two unless the workers fall behind.
_APPLY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900)

BOOKING_LATENCY = Histogram(
    "gancang_booking_latency_seconds",
    "Time until a courier took the booking: since the attempt was created, or since the order was released",
    ["courier", "since"],
    buckets=_BOOKING_BUCKETS,
    registry=None,
)
COURIER_ERRORS = Counter(
    "gancang_courier_errors",
    "Failed courier calls and unusable courier reports, by courier, operation and type",
    ["courier", "operation", "type"],
    registry=None,
)
WEBHOOK_APPLY_DELAY = Histogram(
    "gancang_webhook_apply_delay_seconds",
    "Time from receiving a courier webhook to applying it to its order",
    ["source"],
    buckets=_APPLY_BUCKETS,
    registry=None,
)
SMS_FAILURES = Counter(
    "gancang_sms_failures",
    "Patient messages that did not reach the patient, by gateway and reason (failed, unknown, opted_out)",
    ["gateway", "reason"],
    registry=None,
)
INTAKE_PRESCRIPTIONS = Counter(
    "gancang_intake_prescriptions",
    "Prescriptions taken from hospital sources, by source and outcome (created, repeat)",
    ["source", "outcome"],
    registry=None,
)
INTAKE_REFUSED = Counter(
    "gancang_intake_refused",
    "Intake messages refused whole, by source and reason (unauthorized, invalid)",
    ["source", "reason"],
    registry=None,
)
EVENT_METRICS = (
    BOOKING_LATENCY,
    COURIER_ERRORS,
    WEBHOOK_APPLY_DELAY,
    SMS_FAILURES,
    INTAKE_PRESCRIPTIONS,
    INTAKE_REFUSED,
)


def courier_error_type(error: BaseException) -> str:
    """One of timeout, unreachable, 429, 5xx, refused (a 4xx or an answer we cannot use), or crash (a bug)."""
    if not isinstance(error, CourierError):
        return "crash"
    if isinstance(error.__cause__, httpx.TimeoutException):
        return "timeout"
    if isinstance(error.__cause__, httpx.TransportError):
        return "unreachable"
    if error.status_code == httpx.codes.TOO_MANY_REQUESTS:
        return "429"
    if error.status_code is not None and error.status_code >= 500:
        return "5xx"
    return "refused"


def count_courier_error(courier: str, operation: str, error: BaseException) -> None:
    COURIER_ERRORS.labels(courier, operation, courier_error_type(error)).inc()


def observe_booked(courier: str, attempt_created_at: datetime, released_at: datetime | None) -> None:
    now = utcnow()
    BOOKING_LATENCY.labels(courier, "attempt").observe((now - attempt_created_at).total_seconds())
    if released_at is not None:
        BOOKING_LATENCY.labels(courier, "release").observe((now - released_at).total_seconds())


class StateCollector(Collector):
    """Gauges read at scrape time. A source that cannot be read is reported down rather than failing the
    whole scrape, so the event metrics still arrive while the database or the broker is away."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "gancang_metrics_source_up", "Whether the scrape could read this source", labels=["source"]
        )
        try:
            yield from self._database()
            up.add_metric(["database"], 1)
        except Exception as exc:
            log.warning("metrics.database_unreadable", error=str(exc)[:200])
            up.add_metric(["database"], 0)
        if settings.redis_url:
            try:
                yield self._broker_queues(settings.redis_url)
                up.add_metric(["broker"], 1)
            except redis.RedisError as exc:
                log.warning("metrics.broker_unreadable", error=str(exc)[:200])
                up.add_metric(["broker"], 0)
        yield up

    def _database(self) -> Iterator[Metric]:
        with new_session() as session:
            orders = count_by_hospital_and_status(session)
            outbox = count_unprocessed_by_topic(session)
            oldest_accepted = oldest_received_by_source(session, InboxStatus.ACCEPTED)
        by_state = GaugeMetricFamily(
            "gancang_orders", "Orders by hospital and state", labels=["hospital", "state"]
        )
        for hospital, state, count in sorted(orders):
            by_state.add_metric([hospital, state], count)
        backlog = GaugeMetricFamily(
            "gancang_outbox_unprocessed",
            "Outbox messages not yet processed (queued, in a worker, or waiting to retry), by task",
            labels=["topic"],
        )
        for topic, count in sorted(outbox.items()):
            backlog.add_metric([topic], count)
        lag = GaugeMetricFamily(
            "gancang_webhook_lag_seconds",
            "Age of the oldest accepted inbox message not yet applied, by source (absent: nothing waiting)",
            labels=["source"],
        )
        now = utcnow()
        for source, received_at in sorted(oldest_accepted.items()):
            lag.add_metric([source], max((now - received_at).total_seconds(), 0.0))
        yield from (by_state, backlog, lag)

    def _broker_queues(self, redis_url: str) -> Metric:
        """Kombu keeps each queue as a Redis list named after it; its length is what waits for a worker."""
        queues = GaugeMetricFamily(
            "gancang_broker_queue_length", "Messages waiting in the Redis broker, by queue", labels=["queue"]
        )
        names = sorted(WORKER_QUEUES)
        with redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2) as client:
            for name in names:
                queues.add_metric([name], client.llen(name))
        return queues


def build_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(StateCollector())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        for metric in EVENT_METRICS:
            registry.register(metric)
    return registry
