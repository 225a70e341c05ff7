"""The console settles addresses in doubt: a dispatcher places the pin on the kecamatan's map (or types it), or
picks the desa and dusun; the order goes to dispatch and the pin is kept on the patient."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from console_support import console_login, csrf_of
from fastapi.testclient import TestClient

from dispatch.geocoding import load_gazetteer
from dispatch.orders.models import Order, OrderEvent, Patient
from dispatch.outbox.models import OutboxMessage

SVG = "{http://www.w3.org/2000/svg}"
KEMIREN = "35.10.15.2004"  # Siti Aminah's desa, Kec. Glagah
GLAGAH = "35.10.15"
IN_KEMIREN = (-8.2030, 114.3190)  # beside the desa's centroid (-8.2020, 114.3187), inside its polygon
SURABAYA = (-7.2575, 112.7521)  # 170 km from the pharmacy: outside the 60 km service area


def svg_in(page: str, svg_id: str) -> ET.Element:
    match = re.search(rf'<svg [^>]*id="{svg_id}".*?</svg>', page, re.S)
    assert match, f"no svg #{svg_id}"
    return ET.fromstring(match.group())  # noqa: S314 - our own page


@pytest.fixture
def dispatcher(session, hospital, staff_maker, client) -> TestClient:
    staff_maker(session, hospital, "dispatcher1", "dispatcher")
    return console_login(client.app, "dispatcher1")


@pytest.fixture
def waiting_order(client, create_order, pharmacist_token, auth, run_sql) -> int:
    """A released order whose address the geocoder could not pin down: a kecamatan-level guess only."""
    order_id = create_order("RX-NA-1", 0)
    assert (
        client.post(f"/api/v1/orders/{order_id}/release", headers=auth(pharmacist_token)).status_code == 200
    )
    run_sql(
        "UPDATE orders SET status = 'needs_address', kecamatan_code = :kec, kecamatan_name = 'Glagah',"
        " dest_lat = -8.2159, dest_lon = 114.3177, geocode_level = 'kecamatan', geocode_code = :kec"
        " WHERE id = :id",
        kec=GLAGAH,
        id=order_id,
    )
    run_sql("DELETE FROM outbox_messages")
    return order_id


def assert_still_waiting(fetch, order_id: int) -> None:
    [order] = fetch(Order, Order.id == order_id)
    assert order.status == "needs_address"
    assert fetch(OutboxMessage) == []
    [patient] = fetch(Patient, Patient.id == order.patient_id)
    assert (patient.confirmed_lat, patient.confirmed_by) == (None, None)


def test_the_order_page_shows_the_kecamatan_map_and_both_ways_to_place_the_patient(dispatcher, waiting_order):
    page = dispatcher.get(f"/console/orders/{waiting_order}")

    assert page.status_code == 200
    assert 'http-equiv="refresh"' not in page.text  # a dispatcher placing a pin is not interrupted
    svg = svg_in(page.text, "order-map")
    codes = {p.get("data-code") for p in svg.iter(f"{SVG}path")}
    assert KEMIREN in codes
    assert all(code.startswith(f"{GLAGAH}.") for code in codes)
    [guess] = [c for c in svg.iter(f"{SVG}circle") if c.get("class") == "p order"]
    assert guess.findtext(f"{SVG}title") == f"#{waiting_order} (kecamatan)"
    assert 'name="lat" id="lat"' in page.text
    assert f'<option value="{KEMIREN}">Kemiren</option>' in page.text
    assert (
        '<optgroup label="Kec. Muncar">' in page.text
    )  # any desa of the service area, should the kecamatan be wrong
    assert 'name="dusun" maxlength="100" value="Krajan"' in page.text  # read from the address on record
    assert "Dsn. Krajan, Desa Kemiren, Kec. Glagah" in page.text


def test_a_dispatcher_places_the_pin_and_the_order_goes_to_dispatch(dispatcher, waiting_order, fetch):
    csrf = csrf_of(dispatcher, f"/console/orders/{waiting_order}")

    response = dispatcher.post(
        f"/console/orders/{waiting_order}/location",
        data={"csrf": csrf, "lat": str(IN_KEMIREN[0]), "lon": str(IN_KEMIREN[1]).replace(".", ",")},
    )

    assert response.status_code == 303
    assert response.headers["location"] == f"/console/orders/{waiting_order}?flash=located"
    [order] = fetch(Order, Order.id == waiting_order)
    assert order.status == "ready"
    assert (order.dest_lat, order.dest_lon, order.geocode_level) == (*IN_KEMIREN, "confirmed")
    assert order.geocode_code == KEMIREN
    [outbox] = fetch(OutboxMessage)
    assert (outbox.topic, outbox.payload) == ("dispatch.book", {"order_id": waiting_order})
    [patient] = fetch(Patient, Patient.id == order.patient_id)
    assert (patient.confirmed_lat, patient.confirmed_lon, patient.confirmed_by) == (*IN_KEMIREN, "staff")
    [ready] = fetch(OrderEvent, OrderEvent.order_id == waiting_order, OrderEvent.to_status == "ready")
    assert ready.actor == "dispatcher1"
    after = dispatcher.get(response.headers["location"]).text
    assert "Lokasi disimpan" in after
    assert 'name="lat" id="lat"' not in after


def test_a_dispatcher_picks_the_desa_and_dusun(dispatcher, waiting_order, fetch):
    csrf = csrf_of(dispatcher, f"/console/orders/{waiting_order}")

    response = dispatcher.post(
        f"/console/orders/{waiting_order}/location",
        data={"csrf": csrf, "desa": KEMIREN, "dusun": "Sukosari"},
    )

    assert response.status_code == 303
    kemiren = load_gazetteer().get(KEMIREN)
    [order] = fetch(Order, Order.id == waiting_order)
    assert order.status == "ready"
    assert (order.dest_lat, order.dest_lon) == (kemiren.lat, kemiren.lon)
    [patient] = fetch(Patient, Patient.id == order.patient_id)
    assert (patient.confirmed_lat, patient.confirmed_lon, patient.confirmed_by) == (
        kemiren.lat,
        kemiren.lon,
        "staff",
    )
    # The courier's drop-off reads the address: the dusun the centroid cannot show goes there.
    assert patient.address_text == "Dsn. Sukosari, Dsn. Krajan, Desa Kemiren, Kec. Glagah"
    notes = fetch(OrderEvent, OrderEvent.order_id == waiting_order, OrderEvent.kind == "staff")
    assert ("Dusun: Sukosari", "dispatcher1") in [(e.detail, e.actor) for e in notes]
    assert [m.topic for m in fetch(OutboxMessage)] == ["dispatch.book"]


def test_a_pin_outside_the_service_area_is_refused_with_the_reason(dispatcher, waiting_order, fetch):
    csrf = csrf_of(dispatcher, f"/console/orders/{waiting_order}")

    response = dispatcher.post(
        f"/console/orders/{waiting_order}/location",
        data={"csrf": csrf, "lat": str(SURABAYA[0]), "lon": str(SURABAYA[1])},
    )

    assert response.status_code == 422
    assert "Lokasi di luar wilayah layanan rumah sakit (60 km dari farmasi)" in response.text
    assert 'name="lat" id="lat"' in response.text  # the form is there to try again
    assert_still_waiting(fetch, waiting_order)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"lat": "di rumah", "lon": ""}, id="unreadable"),
        pytest.param({"desa": "35.09.01.2001"}, id="desa-of-another-kabupaten"),
    ],
)
def test_an_unreadable_position_is_refused(dispatcher, waiting_order, fetch, data):
    csrf = csrf_of(dispatcher, f"/console/orders/{waiting_order}")

    response = dispatcher.post(f"/console/orders/{waiting_order}/location", data={"csrf": csrf, **data})

    assert response.status_code == 422
    assert "tidak" in response.text
    assert_still_waiting(fetch, waiting_order)


@pytest.mark.parametrize("role", ["pharmacist", "viewer"])
def test_only_a_dispatcher_may_place_the_pin(
    client, waiting_order, fetch, session, hospital, staff_maker, role
):
    staff_maker(session, hospital, f"{role}9", role)
    browser = console_login(client.app, f"{role}9")
    page = browser.get(f"/console/orders/{waiting_order}").text
    assert 'name="lat" id="lat"' not in page
    svg_in(page, "order-map")  # the map is there for everyone

    response = browser.post(
        f"/console/orders/{waiting_order}/location",
        data={
            "csrf": csrf_of(browser, "/console"),
            "lat": str(IN_KEMIREN[0]),
            "lon": str(IN_KEMIREN[1]),
        },
    )

    assert response.status_code == 403
    assert "Hanya dispatcher" in response.text
    assert_still_waiting(fetch, waiting_order)


def test_a_forged_post_is_refused(dispatcher, waiting_order, fetch):
    response = dispatcher.post(
        f"/console/orders/{waiting_order}/location",
        data={"csrf": "0" * 64, "lat": str(IN_KEMIREN[0]), "lon": str(IN_KEMIREN[1])},
    )

    assert response.status_code == 403
    assert "CSRF" in response.text
    assert_still_waiting(fetch, waiting_order)


def test_another_hospitals_order_is_not_found(
    client, dispatcher, create_order, other_hospital, fetch, run_sql, waiting_order
):
    theirs = create_order("RX-NA-9", 2, api_key=other_hospital.api_key)
    run_sql("UPDATE orders SET status = 'needs_address' WHERE id = :id", id=theirs)
    csrf = csrf_of(dispatcher, f"/console/orders/{waiting_order}")

    assert dispatcher.get(f"/console/orders/{theirs}").status_code == 404
    response = dispatcher.post(
        f"/console/orders/{theirs}/location",
        data={"csrf": csrf, "lat": str(IN_KEMIREN[0]), "lon": str(IN_KEMIREN[1])},
    )

    assert response.status_code == 404
    [order] = fetch(Order, Order.id == theirs)
    assert order.status == "needs_address"
    assert order.dest_lat is None
    queue = dispatcher.get("/console/needs-address").text
    assert f'href="/console/orders/{theirs}' not in queue


def test_an_order_no_longer_waiting_is_left_alone(dispatcher, waiting_order, fetch, run_sql):
    csrf = csrf_of(dispatcher, f"/console/orders/{waiting_order}")
    run_sql("UPDATE orders SET status = 'ready' WHERE id = :id", id=waiting_order)

    response = dispatcher.post(
        f"/console/orders/{waiting_order}/location",
        data={"csrf": csrf, "lat": str(IN_KEMIREN[0]), "lon": str(IN_KEMIREN[1])},
    )

    assert response.headers["location"] == f"/console/orders/{waiting_order}?flash=location_not_needed"
    [order] = fetch(Order, Order.id == waiting_order)
    assert order.geocode_level == "kecamatan"
    assert fetch(OutboxMessage) == []


def test_the_queue_lists_waiting_orders_with_their_guesses_on_the_kabupaten_map(
    client, dispatcher, waiting_order, create_order, run_sql
):
    unplaced = create_order("RX-NA-2", 1)
    run_sql("UPDATE orders SET status = 'needs_address' WHERE id = :id", id=unplaced)
    create_order("RX-NA-3", 2)  # awaiting release: not in the queue

    page = dispatcher.get("/console/needs-address")

    assert page.status_code == 200
    assert "Alamat perlu dipastikan / Addresses to confirm (2)" in page.text
    assert f'<a href="/console/orders/{waiting_order}#locate">' in page.text
    assert f'<a href="/console/orders/{unplaced}#locate">' in page.text
    assert "Dsn. Sumberejo, Desa Kedayunan, Kec. Kabat" in page.text
    assert "RX-NA-3" not in page.text
    svg = svg_in(page.text, "queue-map")
    assert len([p for p in svg.iter(f"{SVG}path") if p.get("class") == "d"]) == 217
    links = [a.get("href") for a in svg.iter(f"{SVG}a")]
    assert links == [f"/console/orders/{waiting_order}"]  # the order without a guess has no pin
    assert {c.get("class") for c in svg.iter(f"{SVG}circle")} == {"p hospital", "p order"}
    assert client.get("/console/needs-address", follow_redirects=False).status_code == 303
