"""The circuit breaker per courier account, on the in-process state and on Redis."""

from __future__ import annotations

import uuid

import pytest
import redis

from couriers.base import CourierError
from dispatch.core.settings import settings
from dispatch.dispatching import breaker

DOWN = CourierError(["GoSend answered HTTP 503"], status_code=503, retryable=True)
REFUSED = CourierError(["address outside the service area"], status_code=422)


@pytest.fixture(params=["local", "redis"])
def state(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> breaker.BreakerState:
    if request.param == "local":
        chosen: breaker.BreakerState = breaker.LocalState()
    else:
        chosen = breaker.RedisState(redis.Redis.from_url(str(settings.redis_url)))
    monkeypatch.setattr(breaker, "state", lambda: chosen)
    return chosen


@pytest.fixture
def account_id() -> int:
    """Unique per test, so Redis keys of earlier runs never count."""
    return uuid.uuid4().int % 10**9


def test_opens_after_consecutive_retryable_failures(state: breaker.BreakerState, account_id: int) -> None:
    for _ in range(breaker.FAILURE_THRESHOLD - 1):
        breaker.record(account_id, "gosend", DOWN)
    assert breaker.open_for(account_id) == 0
    breaker.record(account_id, "gosend", DOWN)
    assert 0 < breaker.open_for(account_id) <= breaker.OPEN_SECONDS


def test_a_success_closes_and_starts_the_count_again(state: breaker.BreakerState, account_id: int) -> None:
    for _ in range(breaker.FAILURE_THRESHOLD - 1):
        breaker.record(account_id, "gosend", DOWN)
    breaker.record(account_id, "gosend", None)
    for _ in range(breaker.FAILURE_THRESHOLD - 1):
        breaker.record(account_id, "gosend", DOWN)
    assert breaker.open_for(account_id) == 0
    breaker.record(account_id, "gosend", DOWN)
    breaker.record(account_id, "gosend", None)
    assert breaker.open_for(account_id) == 0


def test_refusals_and_other_accounts_do_not_count(state: breaker.BreakerState, account_id: int) -> None:
    for _ in range(breaker.FAILURE_THRESHOLD * 2):
        breaker.record(account_id, "gosend", REFUSED)
        breaker.record(account_id + 1, "gosend", DOWN)
    assert breaker.open_for(account_id) == 0
    assert breaker.open_for(account_id + 1) > 0


def test_guarded_records_and_passes_the_outcome_on(state: breaker.BreakerState, account_id: int) -> None:
    def failing() -> None:
        raise DOWN

    for _ in range(breaker.FAILURE_THRESHOLD):
        with pytest.raises(CourierError):
            breaker.guarded(account_id, "gosend", failing)
    assert breaker.open_for(account_id) > 0
    assert breaker.guarded(account_id, "gosend", lambda: "booked") == "booked"
    assert breaker.open_for(account_id) == 0


def test_an_unreachable_redis_leaves_the_circuit_closed(
    monkeypatch: pytest.MonkeyPatch, account_id: int
) -> None:
    """The breaker saves time; it must never stop a booking because its own store is down."""
    unreachable = breaker.RedisState(redis.Redis(port=1, socket_connect_timeout=0.2))
    monkeypatch.setattr(breaker, "state", lambda: unreachable)
    breaker.record(account_id, "gosend", DOWN)
    assert breaker.open_for(account_id) == 0
