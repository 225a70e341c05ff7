"""Inbound webhook bodies (couriers, the partner protocol, message gateways) under damaged input: an event, or
the parser's documented refusal (``WebhookPayloadError``, ``WebhookIgnored``, ``CallbackPayloadError``) that
the endpoint answers as problem+json; never another exception. Also the SMS templates' 160-septet promise."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import urlencode

from fuzz_support import awkward_text, json_bytes, load_json, mutated_json
from hypothesis import given
from hypothesis import strategies as st

from couriers.base import CourierEvent, WebhookIgnored, WebhookPayloadError
from couriers.gosend.mapper import parse_webhook as gosend_webhook
from couriers.grabexpress.mapper import parse_webhook as grab_webhook
from couriers.lalamove.mapper import parse_webhook as lalamove_webhook
from couriers.webhook.mapper import parse_webhook as partner_webhook
from dispatch.notify.gateways import Callback, CallbackPayloadError
from dispatch.notify.gateways.twilio import TwilioGateway
from dispatch.notify.gateways.whatsapp import WhatsAppGateway
from dispatch.notify.gsm7 import GSM7_SINGLE_SEGMENT, gsm7_length, is_gsm7
from dispatch.notify.templates import SMS_KINDS, SMS_LANGUAGES, render_sms

# Grab publishes no captured webhook; this is couriers.md 2.6's field list, as in the mapper's own tests.
GRAB = {
    "deliveryID": "IN-2-0BTPB1C1G8IL6W72ZHK8",
    "merchantOrderID": "RX-2025-000123",
    "timestamp": 1743490800,
    "status": "IN_DELIVERY",
    "driver": {"name": "Agus Wibowo", "phone": "6281298765432", "licensePlate": "P 4321 AB"},
}
PARTNER = {
    "type": "job.delivered",
    "timestamp": "2026-11-29T15:40:12+07:00",
    "data": {
        "job_id": "GCG12A1-abc123",
        "partner_job_id": "KOP-2026-0042",
        "driver": {"name": "Pak Slamet", "phone": "+6281234500001", "vehicle_plate": "P 4321 AB"},
        "handover_pin": "482913",
        "receiver": {"name": "Dewi", "relation": "anak"},
    },
}
COURIERS: list[tuple[Callable[[bytes], CourierEvent], st.SearchStrategy[bytes]]] = [
    (
        gosend_webhook,
        json_bytes(mutated_json(load_json("couriers", "gosend_webhook_booking_event_no_driver.json"))),
    ),
    (grab_webhook, json_bytes(mutated_json(GRAB))),
    (
        lalamove_webhook,
        json_bytes(
            st.sampled_from(
                [
                    load_json("couriers", "lalamove_webhook_signed_envelope_constructed.json"),
                    load_json("couriers", "lalamove_webhook_driver_assigned_portal_copy.json"),
                ]
            ).flatmap(mutated_json)
        ),
    ),
    (lambda body: partner_webhook({"webhook-id": "msg_1"}, body), json_bytes(mutated_json(PARTNER))),
]
courier_cases = st.sampled_from(COURIERS).flatmap(
    lambda case: st.tuples(st.just(case[0]), st.one_of(case[1], st.binary(max_size=100)))
)


@given(courier_cases)
def test_courier_webhooks_give_an_event_or_a_documented_refusal(
    case: tuple[Callable[[bytes], CourierEvent], bytes],
) -> None:
    parse, body = case
    try:
        event = parse(body)
    except (WebhookPayloadError, WebhookIgnored) as exc:
        reason = str(exc)
        assert reason, "the refusal says why"
        return
    assert isinstance(event, CourierEvent) and event.provider_order_id and event.event_id
    assert event.occurred_at.tzinfo is not None, "events are ordered by an aware time"


TWILIO = TwilioGateway(
    account_sid="AC" + "0123456789abcdef" * 2,
    auth_token="twilio-auth-token-0123456789",
    from_number="RSUDBLAMBAN",
    status_callback="http://127.0.0.1:8000/webhooks/messages/twilio",
)
WHATSAPP = WhatsAppGateway(
    phone_number_id="106540352242922",
    access_token="EAAG-access-token",
    app_secret="whatsapp-app-secret",
    verify_token="verify-token",
    templates={"released": {"name": "gancang_obat_disiapkan", "parameters": ["hospital", "pin", "link"]}},
)
TWILIO_REPORT = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered", "To": "+6281234560101"}
WHATSAPP_REPORT = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "102290129340398",
            "changes": [
                {
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {"phone_number_id": "106540352242922"},
                        "statuses": [{"id": "wamid.X", "status": "delivered", "timestamp": "1743490800"}],
                        "messages": [{"from": "6281234560101", "type": "text", "text": {"body": "STOP"}}],
                    },
                }
            ],
        }
    ],
}
twilio_bodies = st.one_of(
    mutated_json(TWILIO_REPORT).map(
        lambda params: urlencode(
            {str(k): str(v) for k, v in params.items()}, encoding="utf-8", errors="surrogatepass"
        ).encode()
    ),
    st.dictionaries(st.sampled_from(list(TWILIO_REPORT) + ["Body", "From", "ErrorCode"]), awkward_text).map(
        lambda params: urlencode(params, encoding="utf-8", errors="surrogatepass").encode()
    ),
    st.binary(max_size=100),
)


@given(
    st.one_of(
        st.tuples(st.just(TWILIO), twilio_bodies),
        st.tuples(st.just(WHATSAPP), json_bytes(mutated_json(WHATSAPP_REPORT))),
    )
)
def test_message_callbacks_give_reports_or_a_documented_refusal(case: tuple[object, bytes]) -> None:
    gateway, body = case
    try:
        callback = gateway.parse_callback({}, body)  # type: ignore[attr-defined]
    except CallbackPayloadError as exc:
        reason = str(exc)
        assert reason, "the refusal says why"
        return
    assert isinstance(callback, Callback)
    json.dumps([str(receipt) for receipt in callback.receipts])


links = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789/:.-_?=&%"), min_size=1, max_size=80)


@given(
    st.sampled_from(SMS_KINDS),
    st.sampled_from(SMS_LANGUAGES),
    awkward_text,
    links,
    st.none() | awkward_text,
    st.none() | awkward_text,
    st.none() | st.integers(0, 10_000),
    st.none() | st.from_regex(r"\d{4,6}", fullmatch=True),
)
def test_sms_is_one_gsm7_segment_or_refused(
    kind: str,
    lang: str,
    hospital: str,
    link: str,
    courier: str | None,
    plate: str | None,
    eta: int | None,
    pin: str | None,
) -> None:
    try:
        text = render_sms(
            kind,
            lang=lang,
            hospital_name=hospital,
            link=link,
            courier_name=courier,
            plate=plate,
            eta_minutes=eta,
            pin=pin,
        )
    except ValueError:
        # Only a link too long to fit, or a PIN of digits GSM-7 cannot send ("٠١٢٣" matches \d), is refused.
        assert len(link) > 40 or (pin is not None and not pin.isascii())
        return
    assert is_gsm7(text) and gsm7_length(text) <= GSM7_SINGLE_SEGMENT
    assert link in text, "the tracking link is never cut"
