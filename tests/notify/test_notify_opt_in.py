"""A patient who replied STOP and later START (or MULAI) gets messages again, through the provider's signed
inbound webhook; each change is noted on the timeline of the patient's orders still under way."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest
import respx
from notify_support import (
    TO,
    TWILIO,
    TWILIO_CALLBACK_URL,
    TWILIO_CREATED,
    TWILIO_MESSAGES_URL,
    TWILIO_SID,
    TWILIO_TOKEN,
    opt_outs,
    run_outbox,
    sms_messages,
    sms_rows,
)
from sqlmodel import col, select

from dispatch.core.db import new_session
from dispatch.notify.gateways.twilio import twilio_signature
from dispatch.notify.service import is_start_request, is_stop_request
from dispatch.orders.models import OrderEvent

pytestmark = pytest.mark.usefixtures("provider_gateways")


def reply(client, body: str, serial: int):
    """The patient's SMS as Twilio's incoming-message webhook posts it, signed with the account's token."""
    params = [
        ("MessageSid", f"SMreply{serial:026d}"),
        ("SmsStatus", "received"),
        ("Body", body),
        ("From", TO),
        ("To", TWILIO["from_number"]),
        ("AccountSid", TWILIO_SID),
    ]
    response = client.post(
        "/webhooks/messages/twilio",
        content=urlencode(params),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, TWILIO_CALLBACK_URL, params),
        },
    )
    assert response.status_code == 200, response.text
    return response.json()["applied"]


def patient_notes(order_id: int) -> list[str]:
    with new_session() as session:
        query = select(OrderEvent).where(OrderEvent.order_id == order_id, OrderEvent.kind == "patient")
        return [event.detail for event in session.exec(query.order_by(col(OrderEvent.id))).all()]


def send_released_sms(order_id: int) -> int:
    """Runs the order's "released" message through the outbox against a mocked Twilio; the calls made."""
    with respx.mock(assert_all_called=False) as api:
        route = api.post(TWILIO_MESSAGES_URL).mock(return_value=httpx.Response(201, json=TWILIO_CREATED))
        run_outbox(sms_rows(order_id)[0].id)
    return route.call_count


def test_stop_then_start_by_sms_reply(client, configure_messaging, release_order):
    configure_messaging({"sms": {"gateway": "twilio", "options": TWILIO}})
    first = release_order()

    assert reply(client, "STOP", 1) == ["opt-out (sms)"]
    assert send_released_sms(first) == 0
    [skipped] = sms_messages()
    assert skipped.status == "opted_out"
    assert [(o.channel, o.source) for o in opt_outs()] == [("sms", "reply")]

    assert reply(client, "Mulai!", 2) == ["opt-in (sms)"]
    assert opt_outs() == []
    assert reply(client, "start", 3) == ["opt-in (sms)"]  # already on: nothing more to lift or note
    second = release_order()  # the same patient's next prescription
    assert send_released_sms(second) == 1
    assert [m.status for m in sms_messages()] == ["opted_out", "queued"]

    assert patient_notes(first) == [
        "Pasien membalas STOP: SMS dihentikan / the patient replied STOP: SMS stopped",
        "Pasien membalas Mulai!: SMS aktif lagi / the patient replied Mulai!: SMS resumed",
    ]
    assert patient_notes(second) == []  # released after the patient's replies


@pytest.mark.parametrize(
    ("text", "start", "stop"),
    [
        ("START", True, False),
        (" mulai! ", True, False),
        ("Unstop.", True, False),
        ("mulai kirim lagi", False, False),  # a sentence is read by staff, never as a keyword
        ("ya", False, False),
        ("Berhenti", False, True),
    ],
)
def test_which_replies_are_keywords(text, start, stop):
    assert (is_start_request(text), is_stop_request(text)) == (start, stop)
