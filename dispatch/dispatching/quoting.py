"""Asking every eligible courier for a price at once, and not waiting past the hospital's deadline.

Quotes are HTTP calls of a few hundred milliseconds each; asked one after another, four couriers would keep
a patient's order waiting for seconds. A courier that has not answered by the deadline is left out of the
choice (its call finishes in the background and is discarded).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextvars import copy_context
from functools import cache, partial

from couriers.base import CourierAdapter, CourierError, DeliveryRequest, Quote
from dispatch.core import metrics
from dispatch.core.logging import log
from dispatch.dispatching import breaker
from dispatch.dispatching.policy import Candidate, Offer

# More than the most couriers one order asks at once, times the calls left running past a deadline.
QUOTE_THREADS = 16


@cache
def _quote_pool() -> ThreadPoolExecutor:
    """One pool per process, made on first use: after Celery's fork, and without a thread started per order
    (a few milliseconds each, on every booking)."""
    return ThreadPoolExecutor(max_workers=QUOTE_THREADS, thread_name_prefix="quote")


# A forked child has none of its parent's threads: it makes its own pool.
os.register_at_fork(after_in_child=_quote_pool.cache_clear)


def gather_quotes(
    asked: Sequence[tuple[Candidate, CourierAdapter]], request: DeliveryRequest, deadline_seconds: float
) -> list[Offer]:
    """One offer per candidate, in the order given: a quote, or the reason there is none."""
    if not asked:
        return []
    # Each call runs in a copy of this context, so its log lines name the order being quoted.
    futures = [
        _quote_pool().submit(
            copy_context().run,
            breaker.guarded,
            candidate.account_id,
            candidate.courier,
            partial(adapter.quote, request),
        )
        for candidate, adapter in asked
    ]
    wait(futures, timeout=deadline_seconds)
    offers = [
        _offer(candidate, future, deadline_seconds)
        for (candidate, _adapter), future in zip(asked, futures, strict=True)
    ]
    for future in futures:
        future.cancel()  # a call not yet started is not made; one under way finishes and is discarded
    return offers


def _offer(candidate: Candidate, future: Future[Quote], deadline_seconds: float) -> Offer:
    if not future.done():
        metrics.COURIER_ERRORS.labels(candidate.courier, "quote", "timeout").inc()
        return Offer(candidate, problem=f"no answer within {deadline_seconds:g} s")
    error = future.exception()
    if error is None:
        return Offer(candidate, quote=future.result())
    metrics.count_courier_error(candidate.courier, "quote", error)
    if not isinstance(error, CourierError):
        # A bug in one adapter must not stop the others' offers from being weighed.
        log.error("dispatch.quote_crashed", courier=candidate.courier, error=repr(error))
    return Offer(candidate, problem=f"{type(error).__name__}: {error}"[:300])
