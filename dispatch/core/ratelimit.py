"""Fixed-window request counters for the routes anyone can reach: login, tracking links and intake.

Why this shape:

- A fixed window (a counter per key per window, reset when the window ends) is one INCR and one EXPIRE: no
  clock skew between processes matters, and ``Retry-After`` is simply the time to the window's end. A burst
  of twice the limit across a window boundary is possible and harmless for what these limits are for
  (guessing passwords, link tokens and API keys, or one client flooding a hospital's intake).
- Redis when configured (``REDIS_URL``, the broker production already runs): every API process counts
  together, and counters expire on their own. Without Redis (the embedded single-process install) the
  counters live in this process. Not the database: a counter write per request would take connections the
  hospital's orders need, and a new table would need a migration for state that may be lost at will.
- When Redis cannot be reached the request is let through (and logged): a broken limiter must not stop a
  hospital from sending prescriptions or staff from logging in.

Clients are told apart by ``request.client``: behind a reverse proxy, run uvicorn with ``--proxy-headers``
and ``--forwarded-allow-ips`` set to the proxy, so that is the patient's or hospital's address, not the
proxy's.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import redis

from dispatch.core.logging import log
from dispatch.core.settings import settings

KEY_PREFIX: Final = "gancang:ratelimit:"


@dataclass(frozen=True)
class Limit:
    """At most ``requests`` per ``window_seconds`` for one key (a client address, a token, an API key)."""

    name: str
    requests: int
    window_seconds: int


# Failed logins from one address across all usernames (each username also locks after 5 failures): a
# hospital's staff share one NAT address, so this counts failures only, never successful logins.
LOGIN_FAILURES_PER_CLIENT: Final = Limit("login-client", 30, 15 * 60)
# Tracking pages: a patient's phone reloads now and then; many patients can share one mobile-carrier NAT
# address, so the per-client limit is generous and mainly stops token guessing from one address.
TRACKING_PER_TOKEN: Final = Limit("tracking-token", 60, 60)
TRACKING_PER_CLIENT: Final = Limit("tracking-client", 300, 60)
# Intake per API key (or per client address when the request carries no key): far above a SIMRS's rate.
INTAKE_PER_KEY: Final = Limit("intake-key", 600, 60)


class _Counter(Protocol):
    def add_each(self, keys: Sequence[tuple[str, int]]) -> list[int]: ...

    def current(self, key: str) -> int: ...

    def clear(self) -> None: ...


class _MemoryCounter:
    """Counters of this process; a window's keys are dropped once a later window is counted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[float, int]] = {}

    def add(self, key: str, window_seconds: int) -> int:
        now = time.time()
        with self._lock:
            if len(self._counts) > 10_000:
                self._counts = {k: v for k, v in self._counts.items() if v[0] > now}
            expires, count = self._counts.get(key, (now + window_seconds, 0))
            self._counts[key] = (expires, count + 1)
            return count + 1

    def add_each(self, keys: Sequence[tuple[str, int]]) -> list[int]:
        return [self.add(key, window_seconds) for key, window_seconds in keys]

    def current(self, key: str) -> int:
        with self._lock:
            expires, count = self._counts.get(key, (0.0, 0))
            return count if expires > time.time() else 0

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()


class _RedisCounter:
    def __init__(self, url: str) -> None:
        # Short timeouts: a slow Redis must not slow every login and intake request.
        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)

    def add_each(self, keys: Sequence[tuple[str, int]]) -> list[int]:
        """Every counter in one round trip."""
        pipeline = self._redis.pipeline()
        for key, window_seconds in keys:
            pipeline.incr(key)
            pipeline.expire(key, window_seconds, nx=True)
        return [int(count) for count in pipeline.execute()[::2]]

    def current(self, key: str) -> int:
        value = self._redis.get(key)
        return int(value) if value is not None else 0

    def clear(self) -> None:
        keys = list(self._redis.scan_iter(match=f"{KEY_PREFIX}*", count=1000))
        if keys:
            self._redis.delete(*keys)


_counter: _Counter = _RedisCounter(settings.redis_url) if settings.redis_url else _MemoryCounter()


def _window(limit: Limit, key: str) -> tuple[str, int]:
    """The counter's key for the current window, and the seconds left in it. The key part is hashed: it may
    be a token or an API key, which must not sit in Redis readable."""
    now = time.time()
    index = int(now // limit.window_seconds)
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    left = max(1, math.ceil((index + 1) * limit.window_seconds - now))
    return f"{KEY_PREFIX}{limit.name}:{digest}:{index}", left


def hit(limit: Limit, key: str) -> int | None:
    """Counts one request; the seconds to wait (for ``Retry-After``) when it is over the limit, else None."""
    return hit_each((limit, key))


def hit_each(*hits: tuple[Limit, str]) -> int | None:
    """Like ``hit`` for several limits at once (a tracking link counts per token and per client address), in
    one round trip to Redis; the longest wait of those over their limit, else None."""
    windows = [(limit, *_window(limit, key)) for limit, key in hits]
    try:
        counts = _counter.add_each([(counter_key, limit.window_seconds) for limit, counter_key, _ in windows])
    except redis.RedisError as exc:
        log.warning(
            "rate limit not counted", limits=[limit.name for limit, _ in hits], error=type(exc).__name__
        )
        return None
    waits = [left for (limit, _, left), count in zip(windows, counts, strict=True) if count > limit.requests]
    return max(waits, default=None)


def exceeded(limit: Limit, key: str) -> int | None:
    """Like ``hit`` without counting: for limits that count only failures (checked before, counted after)."""
    counter_key, left = _window(limit, key)
    try:
        count = _counter.current(counter_key)
    except redis.RedisError as exc:
        log.warning("rate limit not read", limit=limit.name, error=type(exc).__name__)
        return None
    return left if count >= limit.requests else None


def reset() -> None:
    """Forgets every counter (tests, and an operator lifting a limit by hand)."""
    _counter.clear()
