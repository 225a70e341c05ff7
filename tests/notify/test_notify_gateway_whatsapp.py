"""WhatsApp Cloud API: template sends, Meta's errors, signed webhooks and the subscription handshake."""

from __future__ import annotations

import json

import httpx
import pytest
import respx
from notify_support import (
    PHONE_NUMBER_ID,
    TO,
    WHATSAPP,
    WHATSAPP_ACCEPTED,
    WHATSAPP_APP_SECRET,
    WHATSAPP_THROUGHPUT,
    WHATSAPP_UNDELIVERABLE,
    WHATSAPP_URL,
    whatsapp_webhook,
)

from dispatch.notify.gateways import (
    CallbackGateway,
    CallbackPayloadError,
    GatewayUnavailable,
    InboundMessage,
    Receipt,
    SendResult,
    SubscriptionGateway,
    TemplateGateway,
)
from dispatch.notify.gateways.whatsapp import WhatsAppGateway, hub_signature

FIELDS = {
    "hospital": "RSUD Blambangan",
    "link": "https://x.id/t/abc",
    "pin": "4821",
    "courier": "",
    "plate": "",
}


@pytest.fixture
def whatsapp() -> WhatsAppGateway:
    return WhatsAppGateway(**WHATSAPP)


def test_whatsapp_sends_templates_and_takes_callbacks(whatsapp: WhatsAppGateway) -> None:
    assert isinstance(whatsapp, TemplateGateway)
    assert isinstance(whatsapp, CallbackGateway)
    assert isinstance(whatsapp, SubscriptionGateway)
    assert whatsapp.has_template("released")
    assert not whatsapp.has_template("picked_up")


def test_a_template_is_sent_with_its_parameters_in_the_configured_order(whatsapp: WhatsAppGateway) -> None:
    with respx.mock(assert_all_called=True) as api:
        route = api.post(WHATSAPP_URL).mock(return_value=httpx.Response(200, json=WHATSAPP_ACCEPTED))
        result = whatsapp.send_template(TO, "released", "id", FIELDS)
    request = route.calls.last.request
    assert request.headers["Authorization"] == "Bearer EAAG-access-token"
    assert json.loads(request.content) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "6281234560101",
        "type": "template",
        "template": {
            "name": "gancang_obat_disiapkan",
            "language": {"code": "id"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "RSUD Blambangan"},
                        {"type": "text", "text": "4821"},
                        {"type": "text", "text": "https://x.id/t/abc"},
                    ],
                }
            ],
        },
    }
    assert result == SendResult("wamid.HBgNNjI4MTIzNDU2MDEwMRUCABEYEjQ2", "queued")


def test_an_absent_field_is_a_dash_because_meta_refuses_empty_parameters() -> None:
    options = WHATSAPP | {"templates": {"arriving": {"name": "gancang_kurir", "parameters": ["plate"]}}}
    with respx.mock() as api:
        route = api.post(WHATSAPP_URL).mock(return_value=httpx.Response(200, json=WHATSAPP_ACCEPTED))
        WhatsAppGateway(**options).send_template(TO, "arriving", "en", FIELDS)
    template = json.loads(route.calls.last.request.content)["template"]
    assert template["language"] == {"code": "en"}
    assert template["components"][0]["parameters"] == [{"type": "text", "text": "-"}]


def test_an_undeliverable_number_is_a_refusal_with_metas_details(whatsapp: WhatsAppGateway) -> None:
    with respx.mock() as api:
        api.post(WHATSAPP_URL).mock(return_value=httpx.Response(400, json=WHATSAPP_UNDELIVERABLE))
        result = whatsapp.send_template(TO, "released", "id", FIELDS)
    assert result == SendResult(
        "", "failed", "WhatsApp 131026: (#131026) Message Undeliverable (Message Undeliverable.)"
    )


@pytest.mark.parametrize("status_code", [400, 429])
def test_throughput_limits_are_retryable(whatsapp: WhatsAppGateway, status_code: int) -> None:
    with respx.mock() as api:
        api.post(WHATSAPP_URL).mock(return_value=httpx.Response(status_code, json=WHATSAPP_THROUGHPUT))
        with pytest.raises(GatewayUnavailable, match="130429"):
            whatsapp.send_template(TO, "released", "id", FIELDS)


def test_a_server_error_is_retryable(whatsapp: WhatsAppGateway) -> None:
    with respx.mock() as api:
        api.post(WHATSAPP_URL).mock(return_value=httpx.Response(502, text="Bad Gateway"))
        with pytest.raises(GatewayUnavailable, match="HTTP 502"):
            whatsapp.send_template(TO, "released", "id", FIELDS)


STATUSES = whatsapp_webhook(
    {
        "statuses": [
            {
                "id": "wamid.HBgNNjI4MTIzNDU2MDEwMRUCABEYEjQ2",
                "status": "delivered",
                "timestamp": "1756011662",
                "recipient_id": "6281234560101",
            },
            {
                "id": "wamid.OTHER",
                "status": "failed",
                "timestamp": "1756011663",
                "recipient_id": "6281234560102",
                "errors": [{"code": 131047, "title": "Re-engagement message"}],
            },
        ]
    }
)


def test_a_signed_status_webhook_verifies_and_parses(whatsapp: WhatsAppGateway) -> None:
    body = json.dumps(STATUSES).encode()
    headers = {"X-Hub-Signature-256": hub_signature(WHATSAPP_APP_SECRET, body)}
    assert whatsapp.verify_callback("https://ignored.example/", headers, body)
    assert whatsapp.parse_callback(headers, body).receipts == (
        Receipt("wamid.HBgNNjI4MTIzNDU2MDEwMRUCABEYEjQ2", "delivered", "delivered"),
        Receipt("wamid.OTHER", "failed", "failed", "WhatsApp 131047: Re-engagement message"),
    )


def test_a_forged_or_unsigned_webhook_does_not_verify(whatsapp: WhatsAppGateway) -> None:
    body = json.dumps(STATUSES).encode()
    assert not whatsapp.verify_callback("", {"X-Hub-Signature-256": hub_signature("wrong", body)}, body)
    assert not whatsapp.verify_callback("", {}, body)
    signature = hub_signature(WHATSAPP_APP_SECRET, body)
    assert not whatsapp.verify_callback("", {"X-Hub-Signature-256": signature}, body + b" ")


def test_replies_are_read_from_text_and_quick_reply_buttons(whatsapp: WhatsAppGateway) -> None:
    payload = whatsapp_webhook(
        {
            "contacts": [{"profile": {"name": "Siti"}, "wa_id": "6281234560101"}],
            "messages": [
                {
                    "from": "6281234560101",
                    "id": "wamid.A",
                    "timestamp": "1",
                    "type": "text",
                    "text": {"body": "STOP"},
                },
                {
                    "from": "6281234560102",
                    "id": "wamid.B",
                    "timestamp": "2",
                    "type": "button",
                    "button": {"text": "Berhenti", "payload": "stop"},
                },
                {"from": "6281234560103", "id": "wamid.C", "timestamp": "3", "type": "image", "image": {}},
            ],
        }
    )
    callback = whatsapp.parse_callback({}, json.dumps(payload).encode())
    assert callback.inbound == (
        InboundMessage("+6281234560101", "STOP", "whatsapp"),
        InboundMessage("+6281234560102", "Berhenti", "whatsapp"),
    )


def test_another_numbers_events_are_not_read(whatsapp: WhatsAppGateway) -> None:
    payload = whatsapp_webhook({"statuses": STATUSES["entry"][0]["changes"][0]["value"]["statuses"]})
    payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999" + PHONE_NUMBER_ID
    assert whatsapp.parse_callback({}, json.dumps(payload).encode()).receipts == ()


@pytest.mark.parametrize("body", [b"not json", b'{"object": "page"}', b'{"entry": [{"changes": 3}]}'])
def test_an_unreadable_webhook_is_a_payload_error(whatsapp: WhatsAppGateway, body: bytes) -> None:
    with pytest.raises(CallbackPayloadError):
        whatsapp.parse_callback({}, body)


def test_the_subscription_handshake_echoes_the_challenge_only_for_our_token(
    whatsapp: WhatsAppGateway,
) -> None:
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": "verify-token-rsud-blambangan",
        "hub.challenge": "1158201444",
    }
    assert whatsapp.answer_subscription(query) == "1158201444"
    assert whatsapp.answer_subscription(query | {"hub.verify_token": "guess"}) is None
    assert whatsapp.answer_subscription(query | {"hub.mode": "unsubscribe"}) is None
