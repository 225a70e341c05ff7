"""POST /webhooks/messages/{gateway}: archived first, signature checked, then reports and replies applied."""

from __future__ import annotations

import json
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
    WHATSAPP,
    WHATSAPP_ACCEPTED,
    WHATSAPP_APP_SECRET,
    WHATSAPP_URL,
    alerts,
    opt_outs,
    run_outbox,
    sms_messages,
    sms_rows,
    whatsapp_webhook,
)
from sqlmodel import col, select

from dispatch.core.db import new_session
from dispatch.inbox.models import InboxMessage
from dispatch.notify.gateways.twilio import twilio_signature
from dispatch.notify.gateways.whatsapp import hub_signature

pytestmark = pytest.mark.usefixtures("provider_gateways")
SID = TWILIO_CREATED["sid"]


@pytest.fixture
def sent_by_twilio(configure_messaging, release_order) -> int:
    """An order whose "released" SMS Twilio queued as SID; returns the order id."""
    configure_messaging({"sms": {"gateway": "twilio", "options": TWILIO}})
    order_id = release_order()
    with respx.mock() as api:
        api.post(TWILIO_MESSAGES_URL).mock(return_value=httpx.Response(201, json=TWILIO_CREATED))
        run_outbox(sms_rows(order_id)[0].id)
    return order_id


def post_twilio(client, params: list[tuple[str, str]], token: str = TWILIO_TOKEN):
    return client.post(
        "/webhooks/messages/twilio",
        content=urlencode(params),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(token, TWILIO_CALLBACK_URL, params),
        },
    )


def status(value: str, **extra: str) -> list[tuple[str, str]]:
    params = {"MessageSid": SID, "MessageStatus": value, "AccountSid": TWILIO_SID, "To": TO} | extra
    return list(params.items())


def inbox() -> list[InboxMessage]:
    """The provider webhooks archived (the FHIR intake of the order is archived too)."""
    with new_session() as session:
        query = select(InboxMessage).where(col(InboxMessage.source).startswith("messages:"))
        return list(session.exec(query.order_by(col(InboxMessage.id))).all())


def test_a_signed_delivery_report_marks_the_message_delivered(client, sent_by_twilio):
    response = post_twilio(client, status("delivered"))
    assert response.status_code == 200, response.text
    [sms] = sms_messages()
    assert (sms.status, sms.receipt_status) == ("delivered", "delivered")
    assert sms.delivered_at is not None
    [archived] = inbox()
    assert (archived.source, archived.status, archived.hospital_id) == (
        "messages:twilio",
        "processed",
        sms.hospital_id,
    )
    assert archived.headers["x-twilio-signature"]
    assert archived.body == urlencode(status("delivered")).encode()


def test_a_late_sent_report_does_not_undo_delivered(client, sent_by_twilio):
    post_twilio(client, status("delivered"))
    post_twilio(client, status("sent"))
    [sms] = sms_messages()
    assert (sms.status, sms.receipt_status) == ("delivered", "delivered")


def test_a_forged_report_is_refused_archived_and_changes_nothing(client, sent_by_twilio):
    response = post_twilio(client, status("undelivered", ErrorCode="30003"), token="guessed-token")
    assert response.status_code == 401
    [sms] = sms_messages()
    assert (sms.status, sms.receipt_status, sms.delivered_at) == ("queued", None, None)
    assert alerts(sent_by_twilio) == []
    [archived] = inbox()
    assert (archived.status, archived.error) == ("rejected", "authentication failed")


def test_an_undelivered_report_alerts_staff_once(client, sent_by_twilio):
    for _ in range(2):  # Twilio retries a callback it thinks was lost
        assert post_twilio(client, status("undelivered", ErrorCode="30003")).status_code == 200
    [sms] = sms_messages()
    assert (sms.status, sms.receipt_status, sms.error) == ("failed", "undelivered", "Twilio error 30003")
    [alert] = alerts(sent_by_twilio)
    assert alert.startswith("SMS 'released' to the patient failed (twilio: Twilio error 30003)")


def test_a_stop_reply_opts_the_patient_out_and_the_next_sms_is_skipped(client, sent_by_twilio):
    reply = [
        ("MessageSid", "SMreply"),
        ("SmsStatus", "received"),
        ("Body", "Berhenti"),
        ("From", TO),
        ("AccountSid", TWILIO_SID),
    ]
    assert post_twilio(client, reply).status_code == 200
    [record] = opt_outs()
    assert (record.phone_e164, record.channel, record.source) == (TO, "sms", "reply")
    assert record.data == {"gateway": "twilio", "keyword": "Berhenti"}
    assert post_twilio(client, reply).status_code == 200  # a second STOP changes nothing
    assert len(opt_outs()) == 1


def test_a_reply_that_is_not_stop_is_archived_only(client, sent_by_twilio):
    reply = [
        ("MessageSid", "SMreply"),
        ("SmsStatus", "received"),
        ("Body", "stop kirim ke tetangga ya"),
        ("From", TO),
        ("AccountSid", TWILIO_SID),
    ]
    response = post_twilio(client, reply)
    assert response.json()["applied"] == ["reply ignored (not a stop or start request)"]
    assert opt_outs() == []


def test_a_gateway_no_hospital_uses_is_404(client, hospital):
    response = client.post("/webhooks/messages/twilio", content=b"MessageSid=SM1")
    assert response.status_code == 404
    assert inbox()[0].status == "rejected"


def test_whatsapp_failed_status_alerts_and_its_handshake_answers(client, configure_messaging, release_order):
    configure_messaging(
        {
            "sms": {"gateway": "whatsapp", "options": WHATSAPP},
            "whatsapp": {"gateway": "whatsapp", "options": WHATSAPP},
        }
    )
    challenge = client.get(
        "/webhooks/messages/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": WHATSAPP["verify_token"], "hub.challenge": "77"},
    )
    assert (challenge.status_code, challenge.text) == (200, "77")
    refused = client.get(
        "/webhooks/messages/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "77"},
    )
    assert refused.status_code == 403

    order_id = release_order()
    with respx.mock() as api:
        api.post(WHATSAPP_URL).mock(return_value=httpx.Response(200, json=WHATSAPP_ACCEPTED))
        run_outbox(sms_rows(order_id)[0].id)
    wamid = WHATSAPP_ACCEPTED["messages"][0]["id"]
    body = json.dumps(
        whatsapp_webhook(
            {
                "statuses": [
                    {
                        "id": wamid,
                        "status": "failed",
                        "timestamp": "1",
                        "recipient_id": TO[1:],
                        "errors": [{"code": 131026, "title": "Message undeliverable"}],
                    }
                ]
            }
        )
    ).encode()
    response = client.post(
        "/webhooks/messages/whatsapp",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": hub_signature(WHATSAPP_APP_SECRET, body),
        },
    )
    assert response.status_code == 200, response.text
    [sms] = sms_messages()
    assert (sms.status, sms.receipt_status) == ("failed", "failed")
    [alert] = alerts(order_id)
    assert "WhatsApp 131026: Message undeliverable" in alert
