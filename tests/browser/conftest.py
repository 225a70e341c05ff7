"""Browser tests: Debian's chromium driven by Playwright (no browser download), screenshots kept.

Every test asks for the ``chromium`` fixture, which skips it when Debian's chromium is absent. Screenshots go to ``var/test-artifacts/browser/`` under the repository (``var/`` is git-ignored and CI can
upload the folder); each test prints the path of what it wrote.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "browser"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def free_port():  # type: ignore[no-untyped-def]
    """A callable giving a port nothing listens on, for the processes a test starts."""
    return _free_port


@pytest.fixture
def chromium() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        pytest.skip("Debian chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def shot(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """``shot(page, "name")`` saves a full-page screenshot named after the test and prints where."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(page: Any, name: str) -> Path:
        path = ARTIFACTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path

    return take


@pytest.fixture
def live_server(client) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The test's app over real HTTP on a free port, for a real browser; stopped after the test."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(client.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def fetch():  # type: ignore[no-untyped-def]
    """Rows of a model matching the clauses, read in a fresh session (never a cached object)."""
    from sqlmodel import select

    from dispatch.core.db import new_session

    def rows(model: Any, *where: Any) -> list[Any]:
        with new_session() as db_session:
            return list(db_session.exec(select(model).where(*where).order_by(model.id)).all())

    return rows


@pytest.fixture
def create_order(client, api_key, fetch):  # type: ignore[no-untyped-def]
    """Posts a demo prescription as the hospital's SIMRS would and returns the new order's id."""
    from dispatch.demo_data import PATIENTS, demo_bundle
    from dispatch.orders.models import Order, Prescription

    def create(rx_number: str, patient_index: int = 0) -> int:
        headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/fhir+json"}
        response = client.post(
            "/fhir/r4/Bundle", json=demo_bundle(PATIENTS[patient_index], rx_number), headers=headers
        )
        assert response.status_code == 201, response.text
        [prescription] = fetch(Prescription, Prescription.prescription_number == rx_number)
        [order] = fetch(Order, Order.prescription_id == prescription.id)
        return int(order.id)

    return create
