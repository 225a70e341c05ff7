"""FHIR intake latency and release-to-booking latency, in one harness on the whole running stack.

Run: .venv/bin/python bench/latency_bench.py [--bundles 400] [--concurrency 4] [--releases 200] [--release-rate 0]
Needs PostgreSQL (BENCH_DATABASE_URL) and Redis (REDIS_URL, default db 12).

Starts what production runs: the API (uvicorn, 2 workers), Celery (``--concurrency 2``), one beat, and the
courier sandbox (``gancang sandbox``) as the hospital's GoSend account, which posts its status webhooks back.

1. FHIR intake: ``--bundles`` one-prescription Bundles posted ``--concurrency`` at a time (a moderate load,
   not saturation: ``intake_fhir_bench.py`` measures the ceiling); latency per request p50 / p99.
2. Release to booking: a pharmacist releases ``--releases`` of those orders through the staff API, all at
   once (every release request in flight together; ``--release-rate N`` paces them at N per second instead),
   while the bookings' webhooks flow back. For each order, the time from ``released_at`` to the "Booked with
   gosend" event on its timeline (both stamped by our processes): the publish at commit, the worker locating
   the patient, asking the sandbox for a quote, booking it and committing. p50 / p99, and the release call's
   own latency.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import httpx
import sqlalchemy as sa
from _support import (
    HARDWARE_NOTE,
    StackCpu,
    describe_ms,
    fhir_bundles,
    login,
    post_all,
    prepare_stack,
    processes,
    wait_for,
)

WARMUP_BUNDLES = 50


def booking_delays(connection: sa.Connection, order_ids: list[int]) -> tuple[list[float], dict[str, int]]:
    """Seconds from release to the booking event per booked order, and every released order's state now."""
    rows = connection.execute(
        sa.text(
            "SELECT extract(epoch FROM min(e.at) - o.released_at) FROM orders o "
            "JOIN order_events e ON e.order_id = o.id AND e.kind = 'courier' AND e.detail LIKE 'Booked with %' "
            "WHERE o.id = ANY(:ids) GROUP BY o.id, o.released_at"
        ),
        {"ids": order_ids},
    ).scalars()
    states = connection.execute(
        sa.text("SELECT status, count(*) FROM orders WHERE id = ANY(:ids) GROUP BY status"),
        {"ids": order_ids},
    ).all()
    return [float(value) for value in rows], dict(states)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bundles", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--releases", type=int, default=200)
    parser.add_argument("--release-rate", type=float, default=0, help="0: every release at once")
    parser.add_argument("--step-delay", type=float, default=2.0, help="sandbox seconds between statuses")
    args = parser.parse_args()
    if args.releases > args.bundles:
        parser.error("--releases cannot exceed --bundles")

    stack = prepare_stack()  # before anything from dispatch is imported
    api_url, sandbox_url, api_key = stack.api_url, stack.sandbox_url, stack.api_key

    from dispatch.core.db import get_engine

    env = {**os.environ, "GANCANG_LOG_LEVEL": "WARNING", "GANCANG_PUBLIC_BASE_URL": api_url}
    with processes(stack.commands(args.step_delay), env) as running:
        wait_for(f"{api_url}/readyz", running)
        wait_for(f"{sandbox_url}/_sandbox/bookings", running)
        bodies = fhir_bundles(WARMUP_BUNDLES + args.bundles, prefix="L")
        headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/fhir+json"}
        fhir_url = f"{api_url}/fhir/r4/Bundle"
        asyncio.run(
            post_all([(fhir_url, body) for body in bodies[:WARMUP_BUNDLES]], headers, args.concurrency)
        )
        intake = asyncio.run(
            post_all([(fhir_url, body) for body in bodies[WARMUP_BUNDLES:]], headers, args.concurrency)
        )

        with get_engine().connect() as connection:
            order_ids = list(
                connection.execute(
                    sa.text(
                        "SELECT id FROM orders WHERE status = 'awaiting_release' ORDER BY id DESC LIMIT :n"
                    ),
                    {"n": args.releases},
                ).scalars()
            )
        with httpx.Client(base_url=api_url, timeout=30) as api:
            staff = {"Authorization": f"Bearer {login(api, stack.username, stack.password)}"}
            cpu = StackCpu(running)
            cpu.start()
            release_urls = [(f"{api_url}/api/v1/orders/{order_id}/release", b"") for order_id in order_ids]
            if args.release_rate > 0:
                release_calls = []
                started = time.perf_counter()
                for number, (url, _body) in enumerate(release_urls):
                    time.sleep(max(0.0, started + number / args.release_rate - time.perf_counter()))
                    sent = time.perf_counter()
                    api.post(url, headers=staff).raise_for_status()
                    release_calls.append(time.perf_counter() - sent)
            else:
                release_calls = asyncio.run(post_all(release_urls, staff, len(release_urls), expected=200))
        deadline = time.monotonic() + 120
        while True:
            with get_engine().connect() as connection:
                delays, states = booking_delays(connection, order_ids)
            if len(delays) == len(order_ids) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        cpu_used = cpu.describe()

    print(
        f"Latency on the running stack: API 2 uvicorn workers, Celery --concurrency 2 + beat, courier sandbox; {HARDWARE_NOTE}"
    )
    print(f"  FHIR intake, one prescription per Bundle, {args.concurrency} at a time: {describe_ms(intake)}")
    pace = f"{args.release_rate:g} per second" if args.release_rate > 0 else "all at once"
    print(f"  release call (staff API), {pace}: {describe_ms(release_calls)}")
    if delays:
        print(f"  release to booking (BOOKED at the sandbox GoSend, committed): {describe_ms(delays)}")
    print(f"  booked {len(delays)} of {len(order_ids)} released; their states now: {states}")
    print(f"  CPU from the first release until all were booked: {cpu_used}")


if __name__ == "__main__":
    main()
