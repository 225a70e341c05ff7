"""Shared set-up for the benchmarks: a fresh migrated PostgreSQL database with a seeded hospital, the
processes a bench runs (uvicorn, Celery, the courier sandbox), and the figures every bench prints.

Every bench runs on one machine whose cores are shared by PostgreSQL, Redis, the API, the workers and the load
generator, so each prints ratios measured within its own run rather than quoting figures from elsewhere.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

BENCH_DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/gancang_bench"
)
BENCH_DIR = Path(__file__).resolve().parent
LOG_DIR = BENCH_DIR.parent / "var" / "bench-logs"
HARDWARE_NOTE = (
    f"{os.cpu_count()} cores shared by PostgreSQL, Redis, the API, the workers and the load generator"
)


def fresh_database() -> None:
    """Point this process (and its children) at an empty, migrated bench database."""
    import psycopg
    from psycopg import sql

    base, _, name = BENCH_DATABASE_URL.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    os.environ["DATABASE_URL"] = BENCH_DATABASE_URL
    os.environ.setdefault("GANCANG_SECRET_KEY", "bench-secret-key-0123456789abcdef")
    os.environ.setdefault("GANCANG_ENV", "test")
    subprocess.run([sys.executable, "-m", "dispatch", "db", "upgrade"], check=True, capture_output=True)


def seed_hospital() -> tuple[int, str]:
    """Returns the hospital id and a plaintext API key."""
    from dispatch.core.db import new_session
    from dispatch.demo_data import HOSPITAL
    from dispatch.hospitals.service import create_api_key, create_hospital

    with new_session() as session:
        hospital = create_hospital(session, HOSPITAL)
        _key, api_key = create_api_key(session, hospital, "bench")
        session.commit()
        assert hospital.id is not None
        return hospital.id, api_key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def patient_phone(index: int) -> str:
    """The phone of the ``index``-th patient :func:`fhir_bundles` makes (what sandbox rules match on)."""
    return f"0812{index:08d}"


def fhir_bundles(count: int, per_bundle: int = 1, prefix: str = "B") -> list[bytes]:
    """Distinct FHIR Bundles of the demo patients: ``per_bundle`` prescriptions (and patients) each."""
    from dispatch.demo_data import PATIENTS, DemoPatient, demo_bundle

    out = []
    for bundle_number in range(count):
        entries = []
        for i in range(bundle_number * per_bundle, (bundle_number + 1) * per_bundle):
            template = PATIENTS[i % 4]
            patient = DemoPatient(
                **{**template.__dict__, "mrn": f"RM-{prefix}{i:07d}", "phone": patient_phone(i)}
            )
            entries.extend(demo_bundle(patient, f"RX{prefix}{i:08d}")["entry"])
        out.append(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}).encode())
    return out


async def post_all(
    requests: Sequence[tuple[str, bytes]], headers: Mapping[str, str], concurrency: int, expected: int = 201
) -> list[float]:
    """POST every (url, body), ``concurrency`` at a time; the latency of each, in seconds.

    A 429 is waited out as its Retry-After says and the request sent again, as a hospital's system must
    (intake is limited per API key): a day's worth of Bundles takes longer than the limit's window."""
    latencies: list[float] = []
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:

        async def worker() -> None:
            while not queue.empty():
                url, body = queue.get_nowait()
                started = time.perf_counter()
                response = await client.post(url, content=body, headers=dict(headers))
                if response.status_code == 429:
                    await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                    queue.put_nowait((url, body))
                    continue
                latencies.append(time.perf_counter() - started)
                if response.status_code != expected:
                    raise RuntimeError(f"{response.status_code}: {response.text[:300]}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    index = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def describe_ms(values: Sequence[float]) -> str:
    """p50 / p99 / max of durations in seconds, printed in milliseconds."""
    ordered = sorted(values)
    return (
        f"p50 {percentile(ordered, 0.5) * 1000:.1f} ms, p99 {percentile(ordered, 0.99) * 1000:.1f} ms, "
        f"max {ordered[-1] * 1000:.1f} ms (n={len(ordered)})"
    )


@contextmanager
def processes(
    commands: Mapping[str, Sequence[str]], env: Mapping[str, str]
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """Start each command with its output in ``var/bench-logs/<name>.log``; always stop them (TERM, then KILL)."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    started: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, command in commands.items():
            with (LOG_DIR / f"{name}.log").open("wb") as log:
                started[name] = subprocess.Popen(
                    list(command), env=dict(env), stdout=log, stderr=subprocess.STDOUT
                )
        yield started
    finally:
        for process in started.values():
            if process.poll() is None:
                process.terminate()
        for process in started.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def serve_command(app: str, port: int, workers: int, app_dir: Path | None = None) -> list[str]:
    """uvicorn as ``gancang serve`` runs it (httptools, uvloop, log level warning), for any ASGI app."""
    command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers), "--log-level", "warning"]
    return command + (["--app-dir", str(app_dir)] if app_dir else [])


def dispatch_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "dispatch", *args]


def wait_for(url: str, running: Mapping[str, subprocess.Popen[bytes]], timeout: float = 60.0) -> None:
    from dispatch.demo import wait_until_up

    wait_until_up(url, running, timeout)


def _process_table() -> dict[int, tuple[str, int]]:
    """Every process on this machine (Linux /proc): its name and its parent's pid."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                head, tail = (entry / "stat").read_text().rsplit(")", 1)
            except OSError:
                continue
            table[int(entry.name)] = (head.split("(", 1)[1], int(tail.split()[1]))
    return table


def process_tree(pids: Sequence[int]) -> list[int]:
    """These processes and all their descendants."""
    children: dict[int, list[int]] = {}
    for pid, (_name, parent) in _process_table().items():
        children.setdefault(parent, []).append(pid)
    found, todo = [], list(pids)
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


class StackCpu:
    """CPU seconds the whole stack uses from ``start``: each process of ``running`` with its children,
    PostgreSQL's server with its backends, and this load generator. Their sum over the cores is the least
    wall time the work could have taken on this machine, whatever the order it was done in."""

    def __init__(self, running: Mapping[str, subprocess.Popen[bytes]]) -> None:
        self.groups = {name: [process.pid] for name, process in running.items()}
        self.groups["postgresql"] = postgres_pids()
        self._start: dict[str, float] = {}
        self._started_at = 0.0

    def _now(self) -> dict[str, float]:
        seconds = {name: cpu_seconds(pids) for name, pids in self.groups.items()}
        seconds["load generator"] = sum(os.times()[:2])
        return seconds

    def start(self) -> None:
        self._start, self._started_at = self._now(), time.perf_counter()

    def describe(self) -> str:
        window = time.perf_counter() - self._started_at
        used = {name: seconds - self._start[name] for name, seconds in self._now().items()}
        total, cores = sum(used.values()), os.cpu_count() or 1
        parts = ", ".join(
            f"{name} {seconds:.1f}" for name, seconds in sorted(used.items(), key=lambda i: -i[1])
        )
        return (
            f"{total:.1f} CPU-seconds in {window:.1f} s ({parts}); on {cores} cores no order of work "
            f"takes less than {total / cores:.1f} s"
        )


def postgres_pids() -> list[int]:
    """The PostgreSQL server's main process(es) on this machine; ``process_tree`` adds their backends."""
    table = _process_table()
    return [
        pid
        for pid, (name, parent) in table.items()
        if name == "postgres" and table.get(parent, ("", 0))[0] != "postgres"
    ]


def rss_mb(pids: Sequence[int]) -> float:
    """Resident memory of these processes and all their descendants, in MB."""
    total_kb = 0
    for pid in process_tree(pids):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


def cpu_seconds(pids: Sequence[int]) -> float:
    """CPU time (user and system) these processes and their descendants have used so far.

    On a machine shared with noisy neighbours, CPU per request is steadier than requests per second.
    """
    ticks = 0
    for pid in process_tree(pids):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def seed_dispatch(hospital_id: int, sandbox_url: str, webhook_token: str) -> tuple[str, str]:
    """A GoSend account at the courier sandbox and a pharmacist to release orders; their login."""
    from dispatch.auth.models import Role, StaffUserCreate
    from dispatch.auth.service import create_user
    from dispatch.core.db import new_session
    from dispatch.hospitals.models import Hospital
    from dispatch.hospitals.service import add_courier_account

    username, password = "apoteker.bench", "bench-password-0123"
    gosend = {
        "client_id": "sandbox-client",
        "pass_key": "sandbox-pass-key",
        "base_url": sandbox_url,
        "webhook_token": webhook_token,
    }
    with new_session() as session:
        hospital = session.get(Hospital, hospital_id)
        assert hospital is not None
        add_courier_account(session, hospital, "gosend", gosend, priority=10)
        create_user(
            session,
            hospital,
            StaffUserCreate(
                username=username, full_name="Apoteker Bench", role=Role.PHARMACIST, password=password
            ),
        )
        session.commit()
    return username, password


@dataclass(frozen=True)
class BenchStack:
    """A fresh database and Redis, a hospital with a GoSend account at the sandbox, and where each will run."""

    hospital_id: int
    api_key: str
    port: int
    sandbox_port: int
    webhook_token: str
    username: str
    password: str

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    def commands(self, step_delay: float) -> dict[str, list[str]]:
        return stack_commands(self.port, self.sandbox_port, self.webhook_token, step_delay)


def prepare_stack() -> BenchStack:
    """Everything the whole-loop benches set up before starting their processes. Call it before anything from
    ``dispatch`` is imported: the service's settings are read once."""
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/12")
    fresh_database()
    subprocess.run(["redis-cli", "-u", os.environ["REDIS_URL"], "flushdb"], check=True, capture_output=True)
    hospital_id, api_key = seed_hospital()
    port, sandbox_port = free_port(), free_port()
    webhook_token = secrets.token_urlsafe(16)
    username, password = seed_dispatch(hospital_id, f"http://127.0.0.1:{sandbox_port}", webhook_token)
    return BenchStack(hospital_id, api_key, port, sandbox_port, webhook_token, username, password)


def stack_commands(
    port: int, sandbox_port: int, webhook_token: str, step_delay: float, workers: int = 2
) -> dict[str, list[str]]:
    """The whole loop as production runs it: the API (uvicorn), Celery workers, one beat, and the courier
    sandbox, which sends its GoSend status webhooks back to the API."""
    return {
        "sandbox": dispatch_command(
            "sandbox",
            "--port",
            str(sandbox_port),
            "--step-delay",
            str(step_delay),
            "--webhook-url",
            f"http://127.0.0.1:{port}/webhooks/couriers/gosend",
            "--webhook-token",
            webhook_token,
        ),
        "api": dispatch_command("serve", "--port", str(port), "--workers", str(workers)),
        "worker": dispatch_command("worker", "--concurrency", str(workers)),
        "beat": dispatch_command("beat"),
    }


def login(api: httpx.Client, username: str, password: str) -> str:
    response = api.post("/api/v1/auth/login", json={"username": username, "password": password})
    return str(response.raise_for_status().json()["access_token"])
