"""Lalamove adapter I/O, per operation: the exact signed request we send and what we make of the answer."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx
from pydantic import SecretStr, ValidationError

from couriers.base import (
    Capabilities,
    CourierError,
    CourierStatus,
    DeliveryRequest,
    OutsideServiceArea,
    Place,
    Quote,
)
from couriers.gosend.settings import GoSendSettings
from couriers.lalamove import PLUGIN, LalamoveAdapter, LalamoveError, LalamoveSettings
from couriers.lalamove.settings import DEFAULT_SERVICE_AREAS

API = "https://rest.sandbox.lalamove.com"
API_KEY = "pk_test_gancang"
SECRET = "sk_test_example_secret"
# 1 700 000 000 000 ms, the timestamp of the reference's signature vectors.
NOW = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
ORDER_ID = "3379143481582114256"
REQUEST_IDS = [f"req-{number}" for number in range(1, 10)]


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
def lalamove_mock() -> Iterator[respx.MockRouter]:
    """A respx router used as the injected transport (no global patching); every route must be called."""
    with respx.mock(base_url=API, assert_all_called=True, using=None) as router:
        yield router


@pytest.fixture
def adapter(settings, clock, lalamove_mock) -> Iterator[LalamoveAdapter]:
    request_ids = iter(REQUEST_IDS)
    with LalamoveAdapter(
        settings,
        transport=httpx.MockTransport(lalamove_mock.handler),
        clock=clock,
        request_id=lambda: next(request_ids),
    ) as lalamove:
        yield lalamove


@pytest.fixture
def jakarta_request() -> DeliveryRequest:
    return DeliveryRequest(
        reference="RX-2025-000123",
        origin=Place(
            name="Instalasi Farmasi RSUP Fatmawati",
            phone="021 7501524",
            address="Jl. RS Fatmawati Raya No.4, Cilandak, Jakarta Selatan",
            lat=-6.2920,
            lon=106.7942,
        ),
        destination=Place(
            name="Ibu Sari",
            phone="0812-3456-7890",
            address="Jl. Kemang Raya No. 10, Jakarta Selatan",
            lat=-6.2615,
            lon=106.8106,
            note="Pagar hijau",
        ),
        item_description="Paket obat tertutup",
    )


@pytest.fixture
def banyuwangi_request(jakarta_request) -> DeliveryRequest:
    return replace(
        jakarta_request,
        origin=replace(jakarta_request.origin, name="RSUD Blambangan", lat=-8.2192, lon=114.3691),
        destination=replace(jakarta_request.destination, lat=-8.2250, lon=114.3600),
    )


@pytest.fixture
def quotation(load_example) -> dict:
    """The recorded quotation response, priced in rupiah as the Indonesian market answers."""
    body = load_example("lalamove_quotation_response_201.json")
    body["data"]["priceBreakdown"].update(currency="IDR", total="26500")
    body["data"]["expiresAt"] = "2023-11-14T22:18:20.00Z"
    return body


@pytest.fixture
def order_response(load_example) -> dict:
    body = load_example("lalamove_place_order_response_201.json")
    body["data"].update(
        status="ASSIGNING_DRIVER", driverId="", metadata={"gancangReference": "RX-2025-000123"}
    )
    return body


def expected_authorization(request: httpx.Request, timestamp_ms: int = 1_700_000_000_000) -> str:
    """Recomputed here from couriers.md 3.2, independently of the adapter's signing code."""
    message = f"{timestamp_ms}\r\n{request.method}\r\n{request.url.raw_path.decode()}\r\n\r\n".encode()
    digest = hmac.new(SECRET.encode(), message + request.content, hashlib.sha256).hexdigest()
    return f"hmac {API_KEY}:{timestamp_ms}:{digest}"


def assert_lalamove_headers(request: httpx.Request, request_id: str) -> None:
    assert request.headers["Authorization"] == expected_authorization(request)
    assert request.headers["Market"] == "ID"
    assert request.headers["Request-ID"] == request_id
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"


def test_quote_request_and_parse(adapter, lalamove_mock, jakarta_request, quotation):
    route = lalamove_mock.post("/v3/quotations").respond(201, json=quotation)

    quote = adapter.quote(jakarta_request)

    request = route.calls.last.request
    assert request.method == "POST"
    assert request.url == f"{API}/v3/quotations"
    assert_lalamove_headers(request, "req-1")
    assert request.content == (
        b'{"data":{"serviceType":"MOTORCYCLE","language":"id_ID","stops":['
        b'{"coordinates":{"lat":"-6.292","lng":"106.7942"},'
        b'"address":"Jl. RS Fatmawati Raya No.4, Cilandak, Jakarta Selatan"},'
        b'{"coordinates":{"lat":"-6.2615","lng":"106.8106"},'
        b'"address":"Jl. Kemang Raya No. 10, Jakarta Selatan"}]}}'
    )
    assert quote.quote_id == "1514140994227007571"
    assert quote.price_idr == 26500
    assert quote.expires_at == NOW + timedelta(minutes=5)
    assert [stop["stopId"] for stop in quote.raw["stops"]] == ["1514140995971838016", "1514140995971838017"]


def test_quote_in_the_wrong_currency(adapter, lalamove_mock, jakarta_request, load_example):
    lalamove_mock.post("/v3/quotations").respond(
        201, json=load_example("lalamove_quotation_response_201.json")
    )

    with pytest.raises(CourierError, match="quoted in HKD"):
        adapter.quote(jakarta_request)


def test_banyuwangi_is_refused_before_any_request(adapter, lalamove_mock, banyuwangi_request, quotation):
    with pytest.raises(OutsideServiceArea, match="RSUD Blambangan"):
        adapter.quote(banyuwangi_request)
    quote = Quote(courier="lalamove", service="instant", price_idr=1, distance_km=None, serviceable=True)
    with pytest.raises(OutsideServiceArea, match="RSUD Blambangan") as caught:
        adapter.book(banyuwangi_request, quote)

    assert caught.value.retryable is False
    assert not lalamove_mock.calls
    assert adapter.capabilities.serves(-8.2192, 114.3691) is False


def test_same_day_is_refused_before_any_request(adapter, lalamove_mock, jakarta_request):
    with pytest.raises(CourierError, match="does not offer service"):
        adapter.quote(replace(jakarta_request, service="same_day"))

    assert not lalamove_mock.calls


def test_book_with_bad_phone_sends_nothing(adapter, lalamove_mock, jakarta_request):
    request = replace(jakarta_request, destination=replace(jakarta_request.destination, phone="12345"))

    with pytest.raises(CourierError, match="phone number"):
        adapter.book(request)

    assert not lalamove_mock.calls


def test_book_cites_a_valid_quote(adapter, lalamove_mock, jakarta_request, quotation, order_response):
    lalamove_mock.post("/v3/quotations").respond(201, json=quotation)
    place = lalamove_mock.post("/v3/orders").respond(201, json=order_response)
    quote = adapter.quote(jakarta_request)

    booking = adapter.book(jakarta_request, quote)

    request = place.calls.last.request
    assert request.url == f"{API}/v3/orders"
    assert_lalamove_headers(request, "req-2")
    assert json.loads(request.content) == {
        "data": {
            "quotationId": "1514140994227007571",
            "sender": {
                "stopId": "1514140995971838016",
                "name": "Instalasi Farmasi RSUP Fatmawati",
                "phone": "+62217501524",
            },
            "recipients": [
                {
                    "stopId": "1514140995971838017",
                    "name": "Ibu Sari",
                    "phone": "+6281234567890",
                    "remarks": "Paket obat tertutup\r\nPagar hijau",
                }
            ],
            "isPODEnabled": True,
            "metadata": {"gancangReference": "RX-2025-000123"},
        }
    }
    assert booking.provider_order_id == "107900701184"
    assert booking.reference == "RX-2025-000123"
    assert booking.status is CourierStatus.REQUESTED
    assert len(lalamove_mock.calls) == 2


def test_book_requotes_an_expired_quote(
    adapter, lalamove_mock, clock, jakarta_request, quotation, order_response
):
    fresh = copy.deepcopy(quotation)
    fresh["data"].update(quotationId="2222", expiresAt="2023-11-14T22:23:20Z")
    quotations = lalamove_mock.post("/v3/quotations").mock(
        side_effect=[httpx.Response(201, json=quotation), httpx.Response(201, json=fresh)]
    )
    place = lalamove_mock.post("/v3/orders").respond(201, json=order_response)
    quote = adapter.quote(jakarta_request)
    clock.now = NOW + timedelta(minutes=5)

    adapter.book(jakarta_request, quote)

    assert quotations.call_count == 2
    assert json.loads(place.calls.last.request.content)["data"]["quotationId"] == "2222"
    # Each request is signed with the clock's time when it is sent.
    assert place.calls.last.request.headers["Authorization"] == expected_authorization(
        place.calls.last.request, 1_700_000_300_000
    )


def test_book_without_quote_fetches_one(adapter, lalamove_mock, jakarta_request, quotation, order_response):
    requote = lalamove_mock.post("/v3/quotations").respond(201, json=quotation)
    place = lalamove_mock.post("/v3/orders").respond(201, json=order_response)

    adapter.book(jakarta_request)

    assert requote.call_count == 1
    assert json.loads(place.calls.last.request.content)["data"]["quotationId"] == "1514140994227007571"
    assert [call.request.headers["Request-ID"] for call in lalamove_mock.calls] == ["req-1", "req-2"]


@pytest.mark.parametrize("code", ["ERR_INVALID_QUOTATION_ID", "ERR_QUOTATION_EXPIRED"])
def test_book_requotes_once_when_lalamove_calls_the_quote_expired(
    adapter, lalamove_mock, jakarta_request, quotation, order_response, code
):
    quote = replace(
        Quote(courier="lalamove", service="instant", price_idr=26500, distance_km=5.8, serviceable=True),
        quote_id="1111",
        expires_at=NOW + timedelta(minutes=4),
        raw=quotation["data"],
    )
    requote = lalamove_mock.post("/v3/quotations").respond(201, json=quotation)
    place = lalamove_mock.post("/v3/orders").mock(
        side_effect=[
            httpx.Response(422, json={"errors": [{"id": code, "message": "wrong or expired"}]}),
            httpx.Response(201, json=order_response),
        ]
    )

    booking = adapter.book(jakarta_request, quote)

    assert requote.call_count == 1
    assert [json.loads(call.request.content)["data"]["quotationId"] for call in place.calls] == [
        "1111",
        "1514140994227007571",
    ]
    assert booking.provider_order_id == "107900701184"


def test_book_does_not_requote_twice(adapter, lalamove_mock, jakarta_request, quotation):
    lalamove_mock.post("/v3/quotations").respond(201, json=quotation)
    place = lalamove_mock.post("/v3/orders").respond(422, json={"message": "ERR_INVALID_QUOTATION_ID"})

    with pytest.raises(LalamoveError) as caught:
        adapter.book(jakarta_request)

    assert place.call_count == 1
    assert caught.value.codes == {"ERR_INVALID_QUOTATION_ID"}
    assert caught.value.retryable is False


def test_book_insufficient_credit(adapter, lalamove_mock, jakarta_request, quotation):
    lalamove_mock.post("/v3/quotations").respond(201, json=quotation)
    lalamove_mock.post("/v3/orders").respond(402, json={"message": "ERR_INSUFFICIENT_CREDIT"})

    with pytest.raises(CourierError) as caught:
        adapter.book(jakarta_request)

    assert caught.value.messages == ["ERR_INSUFFICIENT_CREDIT"]
    assert caught.value.status_code == 402
    assert caught.value.retryable is False


def test_quote_out_of_service_area_answer(adapter, lalamove_mock, jakarta_request, load_example):
    """Our circles are an approximation; Lalamove's own refusal comes back with its code."""
    body = load_example("lalamove_error_bodies.json")["observed_in_live_sandbox_422"]
    lalamove_mock.post("/v3/quotations").respond(422, json=body)

    with pytest.raises(LalamoveError) as caught:
        adapter.quote(jakarta_request)

    assert caught.value.messages == ["ERR_OUT_OF_SERVICE_AREA"]
    assert caught.value.codes == {"ERR_OUT_OF_SERVICE_AREA"}
    assert caught.value.status_code == 422


def test_quote_validation_errors(adapter, lalamove_mock, jakarta_request, load_example):
    lalamove_mock.post("/v3/quotations").respond(
        422, json=load_example("lalamove_error_bodies.json")["errors_array_shape"]
    )

    with pytest.raises(CourierError) as caught:
        adapter.quote(jakarta_request)

    assert caught.value.messages == [
        "ERR_REQUIRED_FIELD: Please verify your field. 'name' validation failed: value cannot be null or "
        "empty.",
        "ERR_REQUIRED_FIELD: Please verify your field. 'market' validation failed: value cannot be null or "
        "empty.",
    ]
    assert caught.value.retryable is False


def test_cancel(adapter, lalamove_mock):
    route = lalamove_mock.delete(f"/v3/orders/{ORDER_ID}").respond(204)

    adapter.cancel(ORDER_ID)

    request = route.calls.last.request
    assert request.method == "DELETE"
    assert request.url == f"{API}/v3/orders/{ORDER_ID}"
    assert request.content == b""
    assert_lalamove_headers(request, "req-1")


def test_cancel_refused(adapter, lalamove_mock):
    lalamove_mock.delete(f"/v3/orders/{ORDER_ID}").respond(
        409, json={"message": "ERR_CANCELLATION_FORBIDDEN"}
    )

    with pytest.raises(LalamoveError) as caught:
        adapter.cancel(ORDER_ID)

    assert caught.value.messages == ["ERR_CANCELLATION_FORBIDDEN"]
    assert caught.value.codes == {"ERR_CANCELLATION_FORBIDDEN"}
    assert caught.value.status_code == 409
    assert caught.value.retryable is False


def test_status_fetches_the_driver(adapter, lalamove_mock, order_response, load_example):
    order_response["data"].update(orderId=ORDER_ID, status="ON_GOING", driverId="33522")
    order = lalamove_mock.get(f"/v3/orders/{ORDER_ID}").respond(200, json=order_response)
    driver = lalamove_mock.get(f"/v3/orders/{ORDER_ID}/drivers/33522").respond(
        200, json=load_example("lalamove_driver_details_response.json")
    )

    event = adapter.status(ORDER_ID)

    request = order.calls.last.request
    # Byte for byte the reference's GET vector: same secret, timestamp, path and empty body.
    assert request.headers["Authorization"] == (
        f"hmac {API_KEY}:1700000000000:43f43c2b941cf1bc8dafda10af625fd8706008e846a794612ee6c142b937e8c5"
    )
    assert_lalamove_headers(request, "req-1")
    assert_lalamove_headers(driver.calls.last.request, "req-2")
    assert event.provider_order_id == ORDER_ID
    assert event.status is CourierStatus.EN_ROUTE_PICKUP
    assert event.provider_status == "ON_GOING"
    assert event.reference == "RX-2025-000123"
    assert (event.driver_name, event.driver_phone, event.vehicle_plate) == ("David", "37013701", "**LAM0V*")
    assert event.occurred_at == NOW


def test_status_without_visible_driver(adapter, lalamove_mock, order_response):
    order_response["data"].update(orderId=ORDER_ID, status="PICKED_UP", driverId="33522")
    lalamove_mock.get(f"/v3/orders/{ORDER_ID}").respond(200, json=order_response)
    lalamove_mock.get(f"/v3/orders/{ORDER_ID}/drivers/33522").respond(403, json={"message": "ERR_FORBIDDEN"})

    event = adapter.status(ORDER_ID)

    assert event.status is CourierStatus.PICKED_UP
    assert event.driver_name is None


def test_status_while_assigning_asks_no_driver(adapter, lalamove_mock, order_response):
    order_response["data"]["orderId"] = ORDER_ID
    lalamove_mock.get(f"/v3/orders/{ORDER_ID}").respond(200, json=order_response)

    event = adapter.status(ORDER_ID)

    assert event.status is CourierStatus.REQUESTED
    assert len(lalamove_mock.calls) == 1


def test_driver_lookup_failure_is_not_swallowed(adapter, lalamove_mock, order_response):
    order_response["data"].update(orderId=ORDER_ID, status="ON_GOING", driverId="33522")
    lalamove_mock.get(f"/v3/orders/{ORDER_ID}").respond(200, json=order_response)
    lalamove_mock.get(f"/v3/orders/{ORDER_ID}/drivers/33522").respond(500)

    with pytest.raises(CourierError) as caught:
        adapter.status(ORDER_ID)

    assert caught.value.retryable is True


def test_order_ids_are_one_path_segment(adapter, lalamove_mock):
    route = lalamove_mock.get(url__regex=r".*/v3/orders/.*").respond(
        404, json={"message": "ERR_ORDER_NOT_FOUND"}
    )

    with pytest.raises(CourierError, match="ERR_ORDER_NOT_FOUND"):
        adapter.status("1/drivers/2")

    request = route.calls.last.request
    assert request.url.raw_path == b"/v3/orders/1%2Fdrivers%2F2"
    assert request.headers["Authorization"] == expected_authorization(request)


def test_find_by_reference_is_not_offered(adapter, lalamove_mock):
    assert adapter.capabilities.lookup_by_reference is False
    with pytest.raises(CourierError, match="cannot look orders up by our reference") as caught:
        adapter.find_by_reference("RX-2025-000123")

    assert caught.value.retryable is False
    assert not lalamove_mock.calls


@pytest.mark.parametrize(
    ("headers", "retry_after"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"Retry-After": "Tue, 14 Nov 2023 22:13:50 GMT"}, 30.0),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_rate_limit_is_retryable_with_hint(adapter, lalamove_mock, headers, retry_after):
    lalamove_mock.get(f"/v3/orders/{ORDER_ID}").respond(
        429, json={"message": "ERR_RATE_LIMIT_EXCEEDED"}, headers=headers
    )

    with pytest.raises(CourierError) as caught:
        adapter.status(ORDER_ID)

    assert caught.value.retryable is True
    assert caught.value.retry_after == retry_after
    assert caught.value.messages == ["ERR_RATE_LIMIT_EXCEEDED"]


@pytest.mark.parametrize("status_code", [500, 502, 503])
def test_server_errors_are_retryable(adapter, lalamove_mock, status_code):
    lalamove_mock.get(f"/v3/orders/{ORDER_ID}").respond(status_code, text="<html>Bad Gateway</html>")

    with pytest.raises(CourierError) as caught:
        adapter.status(ORDER_ID)

    assert caught.value.retryable is True
    assert caught.value.retry_after is None
    assert caught.value.messages == [f"Lalamove answered HTTP {status_code}"]


def test_bad_signature_is_not_retryable(adapter, lalamove_mock):
    lalamove_mock.get(f"/v3/orders/{ORDER_ID}").respond(401, json={"message": "Unauthorized"})

    with pytest.raises(CourierError) as caught:
        adapter.status(ORDER_ID)

    assert caught.value.retryable is False
    assert caught.value.status_code == 401


@pytest.mark.parametrize(
    ("exception", "message"),
    [
        (httpx.ReadTimeout("read timed out"), "timed out"),
        (httpx.ConnectTimeout("connect timed out"), "timed out"),
        (httpx.ConnectError("connection refused"), "unreachable"),
    ],
)
def test_transport_failures_are_retryable(adapter, lalamove_mock, jakarta_request, exception, message):
    lalamove_mock.post("/v3/quotations").mock(side_effect=exception)

    with pytest.raises(CourierError, match=message) as caught:
        adapter.quote(jakarta_request)

    assert caught.value.retryable is True
    assert caught.value.status_code is None


def test_success_without_json_body(adapter, lalamove_mock):
    lalamove_mock.get(f"/v3/orders/{ORDER_ID}").respond(200, text="OK")

    with pytest.raises(CourierError, match="not JSON") as caught:
        adapter.status(ORDER_ID)

    assert caught.value.retryable is False


def test_secret_never_leaks(adapter, lalamove_mock, jakarta_request, caplog):
    lalamove_mock.post("/v3/quotations").respond(401, json={"message": "Unauthorized"})

    with caplog.at_level(logging.DEBUG), pytest.raises(CourierError) as caught:
        adapter.quote(jakarta_request)

    assert SECRET not in str(caught.value)
    assert SECRET not in caplog.text
    assert "req-1" in caplog.text
    assert SECRET not in repr(adapter._settings)


def test_capabilities(adapter):
    assert adapter.capabilities == Capabilities(
        instant=True,
        same_day=False,
        cancel_before_pickup_only=True,
        cancel_window_seconds=300,
        service_areas=DEFAULT_SERVICE_AREAS,
        lookup_by_reference=False,
    )
    assert [area.name for area in adapter.capabilities.service_areas] == ["Jakarta", "Bandung", "Surabaya"]


def test_plugin_builds_from_raw_settings(lalamove_mock, jakarta_request, quotation):
    settings = PLUGIN.settings_model.model_validate(
        {
            "api_key": API_KEY,
            "api_secret": SECRET,
            "market": "ID",
            "service_areas": [{"name": "Jakarta", "lat": -6.1754, "lon": 106.8272, "radius_km": 20}],
        }
    )
    route = lalamove_mock.post("/v3/quotations").respond(201, json=quotation)

    adapter = PLUGIN.build(settings, httpx.MockTransport(lalamove_mock.handler))

    assert PLUGIN.name == LalamoveAdapter.name == "lalamove"
    assert adapter.quote(jakarta_request).price_idr == 26500
    assert route.calls.last.request.headers["Authorization"].startswith(f"hmac {API_KEY}:")


def test_plugin_refuses_other_settings():
    with pytest.raises(TypeError, match="LalamoveSettings"):
        PLUGIN.build(GoSendSettings(client_id="x", pass_key=SecretStr("y")), None)


@pytest.mark.parametrize(
    "changes",
    [
        {"api_secret": " "},
        {"api_key": ""},
        {"base_url": "rest.lalamove.com"},
        {"webhook_path": "webhooks/lalamove"},
        {"webhook_signed_data": "json"},
        {"service_areas": []},
        {"unknown": 1},
    ],
)
def test_settings_refuse_bad_values(changes):
    with pytest.raises(ValidationError):
        LalamoveSettings.model_validate({"api_key": API_KEY, "api_secret": SECRET, **changes})
