"""GoSend mapper: recorded payloads in, canonical types out (and back), with no HTTP involved."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from couriers.base import CourierError, CourierStatus, DeliveryRequest, Place, WebhookPayloadError
from couriers.gosend import mapper

OBSERVED_AT = datetime(2025, 3, 1, 8, 30, tzinfo=UTC)

# Shape from couriers.md 1.3 (typed struct of a real response); GoSend publishes no full recorded sample.
PRICE_RESPONSE = {
    "Instant": {
        "shipment_method": "Instant",
        "shipment_method_description": "Instant 1 - 2 hours",
        "serviceable": True,
        "active": True,
        "distance": 18.42,
        "route_polyline": "~r`e@_xhjS",
        "price": {
            "total_price": 46000,
            "go_pay_total_price": 46000,
            "go_pay_discount": 0,
            "go_pay_message": "",
            "voucher_discount": 0,
            "voucher_go_pay_discount": 0,
            "go_pay_discount_with_voucher": 0,
            "voucher_message": "",
            "voucher_monetary_value": 0,
            "total_price_with_voucher": 46000,
            "go_pay_total_price_with_voucher": 46000,
        },
    },
    "SameDay": {
        "shipment_method": "SameDay",
        "shipment_method_description": "Same Day 6 - 8 hours",
        "serviceable": False,
        "active": True,
        "distance": 18.42,
        "route_polyline": "~r`e@_xhjS",
        "price": {"total_price": 21000},
    },
}

# Field list from couriers.md 1.6; labels in ``status``, codes in ``bookingStatus``.
STATUS_RESPONSE = {
    "id": 170563,
    "orderNo": "GK-11-170563",
    "status": "Enroute Pickup",
    "bookingStatus": "out_for_pickup",
    "driverId": 501234,
    "driverName": "Budi Santoso",
    "driverPhone": "6281234567890",
    "driverPhoto": "https://example.invalid/driver.jpg",
    "vehicleNumber": "P 1234 XY",
    "totalDiscount": 0,
    "totalPrice": 20000,
    "receiverName": None,
    "orderCreatedTime": "2025-03-01T08:00:00+07:00",
    "orderDispatchTime": "2025-03-01T08:02:00+07:00",
    "orderArrivalTime": None,
    "orderClosedTime": None,
    "bookingType": "Instant",
    "cancelDescription": None,
    "storeOrderId": "AWB-123456",
    "liveTrackingUrl": "https://gojek.example.invalid/track/GK-11-170563",
    "totalDistanceInKms": 1.18,
}


def test_booking_request_matches_recorded_example(load_example, delivery_request):
    expected = load_example("gosend_booking_request_transcribed.json")
    # The transcribed sample writes the price Indonesian-style ("500.000"); we send plain rupiah digits.
    expected["routes"][0]["insuranceDetails"]["product_price"] = "500000"

    assert mapper.booking_request(delivery_request, "Instant") == expected


def test_booking_request_falls_back_to_place_name_for_contact(delivery_request):
    origin = Place(
        name="Instalasi Farmasi RSUD Blambangan",
        phone="0333421118",
        address="Jl. Letkol Istiqlah 49",
        lat=-8.2,
        lon=114.36,
    )
    request = DeliveryRequest(
        reference="RX-1", origin=origin, destination=delivery_request.destination, item_description="Obat"
    )

    route = mapper.booking_request(request, "Instant")["routes"][0]

    assert route["originContactName"] == "Instalasi Farmasi RSUD Blambangan"
    assert route["originContactPhone"] == "62333421118"
    assert route["insuranceDetails"]["product_price"] == "0"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("081234567890", "6281234567890"),
        ("+62 812-3456-7890", "6281234567890"),
        ("6281234567890", "6281234567890"),
        ("0062 812 3456 7890", "6281234567890"),
        ("812 3456 7890", "6281234567890"),
        ("(0333) 421118", "62333421118"),
    ],
)
def test_normalize_phone(raw, expected):
    assert mapper.normalize_phone(raw) == expected


@pytest.mark.parametrize("raw", ["", "12345", "+60123456789", "08123abc4567", "0812"])
def test_normalize_phone_refuses_non_indonesian_numbers(raw):
    with pytest.raises(ValueError, match="not an Indonesian phone number"):
        mapper.normalize_phone(raw)


def test_lat_long_never_uses_exponent_notation():
    assert mapper.lat_long(0.00001, 109.3425) == "0.0000100,109.3425"
    assert mapper.lat_long(-8.2192, 114.3691) == "-8.2192,114.3691"


def test_price_query(delivery_request):
    assert mapper.price_query(delivery_request) == {
        "origin": "-6.1263348,106.7890888",
        "destination": "-6.284508001748839,106.8295789",
        "paymentType": "3",
    }


@pytest.mark.parametrize(("service", "method"), [("instant", "Instant"), ("same_day", "SameDay")])
def test_shipment_method(service, method):
    assert mapper.shipment_method(service, "Instant") == method


def test_shipment_method_refuses_unknown_service():
    with pytest.raises(CourierError, match="does not offer service 'cold_chain'"):
        mapper.shipment_method("cold_chain", "Instant")


def test_parse_quote_picks_requested_method():
    quote = mapper.parse_quote(PRICE_RESPONSE, service="instant", method="Instant")

    assert quote.courier == "gosend"
    assert quote.service == "instant"
    assert quote.serviceable is True
    assert quote.price_idr == 46000
    assert quote.distance_km == pytest.approx(18.42)
    assert quote.eta_text == "Instant 1 - 2 hours"


def test_parse_quote_unserviceable_method():
    quote = mapper.parse_quote(PRICE_RESPONSE, service="same_day", method="SameDay")

    assert quote.serviceable is False
    assert quote.price_idr == 0
    assert quote.distance_km == pytest.approx(18.42)


def test_parse_quote_inactive_or_missing_method():
    inactive = {"Instant": {**PRICE_RESPONSE["Instant"], "active": False}}

    assert mapper.parse_quote(inactive, service="instant", method="Instant").serviceable is False
    missing = mapper.parse_quote(PRICE_RESPONSE, service="instant", method="InstantCar")
    assert missing.serviceable is False
    assert missing.distance_km is None


def test_parse_quote_rejects_non_object():
    with pytest.raises(CourierError, match="expected a JSON object"):
        mapper.parse_quote([], service="instant", method="Instant")


def test_parse_booking_recorded_response(load_example, delivery_request):
    body = load_example("gosend_booking_response_partial.json")

    booking = mapper.parse_booking(body, delivery_request)

    assert booking.courier == "gosend"
    assert booking.provider_order_id == "GK-11-170563"
    assert booking.reference == "AWB-123456"
    assert booking.status is CourierStatus.REQUESTED
    assert booking.raw == body


def test_parse_status_lookup():
    event = mapper.parse_status(STATUS_RESPONSE, observed_at=OBSERVED_AT)

    assert event.courier == "gosend"
    assert event.provider_order_id == "GK-11-170563"
    assert event.status is CourierStatus.EN_ROUTE_PICKUP
    assert event.provider_status == "out_for_pickup"
    assert event.event_id == "GK-11-170563:out_for_pickup:poll"
    assert event.occurred_at == OBSERVED_AT
    assert event.reference == "AWB-123456"
    assert event.driver_name == "Budi Santoso"
    assert event.driver_phone == "6281234567890"
    assert event.vehicle_plate == "P 1234 XY"
    assert event.tracking_url == "https://gojek.example.invalid/track/GK-11-170563"
    assert event.price_idr == 20000


@pytest.mark.parametrize(
    ("value", "code", "status"),
    [
        ("confirmed", "confirmed", CourierStatus.REQUESTED),
        ("Finding Driver", "confirmed", CourierStatus.REQUESTED),
        ("allocated", "allocated", CourierStatus.DRIVER_ASSIGNED),
        ("Driver Allocated", "allocated", CourierStatus.DRIVER_ASSIGNED),
        ("out_for_pickup", "out_for_pickup", CourierStatus.EN_ROUTE_PICKUP),
        ("Enroute Pickup", "out_for_pickup", CourierStatus.EN_ROUTE_PICKUP),
        ("picked", "picked", CourierStatus.PICKED_UP),
        ("Item Picked by Driver", "picked", CourierStatus.PICKED_UP),
        ("out_for_delivery", "out_for_delivery", CourierStatus.EN_ROUTE_DROPOFF),
        ("Enroute Drop", "out_for_delivery", CourierStatus.EN_ROUTE_DROPOFF),
        ("on_hold", "on_hold", CourierStatus.ON_HOLD),
        ("On Hold", "on_hold", CourierStatus.ON_HOLD),
        ("delivered", "delivered", CourierStatus.DELIVERED),
        ("Completed", "delivered", CourierStatus.DELIVERED),
        ("cancelled", "cancelled", CourierStatus.CANCELLED),
        ("rejected", "rejected", CourierStatus.RETURNING),
        ("no_driver", "no_driver", CourierStatus.NO_DRIVER),
        ("Driver not found", "no_driver", CourierStatus.NO_DRIVER),
        ("driver_reassigned", "driver_reassigned", CourierStatus.UNKNOWN),
    ],
)
def test_map_status_accepts_codes_and_labels(value, code, status):
    assert mapper.map_status(value) == (code, status)


def test_parse_status_label_only():
    body = {**STATUS_RESPONSE, "status": "Completed", "bookingStatus": None}

    event = mapper.parse_status(body, observed_at=OBSERVED_AT)

    assert event.status is CourierStatus.DELIVERED
    assert event.provider_status == "delivered"


def test_parse_status_falls_back_to_booking_status_code():
    body = {**STATUS_RESPONSE, "status": "Something New", "bookingStatus": "picked"}

    assert mapper.parse_status(body, observed_at=OBSERVED_AT).status is CourierStatus.PICKED_UP


def test_parse_status_unknown_is_never_guessed():
    body = {**STATUS_RESPONSE, "status": "Something New", "bookingStatus": "something_new"}

    event = mapper.parse_status(body, observed_at=OBSERVED_AT)

    assert event.status is CourierStatus.UNKNOWN
    assert event.provider_status == "Something New"


def test_parse_status_empty_driver_fields_are_none():
    body = {**STATUS_RESPONSE, "driverName": "", "driverPhone": None, "vehicleNumber": " "}

    event = mapper.parse_status(body, observed_at=OBSERVED_AT)

    assert (event.driver_name, event.driver_phone, event.vehicle_plate) == (None, None, None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({**STATUS_RESPONSE, "orderNo": None}, "no orderNo"),
        ({**STATUS_RESPONSE, "status": None, "bookingStatus": ""}, "no status"),
    ],
)
def test_parse_status_refuses_incomplete_body(body, message):
    with pytest.raises(CourierError, match=message):
        mapper.parse_status(body, observed_at=OBSERVED_AT)


def test_parse_webhook_recorded_no_driver_event(load_example):
    payload = load_example("gosend_webhook_booking_event_no_driver.json")

    event = mapper.parse_webhook(json.dumps(payload).encode())

    assert event.courier == "gosend"
    assert event.provider_order_id == "GK-11-117385"
    assert event.status is CourierStatus.NO_DRIVER
    assert event.provider_status == "no_driver"
    assert event.event_id == "7444acc4-0f14-419d-806c-6e245607c274"
    assert event.occurred_at == datetime(2022, 3, 29, 8, 35, 33, tzinfo=UTC)
    assert event.reference is None
    assert event.driver_name is None
    assert event.driver_phone is None
    assert event.tracking_url == "http://..."
    assert event.price_idr == 20000
    assert event.raw == payload


def test_parse_webhook_driver_fields_and_fallback_event_id(load_example):
    payload = load_example("gosend_webhook_booking_event_no_driver.json")
    del payload["event_id"]
    payload |= {
        "status": "allocated",
        "booking_status": "allocated",
        "driver_name": "Budi Santoso",
        "driver_phone": "6281234567890",
        "vehicle_number": "P 1234 XY",
    }

    event = mapper.parse_webhook(json.dumps(payload).encode())

    assert event.status is CourierStatus.DRIVER_ASSIGNED
    assert event.event_id == "GK-11-117385:allocated:1648542933000"
    assert (event.driver_name, event.driver_phone, event.vehicle_plate) == (
        "Budi Santoso",
        "6281234567890",
        "P 1234 XY",
    )


def test_parse_webhook_unknown_status_is_unknown(load_example):
    payload = load_example("gosend_webhook_booking_event_no_driver.json") | {"status": "driver_swapped"}

    event = mapper.parse_webhook(json.dumps(payload).encode())

    assert event.status is CourierStatus.UNKNOWN
    assert event.provider_status == "driver_swapped"


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe\x00",
        b"[]",
        b'"booking_event"',
        b'{"status": "delivered", "event_date": 1648542933000}',
        b'{"booking_id": "GK-11-1", "event_date": 1648542933000}',
        b'{"booking_id": "GK-11-1", "status": "delivered"}',
        b'{"booking_id": "GK-11-1", "status": "delivered", "event_date": "yesterday"}',
        b'{"booking_id": "GK-11-1", "status": "delivered", "event_date": 1e30}',
    ],
)
def test_parse_webhook_refuses_malformed_bodies(body):
    with pytest.raises(WebhookPayloadError):
        mapper.parse_webhook(body)


def test_parse_errors_from_body_and_header():
    assert mapper.parse_errors({"errors": ["Invalid destination", ""]}, {}) == ["Invalid destination"]
    assert mapper.parse_errors(None, {"error-message": "Booking not found"}) == ["Booking not found"]
    assert mapper.parse_errors({"errorMessage": "Driver busy"}, {"Error-Message": "Driver busy"}) == [
        "Driver busy"
    ]
    assert mapper.parse_errors({"errors": []}, {}) == []


def test_cancel_request():
    assert mapper.cancel_request("GK-11-170563") == {"orderNo": "GK-11-170563"}
