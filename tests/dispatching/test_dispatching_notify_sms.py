"""The ``notify.sms`` outbox task: one SMS per dedupe key through the console gateway, private and one segment."""

from __future__ import annotations

import json

import pytest
from dispatching_support import (
    PRIMARY_TOKEN,
    at,
    driver_fields,
    gosend_event,
    load,
    outbox_rows,
    pending_rows,
    run_outbox,
    sms_messages,
)

from dispatch.core.db import new_session
from dispatch.demo_data import PATIENTS
from dispatch.notify.gsm7 import GSM7_SINGLE_SEGMENT, gsm7_length, is_gsm7
from dispatch.notify.service import tracking_url
from dispatch.orders.models import Order
from dispatch.outbox.models import OutboxMessage
from dispatch.outbox.service import enqueue

SITI = PATIENTS[0]


def sms_row(order_id: int, kind: str) -> OutboxMessage:
    [row] = [
        row
        for row in outbox_rows("notify.sms")
        if row.payload["order_id"] == order_id and row.payload["kind"] == kind
    ]
    return row


def link_for(order_id: int) -> str:
    with new_session() as session:
        record = session.get(Order, order_id)
        assert record is not None
        link = tracking_url(session, record)
    assert link is not None
    return link


def assert_private_single_segment(text: str, link: str) -> None:
    assert is_gsm7(text)
    assert gsm7_length(text) <= GSM7_SINGLE_SEGMENT
    assert link in text
    lowered = text.lower()
    for secret in ("amlodipine", "10 mg", "tablet", "kemiren", "krajan", "6281234560101", "0812"):
        assert secret not in lowered


def test_released_sms_is_sent_once_and_stored_with_its_dedupe_key(make_order, console_outbox):
    order_id = make_order(SITI)
    row = sms_row(order_id, "released")
    assert row.payload["dedupe_key"].startswith(f"order{order_id}:released:")

    run_outbox(row.id)

    [sent] = console_outbox
    assert sent.to_e164 == "+6281234560101"
    [stored] = sms_messages()
    assert stored.dedupe_key == row.payload["dedupe_key"]
    assert (stored.order_id, stored.kind, stored.status, stored.gateway) == (
        order_id,
        "released",
        "sent",
        "console",
    )
    assert stored.to_phone == "+6281234560101"
    assert stored.provider_message_id == sent.provider_message_id
    assert stored.text == sent.text
    assert stored.sent_at is not None
    pin = load(Order, order_id).handover_pin
    assert stored.text == (
        f"RSUD Blambangan: Obat Anda sedang disiapkan untuk diantar ke rumah. PIN serah terima: {pin}. "
        f"Pantau: {link_for(order_id)}"
    )
    assert stored.attempts == 1
    assert_private_single_segment(stored.text, link_for(order_id))
    assert load(OutboxMessage, row.id).processed_at is not None


def test_running_the_sms_task_twice_sends_once(make_order, console_outbox, session):
    order_id = make_order(SITI)
    row = sms_row(order_id, "released")

    run_outbox(row.id)
    run_outbox(row.id)
    # The same SMS queued again under the same key (a replayed transition): still one message.
    again = enqueue(session, "notify.sms", dict(row.payload), hospital_id=row.hospital_id)
    session.commit()
    run_outbox(again.id)

    assert len(console_outbox) == 1
    assert len(sms_messages()) == 1
    assert load(OutboxMessage, again.id).processed_at is not None


def test_sms_that_failed_at_the_gateway_is_sent_again_by_the_retry(make_order, console_outbox, monkeypatch):
    from dispatch.notify.tasks import gateway

    console = gateway()
    real_send = console.send
    calls = []

    def flaky(to: str, text: str):
        calls.append(text)
        if len(calls) == 1:
            raise ConnectionError("gateway unreachable")
        return real_send(to, text)

    monkeypatch.setattr(console, "send", flaky)
    order_id = make_order(SITI)

    run_outbox(sms_row(order_id, "released").id)  # Task.apply runs the retry at once

    assert len(calls) == 2
    assert len(console_outbox) == 1
    [stored] = sms_messages()
    assert (stored.status, stored.error) == ("sent", None)


def test_courier_assigned_sms_names_driver_and_plate_but_not_the_medicine(
    client, booked_order, console_outbox
):
    response = client.post(
        "/webhooks/couriers/gosend",
        content=json.dumps(gosend_event("allocated", event_date=at(1), **driver_fields())),
        headers={"Authorization": PRIMARY_TOKEN},
    )
    assert response.status_code == 200
    [apply_row] = pending_rows("webhooks.apply")
    run_outbox(apply_row.id)

    run_outbox(sms_row(booked_order, "courier_assigned").id)

    [sent] = console_outbox
    link = link_for(booked_order)
    pin = load(Order, booked_order).handover_pin
    assert sent.text == (
        f"RSUD Blambangan: Kurir Budi Santoso (P 4521 XY) mengantar obat Anda. PIN serah terima: {pin}. "
        f"Pantau: {link}"
    )
    assert_private_single_segment(sent.text, link)


@pytest.mark.parametrize("kind", ["no_courier", "needs_address"])
def test_other_kinds_also_carry_the_link_within_one_segment(make_order, console_outbox, session, kind):
    order_id = make_order(SITI)
    row = enqueue(
        session,
        "notify.sms",
        {"order_id": order_id, "kind": kind, "dedupe_key": f"order{order_id}:{kind}:test"},
        hospital_id=load(Order, order_id).hospital_id,
    )
    session.commit()
    run_outbox(row.id)
    [sent] = console_outbox
    assert_private_single_segment(sent.text, link_for(order_id))
