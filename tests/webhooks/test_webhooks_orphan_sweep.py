"""The beat sweep (``inbox.sweep_orphans``) that gives a verdict to courier webhooks a killed request left
"received": the raw archive commits first, so a request killed after it leaves the row without a verdict.

An orphan is made the way the kill leaves one (the raw copy archived, nothing after it), aged past the
sweep's threshold; the sender's retry goes through the real endpoint.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select
from webhooks_support import WEBHOOK_TOKEN, gosend_settings

from dispatch.core.clock import utcnow
from dispatch.core.db import new_session
from dispatch.hospitals.models import HospitalCreate
from dispatch.hospitals.service import add_courier_account, create_hospital
from dispatch.inbox import service as inbox_service
from dispatch.inbox.models import InboxMessage, InboxStatus
from dispatch.orders.models import Order
from dispatch.outbox.models import OutboxMessage

URL = "/webhooks/couriers/gosend"
SWEEP = "inbox.sweep_orphans"


def archive_orphan(body: bytes, *, minutes_ago: float, source: str = "courier:gosend") -> int:
    """The raw copy a request killed right after archiving leaves, received ``minutes_ago``."""
    inbox_id = inbox_service.archive_raw(source, body, {"content-type": "application/json"})
    with new_session() as session:
        session.execute(
            update(InboxMessage)
            .where(col(InboxMessage.id) == inbox_id)
            .values(received_at=utcnow() - timedelta(minutes=minutes_ago))
        )
        session.commit()
    return inbox_id


def send(client, body: bytes, token: str = WEBHOOK_TOKEN) -> int:  # type: ignore[no-untyped-def]
    response = client.post(
        URL, content=body, headers={"Content-Type": "application/json", "Authorization": token}
    )
    return response.status_code


def message(inbox_id: int) -> InboxMessage:
    with new_session() as session:
        found = session.get(InboxMessage, inbox_id)
        assert found is not None
        return found


def latest_id() -> int:
    with new_session() as session:
        found = session.exec(select(InboxMessage.id).order_by(col(InboxMessage.id).desc())).first()
        assert found is not None
        return found


def apply_rows() -> list[OutboxMessage]:
    with new_session() as session:
        query = select(OutboxMessage).where(OutboxMessage.topic == "webhooks.apply")
        return list(session.exec(query).all())


def order_status(order_id: int) -> str:
    with new_session() as session:
        order = session.get(Order, order_id)
        assert order is not None
        return order.status.value


def event_body(recorded_event: dict[str, Any]) -> bytes:
    return json.dumps(recorded_event).encode()


def test_an_orphan_whose_retry_was_taken_is_settled_as_its_duplicate(
    client, celery, booked_order, recorded_event
):
    body = event_body(recorded_event)
    orphan_id = archive_orphan(body, minutes_ago=10)
    assert send(client, body) == 200
    retry_id = latest_id()
    status_before = order_status(booked_order)

    celery.tasks[SWEEP].apply().get()

    orphan = message(orphan_id)
    assert orphan.status == InboxStatus.DUPLICATE
    assert orphan.error == inbox_service.ORPHAN_TAKEN.format(copy_id=retry_id)
    assert orphan.processed_at is not None
    assert orphan.dedupe_key is None
    assert message(retry_id).status == InboxStatus.ACCEPTED
    # The event is applied once, from the retry; the sweep queued nothing and moved nothing.
    [queued] = apply_rows()
    assert queued.payload["inbox_id"] == retry_id
    assert order_status(booked_order) == status_before


def test_an_orphan_never_sent_again_is_quarantined_for_the_hospitals_staff(
    client, celery, booked_order, recorded_event, hospital, pharmacist_token
):
    orphan_id = archive_orphan(event_body(recorded_event), minutes_ago=10)
    status_before = order_status(booked_order)

    celery.tasks[SWEEP].apply().get()

    orphan = message(orphan_id)
    assert orphan.status == InboxStatus.REJECTED
    assert orphan.error == inbox_service.ORPHAN_UNVERIFIED
    assert orphan.hospital_id == hospital.id
    # Not verified, so not applied: nothing queued, the order as it was.
    assert apply_rows() == []
    assert order_status(booked_order) == status_before
    listed = client.get("/api/v1/inbox", headers={"Authorization": f"Bearer {pharmacist_token}"}).json()
    assert [(m["id"], m["status"], m["error"]) for m in listed] == [
        (orphan_id, "rejected", inbox_service.ORPHAN_UNVERIFIED)
    ]


def test_a_copy_refused_for_its_credentials_does_not_make_an_orphan_a_duplicate(
    client, celery, booked_order, recorded_event
):
    body = event_body(recorded_event)
    orphan_id = archive_orphan(body, minutes_ago=10)
    assert send(client, body, token="not-the-token") == 401
    assert message(latest_id()).status == InboxStatus.REJECTED

    celery.tasks[SWEEP].apply().get()

    orphan = message(orphan_id)
    assert (orphan.status, orphan.error) == (InboxStatus.REJECTED, inbox_service.ORPHAN_UNVERIFIED)


def test_recent_messages_and_other_sources_are_left_alone(celery, gosend_account, recorded_event):
    body = event_body(recorded_event)
    # A request may still be settling a message this young; the sweep only takes what is minutes old.
    recent_id = archive_orphan(body, minutes_ago=1)
    fhir_id = archive_orphan(b'{"resourceType": "Bundle"}', minutes_ago=60, source="fhir")

    celery.tasks[SWEEP].apply().get()

    assert message(recent_id).status == InboxStatus.RECEIVED
    assert message(fhir_id).status == InboxStatus.RECEIVED


def test_with_several_hospitals_on_the_courier_a_quarantined_orphan_belongs_to_none(
    celery, session, gosend_account, recorded_event
):
    other = create_hospital(
        session,
        HospitalCreate(
            code="RSUDGTG",
            name="RSUD Genteng",
            address="Jl. Hasanudin, Genteng, Banyuwangi",
            phone="0333-845-839",
            lat=-8.3646,
            lon=114.1504,
            kabupaten_code="35.10",
        ),
    )
    add_courier_account(session, other, "gosend", gosend_settings(webhook_token="genteng-token"))
    session.commit()
    orphan_id = archive_orphan(event_body(recorded_event), minutes_ago=10)

    celery.tasks[SWEEP].apply().get()

    orphan = message(orphan_id)
    assert orphan.status == InboxStatus.REJECTED
    # Unverified, the message cannot say which hospital's it is: no hospital's staff are shown it.
    assert orphan.hospital_id is None


def test_beat_runs_the_sweep_every_minute(celery):
    [entry] = [e for e in celery.conf.beat_schedule.values() if e["task"] == SWEEP]
    assert entry["schedule"] == 60.0
    assert SWEEP in celery.tasks
