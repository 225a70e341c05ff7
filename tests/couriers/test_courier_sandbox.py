"""The GoSend adapter driven against the sandbox served by real uvicorn, with webhooks caught by a real server."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import httpx
import pytest
from pydantic import SecretStr

from couriers.base import CourierError, CourierEvent, CourierStatus, DeliveryRequest, Place
from couriers.gosend.client import GoSendAdapter
from couriers.gosend.settings import GoSendSettings
from couriers.sandbox import SandboxConfig

FAST = 0.05
HAPPY = [
    CourierStatus.REQUESTED,
    CourierStatus.DRIVER_ASSIGNED,
    CourierStatus.EN_ROUTE_PICKUP,
    CourierStatus.PICKED_UP,
    CourierStatus.EN_ROUTE_DROPOFF,
    CourierStatus.DELIVERED,
]


@pytest.fixture
def banyuwangi_request(delivery_request) -> DeliveryRequest:
    """RSUD Blambangan pharmacy to a patient in Giri, about 3 km apart."""
    origin = replace(delivery_request.origin, lat=-8.2197, lon=114.3665)
    destination = replace(delivery_request.destination, lat=-8.2003, lon=114.3467, phone="0812-3456-7890")
    return replace(delivery_request, reference="RX-2025-0001", origin=origin, destination=destination)


@pytest.fixture
def start(sandbox_factory, make_receiver) -> Iterator[Callable[..., tuple[GoSendAdapter, object, str]]]:
    """Start a receiver and a sandbox posting to it; return an adapter pointed at the sandbox."""
    adapters: list[GoSendAdapter] = []

    def start(fail_first: int = 0, **overrides: object) -> tuple[GoSendAdapter, object, str]:
        receiver = make_receiver(fail_first)
        config = SandboxConfig.model_validate(
            {
                "step_delay_seconds": FAST,
                "webhook_retry_delay_seconds": 0.01,
                "gosend": {"webhook_url": receiver.url},
            }
            | overrides
        )
        base_url = sandbox_factory(config)
        settings = GoSendSettings(
            client_id=config.gosend.client_id,
            pass_key=SecretStr(config.gosend.pass_key),
            base_url=base_url,
            webhook_token=SecretStr(config.gosend.webhook_token or "unset"),
            timeout_seconds=5,
        )
        adapter = GoSendAdapter(settings)
        adapters.append(adapter)
        return adapter, receiver, base_url

    yield start
    for adapter in adapters:
        adapter.close()


def events(adapter: GoSendAdapter, received: list) -> list[CourierEvent]:
    parsed = []
    for webhook in received:
        assert adapter.verify_webhook(webhook.headers, webhook.body)
        parsed.append(adapter.parse_webhook(webhook.headers, webhook.body))
    return parsed


def test_happy_path_reaches_delivered_in_order(start, banyuwangi_request):
    adapter, receiver, _ = start()

    quote = adapter.quote(banyuwangi_request)
    booking = adapter.book(banyuwangi_request)
    received = events(adapter, receiver.wait_for(6))

    assert quote.serviceable is True
    assert 2 < quote.distance_km < 4
    assert quote.price_idr == 10_000
    assert re.fullmatch(r"GK-11-\d+", booking.provider_order_id)
    assert [event.status for event in received] == HAPPY
    assert {event.provider_order_id for event in received} == {booking.provider_order_id}
    assert len({event.event_id for event in received}) == 6
    assert [event.occurred_at for event in received] == sorted(event.occurred_at for event in received)
    assert received[0].driver_name is None
    assert all(event.driver_name for event in received[1:])
    assert re.fullmatch(r"P \d{4} [A-Z]{2}", received[1].vehicle_plate or "")
    assert re.fullmatch(r"62\d{9,12}", received[1].driver_phone or "")

    polled = adapter.status(booking.provider_order_id)
    assert polled.status is CourierStatus.DELIVERED
    assert polled.raw["status"] == "Completed"
    assert polled.driver_name == received[-1].driver_name
    reconciled = adapter.find_by_reference("RX-2025-0001")
    assert reconciled is not None
    assert reconciled.provider_order_id == booking.provider_order_id
    assert adapter.find_by_reference("RX-never-booked") is None

    with pytest.raises(CourierError, match="cannot be cancelled in status delivered") as caught:
        adapter.cancel(booking.provider_order_id)
    assert caught.value.status_code == 422


def test_no_driver_rule_matches_normalized_destination_phone(start, banyuwangi_request):
    adapter, receiver, base_url = start()
    rule = httpx.post(
        f"{base_url}/_sandbox/rules", json={"match_phone": "+62 812 3456 7890", "scenario": "no_driver"}
    )
    assert rule.status_code == 201
    assert rule.json() == {"match_phone": "6281234567890", "scenario": "no_driver"}

    booking = adapter.book(banyuwangi_request)
    received = events(adapter, receiver.wait_for(2))

    assert [event.status for event in received] == [CourierStatus.REQUESTED, CourierStatus.NO_DRIVER]
    assert received[1].raw["type"] == "DRIVER_NOT_FOUND"
    listing = httpx.get(f"{base_url}/_sandbox/bookings").json()["bookings"]
    assert [(b["provider_order_id"], b["scenario"], b["status"]) for b in listing] == [
        (booking.provider_order_id, "no_driver", "no_driver")
    ]
    assert [w["delivered"] for w in listing[0]["webhooks"]] == [True, True]

    assert httpx.delete(f"{base_url}/_sandbox/rules").status_code == 204
    adapter.book(replace(banyuwangi_request, reference="RX-2025-0002"))
    assert [e.status for e in events(adapter, receiver.wait_for(8))[2:]] == HAPPY


def test_duplicate_events_are_sent_twice_with_the_same_id(start, banyuwangi_request):
    adapter, receiver, _ = start(duplicate_events=True, default_scenario="driver_cancels")

    adapter.book(banyuwangi_request)
    received = events(adapter, receiver.wait_for(6))

    ids = [event.event_id for event in received]
    assert ids[0::2] == ids[1::2]
    assert len(set(ids)) == 3
    assert [event.status for event in received[0::2]] == [
        CourierStatus.REQUESTED,
        CourierStatus.DRIVER_ASSIGNED,
        CourierStatus.CANCELLED,
    ]


def test_shuffle_sends_the_last_two_events_out_of_order(start, banyuwangi_request):
    adapter, receiver, _ = start(shuffle=True, default_scenario="failed_delivery")

    adapter.book(banyuwangi_request)
    received = events(adapter, receiver.wait_for(6))

    assert [event.status for event in received[-2:]] == [
        CourierStatus.RETURNING,
        CourierStatus.EN_ROUTE_DROPOFF,
    ]
    assert received[-1].occurred_at < received[-2].occurred_at


def test_cancel_before_pickup_stops_the_journey(start, banyuwangi_request):
    adapter, receiver, base_url = start(step_delay_seconds=0.3)

    booking = adapter.book(banyuwangi_request)
    adapter.cancel(booking.provider_order_id)
    received = events(adapter, receiver.wait_for(2))

    assert [event.status for event in received] == [CourierStatus.REQUESTED, CourierStatus.CANCELLED]
    assert adapter.status(booking.provider_order_id).status is CourierStatus.CANCELLED
    with pytest.raises(AssertionError):
        receiver.wait_for(3, timeout=0.5)


def test_webhook_failures_are_retried(start, banyuwangi_request):
    adapter, receiver, base_url = start(fail_first=1, default_scenario="no_driver")

    adapter.book(banyuwangi_request)
    received = events(adapter, receiver.wait_for(2))

    assert [event.status for event in received] == [CourierStatus.REQUESTED, CourierStatus.NO_DRIVER]
    log = httpx.get(f"{base_url}/_sandbox/bookings").json()["bookings"][0]["webhooks"]
    assert [(w["attempts"], w["delivered"], w["response_status"]) for w in log] == [
        (2, True, 200),
        (1, True, 200),
    ]


def test_sandbox_refuses_wrong_credentials(start, banyuwangi_request):
    adapter, _, base_url = start()
    settings = GoSendSettings(client_id="intruder", pass_key=SecretStr("guess"), base_url=base_url)

    with GoSendAdapter(settings) as intruder, pytest.raises(CourierError) as caught:
        intruder.book(banyuwangi_request)

    assert caught.value.status_code == 401
    assert caught.value.messages == ["Unauthorized: invalid Client-ID or Pass-Key"]
    assert httpx.get(f"{base_url}/_sandbox/bookings").json() == {"bookings": []}


def test_sandbox_validates_booking_body(start):
    adapter, _, base_url = start()
    headers = {"Client-ID": "sandbox-client-id", "Pass-Key": "sandbox-pass-key"}

    response = httpx.post(
        f"{base_url}/gokilat/v10/booking",
        headers=headers,
        content=json.dumps({"paymentType": 3, "shipment_method": "Instant", "routes": []}),
    )

    assert response.status_code == 400
    assert "routes" in response.headers["Error-Message"]
    assert response.json()["errors"]


def test_sandbox_quotes_far_destinations_as_unserviceable(start, banyuwangi_request):
    adapter, _, _ = start()
    jember = replace(banyuwangi_request.destination, lat=-8.1724, lon=113.7003)

    quote = adapter.quote(replace(banyuwangi_request, destination=jember))

    assert quote.serviceable is False
    assert quote.distance_km is not None
    assert quote.distance_km > 40


def test_a_restarted_sandbox_never_repeats_an_order_number():
    """Our database keeps earlier runs' bookings; a new sandbox must not reuse their GoSend numbers."""
    from couriers.sandbox.engine import Engine

    first = Engine(SandboxConfig())
    time.sleep(0.15)
    restarted = Engine(SandboxConfig())
    assert restarted.next_id > first.next_id


def add_fault(base_url: str, **fault: object) -> None:
    assert httpx.post(f"{base_url}/_sandbox/faults", json=fault).status_code == 201


def test_server_errors_hit_only_the_chosen_operation_for_n_calls(start, banyuwangi_request):
    adapter, _, base_url = start(default_scenario="no_driver")
    add_fault(base_url, kind="server_error", calls=2, dialect="gosend", operation="book", status_code=502)

    assert adapter.quote(banyuwangi_request).serviceable is True
    for _ in range(2):
        with pytest.raises(CourierError) as failed:
            adapter.book(banyuwangi_request)
        assert (failed.value.status_code, failed.value.retryable) == (502, True)
    booking = adapter.book(banyuwangi_request)

    assert booking.provider_order_id.startswith("GK-11-")
    assert httpx.get(f"{base_url}/_sandbox/faults").json()["faults"][0]["remaining"] == 0


def test_rate_limiting_answers_429_with_retry_after(start, banyuwangi_request):
    adapter, _, base_url = start()
    add_fault(base_url, kind="rate_limit", calls=2, retry_after_seconds=7)
    headers = {"Client-ID": "sandbox-client-id", "Pass-Key": "sandbox-pass-key"}

    limited = httpx.get(f"{base_url}/gokilat/v10/booking/orderno/GK-11-1", headers=headers)
    with pytest.raises(CourierError) as failed:
        adapter.quote(banyuwangi_request)

    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "7"
    assert limited.json() == {"errors": ["Too many requests"]}
    assert (failed.value.status_code, failed.value.retryable) == (429, True)


def test_a_slow_answer_times_the_client_out_but_the_booking_exists(start, banyuwangi_request):
    """What booking reconciliation is for: the courier booked, we never saw the answer."""
    adapter, _, base_url = start(default_scenario="no_driver")
    add_fault(base_url, kind="timeout", operation="book", delay_seconds=0.8)
    impatient = GoSendAdapter(
        GoSendSettings(
            client_id="sandbox-client-id",
            pass_key=SecretStr("sandbox-pass-key"),
            base_url=base_url,
            timeout_seconds=0.2,
        )
    )

    with impatient, pytest.raises(CourierError) as failed:
        impatient.book(banyuwangi_request)
    assert failed.value.retryable is True
    assert "timed out" in str(failed.value)

    deadline = time.monotonic() + 3
    while (found := adapter.find_by_reference("RX-2025-0001")) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert found is not None
    assert found.provider_order_id.startswith("GK-11-")


def test_a_rule_sets_knobs_for_one_booking_only(start, banyuwangi_request):
    adapter, receiver, base_url = start(default_scenario="no_driver")
    rule = {"match_reference": "RX-2025-0002", "duplicate_events": True, "step_delay_seconds": 0}
    assert httpx.post(f"{base_url}/_sandbox/rules", json=rule).json() == rule

    adapter.book(banyuwangi_request)
    received_first = events(adapter, receiver.wait_for(2))
    adapter.book(replace(banyuwangi_request, reference="RX-2025-0002"))
    received = events(adapter, receiver.wait_for(6))[2:]

    assert len({event.event_id for event in received_first}) == 2
    assert [event.status for event in received] == [
        CourierStatus.REQUESTED,
        CourierStatus.REQUESTED,
        CourierStatus.NO_DRIVER,
        CourierStatus.NO_DRIVER,
    ]
    assert received[0].event_id == received[1].event_id


def test_a_receiver_asking_to_wait_is_retried_after_its_retry_after(sandbox_factory, make_receiver):
    receiver = make_receiver(fail_first=1, fail_status=503, retry_after="1")
    config = SandboxConfig.model_validate(
        {"default_scenario": "no_driver", "step_delay_seconds": 0, "webhook_retry_delay_seconds": 0.01}
        | {"gosend": {"webhook_url": receiver.url}}
    )
    base_url = sandbox_factory(config)
    settings = GoSendSettings(
        client_id="sandbox-client-id", pass_key=SecretStr("sandbox-pass-key"), base_url=base_url
    )

    with GoSendAdapter(settings) as adapter:
        adapter.book(
            DeliveryRequest(
                reference="RX-RETRY",
                origin=Place(
                    name="RSUD", phone="0333-421118", address="Jl. Letkol Istiqlah", lat=-8.2197, lon=114.3665
                ),
                destination=Place(
                    name="Pasien", phone="081234567890", address="Giri", lat=-8.2003, lon=114.3467
                ),
                item_description="Obat",
            )
        )
        receiver.wait_for(2)

    assert receiver.arrivals[1] - receiver.arrivals[0] >= 1.0
