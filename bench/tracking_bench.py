"""The patient's tracking page, GET /t/{token}, under 200 concurrent readers: server time, client latency,
requests per second, and the bytes each page state sends.

Run: .venv/bin/python bench/tracking_bench.py [--orders 500] [--connections 200] [--duration 20]
Needs PostgreSQL (BENCH_DATABASE_URL, default .../gancang_bench_tracking; dropped and migrated first) and wrk
(Debian's ``apt-get install wrk``).

1. Seeds one hospital and ``--orders`` orders through the real services, in process and without workers:
   FHIR intake, release by a pharmacist (which issues the tracking token), then the state machine's
   transitions; a quarter each stays ``released``, waits for its address (``needs_address``, the page with
   the desa list), has a courier assigned (a booked attempt with a driver and an ETA, PIN shown) or is
   ``delivered`` (asking for the receipt). The outbox rows those transitions queue are left unsent.
2. Starts the real app under uvicorn (``--workers``, default 2, as ``gancang serve``) through this module
   (``tracking_bench:app``), which only wraps it in an ASGI timer: each tracking request's time from the
   server receiving it to the last body byte handed to uvicorn. Each worker writes its timings on shutdown.
3. wrk, ``--connections`` connections on 2 threads, each request a random link (``tracking_wrk.lua``):
   a 3 s warm-up, then ``--duration`` seconds measured. Server p50/p99 over the measured window only.

Server time starts when the app is called: a request waiting in the kernel (a connection not yet accepted,
bytes not yet read) is not in it, but is in wrk's client latency. With a closed loop of ``--connections``
readers, each reader's wait averages connections / requests per second (Little's law), whatever the app does.

Each worker parses the gazetteer as it loads the app, and the bench waits for all of them: the first page
with a desa list in a process would otherwise parse it (seconds of CPU, in the threadpool) inside the
measured window, a cost a server pays once after it starts, not per reader.

Rate limits: tracking links are limited per token (60/min) and per client address (300/min), constants in
``dispatch.core.ratelimit`` with no setting; every request here comes from 127.0.0.1, so the wrapper raises
both limits to 10^9 inside the uvicorn workers. The limiter still counts every request (in process memory
without ``REDIS_URL``, in Redis with it), so its cost stays in the figures.
"""

from __future__ import annotations

import argparse
import atexit
import gzip
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/gancang_bench_tracking")

from _support import (
    BENCH_DIR,
    HARDWARE_NOTE,
    cpu_seconds,
    describe_ms,
    free_port,
    fresh_database,
    percentile,
    processes,
    seed_dispatch,
    seed_hospital,
    serve_command,
    wait_for,
)

STATES = ("released", "needs_address", "courier_assigned", "delivered")
TIMINGS_ENV = "BENCH_TIMINGS_DIR"
READY_PREFIX = "ready-"  # a worker's mark in the timings folder: app imported, gazetteer parsed


# --- inside the uvicorn workers -------------------------------------------------------------------------


class TrackingTimer:
    """ASGI wrapper: records (started at, seconds, path) for every GET /t/... and writes them on shutdown."""

    def __init__(self, inner: Any, out_dir: str) -> None:
        self.inner = inner
        self.out = Path(out_dir) / f"timings-{os.getpid()}.json"
        self.records: list[tuple[float, float, str]] = []
        atexit.register(self.dump)

    def dump(self) -> None:
        if self.records:
            self.out.write_text(json.dumps(self.records))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":

            async def receive_lifespan() -> Any:
                message = await receive()
                if message["type"] == "lifespan.shutdown":
                    self.dump()
                return message

            await self.inner(scope, receive_lifespan, send)
            return
        if scope["type"] != "http" or not scope["path"].startswith("/t/"):
            await self.inner(scope, receive, send)
            return
        started, started_at = time.perf_counter(), time.time()

        async def timed_send(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self.records.append((started_at, time.perf_counter() - started, scope["path"]))

        await self.inner(scope, receive, timed_send)


def __getattr__(name: str) -> Any:
    """``tracking_bench:app`` for uvicorn: the real app, timed, with the tracking limits out of the way."""
    if name != "app":
        raise AttributeError(name)
    from dispatch.core import ratelimit

    ratelimit.TRACKING_PER_TOKEN = ratelimit.Limit("tracking-token", 10**9, 60)  # type: ignore[misc]
    ratelimit.TRACKING_PER_CLIENT = ratelimit.Limit("tracking-client", 10**9, 60)  # type: ignore[misc]
    from dispatch.geocoding.gazetteer import load_gazetteer
    from dispatch.main import app as real_app

    load_gazetteer()
    wrapped = TrackingTimer(real_app, os.environ[TIMINGS_ENV])
    (Path(os.environ[TIMINGS_ENV]) / f"{READY_PREFIX}{os.getpid()}").touch()
    globals()["app"] = wrapped
    return wrapped


# --- the bench ------------------------------------------------------------------------------------------


def seed_orders(hospital_id: int, api_key: str, count: int) -> dict[str, list[str]]:
    """``count`` orders spread over STATES; the tracking paths of each state."""
    from _support import fhir_bundles
    from sqlmodel import select

    from dispatch.auth.models import StaffUser
    from dispatch.core.clock import utcnow
    from dispatch.core.db import new_session
    from dispatch.core.settings import settings
    from dispatch.dispatching.models import AttemptStatus, BookingAttempt
    from dispatch.hospitals.models import CourierAccount
    from dispatch.intake import service as intake_service
    from dispatch.notify import repository as notify_repository
    from dispatch.notify.tokens import derive_token
    from dispatch.orders import service as orders_service
    from dispatch.orders.models import Order
    from dispatch.orders.state_machine import OrderStatus as S
    from hospital_adapter.fhir.parser import parse_bundle

    username, _password = seed_dispatch(hospital_id, "http://127.0.0.1:9", "bench-webhook-token")
    headers = {"content-type": "application/fhir+json"}
    order_ids: list[int] = []
    for body in fhir_bundles(count // 50 + (count % 50 > 0), per_bundle=50, prefix="T"):
        outcomes = intake_service.intake("fhir", parse_bundle, body, headers, api_key)
        order_ids.extend(outcome.order_id for outcome in outcomes)
    order_ids = order_ids[:count]

    paths: dict[str, list[str]] = {state: [] for state in STATES}
    with new_session() as session:
        user = session.exec(select(StaffUser).where(StaffUser.username == username)).one()
        account = session.exec(select(CourierAccount).where(CourierAccount.hospital_id == hospital_id)).one()
        for index, order_id in enumerate(order_ids):
            order = session.get(Order, order_id)
            assert order is not None and order.id is not None and account.id is not None
            if order.status == S.RECEIVED:
                orders_service.transition(session, order, S.AWAITING_RELEASE)
            orders_service.release(session, order, user)
            state = STATES[index % len(STATES)]
            if state == "needs_address":
                orders_service.transition(session, order, S.NEEDS_ADDRESS, detail="Address not found")
            elif state in ("courier_assigned", "delivered"):
                orders_service.transition(session, order, S.READY)
                orders_service.transition(session, order, S.BOOKING)
                attempt = BookingAttempt(
                    order_id=order.id,
                    hospital_id=hospital_id,
                    courier="gosend",
                    account_id=account.id,
                    reference=f"bench-track-{order.id}",
                    status=AttemptStatus.BOOKED,
                    provider_order_id=f"GK-{order.id:06d}",
                    driver_name="Budi Santoso",
                    driver_phone="081234567890",
                    vehicle_plate="P 1234 XY",
                    price_idr=18000,
                    eta_at=utcnow() + timedelta(minutes=40),  # shown while courier_assigned
                )
                session.add(attempt)
                session.flush()
                order.current_attempt_id = attempt.id
                orders_service.transition(session, order, S.COURIER_ASSIGNED, detail="Driver assigned")
                if state == "delivered":
                    orders_service.transition(session, order, S.PICKED_UP, detail="Picked up")
                    attempt.status = AttemptStatus.DELIVERED
                    orders_service.transition(session, order, S.DELIVERED, detail="Delivered")
            token = notify_repository.get_token_for_order(session, order.id)
            assert token is not None and order.status == state, (order.status, state)
            paths[state].append(f"/t/{derive_token(settings.secret_key, token.salt)}")
        session.commit()
    return paths


def wait_for_workers(timings_dir: Path, workers: int, timeout: float = 120.0) -> None:
    """Until every worker has parsed the gazetteer: one still parsing would take CPU from the measured run."""
    deadline = time.monotonic() + timeout
    while len(list(timings_dir.glob(f"{READY_PREFIX}*"))) < workers:
        if time.monotonic() > deadline:
            sys.exit(f"the {workers} uvicorn workers were not ready within {timeout:.0f} s")
        time.sleep(0.2)


def run_wrk(base: str, paths_file: Path, connections: int, seconds: int) -> dict[str, Any]:
    lua = BENCH_DIR / "tracking_wrk.lua"
    command = [
        "wrk",
        "-t",
        str(min(2, connections)),
        "-c",
        str(connections),
        "-d",
        f"{seconds}s",
        "--timeout",
        "10s",
    ]
    command += ["-s", str(lua), base]
    env = {**os.environ, "BENCH_PATHS": str(paths_file)}
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def page_sizes(base: str, paths: dict[str, list[str]]) -> list[str]:
    import httpx

    lines = []
    with httpx.Client(base_url=base, timeout=30) as client:
        variants = [(state, paths[state][0], "") for state in STATES]
        variants.append(("needs_address, every desa", paths["needs_address"][0], "?desa=all"))
        variants.append(("courier_assigned, English", paths["courier_assigned"][0], "?lang=en"))
        for label, path, query in variants:
            plain = client.get(path + query, headers={"Accept-Encoding": "identity"})
            assert plain.status_code == 200, (label, plain.status_code)
            zipped = client.get(path + query, headers={"Accept-Encoding": "gzip"})
            encoding = zipped.headers.get("content-encoding", "none")
            wire = (
                len(zipped.content)
                if encoding == "identity"
                else int(zipped.headers.get("content-length", 0))
            )
            lines.append(
                f"  {label:28} {len(plain.content):6} bytes HTML; served with Accept-Encoding gzip: "
                f"{wire or len(zipped.content)} bytes (content-encoding {encoding}); "
                f"gzip -6 would be {len(gzip.compress(plain.content))} bytes"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")

    fresh_database()  # before anything from dispatch is imported: its settings are read once
    hospital_id, api_key = seed_hospital()
    started = time.perf_counter()
    paths = seed_orders(hospital_id, api_key, args.orders)
    seeded = time.perf_counter() - started

    timings_dir = Path(tempfile.mkdtemp(prefix="tracking-bench-"))
    paths_file = timings_dir / "paths.txt"
    every = [path for state in STATES for path in paths[state]]
    random.Random(1).shuffle(every)
    paths_file.write_text("\n".join(every) + "\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "GANCANG_LOG_LEVEL": "WARNING", TIMINGS_ENV: str(timings_dir)}
    command = serve_command("tracking_bench:app", port, args.workers, app_dir=BENCH_DIR)
    with processes({"tracking-api": command}, env) as running:
        wait_for(f"{base}/healthz", running)
        wait_for_workers(timings_dir, args.workers)
        sizes = page_sizes(base, paths)
        run_wrk(base, paths_file, args.connections, 3)  # warm-up: connections, pools, template caches
        pids = [process.pid for process in running.values()]
        cpu_before, window_start = cpu_seconds(pids), time.time()
        result = run_wrk(base, paths_file, args.connections, args.duration)
        window_end, cpu_used = time.time(), cpu_seconds(pids) - cpu_before
    state_of = {path: state for state in STATES for path in paths[state]}
    by_state: dict[str, list[float]] = {state: [] for state in STATES}
    for timings in timings_dir.glob("timings-*.json"):
        for at, seconds, path in json.loads(timings.read_text()):
            if window_start <= at <= window_end:  # started in the measured run
                by_state[state_of[path]].append(seconds)
    server = sorted(seconds for values in by_state.values() for seconds in values)
    shutil.rmtree(timings_dir, ignore_errors=True)

    seconds = result["duration_us"] / 1e6
    print(
        f"Tracking page GET /t/{{token}}: {args.orders} orders ({', '.join(STATES)}; a quarter each, seeded "
        f"in {seeded:.1f} s), {args.workers} uvicorn workers, wrk 2 threads x {args.connections} connections "
        f"for {args.duration} s after a 3 s warm-up"
    )
    print(f"  {HARDWARE_NOTE}")
    print(
        f"  limiter: {'Redis' if os.environ.get('REDIS_URL') else 'in-process memory'}; limits raised to 10^9"
    )
    print(
        f"  requests: {result['requests']} in {seconds:.1f} s = {result['requests'] / seconds:.0f} per second; "
        f"non-2xx {result['non_2xx']}, socket errors {result['socket_errors']}"
    )
    print(
        f"  API CPU (uvicorn workers, user+system): {cpu_used / max(1, result['requests']) * 1000:.1f} ms per request"
    )
    if server:
        print(f"  server time (ASGI, request in to last byte out): {describe_ms(server)}")
    print(
        f"  client latency (wrk): p50 {result['p50_us'] / 1000:.1f} ms, p99 {result['p99_us'] / 1000:.1f} ms, "
        f"max {result['max_us'] / 1000:.1f} ms"
    )
    for state in STATES:
        if by_state[state]:
            print(f"    {state:18} {describe_ms(by_state[state])}")
    if server:
        print(f"  server p99 {percentile(server, 0.99) * 1000:.1f} ms against the goal of 50 ms")
    print("  transfer size per page state (no images on the page; goal under 30 KB = 30720 bytes):")
    for line in sizes:
        print(line)


if __name__ == "__main__":
    main()
