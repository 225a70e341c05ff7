"""A circuit breaker per courier account: a courier that keeps failing is left alone for a while.

Without it every order of a wave asks a courier whose API is down, each waiting out its timeout and its
retries, while another courier could take them. After ``FAILURE_THRESHOLD`` consecutive retryable failures
(5xx, 429, timeouts, connection errors) the account's circuit opens for ``OPEN_SECONDS``: quotes skip it,
so new bookings go to the other couriers, and a booking already under way with it waits in the outbox until
the circuit closes instead of hammering it. One success closes it again.

The state lives in Redis when the deployment has one, so every worker process sees the same circuit; the
embedded run keeps it in the process. A Redis that cannot be reached leaves every circuit closed: the
breaker only saves time, it must never stop a booking.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Protocol, TypeVar

import redis

from couriers.base import CourierError
from dispatch.core.logging import log
from dispatch.core.settings import settings

FAILURE_THRESHOLD = 5
OPEN_SECONDS = 30.0
_T = TypeVar("_T")


class BreakerState(Protocol):
    def failed(self, account_id: int) -> int:
        """Counts one more consecutive failure; returns the count."""
        ...

    def open(self, account_id: int, seconds: float) -> None: ...

    def open_for(self, account_id: int) -> float:
        """Seconds the circuit stays open; 0 when closed."""
        ...

    def reset(self, account_id: int) -> None: ...


class LocalState:
    """One process's view, for the embedded run (one worker)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[int, int] = {}
        self._open_until: dict[int, float] = {}

    def failed(self, account_id: int) -> int:
        with self._lock:
            self._failures[account_id] = self._failures.get(account_id, 0) + 1
            return self._failures[account_id]

    def open(self, account_id: int, seconds: float) -> None:
        with self._lock:
            self._open_until[account_id] = time.monotonic() + seconds
            self._failures.pop(account_id, None)

    def open_for(self, account_id: int) -> float:
        with self._lock:
            return max(0.0, self._open_until.get(account_id, 0.0) - time.monotonic())

    def reset(self, account_id: int) -> None:
        with self._lock:
            self._failures.pop(account_id, None)
            self._open_until.pop(account_id, None)


class RedisState:
    """Shared by every worker. Failure counts expire, so failures spread over a long time never add up."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    @staticmethod
    def _keys(account_id: int) -> tuple[str, str]:
        return f"gancang:breaker:{account_id}:failures", f"gancang:breaker:{account_id}:open"

    def failed(self, account_id: int) -> int:
        failures, _open = self._keys(account_id)
        pipeline = self._redis.pipeline()
        pipeline.incr(failures)
        pipeline.expire(failures, int(OPEN_SECONDS * 2))
        count, _ = pipeline.execute()
        return int(count)

    def open(self, account_id: int, seconds: float) -> None:
        failures, opened = self._keys(account_id)
        pipeline = self._redis.pipeline()
        pipeline.set(opened, "1", px=int(seconds * 1000))
        pipeline.delete(failures)
        pipeline.execute()

    def open_for(self, account_id: int) -> float:
        _failures, opened = self._keys(account_id)
        milliseconds = int(self._redis.pttl(opened))
        return milliseconds / 1000 if milliseconds > 0 else 0.0

    def reset(self, account_id: int) -> None:
        self._redis.delete(*self._keys(account_id))


@lru_cache(maxsize=1)
def state() -> BreakerState:
    if settings.redis_url:
        return RedisState(
            redis.Redis.from_url(settings.redis_url, socket_timeout=1, socket_connect_timeout=1)
        )
    return LocalState()


def open_for(account_id: int) -> float:
    """Seconds until the account's circuit closes; 0 when it is closed (or its state cannot be read)."""
    try:
        return state().open_for(account_id)
    except redis.RedisError as exc:
        log.warning("breaker.unavailable", account_id=account_id, error=str(exc))
        return 0.0


def record(account_id: int, courier: str, error: BaseException | None) -> None:
    """A success closes the circuit; a retryable failure counts toward opening it; a refusal (a business
    answer from a working API) counts for nothing."""
    try:
        if error is None:
            state().reset(account_id)
        elif (
            isinstance(error, CourierError)
            and error.retryable
            and state().failed(account_id) >= FAILURE_THRESHOLD
        ):
            state().open(account_id, OPEN_SECONDS)
            log.warning("breaker.opened", account_id=account_id, courier=courier, seconds=OPEN_SECONDS)
    except redis.RedisError as exc:
        log.warning("breaker.unavailable", account_id=account_id, error=str(exc))


def guarded(account_id: int, courier: str, call: Callable[[], _T]) -> _T:
    """Runs one courier call and records its outcome."""
    try:
        result = call()
    except Exception as exc:
        record(account_id, courier, exc)
        raise
    record(account_id, courier, None)
    return result
