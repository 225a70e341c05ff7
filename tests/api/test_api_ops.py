"""Operations endpoints: liveness, readiness (database and broker), Prometheus metrics."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families


def test_healthz(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reaches_the_database_and_the_redis_broker(client):
    from dispatch.core.celery_app import celery_app

    # The broker checked is the real Redis of the production shape, not the embedded fallback.
    assert celery_app.conf.broker_url.startswith("redis://")

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_readyz_reports_an_unreachable_broker(client, monkeypatch):
    from dispatch.core.celery_app import celery_app

    def no_broker(*_args, **_kwargs):
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(celery_app, "connection_for_write", no_broker)

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Broker unreachable"


def _order_gauges(text: str) -> dict[str, float]:
    [family] = [f for f in text_string_to_metric_families(text) if f.name == "gancang_orders"]
    assert family.type == "gauge"
    return {sample.labels["state"]: sample.value for sample in family.samples}


def test_metrics_count_orders_by_state(client, create_order, pharmacist_token, auth):
    assert _order_gauges(client.get("/metrics").text) == {}
    released = create_order("RX-M-1", 0)
    create_order("RX-M-2", 1)
    create_order("RX-M-3", 2)
    client.post(f"/api/v1/orders/{released}/release", headers=auth(pharmacist_token))

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert _order_gauges(response.text) == {"awaiting_release": 2.0, "released": 1.0}
    assert re.search(r'^gancang_orders\{state="awaiting_release"\} 2\.0$', response.text, re.MULTILINE)
    assert re.search(r"^gancang_outbox_unfinished 2\.0$", response.text, re.MULTILINE)
