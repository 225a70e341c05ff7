"""GrabExpress adapter I/O, per operation: the token, the exact request we send, and what we make of the answer."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
import respx
from pydantic import SecretStr, ValidationError

from couriers.base import CourierError, CourierStatus
from couriers.gosend.settings import GoSendSettings
from couriers.grabexpress import PLUGIN, GrabExpressAdapter, GrabExpressSettings

API = "https://partner-api.grab.com/grab-express-sandbox"
TOKEN_URL = "https://partner-api.grab.com/grabid/v1/oauth2/token"
DELIVERY_ID = "IN-2-0BTPB1C1G8IL6W72ZHK8"
CLIENT_SECRET = "client-secret-value"
TOKEN_LIFETIME = 604799  # the recorded token response's expires_in
# ClientCredentialsToken stops using a token this long before it expires.
TOKEN_MARGIN = 60

TOKEN_CALL_BODY = {
    "client_id": "gancang-grab",
    "client_secret": CLIENT_SECRET,
    "grant_type": "client_credentials",
    "scope": "grab_express.partner_deliveries",
}
# The conftest request (GoSend's recorded example) as Grab's create body.
EXPECTED_DELIVERY_BODY = {
    "merchantOrderID": "AWB-123456",
    "serviceType": "INSTANT",
    "vehicleType": "BIKE",
    "paymentMethod": "CASHLESS",
    "packages": [
        {
            "name": "Sepatu, Sendal, Kaos Kaki",
            "description": "Sepatu, Sendal, Kaos Kaki",
            "quantity": 1,
            "price": 500_000,
            "dimensions": {"weight": 1000},
        }
    ],
    "origin": {
        "address": "Alamat lengkap asal",
        "coordinates": {"latitude": -6.1263348, "longitude": 106.7890888},
    },
    "destination": {
        "address": "Alamat lengkap tujuan",
        "coordinates": {"latitude": -6.284508001748839, "longitude": 106.8295789},
    },
    "sender": {
        "firstName": "The Kingdom Shop",
        "companyName": "Pak Andri",
        "phone": "6285201311802",
        "smsEnabled": True,
        "instruction": "Tunggu di lobby",
    },
    "recipient": {
        "firstName": "Toko Jaya Agung",
        "companyName": "Pak Nando",
        "phone": "6281254564161",
        "smsEnabled": True,
        "instruction": "Tolong hati-hati",
    },
}


class FakeClock:
    """Monotonic seconds that only move when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def token_response(access_token: str, expires_in: int = TOKEN_LIFETIME) -> httpx.Response:
    return httpx.Response(
        200, json={"access_token": access_token, "token_type": "Bearer", "expires_in": expires_in}
    )


@pytest.fixture
def settings() -> GrabExpressSettings:
    return GrabExpressSettings(client_id="gancang-grab", client_secret=SecretStr(CLIENT_SECRET))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def grab_mock() -> Iterator[respx.MockRouter]:
    """A respx router used as the injected transport (no global patching); every route must be called."""
    with respx.mock(assert_all_called=True, using=None) as router:
        yield router


@pytest.fixture
def token_route(grab_mock) -> respx.Route:
    return grab_mock.post(TOKEN_URL, name="token").mock(return_value=token_response("token-1"))


@pytest.fixture
def adapter(settings, grab_mock, clock) -> Iterator[GrabExpressAdapter]:
    transport = httpx.MockTransport(grab_mock.handler)
    with GrabExpressAdapter(settings, transport=transport, clock=clock) as grab:
        yield grab


def assert_api_headers(request: httpx.Request) -> None:
    assert request.headers["Authorization"] == "Bearer token-1"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"


def test_token_call_is_exactly_what_grab_documents(adapter, grab_mock, load_example):
    token = grab_mock.post(TOKEN_URL).respond(200, json=load_example("grabexpress_token_response.json"))
    status = grab_mock.get(f"{API}/v1/deliveries/{DELIVERY_ID}").respond(
        200, json=load_example("grabexpress_get_delivery_response.json")
    )

    adapter.status(DELIVERY_ID)

    request = token.calls.last.request
    assert request.method == "POST"
    assert request.url == TOKEN_URL
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Cache-Control"] == "no-cache"
    assert "Authorization" not in request.headers
    assert json.loads(request.content) == TOKEN_CALL_BODY
    assert status.calls.last.request.headers["Authorization"] == (
        "Bearer <JWT redacted - source shows a sample RS256 JWT>"
    )


def test_quote_request_and_parse(adapter, grab_mock, token_route, delivery_request, load_example):
    recorded = load_example("grabexpress_quotes_response.json")
    recorded["quotes"][0].update(currency={"code": "IDR", "symbol": "Rp", "exponent": 0}, amount=25_000)
    route = grab_mock.post(f"{API}/v1/deliveries/quotes").respond(200, json=recorded)

    quote = adapter.quote(delivery_request)

    request = route.calls.last.request
    assert request.method == "POST"
    assert request.url == f"{API}/v1/deliveries/quotes"
    assert_api_headers(request)
    expected = {
        key: value
        for key, value in EXPECTED_DELIVERY_BODY.items()
        if key not in {"merchantOrderID", "sender", "recipient"}
    }
    assert json.loads(request.content) == expected
    assert (quote.serviceable, quote.price_idr, quote.distance_km) == (True, 25_000, 10.449)


def test_quote_in_another_currency_is_refused(
    adapter, grab_mock, token_route, delivery_request, load_example
):
    grab_mock.post(f"{API}/v1/deliveries/quotes").respond(
        200, json=load_example("grabexpress_quotes_response.json")
    )

    with pytest.raises(CourierError, match="priced in SGD") as caught:
        adapter.quote(delivery_request)

    assert caught.value.retryable is False


def test_quote_sends_configured_vehicle_and_city(settings, grab_mock, token_route, clock, delivery_request):
    route = grab_mock.post(f"{API}/v1/deliveries/quotes").respond(200, json={"quotes": []})
    configured = settings.model_copy(update={"vehicle_type": "CAR", "city_code": "BWX"})

    with GrabExpressAdapter(
        configured, transport=httpx.MockTransport(grab_mock.handler), clock=clock
    ) as grab:
        quote = grab.quote(delivery_request)

    body = json.loads(route.calls.last.request.content)
    assert body["vehicleType"] == "CAR"
    assert body["origin"]["cityCode"] == body["destination"]["cityCode"] == "BWX"
    assert quote.serviceable is False


def test_book_sends_the_create_body_and_parses_the_recorded_response(
    adapter, grab_mock, token_route, delivery_request, load_example
):
    route = grab_mock.post(f"{API}/v1/deliveries").respond(
        200, json=load_example("grabexpress_create_delivery_response.json")
    )

    booking = adapter.book(delivery_request)

    request = route.calls.last.request
    assert request.method == "POST"
    assert request.url == f"{API}/v1/deliveries"
    assert_api_headers(request)
    assert json.loads(request.content) == EXPECTED_DELIVERY_BODY
    assert booking.courier == "grabexpress"
    assert booking.provider_order_id == DELIVERY_ID
    assert booking.reference == "AWB-123456"
    assert booking.status is CourierStatus.REQUESTED


def test_book_409_unable_to_create_is_not_retryable(adapter, grab_mock, token_route, delivery_request):
    grab_mock.post(f"{API}/v1/deliveries").respond(409, json={"message": "unable to create delivery"})

    with pytest.raises(CourierError) as caught:
        adapter.book(delivery_request)

    assert caught.value.messages == ["unable to create delivery"]
    assert caught.value.status_code == 409
    assert caught.value.retryable is False


def test_book_unknown_service_sends_nothing(adapter, delivery_request):
    with pytest.raises(CourierError, match="does not offer service"):
        adapter.book(replace(delivery_request, service="same_day"))


def test_status_request_and_recorded_response(adapter, grab_mock, token_route, load_example):
    route = grab_mock.get(f"{API}/v1/deliveries/{DELIVERY_ID}").respond(
        200, json=load_example("grabexpress_get_delivery_response.json")
    )

    event = adapter.status(DELIVERY_ID)

    request = route.calls.last.request
    assert request.method == "GET"
    assert request.content == b""
    assert_api_headers(request)
    assert event.provider_order_id == "IN-2-00D2B1CBMWBO7JND48J5"
    assert event.status is CourierStatus.DELIVERED
    assert event.occurred_at.tzinfo is not None


def test_ids_are_one_path_segment(adapter, grab_mock, token_route):
    route = grab_mock.delete(url__regex=r".*/v1/deliveries/.*").respond(204)

    adapter.cancel("IN/../merchant/deliveries/x")

    assert route.calls.last.request.url.raw_path == (
        b"/grab-express-sandbox/v1/deliveries/IN%2F..%2Fmerchant%2Fdeliveries%2Fx"
    )


def test_cancel(adapter, grab_mock, token_route):
    route = grab_mock.delete(f"{API}/v1/deliveries/{DELIVERY_ID}").respond(204)

    adapter.cancel(DELIVERY_ID)

    request = route.calls.last.request
    assert request.method == "DELETE"
    assert request.content == b""
    assert_api_headers(request)


def test_cancel_after_pickup_is_refused_for_good(adapter, grab_mock, token_route):
    grab_mock.delete(f"{API}/v1/deliveries/{DELIVERY_ID}").respond(
        409, json={"message": "delivery already picked up"}
    )

    with pytest.raises(CourierError) as caught:
        adapter.cancel(DELIVERY_ID)

    assert caught.value.messages == [
        f"GrabExpress refuses to cancel {DELIVERY_ID}: already picked up",
        "delivery already picked up",
    ]
    assert caught.value.status_code == 409
    assert caught.value.retryable is False


def test_cancel_unknown_delivery(adapter, grab_mock, token_route):
    grab_mock.delete(f"{API}/v1/deliveries/IN-404").respond(404, text="delivery not found")

    with pytest.raises(CourierError) as caught:
        adapter.cancel("IN-404")

    assert caught.value.messages == ["delivery not found"]
    assert (caught.value.status_code, caught.value.retryable) == (404, False)


def test_4xx_business_error_body(adapter, grab_mock, token_route, delivery_request):
    grab_mock.post(f"{API}/v1/deliveries/quotes").respond(
        400, json={"target": "destination", "reason": "CITY_NOT_SUPPORTED", "message": "City not supported"}
    )

    with pytest.raises(CourierError) as caught:
        adapter.quote(delivery_request)

    assert caught.value.messages == ["City not supported", "CITY_NOT_SUPPORTED"]
    assert (caught.value.status_code, caught.value.retryable, caught.value.retry_after) == (400, False, None)


def test_4xx_plain_text_body(adapter, grab_mock, token_route, delivery_request):
    grab_mock.post(f"{API}/v1/deliveries/quotes").respond(400, text="Distance SLA Exceeded\n")

    with pytest.raises(CourierError) as caught:
        adapter.quote(delivery_request)

    assert caught.value.messages == ["Distance SLA Exceeded"]


def test_401_fetches_a_new_token_and_retries_once(adapter, grab_mock, load_example):
    token = grab_mock.post(TOKEN_URL).mock(side_effect=[token_response("token-1"), token_response("token-2")])
    route = grab_mock.get(f"{API}/v1/deliveries/{DELIVERY_ID}").mock(
        side_effect=[
            httpx.Response(401, json={"message": "token expired"}),
            httpx.Response(200, json=load_example("grabexpress_get_delivery_response.json")),
        ]
    )

    event = adapter.status(DELIVERY_ID)

    assert token.call_count == 2
    assert [call.request.headers["Authorization"] for call in route.calls] == [
        "Bearer token-1",
        "Bearer token-2",
    ]
    assert event.status is CourierStatus.DELIVERED


def test_second_401_gives_up(adapter, grab_mock):
    token = grab_mock.post(TOKEN_URL).mock(side_effect=[token_response("token-1"), token_response("token-2")])
    route = grab_mock.get(f"{API}/v1/deliveries/{DELIVERY_ID}").respond(401, json={"message": "unauthorized"})

    with pytest.raises(CourierError) as caught:
        adapter.status(DELIVERY_ID)

    assert (token.call_count, route.call_count) == (2, 2)
    assert caught.value.messages == ["unauthorized"]
    assert (caught.value.status_code, caught.value.retryable) == (401, False)


def test_one_token_for_many_calls_and_a_new_one_after_expiry(adapter, grab_mock, clock, load_example):
    token = grab_mock.post(TOKEN_URL).mock(side_effect=[token_response("token-1"), token_response("token-2")])
    route = grab_mock.get(f"{API}/v1/deliveries/{DELIVERY_ID}").respond(
        200, json=load_example("grabexpress_get_delivery_response.json")
    )

    adapter.status(DELIVERY_ID)
    clock.now += TOKEN_LIFETIME - TOKEN_MARGIN - 1
    adapter.status(DELIVERY_ID)
    adapter.status(DELIVERY_ID)
    assert token.call_count == 1
    clock.now += 1
    adapter.status(DELIVERY_ID)

    assert token.call_count == 2
    assert [call.request.headers["Authorization"] for call in route.calls] == [
        "Bearer token-1",
        "Bearer token-1",
        "Bearer token-1",
        "Bearer token-2",
    ]


def test_concurrent_calls_share_one_token_fetch(adapter, grab_mock, load_example):
    def slow_token(request: httpx.Request) -> httpx.Response:
        # Widen the window in which threads without the lock would each start a fetch.
        time.sleep(0.05)
        return token_response("token-1")

    token = grab_mock.post(TOKEN_URL).mock(side_effect=slow_token)
    grab_mock.get(f"{API}/v1/deliveries/{DELIVERY_ID}").respond(
        200, json=load_example("grabexpress_get_delivery_response.json")
    )
    start = threading.Barrier(6)
    failures: list[BaseException] = []

    def poll() -> None:
        start.wait()
        try:
            adapter.status(DELIVERY_ID)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=poll) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)

    assert failures == []
    assert token.call_count == 1


@pytest.mark.parametrize(
    ("status_code", "retryable"), [(400, False), (401, False), (429, True), (500, True), (503, True)]
)
def test_token_endpoint_failures(adapter, grab_mock, status_code, retryable):
    grab_mock.post(TOKEN_URL).respond(status_code, json={"message": "invalid_client"})

    with pytest.raises(CourierError) as caught:
        adapter.status(DELIVERY_ID)

    assert caught.value.messages == ["GrabExpress access token request failed", "invalid_client"]
    assert (caught.value.status_code, caught.value.retryable) == (status_code, retryable)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, json={"token_type": "Bearer", "expires_in": 604799}),
        httpx.Response(200, text="<html>login</html>"),
    ],
)
def test_token_response_without_a_token(adapter, grab_mock, response):
    grab_mock.post(TOKEN_URL).mock(return_value=response)

    with pytest.raises(CourierError) as caught:
        adapter.status(DELIVERY_ID)

    assert caught.value.retryable is False
    assert caught.value.status_code == 200


def test_token_timeout_is_retryable(adapter, grab_mock):
    grab_mock.post(TOKEN_URL).mock(side_effect=httpx.ConnectTimeout("connect timed out"))

    with pytest.raises(CourierError, match="timed out") as caught:
        adapter.status(DELIVERY_ID)

    assert caught.value.retryable is True


def test_429_carries_retry_after(adapter, grab_mock, token_route, delivery_request):
    grab_mock.post(f"{API}/v1/deliveries/quotes").respond(
        429, json={"message": "rate limit exceeded"}, headers={"Retry-After": "7"}
    )

    with pytest.raises(CourierError) as caught:
        adapter.quote(delivery_request)

    assert (caught.value.status_code, caught.value.retryable, caught.value.retry_after) == (429, True, 7.0)
    assert caught.value.messages == ["rate limit exceeded"]


@pytest.mark.parametrize("status_code", [500, 502, 503, 504])
def test_server_errors_are_retryable(adapter, grab_mock, token_route, status_code):
    grab_mock.get(f"{API}/v1/deliveries/{DELIVERY_ID}").respond(status_code, html="<html>Bad Gateway</html>")

    with pytest.raises(CourierError) as caught:
        adapter.status(DELIVERY_ID)

    assert caught.value.retryable is True
    assert caught.value.retry_after is None
    assert caught.value.messages == [f"GrabExpress answered HTTP {status_code}"]


@pytest.mark.parametrize(
    "exception", [httpx.ReadTimeout("read timed out"), httpx.ConnectTimeout("connect timed out")]
)
def test_timeouts_are_retryable(adapter, grab_mock, token_route, delivery_request, exception):
    grab_mock.post(f"{API}/v1/deliveries").mock(side_effect=exception)

    with pytest.raises(CourierError, match="timed out") as caught:
        adapter.book(delivery_request)

    assert caught.value.retryable is True
    assert caught.value.status_code is None


def test_connection_errors_are_retryable(adapter, grab_mock, token_route):
    grab_mock.delete(f"{API}/v1/deliveries/{DELIVERY_ID}").mock(side_effect=httpx.ConnectError("refused"))

    with pytest.raises(CourierError, match="unreachable") as caught:
        adapter.cancel(DELIVERY_ID)

    assert caught.value.retryable is True


def test_success_without_json_body(adapter, grab_mock, token_route):
    grab_mock.get(f"{API}/v1/deliveries/{DELIVERY_ID}").respond(200, text="OK")

    with pytest.raises(CourierError, match="not JSON") as caught:
        adapter.status(DELIVERY_ID)

    assert (caught.value.status_code, caught.value.retryable) == (200, False)


def test_no_lookup_by_reference(adapter):
    assert adapter.capabilities.lookup_by_reference is False
    with pytest.raises(CourierError, match="no lookup by merchantOrderID") as caught:
        adapter.find_by_reference("AWB-123456")
    assert caught.value.retryable is False


def test_capabilities_follow_settings(settings):
    capabilities = GrabExpressAdapter(settings.model_copy(update={"max_distance_km": 20.0})).capabilities

    assert (capabilities.instant, capabilities.same_day, capabilities.cold_chain) == (True, False, False)
    assert capabilities.max_distance_km == 20.0
    assert capabilities.cancel_before_pickup_only is True


def test_secrets_stay_out_of_errors_and_logs(adapter, grab_mock, delivery_request, caplog):
    grab_mock.post(TOKEN_URL).mock(return_value=token_response("token-secret-value"))
    grab_mock.post(f"{API}/v1/deliveries").respond(403, json={"message": "Forbidden"})
    caplog.set_level(logging.DEBUG)

    with pytest.raises(CourierError) as caught:
        adapter.book(delivery_request)

    for secret in (CLIENT_SECRET, "token-secret-value"):
        assert secret not in str(caught.value)
        assert secret not in caplog.text


def test_plugin_builds_the_adapter(settings, grab_mock, token_route, load_example):
    grab_mock.get(f"{API}/v1/deliveries/{DELIVERY_ID}").respond(
        200, json=load_example("grabexpress_get_delivery_response.json")
    )

    adapter = PLUGIN.build(settings, httpx.MockTransport(grab_mock.handler))

    assert (PLUGIN.name, PLUGIN.settings_model) == ("grabexpress", GrabExpressSettings)
    assert isinstance(adapter, GrabExpressAdapter)
    assert adapter.status(DELIVERY_ID).status is CourierStatus.DELIVERED
    adapter.close()


def test_plugin_refuses_other_settings():
    with pytest.raises(TypeError, match="GrabExpressSettings"):
        PLUGIN.build(GoSendSettings(client_id="x", pass_key=SecretStr("y")), None)


@pytest.mark.parametrize(
    "values",
    [
        {"client_id": "", "client_secret": "s"},
        {"client_id": "c", "client_secret": "  "},
        {"client_id": "c", "client_secret": "s", "base_url": "partner-api.grab.com"},
        {"client_id": "c", "client_secret": "s", "token_url": "ftp://grab"},
        {"client_id": "c", "client_secret": "s", "webhook_token": ""},
        {"client_id": "c", "client_secret": "s", "webhook_auth_id": " "},
        {"client_id": "c", "client_secret": "s", "timeout_seconds": 0},
        {"client_id": "c", "client_secret": "s", "surprise": True},
    ],
)
def test_invalid_settings_are_refused(values):
    with pytest.raises(ValidationError):
        GrabExpressSettings.model_validate(values)


def test_settings_default_to_the_sandbox(settings):
    assert settings.base_url == API
    assert settings.token_url == TOKEN_URL
    assert settings.webhook_token is None
