"""/metrics after real flows: FHIR intake, release, booking against a respx-mocked GoSend, a courier webhook
applied, SMS outcomes. Event counters are process-wide, so each test compares a scrape before and after."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
import respx
from observability_support import (
    BOOKING_PATH,
    GOSEND_BASE_URL,
    LOOKUP_PATH,
    PRICE_PATH,
    WEBHOOK_TOKEN,
    booking_created,
    gosend_event,
    only_row,
    pending_rows,
    price_estimate,
    run_outbox,
    scrape,
    series,
    value,
)
from sqlmodel import select

from dispatch.core.clock import utcnow
from dispatch.core.db import new_session
from dispatch.core.settings import settings
from dispatch.demo_data import PATIENTS, demo_bundle
from dispatch.inbox.models import InboxMessage, InboxStatus
from dispatch.notify.gateways import SendOutcomeUnknown, SendResult
from dispatch.notify.service import opt_out
from dispatch.orders.models import Order


def test_orders_are_counted_by_hospital_and_state(client, make_order):
    assert series(scrape(client), "gancang_orders") == {}
    make_order()
    make_order(release=False)
    make_order(release=False)

    orders = series(scrape(client), "gancang_orders")

    assert orders == {
        (("hospital", "RSUDBLB"), ("state", "awaiting_release")): 2.0,
        (("hospital", "RSUDBLB"), ("state", "released")): 1.0,
    }


def test_the_outbox_backlog_is_counted_by_task(client, make_order):
    make_order()  # released: a booking to make and a "released" SMS to send
    make_order()

    samples = scrape(client)

    assert series(samples, "gancang_outbox_unprocessed") == {
        (("topic", "dispatch.book"),): 2.0,
        (("topic", "notify.sms"),): 2.0,
    }


def test_the_redis_broker_queue_is_measured(client):
    import redis

    from dispatch.core.celery_app import celery_app
    from dispatch.core.settings import settings

    assert settings.redis_url is not None
    queue = celery_app.conf.task_default_queue
    connection = redis.Redis.from_url(settings.redis_url)
    connection.delete(queue)
    connection.rpush(queue, b"one", b"two", b"three")
    try:
        samples = scrape(client)
    finally:
        connection.delete(queue)

    assert value(samples, "gancang_broker_queue_length", queue=queue) == 3.0
    assert value(samples, "gancang_metrics_source_up", source="broker") == 1.0
    assert value(samples, "gancang_metrics_source_up", source="database") == 1.0


def test_an_unreachable_broker_is_reported_down_without_failing_the_scrape(client, monkeypatch):
    from dispatch.core.settings import settings

    monkeypatch.setattr(settings, "redis_url", "redis://127.0.0.1:1/0")

    samples = scrape(client)

    assert value(samples, "gancang_metrics_source_up", source="broker") == 0.0
    assert value(samples, "gancang_metrics_source_up", source="database") == 1.0
    assert series(samples, "gancang_broker_queue_length") == {}


def test_intake_counts_prescriptions_by_source_and_outcome_and_refusals(client, api_key, make_order):
    before = scrape(client)
    make_order(release=False)
    bundle = json.dumps(demo_bundle(PATIENTS[0], "RX-OBS-0001"))
    fhir = {"Content-Type": "application/fhir+json"}
    repeat = client.post(
        "/fhir/r4/Bundle", content=bundle, headers={**fhir, "Authorization": f"Bearer {api_key}"}
    )
    unauthorized = client.post(
        "/fhir/r4/Bundle", content=bundle, headers={**fhir, "Authorization": "Bearer x"}
    )
    invalid = client.post(
        "/fhir/r4/Bundle",
        content=json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": {}}]}),
        headers={**fhir, "Authorization": f"Bearer {api_key}"},
    )
    after = scrape(client)

    assert (repeat.status_code, unauthorized.status_code, invalid.status_code) == (200, 401, 422)
    for name, labels, expected in [
        ("gancang_intake_prescriptions_total", {"source": "fhir", "outcome": "created"}, 1),
        ("gancang_intake_prescriptions_total", {"source": "fhir", "outcome": "repeat"}, 1),
        ("gancang_intake_refused_total", {"source": "fhir", "reason": "unauthorized"}, 1),
        ("gancang_intake_refused_total", {"source": "fhir", "reason": "invalid"}, 1),
    ]:
        assert value(after, name, **labels) - value(before, name, **labels) == expected, (name, labels)


def _set_released_at(order_id: int, ago: timedelta) -> None:
    with new_session() as session:
        order = session.get(Order, order_id)
        assert order is not None
        order.released_at = utcnow() - ago
        session.commit()


def test_booking_latency_is_measured_from_the_attempt_and_from_release(client, make_order, gosend_account):
    order_id = make_order()
    _set_released_at(order_id, timedelta(seconds=45))
    before = scrape(client)
    with respx.mock(base_url=GOSEND_BASE_URL, assert_all_called=True) as gosend:
        gosend.get(PRICE_PATH).mock(return_value=price_estimate())
        gosend.post(BOOKING_PATH).mock(return_value=booking_created())
        run_outbox(only_row("dispatch.book", order_id))
    after = scrape(client)

    def delta(suffix: str, since: str, **labels: str) -> float:
        name = f"gancang_booking_latency_seconds_{suffix}"
        return value(after, name, courier="gosend", since=since, **labels) - value(
            before, name, courier="gosend", since=since, **labels
        )

    assert delta("count", "attempt") == 1
    assert delta("count", "release") == 1
    assert delta("bucket", "attempt", le="5.0") == 1  # the attempt was made moments before GoSend answered
    assert delta("bucket", "release", le="30.0") == 0
    assert delta("bucket", "release", le="60.0") == 1  # released 45 s before the booking
    assert 45 <= delta("sum", "release") < 60


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (httpx.Response(503, text="busy"), "5xx"),
        (httpx.Response(429, headers={"Retry-After": "1"}, json={"errors": []}), "429"),
        (httpx.ReadTimeout("slow"), "timeout"),
        (httpx.ConnectError("refused"), "unreachable"),
    ],
)
def test_a_retryable_courier_failure_is_counted_by_type(client, make_order, gosend_account, failure, kind):
    order_id = make_order()
    before = scrape(client)
    with respx.mock(base_url=GOSEND_BASE_URL, assert_all_called=False) as gosend:
        gosend.get(PRICE_PATH).mock(return_value=price_estimate())
        gosend.post(BOOKING_PATH).mock(side_effect=[failure, booking_created()])
        # A retry first asks whether the failed call booked after all: it did not.
        gosend.get(path__startswith=LOOKUP_PATH).mock(return_value=httpx.Response(404, json={}))
        run_outbox(only_row("dispatch.book", order_id))
    after = scrape(client)

    labels = {"courier": "gosend", "operation": "book", "type": kind}
    assert (
        value(after, "gancang_courier_errors_total", **labels)
        - value(before, "gancang_courier_errors_total", **labels)
        == 1
    )


def test_a_refused_booking_and_a_failed_quote_are_counted(client, make_order, gosend_account):
    order_id = make_order()
    before = scrape(client)
    with respx.mock(base_url=GOSEND_BASE_URL, assert_all_called=True) as gosend:
        gosend.get(PRICE_PATH).mock(return_value=httpx.Response(500, text="down"))
        gosend.post(BOOKING_PATH).mock(return_value=httpx.Response(400, json={"errors": ["bad address"]}))
        run_outbox(only_row("dispatch.book", order_id))
    after = scrape(client)

    def delta(**labels: str) -> float:
        return value(after, "gancang_courier_errors_total", courier="gosend", **labels) - value(
            before, "gancang_courier_errors_total", courier="gosend", **labels
        )

    assert delta(operation="quote", type="5xx") == 1
    assert delta(operation="book", type="refused") == 1


def _post_webhook(client, payload: dict[str, object]) -> None:
    response = client.post(
        "/webhooks/couriers/gosend",
        content=json.dumps(payload),
        headers={"Content-Type": "application/json", "Authorization": WEBHOOK_TOKEN},
    )
    assert response.status_code == 200, response.text


def _age_accepted(seconds: float) -> None:
    with new_session() as session:
        for message in session.exec(select(InboxMessage).where(InboxMessage.status == InboxStatus.ACCEPTED)):
            message.received_at = utcnow() - timedelta(seconds=seconds)
        session.commit()


def test_webhook_lag_and_apply_delay(client, booked_order):
    _post_webhook(client, gosend_event("confirmed", event_id="evt-obs-1"))
    _age_accepted(90)

    waiting = scrape(client)
    [apply_row] = pending_rows("webhooks.apply")
    assert apply_row.id is not None
    run_outbox(apply_row.id)
    applied = scrape(client)

    assert 90 <= value(waiting, "gancang_webhook_lag_seconds", source="courier:gosend") < 120
    assert series(applied, "gancang_webhook_lag_seconds") == {}
    name = "gancang_webhook_apply_delay_seconds"
    assert (
        value(applied, f"{name}_count", source="courier:gosend")
        - value(waiting, f"{name}_count", source="courier:gosend")
        == 1
    )
    assert (
        value(applied, f"{name}_bucket", source="courier:gosend", le="60.0")
        - value(waiting, f"{name}_bucket", source="courier:gosend", le="60.0")
        == 0
    )
    assert (
        value(applied, f"{name}_bucket", source="courier:gosend", le="300.0")
        - value(waiting, f"{name}_bucket", source="courier:gosend", le="300.0")
        == 1
    )


def test_an_unknown_courier_status_is_counted_as_a_courier_error(client, booked_order):
    before = scrape(client)
    _post_webhook(client, gosend_event("teleported", event_id="evt-obs-2"))
    [apply_row] = pending_rows("webhooks.apply")
    assert apply_row.id is not None
    run_outbox(apply_row.id)
    after = scrape(client)

    labels = {"courier": "gosend", "operation": "webhook", "type": "unknown_status"}
    assert (
        value(after, "gancang_courier_errors_total", **labels)
        - value(before, "gancang_courier_errors_total", **labels)
        == 1
    )


class ScriptedGateway:
    """A deployment SMS gateway that answers as told."""

    name = "scripted"

    def __init__(self, answer: SendResult | Exception) -> None:
        self.answer = answer

    def send(self, to_e164: str, text: str) -> SendResult:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (SendResult("", "failed", "invalid number"), "failed"),
        (SendOutcomeUnknown("read timeout"), "unknown"),
        (SendResult("", "opted_out", "STOP received"), "opted_out"),
    ],
)
def test_sms_failures_are_counted_by_gateway_and_reason(client, make_order, monkeypatch, answer, reason):
    from dispatch.notify import tasks

    monkeypatch.setattr(tasks, "gateway", lambda: ScriptedGateway(answer))
    order_id = make_order()
    before = scrape(client)
    run_outbox(only_row("notify.sms", order_id))
    after = scrape(client)

    labels = {"gateway": "scripted", "reason": reason}
    assert (
        value(after, "gancang_sms_failures_total", **labels)
        - value(before, "gancang_sms_failures_total", **labels)
        == 1
    )


def test_an_sms_to_a_patient_who_opted_out_is_counted(client, make_order, session, hospital, monkeypatch):
    from dispatch.notify import tasks

    monkeypatch.setattr(tasks, "gateway", lambda: ScriptedGateway(SendResult("x", "sent")))
    order_id = make_order()
    with new_session() as db_session:
        order = db_session.get(Order, order_id)
        assert order is not None
        from dispatch.orders.models import Patient

        patient = db_session.get(Patient, order.patient_id)
        assert patient is not None and patient.phone_e164 is not None
        opt_out(db_session, hospital.id, patient.phone_e164, "sms", source="patient", data={})
        db_session.commit()
    before = scrape(client)
    run_outbox(only_row("notify.sms", order_id))
    after = scrape(client)

    labels = {"gateway": "scripted", "reason": "opted_out"}
    assert (
        value(after, "gancang_sms_failures_total", **labels)
        - value(before, "gancang_sms_failures_total", **labels)
        == 1
    )


def test_metrics_take_the_scraper_token_when_one_is_set(client, monkeypatch):
    monkeypatch.setattr(settings, "metrics_token", "scrape-token-0123456789")

    missing = client.get("/metrics")
    wrong = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-wrong"})
    right = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-0123456789"})

    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.headers["www-authenticate"] == "Bearer"
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert "gancang_orders" in right.text


def test_production_without_a_scraper_token_keeps_metrics_closed(client, monkeypatch):
    monkeypatch.setattr(settings, "env", "production")

    response = client.get("/metrics")

    assert response.status_code == 403
    assert "GANCANG_METRICS_TOKEN" in response.json()["detail"]
