"""GrabExpress webhook authentication (shared credentials in headers, failing closed) and parsing via the adapter."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from couriers.base import CourierStatus, WebhookPayloadError
from couriers.grabexpress import GrabExpressAdapter, GrabExpressSettings

# couriers.md 2.6 field names; Grab publishes no captured webhook.
BODY = json.dumps(
    {
        "deliveryID": "IN-2-0BTPB1C1G8IL6W72ZHK8",
        "merchantOrderID": "RX-2025-000123",
        "timestamp": 1743490800,
        "status": "CANCELLED",
    }
).encode()


def make_settings(**webhook: str) -> GrabExpressSettings:
    secrets = {key: SecretStr(value) for key, value in webhook.items()}
    return GrabExpressSettings(client_id="gancang-grab", client_secret=SecretStr("client-secret"), **secrets)


@pytest.fixture
def adapter() -> Iterator[GrabExpressAdapter]:
    with GrabExpressAdapter(make_settings(webhook_token="hook-secret")) as grab:
        yield grab


@pytest.fixture
def adapter_with_id() -> Iterator[GrabExpressAdapter]:
    with GrabExpressAdapter(
        make_settings(webhook_token="hook-secret", webhook_auth_id="gancang-rsud")
    ) as grab:
        yield grab


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "hook-secret"},
        {"authorization": " hook-secret "},
        {"Content-Type": "application/json", "AUTHORIZATION": "hook-secret"},
    ],
)
def test_verify_accepts_the_registered_token(adapter, headers):
    assert adapter.verify_webhook(headers, BODY) is True


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "hook-secreT"},
        # Grab sends back exactly what it was given; a scheme we never registered is somebody else.
        {"Authorization": "Bearer hook-secret"},
        {"Authorization": "hook-secret-and-more"},
        {"Authorization": ""},
        {"Authorization-Id": "hook-secret"},
        {},
    ],
)
def test_verify_refuses_wrong_or_missing_token(adapter, headers):
    assert adapter.verify_webhook(headers, BODY) is False


def test_verify_ignores_an_unconfigured_authorization_id(adapter):
    assert (
        adapter.verify_webhook({"Authorization": "hook-secret", "Authorization-Id": "anyone"}, BODY) is True
    )


@pytest.mark.parametrize(
    ("headers", "accepted"),
    [
        ({"Authorization": "hook-secret", "Authorization-Id": "gancang-rsud"}, True),
        ({"authorization": "hook-secret", "authorization-id": "gancang-rsud"}, True),
        ({"Authorization": "hook-secret", "Authorization-Id": "someone-else"}, False),
        ({"Authorization": "hook-secret"}, False),
        ({"Authorization": "wrong", "Authorization-Id": "gancang-rsud"}, False),
    ],
)
def test_verify_with_an_authorization_id_needs_both(adapter_with_id, headers, accepted):
    assert adapter_with_id.verify_webhook(headers, BODY) is accepted


def test_verify_fails_closed_without_a_configured_token():
    with GrabExpressAdapter(make_settings()) as grab:
        assert grab.verify_webhook({"Authorization": "anything"}, BODY) is False
        assert grab.verify_webhook({"Authorization": ""}, BODY) is False
        assert grab.verify_webhook({}, BODY) is False


def test_verify_fails_closed_with_only_an_authorization_id():
    with GrabExpressAdapter(make_settings(webhook_auth_id="gancang-rsud")) as grab:
        assert grab.verify_webhook({"Authorization": "", "Authorization-Id": "gancang-rsud"}, BODY) is False


def test_parse_through_the_adapter(adapter):
    event = adapter.parse_webhook({"Authorization": "hook-secret"}, BODY)

    assert event.courier == "grabexpress"
    assert event.status is CourierStatus.CANCELLED
    assert event.event_id == "IN-2-0BTPB1C1G8IL6W72ZHK8:CANCELED:1743490800"


def test_parse_malformed_webhook(adapter):
    with pytest.raises(WebhookPayloadError):
        adapter.parse_webhook({}, b"")
