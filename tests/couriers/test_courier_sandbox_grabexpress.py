"""The GrabExpress adapter driven against the sandbox's GrabExpress dialect over real HTTP."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import replace

import httpx
import pytest
from pydantic import SecretStr

from couriers.base import CourierError, CourierEvent, CourierStatus, DeliveryRequest
from couriers.grabexpress import GrabExpressAdapter, GrabExpressSettings
from couriers.sandbox import SandboxConfig

FAST = 0.05


@pytest.fixture
def banyuwangi_request(delivery_request) -> DeliveryRequest:
    origin = replace(delivery_request.origin, lat=-8.2197, lon=114.3665)
    destination = replace(delivery_request.destination, lat=-8.2003, lon=114.3467, phone="0812-3456-7890")
    return replace(delivery_request, reference="RX-GRAB-0001", origin=origin, destination=destination)


@pytest.fixture
def start(sandbox_factory, make_receiver) -> Iterator[Callable[..., tuple[GrabExpressAdapter, object, str]]]:
    adapters: list[GrabExpressAdapter] = []

    def start(**overrides: object) -> tuple[GrabExpressAdapter, object, str]:
        receiver = make_receiver(path="/webhooks/couriers/grabexpress")
        config = SandboxConfig.model_validate(
            {
                "step_delay_seconds": FAST,
                "webhook_retry_delay_seconds": 0.01,
                "grabexpress": {"webhook_url": receiver.url, "webhook_auth_id": "gancang"},
            }
            | overrides
        )
        base_url = sandbox_factory(config)
        grab = config.grabexpress
        adapter = GrabExpressAdapter(
            GrabExpressSettings(
                client_id=grab.client_id,
                client_secret=SecretStr(grab.client_secret),
                base_url=f"{base_url}/grabexpress",
                token_url=f"{base_url}/grabexpress/grabid/v1/oauth2/token",
                webhook_token=SecretStr(grab.webhook_token or "unset"),
                webhook_auth_id=SecretStr("gancang"),
                timeout_seconds=5,
            )
        )
        adapters.append(adapter)
        return adapter, receiver, base_url

    yield start
    for adapter in adapters:
        adapter.close()


def events(adapter: GrabExpressAdapter, received: list) -> list[CourierEvent]:
    parsed = []
    for webhook in received:
        assert adapter.verify_webhook(webhook.headers, webhook.body)
        parsed.append(adapter.parse_webhook(webhook.headers, webhook.body))
    return parsed


def test_happy_journey_reaches_completed(start, banyuwangi_request):
    adapter, receiver, _ = start()

    quote = adapter.quote(banyuwangi_request)
    booking = adapter.book(banyuwangi_request)
    received = events(adapter, receiver.wait_for(6))

    assert quote.serviceable is True
    assert quote.price_idr == 10_000
    assert quote.distance_km is not None and 2 < quote.distance_km < 4
    assert re.fullmatch(r"IN-2-[A-Z0-9]{20}", booking.provider_order_id)
    assert booking.status is CourierStatus.REQUESTED
    assert [event.provider_status for event in received] == [
        "ALLOCATING",
        "PENDING_PICKUP",
        "PICKING_UP",
        "PENDING_DROP_OFF",
        "IN_DELIVERY",
        "COMPLETED",
    ]
    assert [event.status for event in received] == [
        CourierStatus.REQUESTED,
        CourierStatus.DRIVER_ASSIGNED,
        CourierStatus.EN_ROUTE_PICKUP,
        CourierStatus.PICKED_UP,
        CourierStatus.EN_ROUTE_DROPOFF,
        CourierStatus.DELIVERED,
    ]
    assert {event.reference for event in received} == {"RX-GRAB-0001"}
    assert received[0].driver_name is None
    assert all(event.driver_name for event in received[1:])
    assert received[3].tracking_url and not received[2].tracking_url  # trackURL only after pick-up
    assert received[-1].proof_of_delivery_url
    assert all(w.headers["Authorization-Id"] == "gancang" for w in receiver.received)

    polled = adapter.status(booking.provider_order_id)
    assert polled.status is CourierStatus.DELIVERED
    assert polled.driver_name == received[-1].driver_name
    with pytest.raises(CourierError) as refused:
        adapter.cancel(booking.provider_order_id)
    assert refused.value.status_code == 409


def test_no_driver_journey_fails_with_reason_6(start, banyuwangi_request):
    adapter, receiver, base_url = start()
    rule = {"match_phone": "081234567890", "scenario": "no_driver"}
    assert httpx.post(f"{base_url}/_sandbox/rules", json=rule).status_code == 201

    booking = adapter.book(banyuwangi_request)
    received = events(adapter, receiver.wait_for(2))

    assert [event.status for event in received] == [CourierStatus.REQUESTED, CourierStatus.NO_DRIVER]
    assert received[1].raw["failedReason"] == "6|Could not find driver"
    assert adapter.status(booking.provider_order_id).status is CourierStatus.NO_DRIVER


@pytest.mark.parametrize(
    ("scenario", "count", "statuses", "expected"),
    [
        ("failed_delivery", 7, ["IN_RETURN", "RETURNED"], [CourierStatus.RETURNING, CourierStatus.RETURNED]),
        ("driver_cancels", 3, ["FAILED"], [CourierStatus.FAILED]),
    ],
)
def test_unhappy_journeys_end_as_grab_reports_them(
    start, banyuwangi_request, scenario, count, statuses, expected
):
    adapter, receiver, _ = start(default_scenario=scenario)

    adapter.book(banyuwangi_request)
    received = events(adapter, receiver.wait_for(count))

    tail = received[-len(statuses) :]
    assert [event.provider_status for event in tail] == statuses
    assert [event.status for event in tail] == expected
    assert len(received) == count


def test_cancellation_webhooks_use_both_spellings(start, banyuwangi_request):
    adapter, receiver, base_url = start(step_delay_seconds=5)

    first = adapter.book(banyuwangi_request)
    second = adapter.book(replace(banyuwangi_request, reference="RX-GRAB-0002"))
    adapter.cancel(first.provider_order_id)
    adapter.cancel(second.provider_order_id)
    received = receiver.wait_for(4)

    spellings = {json.loads(w.body)["status"] for w in received[2:]}
    assert spellings == {"CANCELLED", "CANCELED"}
    assert {event.status for event in events(adapter, received[2:])} == {CourierStatus.CANCELLED}
    assert adapter.status(first.provider_order_id).provider_status == "CANCELED"


def test_webhooks_with_another_token_do_not_verify(start, banyuwangi_request):
    adapter, receiver, base_url = start(default_scenario="no_driver")
    wrong = GrabExpressSettings(
        client_id="x", client_secret=SecretStr("y"), base_url=base_url, webhook_token=SecretStr("other")
    )

    adapter.book(banyuwangi_request)
    webhook = receiver.wait_for(1)[0]

    assert not GrabExpressAdapter(wrong).verify_webhook(webhook.headers, webhook.body)


def test_token_endpoint_refuses_wrong_client_and_api_refuses_missing_token(start):
    _, _, base_url = start()
    token_url = f"{base_url}/grabexpress/grabid/v1/oauth2/token"

    refused = httpx.post(
        token_url,
        json={
            "client_id": "sandbox-grab-client",
            "client_secret": "guess",
            "grant_type": "client_credentials",
            "scope": "grab_express.partner_deliveries",
        },
    )
    anonymous = httpx.get(f"{base_url}/grabexpress/v1/deliveries/IN-2-X")

    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    assert anonymous.status_code == 401
    assert anonymous.json() == {"reason": "Unauthorized", "message": "invalid or expired access token"}


def test_a_fault_configured_at_start_hits_the_token_endpoint_once(start, banyuwangi_request):
    adapter, _, _ = start(faults=[{"kind": "server_error", "dialect": "grabexpress", "operation": "token"}])

    with pytest.raises(CourierError) as failed:
        adapter.quote(banyuwangi_request)

    assert (failed.value.status_code, failed.value.retryable) == (503, True)
    assert adapter.quote(banyuwangi_request).serviceable is True
