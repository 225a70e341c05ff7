"""Local-partner adapter, partner talking: status webhooks verified (Standard Webhooks) and parsed, the published
schemas, and the Standard Webhooks test vectors run through our verify path."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import standardwebhooks.webhooks
from pydantic import ValidationError
from standardwebhooks import Webhook

import couriers.webhook
from couriers.base import CourierAdapter, CourierStatus, WebhookPayloadError
from couriers.webhook import PLUGIN
from couriers.webhook.mapper import schemas

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "examples"
VECTORS: dict[str, Any] = json.loads((EXAMPLES / "webhooks" / "vectors.json").read_text(encoding="utf-8"))
KNOWN = VECTORS["sign_known_answer"]
PACKAGE = Path(couriers.webhook.__file__).parent
STATUS_VALIDATOR = jsonschema.Draft202012Validator(
    json.loads((PACKAGE / "status.schema.json").read_text(encoding="utf-8")),
    format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
)

WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"koperasi-to-gancang-webhook-key!").decode()
JOB_ID = "GCG12A1-abc123"
SETTINGS: dict[str, Any] = {
    "url": "https://koperasi-ojek.example/gancang/jobs",
    "signing_secret": "whsec_" + base64.b64encode(b"gancang-to-koperasi-signing-key!").decode(),
    "webhook_secret": WEBHOOK_SECRET,
    "base_fee_idr": 8000,
    "per_km_idr": 2500,
    "service_areas": [{"name": "Banyuwangi kota", "lat": -8.2192, "lon": 114.3691, "radius_km": 15}],
    "max_distance_km": 12,
}
DRIVER = {"name": "Pak Slamet", "phone": "+6281234500001", "vehicle_plate": "P 4321 AB"}
DELIVERED = {
    "type": "job.delivered",
    "timestamp": "2026-11-29T15:40:12+07:00",
    "data": {
        "job_id": JOB_ID,
        "partner_job_id": "KOP-2026-0042",
        "driver": DRIVER,
        "handover_pin": "482913",
        "proof_photo_url": "https://koperasi-ojek.example/bukti/KOP-2026-0042.jpg",
        "receiver": {"name": "Dewi", "relation": "anak"},
    },
}


def adapter(**overrides: Any) -> CourierAdapter:
    # No transport: verifying and parsing must not need one.
    return PLUGIN.build(PLUGIN.settings_model.model_validate({**SETTINGS, **overrides}), None)


def signed(
    payload: Any,
    *,
    secret: str = WEBHOOK_SECRET,
    msg_id: str = "msg_kop_000101",
    at: datetime | None = None,
) -> tuple[dict[str, str], bytes]:
    """Headers and body as a partner using the reference library sends them (pretty-printed, on purpose)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload, indent=2).encode()
    moment = at or datetime.now(UTC)
    headers = {
        "Webhook-Id": msg_id,
        "Webhook-Timestamp": str(int(moment.timestamp())),
        "Webhook-Signature": Webhook(secret).sign(msg_id, moment, body.decode()),
        "Content-Type": "application/json",
    }
    return headers, body


@pytest.fixture
def freeze_verifier(monkeypatch) -> Callable[[int], None]:
    """Pin the reference library's clock so the fixed-timestamp vector exercises the signature check itself."""

    def freeze(unix_seconds: int) -> None:
        class Frozen(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> Frozen:  # type: ignore[override]
                return cls.fromtimestamp(unix_seconds, tz=tz)

        monkeypatch.setattr(standardwebhooks.webhooks, "datetime", Frozen)

    return freeze


# --- verify and parse ------------------------------------------------------------------------------------------


def test_a_signed_delivery_verifies_and_carries_the_handover_evidence():
    headers, body = signed(DELIVERED)
    partner = adapter()

    assert partner.verify_webhook(headers, body) is True
    event = partner.parse_webhook(headers, body)

    STATUS_VALIDATOR.validate(json.loads(body))
    assert event.courier == "webhook"
    assert event.status is CourierStatus.DELIVERED
    assert event.provider_status == "job.delivered"
    assert event.provider_order_id == event.reference == JOB_ID
    assert event.event_id == f"{JOB_ID}:msg_kop_000101"
    assert event.occurred_at == datetime(2026, 11, 29, 8, 40, 12, tzinfo=UTC)
    assert event.handover_pin == "482913"
    assert event.proof_of_delivery_url == "https://koperasi-ojek.example/bukti/KOP-2026-0042.jpg"
    assert event.receiver_name == "Dewi (anak)"
    assert (event.driver_name, event.driver_phone, event.vehicle_plate) == (
        "Pak Slamet",
        "+6281234500001",
        "P 4321 AB",
    )
    assert event.raw == DELIVERED


@pytest.mark.parametrize(
    ("event_type", "data", "status"),
    [
        ("job.accepted", {"driver": DRIVER}, CourierStatus.DRIVER_ASSIGNED),
        ("job.picked_up", {}, CourierStatus.PICKED_UP),
        (
            "job.arriving",
            {"tracking_url": "https://koperasi-ojek.example/lacak/1"},
            CourierStatus.EN_ROUTE_DROPOFF,
        ),
        ("job.delivered", {"handover_pin": "1234"}, CourierStatus.DELIVERED),
        ("job.failed", {"reason": "Pasien tidak di rumah, telepon tidak diangkat"}, CourierStatus.FAILED),
        ("job.declined", {"reason": "Tidak ada driver dengan kotak pendingin"}, CourierStatus.NO_DRIVER),
        ("job.no_driver", {}, CourierStatus.NO_DRIVER),
        ("job.cancelled", {"reason": "Motor mogok"}, CourierStatus.CANCELLED),
    ],
)
def test_every_status_message_maps_to_a_canonical_status(event_type, data, status):
    payload = {"type": event_type, "timestamp": "2026-11-29T08:00:00Z", "data": {"job_id": JOB_ID, **data}}
    headers, body = signed(payload, msg_id=f"msg_{event_type.replace('.', '_')}")
    partner = adapter()

    assert partner.verify_webhook(headers, body) is True
    event = partner.parse_webhook(headers, body)

    STATUS_VALIDATOR.validate(payload)
    assert event.status is status
    assert event.provider_status == event_type
    assert event.handover_pin == data.get("handover_pin")


def test_the_partner_webhook_id_is_kept_across_its_retries():
    first_headers, first_body = signed(DELIVERED, at=datetime.now(UTC) - timedelta(minutes=2))
    retry_headers, retry_body = signed(DELIVERED)
    partner = adapter()

    assert partner.verify_webhook(first_headers, first_body) and partner.verify_webhook(
        retry_headers, retry_body
    )
    assert partner.parse_webhook(first_headers, first_body).event_id == (
        partner.parse_webhook(retry_headers, retry_body).event_id
    )


def _tampered() -> tuple[dict[str, str], bytes]:
    headers, body = signed(DELIVERED)
    return headers, body.replace(b"482913", b"000000")


def _wrong_secret() -> tuple[dict[str, str], bytes]:
    return signed(DELIVERED, secret="whsec_" + base64.b64encode(b"someone-else-entirely-32-bytes!!").decode())


def _without(header: str) -> Callable[[], tuple[dict[str, str], bytes]]:
    def make() -> tuple[dict[str, str], bytes]:
        headers, body = signed(DELIVERED)
        del headers[header]
        return headers, body

    return make


def _with(header: str, value: str) -> Callable[[], tuple[dict[str, str], bytes]]:
    def make() -> tuple[dict[str, str], bytes]:
        headers, body = signed(DELIVERED)
        return {**headers, header: value}, body

    return make


@pytest.mark.parametrize(
    "make",
    [
        _tampered,
        _wrong_secret,
        lambda: signed(DELIVERED, at=datetime.now(UTC) - timedelta(minutes=5, seconds=2)),
        lambda: signed(DELIVERED, at=datetime.now(UTC) + timedelta(minutes=5, seconds=2)),
        _without("Webhook-Id"),
        _without("Webhook-Timestamp"),
        _without("Webhook-Signature"),
        _with("Webhook-Signature", "garbage"),
        _with("Webhook-Signature", "v1,not base64!"),
        _with("Webhook-Signature", "v1a,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="),
        _with("Webhook-Timestamp", "hello"),
        # A dotted id could shift the "{id}.{timestamp}.{body}" boundaries; we also build event ids from it.
        lambda: signed(DELIVERED, msg_id="msg.1"),
        lambda: (signed(DELIVERED)[0], b"\xff\xfe not utf-8"),
    ],
    ids=[
        "tampered-body",
        "wrong-secret",
        "stale",
        "too-new",
        "no-id",
        "no-timestamp",
        "no-signature",
        "signature-without-version",
        "signature-not-base64",
        "asymmetric-only",
        "timestamp-not-a-number",
        "dotted-id",
        "body-not-utf8",
    ],
)
def test_a_webhook_that_does_not_prove_the_partners_secret_is_refused(make):
    headers, body = make()

    assert adapter().verify_webhook(headers, body) is False


def test_no_configured_secret_refuses_every_webhook():
    headers, body = signed(DELIVERED)

    assert adapter(webhook_secret=None).verify_webhook(headers, body) is False


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({**DELIVERED, "data": {"job_id": JOB_ID}}, "handover_pin: Field required"),
        ({**DELIVERED, "data": {**DELIVERED["data"], "handover_pin": "48 29 13"}}, "handover_pin"),
        ({**DELIVERED, "data": {**DELIVERED["data"], "handoverPin": "482913"}}, "handoverPin: Extra inputs"),
        (
            {**DELIVERED, "data": {**DELIVERED["data"], "proof_photo_url": "http://x.example/a.jpg"}},
            "proof_photo_url",
        ),
        (
            {**DELIVERED, "timestamp": "2026-11-29T15:40:12"},
            "timestamp: Value error, timestamp must be RFC 3339",
        ),
        ({**DELIVERED, "timestamp": "2026-11-29 15:40:12Z"}, "timestamp"),
        ({**DELIVERED, "timestamp": 1795997952}, "timestamp"),
        ({**DELIVERED, "type": "job.teleported"}, "does not match any of the expected tags"),
        ({"type": "job.accepted", "timestamp": "2026-11-29T08:00:00Z", "data": {"job_id": JOB_ID}}, "driver"),
        (
            {
                "type": "job.accepted",
                "timestamp": "2026-11-29T08:00:00Z",
                "data": {"job_id": JOB_ID, "driver": {**DRIVER, "phone": "0812-3450-0001"}},
            },
            "driver.phone",
        ),
        ({"type": "job.failed", "timestamp": "2026-11-29T08:00:00Z", "data": {"job_id": JOB_ID}}, "reason"),
        ({**DELIVERED, "data": {**DELIVERED["data"], "job_id": "GCG12.A1"}}, "job_id"),
        ([DELIVERED], "(body): Input should be an object"),
    ],
)
def test_a_body_outside_the_schema_is_a_payload_error_and_the_schema_agrees(payload, problem):
    headers, body = signed(payload)

    assert adapter().verify_webhook(headers, body) is True
    with pytest.raises(WebhookPayloadError, match="does not match status.schema.json") as refused:
        adapter().parse_webhook(headers, body)

    assert problem in str(refused.value)
    assert "482913" not in str(refused.value)
    assert not STATUS_VALIDATOR.is_valid(payload)


def test_a_body_that_is_not_json_is_a_payload_error():
    headers, body = signed(b"status=delivered&pin=1234")

    with pytest.raises(WebhookPayloadError, match="Invalid JSON"):
        adapter().parse_webhook(headers, body)


def test_a_stored_webhook_without_its_id_cannot_be_parsed():
    headers, body = signed(DELIVERED)
    del headers["Webhook-Id"]

    with pytest.raises(WebhookPayloadError, match="no webhook-id"):
        adapter().parse_webhook(headers, body)


def test_parsing_does_not_recheck_the_time_window():
    """The inbox parses archived webhooks later, in a worker; only verification is bound to the tolerance."""
    headers, body = signed(DELIVERED, at=datetime.now(UTC) - timedelta(hours=3))

    assert adapter().parse_webhook(headers, body).status is CourierStatus.DELIVERED


# --- published schemas -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["job.schema.json", "status.schema.json"])
def test_published_schemas_are_the_models_schemas(name):
    published = json.loads((PACKAGE / name).read_text(encoding="utf-8"))

    jsonschema.Draft202012Validator.check_schema(published)
    assert published == schemas()[name], "regenerate with: .venv/bin/python -m couriers.webhook"


# --- Standard Webhooks test vectors through our verify path ------------------------------------------------------


def test_known_answer_vector_verifies(freeze_verifier):
    freeze_verifier(KNOWN["timestamp"] + 10)
    headers = {
        "webhook-id": KNOWN["msg_id"],
        "webhook-timestamp": str(KNOWN["timestamp"]),
        "webhook-signature": KNOWN["expected"],
    }

    assert adapter(webhook_secret=KNOWN["key"]).verify_webhook(headers, KNOWN["payload"].encode()) is True


@pytest.mark.parametrize("entry", ["invalid_signature", "invalid_signature_other_libs"])
def test_invalid_signature_vectors_are_refused(freeze_verifier, entry):
    freeze_verifier(KNOWN["timestamp"] + 10)
    headers = {
        "webhook-id": KNOWN["msg_id"],
        "webhook-timestamp": str(KNOWN["timestamp"]),
        "webhook-signature": VECTORS[entry]["webhook-signature"],
    }

    assert adapter(webhook_secret=KNOWN["key"]).verify_webhook(headers, KNOWN["payload"].encode()) is False


def test_known_answer_vector_is_refused_at_todays_date():
    headers = {
        "webhook-id": KNOWN["msg_id"],
        "webhook-timestamp": str(KNOWN["timestamp"]),
        "webhook-signature": KNOWN["expected"],
    }

    assert adapter(webhook_secret=KNOWN["key"]).verify_webhook(headers, KNOWN["payload"].encode()) is False


def test_multi_signature_header_verifies_when_any_v1_entry_matches():
    headers, body = signed(DELIVERED)
    decoys = [
        entry
        for entry in VECTORS["multi_signature_header"]["signatures_joined_by_single_space"]
        if "<" not in entry
    ]
    headers["Webhook-Signature"] = " ".join([*decoys[:2], headers["Webhook-Signature"], *decoys[2:]])

    assert adapter().verify_webhook(headers, body) is True


@pytest.mark.parametrize("case", VECTORS["unpadded_secrets"]["cases"], ids=lambda case: case["comment"])
def test_unpadded_secret_vectors_verify(case):
    verifier = case["verifier_secret"]
    verifier = verifier if verifier.startswith("whsec_") else "whsec_" + verifier
    headers, body = signed(DELIVERED, secret=case["signer_secret"])

    assert adapter(webhook_secret=verifier).verify_webhook(headers, body) is True


@pytest.mark.parametrize("secret", ["whsec_", ""])
def test_empty_secret_vectors_refuse_to_load(secret):
    with pytest.raises(ValidationError):
        PLUGIN.settings_model.model_validate({**SETTINGS, "webhook_secret": secret})


@pytest.mark.parametrize("timestamp", VECTORS["invalid_timestamps_on_sign"]["timestamps"])
def test_invalid_timestamp_vectors_are_refused(timestamp):
    headers, body = signed(DELIVERED)

    assert adapter().verify_webhook({**headers, "Webhook-Timestamp": timestamp}, body) is False


def test_a_fractional_timestamp_is_refused_though_the_reference_library_accepts_it():
    """The library floors "1795997952.0" and accepts it; the spec's timestamp is integer seconds."""
    headers, body = signed(DELIVERED)
    headers["Webhook-Timestamp"] += ".0"

    Webhook(WEBHOOK_SECRET).verify(body, headers, json_parse=False)
    assert adapter().verify_webhook(headers, body) is False
