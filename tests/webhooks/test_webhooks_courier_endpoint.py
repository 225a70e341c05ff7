"""POST /webhooks/couriers/{courier}: archive everything, authenticate, parse, de-duplicate, queue.

Driven with the recorded GoSend callback (gosend_webhook_booking_event_no_driver.json) against an order whose
booking was made through the real intake, release and booking task.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select
from webhooks_support import ORDER_NO, WEBHOOK_TOKEN, gosend_settings

from dispatch.core.db import new_session
from dispatch.dispatching import repository as dispatching_repository
from dispatch.dispatching.models import AttemptStatus, BookingAttempt
from dispatch.hospitals.models import CourierAccount, Hospital, HospitalCreate
from dispatch.hospitals.service import add_courier_account, create_hospital
from dispatch.inbox.models import InboxMessage, InboxStatus
from dispatch.orders.models import Order, OrderEvent
from dispatch.outbox.models import OutboxMessage

URL = "/webhooks/couriers/gosend"
EVENT_ID = "7444acc4-0f14-419d-806c-6e245607c274"
PROBLEM_JSON = "application/problem+json"


def post(client: TestClient, body: bytes | str, headers: dict[str, str] | None = None, url: str = URL):
    return client.post(url, content=body, headers={"Content-Type": "application/json", **(headers or {})})


def raw(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def inbox() -> list[InboxMessage]:
    with new_session() as session:
        return list(session.exec(select(InboxMessage).order_by(col(InboxMessage.id))).all())


def courier_inbox() -> list[InboxMessage]:
    return [message for message in inbox() if message.source.startswith("courier:")]


def apply_rows() -> list[OutboxMessage]:
    with new_session() as session:
        query = select(OutboxMessage).where(OutboxMessage.topic == "webhooks.apply")
        return list(session.exec(query.order_by(col(OutboxMessage.id))).all())


def snapshot(order_id: int) -> tuple[Any, ...]:
    """Everything a webhook could change about an order, to show that a refused one changed nothing."""
    with new_session() as session:
        order = session.get(Order, order_id)
        assert order is not None
        attempt_rows = session.exec(select(BookingAttempt).where(BookingAttempt.order_id == order_id)).all()
        events = session.exec(select(OrderEvent.id).where(OrderEvent.order_id == order_id)).all()
        outbox = session.exec(select(OutboxMessage.id)).all()
        return (
            order.status,
            order.status_changed_at,
            [a.model_dump() for a in attempt_rows],
            sorted(events),
            sorted(outbox),
        )


def assert_problem(response, status: int, title: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert (body["type"], body["title"], body["status"]) == ("about:blank", title, status)
    return body


def assert_no_credentials_archived(message: InboxMessage, *secrets: str) -> None:
    assert "authorization" not in {name.lower() for name in message.headers}
    archived = json.dumps(message.headers)
    for secret in secrets:
        assert secret not in archived


@pytest.fixture
def other_hospital(session: Session) -> Hospital:
    hospital = create_hospital(
        session,
        HospitalCreate(
            code="RSUDGTG",
            name="RSUD Genteng",
            address="Jl. Hasanudin, Genteng, Banyuwangi",
            phone="0333-845-839",
            lat=-8.3646,
            lon=114.1504,
            kabupaten_code="35.10",
        ),
    )
    session.commit()
    return hospital


# --- accepted and duplicate ----------------------------------------------------------------------------------


@pytest.mark.parametrize("authorization", [WEBHOOK_TOKEN, f"Bearer {WEBHOOK_TOKEN}"])
def test_recorded_event_with_the_right_token_is_archived_accepted_and_queued(
    client, booked_order, gosend_account, hospital, recorded_event, authorization
):
    body = raw(recorded_event)
    before = snapshot(booked_order)

    response = post(client, body, {"Authorization": authorization})

    assert response.status_code == 200
    assert response.json() == {"message": "ok"}
    [message] = courier_inbox()
    assert message.source == "courier:gosend"
    assert message.status == InboxStatus.ACCEPTED
    assert message.dedupe_key == EVENT_ID
    assert message.hospital_id == hospital.id
    assert message.body == body
    assert message.content_type == "application/json"
    assert message.error is None
    assert_no_credentials_archived(message, WEBHOOK_TOKEN)
    [queued] = apply_rows()
    assert queued.payload == {"inbox_id": message.id, "account_id": gosend_account.id}
    assert queued.hospital_id == hospital.id
    assert (queued.published_at, queued.processed_at) == (None, None)  # for the relay
    # Accepting is not applying: the order moves only when the queued task runs.
    assert snapshot(booked_order)[:3] == before[:3]


def test_the_same_event_again_is_a_duplicate_and_queues_nothing(
    client, booked_order, hospital, recorded_event
):
    body = raw(recorded_event)
    assert post(client, body, {"Authorization": WEBHOOK_TOKEN}).status_code == 200

    again = post(client, body, {"Authorization": WEBHOOK_TOKEN})

    assert again.status_code == 200
    assert again.json() == {"message": "duplicate event"}
    first, second = courier_inbox()
    assert first.status == InboxStatus.ACCEPTED
    assert second.status == InboxStatus.DUPLICATE
    assert second.hospital_id == hospital.id
    assert second.processed_at is not None
    assert second.body == body
    assert len(apply_rows()) == 1


def test_a_duplicate_after_the_first_copy_was_applied_is_still_a_duplicate(
    client, booked_order, celery, recorded_event
):
    body = raw(recorded_event)
    post(client, body, {"Authorization": WEBHOOK_TOKEN})
    [queued] = apply_rows()
    assert celery.tasks["webhooks.apply"].apply(args=[queued.id]).successful()
    assert courier_inbox()[0].status == InboxStatus.PROCESSED

    again = post(client, body, {"Authorization": WEBHOOK_TOKEN})

    assert again.json() == {"message": "duplicate event"}
    assert len(apply_rows()) == 1


def test_an_event_without_event_id_is_deduplicated_by_booking_status_and_time(
    client, booked_order, recorded_event
):
    del recorded_event["event_id"]
    body = raw(recorded_event)
    assert post(client, body, {"Authorization": WEBHOOK_TOKEN}).json() == {"message": "ok"}
    assert post(client, body, {"Authorization": WEBHOOK_TOKEN}).json() == {"message": "duplicate event"}
    assert courier_inbox()[0].dedupe_key == f"{ORDER_NO}:no_driver:1648542933000"


def test_an_overlong_event_id_is_accepted_and_still_deduplicated(client, booked_order, recorded_event):
    recorded_event["event_id"] = "e" * 300
    body = raw(recorded_event)

    first = post(client, body, {"Authorization": WEBHOOK_TOKEN})
    second = post(client, body, {"Authorization": WEBHOOK_TOKEN})

    assert (first.status_code, first.json()) == (200, {"message": "ok"})
    assert second.json() == {"message": "duplicate event"}
    accepted, duplicate = courier_inbox()
    assert accepted.status == InboxStatus.ACCEPTED
    assert accepted.dedupe_key is not None and len(accepted.dedupe_key) <= 200
    assert duplicate.status == InboxStatus.DUPLICATE
    assert len(apply_rows()) == 1


# --- refused -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "not-the-token"},
        {"Authorization": f"Bearer {WEBHOOK_TOKEN}x"},
        {"Authorization": f"Basic {WEBHOOK_TOKEN}"},
        {"X-Callback-Token": WEBHOOK_TOKEN},  # the token, but not in the configured header
        {},
    ],
    ids=["wrong", "wrong-bearer", "basic", "other-header", "missing"],
)
def test_wrong_or_missing_token_is_401_and_archived_as_rejected(
    client, booked_order, recorded_event, headers
):
    body = raw(recorded_event)
    before = snapshot(booked_order)

    response = post(client, body, headers)

    problem = assert_problem(response, 401, "Webhook authentication failed")
    assert problem["detail"] == "Missing or wrong webhook credentials."
    [message] = courier_inbox()
    assert (message.status, message.error) == (InboxStatus.REJECTED, "authentication failed")
    assert message.hospital_id is None
    assert message.dedupe_key is None
    assert message.body == body
    assert_no_credentials_archived(message, WEBHOOK_TOKEN, "not-the-token")
    assert snapshot(booked_order) == before
    assert apply_rows() == []


@pytest.mark.parametrize("authorization", ["", "None", "null", "Bearer ", "Bearer None"])
def test_account_without_a_webhook_token_refuses_every_callback(
    client, session, hospital, recorded_event, authorization
):
    settings = gosend_settings()
    del settings["webhook_token"]
    add_courier_account(session, hospital, "gosend", settings)
    session.commit()

    response = post(client, raw(recorded_event), {"Authorization": authorization})

    assert_problem(response, 401, "Webhook authentication failed")
    [message] = courier_inbox()
    assert (message.status, message.error) == (InboxStatus.REJECTED, "authentication failed")


def test_disabled_account_does_not_authenticate(
    client, booked_order, session, gosend_account, recorded_event
):
    account = session.get(CourierAccount, gosend_account.id)
    assert account is not None
    account.enabled = False
    session.commit()

    response = post(client, raw(recorded_event), {"Authorization": WEBHOOK_TOKEN})

    assert_problem(response, 401, "Webhook authentication failed")


@pytest.mark.parametrize("courier", ["fedex", "GoSend", "x" * 80])
def test_unknown_courier_is_404_and_archived(client, booked_order, recorded_event, courier):
    body = raw(recorded_event)

    response = post(client, body, {"Authorization": WEBHOOK_TOKEN}, url=f"/webhooks/couriers/{courier}")

    problem = assert_problem(response, 404, "Unknown courier")
    assert problem["detail"] == f"No courier adapter named {courier!r}."
    [message] = courier_inbox()
    assert message.source == f"courier:{courier}"[:64]
    assert (message.status, message.error) == (InboxStatus.REJECTED, "unknown courier")
    assert message.body == body
    assert_no_credentials_archived(message, WEBHOOK_TOKEN)
    assert apply_rows() == []


@pytest.mark.parametrize(
    ("body", "detail_start"),
    [
        (b'{"booking_id": "GK-11-170563", "status": ', "GoSend webhook body is not JSON"),
        (b'["booking_event"]', "GoSend webhook body is not a JSON object"),
        (
            raw({"status": "allocated", "event_date": 1648542933000}),
            "GoSend webhook lacks booking_id or status",
        ),
        (
            raw({"booking_id": ORDER_NO, "event_date": 1648542933000}),
            "GoSend webhook lacks booking_id or status",
        ),
        (raw({"booking_id": ORDER_NO, "status": "allocated"}), "GoSend webhook lacks a numeric event_date"),
        (
            raw({"booking_id": ORDER_NO, "status": "allocated", "event_date": "2022-03-29"}),
            "GoSend webhook lacks a numeric event_date",
        ),
    ],
    ids=["truncated", "array", "no-booking", "no-status", "no-date", "text-date"],
)
def test_malformed_payload_is_400_and_archived_with_the_reason(
    client, booked_order, hospital, body, detail_start
):
    before = snapshot(booked_order)

    response = post(client, body, {"Authorization": WEBHOOK_TOKEN})

    problem = assert_problem(response, 400, "Malformed webhook")
    assert problem["detail"].startswith(detail_start)
    [message] = courier_inbox()
    assert message.status == InboxStatus.REJECTED
    assert message.error == f"unparseable: {problem['detail']}"
    assert message.hospital_id == hospital.id  # authenticated, so we know whose it is
    assert message.body == body
    assert snapshot(booked_order) == before


@pytest.mark.parametrize("body", [b"", b"  \r\n"])
def test_an_empty_registration_probe_is_acknowledged_without_credentials(client, booked_order, body):
    """Lalamove and Biteship probe a new URL with an empty body and want a 200 before they use it."""
    before = snapshot(booked_order)

    response = post(client, body, {})

    assert response.status_code == 200
    [message] = courier_inbox()
    assert (message.status, message.error) == (InboxStatus.IGNORED, "empty body: a registration probe")
    assert apply_rows() == []
    assert snapshot(booked_order) == before


def test_unknown_order_number_is_404_and_changes_nothing(client, booked_order, hospital, recorded_event):
    recorded_event["booking_id"] = recorded_event["entity_id"] = "GK-11-999999"
    before = snapshot(booked_order)

    response = post(client, raw(recorded_event), {"Authorization": WEBHOOK_TOKEN})

    problem = assert_problem(response, 404, "Unknown order")
    assert problem["detail"] == "No booking 'GK-11-999999' for this account."
    assert snapshot(booked_order) == before
    [message] = courier_inbox()
    assert (message.status, message.error, message.hospital_id) == (
        InboxStatus.REJECTED,
        "unknown order",
        hospital.id,
    )
    assert message.dedupe_key is None
    # Refused, so not remembered: the same event id can still be accepted once the booking is known.
    recorded_event["booking_id"] = recorded_event["entity_id"] = ORDER_NO
    assert post(client, raw(recorded_event), {"Authorization": WEBHOOK_TOKEN}).json() == {"message": "ok"}


def test_another_hospitals_token_cannot_report_on_our_booking(
    client, booked_order, session, other_hospital, recorded_event
):
    add_courier_account(session, other_hospital, "gosend", gosend_settings(webhook_token="genteng-token"))
    session.commit()
    before = snapshot(booked_order)

    response = post(client, raw(recorded_event), {"Authorization": "genteng-token"})

    assert_problem(response, 404, "Unknown order")
    assert snapshot(booked_order) == before
    [message] = courier_inbox()
    assert (message.status, message.hospital_id) == (InboxStatus.REJECTED, other_hospital.id)


def test_accounts_sharing_one_callback_token_each_get_their_own_bookings_events(
    client, book, session, hospital, gosend_account, recorded_event
):
    """Two GoSend accounts given the same callback token: the booking, not the account order, decides."""
    assert hospital.id is not None
    backup = CourierAccount(
        hospital_id=hospital.id,
        courier="gosend",
        label="backup",
        priority=5,  # tried first, though created second
        settings=gosend_settings(client_id="rsud-blambangan-backup"),
    )
    session.add(backup)
    session.commit()
    order_id = book(ORDER_NO)
    with new_session() as db_session:
        attempt = db_session.exec(select(BookingAttempt).where(BookingAttempt.order_id == order_id)).one()
    assert attempt.account_id == backup.id

    response = post(client, raw(recorded_event), {"Authorization": WEBHOOK_TOKEN})

    assert (response.status_code, response.json()) == (200, {"message": "ok"})
    [queued] = apply_rows()
    assert queued.payload["account_id"] == backup.id
    [message] = courier_inbox()
    assert (message.status, message.hospital_id) == (InboxStatus.ACCEPTED, hospital.id)


def test_every_request_is_archived_raw_and_without_credentials(client, booked_order, recorded_event):
    requests = [
        (URL, raw(recorded_event), {"Authorization": WEBHOOK_TOKEN}),  # accepted
        (URL, raw(recorded_event), {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}),  # duplicate
        (URL, raw({**recorded_event, "event_id": "other"}), {"Authorization": "guess"}),  # 401
        (URL, raw(recorded_event), {}),  # 401
        ("/webhooks/couriers/lalamove-x", raw(recorded_event), {"Authorization": WEBHOOK_TOKEN}),  # 404
        (URL, b"{not json", {"Authorization": WEBHOOK_TOKEN}),  # 400
        (URL, raw({**recorded_event, "booking_id": "GK-0"}), {"Authorization": WEBHOOK_TOKEN}),  # 404
    ]
    statuses = [post(client, body, headers, url=url).status_code for url, body, headers in requests]

    assert statuses == [200, 200, 401, 401, 404, 400, 404]
    archived = courier_inbox()
    assert [message.body for message in archived] == [body for _url, body, _headers in requests]
    assert [message.status for message in archived] == [
        InboxStatus.ACCEPTED,
        InboxStatus.DUPLICATE,
        InboxStatus.REJECTED,
        InboxStatus.REJECTED,
        InboxStatus.REJECTED,
        InboxStatus.REJECTED,
        InboxStatus.REJECTED,
    ]
    for message in archived:
        assert_no_credentials_archived(message, WEBHOOK_TOKEN, "guess")
        assert message.headers["content-type"] == "application/json"


def test_a_body_with_a_nul_byte_is_archived_and_refused_not_a_server_error(client, booked_order):
    response = post(client, b'{"booking_id": "GK-11-170563\x00"}', {"Authorization": WEBHOOK_TOKEN})
    assert response.status_code == 400
    assert len(courier_inbox()) == 1


def test_a_report_faster_than_our_booking_commit_is_asked_again_not_lost(
    client, booked_order, session, recorded_event
):
    """GoSend may call back before the booking task has stored the order number: 503, retry later."""
    attempt = session.exec(select(BookingAttempt)).one()
    attempt.status, attempt.provider_order_id = AttemptStatus.PENDING, None
    session.commit()

    response = post(client, raw(recorded_event), {"Authorization": WEBHOOK_TOKEN})

    assert_problem(response, 503, "Booking not recorded yet")
    assert response.headers["retry-after"] == "5"
    [message] = courier_inbox()
    assert (message.status, message.error) == (
        InboxStatus.REJECTED,
        "booking in flight; sender asked to retry",
    )


def test_a_report_whose_booking_commits_while_it_is_read_is_accepted_not_refused(
    client, booked_order, session, recorded_event, monkeypatch
):
    """The booking task commits the courier's order number between the webhook's first look for it and its
    question about bookings in flight: the event is for a known booking and must be taken, not refused as
    an unknown order (which a courier would not send again)."""
    attempt = session.exec(select(BookingAttempt)).one()
    number = attempt.provider_order_id
    attempt.status, attempt.provider_order_id = AttemptStatus.PENDING, None
    session.commit()
    asked_about_pending = dispatching_repository.has_pending_attempt

    def booking_commits_meanwhile(*args: Any) -> bool:
        attempt.status, attempt.provider_order_id = AttemptStatus.BOOKED, number
        session.commit()
        return asked_about_pending(*args)

    monkeypatch.setattr(dispatching_repository, "has_pending_attempt", booking_commits_meanwhile)

    response = post(client, raw(recorded_event), {"Authorization": WEBHOOK_TOKEN})

    assert response.status_code == 200, response.text
    [message] = courier_inbox()
    assert message.status == InboxStatus.ACCEPTED
    assert len(apply_rows()) == 1
