"""FHIR Bundles over HTTP into PostgreSQL: prescriptions per second through uvicorn with 2 workers.

Run: .venv/bin/python bench/intake_fhir_bench.py [--bundles 2000] [--per-bundle 1] [--concurrency 32]
``--per-bundle N`` puts N prescriptions (N patients) in each Bundle, as a SIMRS pushing its backlog does;
1 is one Bundle per visit. Prints the rate, latency percentiles, and how many orders PostgreSQL holds
afterwards (it must equal the number of prescriptions sent: nothing lost).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time

from _support import fhir_bundles, free_port, fresh_database, post_all, seed_hospital


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bundles", type=int, default=2000)
    parser.add_argument("--per-bundle", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    fresh_database()  # before anything from dispatch is imported: its settings are read once
    _hospital_id, api_key = seed_hospital()
    from dispatch.demo import wait_until_up

    port = free_port()
    env = {**os.environ, "GANCANG_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [sys.executable, "-m", "dispatch", "serve", "--port", str(port), "--workers", str(args.workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", {"api": server})
        bodies = fhir_bundles(args.bundles, args.per_bundle)
        warmup, measured = bodies[:100], bodies[100:]
        url = f"http://127.0.0.1:{port}/fhir/r4/Bundle"
        headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/fhir+json"}
        asyncio.run(post_all([(url, body) for body in warmup], headers, args.concurrency))
        started = time.perf_counter()
        latencies = asyncio.run(post_all([(url, body) for body in measured], headers, args.concurrency))
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=20)

    from sqlalchemy import text

    from dispatch.core.db import get_engine

    with get_engine().connect() as connection:
        orders = connection.execute(text("SELECT count(*) FROM orders")).scalar_one()
    latencies.sort()
    prescriptions = len(measured) * args.per_bundle
    print(
        f"FHIR Bundle intake over HTTP, {args.workers} uvicorn workers, concurrency {args.concurrency}, "
        f"{args.per_bundle} prescription(s) per Bundle"
    )
    print(f"  prescriptions: {prescriptions} in {elapsed:.2f} s = {prescriptions / elapsed:.0f} per second")
    print(f"  requests: {len(measured) / elapsed:.0f} per second")
    print(
        f"  latency p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms"
    )
    print(f"  orders in PostgreSQL: {orders} (expected {args.bundles * args.per_bundle})")


if __name__ == "__main__":
    main()
