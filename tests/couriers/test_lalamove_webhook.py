"""Lalamove webhooks through the adapter: signature in the body (failing closed), the recorded events, and the
event times the dispatcher orders out-of-order deliveries by."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from couriers.base import CourierStatus, WebhookIgnored, WebhookPayloadError
from couriers.lalamove import LalamoveAdapter, LalamoveSettings

API_KEY = "pk_test_gancang"
SECRET = "sk_test_example_secret"
WEBHOOK_PATH = "/webhooks/couriers/lalamove"
NOW = datetime(2025, 8, 3, 16, 44, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def settings() -> LalamoveSettings:
    return LalamoveSettings(api_key=API_KEY, api_secret=SecretStr(SECRET))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def adapter(settings, clock) -> Iterator[LalamoveAdapter]:
    with LalamoveAdapter(settings, clock=clock) as lalamove:
        yield lalamove


def sign(
    envelope: dict, *, timestamp_ms: int = NOW_MS, path: str = WEBHOOK_PATH, secret: str = SECRET
) -> bytes:
    """Fill in what the recorded copies leave out (key, timestamp, signature) the way Lalamove's receivers
    check it: HMAC over JSON.stringify(data), computed here with Node's spacing, independently of the
    adapter."""
    signed = {key: value for key, value in envelope.items() if key != "data"}
    signed.update(apiKey=API_KEY, timestamp=timestamp_ms)
    data = json.dumps(envelope["data"], separators=(",", ":"), ensure_ascii=False)
    message = f"{timestamp_ms}\r\nPOST\r\n{path}\r\n\r\n{data}".encode()
    signed["signature"] = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    signed["data"] = envelope["data"]
    return json.dumps(signed).encode()


@pytest.fixture
def completed(load_example) -> dict:
    return load_example("lalamove_webhook_signed_envelope_constructed.json")


@pytest.fixture
def picked_up(load_example) -> dict:
    return load_example("lalamove_webhook_order_status_changed_portal_copy.json")


@pytest.fixture
def driver_assigned(load_example) -> dict:
    return load_example("lalamove_webhook_driver_assigned_portal_copy.json")


def test_verify_and_parse_recorded_status_change(adapter, completed):
    body = sign(completed)

    assert adapter.verify_webhook({}, body) is True
    event = adapter.parse_webhook({}, body)

    assert event.courier == "lalamove"
    assert event.provider_order_id == "186102479770"
    assert event.status is CourierStatus.DELIVERED
    assert event.provider_status == "COMPLETED"
    assert event.event_id == "76F529D2-851A-4A52-A62F-2CC41D73780C"
    assert event.occurred_at == datetime(2025, 8, 3, 16, 43, tzinfo=UTC)
    assert event.tracking_url is not None and event.tracking_url.startswith("https://share.lalamove.com/")
    assert event.raw["data"]["order"]["previousStatus"] == "PICKED_UP"


def test_verify_and_parse_recorded_driver_assignment(adapter, driver_assigned):
    # The location's long floats are re-printed exactly as JavaScript prints them, so the signature holds.
    body = sign(driver_assigned)

    assert adapter.verify_webhook({}, body) is True
    event = adapter.parse_webhook({}, body)

    assert event.provider_order_id == "3379143481582114256"
    assert event.status is CourierStatus.DRIVER_ASSIGNED
    assert event.provider_status == "DRIVER_ASSIGNED"
    assert event.event_id == "F2020F57-7F3E-4D67-9CED-D8E48C361AE2"
    assert (event.driver_name, event.driver_phone, event.vehicle_plate) == (
        "TestDriver 34567",
        "+6310012345467",
        "VP9946964",
    )
    # No updatedAt in this event: the envelope's timestamp dates it.
    assert event.occurred_at == NOW


def test_parse_recorded_portal_copy(adapter, picked_up):
    body = sign(picked_up, timestamp_ms=NOW_MS - 60_000)

    event = adapter.parse_webhook({}, body)

    assert event.status is CourierStatus.PICKED_UP
    assert event.event_id == "7BC36762-C5D9-46F5-B529-9BC587EC87B1"
    assert event.occurred_at == NOW - timedelta(minutes=1)


def test_out_of_order_events_carry_their_own_times(adapter, completed, picked_up):
    """Lalamove delivers out of order: the later-arriving PICKED_UP is dated before COMPLETED."""
    picked_up["data"]["order"]["orderId"] = "186102479770"
    picked_up["data"]["updatedAt"] = "2025-08-03T16:20.00Z"
    arrivals = [sign(completed), sign(picked_up)]

    events = [adapter.parse_webhook({}, body) for body in arrivals]

    assert all(adapter.verify_webhook({}, body) for body in arrivals)
    assert [event.provider_status for event in sorted(events, key=lambda event: event.occurred_at)] == [
        "PICKED_UP",
        "COMPLETED",
    ]


def test_driver_rejection_reverts_to_requested(adapter, completed):
    completed["data"]["order"].update(previousStatus="ON_GOING", status="ASSIGNING_DRIVER")

    event = adapter.parse_webhook({}, sign(completed))

    assert event.status is CourierStatus.REQUESTED


def test_events_without_a_documented_shape_are_unknown(adapter, picked_up):
    picked_up["eventType"] = "ORDER_AMOUNT_CHANGED"

    event = adapter.parse_webhook({}, sign(picked_up))

    assert event.status is CourierStatus.UNKNOWN
    assert event.provider_status == "ORDER_AMOUNT_CHANGED"


def test_event_id_falls_back_to_order_status_and_time(adapter, completed):
    del completed["eventId"]

    event = adapter.parse_webhook({}, sign(completed))

    assert event.event_id == "186102479770:ORDER_STATUS_CHANGED:COMPLETED:2025-08-03T16:43.00Z"


def test_repeated_delivery_keeps_its_event_id(adapter, completed):
    first = adapter.parse_webhook({}, sign(completed, timestamp_ms=NOW_MS - 600_000))
    again = adapter.parse_webhook({}, sign(completed))

    assert first.event_id == again.event_id
    assert first.occurred_at == again.occurred_at


def test_empty_probe_is_refused(adapter):
    """Lalamove's registration probe has no body; it cannot be authenticated (the endpoint must answer it)."""
    assert adapter.verify_webhook({}, b"") is False


def test_refuses_another_api_key(adapter, completed):
    body = json.loads(sign(completed))
    body["apiKey"] = "pk_test_someone_else"

    assert adapter.verify_webhook({}, json.dumps(body).encode()) is False


@pytest.mark.parametrize(
    "sign_kwargs",
    [{"secret": "sk_test_other"}, {"path": "/webhooks/lalamove"}],
)
def test_refuses_wrong_signature(adapter, completed, sign_kwargs):
    assert adapter.verify_webhook({}, sign(completed, **sign_kwargs)) is False


def test_refuses_tampered_data(adapter, completed):
    body = json.loads(sign(completed))
    body["data"]["order"]["status"] = "CANCELED"

    assert adapter.verify_webhook({}, json.dumps(body).encode()) is False


def test_signature_header_is_not_a_way_in(adapter, completed):
    body = json.loads(sign(completed))
    signature = body.pop("signature")

    assert adapter.verify_webhook({"X-Lalamove-Signature": signature}, json.dumps(body).encode()) is False


@pytest.mark.parametrize(
    ("age", "accepted"),
    [
        (timedelta(hours=25), True),
        (timedelta(hours=25, milliseconds=1), False),
        (-timedelta(minutes=5), True),
        (-timedelta(minutes=5, milliseconds=1), False),
    ],
)
def test_timestamp_window(adapter, clock, completed, age, accepted):
    body = sign(completed)
    clock.now = NOW + age

    assert adapter.verify_webhook({}, body) is accepted


def test_window_is_configurable(settings, clock, completed):
    narrow = settings.model_copy(update={"webhook_max_age_seconds": 60})
    clock.now = NOW + timedelta(seconds=61)

    with LalamoveAdapter(narrow, clock=clock) as lalamove:
        assert lalamove.verify_webhook({}, sign(completed)) is False


def test_registered_path_is_configurable(settings, completed):
    proxied = settings.model_copy(update={"webhook_path": "/gancang/webhooks/couriers/lalamove"})
    body = sign(completed, path="/gancang/webhooks/couriers/lalamove")

    with LalamoveAdapter(proxied, clock=Clock()) as lalamove:
        assert lalamove.verify_webhook({}, body) is True
    with LalamoveAdapter(settings, clock=Clock()) as lalamove:
        assert lalamove.verify_webhook({}, body) is False


def test_raw_signing_is_a_setting(settings, completed):
    """A body signed over ``data`` exactly as written verifies only when ``webhook_signed_data`` allows it."""
    data = (
        '{"order": {"orderId": "186102479770", "status": "COMPLETED"}, "updatedAt": "2025-08-03T16:43.00Z"}'
    )
    message = f"{NOW_MS}\r\nPOST\r\n{WEBHOOK_PATH}\r\n\r\n{data}".encode()
    signature = hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()
    body = (
        f'{{"apiKey": "{API_KEY}", "timestamp": {NOW_MS}, "signature": "{signature}", '
        f'"eventId": "E1", "eventType": "ORDER_STATUS_CHANGED", "eventVersion": "v3", "data": {data}}}'
    ).encode()

    results = {}
    for mode in ("stringify", "raw", "either"):
        with LalamoveAdapter(
            settings.model_copy(update={"webhook_signed_data": mode}), clock=Clock()
        ) as lalamove:
            results[mode] = lalamove.verify_webhook({}, body)

    assert results == {"stringify": False, "raw": True, "either": True}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda envelope: envelope.pop("eventType"), "lacks eventType or data"),
        (lambda envelope: envelope.update(data=[]), "lacks eventType or data"),
        (lambda envelope: envelope["data"]["order"].pop("status"), "has no order status"),
        (lambda envelope: envelope["data"].update(updatedAt="later"), "updatedAt is not a time"),
    ],
)
def test_malformed_events(adapter, completed, change, message):
    envelope = copy.deepcopy(completed)
    change(envelope)

    with pytest.raises(WebhookPayloadError, match=message):
        adapter.parse_webhook({}, json.dumps(envelope).encode())


def test_events_naming_no_order_are_ignored_not_refused(adapter, completed):
    """Refusing them would make Lalamove retry and, after repeated failures, disable our URL."""
    wallet = {"eventId": "W1", "eventType": "WALLET_BALANCE_CHANGED", "data": {"balance": {"amount": "1"}}}
    orderless = copy.deepcopy(completed)
    orderless["data"].pop("order")

    with pytest.raises(WebhookIgnored, match="WALLET_BALANCE_CHANGED webhook names no order"):
        adapter.parse_webhook({}, json.dumps(wallet).encode())
    with pytest.raises(WebhookIgnored, match="names no order"):
        adapter.parse_webhook({}, json.dumps(orderless).encode())


def test_event_without_any_time(adapter, picked_up):
    """The Partner Portal copy as it stands has neither updatedAt nor timestamp: it cannot be ordered."""
    with pytest.raises(WebhookPayloadError, match="neither data.updatedAt nor a numeric timestamp"):
        adapter.parse_webhook({}, json.dumps(picked_up).encode())


@pytest.mark.parametrize("body", [b"<xml/>", b"[1]"])
def test_not_a_json_object(adapter, body):
    with pytest.raises(WebhookPayloadError):
        adapter.parse_webhook({}, body)
