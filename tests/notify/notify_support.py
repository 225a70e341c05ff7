"""Provider settings and payloads shared by the gateway tests; recorded/documented answers are constants."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from dispatch.core.db import new_session
from dispatch.notify.models import MessageOptOut, SmsMessage
from dispatch.orders.models import OrderEvent
from dispatch.outbox.models import OutboxMessage

TO = "+6281234560101"

TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "twilio-auth-token-0123456789"
TWILIO_MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
TWILIO_CALLBACK_URL = "http://127.0.0.1:8000/webhooks/messages/twilio"
TWILIO = {
    "account_sid": TWILIO_SID,
    "auth_token": TWILIO_TOKEN,
    "from_number": "RSUDBLAMBAN",
    "status_callback": TWILIO_CALLBACK_URL,
}

# Twilio's Message resource as the Messages API answers a create (201), trimmed to the fields read here.
TWILIO_CREATED = {
    "account_sid": TWILIO_SID,
    "api_version": "2010-04-01",
    "body": "RSUD Blambangan: ...",
    "date_created": "Thu, 24 Aug 2026 05:01:02 +0000",
    "direction": "outbound-api",
    "error_code": None,
    "error_message": None,
    "from": "RSUDBLAMBAN",
    "messaging_service_sid": None,
    "num_segments": "1",
    "sid": "SM1f0e8ae6ade43cb3c0ce4525424e404f",
    "status": "queued",
    "to": TO,
    "uri": f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/SM1f0e8ae6ade43cb3c0ce4525424e404f.json",
}
TWILIO_INVALID_TO = {
    "code": 21211,
    "message": "The 'To' number +62812 is not a valid phone number.",
    "more_info": "https://www.twilio.com/docs/errors/21211",
    "status": 400,
}
TWILIO_UNSUBSCRIBED = {
    "code": 21610,
    "message": "Attempt to send to unsubscribed recipient",
    "more_info": "https://www.twilio.com/docs/errors/21610",
    "status": 400,
}
TWILIO_TOO_MANY = {
    "code": 20429,
    "message": "Too Many Requests",
    "more_info": "https://www.twilio.com/docs/errors/20429",
    "status": 429,
}

PHONE_NUMBER_ID = "106540352242922"
WHATSAPP_URL = f"https://graph.facebook.com/v21.0/{PHONE_NUMBER_ID}/messages"
WHATSAPP_APP_SECRET = "meta-app-secret-0123456789"
WHATSAPP = {
    "phone_number_id": PHONE_NUMBER_ID,
    "access_token": "EAAG-access-token",
    "app_secret": WHATSAPP_APP_SECRET,
    "verify_token": "verify-token-rsud-blambangan",
    "templates": {
        "released": {"name": "gancang_obat_disiapkan", "parameters": ["hospital", "pin", "link"]},
        "delivered": {"name": "gancang_obat_diantar", "parameters": ["hospital", "link"]},
    },
}
# Cloud API answer to a template send (Meta's "Send message" reference).
WHATSAPP_ACCEPTED = {
    "messaging_product": "whatsapp",
    "contacts": [{"input": "6281234560101", "wa_id": "6281234560101"}],
    "messages": [{"id": "wamid.HBgNNjI4MTIzNDU2MDEwMRUCABEYEjQ2", "message_status": "accepted"}],
}
WHATSAPP_UNDELIVERABLE = {
    "error": {
        "message": "(#131026) Message Undeliverable",
        "type": "OAuthException",
        "code": 131026,
        "error_data": {"messaging_product": "whatsapp", "details": "Message Undeliverable."},
        "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam",
    }
}
WHATSAPP_THROUGHPUT = {
    "error": {
        "message": "(#130429) Rate limit hit",
        "type": "OAuthException",
        "code": 130429,
        "error_data": {"messaging_product": "whatsapp", "details": "Cloud API message throughput reached."},
        "fbtrace_id": "A7qQ8Zt0VyYx",
    }
}

ZENZIVA_URL = "https://console.zenziva.net/reguler/api/sendsms/"
ZENZIVA = {"userkey": "d27a72ddaf0b", "passkey": "zenziva-passkey-0123"}
ZENZIVA_ACCEPTED = {"messageId": "3719823", "to": "081234560101", "status": "1", "text": "Success"}
ZENZIVA_REFUSED = {"status": "0", "text": "Saldo anda tidak mencukupi"}


def whatsapp_webhook(value: dict[str, Any]) -> dict[str, Any]:
    """The envelope Meta wraps every ``messages`` notification in."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "6281100000000", "phone_number_id": PHONE_NUMBER_ID},
    } | value
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }


def sms_messages() -> list[SmsMessage]:
    with new_session() as session:
        return list(session.exec(select(SmsMessage).order_by(col(SmsMessage.id))).all())


def opt_outs() -> list[MessageOptOut]:
    with new_session() as session:
        return list(session.exec(select(MessageOptOut).order_by(col(MessageOptOut.id))).all())


def alerts(order_id: int) -> list[str]:
    with new_session() as session:
        query = select(OrderEvent).where(OrderEvent.order_id == order_id, OrderEvent.kind == "alert")
        return [event.detail for event in session.exec(query.order_by(col(OrderEvent.id))).all()]


def sms_rows(order_id: int) -> list[OutboxMessage]:
    with new_session() as session:
        query = (
            select(OutboxMessage).where(OutboxMessage.topic == "notify.sms").order_by(col(OutboxMessage.id))
        )
        return [row for row in session.exec(query).all() if row.payload["order_id"] == order_id]


def run_outbox(outbox_id: int | None) -> None:
    """What a worker does with the message, in-process; ``Task.apply`` runs any retry at once."""
    from dispatch.core.celery_app import celery_app

    with new_session() as session:
        message = session.get(OutboxMessage, outbox_id)
        assert message is not None
        topic = message.topic
    result = celery_app.tasks[topic].apply(args=[outbox_id])
    assert result.successful(), f"{result.state}: {result.result!r}"
