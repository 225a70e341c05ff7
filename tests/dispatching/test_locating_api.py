"""POST /api/v1/orders/{id}/location: a dispatcher places the patient's pin."""

from __future__ import annotations

import pytest
from dispatching_support import order, pending_rows, run_outbox
from fastapi.testclient import TestClient
from sqlmodel import Session

from dispatch.demo_data import DemoPatient
from dispatch.hospitals.models import Hospital, HospitalCreate
from dispatch.hospitals.service import create_hospital
from dispatch.orders.models import Patient
from dispatch.orders.state_machine import OrderStatus

pytestmark = pytest.mark.usefixtures("primary_account")

PIN = {"lat": -8.2031, "lon": 114.3197}  # in Desa Kemiren, 5.2 km from the pharmacy
NOWHERE = DemoPatient(
    "RM-099003",
    "Tanpa Desa",
    "0812-3456-0997",
    "Perumahan Griya Permai Blok C7",
    None,
    "03",
    "04",
    "Amlodipine 10 mg Tablet",
    None,
    30,
)


@pytest.fixture
def dispatcher(session: Session, hospital: Hospital, staff_maker) -> dict[str, str]:
    return {"Authorization": f"Bearer {staff_maker(session, hospital, 'dispatcher1', 'dispatcher')}"}


@pytest.fixture
def waiting_order(make_order, book_row) -> int:
    order_id = make_order(NOWHERE)
    run_outbox(book_row(order_id))
    assert order(order_id).status == OrderStatus.NEEDS_ADDRESS
    return order_id


def test_a_dispatcher_places_the_pin_and_the_order_goes_to_dispatch(
    client: TestClient, dispatcher, waiting_order, session
):
    response = client.post(f"/api/v1/orders/{waiting_order}/location", json=PIN, headers=dispatcher)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["geocode_level"], body["kecamatan_name"]) == ("ready", "confirmed", "Glagah")
    staff_event = next(event for event in body["events"] if event["kind"] == "staff")
    assert staff_event["actor"] == "dispatcher1"
    assert staff_event["detail"] == "Location confirmed by staff: -8.203100, 114.319700 in desa 35.10.15.2004"
    assert [row.payload["order_id"] for row in pending_rows("dispatch.book")] == [waiting_order]
    patient = session.get(Patient, order(waiting_order).patient_id)
    assert patient is not None
    assert (patient.confirmed_lat, patient.confirmed_lon, patient.confirmed_by) == (
        PIN["lat"],
        PIN["lon"],
        "staff",
    )


def test_a_pharmacist_may_not_place_the_pin(client: TestClient, pharmacist_token, waiting_order):
    response = client.post(
        f"/api/v1/orders/{waiting_order}/location",
        json=PIN,
        headers={"Authorization": f"Bearer {pharmacist_token}"},
    )
    assert response.status_code == 403
    assert order(waiting_order).status == OrderStatus.NEEDS_ADDRESS


def test_another_hospitals_dispatcher_does_not_see_the_order(
    client: TestClient, session, staff_maker, waiting_order
):
    genteng = create_hospital(
        session,
        HospitalCreate(
            code="RSUDGTG",
            name="RSUD Genteng",
            address="Jl. Hasanudin No. 98, Genteng",
            lat=-8.347734,
            lon=114.148433,
            kabupaten_code="35.10",
            phone="0333-845-839",
        ),
    )
    session.commit()
    token = staff_maker(session, genteng, "dispatcher-genteng", "dispatcher")
    response = client.post(
        f"/api/v1/orders/{waiting_order}/location", json=PIN, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 404
    assert order(waiting_order).dest_lat is None


def test_a_pin_outside_the_service_area_is_refused_with_a_reason(
    client: TestClient, dispatcher, waiting_order
):
    surabaya = {"lat": -7.2575, "lon": 112.7521}
    response = client.post(f"/api/v1/orders/{waiting_order}/location", json=surabaya, headers=dispatcher)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(
        "Lokasi di luar wilayah layanan rumah sakit (60 km dari farmasi)"
    )
    assert order(waiting_order).status == OrderStatus.NEEDS_ADDRESS
    assert pending_rows("dispatch.book") == []


def test_coordinates_that_are_not_coordinates_are_refused(client: TestClient, dispatcher, waiting_order):
    response = client.post(
        f"/api/v1/orders/{waiting_order}/location", json={"lat": 114.3, "lon": -8.2}, headers=dispatcher
    )
    assert response.status_code == 422


def test_an_order_with_a_courier_keeps_its_destination(client: TestClient, dispatcher, booked_order):
    response = client.post(f"/api/v1/orders/{booked_order}/location", json=PIN, headers=dispatcher)
    assert response.status_code == 409
    assert "call the driver" in response.json()["detail"]
