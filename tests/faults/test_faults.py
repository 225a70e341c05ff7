"""Fault injection on the real stack: each scenario seeds the demo hospital (GoSend and the shelter on the
sandbox), ingests and releases a wave of orders, injects its fault at the moment it hurts, waits for the
wave to settle and prints the tally: orders lost, booked twice at the courier, SMS sent twice, stuck.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from conftest import Instances, report_failure
from faults_support import (
    Stack,
    Wave,
    ingest,
    pending_attempts,
    release,
    seed_hospital,
    settle,
    statuses,
    tally,
    tell_pins,
    wait_until,
)

pytestmark = [pytest.mark.faults, pytest.mark.integration]

ORDERS = 24
SETTLE_SECONDS = 120.0


@contextmanager
def clients(stack: Stack) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    with (
        httpx.Client(base_url=stack.api_url, timeout=15) as api,
        httpx.Client(base_url=stack.sandbox_url, timeout=5) as sandbox,
    ):
        yield api, sandbox


def fault(sandbox: httpx.Client, kind: str, calls: int, **options: object) -> None:
    sandbox.post("/_sandbox/faults", json={"kind": kind, "calls": calls, **options}).raise_for_status()


def slow_bookings(sandbox: httpx.Client, calls: int, delay_seconds: float) -> None:
    """GoSend's booking and the shelter's job offer (its booking) both answer ``delay_seconds`` late."""
    for operation in ("book", "offer"):
        fault(sandbox, "timeout", calls, operation=operation, delay_seconds=delay_seconds)


def booked(wave: Wave) -> int:
    counts = statuses(wave.order_ids)
    return sum(
        n
        for status, n in counts.items()
        if status not in ("awaiting_release", "released", "ready", "booking")
    )


def finish(scenario: str, stack: Stack, wave: Wave, sandbox: httpx.Client) -> None:
    """Settle, print the counts, and hold every one of them at zero."""
    orphans = settle(wave, SETTLE_SECONDS)
    result = tally(wave, sandbox, orphans)
    print(result.line(scenario), f"supervisor_restarts={dict(stack.restarts)}")
    assert result.problems == [], "\n".join(result.problems) + "\n" + report_failure(stack)


def test_worker_killed_mid_booking(stack_factory, webhook_token: str) -> None:  # type: ignore[no-untyped-def]
    """Bookings answer slowly (1.5 s, within the client's 2 s). While several are under way, every pool
    child is killed -9 (WorkerLostError: each message is rejected back to the queue and runs again at
    once), then, while others are under way, the whole worker with its pool (its messages stay
    unacknowledged in Redis; the outbox relay publishes them again), which is then restarted."""
    with stack_factory() as stack, clients(stack) as (api, sandbox):
        credentials = seed_hospital(stack, webhook_token)
        slow_bookings(sandbox, ORDERS * 2, delay_seconds=1.5)
        wave = ingest(api, credentials, ORDERS, "KW")
        release(api, wave)
        tell_pins(sandbox, wave)
        assert wait_until(lambda: pending_attempts(wave.order_ids) >= 3, 30)
        assert stack.kill_pool_children() == 4
        assert wait_until(lambda: pending_attempts(wave.order_ids) >= 3, 30)
        stack.kill("worker")
        time.sleep(1.0)
        stack.start("worker")
        finish("worker kill -9 mid-booking", stack, wave, sandbox)


def test_redis_restarted_during_dispatch_wave(
    stack_factory, instances: Instances, webhook_token: str
) -> None:  # type: ignore[no-untyped-def]
    """Redis is killed (no persistence: every queued and unacknowledged message is gone) while the wave is
    being booked, and comes back 2 s later."""
    with stack_factory() as stack, clients(stack) as (api, sandbox):
        credentials = seed_hospital(stack, webhook_token)
        slow_bookings(sandbox, ORDERS, delay_seconds=0.8)
        wave = ingest(api, credentials, ORDERS, "RR")
        release(api, wave)
        tell_pins(sandbox, wave)
        assert wait_until(lambda: booked(wave) >= 3, 30)
        instances.redis.restart(down_seconds=2.0)
        finish("redis restart mid-wave", stack, wave, sandbox)


def test_postgres_restarted_under_webhook_load(
    stack_factory, instances: Instances, webhook_token: str
) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL stops immediately (every connection cut mid-transaction) while couriers' webhooks pour in,
    and starts again 2 s later; couriers retry what was not acknowledged."""
    with stack_factory(step_delay_seconds=0.5) as stack, clients(stack) as (api, sandbox):
        credentials = seed_hospital(stack, webhook_token)
        wave = ingest(api, credentials, ORDERS, "PG")
        release(api, wave)
        tell_pins(sandbox, wave)
        assert wait_until(lambda: booked(wave) >= ORDERS // 2, 60)
        instances.postgres.restart(down_seconds=2.0)
        finish("postgres restart under webhook load", stack, wave, sandbox)


def test_courier_timeouts_5xx_429_and_slow_answers(stack_factory, webhook_token: str) -> None:  # type: ignore[no-untyped-def]
    """The courier APIs misbehave in every way the sandbox knows, on quotes and bookings: answers after the
    client gave up (the booking still made), 5xx, 429 with Retry-After, slow but in time."""
    with stack_factory() as stack, clients(stack) as (api, sandbox):
        credentials = seed_hospital(stack, webhook_token)
        for operation in ("book", "offer"):
            fault(sandbox, "timeout", 3, operation=operation, delay_seconds=3.0)
            fault(sandbox, "server_error", 4, operation=operation, status_code=503)
            fault(sandbox, "rate_limit", 3, operation=operation, retry_after_seconds=1)
            fault(sandbox, "timeout", 4, operation=operation, delay_seconds=1.0)
        fault(sandbox, "server_error", 4, operation="quote", status_code=502)
        wave = ingest(api, credentials, ORDERS, "CF")
        release(api, wave)
        tell_pins(sandbox, wave)
        finish("courier timeouts/5xx/429/slow", stack, wave, sandbox)


def test_webhooks_retried_duplicated_and_reordered(stack_factory, webhook_token: str) -> None:  # type: ignore[no-untyped-def]
    """Every webhook is sent twice and the last two of each journey swapped; the API is killed -9 and
    restarted in the middle, so the couriers retry what they could not deliver."""
    with stack_factory(duplicate_events=True, shuffle=True) as stack, clients(stack) as (api, sandbox):
        credentials = seed_hospital(stack, webhook_token)
        wave = ingest(api, credentials, ORDERS, "WH")
        release(api, wave)
        tell_pins(sandbox, wave)
        assert wait_until(lambda: booked(wave) >= ORDERS // 3, 60)
        stack.kill("api")
        time.sleep(1.0)
        stack.start("api")
        finish("webhooks retried/duplicated/reordered", stack, wave, sandbox)
