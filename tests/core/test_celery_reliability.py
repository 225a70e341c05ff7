"""Celery settings the fault suite relies on, the retry backoff's jitter and the beat lease."""

from __future__ import annotations

import time
import uuid

import redis

from dispatch.core.celery_app import (
    MAX_COUNTDOWN_SECONDS,
    TASK_TIME_LIMIT_SECONDS,
    VISIBILITY_TIMEOUT_SECONDS,
    BeatLease,
    celery_app,
)
from dispatch.core.settings import settings
from dispatch.outbox.consumer import MAX_RETRIES, backoff_seconds


def test_reliability_settings() -> None:
    conf = celery_app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_soft_time_limit < conf.task_time_limit == TASK_TIME_LIMIT_SECONDS
    assert conf.broker_transport_options["visibility_timeout"] == VISIBILITY_TIMEOUT_SECONDS
    longest_wait = TASK_TIME_LIMIT_SECONDS + max(backoff_seconds(r) for r in range(MAX_RETRIES + 1))
    assert longest_wait < VISIBILITY_TIMEOUT_SECONDS
    assert conf.beat_scheduler == "dispatch.core.celery_app:LeaderScheduler"


def test_backoff_grows_is_capped_and_jittered() -> None:
    for retries in range(MAX_RETRIES + 3):
        step = min(2 ** (retries + 1), MAX_COUNTDOWN_SECONDS)
        waits = {backoff_seconds(retries) for _ in range(50)}
        assert all(step / 2 <= wait <= step for wait in waits)
        assert len(waits) > 1  # not in lockstep


def test_one_beat_leads_and_a_standby_takes_over_when_it_stops() -> None:
    client = redis.Redis.from_url(str(settings.redis_url))
    key = f"gancang:test:beat:{uuid.uuid4().hex}"
    leader, standby = BeatLease(client, key, seconds=5), BeatLease(client, key, seconds=5)
    assert leader.hold()
    assert not standby.hold()
    assert leader.hold()  # renewed
    leader.release()
    assert standby.hold()
    assert not leader.hold()
    standby.release()


def test_a_dead_leaders_lease_expires() -> None:
    client = redis.Redis.from_url(str(settings.redis_url))
    key = f"gancang:test:beat:{uuid.uuid4().hex}"
    assert BeatLease(client, key, seconds=0.3).hold()
    standby = BeatLease(client, key, seconds=0.3)
    assert not standby.hold()
    time.sleep(0.4)
    assert standby.hold()
