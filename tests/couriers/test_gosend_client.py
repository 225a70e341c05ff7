"""GoSend adapter I/O, per operation: the exact request we send, the URL, and what we make of the answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
import respx

from couriers.base import CourierError, CourierStatus
from couriers.gosend.client import GoSendAdapter

GOSEND_API = "https://integration-kilat-api.gojekapi.com/gokilat/v10"
BOOKING_RESPONSE = {
    "id": 170563,
    "orderNo": "GK-11-170563",
    "bookingType": "Instant",
    "storeOrderId": "AWB-123456",
    "errorMessage": None,
    "prebook": False,
    "prebookMessage": "",
    "errors": [],
}
STATUS_RESPONSE = {
    "id": 170563,
    "orderNo": "GK-11-170563",
    "status": "Driver Allocated",
    "bookingStatus": "allocated",
    "driverName": "Budi Santoso",
    "driverPhone": "6281234567890",
    "vehicleNumber": "P 1234 XY",
    "totalPrice": 20000,
    "storeOrderId": "AWB-123456",
    "liveTrackingUrl": "https://gojek.example.invalid/track/GK-11-170563",
}
PRICE_RESPONSE = {
    "Instant": {
        "shipment_method": "Instant",
        "shipment_method_description": "Instant 1 - 2 hours",
        "serviceable": True,
        "active": True,
        "distance": 25.1,
        "price": {"total_price": 63000},
    }
}


@pytest.fixture
def gosend_mock() -> Iterator[respx.MockRouter]:
    """A respx router used as the injected transport (no global patching); every route must be called."""
    with respx.mock(base_url=GOSEND_API, assert_all_called=True, using=None) as router:
        yield router


@pytest.fixture
def adapter(gosend_settings, gosend_mock) -> Iterator[GoSendAdapter]:
    with GoSendAdapter(gosend_settings, transport=httpx.MockTransport(gosend_mock.handler)) as gosend:
        yield gosend


def assert_gosend_headers(request: httpx.Request) -> None:
    assert request.headers["Client-ID"] == "gancang-test"
    assert request.headers["Pass-Key"] == "pass-key-secret"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"


def test_quote_request_and_parse(adapter, gosend_mock, delivery_request):
    route = gosend_mock.get("/calculate/price").respond(200, json=PRICE_RESPONSE)

    quote = adapter.quote(delivery_request)

    request = route.calls.last.request
    assert str(request.url) == (
        f"{GOSEND_API}/calculate/price"
        "?origin=-6.1263348%2C106.7890888&destination=-6.284508001748839%2C106.8295789&paymentType=3"
    )
    assert_gosend_headers(request)
    assert (quote.serviceable, quote.price_idr, quote.distance_km) == (True, 63000, 25.1)


def test_book_sends_recorded_body_and_parses_201(adapter, gosend_mock, delivery_request, load_example):
    route = gosend_mock.post("/booking").respond(201, json=BOOKING_RESPONSE)

    booking = adapter.book(delivery_request)

    request = route.calls.last.request
    assert request.method == "POST"
    assert request.url == f"{GOSEND_API}/booking"
    assert_gosend_headers(request)
    expected = load_example("gosend_booking_request_transcribed.json")
    expected["routes"][0]["insuranceDetails"]["product_price"] = "500000"
    assert json.loads(request.content) == expected
    assert booking.provider_order_id == "GK-11-170563"
    assert booking.reference == "AWB-123456"
    assert booking.status is CourierStatus.REQUESTED


def test_book_errors_array(adapter, gosend_mock, delivery_request):
    gosend_mock.post("/booking").respond(
        400, json={"errors": ["Destination is outside the service area"], "errorMessage": None}
    )

    with pytest.raises(CourierError) as caught:
        adapter.book(delivery_request)

    assert caught.value.messages == ["Destination is outside the service area"]
    assert caught.value.status_code == 400
    assert caught.value.retryable is False


def test_book_without_id_reads_error_message_header(adapter, gosend_mock, delivery_request):
    gosend_mock.post("/booking").respond(
        201, json={}, headers={"Error-Message": "Insufficient deposit balance"}
    )

    with pytest.raises(CourierError) as caught:
        adapter.book(delivery_request)

    assert caught.value.messages == ["Insufficient deposit balance"]
    assert caught.value.retryable is False


def test_book_without_id_or_reason(adapter, gosend_mock, delivery_request):
    gosend_mock.post("/booking").respond(200, json={"errors": []})

    with pytest.raises(CourierError, match="no booking id"):
        adapter.book(delivery_request)


def test_book_unknown_service_sends_nothing(adapter, delivery_request):
    request = replace(delivery_request, service="cold_chain")

    with pytest.raises(CourierError, match="does not offer service"):
        adapter.book(request)


def test_status_by_order_no(adapter, gosend_mock):
    route = gosend_mock.get("/booking/orderno/GK-11-170563").respond(200, json=STATUS_RESPONSE)

    event = adapter.status("GK-11-170563")

    request = route.calls.last.request
    assert request.url == f"{GOSEND_API}/booking/orderno/GK-11-170563"
    assert_gosend_headers(request)
    assert event.status is CourierStatus.DRIVER_ASSIGNED
    assert event.provider_status == "allocated"
    assert event.driver_name == "Budi Santoso"
    assert event.reference == "AWB-123456"
    assert event.occurred_at.tzinfo is not None


def test_find_by_reference(adapter, gosend_mock):
    route = gosend_mock.get("/booking/storeOrderId/AWB-123456").respond(200, json=STATUS_RESPONSE)

    event = adapter.find_by_reference("AWB-123456")

    assert route.calls.last.request.url == f"{GOSEND_API}/booking/storeOrderId/AWB-123456"
    assert event is not None
    assert event.provider_order_id == "GK-11-170563"


def test_find_by_reference_not_found(adapter, gosend_mock):
    gosend_mock.get("/booking/storeOrderId/RX-404").respond(404, json={"errors": ["Booking not found"]})

    assert adapter.find_by_reference("RX-404") is None


def test_find_by_reference_encodes_slashes(adapter, gosend_mock):
    route = gosend_mock.get(url__regex=r".*/booking/storeOrderId/.*").respond(404)

    assert adapter.find_by_reference("RX/2025/001") is None
    assert route.calls.last.request.url.raw_path == b"/gokilat/v10/booking/storeOrderId/RX%2F2025%2F001"


def test_cancel(adapter, gosend_mock):
    route = gosend_mock.put("/booking/cancel").respond(200, json={"message": "Booking cancelled"})

    adapter.cancel("GK-11-170563")

    request = route.calls.last.request
    assert request.url == f"{GOSEND_API}/booking/cancel"
    assert_gosend_headers(request)
    assert json.loads(request.content) == {"orderNo": "GK-11-170563"}


def test_cancel_refused_with_error_message_header(adapter, gosend_mock):
    gosend_mock.put("/booking/cancel").respond(
        422, headers={"Error-Message": "Booking cannot be cancelled after pickup"}
    )

    with pytest.raises(CourierError) as caught:
        adapter.cancel("GK-11-170563")

    assert caught.value.messages == ["Booking cannot be cancelled after pickup"]
    assert caught.value.status_code == 422
    assert caught.value.retryable is False


@pytest.mark.parametrize("status_code", [500, 502, 503, 429])
def test_server_errors_and_rate_limits_are_retryable(adapter, gosend_mock, status_code):
    gosend_mock.get("/booking/orderno/GK-11-170563").respond(status_code, text="<html>Bad Gateway</html>")

    with pytest.raises(CourierError) as caught:
        adapter.status("GK-11-170563")

    assert caught.value.retryable is True
    assert caught.value.status_code == status_code
    assert caught.value.messages == [f"GoSend answered HTTP {status_code}"]


def test_401_is_not_retryable(adapter, gosend_mock):
    gosend_mock.get("/booking/orderno/GK-11-170563").respond(401, json={"errors": ["Unauthorized"]})

    with pytest.raises(CourierError) as caught:
        adapter.status("GK-11-170563")

    assert caught.value.retryable is False
    assert caught.value.messages == ["Unauthorized"]


@pytest.mark.parametrize(
    "exception", [httpx.ReadTimeout("read timed out"), httpx.ConnectTimeout("connect timed out")]
)
def test_timeouts_are_retryable(adapter, gosend_mock, delivery_request, exception):
    gosend_mock.post("/booking").mock(side_effect=exception)

    with pytest.raises(CourierError, match="timed out") as caught:
        adapter.book(delivery_request)

    assert caught.value.retryable is True
    assert caught.value.status_code is None


def test_connection_errors_are_retryable(adapter, gosend_mock, delivery_request):
    gosend_mock.get("/calculate/price").mock(side_effect=httpx.ConnectError("connection refused"))

    with pytest.raises(CourierError, match="unreachable") as caught:
        adapter.quote(delivery_request)

    assert caught.value.retryable is True


def test_success_without_json_body(adapter, gosend_mock):
    gosend_mock.get("/booking/orderno/GK-11-170563").respond(200, text="OK")

    with pytest.raises(CourierError, match="not JSON") as caught:
        adapter.status("GK-11-170563")

    assert caught.value.retryable is False


def test_error_messages_never_carry_the_pass_key(adapter, gosend_mock, delivery_request):
    gosend_mock.post("/booking").respond(403, json={"errors": ["Forbidden"]})

    with pytest.raises(CourierError) as caught:
        adapter.book(delivery_request)

    assert "pass-key-secret" not in str(caught.value)
