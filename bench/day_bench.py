"""A simulated day: N orders ingested, released, booked at the courier sandbox, delivered; nothing stuck.

Run: .venv/bin/python bench/day_bench.py [--orders 100000] [--step-delay 0.5] [--stall-seconds 120]
     [--no-driver-share 0.10] [--failed-share 0.03] [--seed 1]
Needs PostgreSQL (BENCH_DATABASE_URL) and Redis (REDIS_URL, default db 12).

Starts what production runs: the API (uvicorn, 2 workers), Celery (``--concurrency 2``), one beat, and the
courier sandbox (``gancang sandbox``) as the hospital's GoSend account. Every journey is happy, except that
``--no-driver-share`` and ``--failed-share`` of the patients (a fixed, seeded sample of their phones) get the
sandbox scenarios ``no_driver`` and ``failed_delivery`` through ``POST /_sandbox/rules`` before any release.
With one GoSend account, a no_driver order is booked once more (the dispatch's fallback cascade) and, the rule
still saying no_driver, ends ``no_courier``; a failed delivery ends ``delivery_failed``, where the courier's
part is over and the pharmacist confirms the medicine's return (so this bench counts it as settled). Then:

1. the SIMRS posts every prescription as FHIR Bundles of 20, two at a time;
2. a pharmacist releases every order through the staff API, two at a time, while the earlier ones are already
   being booked, picked up and delivered (each booking brings five status webhooks back from the sandbox,
   each applied by a task, plus the patient's SMS tasks);
3. the bench waits until every order is settled, then until the outbox is empty (the patients' SMS tasks
   trail the deliveries), each time giving up when nothing has moved for ``--stall-seconds``.

Prints the wall time of each phase and in all, the orders per second from first release to last delivery,
peak resident memory of each process group (sampled every second, children included), the orders' final
states (delivered, delivery_failed/returned, cancelled, no_courier, other = stuck), the ones not delivered
with their state, and the courier cost per delivered order: the delivering booking's ``price_idr`` (what the
courier reported) or, where it reported none, its ``quoted_price_idr``; also every booking's cost (failed
deliveries included) divided by the delivered orders. When ``--orders`` is below 100,000
it also prints the time 100,000 would take at the measured rate: an extrapolation, labelled as one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import threading
import time
from collections.abc import Callable

import httpx
import sqlalchemy as sa
from _support import (
    HARDWARE_NOTE,
    StackCpu,
    fhir_bundles,
    login,
    patient_phone,
    post_all,
    prepare_stack,
    processes,
    rss_mb,
    wait_for,
)

PER_BUNDLE = 20
DAY = 100_000
# Where an order's day ends without anyone's help; anything else at the end is stuck.
SETTLED = ("delivered", "no_courier", "cancelled", "returned", "rejected", "needs_address", "delivery_failed")


class PeakMemory(threading.Thread):
    """Samples the resident memory of each process (and its children) every second; keeps the peaks."""

    def __init__(self, pids: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.peaks = dict.fromkeys([*pids, "total"], 0.0)
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(1.0):
            sizes = {name: rss_mb([pid]) for name, pid in self.pids.items()}
            sizes["total"] = sum(sizes.values())
            for name, size in sizes.items():
                self.peaks[name] = max(self.peaks[name], size)


def states(connection: sa.Connection) -> dict[str, int]:
    return dict(connection.execute(sa.text("SELECT status, count(*) FROM orders GROUP BY status")).all())


def wait_until(done: Callable[[sa.Connection], object], stall_seconds: float) -> float:
    """Until ``done`` (read every second) is falsy, or it has not changed for ``stall_seconds``; the time."""
    from dispatch.core.db import get_engine

    last_change, last_seen = time.perf_counter(), None
    while True:
        with get_engine().connect() as connection:
            now = done(connection)
        if not now:
            return time.perf_counter()
        if now != last_seen:
            last_change, last_seen = time.perf_counter(), now
        elif time.perf_counter() - last_change > stall_seconds:
            return time.perf_counter()
        time.sleep(1)


def unsettled(connection: sa.Connection) -> dict[str, int]:
    return {state: count for state, count in states(connection).items() if state not in SETTLED}


def unfinished(connection: sa.Connection) -> dict[str, int]:
    query = "SELECT topic, count(*) FROM outbox_messages WHERE processed_at IS NULL GROUP BY topic"
    return dict(connection.execute(sa.text(query)).all())


def scenario_phones(orders: int, no_driver: float, failed: float, seed: int) -> dict[str, str]:
    """A fixed sample of the patients' phones and the sandbox scenario each gets; the rest stay happy."""
    indices = random.Random(seed).sample(range(orders), round(orders * no_driver) + round(orders * failed))
    cut = round(orders * no_driver)
    return {patient_phone(i): ("no_driver" if n < cut else "failed_delivery") for n, i in enumerate(indices)}


def outcome_counts(final: dict[str, int]) -> dict[str, int]:
    counts = {
        "delivered": final.get("delivered", 0),
        "delivery_failed/returned": final.get("delivery_failed", 0) + final.get("returned", 0),
        "cancelled": final.get("cancelled", 0),
        "no_courier": final.get("no_courier", 0),
    }
    counts["other (stuck)"] = sum(final.values()) - sum(counts.values())
    return counts


def courier_costs(connection: sa.Connection) -> sa.Row[tuple[int, int, int, int, int]]:
    """Delivered orders, the sum of their delivering bookings' price (reported, else quoted), how many had
    only a quote, and every booking's cost over all orders."""
    return connection.execute(
        sa.text(
            "SELECT "
            "(SELECT count(*) FROM orders WHERE status = 'delivered') AS delivered, "
            "(SELECT coalesce(sum(coalesce(a.price_idr, a.quoted_price_idr)), 0) FROM booking_attempts a "
            " JOIN orders o ON o.id = a.order_id WHERE o.status = 'delivered' AND a.status = 'delivered') AS spent, "
            "(SELECT count(*) FROM booking_attempts a JOIN orders o ON o.id = a.order_id "
            " WHERE o.status = 'delivered' AND a.status = 'delivered' AND a.price_idr IS NULL) AS quoted_only, "
            "(SELECT count(*) FROM orders o WHERE o.status = 'delivered' AND NOT EXISTS (SELECT 1 FROM "
            " booking_attempts a WHERE a.order_id = o.id AND a.status = 'delivered')) AS no_delivering_booking, "
            "(SELECT coalesce(sum(coalesce(price_idr, quoted_price_idr)), 0) FROM booking_attempts "
            " WHERE status IN ('delivered', 'failed')) AS all_spent"
        )
    ).one()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=DAY)
    parser.add_argument("--step-delay", type=float, default=0.5, help="sandbox seconds between statuses")
    parser.add_argument("--stall-seconds", type=float, default=120)
    parser.add_argument(
        "--no-driver-share", type=float, default=0.0, help="patients whose GoSend finds no driver"
    )
    parser.add_argument("--failed-share", type=float, default=0.0, help="patients whose delivery fails")
    parser.add_argument("--seed", type=int, default=1, help="which patients get those scenarios")
    args = parser.parse_args()
    if args.no_driver_share < 0 or args.failed_share < 0 or args.no_driver_share + args.failed_share > 1:
        parser.error("the shares must be between 0 and 1, and add up to at most 1")
    scenarios = scenario_phones(args.orders, args.no_driver_share, args.failed_share, args.seed)

    stack = prepare_stack()  # before anything from dispatch is imported
    api_url, sandbox_url, api_key = stack.api_url, stack.sandbox_url, stack.api_key
    bundles = fhir_bundles(-(-args.orders // PER_BUNDLE), PER_BUNDLE, prefix="D")

    from dispatch.core.db import get_engine

    env = {**os.environ, "GANCANG_LOG_LEVEL": "WARNING", "GANCANG_PUBLIC_BASE_URL": api_url}
    with processes(stack.commands(args.step_delay), env) as running:
        wait_for(f"{api_url}/readyz", running)
        wait_for(f"{sandbox_url}/_sandbox/bookings", running)
        with httpx.Client(base_url=sandbox_url, timeout=30) as sandbox:
            for phone, scenario in scenarios.items():
                rule = {"match_phone": phone, "scenario": scenario}
                sandbox.post("/_sandbox/rules", json=rule).raise_for_status()
        memory = PeakMemory({name: process.pid for name, process in running.items()})
        memory.start()
        cpu = StackCpu(running)
        cpu.start()
        started = time.perf_counter()
        headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/fhir+json"}
        asyncio.run(post_all([(f"{api_url}/fhir/r4/Bundle", body) for body in bundles], headers, 2))
        ingested = time.perf_counter()
        with get_engine().connect() as connection:
            order_ids = list(
                connection.execute(
                    sa.text("SELECT id FROM orders WHERE status = 'awaiting_release' ORDER BY id")
                )
                .scalars()
                .all()
            )
        with httpx.Client(base_url=api_url, timeout=30) as api:
            staff = {"Authorization": f"Bearer {login(api, stack.username, stack.password)}"}
        releases = [(f"{api_url}/api/v1/orders/{order_id}/release", b"") for order_id in order_ids]
        asyncio.run(post_all(releases, staff, 2, expected=200))
        released = time.perf_counter()
        finished = wait_until(unsettled, args.stall_seconds)
        drained = wait_until(unfinished, args.stall_seconds)
        memory.stopped.set()
        memory.join()
        cpu_used = cpu.describe()
        with get_engine().connect() as connection:
            stuck = connection.execute(
                sa.text(
                    "SELECT id, status, status_changed_at FROM orders WHERE status <> 'delivered' ORDER BY id LIMIT 20"
                )
            ).all()
            final, left = states(connection), unfinished(connection)
            costs = courier_costs(connection)
            refused = connection.execute(
                sa.text(
                    "SELECT status, count(*) FROM inbox_messages WHERE status <> 'processed' GROUP BY status"
                )
            ).all()

    rate = len(order_ids) / (finished - ingested)
    print(
        f"A simulated day of {args.orders:,} orders: API 2 uvicorn workers, Celery --concurrency 2 + beat, "
        f"courier sandbox (step delay {args.step_delay:g} s), PostgreSQL, Redis; {HARDWARE_NOTE}"
    )
    told = {name: list(scenarios.values()).count(name) for name in ("no_driver", "failed_delivery")}
    print(f"  sandbox scenarios told before release (by phone, seed {args.seed}): {told}; the rest happy")
    print(
        f"  ingest ({PER_BUNDLE} per FHIR Bundle): {ingested - started:.1f} s; {len(order_ids):,} orders awaiting release"
    )
    print(f"  release through the staff API: {released - ingested:.1f} s")
    print(f"  first release to last order settled: {finished - ingested:.1f} s = {rate:.1f} orders/s")
    print(f"  last order settled to the outbox drained (the SMS tasks behind): {drained - finished:.1f} s")
    print(f"  wall time in all: {drained - started:.1f} s")
    print(f"  CPU of the whole stack over that time: {cpu_used}")
    print(
        "  peak RSS (MB, each process with its children): "
        + ", ".join(f"{name} {size:.0f}" for name, size in memory.peaks.items())
    )
    print(f"  final states: {final}")
    print(f"  outcomes: {outcome_counts(final)}")
    if costs.delivered:
        print(
            f"  courier cost per delivered order: IDR {costs.spent / costs.delivered:,.0f} "
            f"(IDR {costs.spent:,} over {costs.delivered:,} delivered; the delivering booking's courier-reported "
            f"price_idr, its quoted_price_idr for the {costs.quoted_only:,} without one; "
            f"{costs.no_delivering_booking:,} delivered orders had no delivered booking)"
        )
        print(
            f"  every delivered or failed booking's cost over the delivered orders: "
            f"IDR {costs.all_spent / costs.delivered:,.0f} (IDR {costs.all_spent:,})"
        )
    print(
        f"  not delivered: {sum(count for state, count in final.items() if state != 'delivered')}"
        + "".join(
            f"\n    order {row.id}: {row.status} since {row.status_changed_at:%H:%M:%S}" for row in stuck
        )
    )
    print(f"  outbox unfinished: {left or 'none'}; inbox not processed: {dict(refused) or 'none'}")
    if args.orders < DAY:
        hours = DAY / rate / 3600
        print(
            f"  EXTRAPOLATION, not measured: {DAY:,} orders at {rate:.1f} orders/s would take {hours:.1f} h "
            f"from first release to last delivery"
        )


if __name__ == "__main__":
    main()
