"""FHIR Bundles over HTTP into PostgreSQL: prescriptions per second through uvicorn with 2 workers.

Run: .venv/bin/python bench/intake_fhir_bench.py [--bundles 2000] [--per-bundle 1] [--concurrency 32]
``--per-bundle N`` puts N prescriptions (N patients) in each Bundle, as a SIMRS pushing its backlog does;
1 is one Bundle per visit. Prints the rate, latency percentiles, and how many orders PostgreSQL holds
afterwards (it must equal the number of prescriptions sent: nothing lost).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time

import httpx
from _support import fresh_database, seed_hospital


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bundles(count: int, per_bundle: int = 1) -> list[bytes]:
    from dispatch.demo_data import PATIENTS, DemoPatient, demo_bundle

    out = []
    for bundle_number in range(count):
        entries = []
        for i in range(bundle_number * per_bundle, (bundle_number + 1) * per_bundle):
            template = PATIENTS[i % 4]
            patient = DemoPatient(**{**template.__dict__, "mrn": f"RM-B{i:07d}", "phone": f"0812{i:08d}"})
            entries.extend(demo_bundle(patient, f"RXB{i:08d}")["entry"])
        out.append(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}).encode())
    return out


async def post_all(url: str, api_key: str, bodies: list[bytes], concurrency: int) -> list[float]:
    latencies: list[float] = []
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/fhir+json"}
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                response = await client.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 201:
                    raise RuntimeError(f"{response.status_code}: {response.text[:300]}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


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
        bodies = bundles(args.bundles, args.per_bundle)
        warmup, measured = bodies[:100], bodies[100:]
        asyncio.run(post_all(f"http://127.0.0.1:{port}/fhir/r4/Bundle", api_key, warmup, args.concurrency))
        started = time.perf_counter()
        latencies = asyncio.run(
            post_all(f"http://127.0.0.1:{port}/fhir/r4/Bundle", api_key, measured, args.concurrency)
        )
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
