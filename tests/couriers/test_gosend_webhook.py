"""GoSend webhook authentication (a static shared token, failing closed) and parsing through the adapter."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from couriers.base import CourierStatus, WebhookPayloadError
from couriers.gosend.client import GoSendAdapter
from couriers.gosend.settings import GoSendSettings


@pytest.fixture
def adapter(gosend_settings) -> Iterator[GoSendAdapter]:
    with GoSendAdapter(gosend_settings) as gosend:
        yield gosend


@pytest.fixture
def no_driver_body(load_example) -> bytes:
    return json.dumps(load_example("gosend_webhook_booking_event_no_driver.json")).encode()


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "hook-secret"},
        {"authorization": "Bearer hook-secret"},
        {"AUTHORIZATION": "bearer   hook-secret "},
    ],
)
def test_verify_accepts_configured_token(adapter, no_driver_body, headers):
    assert adapter.verify_webhook(headers, no_driver_body) is True


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "hook-secreT"},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic hook-secret"},
        {"Authorization": ""},
        {"Authorization": "Bearer "},
        {"X-Callback-Token": "hook-secret"},
        {},
    ],
)
def test_verify_refuses_wrong_or_missing_token(adapter, no_driver_body, headers):
    assert adapter.verify_webhook(headers, no_driver_body) is False


def test_verify_uses_configured_header_name(gosend_settings, no_driver_body):
    settings = gosend_settings.model_copy(update={"webhook_header": "X-Callback-Token"})
    with GoSendAdapter(settings) as gosend:
        assert gosend.verify_webhook({"x-callback-token": "hook-secret"}, no_driver_body) is True
        assert gosend.verify_webhook({"Authorization": "hook-secret"}, no_driver_body) is False


def test_verify_fails_closed_without_configured_token(no_driver_body):
    settings = GoSendSettings(client_id="gancang-test", pass_key=SecretStr("pass-key-secret"))
    with GoSendAdapter(settings) as gosend:
        assert gosend.verify_webhook({"Authorization": "anything"}, no_driver_body) is False
        assert gosend.verify_webhook({"Authorization": ""}, no_driver_body) is False
        assert gosend.verify_webhook({}, no_driver_body) is False


def test_parse_recorded_no_driver_webhook(adapter, no_driver_body):
    event = adapter.parse_webhook({"Authorization": "hook-secret"}, no_driver_body)

    assert event.provider_order_id == "GK-11-117385"
    assert event.status is CourierStatus.NO_DRIVER
    assert event.event_id == "7444acc4-0f14-419d-806c-6e245607c274"


def test_parse_malformed_webhook(adapter):
    with pytest.raises(WebhookPayloadError):
        adapter.parse_webhook({}, b"<xml/>")


def test_parse_unknown_status_webhook(adapter, load_example):
    payload = load_example("gosend_webhook_booking_event_no_driver.json") | {
        "status": "teleported",
        "booking_status": "teleported",
    }

    event = adapter.parse_webhook({}, json.dumps(payload).encode())

    assert event.status is CourierStatus.UNKNOWN
    assert event.provider_status == "teleported"
