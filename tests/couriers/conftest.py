"""Shared courier test fixtures: recorded provider payloads, a GoSend configuration, and live sandbox servers."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from pydantic import SecretStr

from couriers.base import DeliveryRequest, Place
from couriers.gosend.settings import GoSendSettings
from couriers.sandbox import SandboxConfig, create_app

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT.parent / "shared" / "reference" / "examples" / "couriers"


@pytest.fixture
def load_example() -> Callable[[str], Any]:
    def load(name: str) -> Any:
        return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))

    return load


@pytest.fixture
def gosend_settings() -> GoSendSettings:
    return GoSendSettings(
        client_id="gancang-test",
        pass_key=SecretStr("pass-key-secret"),
        webhook_token=SecretStr("hook-secret"),
    )


@pytest.fixture
def delivery_request() -> DeliveryRequest:
    """The recorded GoSend booking example, expressed as our request (local phone formats on purpose)."""
    return DeliveryRequest(
        reference="AWB-123456",
        origin=Place(
            name="Pak Andri",
            note="Tunggu di lobby",
            contact_name="The Kingdom Shop",
            phone="0852-0131-1802",
            address="Alamat lengkap asal",
            lat=-6.1263348,
            lon=106.7890888,
        ),
        destination=Place(
            name="Pak Nando",
            note="Tolong hati-hati",
            contact_name="Toko Jaya Agung",
            phone="+62 812 5456 4161",
            address="Alamat lengkap tujuan",
            lat=-6.284508001748839,
            lon=106.8295789,
        ),
        item_description="Sepatu, Sendal, Kaos Kaki",
        item_value_idr=500_000,
    )


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


class WebhookReceiver:
    """A tiny threaded HTTP server standing in for our webhook endpoint; it can refuse the first N calls
    (with ``fail_status`` and, when given, a ``Retry-After`` header); ``arrivals`` notes when each call came."""

    def __init__(
        self,
        fail_first: int = 0,
        path: str = "/webhooks/gosend",
        fail_status: int = 500,
        retry_after: str | None = None,
    ) -> None:
        self.received: list[Received] = []
        self.arrivals: list[float] = []
        self._fail_first = fail_first
        self._condition = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._condition:
                    receiver.arrivals.append(time.monotonic())
                    refuse = receiver._fail_first > 0
                    if refuse:
                        receiver._fail_first -= 1
                    else:
                        receiver.received.append(Received(dict(self.headers.items()), body))
                        receiver._condition.notify_all()
                self.send_response(fail_status if refuse else 200)
                if refuse and retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"message":"ok"}')

            def log_message(self, format: str, *args: Any) -> None:
                """Keep test output clean."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self.path = path
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        with self._condition:
            if not self._condition.wait_for(lambda: len(self.received) >= count, timeout=timeout):
                raise AssertionError(f"expected {count} webhooks, got {len(self.received)}")
            return list(self.received)


@pytest.fixture
def make_receiver() -> Iterator[Callable[..., WebhookReceiver]]:
    """Start webhook receivers (optionally refusing their first calls); all are stopped when the test ends."""
    receivers: list[WebhookReceiver] = []

    def make(fail_first: int = 0, path: str = "/webhooks/gosend", **refusal: Any) -> WebhookReceiver:
        receiver = WebhookReceiver(fail_first, path, **refusal)
        receiver.start()
        receivers.append(receiver)
        return receiver

    yield make
    for receiver in receivers:
        receiver.stop()


@contextmanager
def running_sandbox(config: SandboxConfig) -> Iterator[str]:
    """Serve a sandbox app with real uvicorn in a thread on a free port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config), log_level="warning", ws="none", lifespan="on", timeout_graceful_shutdown=2
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("sandbox did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


@pytest.fixture
def sandbox_factory() -> Iterator[Callable[[SandboxConfig], str]]:
    """Start any number of sandboxes inside a test; all are stopped when it ends."""
    with ExitStack() as stack:
        yield lambda config: stack.enter_context(running_sandbox(config))
