"""Courier webhook ingestion through uvicorn and PostgreSQL, next to a bare endpoint measured in the same run.

Run: .venv/bin/python bench/webhook_bench.py [--orders 12000] [--seconds 10] [--rounds 3] [--connections 32] [--workers 2]
Needs PostgreSQL (BENCH_DATABASE_URL), Redis (REDIS_URL, default db 12) and Debian's ``wrk``.

It seeds one hospital with a GoSend account (plus ``--other-accounts`` other hospitals' GoSend accounts, so
verification has more than one candidate, as in a shared deployment) and booked orders, then drives with
``wrk`` (C, one thread: the load generator must not eat the cores it measures), every request a distinct
GoSend event, each order's statuses in sequence (allocated, out_for_pickup, picked, out_for_delivery,
delivered):

1. ``bench/bare_app.py`` (2 uvicorn workers): stores the body as one row, nothing else. The baseline.
2. The real app (2 uvicorn workers), ``POST /webhooks/couriers/gosend``: archive raw, verify the token, parse,
   find the booking, de-duplicate and queue the state change in the outbox. No Celery worker runs during
   this phase, so the figure is the HTTP ingestion alone.
   Both servers run side by side; ``--rounds`` runs alternate between them on fresh events, so a noisy
   neighbour on the shared machine weighs on both alike. Afterwards every event the load generator sent
   to the real app is checked against the inbox: accepted exactly once, no duplicate, no refusal.
3. Applying: 2 Celery workers (``--concurrency 2``) and beat start and drain the queued state changes;
   prints applies per second and the orders' final states.
4. End to end with the workers running: a second set of orders at a paced rate (``--live-rate``), and the
   lag from the webhook's arrival to its state change committed, p50 / p99.

Both servers get the same uvicorn settings (``gancang serve``'s: httptools, uvloop, log level warning) and
the same engine and pool. Every figure comes from this one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from _support import (
    BENCH_DIR,
    HARDWARE_NOTE,
    cpu_seconds,
    dispatch_command,
    free_port,
    fresh_database,
    processes,
    seed_hospital,
    serve_command,
    wait_for,
)

TOKEN = "bench-gosend-webhook-token"  # noqa: S105
STATUSES = ("allocated", "out_for_pickup", "picked", "out_for_delivery", "delivered")
EVENT_TIME_MS = 1_764_400_000_000
WRK_SCRIPT = BENCH_DIR / "webhook_wrk.lua"
LIVE_CONNECTIONS = 4
DEST = "-8.2325, 114.3576"  # a door in Banyuwangi town, as the geocoder would have placed it


def gosend_settings(token: str) -> dict[str, object]:
    return {
        "client_id": "bench",
        "pass_key": "bench-pass-key",
        "base_url": "http://127.0.0.1:9",
        "webhook_token": token,
    }


def seed_accounts(hospital_id: int, others: int) -> int:
    """The bench hospital's GoSend account (its id), and ``others`` hospitals each with their own token."""
    from dispatch.core.db import new_session
    from dispatch.demo_data import HOSPITAL
    from dispatch.hospitals.models import Hospital
    from dispatch.hospitals.service import add_courier_account, create_hospital

    with new_session() as session:
        for number in range(others):
            other = create_hospital(session, HOSPITAL.model_copy(update={"code": f"BENCH-{number}"}))
            add_courier_account(session, other, "gosend", gosend_settings(f"{TOKEN}-other-{number}"))
        hospital = session.get(Hospital, hospital_id)
        assert hospital is not None
        account = add_courier_account(session, hospital, "gosend", gosend_settings(TOKEN))
        session.commit()
        assert account.id is not None
        return account.id


def seed_booked_orders(hospital_id: int, account_id: int, first: int, count: int) -> None:
    """Orders ``first`` … ``first + count - 1`` booked at GoSend as ``GK-B<n>``: a bench seed, set-based SQL.

    Geocoded, with the distance GoSend quoted, as every order that reached a booking is: applying a
    driver's report estimates the arrival from them."""
    from dispatch.core.db import get_engine

    params = {"h": hospital_id, "a": account_id, "first": first, "last": first + count - 1}
    series = "FROM generate_series(CAST(:first AS int), CAST(:last AS int)) AS g"
    with get_engine().begin() as connection:
        for statement in (
            "INSERT INTO patients (id, hospital_id, source_id, name, address_text, created_at, updated_at) "
            f"SELECT g, :h, 'BENCH-' || g, 'Pasien ' || g, 'Jl. Bench ' || g, now(), now() {series}",
            "INSERT INTO prescriptions (id, hospital_id, patient_id, source, prescription_number, status, "
            "content_hash, poverty_declaration, coverage, created_at) "
            f"SELECT g, :h, g, 'fhir', 'RX-BENCH-' || g, 'active', md5(g::text), false, '{{}}', now() {series}",
            "INSERT INTO orders (id, hospital_id, prescription_id, patient_id, status, status_changed_at, "
            "released_at, flags, eligibility, restriction, created_at, current_attempt_id, dest_lat, dest_lon) "
            f"SELECT g, :h, g, g, 'booking', now(), now(), '[]', '{{}}', '{{}}', now(), g, {DEST} {series}",
            "INSERT INTO booking_attempts (id, order_id, hospital_id, courier, account_id, reference, status, "
            "provider_order_id, quoted_distance_km, created_at, updated_at) "
            f"SELECT g, g, :h, 'gosend', :a, 'BENCH-' || g, 'booked', 'GK-B' || g, 4.6, now(), now() {series}",
        ):
            connection.execute(sa.text(statement), params)
        for table in ("patients", "prescriptions", "orders", "booking_attempts"):
            connection.execute(
                sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), :last)"), params
            )


def event_bodies(first: int, count: int) -> list[str]:
    """Each order's statuses in sequence, orders interleaved: all first statuses, then all second ones…"""
    bodies = []
    for step, status in enumerate(STATUSES):
        for number in range(first, first + count):
            order_no = f"GK-B{number}"
            payload = {
                "@type": "booking_event",
                "entity_id": order_no,
                "type": status.upper(),
                "event_date": EVENT_TIME_MS + step * 60_000,
                "event_id": f"evt-{order_no}-{status}",
                "partner_id": "601",
                "booking_id": order_no,
                "status": status,
                "booking_status": status,
                "booking_type": "instant",
                "driver_name": "Budi Santoso",
                "driver_phone": "6281299990000",
                "vehicle_number": "P 4521 XY",
                "total_distance_in_kms": 4.6,
                "price": 16000.0,
                "live_tracking_url": f"https://gosend.test/track/{order_no}",
            }
            bodies.append(json.dumps(payload))
    return bodies


def run_wrk(
    url: str,
    bodies: list[str],
    seconds: float,
    connections: int,
    delay_ms: float | None = None,
    server_pid: int | None = None,
) -> dict[str, float]:
    """One wrk thread; returns the JSON line the Lua script's done() prints, plus the CPU seconds the server
    (``server_pid`` and its workers) used meanwhile as ``server_cpu``."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as events:
        events.write("\n".join(bodies) + "\n")
    env = {**os.environ, "BENCH_EVENTS": events.name, "BENCH_THREADS": "1", "BENCH_AUTH": f"Bearer {TOKEN}"}
    if delay_ms is not None:
        env["BENCH_DELAY_MS"] = str(delay_ms)
    cpu_before = cpu_seconds([server_pid]) if server_pid else 0.0
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "-s",
        str(WRK_SCRIPT),
        url,
    ]
    try:
        finished = subprocess.run(command, env=env, capture_output=True, text=True)
        if finished.returncode:
            raise SystemExit(f"wrk failed: {finished.stderr or finished.stdout}")
        output = finished.stdout
    finally:
        Path(events.name).unlink()
    result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    result["server_cpu"] = cpu_seconds([server_pid]) - cpu_before if server_pid else 0.0
    if result["overrun"]:
        raise SystemExit(f"wrk ran out of distinct events ({result['overrun']} repeated): raise --orders")
    return result


def rate(result: dict[str, float]) -> float:
    return result["requests"] / (result["duration_us"] / 1e6)


def cpu_ms(result: dict[str, float]) -> float:
    """Server CPU per answered event, in milliseconds."""
    return result["server_cpu"] / result["requests"] * 1000


def describe(result: dict[str, float]) -> str:
    return (
        f"{rate(result):,.0f} events/s, {cpu_ms(result):.2f} ms server CPU per event, p50 {result['p50_us'] / 1000:.1f} ms, p99 {result['p99_us'] / 1000:.1f} ms "
        f"({result['requests']:,} answered, {result['non_2xx']} non-2xx, {result['socket_errors']} socket errors)"
    )


def inbox_check(
    connection: sa.Connection, sent: list[str], answered: int, in_flight: int, warmup: set[str]
) -> str:
    """Every event answered is in the inbox, accepted, once; nothing else is there.

    wrk counts a request as sent when it builds it, and cannot say which requests were answered; when a
    run's time is up, each connection may hold one request not yet written or answered. So: no event twice,
    none that was not sent, at least as many accepted as were answered 2xx, and at most ``in_flight``
    (one per connection per run) of those sent missing.
    """
    rows = connection.execute(
        sa.text("SELECT dedupe_key, status FROM inbox_messages WHERE source = 'courier:gosend'")
    ).all()
    measured = [(key, status) for key, status in rows if key not in warmup]
    statuses: dict[str, int] = {}
    for _key, status in measured:
        statuses[status] = statuses.get(status, 0) + 1
    stored = [key for key, status in measured if status == "accepted"]
    missing = len(set(sent) - set(stored))
    problems = []
    if len(stored) != len(set(stored)):
        problems.append("an event accepted twice")
    if set(stored) - set(sent):
        problems.append("accepted events nobody sent")
    if len(stored) < answered:
        problems.append(f"{answered - len(stored)} answered events not in the inbox")
    if missing > in_flight:
        problems.append(f"{missing} sent events missing, more than the {in_flight} that can be in flight")
    verdict = "OK" if not problems else "FAILED: " + "; ".join(problems)
    return (
        f"inbox check {verdict}: {len(sent):,} events sent, {answered:,} answered 2xx, {len(stored):,} accepted "
        f"once each, {missing} never arrived (in flight when wrk stopped); inbox statuses {statuses}"
    )


def wait_applied(connection: sa.Connection, timeout: float, stall: float = 120) -> None:
    """Until the outbox is empty: the state changes, and the SMS tasks they queued in turn.

    Gives up early when no outbox row was processed for ``stall`` seconds: a task failing on every message
    (its traceback is in ``var/bench-logs/worker.log``) would otherwise hold the bench for the whole timeout.
    Progress is what was processed, not what is left: each state change applied queues its SMS.
    """
    query = sa.text(
        "SELECT count(*) FILTER (WHERE processed_at IS NULL), count(processed_at) FROM outbox_messages"
    )
    deadline = time.monotonic() + timeout
    processed, progressed = -1, time.monotonic()
    while time.monotonic() < deadline:
        left, done = connection.execute(query).one()
        if left == 0:
            return
        if done != processed:
            processed, progressed = done, time.monotonic()
        elif time.monotonic() - progressed > stall:
            raise SystemExit(
                f"{left} outbox rows queued and none processed for {stall:.0f} s: see worker.log"
            )
        time.sleep(0.5)
    raise SystemExit(f"state changes still queued after {timeout:.0f} s")


def apply_figures(connection: sa.Connection, first_inbox_id: int) -> tuple[int, float, float, float]:
    """Applied count, applies per second, lag from arrival to applied p50 and p99 (seconds)."""
    row = connection.execute(
        sa.text(
            "SELECT count(*), extract(epoch FROM max(o.processed_at) - min(o.processed_at)), "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM o.processed_at - i.received_at)), "
            "percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM o.processed_at - i.received_at)) "
            "FROM outbox_messages o JOIN inbox_messages i ON i.id = (o.payload->>'inbox_id')::int "
            "WHERE o.topic = 'webhooks.apply' AND i.id >= :first"
        ),
        {"first": first_inbox_id},
    ).one()
    count, span, p50, p99 = row
    return int(count), count / float(span or 1), float(p50), float(p99)


def print_ingestion(
    args: argparse.Namespace, results: list[tuple[dict[str, float], dict[str, float]]]
) -> None:
    """Printed before the workers start, so a failure in applying does not hide the ingestion figures."""
    print(
        f"Courier webhook ingestion (GoSend), uvicorn --workers {args.workers}, wrk 1 thread, "
        f"{args.connections} connections, {args.seconds:.0f} s per run, bare and real alternating; {HARDWARE_NOTE}"
    )
    for number, (bare, real) in enumerate(results, start=1):
        print(f"  round {number} bare endpoint (one INSERT): {describe(bare)}")
        print(f"  round {number} real path (archive, verify, dedupe, queue): {describe(real)}")
        print(f"  round {number} ratio real / bare: {rate(real) / rate(bare):.2f}")
    bare_median = statistics.median(rate(bare) for bare, _ in results)
    real_median = statistics.median(rate(real) for _, real in results)
    print(
        f"  median: bare {bare_median:,.0f} events/s, real {real_median:,.0f} events/s, "
        f"ratio {real_median / bare_median:.2f}"
    )
    bare_cpu = statistics.median(cpu_ms(bare) for bare, _ in results)
    real_cpu = statistics.median(cpu_ms(real) for _, real in results)
    print(
        f"  median server CPU per event: bare {bare_cpu:.2f} ms, real {real_cpu:.2f} ms; the real path costs "
        f"{real_cpu / bare_cpu:.2f}x the bare one (its rate ceiling on the same CPU: {bare_cpu / real_cpu:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=12000, help="booked orders per saturation run")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="bare and real runs, alternating")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers, and Celery's concurrency")
    parser.add_argument("--other-accounts", type=int, default=3)
    parser.add_argument("--live-orders", type=int, default=600)
    parser.add_argument("--live-rate", type=float, default=100, help="events/s offered with workers running")
    args = parser.parse_args()

    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/12")
    fresh_database()  # before anything from dispatch is imported: its settings are read once
    subprocess.run(["redis-cli", "-u", os.environ["REDIS_URL"], "flushdb"], check=True, capture_output=True)
    hospital_id, _api_key = seed_hospital()
    account_id = seed_accounts(hospital_id, args.other_accounts)
    warmup_orders = 1000
    seed_booked_orders(
        hospital_id, account_id, 1, warmup_orders + args.rounds * args.orders + args.live_orders
    )
    warmup = event_bodies(1, warmup_orders)
    rounds = [event_bodies(warmup_orders + 1 + r * args.orders, args.orders) for r in range(args.rounds)]
    live = event_bodies(warmup_orders + args.rounds * args.orders + 1, args.live_orders)

    from bare_app import BARE_TABLE

    from dispatch.core.db import get_engine

    BARE_TABLE.create(get_engine())
    env = {**os.environ, "GANCANG_LOG_LEVEL": "WARNING"}
    bare_port, port = free_port(), free_port()
    bare_url = f"http://127.0.0.1:{bare_port}/webhooks/couriers/gosend"
    url = f"http://127.0.0.1:{port}/webhooks/couriers/gosend"
    servers = {
        "bare": serve_command("bare_app:app", bare_port, args.workers, BENCH_DIR),
        "api": serve_command("dispatch.main:app", port, args.workers),
    }
    with processes(servers, env) as running:
        wait_for(f"http://127.0.0.1:{bare_port}/docs", running)
        wait_for(f"http://127.0.0.1:{port}/healthz", running)
        run_wrk(bare_url, warmup, 2, args.connections)
        run_wrk(url, warmup, 2, args.connections)
        # Alternating, so a noisy neighbour on the shared machine weighs on both alike.
        results = []
        for bodies in rounds:
            bare_pid, real_pid = running["bare"].pid, running["api"].pid
            results.append(
                (
                    run_wrk(bare_url, bodies, args.seconds, args.connections, server_pid=bare_pid),
                    run_wrk(url, bodies, args.seconds, args.connections, server_pid=real_pid),
                )
            )
        time.sleep(2)  # requests the server had read when wrk stopped still finish
        sent = [
            json.loads(body)["event_id"]
            for bodies, (_, real) in zip(rounds, results, strict=True)
            for body in bodies[: int(real["sent"])]
        ]
        answered = sum(int(real["requests"] - real["non_2xx"]) for _, real in results)
        warmup_keys = {json.loads(body)["event_id"] for body in warmup}
        with get_engine().connect() as connection:
            check = inbox_check(connection, sent, answered, args.connections * args.rounds, warmup_keys)
        print_ingestion(args, results)
        print(f"  {check}", flush=True)
        workers = {
            "worker": dispatch_command("worker", "--concurrency", str(args.workers)),
            "beat": dispatch_command("beat"),
        }
        with processes(workers, env):
            started = time.perf_counter()
            with get_engine().connect() as connection:
                wait_applied(connection, timeout=1800)
                drain = time.perf_counter() - started
                applied, applies_per_second, _, _ = apply_figures(connection, 0)
                states = dict(
                    connection.execute(
                        sa.text("SELECT status, count(*) FROM orders WHERE id <= :n GROUP BY status"),
                        {"n": warmup_orders + args.rounds * args.orders},
                    ).all()
                )
                first_live = connection.execute(
                    sa.text("SELECT max(id) + 1 FROM inbox_messages")
                ).scalar_one()
            delay_ms = LIVE_CONNECTIONS * 1000 / args.live_rate
            live_result = run_wrk(url, live, len(live) / args.live_rate, LIVE_CONNECTIONS, delay_ms)
            with get_engine().connect() as connection:
                wait_applied(connection, timeout=600)
                live_applied, _, lag_p50, lag_p99 = apply_figures(connection, first_live)

    print(
        f"Applying the queued state changes: Celery --concurrency {args.workers} + beat, started after ingestion"
    )
    print(
        f"  {applied:,} applied (with the SMS tasks they queued) in {drain:.1f} s from worker start; {applies_per_second:,.0f} applies/s "
        f"between the first and the last"
    )
    print(f"  orders after applying: {states}")
    print(
        f"End to end with the workers running: {live_result['requests']:,} events at about {args.live_rate:.0f}/s "
        f"offered ({rate(live_result):.0f}/s answered, HTTP p50 {live_result['p50_us'] / 1000:.1f} ms)"
    )
    print(
        f"  arrival to state change committed: p50 {lag_p50 * 1000:.0f} ms, p99 {lag_p99 * 1000:.0f} ms "
        f"({live_applied:,} applied; the outbox relay ticks every second)"
    )


if __name__ == "__main__":
    main()
