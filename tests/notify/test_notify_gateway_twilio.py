"""Twilio's Messages API: the request sent, the answers parsed, callbacks verified (karrio's four per call)."""

from __future__ import annotations

import base64
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
import respx
from notify_support import (
    TO,
    TWILIO,
    TWILIO_CALLBACK_URL,
    TWILIO_CREATED,
    TWILIO_INVALID_TO,
    TWILIO_MESSAGES_URL,
    TWILIO_SID,
    TWILIO_TOKEN,
    TWILIO_TOO_MANY,
    TWILIO_UNSUBSCRIBED,
)

from dispatch.notify.gateways import (
    CallbackGateway,
    CallbackPayloadError,
    GatewayLoadError,
    GatewayUnavailable,
    InboundMessage,
    Receipt,
    SendOutcomeUnknown,
    SendResult,
    SmsGateway,
    load_gateway,
)
from dispatch.notify.gateways.twilio import TwilioGateway, twilio_signature

TEXT = "RSUD Blambangan: Obat Anda sudah diantar. Mohon konfirmasi penerimaan di https://x.id/t/abc"


@pytest.fixture
def twilio() -> TwilioGateway:
    return TwilioGateway(**TWILIO)


def test_twilio_is_a_gateway_with_callbacks(twilio: TwilioGateway) -> None:
    assert isinstance(twilio, SmsGateway)
    assert isinstance(twilio, CallbackGateway)


def test_send_posts_the_documented_form_with_basic_auth(twilio: TwilioGateway) -> None:
    with respx.mock(assert_all_called=True) as api:
        route = api.post(TWILIO_MESSAGES_URL).mock(return_value=httpx.Response(201, json=TWILIO_CREATED))
        result = twilio.send(TO, TEXT)
    request = route.calls.last.request
    expected_auth = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected_auth}"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert dict(parse_qsl(request.content.decode())) == {
        "To": TO,
        "Body": TEXT,
        "From": "RSUDBLAMBAN",
        "StatusCallback": TWILIO_CALLBACK_URL,
    }
    assert result == SendResult("SM1f0e8ae6ade43cb3c0ce4525424e404f", "queued")


def test_a_messaging_service_replaces_the_from_number() -> None:
    service = "MG" + "fedcba9876543210" * 2
    options = {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "messaging_service_sid": service}
    with respx.mock(assert_all_called=True) as api:
        route = api.post(TWILIO_MESSAGES_URL).mock(return_value=httpx.Response(201, json=TWILIO_CREATED))
        TwilioGateway(**options).send(TO, TEXT)
    assert dict(parse_qsl(route.calls.last.request.content.decode())) == {
        "To": TO,
        "Body": TEXT,
        "MessagingServiceSid": service,
    }


def test_an_invalid_number_is_a_refusal_in_twilios_words(twilio: TwilioGateway) -> None:
    with respx.mock() as api:
        api.post(TWILIO_MESSAGES_URL).mock(return_value=httpx.Response(400, json=TWILIO_INVALID_TO))
        result = twilio.send(TO, TEXT)
    assert result == SendResult(
        "", "failed", "Twilio 21211: The 'To' number +62812 is not a valid phone number."
    )


def test_an_unsubscribed_recipient_is_an_opt_out(twilio: TwilioGateway) -> None:
    with respx.mock() as api:
        api.post(TWILIO_MESSAGES_URL).mock(return_value=httpx.Response(400, json=TWILIO_UNSUBSCRIBED))
        result = twilio.send(TO, TEXT)
    assert result.status == "opted_out"
    assert "21610" in result.detail


def test_429_is_retryable_after_twilios_hint(twilio: TwilioGateway) -> None:
    with respx.mock() as api:
        api.post(TWILIO_MESSAGES_URL).mock(
            return_value=httpx.Response(429, json=TWILIO_TOO_MANY, headers={"Retry-After": "30"})
        )
        with pytest.raises(GatewayUnavailable, match="HTTP 429: Twilio 20429: Too Many Requests") as raised:
            twilio.send(TO, TEXT)
    assert raised.value.retry_after == 30.0


def test_5xx_is_retryable(twilio: TwilioGateway) -> None:
    with respx.mock() as api:
        api.post(TWILIO_MESSAGES_URL).mock(return_value=httpx.Response(503, text="upstream unavailable"))
        with pytest.raises(GatewayUnavailable, match="HTTP 503") as raised:
            twilio.send(TO, TEXT)
    assert raised.value.retry_after is None


def test_no_connection_is_retryable_and_names_no_secret(twilio: TwilioGateway) -> None:
    with respx.mock() as api:
        api.post(TWILIO_MESSAGES_URL).mock(side_effect=httpx.ConnectError("connection refused"))
        with pytest.raises(GatewayUnavailable, match=r"Twilio unreachable \(ConnectError\)") as raised:
            twilio.send(TO, TEXT)
    assert TWILIO_TOKEN not in str(raised.value)


def test_no_answer_after_sending_is_an_unknown_outcome(twilio: TwilioGateway) -> None:
    with respx.mock() as api:
        api.post(TWILIO_MESSAGES_URL).mock(side_effect=httpx.ReadTimeout("read timed out"))
        with pytest.raises(SendOutcomeUnknown, match="ReadTimeout"):
            twilio.send(TO, TEXT)


def test_a_201_without_a_sid_is_taken_as_queued_not_failed(twilio: TwilioGateway) -> None:
    with respx.mock() as api:
        api.post(TWILIO_MESSAGES_URL).mock(return_value=httpx.Response(201, text="<html>proxy</html>"))
        result = twilio.send(TO, TEXT)
    assert (result.status, result.provider_message_id) == ("queued", "")


def test_signature_matches_twilios_documented_example() -> None:
    """The example of Twilio's "Validating requests" page: URL with a query, five POST parameters."""
    params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ]
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio_signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


STATUS_CALLBACK = [
    ("SmsSid", "SM1f0e8ae6ade43cb3c0ce4525424e404f"),
    ("SmsStatus", "undelivered"),
    ("MessageStatus", "undelivered"),
    ("To", TO),
    ("MessageSid", "SM1f0e8ae6ade43cb3c0ce4525424e404f"),
    ("AccountSid", TWILIO_SID),
    ("From", "RSUDBLAMBAN"),
    ("ApiVersion", "2010-04-01"),
    ("ErrorCode", "30003"),
]


def signed(params: list[tuple[str, str]], token: str = TWILIO_TOKEN) -> tuple[dict[str, str], bytes]:
    body = urlencode(params).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(token, TWILIO_CALLBACK_URL, params),
    }
    return headers, body


def test_a_signed_status_callback_verifies_and_parses(twilio: TwilioGateway) -> None:
    headers, body = signed(STATUS_CALLBACK)
    assert twilio.verify_callback(TWILIO_CALLBACK_URL, headers, body)
    callback = twilio.parse_callback(headers, body)
    assert callback.receipts == (
        Receipt("SM1f0e8ae6ade43cb3c0ce4525424e404f", "failed", "undelivered", "Twilio error 30003"),
    )
    assert callback.inbound == ()


@pytest.mark.parametrize(
    "forge",
    [
        "another token",
        "another url",
        "changed body",
        "no header",
    ],
)
def test_a_forged_callback_does_not_verify(twilio: TwilioGateway, forge: str) -> None:
    headers, body = signed(STATUS_CALLBACK, "not-the-token" if forge == "another token" else TWILIO_TOKEN)
    url = TWILIO_CALLBACK_URL + "x" if forge == "another url" else TWILIO_CALLBACK_URL
    if forge == "changed body":
        body = body.replace(b"undelivered", b"delivered")
    if forge == "no header":
        del headers["X-Twilio-Signature"]
    assert not twilio.verify_callback(url, headers, body)


def test_an_inbound_reply_is_parsed_as_a_message_from_the_patient(twilio: TwilioGateway) -> None:
    params = [
        ("MessageSid", "SM9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"),
        ("SmsStatus", "received"),
        ("Body", "berhenti"),
        ("From", TO),
        ("To", "+14155550100"),
        ("AccountSid", TWILIO_SID),
        ("NumMedia", "0"),
    ]
    headers, body = signed(params)
    assert twilio.parse_callback(headers, body).inbound == (InboundMessage(TO, "berhenti", "sms"),)


@pytest.mark.parametrize(
    "params",
    [
        [("MessageStatus", "delivered")],
        [("MessageSid", "SM1"), ("MessageStatus", "teleported")],
        [("MessageSid", "SM1"), ("MessageStatus", "delivered"), ("AccountSid", "AC" + "f" * 32)],
    ],
)
def test_a_callback_twilio_would_not_send_is_a_payload_error(
    twilio: TwilioGateway, params: list[tuple[str, str]]
) -> None:
    headers, body = signed(params)
    with pytest.raises(CallbackPayloadError):
        twilio.parse_callback(headers, body)


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"auth_token": TWILIO_TOKEN, "from_number": "+6281100000000"}, "account_sid: Field required"),
        (TWILIO | {"account_sid": "AC123"}, "account_sid: String should match pattern"),
        (TWILIO | {"messaging_service_sid": "MG" + "0" * 32}, "exactly one of from_number"),
        (TWILIO | {"from_number": "Rumah Sakit Blambangan"}, "from_number"),
        (TWILIO | {"api_key": "x"}, "api_key: Extra inputs are not permitted"),
    ],
)
@pytest.mark.usefixtures("provider_gateways")
def test_settings_are_refused_without_echoing_the_token(options: dict[str, str], problem: str) -> None:
    with pytest.raises(
        GatewayLoadError, match=f"SMS gateway 'twilio' rejected its options: .*{problem}"
    ) as raised:
        load_gateway("twilio", options)
    assert TWILIO_TOKEN not in str(raised.value)
    assert TWILIO_TOKEN not in repr(TwilioGateway(**TWILIO).settings)
