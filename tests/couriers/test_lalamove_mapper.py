"""Lalamove payload translation, fed with the recorded v3 examples (couriers.md 3.4-3.6)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from couriers.base import CourierError, CourierStatus, DeliveryRequest, OutsideServiceArea, Place, Quote
from couriers.lalamove import mapper
from couriers.lalamove.settings import DEFAULT_SERVICE_AREAS

NOW = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


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
            note="Ambil di loket 3",
        ),
        destination=Place(
            name="Ibu Sari",
            phone="0812-3456-7890",
            address="Jl. Kemang Raya No. 10, Jakarta Selatan",
            lat=-6.2615,
            lon=106.8106,
            note="Pagar hijau\nbel rusak",
        ),
        item_description="Paket obat tertutup",
    )


@pytest.fixture
def idr_quotation(load_example) -> dict:
    """The recorded quotation response, priced in rupiah as an Indonesian market answers."""
    body = load_example("lalamove_quotation_response_201.json")
    body["data"]["priceBreakdown"]["currency"] = "IDR"
    body["data"]["priceBreakdown"]["total"] = "26500"
    return body


def quote_from(body: dict, **changes: object) -> Quote:
    return replace(mapper.parse_quote(body, service="instant", now=NOW), **changes)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ASSIGNING_DRIVER", CourierStatus.REQUESTED),
        ("ON_GOING", CourierStatus.EN_ROUTE_PICKUP),
        ("PICKED_UP", CourierStatus.PICKED_UP),
        ("COMPLETED", CourierStatus.DELIVERED),
        ("CANCELED", CourierStatus.CANCELLED),
        ("REJECTED", CourierStatus.NO_DRIVER),
        ("EXPIRED", CourierStatus.NO_DRIVER),
        (" on_going ", CourierStatus.EN_ROUTE_PICKUP),
        ("CANCELLED", CourierStatus.UNKNOWN),
        ("SOMETHING_NEW", CourierStatus.UNKNOWN),
    ],
)
def test_map_status(code, status):
    assert mapper.map_status(code) is status


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2022-04-13T07:23:39.00Z", datetime(2022, 4, 13, 7, 23, 39, tzinfo=UTC)),
        ("2025-12-06T00:00:00.000Z", datetime(2025, 12, 6, tzinfo=UTC)),
        ("2025-12-06T00:10:00.25Z", datetime(2025, 12, 6, 0, 10, 0, 250000, tzinfo=UTC)),
        # Lalamove's "HH:MM.ff" form: the fraction belongs to the minute.
        ("2025-08-03T16:43.00Z", datetime(2025, 8, 3, 16, 43, tzinfo=UTC)),
        ("2021-12-01T14:30.50Z", datetime(2021, 12, 1, 14, 30, 30, tzinfo=UTC)),
        ("2025-08-03T23:43:00+07:00", datetime(2025, 8, 3, 16, 43, tzinfo=UTC)),
    ],
)
def test_parse_time(text, expected):
    parsed = mapper.parse_time(text)

    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("text", ["2025-08-03", "2025-08-03T16:43:00", "yesterday", 1700000000, None])
def test_parse_time_refuses(text):
    with pytest.raises(ValueError, match="ISO 8601"):
        mapper.parse_time(text)


def test_jakarta_trip_is_served(jakarta_request):
    mapper.check_service_area(DEFAULT_SERVICE_AREAS, jakarta_request)


def test_banyuwangi_pickup_is_refused(jakarta_request):
    blambangan = replace(jakarta_request.origin, name="RSUD Blambangan", lat=-8.2192, lon=114.3691)
    request = replace(jakarta_request, origin=blambangan)

    with pytest.raises(OutsideServiceArea, match=r"lalamove does not serve the pick-up at RSUD Blambangan"):
        mapper.check_service_area(DEFAULT_SERVICE_AREAS, request)


def test_dropoff_outside_is_refused(jakarta_request):
    request = replace(
        jakarta_request, destination=replace(jakarta_request.destination, lat=-8.2250, lon=114.36)
    )

    with pytest.raises(OutsideServiceArea, match="drop-off at Ibu Sari"):
        mapper.check_service_area(DEFAULT_SERVICE_AREAS, request)


def test_trip_between_two_served_cities_is_refused(jakarta_request):
    bandung = replace(jakarta_request.destination, lat=-6.9147, lon=107.6098)

    with pytest.raises(OutsideServiceArea, match="from Jakarta to Bandung"):
        mapper.check_service_area(DEFAULT_SERVICE_AREAS, replace(jakarta_request, destination=bandung))


@pytest.mark.parametrize("city", DEFAULT_SERVICE_AREAS, ids=lambda area: area.name)
def test_each_city_centre_is_served(jakarta_request, city):
    origin = replace(jakarta_request.origin, lat=city.lat, lon=city.lon)
    destination = replace(jakarta_request.destination, lat=city.lat + 0.05, lon=city.lon)

    mapper.check_service_area(
        DEFAULT_SERVICE_AREAS, replace(jakarta_request, origin=origin, destination=destination)
    )


def test_same_day_service_is_refused():
    with pytest.raises(CourierError, match="does not offer service 'same_day'"):
        mapper.check_service("same_day")


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("0812-3456-7890", "+6281234567890"),
        ("+62 21 7501524", "+62217501524"),
        ("6281234567890", "+6281234567890"),
    ],
)
def test_e164(phone, expected):
    assert mapper.e164(phone) == expected


@pytest.mark.parametrize("phone", ["0812", "+65 6123 4567", "not a phone", ""])
def test_e164_refuses(phone):
    with pytest.raises(CourierError, match="phone number") as caught:
        mapper.e164(phone)

    assert caught.value.retryable is False


def test_quotation_request(jakarta_request):
    body = mapper.quotation_request(jakarta_request, service_type="MOTORCYCLE", language="id_ID")

    assert body == {
        "data": {
            "serviceType": "MOTORCYCLE",
            "language": "id_ID",
            "stops": [
                {
                    "coordinates": {"lat": "-6.292", "lng": "106.7942"},
                    "address": "Jl. RS Fatmawati Raya No.4, Cilandak, Jakarta Selatan",
                },
                {
                    "coordinates": {"lat": "-6.2615", "lng": "106.8106"},
                    "address": "Jl. Kemang Raya No. 10, Jakarta Selatan",
                },
            ],
        }
    }


def test_quotation_request_has_the_recorded_shape(jakarta_request, load_example):
    """Every field we send exists in the documented request; item details are TH/VN/HK only."""
    recorded = load_example("lalamove_quotation_request.json")["data"]
    body = mapper.quotation_request(jakarta_request, service_type="MOTORCYCLE", language="id_ID")["data"]

    assert set(body) <= set(recorded)
    assert set(body["stops"][0]) == set(recorded["stops"][0])
    assert set(body["stops"][0]["coordinates"]) == set(recorded["stops"][0]["coordinates"])


@pytest.mark.parametrize(("value", "text"), [(1e-05, "0.0000100"), (-8.2192, "-8.2192"), (114.36, "114.36")])
def test_coordinate(value, text):
    assert mapper.coordinate(value) == text


def test_parse_recorded_quotation(idr_quotation):
    quote = mapper.parse_quote(idr_quotation, service="instant", now=NOW)

    assert quote.courier == "lalamove"
    assert quote.quote_id == "1514140994227007571"
    assert quote.price_idr == 26500
    assert quote.distance_km == pytest.approx(5.836)
    assert quote.serviceable is True
    assert quote.expires_at == datetime(2022, 4, 13, 7, 23, 39, tzinfo=UTC)
    assert mapper.stop_ids(quote.raw) == ("1514140995971838016", "1514140995971838017")
    assert quote.raw == idr_quotation["data"]


def test_quotation_without_expiry_is_valid_five_minutes(idr_quotation):
    del idr_quotation["data"]["expiresAt"]

    assert mapper.parse_quote(idr_quotation, service="instant", now=NOW).expires_at == NOW + timedelta(
        minutes=5
    )


def test_recorded_quotation_in_hong_kong_dollars_is_refused(load_example):
    with pytest.raises(CourierError, match="quoted in HKD, not IDR"):
        mapper.parse_quote(load_example("lalamove_quotation_response_201.json"), service="instant", now=NOW)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda data: data.pop("quotationId"), "without quotationId"),
        (lambda data: data["stops"].pop(), "exactly two stops"),
        (lambda data: data["stops"][1].update(stopId=""), "exactly two stops"),
        (lambda data: data["priceBreakdown"].pop("total"), "no total price"),
        (lambda data: data.update(expiresAt="soon"), "unreadable time"),
    ],
)
def test_unusable_quotation(idr_quotation, change, message):
    change(idr_quotation["data"])

    with pytest.raises(CourierError, match=message):
        mapper.parse_quote(idr_quotation, service="instant", now=NOW)


@pytest.mark.parametrize("body", [{}, {"data": []}, [], None])
def test_response_without_data_object(body):
    with pytest.raises(CourierError, match="no data object"):
        mapper.parse_quote(body, service="instant", now=NOW)


def test_quote_usable_until_margin_before_expiry(idr_quotation):
    quote = quote_from(idr_quotation, expires_at=NOW + timedelta(seconds=60))
    margin = timedelta(seconds=15)

    assert mapper.quote_is_usable(quote, now=NOW + timedelta(seconds=44), margin=margin) is True
    assert mapper.quote_is_usable(quote, now=NOW + timedelta(seconds=45), margin=margin) is False


@pytest.mark.parametrize(
    "changes",
    [{"courier": "gosend"}, {"quote_id": None}, {"expires_at": None}, {"raw": {}}],
)
def test_quote_not_usable(idr_quotation, changes):
    quote = quote_from(idr_quotation, **{"expires_at": NOW + timedelta(minutes=5), **changes})

    assert mapper.quote_is_usable(quote, now=NOW, margin=timedelta(0)) is False


def test_no_quote_is_not_usable():
    assert mapper.quote_is_usable(None, now=NOW, margin=timedelta(0)) is False


def test_order_request(jakarta_request, idr_quotation):
    body = mapper.order_request(jakarta_request, quote_from(idr_quotation), pod_enabled=True)

    assert body == {
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
                    "remarks": "Paket obat tertutup\r\nPagar hijau\r\nbel rusak",
                }
            ],
            "isPODEnabled": True,
            "metadata": {"gancangReference": "RX-2025-000123"},
        }
    }


def test_order_request_has_the_recorded_shape(jakarta_request, idr_quotation, load_example):
    recorded = load_example("lalamove_place_order_request.json")["data"]
    body = mapper.order_request(jakarta_request, quote_from(idr_quotation), pod_enabled=False)["data"]

    assert set(body) == set(recorded) - {"partner"}
    assert set(body["sender"]) == set(recorded["sender"])
    assert set(body["recipients"][0]) == set(recorded["recipients"][0])
    assert body["isPODEnabled"] is False


def test_order_request_trims_remarks_and_omits_empty_ones(jakarta_request, idr_quotation):
    quote = quote_from(idr_quotation)
    long_note = replace(jakarta_request, item_description="x" * 2000)
    no_note = replace(
        jakarta_request, item_description="", destination=replace(jakarta_request.destination, note="")
    )

    assert (
        len(mapper.order_request(long_note, quote, pod_enabled=True)["data"]["recipients"][0]["remarks"])
        == 1500
    )
    assert "remarks" not in mapper.order_request(no_note, quote, pod_enabled=True)["data"]["recipients"][0]


def test_order_request_refuses_foreign_phone(jakarta_request, idr_quotation):
    request = replace(
        jakarta_request, destination=replace(jakarta_request.destination, phone="+660923447537")
    )

    with pytest.raises(CourierError, match="not an Indonesian phone number"):
        mapper.order_request(request, quote_from(idr_quotation), pod_enabled=True)


def test_parse_recorded_order_response(jakarta_request, load_example):
    body = load_example("lalamove_place_order_response_201.json")

    booking = mapper.parse_booking(body, jakarta_request)

    assert booking.courier == "lalamove"
    assert booking.provider_order_id == "107900701184"
    assert booking.reference == "RX-2025-000123"
    # The docs' example order is already COMPLETED; the status is mapped, not assumed.
    assert booking.status is CourierStatus.DELIVERED
    assert booking.raw["shareLink"] == "https://share.lalamove.com/?TH1234556&lang=th_TH&version=2"


def test_booking_without_status_is_requested(jakarta_request):
    booking = mapper.parse_booking({"data": {"orderId": "3379143481582114256"}}, jakarta_request)

    assert booking.status is CourierStatus.REQUESTED


def test_booking_without_order_id(jakarta_request):
    with pytest.raises(CourierError, match="no orderId"):
        mapper.parse_booking({"data": {"orderId": ""}}, jakarta_request)


def test_parse_recorded_driver(load_example):
    driver = mapper.parse_driver(load_example("lalamove_driver_details_response.json"))

    assert driver == mapper.Driver(
        driver_id="33522", name="David", phone="37013701", plate="**LAM0V*", photo_url="<PROFILE_PHOTO_URL>"
    )


def test_driver_without_id():
    with pytest.raises(CourierError, match="no driverId"):
        mapper.parse_driver({"data": {"name": "David"}})


def test_parse_recorded_order_details(load_example):
    body = load_example("lalamove_place_order_response_201.json")
    body["data"]["metadata"] = {"gancangReference": "RX-2025-000123"}
    driver = mapper.parse_driver(load_example("lalamove_driver_details_response.json"))

    event = mapper.parse_order(body, observed_at=NOW, driver=driver)

    assert event.provider_order_id == "107900701184"
    assert event.status is CourierStatus.DELIVERED
    assert event.provider_status == "COMPLETED"
    assert event.event_id == "107900701184:COMPLETED:poll"
    assert event.occurred_at == NOW
    assert event.reference == "RX-2025-000123"
    assert (event.driver_name, event.driver_phone, event.vehicle_plate) == ("David", "37013701", "**LAM0V*")
    assert event.tracking_url == "https://share.lalamove.com/?TH1234556&lang=th_TH&version=2"
    assert event.proof_of_delivery_url == "POD_IMAGE_URL"
    # Priced in baht: no rupiah amount is made up.
    assert event.price_idr is None


def test_order_details_in_rupiah_without_driver_or_pod():
    body = {
        "data": {
            "orderId": "3379143481582114256",
            "status": "ASSIGNING_DRIVER",
            "driverId": "",
            "priceBreakdown": {"total": "26500", "currency": "IDR"},
            "stops": [{"stopId": "1"}, {"stopId": "2", "POD": {"status": "PENDING", "image": ""}}],
        }
    }

    event = mapper.parse_order(body, observed_at=NOW)

    assert event.status is CourierStatus.REQUESTED
    assert event.price_idr == 26500
    assert (event.driver_name, event.reference, event.proof_of_delivery_url) == (None, None, None)


@pytest.mark.parametrize(
    ("data", "driver_id"),
    [
        ({"status": "ON_GOING", "driverId": "80557"}, "80557"),
        ({"status": "PICKED_UP", "driverId": "80557"}, "80557"),
        ({"status": "ON_GOING", "driverId": ""}, None),
        ({"status": "ASSIGNING_DRIVER", "driverId": ""}, None),
        ({"status": "COMPLETED", "driverId": "80557"}, None),
    ],
)
def test_order_driver_id(data, driver_id):
    assert mapper.order_driver_id({"data": data}) == driver_id


def test_order_details_without_status():
    with pytest.raises(CourierError, match="lack orderId or status"):
        mapper.parse_order({"data": {"orderId": "1"}}, observed_at=NOW)


def test_parse_recorded_error_shapes(load_example):
    bodies = load_example("lalamove_error_bodies.json")

    assert mapper.parse_errors(bodies["errors_array_shape"]) == [
        mapper.ApiError(
            "ERR_REQUIRED_FIELD",
            "ERR_REQUIRED_FIELD: Please verify your field. 'name' validation failed: value cannot be null or "
            "empty.",
        ),
        mapper.ApiError(
            "ERR_REQUIRED_FIELD",
            "ERR_REQUIRED_FIELD: Please verify your field. 'market' validation failed: value cannot be "
            "null or empty.",
        ),
    ]
    assert [mapper.parse_errors(body) for body in bodies["message_shape_examples"]] == [
        [mapper.ApiError("ERR_OUT_OF_SERVICE_AREA", "ERR_OUT_OF_SERVICE_AREA")],
        [mapper.ApiError("ERR_INSUFFICIENT_CREDIT", "ERR_INSUFFICIENT_CREDIT")],
        [mapper.ApiError("ERR_RATE_LIMIT_EXCEEDED", "ERR_RATE_LIMIT_EXCEEDED")],
        [mapper.ApiError("ERR_CANCELLATION_FORBIDDEN", "ERR_CANCELLATION_FORBIDDEN")],
    ]
    assert mapper.parse_errors(bodies["observed_in_live_sandbox_422"]) == [
        mapper.ApiError("ERR_OUT_OF_SERVICE_AREA", "ERR_OUT_OF_SERVICE_AREA")
    ]


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"message": "Unauthorized"}, [mapper.ApiError(None, "Unauthorized")]),
        ({"errors": [{"message": "Bad JSON"}, "junk", {}]}, [mapper.ApiError(None, "Bad JSON")]),
        ({"errors": "ERR_X"}, []),
        ("<html>", []),
        (None, []),
    ],
)
def test_parse_other_error_bodies(body, errors):
    assert mapper.parse_errors(body) == errors
