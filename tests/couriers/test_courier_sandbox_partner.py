"""The local-partner adapter driven against the sandbox playing a partner of our published protocol."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import jsonschema
import pytest
from pydantic import SecretStr

from couriers.base import CourierError, CourierEvent, CourierStatus, DeliveryRequest, ServiceArea
from couriers.sandbox import SandboxConfig
from couriers.sandbox.engine import Engine
from couriers.sandbox.gosend import GoSend
from couriers.webhook import WebhookPartnerAdapter, WebhookPartnerSettings

FAST = 0.05
STATUS_SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "couriers" / "webhook" / "status.schema.json").read_text()
)
BANYUWANGI = ServiceArea(name="Banyuwangi", lat=-8.2192, lon=114.3691, radius_km=60)


@pytest.fixture
def banyuwangi_request(delivery_request) -> DeliveryRequest:
    origin = replace(delivery_request.origin, lat=-8.2197, lon=114.3665)
    destination = replace(delivery_request.destination, lat=-8.2003, lon=114.3467, phone="0812-3456-7890")
    return replace(delivery_request, reference="RX-MITRA-0001", origin=origin, destination=destination)


@pytest.fixture
def start(
    sandbox_factory, make_receiver
) -> Iterator[Callable[..., tuple[WebhookPartnerAdapter, object, str]]]:
    adapters: list[WebhookPartnerAdapter] = []

    def start(**overrides: object) -> tuple[WebhookPartnerAdapter, object, str]:
        receiver = make_receiver(path="/webhooks/couriers/webhook")
        config = SandboxConfig.model_validate(
            {
                "step_delay_seconds": FAST,
                "webhook_retry_delay_seconds": 0.01,
                "webhook": {"webhook_url": receiver.url},
            }
            | overrides
        )
        base_url = sandbox_factory(config)
        adapter = WebhookPartnerAdapter(
            WebhookPartnerSettings(
                url=f"{base_url}/partner/jobs",
                signing_secret=SecretStr(config.webhook.job_secret),
                webhook_secret=SecretStr(config.webhook.event_secret),
                status_url=f"{base_url}/partner/jobs/{{job_id}}",
                base_fee_idr=8_000,
                per_km_idr=2_000,
                service_areas=(BANYUWANGI,),
                max_distance_km=30,
                timeout_seconds=5,
            )
        )
        adapters.append(adapter)
        return adapter, receiver, base_url

    yield start
    for adapter in adapters:
        adapter.close()


def events(adapter: WebhookPartnerAdapter, received: list) -> list[CourierEvent]:
    parsed = []
    for webhook in received:
        jsonschema.validate(json.loads(webhook.body), STATUS_SCHEMA)
        assert adapter.verify_webhook(webhook.headers, webhook.body)
        parsed.append(adapter.parse_webhook(webhook.headers, webhook.body))
    return parsed


def test_happy_journey_hands_over_with_the_patients_pin(start, banyuwangi_request):
    adapter, receiver, base_url = start()
    rule = {"match_phone": "+6281234567890", "handover_pin": "4821"}
    assert httpx.post(f"{base_url}/_sandbox/rules", json=rule).status_code == 201

    booking = adapter.book(banyuwangi_request)
    received = events(adapter, receiver.wait_for(4))

    assert booking.provider_order_id == "RX-MITRA-0001"
    assert booking.raw["partner_job_id"].startswith("MITRA-")
    assert [event.provider_status for event in received] == [
        "job.accepted",
        "job.picked_up",
        "job.arriving",
        "job.delivered",
    ]
    assert [event.status for event in received] == [
        CourierStatus.DRIVER_ASSIGNED,
        CourierStatus.PICKED_UP,
        CourierStatus.EN_ROUTE_DROPOFF,
        CourierStatus.DELIVERED,
    ]
    accepted, delivered = received[0], received[-1]
    assert accepted.driver_name and accepted.vehicle_plate and (accepted.driver_phone or "").startswith("+62")
    assert delivered.handover_pin == "4821"
    assert delivered.proof_of_delivery_url and delivered.proof_of_delivery_url.startswith("https://")
    assert delivered.receiver_name == "Toko Jaya Agung"
    assert len({event.event_id for event in received}) == 4

    polled = adapter.status(booking.provider_order_id)
    assert (polled.status, polled.handover_pin) == (CourierStatus.DELIVERED, "4821")
    with pytest.raises(CourierError) as refused:
        adapter.cancel(booking.provider_order_id)
    assert refused.value.status_code == 409


def test_a_misheard_pin_is_reported_first_and_the_right_one_a_step_later(start, banyuwangi_request):
    adapter, receiver, base_url = start(default_scenario="wrong_pin_first")
    rule = {"match_reference": "RX-MITRA-0001", "handover_pin": "4829"}
    assert httpx.post(f"{base_url}/_sandbox/rules", json=rule).status_code == 201

    adapter.book(banyuwangi_request)
    received = events(adapter, receiver.wait_for(5))

    wrong, right = received[-2:]
    assert [event.provider_status for event in received] == [
        "job.accepted",
        "job.picked_up",
        "job.arriving",
        "job.delivered",
        "job.delivered",
    ]
    assert (wrong.status, wrong.handover_pin) == (CourierStatus.DELIVERED, "4820")
    assert right.handover_pin == "4829"
    assert wrong.event_id != right.event_id  # a new message, as the protocol asks for a second attempt
    assert wrong.occurred_at < right.occurred_at


def test_a_pin_told_after_the_booking_is_the_one_reported(start, banyuwangi_request):
    """The order's PIN exists only from release, which may come after the courier was already booked."""
    adapter, receiver, base_url = start(step_delay_seconds=0.3)

    booking = adapter.book(banyuwangi_request)
    rule = {"match_phone": "+6281234567890", "handover_pin": "0917"}
    assert httpx.post(f"{base_url}/_sandbox/rules", json=rule).status_code == 201
    received = events(adapter, receiver.wait_for(4))

    assert received[-1].handover_pin == "0917"
    jobs = httpx.get(f"{base_url}/_sandbox/bookings").json()["bookings"]
    assert [(job["provider_order_id"], job["handover_pin"]) for job in jobs] == [
        (booking.provider_order_id, "0917")
    ]


def test_couriers_without_a_pin_play_a_wrong_pin_journey_as_a_happy_one():
    engine = Engine(SandboxConfig())

    assert Engine._plan(GoSend(engine), "wrong_pin_first") == Engine._plan(GoSend(engine), "happy")


def test_no_driver_journey_gives_the_job_back(start, banyuwangi_request):
    adapter, receiver, _ = start(default_scenario="no_driver")

    booking = adapter.book(banyuwangi_request)
    received = events(adapter, receiver.wait_for(1))

    assert [(event.provider_status, event.status) for event in received] == [
        ("job.no_driver", CourierStatus.NO_DRIVER)
    ]
    assert received[0].driver_name is None
    assert adapter.status(booking.provider_order_id).status is CourierStatus.NO_DRIVER


@pytest.mark.parametrize(
    ("scenario", "last"),
    [
        ("failed_delivery", ("job.failed", CourierStatus.FAILED)),
        ("driver_cancels", ("job.cancelled", CourierStatus.CANCELLED)),
    ],
)
def test_unhappy_journeys_carry_a_reason(start, banyuwangi_request, scenario, last):
    adapter, receiver, _ = start(default_scenario=scenario)

    adapter.book(banyuwangi_request)
    count = {"failed_delivery": 4, "driver_cancels": 2}[scenario]
    received = events(adapter, receiver.wait_for(count))

    assert (received[-1].provider_status, received[-1].status) == last
    assert received[-1].raw["data"]["reason"]


def test_a_repeated_offer_is_one_job_and_a_cancel_before_pickup_is_accepted(start, banyuwangi_request):
    adapter, receiver, base_url = start(step_delay_seconds=5)

    adapter.book(banyuwangi_request)
    adapter.book(banyuwangi_request)
    adapter.cancel(banyuwangi_request.reference)

    jobs = httpx.get(f"{base_url}/_sandbox/bookings").json()["bookings"]
    assert [(job["provider_order_id"], job["status"]) for job in jobs] == [("RX-MITRA-0001", "withdrawn")]
    polled = adapter.status(banyuwangi_request.reference)
    assert (polled.status, polled.raw["data"]["reason"]) == (CourierStatus.CANCELLED, "Cancelled by Gancang")
    with pytest.raises(AssertionError):
        receiver.wait_for(1, timeout=0.3)  # our own cancellation is not echoed back


def test_unsigned_jobs_are_refused(start):
    _, _, base_url = start()

    response = httpx.post(f"{base_url}/partner/jobs", json={"type": "job.offered", "data": {"job_id": "X"}})

    assert response.status_code == 401
    assert response.json() == {"message": "invalid webhook signature"}
    assert httpx.get(f"{base_url}/_sandbox/bookings").json() == {"bookings": []}
