"""Signed event webhooks: Standard Webhooks vectors, round trips through the reference verifier, send_event."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import respx
import standardwebhooks.webhooks
from pydantic import ValidationError
from standardwebhooks import Webhook
from standardwebhooks.webhooks import EmptyWebhookSecretError, WebhookVerificationError

import hospital_adapter.sinks
from hospital_adapter.sinks.errors import SinkError
from hospital_adapter.sinks.event_webhooks import (
    EventWebhookSettings,
    build_event,
    retry_delay,
    retry_delays,
    send_event,
    sign_payload,
)

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "examples"
VECTORS: dict[str, Any] = json.loads((EXAMPLES / "webhooks" / "vectors.json").read_text(encoding="utf-8"))
KNOWN = VECTORS["sign_known_answer"]
SCHEMA = json.loads(
    (Path(hospital_adapter.sinks.__file__).parent / "event_webhook.schema.json").read_text(encoding="utf-8")
)

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
URL = "https://simrs.rsud-blambangan.example/gancang/events"
WIB = timezone(timedelta(hours=7))
EVENT_AT = datetime(2026, 11, 29, 15, 15, 0, tzinfo=WIB)  # 08:15 UTC
SENT_AT = datetime(2026, 11, 29, 8, 16, 30, tzinfo=UTC)
DATA = {"order_id": "ord_01JD", "prescription_number": "123456788", "status": "delivered", "receiver": "Siti"}


@pytest.fixture
def freeze_verifier(monkeypatch) -> Callable[[datetime], None]:
    """Pin the reference library's clock so fixed-timestamp vectors exercise the signature check itself."""

    def freeze(now: datetime) -> None:
        class Frozen(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> Frozen:  # type: ignore[override]
                return cls.fromtimestamp(now.timestamp(), tz=tz)

        monkeypatch.setattr(standardwebhooks.webhooks, "datetime", Frozen)

    return freeze


def known_headers(signature: str) -> dict[str, str]:
    return {
        "webhook-id": KNOWN["msg_id"],
        "webhook-timestamp": str(KNOWN["timestamp"]),
        "webhook-signature": signature,
    }


KNOWN_TIME = datetime.fromtimestamp(KNOWN["timestamp"], tz=UTC)


# --- Standard Webhooks vectors -------------------------------------------------------------------------------


def test_known_answer_vector_reproduces_exactly():
    payload = KNOWN["payload"].encode()  # exact bytes, including the space after the colon

    assert sign_payload(KNOWN["key"], KNOWN["msg_id"], KNOWN["timestamp"], payload) == KNOWN["expected"]
    assert sign_payload(KNOWN["key"], KNOWN["msg_id"], KNOWN_TIME, payload) == KNOWN["expected"]
    # the same instant given in WIB must sign identically (the library would misread a non-UTC tzinfo)
    assert (
        sign_payload(KNOWN["key"], KNOWN["msg_id"], KNOWN_TIME.astimezone(WIB), payload) == KNOWN["expected"]
    )


def test_known_answer_verifies_with_reference_library(freeze_verifier):
    freeze_verifier(KNOWN_TIME)
    assert Webhook(KNOWN["key"]).verify(KNOWN["payload"], known_headers(KNOWN["expected"])) == {
        "test": 2432232314
    }


@pytest.mark.parametrize("name", ["invalid_signature", "invalid_signature_other_libs"])
def test_negative_signature_vectors_fail(freeze_verifier, name):
    freeze_verifier(KNOWN_TIME)
    # the reference library raises binascii.Error (a ValueError) for the unpadded variant; both are rejections
    with pytest.raises((WebhookVerificationError, ValueError)):
        Webhook(KNOWN["key"]).verify(KNOWN["payload"], known_headers(VECTORS[name]["webhook-signature"]))


def test_reserialized_payload_fails(freeze_verifier):
    freeze_verifier(KNOWN_TIME)
    compact = json.dumps(json.loads(KNOWN["payload"]), separators=(",", ":"))
    with pytest.raises(WebhookVerificationError):
        Webhook(KNOWN["key"]).verify(compact, known_headers(KNOWN["expected"]))


def test_multi_signature_header_accepts_any_v1(freeze_verifier):
    freeze_verifier(KNOWN_TIME)
    entries = [
        KNOWN["expected"] if entry.startswith("<") else entry
        for entry in VECTORS["multi_signature_header"]["signatures_joined_by_single_space"]
    ]
    assert Webhook(KNOWN["key"]).verify(KNOWN["payload"], known_headers(" ".join(entries))) == {
        "test": 2432232314
    }


@pytest.mark.parametrize("case", VECTORS["unpadded_secrets"]["cases"], ids=lambda case: case["comment"])
def test_unpadded_secrets_sign_alike(case):
    verifier = case["verifier_secret"]
    verifier = verifier if verifier.startswith("whsec_") else f"whsec_{verifier}"
    ours = sign_payload(verifier, KNOWN["msg_id"], KNOWN["timestamp"], KNOWN["payload"].encode())
    assert ours == Webhook(case["signer_secret"]).sign(KNOWN["msg_id"], KNOWN_TIME, KNOWN["payload"])
    assert EventWebhookSettings(url=URL, secret=verifier)


@pytest.mark.parametrize("secret", ["", "whsec_"])
def test_empty_secrets_rejected(secret):
    with pytest.raises(ValidationError):
        EventWebhookSettings(url=URL, secret=secret)
    with pytest.raises(EmptyWebhookSecretError):
        sign_payload(secret, KNOWN["msg_id"], KNOWN["timestamp"], b"{}")


@pytest.mark.parametrize("timestamp", ["161426533.0", "invalid timestamp", -161426533, 161426533.0, True])
def test_invalid_timestamps_rejected_on_sign(timestamp):
    with pytest.raises(ValueError, match="invalid webhook timestamp"):
        sign_payload(KNOWN["key"], KNOWN["msg_id"], timestamp, b"{}")


# --- build_event -----------------------------------------------------------------------------------------------


def test_build_event_headers_body_and_reference_verification(freeze_verifier):
    body, headers = build_event(
        "order.delivered", DATA, msg_id="msg_ord01JD_delivered", at=EVENT_AT, secret=SECRET, sent_at=SENT_AT
    )

    assert body == (
        b'{"type":"order.delivered","timestamp":"2026-11-29T08:15:00Z","data":{"order_id":"ord_01JD",'
        b'"prescription_number":"123456788","status":"delivered","receiver":"Siti"}}'
    )
    assert headers == {
        "content-type": "application/json",
        "user-agent": "Gancang-Webhooks/1.0",
        "webhook-id": "msg_ord01JD_delivered",
        "webhook-timestamp": str(int(SENT_AT.timestamp())),
        "webhook-signature": sign_payload(SECRET, "msg_ord01JD_delivered", int(SENT_AT.timestamp()), body),
    }
    freeze_verifier(SENT_AT + timedelta(seconds=3))
    assert Webhook(SECRET).verify(body, headers) == json.loads(body)


def test_build_event_is_pure_and_defaults_attempt_time_to_event_time():
    first = build_event("order.failed", DATA, msg_id="msg_1", at=EVENT_AT, secret=SECRET)
    again = build_event("order.failed", DATA, msg_id="msg_1", at=EVENT_AT, secret=SECRET)
    assert first == again
    assert first[1]["webhook-timestamp"] == str(int(EVENT_AT.timestamp()))


def test_non_ascii_data_is_signed_as_sent(freeze_verifier):
    body, headers = build_event(
        "order.returned",
        {"alasan": "Alamat tidak ditemukan — RT 03"},
        msg_id="msg_2",
        at=SENT_AT,
        secret=SECRET,
    )
    freeze_verifier(SENT_AT)
    assert Webhook(SECRET).verify(body, headers)["data"] == {"alasan": "Alamat tidak ditemukan — RT 03"}


@pytest.mark.parametrize(
    ("offset", "message"),
    [(-timedelta(minutes=5, seconds=1), "too old"), (timedelta(minutes=5, seconds=1), "too new")],
)
def test_verifier_rejects_stale_and_future_attempts(freeze_verifier, offset, message):
    body, headers = build_event(
        "order.delivered", DATA, msg_id="msg_3", at=EVENT_AT, secret=SECRET, sent_at=SENT_AT + offset
    )
    freeze_verifier(SENT_AT)
    with pytest.raises(WebhookVerificationError, match=message):
        Webhook(SECRET).verify(body, headers)


@pytest.mark.parametrize(
    "change", ["webhook-id", "webhook-timestamp", "webhook-signature", "hello", "tamper"]
)
def test_verifier_rejects_broken_requests(freeze_verifier, change):
    body, headers = build_event("order.delivered", DATA, msg_id="msg_4", at=SENT_AT, secret=SECRET)
    if change == "hello":
        headers["webhook-timestamp"] = "hello"
    elif change == "tamper":
        body = body.replace(b"delivered", b"cancelled")
    else:
        del headers[change]
    freeze_verifier(SENT_AT)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body, headers)


def test_wrong_secret_fails(freeze_verifier):
    body, headers = build_event("order.delivered", DATA, msg_id="msg_5", at=SENT_AT, secret=SECRET)
    freeze_verifier(SENT_AT)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=").verify(body, headers)


@pytest.mark.parametrize(
    ("event_type", "msg_id", "at", "error"),
    [
        ("Order Delivered", "msg_6", SENT_AT, "event type"),
        ("delivered", "msg_6", SENT_AT, "event type"),
        ("order.delivered", "msg.6", SENT_AT, "webhook id"),
        ("order.delivered", "", SENT_AT, "webhook id"),
        ("order.delivered", "msg_6", datetime(2026, 11, 29, 8, 0), "timezone-aware"),
    ],
)
def test_build_event_rejects_bad_input(event_type, msg_id, at, error):
    with pytest.raises(ValueError, match=error):
        build_event(event_type, DATA, msg_id=msg_id, at=at, secret=SECRET)


def test_payloads_match_published_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    validator = jsonschema.Draft202012Validator(
        SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    for event_type in ("order.delivered", "order.failed", "order.returned", "order.cancelled"):
        body, _ = build_event(event_type, DATA, msg_id="msg_7", at=EVENT_AT, secret=SECRET)
        validator.validate(json.loads(body))
    bad = {"type": "order.delivered", "timestamp": "2026-11-29T15:15:00+07:00", "data": {}, "extra": 1}
    assert len(list(validator.iter_errors(bad))) == 2


# --- send_event ------------------------------------------------------------------------------------------------


@pytest.fixture
def endpoint() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=True, using=None) as router:
        yield router


@pytest.fixture
def settings() -> EventWebhookSettings:
    return EventWebhookSettings(url=URL, secret=SECRET)


def send(settings: EventWebhookSettings, endpoint: respx.MockRouter, **kwargs: Any) -> None:
    send_event(
        settings,
        "order.delivered",
        DATA,
        "msg_ord01JD_delivered",
        EVENT_AT,
        httpx.MockTransport(endpoint.handler),
        **kwargs,
    )


def test_send_event_200_sends_exact_signed_request(settings, endpoint, freeze_verifier):
    route = endpoint.post(URL).respond(200)

    send(settings, endpoint, sent_at=SENT_AT)

    request = route.calls.last.request
    body, headers = build_event(
        "order.delivered", DATA, msg_id="msg_ord01JD_delivered", at=EVENT_AT, secret=SECRET, sent_at=SENT_AT
    )
    assert request.content == body
    for name, value in headers.items():
        assert request.headers[name] == value
    freeze_verifier(SENT_AT)
    assert Webhook(SECRET).verify(request.content, dict(request.headers))["type"] == "order.delivered"


def test_send_event_signs_each_attempt_with_now(settings, endpoint):
    route = endpoint.post(URL).respond(204)
    before = int(datetime.now(UTC).timestamp())

    send(settings, endpoint)

    sent = int(route.calls.last.request.headers["webhook-timestamp"])
    assert before <= sent <= int(datetime.now(UTC).timestamp())
    assert json.loads(route.calls.last.request.content)["timestamp"] == "2026-11-29T08:15:00Z"


@pytest.mark.parametrize(
    ("response", "retryable"),
    [
        (httpx.Response(500, text="Internal Server Error"), True),
        (httpx.Response(502), True),
        (httpx.Response(429, headers={"retry-after": "120"}), True),
        (httpx.Response(408), True),
        (httpx.Response(410, text="endpoint removed"), False),
        (httpx.Response(400, json={"error": "bad"}), False),
        (httpx.Response(401), False),
        (httpx.Response(301, headers={"location": "https://elsewhere.example/"}), False),
    ],
)
def test_send_event_error_statuses(settings, endpoint, response, retryable):
    endpoint.post(URL).mock(return_value=response)

    with pytest.raises(SinkError) as caught:
        send(settings, endpoint, sent_at=SENT_AT)

    assert (caught.value.status_code, caught.value.retryable) == (response.status_code, retryable)
    if response.status_code == 429:
        assert caught.value.retry_after == 120.0
    if response.status_code == 410:
        assert caught.value.messages == ["endpoint gone, disable it: endpoint removed"]
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    "exception", [httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), httpx.RemoteProtocolError("eof")]
)
def test_send_event_transport_failures_are_retryable(settings, endpoint, exception):
    endpoint.post(URL).mock(side_effect=exception)

    with pytest.raises(SinkError) as caught:
        send(settings, endpoint)

    assert (caught.value.status_code, caught.value.retryable) == (None, True)


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("http://simrs.example/events", SECRET),
        ("ftp://simrs.example/events", SECRET),
        (URL, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        (URL, "whsec_not base64!!"),
    ],
)
def test_settings_reject_plain_http_and_bad_secrets(url, secret):
    with pytest.raises(ValidationError) as caught:
        EventWebhookSettings(url=url, secret=secret)
    assert "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" not in str(caught.value)


def test_settings_allow_http_on_localhost_for_development():
    assert EventWebhookSettings(url="http://127.0.0.1:8080/hook", secret=SECRET).url.startswith("http://")


# --- retry schedule ---------------------------------------------------------------------------------------------


def test_retry_schedule_is_the_standard_webhooks_example():
    delays = retry_delays()
    assert [int(d.total_seconds()) for d in delays] == [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]
    assert sum(delays, timedelta()) == timedelta(hours=75, minutes=35, seconds=5)
    assert list(delays) == sorted(delays)


def test_retry_delay_jitter_bounds_cap_and_exhaustion():
    assert retry_delay(1, rand=lambda: 0.0) == timedelta(seconds=4.5)
    assert retry_delay(1, rand=lambda: 1.0) == timedelta(seconds=5.5)
    assert retry_delay(4, rand=lambda: 0.5) == timedelta(hours=2)
    assert retry_delay(9, rand=lambda: 1.0) == timedelta(hours=24)  # capped
    assert retry_delay(10) is None
    with pytest.raises(ValueError, match="from 1"):
        retry_delay(0)
