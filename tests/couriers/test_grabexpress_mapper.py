"""GrabExpress mapper: recorded payloads in, canonical types out (and back), with no HTTP involved."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from couriers.base import CourierError, CourierStatus, DeliveryRequest, Place, WebhookPayloadError
from couriers.grabexpress import mapper

OBSERVED_AT = datetime(2020, 4, 1, 7, 30, tzinfo=UTC)

# Shaped like dispatch's own requests: the hospital pharmacy hands over, the patient receives.
HOSPITAL_REQUEST = DeliveryRequest(
    reference="RX-2025-000123",
    origin=Place(
        name="RSUD Blambangan",
        phone="(0333) 421118",
        address="Jl. Letkol Istiqlah No.49, Banyuwangi",
        lat=-8.2191,
        lon=114.3691,
        note="Ambil di loket farmasi rawat jalan",
        contact_name="Instalasi Farmasi",
    ),
    destination=Place(
        name="Siti Aminah",
        phone="+62 812-3456-7890",
        address="Dusun Krajan RT 1 RW 2, Glagah",
        lat=-8.2034567,
        lon=114.3312345,
        contact_name="Siti Aminah",
    ),
    item_description="Obat pasien rawat jalan",
    item_value_idr=150_000,
    weight_kg=0.75,
)

# couriers.md 2.6 field names; Grab publishes no captured webhook, so this body is built from the field list.
WEBHOOK = {
    "deliveryID": "IN-2-0BTPB1C1G8IL6W72ZHK8",
    "merchantOrderID": "RX-2025-000123",
    "timestamp": 1743490800,
    "status": "IN_DELIVERY",
    "trackURL": "https://express.grab.example.invalid/track/IN-2-0BTPB1C1G8IL6W72ZHK8",
    "pickupPin": "2354",
    "driver": {
        "name": "Agus Wibowo",
        "phone": "6281298765432",
        "licensePlate": "P 4321 AB",
        "photoURL": "https://example.invalid/driver.jpg",
        "currentLat": -8.21,
        "currentLng": 114.36,
    },
    "distance": 4210,
    "dropoffProofURL": "https://example.invalid/proof/dropoff.jpg",
}


def webhook_body(**changes: object) -> bytes:
    return json.dumps({**WEBHOOK, **changes}).encode()


def as_rupiah(payload: dict, amount: int) -> dict:
    """A recorded quote re-priced in rupiah (the recorded samples are Singaporean and Vietnamese)."""
    return {**payload, "currency": {"code": "IDR", "symbol": "Rp", "exponent": 0}, "amount": amount}


EXPECTED_LOCATIONS = {
    "origin": {
        "address": "Jl. Letkol Istiqlah No.49, Banyuwangi",
        "coordinates": {"latitude": -8.2191, "longitude": 114.3691},
    },
    "destination": {
        "address": "Dusun Krajan RT 1 RW 2, Glagah",
        "coordinates": {"latitude": -8.2034567, "longitude": 114.3312345},
    },
}
EXPECTED_PACKAGES = [
    {
        "name": "Obat pasien rawat jalan",
        "description": "Obat pasien rawat jalan",
        "quantity": 1,
        "price": 150_000,
        "dimensions": {"weight": 750},
    }
]


def test_token_request_asks_for_the_deliveries_scope():
    assert mapper.token_request("client-1", "secret-1") == {
        "client_id": "client-1",
        "client_secret": "secret-1",
        "grant_type": "client_credentials",
        "scope": "grab_express.partner_deliveries",
    }


def test_quote_request():
    assert mapper.quote_request(HOSPITAL_REQUEST, vehicle_type="BIKE", city_code=None) == {
        "serviceType": "INSTANT",
        "vehicleType": "BIKE",
        "paymentMethod": "CASHLESS",
        "packages": EXPECTED_PACKAGES,
        **EXPECTED_LOCATIONS,
    }


def test_quote_request_with_a_city_code():
    body = mapper.quote_request(HOSPITAL_REQUEST, vehicle_type="CAR", city_code="BWX")

    assert body["vehicleType"] == "CAR"
    assert body["origin"]["cityCode"] == "BWX"
    assert body["destination"]["cityCode"] == "BWX"


def test_delivery_request_names_the_pharmacy_as_company_and_the_patient_alone():
    body = mapper.delivery_request(HOSPITAL_REQUEST, vehicle_type="BIKE", city_code=None, sms_enabled=False)

    assert body == {
        "merchantOrderID": "RX-2025-000123",
        "serviceType": "INSTANT",
        "vehicleType": "BIKE",
        "paymentMethod": "CASHLESS",
        "packages": EXPECTED_PACKAGES,
        **EXPECTED_LOCATIONS,
        "sender": {
            "firstName": "Instalasi Farmasi",
            "companyName": "RSUD Blambangan",
            "phone": "62333421118",
            "smsEnabled": False,
            "instruction": "Ambil di loket farmasi rawat jalan",
        },
        "recipient": {"firstName": "Siti Aminah", "phone": "6281234567890", "smsEnabled": False},
    }


def test_delivery_request_truncates_to_grabs_limits():
    long_request = DeliveryRequest(
        reference="RX-1",
        origin=HOSPITAL_REQUEST.origin,
        destination=Place(**{**HOSPITAL_REQUEST.destination.__dict__, "note": "n" * 1200}),
        item_description="d" * 600,
    )

    body = mapper.delivery_request(long_request, vehicle_type="BIKE", city_code=None, sms_enabled=True)

    assert body["packages"][0]["description"] == "d" * 500
    assert body["recipient"]["instruction"] == "n" * 1000


def test_delivery_request_refuses_a_number_nobody_can_call():
    request = DeliveryRequest(
        reference="RX-1",
        origin=HOSPITAL_REQUEST.origin,
        destination=Place(**{**HOSPITAL_REQUEST.destination.__dict__, "phone": "tidak ada"}),
        item_description="Obat",
    )

    with pytest.raises(ValueError, match="not an Indonesian phone number"):
        mapper.delivery_request(request, vehicle_type="BIKE", city_code=None, sms_enabled=True)


@pytest.mark.parametrize("service", ["same_day", "cold_chain", ""])
def test_only_instant_is_offered(service):
    with pytest.raises(CourierError, match="does not offer service"):
        mapper.service_type(service)


@pytest.mark.parametrize(
    ("provider_status", "code", "canonical"),
    [
        ("QUEUEING", "QUEUEING", CourierStatus.REQUESTED),
        ("QUEUING", "QUEUEING", CourierStatus.REQUESTED),
        ("ALLOCATING", "ALLOCATING", CourierStatus.REQUESTED),
        ("PENDING_PICKUP", "PENDING_PICKUP", CourierStatus.DRIVER_ASSIGNED),
        ("PICKING_UP", "PICKING_UP", CourierStatus.EN_ROUTE_PICKUP),
        ("PENDING_DROP_OFF", "PENDING_DROP_OFF", CourierStatus.PICKED_UP),
        ("IN_DELIVERY", "IN_DELIVERY", CourierStatus.EN_ROUTE_DROPOFF),
        ("IN_RETURN", "IN_RETURN", CourierStatus.RETURNING),
        ("COMPLETED", "COMPLETED", CourierStatus.DELIVERED),
        ("RETURNED", "RETURNED", CourierStatus.RETURNED),
        ("CANCELED", "CANCELED", CourierStatus.CANCELLED),
        ("CANCELLED", "CANCELED", CourierStatus.CANCELLED),
        ("FAILED", "FAILED", CourierStatus.FAILED),
        (" completed ", "COMPLETED", CourierStatus.DELIVERED),
    ],
)
def test_status_table(provider_status, code, canonical):
    assert mapper.map_status(provider_status) == (code, canonical)


@pytest.mark.parametrize("provider_status", ["DRIVER_ON_THE_WAY", "", "CANCEL"])
def test_unknown_status_is_unknown_and_kept_as_sent(provider_status):
    assert mapper.map_status(provider_status) == (provider_status, CourierStatus.UNKNOWN)


@pytest.mark.parametrize(
    ("failed_reason", "canonical"),
    [
        ("6|Could not find driver", CourierStatus.NO_DRIVER),
        ("2|Driver canceled : fake sender/order", CourierStatus.FAILED),
        ("5|Canceled by Grab Operator", CourierStatus.FAILED),
        ("16|Something new", CourierStatus.FAILED),
        (None, CourierStatus.FAILED),
    ],
)
def test_failed_reason_tells_no_driver_from_failure(failed_reason, canonical):
    assert mapper.map_status("FAILED", failed_reason) == ("FAILED", canonical)


def test_failed_reason_is_ignored_outside_failed():
    assert mapper.map_status("COMPLETED", "6|Could not find driver") == ("COMPLETED", CourierStatus.DELIVERED)


def test_parse_recorded_quote_in_rupiah(load_example):
    recorded = load_example("grabexpress_quotes_response.json")
    recorded["quotes"][0] = as_rupiah(recorded["quotes"][0], 27_000)

    quote = mapper.parse_quote(recorded, service="instant", observed_at=OBSERVED_AT)

    assert quote.courier == "grabexpress"
    assert quote.serviceable is True
    assert quote.price_idr == 27_000
    assert quote.distance_km == pytest.approx(10.449)
    # estimatedTimeline.dropoff is 07:55:28Z; observed at 07:30:00Z.
    assert quote.eta_minutes == 26
    assert quote.raw["service"] == {"id": 0, "type": "INSTANT", "name": "GrabExpress"}


def test_parse_recorded_quote_refuses_another_currency(load_example):
    recorded = load_example("grabexpress_quotes_response.json")

    with pytest.raises(CourierError, match="priced in SGD, not IDR"):
        mapper.parse_quote(recorded, service="instant", observed_at=OBSERVED_AT)


def test_parse_quote_with_a_past_estimate_has_no_eta(load_example):
    recorded = load_example("grabexpress_quotes_response.json")
    recorded["quotes"][0] = as_rupiah(recorded["quotes"][0], 27_000)

    quote = mapper.parse_quote(recorded, service="instant", observed_at=datetime(2025, 1, 1, tzinfo=UTC))

    assert quote.eta_minutes is None


@pytest.mark.parametrize("quotes", [[], [{"service": {"type": "SAME_DAY"}, "amount": 9000}], None])
def test_parse_quote_without_an_instant_offer_is_not_serviceable(quotes):
    quote = mapper.parse_quote({"quotes": quotes}, service="instant", observed_at=OBSERVED_AT)

    assert (quote.serviceable, quote.price_idr) == (False, 0)


def test_parse_quote_without_amount():
    body = {"quotes": [{"service": {"type": "INSTANT"}, "currency": {"code": "IDR"}}]}

    with pytest.raises(CourierError, match="no amount"):
        mapper.parse_quote(body, service="instant", observed_at=OBSERVED_AT)


def test_parse_recorded_create_response(load_example):
    booking = mapper.parse_booking(
        load_example("grabexpress_create_delivery_response.json"), HOSPITAL_REQUEST
    )

    assert booking.courier == "grabexpress"
    assert booking.provider_order_id == "IN-2-0BTPB1C1G8IL6W72ZHK8"
    assert booking.reference == "RX-2025-000123"
    assert booking.status is CourierStatus.REQUESTED
    assert booking.raw["pickupPin"] == "2354"


def test_parse_create_response_without_delivery_id():
    with pytest.raises(CourierError, match="no deliveryID"):
        mapper.parse_booking({"status": "ALLOCATING"}, HOSPITAL_REQUEST)


def test_parse_recorded_get_response(load_example):
    event = mapper.parse_delivery(
        load_example("grabexpress_get_delivery_response.json"), observed_at=OBSERVED_AT
    )

    assert event.provider_order_id == "IN-2-00D2B1CBMWBO7JND48J5"
    # The recorded sample carries a failedReason next to COMPLETED; the parcel was still delivered.
    assert event.status is CourierStatus.DELIVERED
    assert event.provider_status == "COMPLETED"
    assert event.event_id == "IN-2-00D2B1CBMWBO7JND48J5:COMPLETED:poll"
    assert event.occurred_at == OBSERVED_AT
    assert event.reference == "053e68b3-bcbf-4493-b270-afac9c923169"
    assert event.tracking_url is None
    assert (event.driver_name, event.driver_phone, event.vehicle_plate) == (None, None, None)
    # Priced in VND: not a rupiah amount, so no price rather than a wrong one.
    assert event.price_idr is None


def test_parse_get_response_with_driver_and_rupiah(load_example):
    recorded = load_example("grabexpress_get_delivery_response.json")
    recorded.update(
        status="FAILED",
        trackingURL="https://express.grab.example.invalid/track/x",
        courier={
            "name": "Agus Wibowo",
            "phone": "6281298765432",
            "vehicle": {"licensePlate": "P 4321 AB", "model": "Honda Beat"},
        },
        quote=as_rupiah(recorded["quote"], 18_500),
    )

    event = mapper.parse_delivery(recorded, observed_at=OBSERVED_AT)

    assert event.status is CourierStatus.NO_DRIVER
    assert event.provider_status == "FAILED"
    assert (event.driver_name, event.driver_phone, event.vehicle_plate) == (
        "Agus Wibowo",
        "6281298765432",
        "P 4321 AB",
    )
    assert event.tracking_url == "https://express.grab.example.invalid/track/x"
    assert event.price_idr == 18_500


@pytest.mark.parametrize("body", [{"status": "COMPLETED"}, {"deliveryID": "IN-1"}, []])
def test_parse_get_response_without_id_or_status(body):
    with pytest.raises(CourierError):
        mapper.parse_delivery(body, observed_at=OBSERVED_AT)


def test_parse_webhook():
    event = mapper.parse_webhook(webhook_body())

    assert event.courier == "grabexpress"
    assert event.provider_order_id == "IN-2-0BTPB1C1G8IL6W72ZHK8"
    assert event.reference == "RX-2025-000123"
    assert event.status is CourierStatus.EN_ROUTE_DROPOFF
    assert event.provider_status == "IN_DELIVERY"
    assert event.event_id == "IN-2-0BTPB1C1G8IL6W72ZHK8:IN_DELIVERY:1743490800"
    assert event.occurred_at == datetime(2025, 4, 1, 7, 0, tzinfo=UTC)
    assert (event.driver_name, event.driver_phone, event.vehicle_plate) == (
        "Agus Wibowo",
        "6281298765432",
        "P 4321 AB",
    )
    assert event.tracking_url == WEBHOOK["trackURL"]
    assert event.proof_of_delivery_url == "https://example.invalid/proof/dropoff.jpg"
    assert event.handover_pin is None  # pickupPin is the driver's PIN at the pharmacy, not the patient's


def test_both_cancel_spellings_are_one_event():
    webhook = mapper.parse_webhook(webhook_body(status="CANCELLED"))
    rest = mapper.parse_webhook(webhook_body(status="CANCELED"))

    assert webhook.status is rest.status is CourierStatus.CANCELLED
    assert webhook.event_id == rest.event_id == "IN-2-0BTPB1C1G8IL6W72ZHK8:CANCELED:1743490800"


def test_event_id_changes_with_status_and_time():
    first = mapper.parse_webhook(webhook_body(status="PICKING_UP"))
    later = mapper.parse_webhook(webhook_body(status="PICKING_UP", timestamp=1743490860))
    other = mapper.parse_webhook(webhook_body(status="PENDING_DROP_OFF"))

    assert len({first.event_id, later.event_id, other.event_id}) == 3


def test_parse_failed_webhook_without_driver():
    body = webhook_body(status="FAILED", failedReason="6|Could not find driver", driver=None, trackURL="")

    event = mapper.parse_webhook(body)

    assert event.status is CourierStatus.NO_DRIVER
    assert (event.driver_name, event.tracking_url) == (None, None)


def test_parse_webhook_with_unknown_status():
    event = mapper.parse_webhook(webhook_body(status="DRIVER_TELEPORTED"))

    assert event.status is CourierStatus.UNKNOWN
    assert event.provider_status == "DRIVER_TELEPORTED"


def test_parse_webhook_accepts_a_decimal_string_timestamp():
    event = mapper.parse_webhook(webhook_body(timestamp="1743490800"))

    assert event.occurred_at == datetime(2025, 4, 1, 7, 0, tzinfo=UTC)
    assert event.event_id.endswith(":1743490800")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<xml/>", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (webhook_body(deliveryID=""), "lacks deliveryID or status"),
        (webhook_body(status=None), "lacks deliveryID or status"),
        (webhook_body(timestamp=None), "numeric timestamp"),
        (webhook_body(timestamp="yesterday"), "numeric timestamp"),
        (webhook_body(timestamp=True), "numeric timestamp"),
        # Milliseconds where seconds are documented: refused, not read as the year 57000.
        (webhook_body(timestamp=1743490800000), "out of range"),
    ],
)
def test_parse_malformed_webhook(body, message):
    with pytest.raises(WebhookPayloadError, match=message):
        mapper.parse_webhook(body)


@pytest.mark.parametrize(
    ("body", "messages"),
    [
        (
            {"target": "amount", "reason": "INVALID_AMOUNT", "message": "tip amount is invalid"},
            ["tip amount is invalid", "INVALID_AMOUNT"],
        ),
        ({"message": "City not supported", "reason": "City not supported"}, ["City not supported"]),
        ("Distance SLA Exceeded", ["Distance SLA Exceeded"]),
        ({"code": 400}, []),
        (None, []),
        ("  ", []),
    ],
)
def test_parse_errors(body, messages):
    assert mapper.parse_errors(body) == messages
