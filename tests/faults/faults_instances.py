"""Our own Redis and PostgreSQL for the fault tests, on free ports under a temporary directory.

The fault tests kill and restart them; the shared services other engineers' tests use are never touched.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait(port: int, up: bool, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while _answers(port) != up:
        if time.monotonic() > deadline:
            raise RuntimeError(f"port {port} did not go {'up' if up else 'down'} within {timeout:.0f} s")
        time.sleep(0.05)


class OwnRedis:
    """A redis-server without persistence: a restart loses every queued message, as a crashed broker does."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.root = root
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        with (self.root / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--maxmemory-policy", "noeviction", "--dir", str(self.root)],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        _wait(self.port, up=True)

    def kill(self) -> None:
        """SIGKILL: what is in memory is gone."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        _wait(self.port, up=False)

    def restart(self, down_seconds: float) -> None:
        self.kill()
        time.sleep(down_seconds)
        self.start()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class OwnPostgres:
    """A throw-away cluster (initdb + pg_ctl), trust authentication on loopback only."""

    def __init__(self, root: Path) -> None:
        if PG_BIN is None:
            raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql")
        self.port = free_port()
        self.data = root / "pgdata"
        self.socket_dir = root / "pgsocket"
        self.log = self.socket_dir / "postgres.log"  # written by the postgres user

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/gancang_faults"

    def _run(self, *command: str) -> None:
        """PostgreSQL refuses to run as root: as root, run its tools as the postgres user."""
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True)

    def init(self) -> None:
        for path in (self.data, self.socket_dir):
            path.mkdir(mode=0o700)
            if os.geteuid() == 0:
                shutil.chown(path, "postgres", "postgres")
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()
        self._run(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                  "gancang_faults")  # fmt: skip

    def _ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, *args)

    def start(self) -> None:
        self._ctl("start", "-w")
        _wait(self.port, up=True)

    def stop(self, mode: str = "fast") -> None:
        self._ctl("stop", "-w", "-m", mode)
        _wait(self.port, up=False)

    def restart(self, down_seconds: float) -> None:
        """Immediate stop: every connection cut mid-transaction, as a crash or failover does."""
        self.stop("immediate")
        time.sleep(down_seconds)
        self.start()


def temp_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="gancang-faults-"))
    root.chmod(0o755)
    return root
