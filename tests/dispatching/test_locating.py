"""The locating chain (confirmed pin, Kemendagri code, gazetteer, online geocoders) per hospital policy, its
threshold and service area, and pins confirmed by people: kept on the patient, dispatching a waiting order.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx
from dispatching_support import (
    BOOKING_PATH,
    PRICE_PATH,
    PRIMARY_BASE_URL,
    booking_created,
    order,
    pending_rows,
    price_estimate,
    run_outbox,
    sms_kinds,
    state_changes,
    timeline,
)
from sqlmodel import Session

from dispatch.demo_data import PATIENTS, DemoPatient
from dispatch.dispatching import locating
from dispatch.hospitals.models import Hospital
from dispatch.orders.models import Order, Patient
from dispatch.orders.state_machine import OrderStatus

pytestmark = pytest.mark.usefixtures("primary_account")

SITI = PATIENTS[0]  # Desa Kemiren (35.10.15.2004), with its Kemendagri village code
HADI = PATIENTS[3]  # "Ds. Wongsorejo, Kec. Wongsorejo", no codes
KEMIREN = (-8.202007, 114.318686)  # the desa centroid, 5.2 km from the pharmacy
PIN_IN_KEMIREN = (-8.2031, 114.3197)
NOWHERE = DemoPatient(
    "RM-099002",
    "Tanpa Desa",
    "0812-3456-0998",
    "Perumahan Griya Permai Blok C7",
    None,
    "03",
    "04",
    "Amlodipine 10 mg Tablet",
    None,
    30,
)
NOMINATIM_SEARCH = "https://nominatim.openstreetmap.org/search"
USER_AGENT = "gancang-test/1.0 (farmasi@rsud.example)"


def set_policy(session: Session, hospital: Hospital, **policy: Any) -> None:
    hospital.geocoding_policy = policy
    session.add(hospital)
    session.commit()


def locate(session: Session, order_id: int, hospital: Hospital) -> tuple[locating.Located, Order]:
    record = session.get(Order, order_id)
    assert record is not None
    session.refresh(record)
    return locating.locate(session, record, hospital), record


def pin_patient(session: Session, order_id: int, lat: float, lon: float) -> None:
    record = session.get(Order, order_id)
    assert record is not None
    patient = session.get(Patient, record.patient_id)
    assert patient is not None
    patient.confirmed_lat, patient.confirmed_lon, patient.confirmed_by = lat, lon, "courier"
    session.commit()


@pytest.fixture
def gosend():
    with respx.mock(base_url=PRIMARY_BASE_URL, assert_all_called=True) as router:
        router.get(PRICE_PATH, name="price").mock(return_value=price_estimate())
        yield router


def test_the_kemendagri_code_places_the_patient_at_the_desa(session, hospital, make_order):
    located, record = locate(session, make_order(SITI, release=False), hospital)
    assert located == locating.Located(
        True,
        "Located: desa 35.10.15.2004 from the Kemendagri code, confidence 1.00",
        {"step": "code", "confidence": 1.0},
    )
    assert (record.dest_lat, record.dest_lon) == KEMIREN
    assert (record.geocode_level, record.geocode_code, record.kecamatan_name) == (
        "desa",
        "35.10.15.2004",
        "Glagah",
    )


def test_a_confirmed_pin_comes_first_and_says_which_desa_it_is_in(session, hospital, make_order):
    order_id = make_order(SITI, release=False)
    pin_patient(session, order_id, *PIN_IN_KEMIREN)
    located, record = locate(session, order_id, hospital)
    assert located.ready and located.data["step"] == "confirmed"
    assert (
        located.detail == "Located: confirmed 35.10.15.2004 from the patient's confirmed pin, confidence 1.00"
    )
    assert (record.dest_lat, record.dest_lon) == PIN_IN_KEMIREN
    assert (record.geocode_level, record.geocode_code, record.geocode_confidence) == (
        "confirmed",
        "35.10.15.2004",
        1.0,
    )
    assert record.kecamatan_name == "Glagah"


def test_a_hospital_may_put_the_code_before_the_pin(session, hospital, make_order):
    order_id = make_order(SITI, release=False)
    pin_patient(session, order_id, *PIN_IN_KEMIREN)
    set_policy(session, hospital, steps=["code", "confirmed", "gazetteer"])
    located, record = locate(session, order_id, hospital)
    assert located.data["step"] == "code"
    assert (record.dest_lat, record.dest_lon) == KEMIREN


def test_without_a_code_the_gazetteer_reads_the_address_text(session, hospital, make_order):
    located, record = locate(session, make_order(HADI, release=False), hospital)
    assert located.ready and located.data == {"step": "gazetteer", "confidence": 0.9}
    assert located.detail == "Located: desa 35.10.18.2004 from the address text, confidence 0.90"
    assert (record.geocode_level, record.kecamatan_name) == ("desa", "Wongsorejo")


def test_a_guess_below_the_hospitals_threshold_is_kept_for_staff_but_needs_an_address(
    session, hospital, make_order
):
    set_policy(session, hospital, min_confidence=0.95)
    located, record = locate(session, make_order(HADI, release=False), hospital)
    assert not located.ready
    assert located.detail == (
        "Address not found precisely enough: best guess desa 35.10.18.2004 from the address text, "
        "confidence 0.90 (needs 0.95)"
    )
    assert (record.geocode_code, record.geocode_confidence) == ("35.10.18.2004", 0.9)


def test_an_answer_outside_the_service_area_is_never_used(session, hospital, make_order):
    set_policy(session, hospital, service_radius_km=5)
    located, record = locate(session, make_order(SITI, release=False), hospital)
    assert not located.ready
    assert located.detail == (
        "Address outside the service area (5 km): desa 35.10.15.2004 from the Kemendagri code, confidence 1.00 "
        "is 5.2 km from the pharmacy, desa 35.10.15.2004 from the address text, confidence 0.90 is 5.2 km from "
        "the pharmacy"
    )
    assert located.data["step"] is None
    assert (record.dest_lat, record.dest_lon, record.geocode_level) == (None, None, None)


def test_a_pin_outside_the_service_area_is_skipped_and_the_next_source_answers(session, hospital, make_order):
    order_id = make_order(SITI, release=False)
    pin_patient(session, order_id, -6.1754, 106.8272)  # Jakarta
    located, record = locate(session, order_id, hospital)
    assert located.ready and located.data["step"] == "code"
    assert (record.dest_lat, record.dest_lon) == KEMIREN


def online_policy(**extra: Any) -> dict[str, Any]:
    nominatim = {"provider": "nominatim", "user_agent": USER_AGENT, "min_delay_seconds": 0}
    return {"online": [nominatim], **extra}


def nominatim_answer(lat: str, lon: str, place_rank: int) -> httpx.Response:
    place = {
        "place_id": 1,
        "licence": "Data © OpenStreetMap contributors, ODbL 1.0. http://osm.org/copyright",
        "osm_type": "way",
        "osm_id": 42,
        "lat": lat,
        "lon": lon,
        "class": "place",
        "type": "neighbourhood",
        "place_rank": place_rank,
        "importance": 0.1,
        "display_name": "Griya Permai, Sobo, Banyuwangi, Jawa Timur, Indonesia",
        "boundingbox": ["-8.23", "-8.22", "114.35", "114.36"],
    }
    return httpx.Response(200, json=[place])


def test_online_geocoders_are_off_by_default(session, hospital, make_order):
    with respx.mock(assert_all_called=False) as router:
        route = router.get(NOMINATIM_SEARCH)
        located, _record = locate(session, make_order(NOWHERE, release=False), hospital)
    assert route.call_count == 0
    assert (located.ready, located.detail) == (False, "Address not found")


def test_an_online_geocoder_answers_when_the_offline_sources_cannot(session, hospital, make_order):
    set_policy(session, hospital, **online_policy())
    with respx.mock(assert_all_called=True) as router:
        route = router.get(NOMINATIM_SEARCH).mock(return_value=nominatim_answer("-8.2251", "114.3552", 20))
        located, record = locate(session, make_order(NOWHERE, release=False), hospital)
    assert route.calls.last.request.url.params["q"] == NOWHERE.line
    assert located.ready and located.data == {"step": "online", "confidence": 0.55}
    assert located.detail == "Located: online from nominatim, confidence 0.55"
    assert (record.dest_lat, record.dest_lon, record.geocode_level) == (-8.2251, 114.3552, "online")
    assert record.geocode_code is None


def test_an_online_failure_sends_the_order_to_a_person_with_the_reason(session, hospital, make_order):
    set_policy(session, hospital, **online_policy())
    with respx.mock(assert_all_called=True) as router:
        router.get(NOMINATIM_SEARCH).mock(side_effect=httpx.ReadTimeout("slow"))
        located, _record = locate(session, make_order(NOWHERE, release=False), hospital)
    assert not located.ready
    assert located.detail.startswith("Address not found; nominatim: GeocoderTimedOut")
    assert located.data["problems"] == [located.detail.removeprefix("Address not found; ")]


def test_an_online_answer_outside_the_area_is_refused(session, hospital, make_order):
    set_policy(session, hospital, **online_policy())
    with respx.mock(assert_all_called=True) as router:
        router.get(NOMINATIM_SEARCH).mock(
            return_value=nominatim_answer("-7.2575", "112.7521", 30)
        )  # Surabaya
        located, record = locate(session, make_order(NOWHERE, release=False), hospital)
    assert not located.ready and record.dest_lat is None
    assert located.detail.startswith("Address outside the service area (60 km): online from nominatim")
    assert located.detail.endswith(" km from the pharmacy") and "confidence 0.75 is 2" in located.detail


# --- pins confirmed by people ------------------------------------------------------------------------------


def needs_address_order(make_order, book_row, patient: DemoPatient = NOWHERE) -> int:
    order_id = make_order(patient)
    run_outbox(book_row(order_id))
    assert order(order_id).status == OrderStatus.NEEDS_ADDRESS
    return order_id


def test_a_confirmed_pin_dispatches_the_waiting_order_and_serves_the_next_one(
    session, hospital, make_order, book_row, gosend
):
    order_id = needs_address_order(make_order, book_row)
    record = session.get(Order, order_id)
    assert record is not None

    locating.confirm_location(session, record, *PIN_IN_KEMIREN, by="patient", actor="tracking page")
    session.commit()

    confirmed = order(order_id)
    assert confirmed.status == OrderStatus.READY
    assert (confirmed.dest_lat, confirmed.dest_lon, confirmed.geocode_level) == (*PIN_IN_KEMIREN, "confirmed")
    assert (confirmed.geocode_code, confirmed.geocode_confidence) == ("35.10.15.2004", 1.0)
    patient = session.get(Patient, confirmed.patient_id)
    assert patient is not None
    session.refresh(patient)
    assert (patient.confirmed_lat, patient.confirmed_lon, patient.confirmed_by) == (
        *PIN_IN_KEMIREN,
        "patient",
    )
    assert patient.confirmed_at is not None
    event = next(e for e in timeline(order_id) if e.kind == "patient")
    assert (event.actor, event.detail) == (
        "tracking page",
        f"Location confirmed by patient: {PIN_IN_KEMIREN[0]:.6f}, {PIN_IN_KEMIREN[1]:.6f} in desa 35.10.15.2004",
    )
    assert state_changes(order_id)[-1] == ("needs_address", "ready", "Location confirmed by patient")
    [dispatch_row] = [row for row in pending_rows("dispatch.book") if row.payload["order_id"] == order_id]

    booking = gosend.post(BOOKING_PATH).mock(side_effect=[booking_created("GK-1"), booking_created("GK-2")])
    run_outbox(dispatch_row.id)
    assert order(order_id).status == OrderStatus.BOOKING
    assert f"{PIN_IN_KEMIREN[0]!r},{PIN_IN_KEMIREN[1]!r}" in booking.calls.last.request.content.decode()

    # The same patient's next prescription goes straight to the pin: no address question this time.
    next_order = make_order(NOWHERE)
    run_outbox(book_row(next_order))
    located = order(next_order)
    assert located.status == OrderStatus.BOOKING
    assert (located.dest_lat, located.dest_lon, located.geocode_level) == (*PIN_IN_KEMIREN, "confirmed")
    assert sms_kinds(next_order) == ["released"]


@pytest.mark.parametrize(
    ("lat", "lon", "message"),
    [
        (-7.2575, 112.7521, "di luar wilayah layanan"),  # Surabaya, 274 km away
        (0.0, 0.0, "outside the hospital's service area"),  # an unset GPS fix
        (114.3197, -8.2031, "outside the hospital's service area"),  # swapped: not even in Indonesia
    ],
)
def test_a_pin_outside_the_service_area_is_refused_and_nothing_changes(
    session, make_order, book_row, lat, lon, message
):
    order_id = needs_address_order(make_order, book_row)
    record = session.get(Order, order_id)
    assert record is not None
    with pytest.raises(locating.LocationRefused, match=message):
        locating.confirm_location(session, record, lat, lon, by="staff", actor="dispatcher1")
    session.rollback()
    assert order(order_id).status == OrderStatus.NEEDS_ADDRESS
    patient = session.get(Patient, record.patient_id)
    assert patient is not None and patient.confirmed_lat is None


def test_a_pin_cannot_move_an_order_a_courier_already_has(session, booked_order):
    record = session.get(Order, booked_order)
    assert record is not None
    with pytest.raises(locating.LocationLocked, match="call the driver"):
        locating.confirm_location(session, record, *PIN_IN_KEMIREN, by="staff", actor="dispatcher1")


def test_only_known_confirmers_may_place_a_pin(session, make_order):
    record = session.get(Order, make_order(SITI, release=False))
    assert record is not None
    with pytest.raises(ValueError, match="by must be one of"):
        locating.confirm_location(session, record, *PIN_IN_KEMIREN, by="neighbour", actor="x")


def test_a_pin_placed_before_release_sets_the_destination_without_dispatching(session, make_order):
    order_id = make_order(SITI, release=False)
    record = session.get(Order, order_id)
    assert record is not None
    locating.confirm_location(session, record, *PIN_IN_KEMIREN, by="staff", actor="dispatcher1")
    session.commit()
    placed = order(order_id)
    assert (placed.status, placed.dest_lat, placed.dest_lon) == (
        OrderStatus.AWAITING_RELEASE,
        *PIN_IN_KEMIREN,
    )
    assert pending_rows("dispatch.book") == []
