"""The Lalamove adapter driven against the sandbox's Lalamove v3 dialect over real HTTP, plus the dialect's
own refusals (signature, market, service area, expired quotation) sent as raw signed requests."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from couriers.base import CourierEvent, CourierStatus, DeliveryRequest
from couriers.lalamove import LalamoveAdapter, LalamoveError, LalamoveSettings
from couriers.sandbox import SandboxConfig

FAST = 0.05
KEY, SECRET = "pk_test_sandbox", "sk_test_sandbox"
WEBHOOK_PATH = "/webhooks/couriers/lalamove"


@pytest.fixture
def jakarta_request(delivery_request) -> DeliveryRequest:
    """RSCM to a patient in Menteng, about 4 km apart (Lalamove does not serve Banyuwangi)."""
    origin = replace(delivery_request.origin, lat=-6.1966, lon=106.8470)
    destination = replace(delivery_request.destination, lat=-6.2297, lon=106.8280, phone="0812-3456-7890")
    return replace(delivery_request, reference="RX-LLM-0001", origin=origin, destination=destination)


@pytest.fixture
def start(sandbox_factory, make_receiver) -> Iterator[Callable[..., tuple[LalamoveAdapter, object, str]]]:
    adapters: list[LalamoveAdapter] = []

    def start(**overrides: object) -> tuple[LalamoveAdapter, object, str]:
        receiver = make_receiver(path=WEBHOOK_PATH)
        lalamove = {"webhook_url": receiver.url} | dict(overrides.pop("lalamove", {}))  # type: ignore[call-overload]
        config = SandboxConfig.model_validate(
            {"step_delay_seconds": FAST, "webhook_retry_delay_seconds": 0.01, "lalamove": lalamove}
            | overrides
        )
        base_url = sandbox_factory(config)
        adapter = LalamoveAdapter(
            LalamoveSettings(
                api_key=KEY,
                api_secret=SecretStr(SECRET),
                base_url=f"{base_url}/lalamove",
                webhook_path=WEBHOOK_PATH,
                timeout_seconds=5,
            )
        )
        adapters.append(adapter)
        return adapter, receiver, base_url

    yield start
    for adapter in adapters:
        adapter.close()


def events(adapter: LalamoveAdapter, received: list) -> list[CourierEvent]:
    parsed = []
    for webhook in received:
        assert adapter.verify_webhook(webhook.headers, webhook.body)
        parsed.append(adapter.parse_webhook(webhook.headers, webhook.body))
    return parsed


def signed(base_url: str, method: str, path: str, payload: object = None, **tamper: str) -> httpx.Response:
    """A request signed as couriers.md 3.2 documents, with parts replaceable to test refusals."""
    body = "" if payload is None else json.dumps(payload, separators=(",", ":"))
    timestamp = tamper.get("timestamp", str(int(time.time() * 1000)))
    message = f"{timestamp}\r\n{method}\r\n/lalamove{path}\r\n\r\n{body}"
    signature = hmac.new(tamper.get("secret", SECRET).encode(), message.encode(), hashlib.sha256).hexdigest()
    headers = {
        "Authorization": f"hmac {KEY}:{timestamp}:{signature}",
        "Market": tamper.get("market", "ID"),
        "Content-Type": "application/json",
    }
    return httpx.request(method, f"{base_url}/lalamove{path}", content=body, headers=headers)


def stop(lat: str, lng: str) -> dict[str, object]:
    return {"coordinates": {"lat": lat, "lng": lng}, "address": "Jl. Contoh 1"}


def test_happy_journey_reaches_completed(start, jakarta_request):
    adapter, receiver, _ = start()

    quote = adapter.quote(jakarta_request)
    booking = adapter.book(jakarta_request, quote)
    received = events(adapter, receiver.wait_for(4))

    assert quote.quote_id and quote.expires_at is not None
    assert len(booking.provider_order_id) == 19
    assert [event.provider_status for event in received] == [
        "DRIVER_ASSIGNED",
        "ON_GOING",
        "PICKED_UP",
        "COMPLETED",
    ]
    assert [event.status for event in received] == [
        CourierStatus.DRIVER_ASSIGNED,
        CourierStatus.EN_ROUTE_PICKUP,
        CourierStatus.PICKED_UP,
        CourierStatus.DELIVERED,
    ]
    assert received[0].driver_name and received[0].driver_phone and received[0].driver_phone.startswith("+62")
    assert {event.provider_order_id for event in received} == {booking.provider_order_id}
    assert len({event.event_id for event in received}) == 4
    assert all(json.loads(w.body)["eventVersion"] == "v3" for w in receiver.received)

    polled = adapter.status(booking.provider_order_id)
    assert polled.status is CourierStatus.DELIVERED
    assert polled.reference == "RX-LLM-0001"  # echoed from metadata
    with pytest.raises(LalamoveError) as refused:
        adapter.cancel(booking.provider_order_id)
    assert refused.value.status_code == 409
    assert refused.value.codes == {"ERR_CANCELLATION_FORBIDDEN"}


def test_no_driver_journey_expires(start, jakarta_request):
    adapter, receiver, base_url = start()
    rule = {"match_reference": "RX-LLM-0001", "scenario": "no_driver"}
    assert httpx.post(f"{base_url}/_sandbox/rules", json=rule).status_code == 201

    booking = adapter.book(jakarta_request)
    received = events(adapter, receiver.wait_for(1))

    assert [(event.provider_status, event.status) for event in received] == [
        ("EXPIRED", CourierStatus.NO_DRIVER)
    ]
    assert received[0].raw["data"]["order"]["previousStatus"] == "ASSIGNING_DRIVER"
    assert adapter.status(booking.provider_order_id).status is CourierStatus.NO_DRIVER


def test_a_driver_who_rejects_sends_the_order_back_to_matching(start, jakarta_request):
    adapter, receiver, _ = start(default_scenario="driver_cancels")

    adapter.book(jakarta_request)
    received = events(adapter, receiver.wait_for(4))

    assert [event.provider_status for event in received] == [
        "DRIVER_ASSIGNED",
        "ON_GOING",
        "ASSIGNING_DRIVER",
        "REJECTED",
    ]
    assert received[2].status is CourierStatus.REQUESTED
    assert received[2].raw["data"]["order"]["driverId"] == ""


def test_cancel_while_assigning_a_driver(start, jakarta_request):
    adapter, receiver, _ = start(step_delay_seconds=5)

    booking = adapter.book(jakarta_request)
    adapter.cancel(booking.provider_order_id)
    received = events(adapter, receiver.wait_for(1))

    assert [(event.provider_status, event.status) for event in received] == [
        ("CANCELED", CourierStatus.CANCELLED)
    ]
    assert adapter.status(booking.provider_order_id).status is CourierStatus.CANCELLED


def test_an_expired_quotation_is_refused_and_the_adapter_quotes_again(start, jakarta_request):
    adapter, _, base_url = start(lalamove={"quotation_ttl_seconds": 0.2})
    quote = adapter.quote(jakarta_request)
    stops = quote.raw["stops"]
    time.sleep(0.3)

    placed = signed(
        base_url,
        "POST",
        "/v3/orders",
        {
            "data": {
                "quotationId": quote.quote_id,
                "sender": {"stopId": stops[0]["stopId"], "name": "RSCM", "phone": "+6281111111111"},
                "recipients": [{"stopId": stops[1]["stopId"], "name": "Pasien", "phone": "+6281234567890"}],
            }
        },
    )
    # Our clock may trust a quotation Lalamove already dropped: the refusal makes the adapter quote again.
    booking = adapter.book(jakarta_request, replace(quote, expires_at=datetime.now(UTC) + timedelta(hours=1)))

    assert placed.status_code == 422
    assert placed.json()["errors"][0]["id"] == "ERR_INVALID_QUOTATION_ID"
    assert booking.raw["quotationId"] != quote.quote_id


def test_stops_outside_jakarta_bandung_surabaya_are_refused_as_lalamove_does(start):
    _, _, base_url = start()
    banyuwangi = [stop("-8.2197", "114.3665"), stop("-8.2003", "114.3467")]
    jakarta_to_bandung = [stop("-6.1966", "106.8470"), stop("-6.9175", "107.6191")]

    for stops in (banyuwangi, jakarta_to_bandung):
        response = signed(
            base_url, "POST", "/v3/quotations", {"data": {"serviceType": "MOTORCYCLE", "stops": stops}}
        )
        assert response.status_code == 422
        assert response.json() == {"errors": [{"id": "ERR_OUT_OF_SERVICE_AREA"}]}


@pytest.mark.parametrize(
    ("tamper", "status", "error_id"),
    [
        ({"secret": "sk_test_wrong"}, 401, "ERR_UNAUTHORIZED"),
        ({"timestamp": str(int(time.time() * 1000) - 3_600_000)}, 401, "ERR_UNAUTHORIZED"),
        ({"market": "SG"}, 422, "ERR_INVALID_MARKET"),
    ],
)
def test_requests_are_checked_as_lalamove_checks_them(start, tamper, status, error_id):
    _, _, base_url = start()
    body = {
        "data": {
            "serviceType": "MOTORCYCLE",
            "stops": [stop("-6.1966", "106.8470"), stop("-6.2297", "106.8280")],
        }
    }

    accepted = signed(base_url, "POST", "/v3/quotations", body, market="ID_JKT")
    refused = signed(base_url, "POST", "/v3/quotations", body, **tamper)

    assert accepted.status_code == 201
    assert refused.status_code == status
    assert refused.json()["errors"][0]["id"] == error_id


def test_webhook_registration_probes_the_url_with_an_empty_body(start, make_receiver):
    _, _, base_url = start()
    receiver = make_receiver(path="/hooks/new")

    registered = signed(base_url, "PATCH", "/v3/webhook", {"data": {"url": receiver.url}})

    assert registered.json() == {"data": {"url": receiver.url}}
    assert receiver.wait_for(1)[0].body == b""
