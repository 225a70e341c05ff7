"""Write-backs queued by state changes, sent by their tasks; and the FHIR pull poller."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx
from standardwebhooks import Webhook

from dispatch.demo_data import PATIENTS, demo_bundle
from dispatch.hospitals.models import HospitalSink, HospitalSource
from dispatch.inbox.models import InboxMessage
from dispatch.orders.models import Order, OrderEvent
from dispatch.outbox.models import OutboxMessage

FHIR_BASE = "https://fhir.rsud.example/fhir-r4/v1"
OAUTH = "https://fhir.rsud.example/oauth2/v1"
HOOK_URL = "https://simrs.rsud.example/gancang/events"
HOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def run(celery, row: OutboxMessage) -> None:
    result = celery.tasks[row.topic].apply(args=[row.id])
    assert result.successful(), result.result


def deliver(run_sql, order_id: int, receiver: str | None = None) -> None:
    """Walk an order to delivered the way the dispatcher would, through the service; ``receiver`` is who the
    courier reported took the parcel."""
    from dispatch.core.db import new_session
    from dispatch.orders.service import transition
    from dispatch.orders.state_machine import OrderStatus as S

    with new_session() as session:
        order = session.get(Order, order_id)
        for target in (S.RELEASED, S.READY, S.BOOKING, S.PICKED_UP):
            transition(session, order, target, detail=f"test: {target.value}")
        data = {"receiver_name": receiver} if receiver else None
        transition(session, order, S.DELIVERED, detail="test: delivered", data=data)
        session.commit()


def sink(session, hospital, kind: str, settings: dict[str, Any]) -> None:
    session.add(HospitalSink(hospital_id=hospital.id, kind=kind, settings=settings))
    session.commit()


@pytest.mark.parametrize(
    ("reported_receiver", "note"),
    [(None, f"Diterima oleh {PATIENTS[0].name}"), ("Dewi (anak)", "Diterima oleh Dewi (anak)")],
)
def test_delivered_writes_one_medication_dispense_per_item_to_the_hospital(
    session, hospital, create_order, fetch, run_sql, celery, reported_receiver, note
):
    sink(
        session,
        hospital,
        "fhir_dispense",
        {
            "organization_id": "100026342",
            "performer_reference": "Practitioner/N10000001",
            "fhir": {
                "base_url": FHIR_BASE,
                "auth": "oauth2_client_credentials",
                "oauth_url": OAUTH,
                "client_id": "rsud-client",
                "client_secret": "rsud-secret",
            },
        },
    )
    order_id = create_order("RX-WB-FHIR")
    deliver(run_sql, order_id, reported_receiver)
    [row] = fetch(OutboxMessage, OutboxMessage.topic == "writeback.fhir_dispense")
    assert row.payload["status"] == "delivered"

    with respx.mock(assert_all_called=True) as mock:
        token = mock.post(f"{OAUTH}/accesstoken", params={"grant_type": "client_credentials"}).respond(
            200, json={"access_token": "tok-1", "expires_in": "3599", "token_type": "BearerToken"}
        )
        posted = mock.post(f"{FHIR_BASE}/MedicationDispense").respond(
            201, json={"resourceType": "MedicationDispense", "id": "md-1"}
        )
        run(celery, row)

    assert token.call_count == 1
    dispense = json.loads(posted.calls.last.request.content)
    assert posted.calls.last.request.headers["authorization"] == "Bearer tok-1"
    assert dispense["status"] == "completed"
    assert {
        "system": "http://sys-ids.kemkes.go.id/prescription/100026342",
        "use": "official",
        "value": "RX-WB-FHIR",
    } in dispense["identifier"]
    assert dispense["performer"][0]["actor"]["reference"] == "Practitioner/N10000001"
    assert dispense["subject"]["reference"] == f"Patient/{PATIENTS[0].mrn}"
    assert dispense["whenHandedOver"].endswith(("Z", "+00:00"))
    assert {"text": note} in dispense["note"]
    notes = [e.detail for e in fetch(OrderEvent, OrderEvent.order_id == order_id)]
    assert any(n.startswith("Outcome written to the hospital's FHIR server") for n in notes)


def test_a_refusing_fhir_server_leaves_an_alert_not_a_loop(
    session, hospital, create_order, fetch, run_sql, celery
):
    sink(session, hospital, "fhir_dispense", {"fhir": {"base_url": FHIR_BASE, "auth": "none"}})
    order_id = create_order("RX-WB-FHIR-2")
    deliver(run_sql, order_id)
    [row] = fetch(OutboxMessage, OutboxMessage.topic == "writeback.fhir_dispense")
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "invalid", "diagnostics": "performer.actor wajib"}],
    }
    with respx.mock(assert_all_called=True) as mock:
        mock.post(f"{FHIR_BASE}/MedicationDispense").respond(400, json=outcome)
        run(celery, row)
    alerts = [e.detail for e in fetch(OrderEvent, OrderEvent.kind == "alert")]
    assert len(alerts) == 1
    assert "performer.actor wajib" in alerts[0]


def test_every_state_change_is_a_signed_event_webhook(
    session, hospital, create_order, fetch, run_sql, celery
):
    sink(session, hospital, "event_webhook", {"url": HOOK_URL, "secret": HOOK_SECRET})
    order_id = create_order("RX-WB-HOOK")
    deliver(run_sql, order_id)
    rows = fetch(OutboxMessage, OutboxMessage.topic == "writeback.event_webhook")
    assert [r.payload["status"] for r in rows] == [
        "awaiting_release", "released", "ready", "booking", "picked_up", "delivered",
    ]  # fmt: skip
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(HOOK_URL).respond(204)
        run(celery, rows[-1])
    request = route.calls.last.request
    verified = Webhook(HOOK_SECRET).verify(request.content, dict(request.headers))
    assert verified["type"] == "order.delivered"
    assert verified["data"]["order_id"] == order_id
    assert verified["data"]["prescription_number"] == "RX-WB-HOOK"
    body = request.content.decode()
    assert PATIENTS[0].name not in body and "Amlodipine" not in body
    assert request.headers["webhook-id"] == f"msg_gancang_{rows[-1].id}"


def test_the_fhir_pull_poller_takes_new_prescriptions_and_moves_its_watermark(
    session, hospital, fetch, celery
):
    from dispatch.sources.tasks import poll_source

    source = HospitalSource(
        hospital_id=hospital.id,
        source="fhir_pull",
        settings={"base_url": FHIR_BASE, "bearer_token": "static-token"},
    )
    session.add(source)
    # The search includes Patients but not Coverage, so this hospital delivers to every outpatient.
    hospital.eligibility_policy = {"accept_all": True}
    session.add(hospital)
    session.commit()
    # A server's searchset: absolute fullUrls and Type/id references instead of the bundle's urn:uuids.
    text = json.dumps(demo_bundle(PATIENTS[1], "RX-PULL-1"))
    for entry in json.loads(text)["entry"]:
        uuid, kind = entry["fullUrl"].rsplit(":", 1)[-1], entry["resource"]["resourceType"]
        text = text.replace(f'"urn:uuid:{uuid}"', f'"{kind}/{uuid}"')
    entries = json.loads(text)["entry"]
    for entry in entries:
        kind, uuid = entry["fullUrl"].split("/")
        entry["fullUrl"] = f"{FHIR_BASE}/{kind}/{uuid}"
        entry["resource"]["id"] = uuid
        entry["resource"]["meta"] = {"lastUpdated": "2026-11-29T03:00:00+00:00"}
        entry["search"] = {"mode": "match" if kind == "MedicationRequest" else "include"}
    searchset = {"resourceType": "Bundle", "type": "searchset", "entry": entries}

    with respx.mock(assert_all_called=False) as mock:
        mock.get(url__startswith=f"{FHIR_BASE}/MedicationRequest").respond(200, json=searchset)
        taken = poll_source.apply(args=[source.id]).result

    assert taken == 1
    [order] = fetch(Order)
    assert order.status == "awaiting_release"
    [archived] = fetch(InboxMessage)
    assert (archived.source, archived.status) == ("fhir_pull", "processed")
    [stored] = fetch(HospitalSource)
    assert stored.watermark == {"since": datetime(2026, 11, 29, 3, 0, tzinfo=UTC).isoformat()}
    assert stored.last_error is None

    # The hospital withdraws it: the next pull sees the cancelled MedicationRequest and stops the order.
    for entry in entries:
        entry["resource"]["meta"] = {"lastUpdated": "2026-11-29T04:00:00+00:00"}
        if entry["resource"]["resourceType"] == "MedicationRequest":
            entry["resource"]["status"] = "cancelled"
    with respx.mock(assert_all_called=True) as mock:
        search = mock.get(url__startswith=f"{FHIR_BASE}/MedicationRequest").respond(200, json=searchset)
        poll_source.apply(args=[source.id])
    assert search.calls.last.request.url.params["_lastUpdated"] == "ge2026-11-29T03:00:00Z"
    [order] = fetch(Order)
    assert order.status == "cancelled"


def test_a_fhir_server_that_is_down_keeps_the_watermark_and_records_why(session, hospital, fetch):
    from dispatch.sources.tasks import poll_source

    source = HospitalSource(
        hospital_id=hospital.id,
        source="fhir_pull",
        settings={"base_url": FHIR_BASE, "bearer_token": "static-token"},
        watermark={"since": "2026-11-28T00:00:00+00:00"},
    )
    session.add(source)
    session.commit()
    with respx.mock(assert_all_called=True) as mock:
        mock.get(url__startswith=f"{FHIR_BASE}/MedicationRequest").mock(
            side_effect=httpx.ConnectTimeout("down")
        )
        assert poll_source.apply(args=[source.id]).result == 0
    [stored] = fetch(HospitalSource)
    assert stored.watermark == {"since": "2026-11-28T00:00:00+00:00"}
    assert "FHIR server" in (stored.last_error or "")
    assert fetch(Order) == []


@pytest.mark.parametrize("status", ["delivery_failed"])
def test_outcome_sinks_hear_of_failures_too(session, hospital, create_order, fetch, status):
    from dispatch.core.db import new_session
    from dispatch.orders.service import transition
    from dispatch.orders.state_machine import OrderStatus as S

    sink(session, hospital, "fhir_dispense", {"fhir": {"base_url": FHIR_BASE}})
    order_id = create_order("RX-WB-FAIL")
    with new_session() as db:
        order = db.get(Order, order_id)
        for target in (S.RELEASED, S.READY, S.BOOKING, S.PICKED_UP, S(status)):
            transition(db, order, target)
        db.commit()
    [row] = fetch(OutboxMessage, OutboxMessage.topic == "writeback.fhir_dispense")
    assert row.payload["status"] == status


def test_a_failing_event_webhook_waits_in_the_database_on_the_standard_webhooks_schedule(
    session, hospital, create_order, fetch, celery, monkeypatch
):
    from datetime import timedelta

    import dispatch.outbox.tasks as relay_tasks
    from dispatch.core.clock import utcnow

    sink(session, hospital, "event_webhook", {"url": HOOK_URL, "secret": HOOK_SECRET})
    create_order("RX-WB-RETRY")
    [row] = fetch(OutboxMessage, OutboxMessage.topic == "writeback.event_webhook")
    with respx.mock(assert_all_called=True) as mock:
        mock.post(HOOK_URL).respond(503)
        before = utcnow()
        run(celery, row)

    [waiting] = fetch(OutboxMessage, OutboxMessage.topic == "writeback.event_webhook")
    assert (waiting.processed_at, waiting.published_at, waiting.attempts) == (None, None, 1)
    # First step of the schedule: 5 s, with ±10 % jitter.
    assert timedelta(seconds=4) <= waiting.available_at - before <= timedelta(seconds=6)
    assert "503" in (waiting.last_error or "") or "Service Unavailable" in (waiting.last_error or "")

    published: list[int] = []
    monkeypatch.setattr(relay_tasks.celery_app, "send_task", lambda _topic, args: published.append(args[0]))
    relay_tasks.relay_once()
    assert waiting.id not in published  # not due yet

    from dispatch.core.db import new_session

    with new_session() as db:
        due = db.get(OutboxMessage, waiting.id)
        due.available_at = utcnow() - timedelta(seconds=1)
        db.commit()
    relay_tasks.relay_once()
    assert waiting.id in published
