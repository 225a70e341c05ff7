"""Helpers for the observability tests: reading /metrics, GoSend answers, running outbox handlers in-process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import col, select

from dispatch.core.db import new_session
from dispatch.outbox.models import OutboxMessage

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "reference" / "examples" / "couriers"

GOSEND_BASE_URL = "https://gosend-observed.test"
WEBHOOK_TOKEN = "observed-hook-token"
BOOKING_PATH = "/gokilat/v10/booking"
PRICE_PATH = "/gokilat/v10/calculate/price"
LOOKUP_PATH = "/gokilat/v10/booking/storeOrderId/"
ORDER_NO = "GK-11-170563"


def gosend_settings() -> dict[str, Any]:
    return {
        "client_id": "rsud-blambangan",
        "pass_key": "pass-key-primary",
        "base_url": GOSEND_BASE_URL,
        "webhook_token": WEBHOOK_TOKEN,
    }


def price_estimate() -> httpx.Response:
    body = {
        "Instant": {
            "shipment_method": "Instant",
            "serviceable": True,
            "active": True,
            "distance": 4.6,
            "price": {"total_price": 16_000},
        }
    }
    return httpx.Response(200, json=body)


def booking_created(order_no: str = ORDER_NO) -> httpx.Response:
    body = json.loads((EXAMPLES / "gosend_booking_response_partial.json").read_text(encoding="utf-8"))
    body.update({"orderNo": order_no, "storeOrderId": "AWBfromPartner", "errors": []})
    return httpx.Response(201, json=body)


def gosend_event(status: str, *, event_id: str, event_date: int = 1_764_400_000_000) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(
        (EXAMPLES / "gosend_webhook_booking_event_no_driver.json").read_text(encoding="utf-8")
    )
    payload.update(
        {
            "entity_id": ORDER_NO,
            "booking_id": ORDER_NO,
            "status": status,
            "booking_status": status,
            "type": status.upper(),
            "event_date": event_date,
            "event_id": event_id,
        }
    )
    return payload


def pending_rows(topic: str) -> list[OutboxMessage]:
    with new_session() as session:
        query = select(OutboxMessage).where(
            OutboxMessage.topic == topic, col(OutboxMessage.processed_at).is_(None)
        )
        return list(session.exec(query.order_by(col(OutboxMessage.id))).all())


def only_row(topic: str, order_id: int) -> int:
    [row] = [row for row in pending_rows(topic) if row.payload.get("order_id") == order_id]
    assert row.id is not None
    return row.id


def run_outbox(outbox_id: int) -> None:
    """What a worker does with the message, in-process; ``Task.apply`` runs any retry at once, eagerly."""
    from dispatch.core.celery_app import celery_app

    with new_session() as session:
        message = session.get(OutboxMessage, outbox_id)
        assert message is not None
        topic = message.topic
    result = celery_app.tasks[topic].apply(args=[outbox_id])
    assert result.successful(), f"{result.state}: {result.result!r}"


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient) -> Samples:
    """Every sample of /metrics, keyed by sample name and sorted labels."""
    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 when the series does not exist yet (a counter never incremented)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def series(samples: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: sample for (sample_name, labels), sample in samples.items() if sample_name == name}
