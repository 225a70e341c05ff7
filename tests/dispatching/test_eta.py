"""The delivery ETA: our estimate from the road distance and the hospital's motorbike speed, the courier's own
when it gave one, set when a driver is assigned and again at pick-up, and told to the patient by SMS."""

from __future__ import annotations

import copy
import json
import math
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from dispatching_support import (
    BOOKING_PATH,
    PRICE_PATH,
    PRIMARY_BASE_URL,
    PRIMARY_TOKEN,
    attempts,
    booking_created,
    driver_fields,
    gosend_event,
    gosend_settings,
    load_example,
    order,
    outbox_rows,
    pending_rows,
    run_outbox,
    timeline,
)
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlmodel import Session

from dispatch.demo_data import HOSPITAL, PATIENTS
from dispatch.dispatching.distance import DEFAULT_ROAD_FACTOR, geodesic_km
from dispatch.dispatching.eta import (
    estimated_arrival,
    minutes_until,
    preferred_arrival,
    quoted_arrival,
    ride_minutes,
    shown_eta,
)
from dispatch.dispatching.models import AttemptStatus, BookingAttempt
from dispatch.dispatching.policy import DispatchPolicy
from dispatch.hospitals.models import Hospital
from dispatch.hospitals.service import add_courier_account
from dispatch.notify.gateways import RecordedSms
from dispatch.orders.models import Order
from dispatch.orders.state_machine import OrderStatus
from dispatch.outbox.service import enqueue

S = OrderStatus
SITI = PATIENTS[0]  # Desa Kemiren
KEMIREN = (-8.202007, 114.318686)
KEMIREN_KM = geodesic_km((HOSPITAL.lat, HOSPITAL.lon), KEMIREN)
NOON = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)  # 12:00 WIB


# --- pure estimates ----------------------------------------------------------------------------------------


def test_a_ride_takes_the_road_distance_at_the_hospitals_average_speed():
    assert ride_minutes(10.0, DispatchPolicy()) == pytest.approx(24.0)  # 25 km/h by default
    assert ride_minutes(10.0, DispatchPolicy(courier_speed_kmh=40)) == pytest.approx(15.0)


def test_before_pick_up_the_driver_must_first_reach_the_pharmacy():
    policy = DispatchPolicy(courier_speed_kmh=30, pickup_allowance_minutes=10)
    assert estimated_arrival(15.0, policy, NOON, picked_up=False) == NOON + timedelta(minutes=40)
    assert estimated_arrival(15.0, policy, NOON, picked_up=True) == NOON + timedelta(minutes=30)
    assert DispatchPolicy().pickup_allowance_minutes == 15


@pytest.mark.parametrize(
    "policy", [{"courier_speed_kmh": 0}, {"courier_speed_kmh": 200}, {"pickup_allowance_minutes": -5}]
)
def test_a_hospital_cannot_set_an_impossible_speed_or_allowance(policy: dict[str, float]):
    with pytest.raises(ValidationError):
        DispatchPolicy.model_validate(policy)


def test_a_quote_eta_is_minutes_from_when_it_was_given():
    assert quoted_arrival(25, NOON) == NOON + timedelta(minutes=25)
    assert quoted_arrival(None, NOON) is None


def test_the_courier_estimate_wins_while_it_lies_ahead():
    ours = NOON + timedelta(minutes=40)
    theirs = NOON + timedelta(minutes=25)
    assert preferred_arrival(theirs, ours, NOON) == theirs
    assert preferred_arrival(None, ours, NOON) == ours
    # Past already: stale, whatever the courier meant.
    assert preferred_arrival(theirs, ours, NOON + timedelta(minutes=26)) == ours


def test_the_sms_says_whole_minutes_rounded_up_and_nothing_once_the_time_has_passed():
    assert minutes_until(NOON + timedelta(minutes=24, seconds=1), NOON) == 25
    assert minutes_until(NOON + timedelta(minutes=25), NOON) == 25
    assert minutes_until(NOON, NOON) is None
    assert minutes_until(NOON - timedelta(minutes=3), NOON) is None
    assert minutes_until(None, NOON) is None


@pytest.mark.parametrize(
    ("status", "current", "shown"),
    [
        (S.COURIER_ASSIGNED, True, True),
        (S.PICKED_UP, True, True),
        (S.BOOKING, True, False),  # a quote's ETA before anyone rides
        (S.DELIVERED, True, False),  # kept as the record of the promise, not shown as still coming
        (S.DELIVERY_FAILED, True, False),
        (S.CANCELLED, True, False),
        (S.COURIER_ASSIGNED, False, False),  # an old booking's estimate
    ],
)
def test_an_eta_is_shown_only_while_the_current_driver_is_on_the_way(status, current, shown):
    attempt = BookingAttempt(
        id=7, order_id=1, hospital_id=1, courier="gosend", account_id=1, reference="R", eta_at=NOON
    )
    record = Order(id=1, hospital_id=1, patient_id=1, prescription_id=1, status=status)
    record.current_attempt_id = 7 if current else 8
    assert shown_eta(record, attempt) == (NOON if shown else None)
    assert shown_eta(record, None) is None


# --- applied to courier reports ----------------------------------------------------------------------------


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def report_gosend(client: TestClient, payload: dict[str, Any]) -> None:
    """POST one GoSend callback through the real endpoint, then run the ``webhooks.apply`` row it queued."""
    response = client.post(
        "/webhooks/couriers/gosend", content=json.dumps(payload), headers={"Authorization": PRIMARY_TOKEN}
    )
    assert response.status_code == 200, response.text
    [row] = pending_rows("webhooks.apply")
    run_outbox(row.id)


def send_sms(order_id: int, kind: str, sent: deque[RecordedSms]) -> str:
    """Run the order's queued SMS of ``kind``; the text the console gateway sent."""
    [row] = [
        row
        for row in outbox_rows("notify.sms")
        if row.payload["order_id"] == order_id and row.payload["kind"] == kind
    ]
    run_outbox(row.id)
    return sent[-1].text


def console_page(client: TestClient, order_id: int) -> str:
    """The order page as the pharmacist of ``make_order`` sees it, logged in through the form."""
    browser = TestClient(client.app, follow_redirects=False)
    login = browser.post(
        "/console/login", data={"username": "apoteker1", "password": "apoteker1-password-123"}
    )
    assert login.status_code == 303, login.text
    page = browser.get(f"/console/orders/{order_id}")
    assert page.status_code == 200, page.text
    return page.text


def wib(moment: datetime) -> str:
    return (moment.astimezone(UTC) + timedelta(hours=7)).strftime("%d/%m/%Y %H:%M WIB")


def the_attempt(order_id: int) -> BookingAttempt:
    [attempt] = attempts(order_id)
    return attempt


def test_an_assigned_driver_gets_an_eta_the_patient_reads_in_the_sms_and_pick_up_recomputes_it(
    client, booked_order, console_outbox, pharmacist_token
):
    # GoSend quoted 4.6 km by road (price_estimate): 11.04 min at 25 km/h, plus 15 min to reach the pharmacy.
    assert the_attempt(booked_order).eta_at is None  # GoSend's quote has no ETA
    assigned_at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    report_gosend(client, gosend_event("allocated", event_date=epoch_ms(assigned_at), **driver_fields()))

    assert order(booked_order).status == S.COURIER_ASSIGNED
    eta_at = the_attempt(booked_order).eta_at
    assert eta_at == assigned_at + timedelta(minutes=15 + 4.6 / 25 * 60)
    [assigned] = [e for e in timeline(booked_order) if e.to_status == S.COURIER_ASSIGNED]
    assert assigned.data["eta_at"] == eta_at.isoformat()

    # Staff see it on the order page in WIB (UTC+7), and in the staff API.
    page = console_page(client, booked_order)
    assert f"door: <b>{wib(eta_at)}</b></p>" in page
    assert f"<td>{wib(eta_at)}</td>" in page  # the booking's row
    detail = client.get(
        f"/api/v1/orders/{booked_order}", headers={"Authorization": f"Bearer {pharmacist_token}"}
    )
    assert datetime.fromisoformat(detail.json()["bookings"][0]["eta_at"]) == eta_at

    text = send_sms(booked_order, "courier_assigned", console_outbox)
    # 26.04 min after an assignment 30 s ago: 25.5 min and a little from now, said as 26; tersely, beside
    # the PIN and the link.
    pin = order(booked_order).handover_pin
    assert f"Kurir Budi Santoso (P 4521 XY) mengantar obat Anda, 26 menit lagi. PIN {pin}. Pantau: " in text

    picked_at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    report_gosend(client, gosend_event("picked", event_date=epoch_ms(picked_at)))

    assert order(booked_order).status == S.PICKED_UP
    assert the_attempt(booked_order).eta_at == picked_at + timedelta(minutes=4.6 / 25 * 60)
    text = send_sms(booked_order, "picked_up", console_outbox)
    assert "Obat Anda sudah dibawa kurir dan dalam perjalanan, tiba 11 menit lagi." in text

    delivered_at = datetime.now(UTC).replace(microsecond=0)
    report_gosend(client, gosend_event("delivered", event_date=epoch_ms(delivered_at)))
    delivered = the_attempt(booked_order)
    assert delivered.status == AttemptStatus.DELIVERED
    # Kept: what was promised, to hold against when it came.
    assert delivered.eta_at == picked_at + timedelta(minutes=4.6 / 25 * 60)
    assert "menit" not in send_sms(booked_order, "delivered", console_outbox)
    page = console_page(client, booked_order)
    assert 'id="eta"' not in page  # no longer coming
    assert f"<td>{wib(delivered.eta_at)}</td>" in page  # what was promised stays on the booking's row


# Meta's Cloud API (graph.facebook.com/{version}/{phone number id}/messages) for a number of the hospital's own.
WHATSAPP_PHONE_ID = "106540352242922"
WHATSAPP_URL = f"https://graph.facebook.com/v21.0/{WHATSAPP_PHONE_ID}/messages"
WHATSAPP_ACCEPTED = {
    "messaging_product": "whatsapp",
    "contacts": [{"input": "6281234560101", "wa_id": "6281234560101"}],
    "messages": [{"id": "wamid.HBgLNjI4MTIzNDU2MDEwMRUCABEYEjQ1"}],
}


def test_a_whatsapp_template_gets_the_eta_as_a_wib_clock_time(
    session: Session, hospital: Hospital, client, booked_order
):
    stored = session.get(Hospital, hospital.id)
    assert stored is not None
    stored.messaging_settings = {
        "whatsapp": {
            "gateway": "whatsapp",
            "options": {
                "phone_number_id": WHATSAPP_PHONE_ID,
                "access_token": "EAAG-access-token",
                "app_secret": "whatsapp-app-secret",
                "verify_token": "verify-token-rsud-blambangan",
                "templates": {
                    "courier_assigned": {
                        "name": "gancang_kurir_ditugaskan",
                        "parameters": ["courier", "plate", "eta", "link"],
                    }
                },
            },
        }
    }
    session.commit()
    report_gosend(
        client, gosend_event("allocated", event_date=epoch_ms(datetime.now(UTC)), **driver_fields())
    )
    eta_at = the_attempt(booked_order).eta_at
    assert eta_at is not None
    [queued] = [row for row in outbox_rows("notify.sms") if row.payload["kind"] == "courier_assigned"]
    whatsapp = enqueue(
        session,
        "notify.sms",
        {**queued.payload, "channel": "whatsapp", "dedupe_key": f"{queued.payload['dedupe_key']}:whatsapp"},
        hospital_id=queued.hospital_id,
    )
    session.commit()

    with respx.mock(assert_all_called=True) as meta:
        sent = meta.post(WHATSAPP_URL).mock(return_value=httpx.Response(200, json=WHATSAPP_ACCEPTED))
        run_outbox(whatsapp.id)

    template = json.loads(sent.calls.last.request.content)["template"]
    courier, plate, eta, _link = (parameter["text"] for parameter in template["components"][0]["parameters"])
    assert (courier, plate) == ("Budi Santoso", "P 4521 XY")
    # Read perhaps long after it arrives, the message names the time, not the minutes left.
    assert eta == wib(eta_at)[-9:]


def price_without_distance() -> httpx.Response:
    """GoSend's price estimate (couriers.md 1.3) without its ``distance``: the trip's road length unknown."""
    body = {
        "Instant": {
            "shipment_method": "Instant",
            "shipment_method_description": "Instant 1 - 2 hours",
            "serviceable": True,
            "active": True,
            "price": {"total_price": 16_000},
        }
    }
    return httpx.Response(200, json=body)


def price_with_distance(distance_km: float) -> httpx.Response:
    response = price_without_distance()
    body = response.json()
    body["Instant"]["distance"] = distance_km
    return httpx.Response(200, json=body)


def test_without_the_couriers_road_distance_the_learned_road_factor_stretches_the_straight_line(
    session: Session, hospital: Hospital, client, make_order, book_row
):
    add_courier_account(session, hospital, "gosend", gosend_settings(), priority=10)
    stored = session.get(Hospital, hospital.id)
    assert stored is not None
    stored.dispatch_policy = {"courier_speed_kmh": 20, "pickup_allowance_minutes": 10}
    session.commit()
    road_km = 7.8  # what GoSend measured to Kemiren on five delivered trips: 1.5 times the straight line
    with respx.mock(base_url=PRIMARY_BASE_URL, assert_all_called=True) as gosend:
        gosend.get(PRICE_PATH).mock(
            side_effect=[*[price_with_distance(road_km) for _ in range(5)], price_without_distance()]
        )
        gosend.post(BOOKING_PATH).mock(side_effect=[booking_created(f"GK-ETA-{n}") for n in range(6)])
        for _ in range(5):
            order_id = make_order(SITI)
            run_outbox(book_row(order_id))
            delivered = session.get(BookingAttempt, the_attempt(order_id).id)
            assert delivered is not None
            delivered.status = AttemptStatus.DELIVERED
            session.commit()
        order_id = make_order(SITI)
        run_outbox(book_row(order_id))
    assert the_attempt(order_id).quoted_distance_km is None
    assert (order(order_id).dest_lat, order(order_id).dest_lon) == KEMIREN

    assigned_at = datetime.now(UTC).replace(microsecond=0)
    report_gosend(
        client,
        gosend_event("allocated", event_date=epoch_ms(assigned_at), order_no="GK-ETA-5", **driver_fields()),
    )

    learned_factor = road_km / KEMIREN_KM
    assert learned_factor != pytest.approx(DEFAULT_ROAD_FACTOR)
    eta_at = the_attempt(order_id).eta_at
    assert eta_at is not None
    minutes = (eta_at - assigned_at).total_seconds() / 60
    assert minutes == pytest.approx(10 + KEMIREN_KM * learned_factor / 20 * 60, abs=1e-3)  # 33.4 min


# --- GrabExpress: a courier that estimates its own drop-off -------------------------------------------------

GRAB_BASE_URL = "https://grab-partner.test/grab-express-sandbox"
GRAB_TOKEN_URL = "https://grab-partner.test/grabid/v1/oauth2/token"
GRAB_HOOK_TOKEN = "grab-hook-token"


def grab_quotes(dropoff: datetime) -> httpx.Response:
    """Grab's documented quotes response, priced in rupiah, with the drop-off it estimates."""
    body = copy.deepcopy(load_example("grabexpress_quotes_response.json"))
    offer = body["quotes"][0]
    offer["currency"] = {"code": "IDR", "symbol": "Rp", "exponent": 0}
    offer["amount"] = 21_000
    offer["estimatedTimeline"] = {
        "pickup": (dropoff - timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "dropoff": dropoff.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return httpx.Response(200, json=body)


def test_the_couriers_own_drop_off_estimate_is_preferred_to_ours(
    session: Session, hospital: Hospital, client, make_order, book_row, console_outbox
):
    add_courier_account(
        session,
        hospital,
        "grabexpress",
        {
            "client_id": "grab-id",
            "client_secret": "grab-secret",
            "base_url": GRAB_BASE_URL,
            "token_url": GRAB_TOKEN_URL,
            "webhook_token": GRAB_HOOK_TOKEN,
        },
    )
    session.commit()
    order_id = make_order(SITI)
    # Far later than ours would be (10.4 km by Grab's road: 15 + 25 min): a busy afternoon Grab knows of.
    dropoff = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=70)
    created = load_example("grabexpress_create_delivery_response.json")
    with respx.mock(assert_all_called=True) as grab:
        grab.post(GRAB_TOKEN_URL).mock(
            return_value=httpx.Response(
                200, json={"access_token": "tok", "token_type": "Bearer", "expires_in": 3600}
            )
        )
        grab.post(f"{GRAB_BASE_URL}/v1/deliveries/quotes").mock(return_value=grab_quotes(dropoff))
        grab.post(f"{GRAB_BASE_URL}/v1/deliveries").mock(return_value=httpx.Response(200, json=created))
        run_outbox(book_row(order_id))
    booked = the_attempt(order_id)
    assert booked.courier == "grabexpress"
    assert booked.eta_at is not None
    # The quote's minutes are whole and counted from when Grab was asked: within a minute of its drop-off.
    assert timedelta(0) <= booked.eta_at - dropoff < timedelta(minutes=1)

    assigned = {
        "deliveryID": created["deliveryID"],
        "merchantOrderID": booked.reference,
        "timestamp": int(datetime.now(UTC).timestamp()),
        "status": "PICKING_UP",
        "driver": {"name": "Slamet Riyadi", "phone": "6281234500001", "licensePlate": "P 2211 QA"},
    }
    response = client.post(
        "/webhooks/couriers/grabexpress",
        content=json.dumps(assigned),
        headers={"Authorization": GRAB_HOOK_TOKEN},
    )
    assert response.status_code == 200, response.text
    [row] = pending_rows("webhooks.apply")
    run_outbox(row.id)

    assert order(order_id).status == S.COURIER_ASSIGNED
    assert the_attempt(order_id).eta_at == booked.eta_at
    text = send_sms(order_id, "courier_assigned", console_outbox)
    # Ours would have said about 40 minutes (15 + 10.4 km at 25 km/h); the patient is told Grab's 70.
    minutes = math.ceil((booked.eta_at - datetime.now(UTC)).total_seconds() / 60)
    assert minutes > 60
    assert any(f"mengantar obat Anda, {n} menit lagi." in text for n in (minutes, minutes + 1)), text
