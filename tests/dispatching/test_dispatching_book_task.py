"""The ``dispatch.book`` outbox task: locate the patient, book GoSend, reconcile after a lost answer, fall back."""

from __future__ import annotations

import json

import httpx
import pytest
import respx
from celery.exceptions import Retry
from dispatching_support import (
    BOOKING_PATH,
    ORDER_NO,
    PRICE_PATH,
    PRIMARY_BASE_URL,
    apply_outbox,
    attempts,
    booking_created,
    booking_status,
    deliver_once,
    load,
    order,
    pending_rows,
    price_estimate,
    run_outbox,
    set_outbox,
    sms_kinds,
    state_changes,
    timeline,
)
from sqlmodel import select

from dispatch.core.clock import utcnow
from dispatch.core.db import new_session
from dispatch.demo_data import HOSPITAL, PATIENTS, DemoPatient
from dispatch.dispatching.models import AttemptStatus, BookingAttempt
from dispatch.dispatching.service import PARCEL_DESCRIPTION
from dispatch.dispatching.tasks import RECONCILE_AFTER
from dispatch.hospitals.models import CourierAccount
from dispatch.orders.state_machine import OrderStatus
from dispatch.outbox.models import OutboxMessage

pytestmark = pytest.mark.usefixtures("primary_account")

SITI = PATIENTS[0]  # Desa Kemiren, Kec. Glagah, with a Kemendagri village code

UNLOCATABLE = DemoPatient(
    "RM-099001",
    "Tanpa Alamat",
    "0812-3456-0999",
    "qwzx plmk vbnr",
    None,
    "01",
    "01",
    "Amlodipine 10 mg Tablet",
    None,
    30,
)


def store_order_path(reference: str) -> str:
    return f"/gokilat/v10/booking/storeOrderId/{reference}"


@pytest.fixture
def gosend():
    with respx.mock(base_url=PRIMARY_BASE_URL, assert_all_called=True) as router:
        router.get(PRICE_PATH, name="price").mock(return_value=price_estimate())
        yield router


def test_book_locates_the_patient_and_sends_the_documented_request(make_order, book_row, gosend):
    order_id = make_order(SITI)
    route = gosend.post(BOOKING_PATH).mock(return_value=booking_created())

    run_outbox(book_row(order_id))

    located = order(order_id)
    assert located.status == OrderStatus.BOOKING
    assert (located.geocode_level, located.geocode_code, located.geocode_confidence) == (
        "desa",
        "35.10.15.2004",
        1.0,
    )
    assert (located.kecamatan_code, located.kecamatan_name) == ("35.10.15", "Glagah")
    assert located.dest_lat is not None and located.dest_lon is not None
    assert -8.6 < located.dest_lat < -7.8 and 113.8 < located.dest_lon < 114.7  # Kabupaten Banyuwangi

    [attempt] = attempts(order_id)
    assert located.current_attempt_id == attempt.id
    assert attempt.status == AttemptStatus.BOOKED
    assert attempt.provider_order_id == ORDER_NO
    assert attempt.courier == "gosend"

    assert route.call_count == 1
    request = route.calls.last.request
    assert request.headers["Client-ID"] == "rsud-blambangan"
    assert request.headers["Pass-Key"] == "pass-key-primary"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert json.loads(request.content) == {
        "paymentType": 3,
        "shipment_method": "Instant",
        "routes": [
            {
                "originName": HOSPITAL.name,
                "originNote": "Ambil di loket farmasi rawat jalan",
                "originContactName": "Instalasi Farmasi",
                "originContactPhone": "6281130004949",
                "originLatLong": "-8.209705,114.36527",
                "originAddress": HOSPITAL.address,
                "destinationName": "Siti Aminah",
                "destinationNote": "Desa/Kel. kode 35.10.15.2004; hubungi pasien sebelum tiba",
                "destinationContactName": "Siti Aminah",
                "destinationContactPhone": "6281234560101",
                "destinationLatLong": f"{located.dest_lat!r},{located.dest_lon!r}",
                "destinationAddress": "Dsn. Krajan, Desa Kemiren, Kec. Glagah, RT 02 RW 01",
                "item": PARCEL_DESCRIPTION,
                "storeOrderId": attempt.reference,
                "insuranceDetails": {
                    "applied": "false",
                    "fee": "0",
                    "product_description": PARCEL_DESCRIPTION,
                    "product_price": "0",
                },
            }
        ],
    }
    # Medicine travels sealed and unnamed: not in the item text, nor anywhere else in what GoSend sees.
    assert "amlodipine" not in request.content.decode().lower()

    assert state_changes(order_id)[-2:] == [
        ("released", "ready", "Located: desa 35.10.15.2004 from the Kemendagri code, confidence 1.00"),
        ("ready", "booking", "Booking gosend (attempt 1): cheapest of 1 quotes: gosend Rp16,000"),
    ]
    # The price was asked for the same trip before booking, and what GoSend quoted stays on the attempt.
    price_request = gosend["price"].calls.last.request
    assert price_request.url.params["origin"] == f"{HOSPITAL.lat},{HOSPITAL.lon}"
    assert price_request.url.params["destination"] == f"{located.dest_lat},{located.dest_lon}"
    assert attempt.quoted_price_idr == 16_000
    booked = timeline(order_id)[-1]
    assert (booked.kind, booked.detail) == ("courier", f"Booked with gosend: {ORDER_NO}")
    assert booked.data == {"reference": attempt.reference}
    assert pending_rows("dispatch.book") == []


def test_reference_is_unique_per_attempt_and_names_the_order(make_order, book_row, gosend):
    first, second = make_order(SITI), make_order(PATIENTS[1])
    gosend.post(BOOKING_PATH).mock(
        side_effect=[booking_created("GK-11-000001"), booking_created("GK-11-000002")]
    )
    run_outbox(book_row(first))
    run_outbox(book_row(second))
    [a], [b] = attempts(first), attempts(second)
    assert a.reference.startswith(f"GCG{first}A1-")
    assert b.reference.startswith(f"GCG{second}A1-")
    assert a.reference != b.reference
    assert len(a.reference) <= 64


def test_patient_without_village_code_is_located_by_desa_and_kecamatan_names(make_order, book_row, gosend):
    hadi = PATIENTS[3]  # "Dusun Krajan RT 01 RW 01, Ds. Wongsorejo, Kec. Wongsorejo", no codes
    order_id = make_order(hadi)
    gosend.post(BOOKING_PATH).mock(return_value=booking_created())
    run_outbox(book_row(order_id))
    located = order(order_id)
    assert located.status == OrderStatus.BOOKING
    assert located.geocode_level == "desa"
    assert located.kecamatan_name == "Wongsorejo"
    assert located.geocode_confidence is not None and located.geocode_confidence >= 0.5


def test_address_that_cannot_be_located_needs_a_person_and_no_courier_is_called(make_order, book_row, gosend):
    gosend.pop("price")
    order_id = make_order(UNLOCATABLE)

    run_outbox(book_row(order_id))

    assert gosend.calls.call_count == 0
    assert order(order_id).status == OrderStatus.NEEDS_ADDRESS
    assert attempts(order_id) == []
    assert state_changes(order_id)[-1] == ("released", "needs_address", "Address not found")
    assert sms_kinds(order_id) == ["released", "needs_address"]
    assert pending_rows("dispatch.book") == []


def test_courier_refusal_with_errors_array_refuses_the_attempt_and_falls_back(make_order, book_row, gosend):
    order_id = make_order(SITI)
    route = gosend.post(BOOKING_PATH).mock(
        return_value=httpx.Response(400, json={"errors": ["Destination is outside the service area"]})
    )

    run_outbox(book_row(order_id))

    assert route.call_count == 1  # a 4xx is an answer, not a reason to try again
    [attempt] = attempts(order_id)
    assert attempt.status == AttemptStatus.REFUSED
    assert attempt.error == "Destination is outside the service area"
    assert attempt.provider_order_id is None
    assert order(order_id).status == OrderStatus.NO_COURIER  # the only courier said no
    assert state_changes(order_id)[-3:] == [
        ("ready", "booking", "Booking gosend (attempt 1): cheapest of 1 quotes: gosend Rp16,000"),
        ("booking", "ready", "gosend refused the booking: Destination is outside the service area"),
        ("ready", "no_courier", "No enabled courier left that can take this order"),
    ]
    assert sms_kinds(order_id) == ["released", "no_courier"]
    assert pending_rows("dispatch.book") == []


def test_success_status_without_booking_id_is_a_refusal_read_from_error_message_header(
    make_order, book_row, gosend
):
    order_id = make_order(SITI)
    gosend.post(BOOKING_PATH).mock(
        return_value=httpx.Response(201, json={}, headers={"Error-Message": "Insufficient deposit"})
    )
    run_outbox(book_row(order_id))
    [attempt] = attempts(order_id)
    assert (attempt.status, attempt.error) == (AttemptStatus.REFUSED, "Insufficient deposit")
    assert order(order_id).status == OrderStatus.NO_COURIER


def test_server_error_raises_retry_and_leaves_the_attempt_pending(make_order, book_row, gosend):
    order_id = make_order(SITI)
    row_id = book_row(order_id)
    route = gosend.post(BOOKING_PATH).mock(return_value=httpx.Response(503, text="upstream unavailable"))

    with pytest.raises(Retry):
        deliver_once(row_id)

    assert route.call_count == 1
    [attempt] = attempts(order_id)
    # Persisted before the call, so the next delivery can ask GoSend whether the booking exists after all.
    assert attempt.status == AttemptStatus.PENDING
    assert attempt.provider_order_id is None
    assert order(order_id).status == OrderStatus.BOOKING
    message = load(OutboxMessage, row_id)
    assert message.processed_at is None
    assert message.last_error == "gosend: GoSend answered HTTP 503"


def test_retry_after_server_error_looks_the_booking_up_before_booking_again(make_order, book_row, gosend):
    """Task.apply runs the retry at once; the second delivery reconciles, then books exactly once more."""
    order_id = make_order(SITI)
    post = gosend.post(BOOKING_PATH).mock(
        side_effect=[httpx.Response(502), booking_created()],
    )
    lookup = gosend.get(path__regex=r"^/gokilat/v10/booking/storeOrderId/").mock(
        return_value=httpx.Response(404, json={"errors": ["Booking not found"]})
    )

    run_outbox(book_row(order_id))

    [attempt] = attempts(order_id)
    assert [call.request.url.path for call in gosend.calls] == [
        PRICE_PATH,
        BOOKING_PATH,
        store_order_path(attempt.reference),
        BOOKING_PATH,
    ]
    assert lookup.calls.last.request.url.path == store_order_path(attempt.reference)
    assert post.call_count == 2
    assert attempt.status == AttemptStatus.BOOKED
    assert attempt.provider_order_id == ORDER_NO


def age_attempt(attempt_id: int | None) -> None:
    """The attempt's last courier call started longer ago than a cut-off call can still be under way."""
    with new_session() as session:
        attempt = session.get(BookingAttempt, attempt_id)
        assert attempt is not None
        attempt.updated_at = utcnow() - RECONCILE_AFTER
        session.commit()


def test_redelivered_at_once_after_a_crash_waits_before_looking_up(make_order, book_row, gosend):
    """A worker killed mid-call: the message comes back at once (rejected on worker loss), but the courier
    may still be booking the cut-off call, so a lookup now could miss it and book a second driver."""
    order_id = make_order(SITI)
    row_id = book_row(order_id)
    gosend.post(BOOKING_PATH).mock(side_effect=httpx.ReadTimeout("no answer"))
    with pytest.raises(Retry):
        deliver_once(row_id)
    gosend.routes.clear()
    gosend.calls.clear()

    deliver_once(row_id)  # delivered again with no retry counted: the process died mid-call

    assert gosend.calls.call_count == 0
    [attempt] = attempts(order_id)
    assert attempt.status == AttemptStatus.PENDING
    with new_session() as session:
        message = session.get(OutboxMessage, row_id)
        assert message is not None and message.processed_at is None and message.available_at > utcnow()


def test_redelivered_message_adopts_the_booking_gosend_already_made(make_order, book_row, gosend):
    order_id = make_order(SITI)
    row_id = book_row(order_id)
    gosend.post(BOOKING_PATH).mock(side_effect=httpx.ReadTimeout("no answer"))
    with pytest.raises(Retry):
        deliver_once(row_id)  # GoSend may have booked: the answer was lost
    [pending] = attempts(order_id)
    assert pending.status == AttemptStatus.PENDING

    # The worker died; the relay publishes the message again, after the cut-off call is surely over.
    set_outbox(row_id, publish_count=2)
    age_attempt(pending.id)
    gosend.routes.clear()
    gosend.calls.clear()
    lookup = gosend.get(store_order_path(pending.reference)).mock(
        return_value=httpx.Response(200, json=booking_status(pending.reference))
    )

    run_outbox(row_id)

    assert lookup.call_count == 1
    assert gosend.calls.call_count == 1  # no second POST /booking: one driver, one bill
    [attempt] = attempts(order_id)
    assert attempt.status == AttemptStatus.BOOKED
    assert attempt.provider_order_id == ORDER_NO
    assert order(order_id).status == OrderStatus.BOOKING
    assert timeline(order_id)[-1].detail == f"Booked with gosend: {ORDER_NO}"


def test_redelivered_message_books_when_gosend_has_no_such_booking(make_order, book_row, gosend):
    order_id = make_order(SITI)
    row_id = book_row(order_id)
    gosend.post(BOOKING_PATH).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(Retry):
        deliver_once(row_id)
    [pending] = attempts(order_id)

    set_outbox(row_id, publish_count=2)
    age_attempt(pending.id)
    gosend.routes.clear()
    gosend.calls.clear()
    gosend.get(store_order_path(pending.reference)).mock(return_value=httpx.Response(404))
    post = gosend.post(BOOKING_PATH).mock(return_value=booking_created())

    run_outbox(row_id)

    assert [call.request.method for call in gosend.calls] == ["GET", "POST"]
    assert json.loads(post.calls.last.request.content)["routes"][0]["storeOrderId"] == pending.reference
    [attempt] = attempts(order_id)
    assert (attempt.id, attempt.status, attempt.provider_order_id) == (
        pending.id,
        AttemptStatus.BOOKED,
        ORDER_NO,
    )


def test_server_errors_until_the_last_retry_refuse_the_attempt(make_order, book_row, gosend):
    order_id = make_order(SITI)
    gosend.post(BOOKING_PATH).mock(return_value=httpx.Response(500))
    gosend.get(path__regex=r"^/gokilat/v10/booking/storeOrderId/").mock(return_value=httpx.Response(404))

    result = apply_outbox(book_row(order_id))

    assert result.successful()
    # First delivery plus six retries, each retry looking up the reference first.
    assert [call.request.method for call in gosend.calls].count("POST") == 7
    [attempt] = attempts(order_id)
    assert attempt.status == AttemptStatus.REFUSED
    assert attempt.error == "GoSend answered HTTP 500"
    assert order(order_id).status == OrderStatus.NO_COURIER


def test_the_same_message_twice_books_once(make_order, book_row, gosend):
    order_id = make_order(SITI)
    row_id = book_row(order_id)
    route = gosend.post(BOOKING_PATH).mock(return_value=booking_created())

    run_outbox(row_id)
    run_outbox(row_id)

    assert route.call_count == 1
    assert len(attempts(order_id)) == 1
    assert load(OutboxMessage, row_id).processed_at is not None


def test_a_second_book_message_for_a_booked_order_does_nothing(make_order, book_row, gosend, session):
    from dispatch.outbox.service import enqueue

    order_id = make_order(SITI)
    route = gosend.post(BOOKING_PATH).mock(return_value=booking_created())
    run_outbox(book_row(order_id))
    extra = enqueue(session, "dispatch.book", {"order_id": order_id}, hospital_id=order(order_id).hospital_id)
    session.commit()

    run_outbox(extra.id)

    assert route.call_count == 1
    assert len(attempts(order_id)) == 1
    assert order(order_id).status == OrderStatus.BOOKING


def test_book_message_for_an_order_cancelled_meanwhile_calls_no_courier(
    make_order, book_row, gosend, client, pharmacist_token
):
    gosend.pop("price")
    order_id = make_order(SITI)
    row_id = book_row(order_id)
    cancelled = client.post(
        f"/api/v1/orders/{order_id}/cancel",
        json={"reason": "Diambil sendiri"},
        headers={"Authorization": f"Bearer {pharmacist_token}"},
    )
    assert cancelled.status_code == 200

    run_outbox(row_id)

    assert gosend.calls.call_count == 0
    assert attempts(order_id) == []
    assert order(order_id).status == OrderStatus.CANCELLED


def test_without_any_enabled_courier_the_order_waits_for_a_person(make_order, book_row, session, gosend):
    gosend.pop("price")
    for account in session.exec(select(CourierAccount)).all():
        account.enabled = False
    session.commit()
    order_id = make_order(SITI)

    run_outbox(book_row(order_id))

    assert gosend.calls.call_count == 0
    assert order(order_id).status == OrderStatus.NO_COURIER
    assert state_changes(order_id)[-1] == (
        "ready",
        "no_courier",
        "No courier: no enabled courier can take this order",
    )
    assert sms_kinds(order_id) == ["released", "no_courier"]


def test_a_task_naming_a_row_of_another_topic_leaves_it_alone(make_order, book_row, celery):
    """After a database restore, a task still in the broker can name a row id that now holds another
    message: the cancel task given a booking row neither runs on it nor marks it done."""
    order_id = make_order(SITI)
    row_id = book_row(order_id)

    result = celery.tasks["dispatch.cancel_booking"].apply(args=[row_id])

    assert result.successful(), result.result
    row = load(OutboxMessage, row_id)
    assert row is not None and row.processed_at is None and row.last_error is None
    assert order(order_id).status == OrderStatus.RELEASED
