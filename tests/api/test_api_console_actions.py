"""Console queues and order actions: cancel, re-book, alerts handled, the live fragment, the handover, and the
audit page; each action role-checked, CSRF-checked, scoped to the hospital and audited exactly once."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from console_support import CSRF_REFUSED, audit_rows, console_login, csrf_of

from dispatch.dispatching.models import AttemptStatus, BookingAttempt
from dispatch.inbox.models import InboxMessage, InboxStatus
from dispatch.orders.models import Order, OrderEvent
from dispatch.outbox.models import OutboxMessage

ROLES = ("pharmacist", "dispatcher", "viewer", "admin")


@pytest.fixture
def staff(session, hospital, staff_maker) -> dict[str, str]:
    """One user per role, by role; each logs in with ``console_login(app, name)``."""
    names = {role: f"{role}1" for role in ROLES}
    for role, name in names.items():
        staff_maker(session, hospital, name, role)
    return names


@pytest.fixture
def accounts(session, hospital):
    """Two GoSend accounts, so an order one of them gave up on has another to go to."""
    from dispatch.hospitals.service import add_courier_account

    first = add_courier_account(session, hospital, "gosend", {"client_id": "c", "pass_key": "p"}, priority=10)
    second = add_courier_account(
        session, hospital, "gosend", {"client_id": "c2", "pass_key": "p2"}, priority=20, label="shelter"
    )
    session.commit()
    return first, second


def put(run_sql, order_id: int, status: str, attempt_id: int | None = None) -> None:
    """An order placed in a state no endpoint reaches quickly; a destination so dispatch can weigh couriers."""
    run_sql(
        "UPDATE orders SET status = :status, dest_lat = -8.2030, dest_lon = 114.3190, current_attempt_id = :attempt "
        "WHERE id = :id",
        status=status,
        attempt=attempt_id,
        id=order_id,
    )


def alert(session, order_id: int, detail: str) -> None:
    from dispatch.orders.service import add_event

    add_event(session, session.get(Order, order_id), "alert", detail)
    session.commit()


def queue_ids(browser, queue: str) -> set[int]:
    page = browser.get(f"/console?queue={queue}")
    assert page.status_code == 200
    return {int(part.split('"')[0]) for part in page.text.split('<a href="/console/orders/')[1:]}


# --- queues ------------------------------------------------------------------------------------------------


def test_the_queues_split_the_orders_and_problems_include_unanswered_alerts(
    client, create_order, staff, session, hospital, run_sql, other_hospital
):
    waiting, active, stuck, alerted, delivered = (create_order(f"RX-Q-{n}", n % 6) for n in range(5))
    put(run_sql, active, "courier_assigned")
    put(run_sql, stuck, "no_courier")
    put(run_sql, alerted, "picked_up")
    put(run_sql, delivered, "delivered")
    alert(session, alerted, "gosend: teleported: unknown courier status; order unchanged")
    alert(session, delivered, "gosend: late report after delivery")  # over: not a problem any more
    session.add(
        InboxMessage(
            source="fhir",
            hospital_id=hospital.id,
            body=b"{}",
            status=InboxStatus.REJECTED,
            error="bad",
            content_type="application/json",
        )
    )
    session.commit()
    create_order("RX-Q-THEIRS", 1, api_key=other_hospital.api_key)
    browser = console_login(client.app, staff["viewer"])

    assert queue_ids(browser, "awaiting_release") == {waiting}
    assert queue_ids(browser, "active") == {active, alerted}
    assert queue_ids(browser, "problems") == {stuck, alerted}
    page = browser.get("/console?queue=problems").text
    assert "Masalah / Problems (2)" in page
    assert 'id="quarantined">Karantina pesan / Quarantined messages (1)</a>' in page
    assert "Menunggu rilis / Awaiting release (1)" in page


def test_handling_an_alert_takes_the_order_off_the_problems_queue_until_the_next_one(
    client, create_order, staff, session, run_sql, fetch
):
    order_id = create_order("RX-ALERT")
    put(run_sql, order_id, "picked_up")
    alert(session, order_id, "webhook: job.delivered: handover PIN missing or wrong; not marked delivered")
    dispatcher = console_login(client.app, staff["dispatcher"])
    page = dispatcher.get(f"/console/orders/{order_id}").text
    assert "data-open-alert" in page and 'id="acknowledge"' in page

    for role in ("pharmacist", "viewer"):
        other = console_login(client.app, staff[role])
        forced = other.post(
            f"/console/orders/{order_id}/acknowledge", data={"csrf": csrf_of(other), "note": "x"}
        )
        assert forced.status_code == 403
    response = dispatcher.post(
        f"/console/orders/{order_id}/acknowledge",
        data={"csrf": csrf_of(dispatcher), "note": "Called the driver"},
    )

    assert response.headers["location"] == f"/console/orders/{order_id}?flash=acknowledged"
    assert queue_ids(dispatcher, "problems") == set()
    [event] = fetch(OrderEvent, OrderEvent.order_id == order_id, OrderEvent.kind == "staff")
    assert (event.actor, event.detail) == ("dispatcher1", "Alerts handled: Called the driver")
    [entry] = audit_rows(fetch, "order.acknowledge_alerts")
    assert (entry.actor, entry.target_id, entry.detail) == ("dispatcher1", order_id, "Called the driver")
    alert(session, order_id, "gosend: teleported again")
    assert queue_ids(dispatcher, "problems") == {order_id}


# --- cancel ------------------------------------------------------------------------------------------------


def test_a_pharmacist_cancels_with_a_reason(client, create_order, staff, fetch):
    order_id = create_order("RX-CANCEL")
    pharmacist = console_login(client.app, staff["pharmacist"])
    page = pharmacist.get(f"/console/orders/{order_id}").text
    assert f'action="/console/orders/{order_id}/cancel"' in page

    response = pharmacist.post(
        f"/console/orders/{order_id}/cancel",
        data={"csrf": csrf_of(pharmacist), "reason": "Pasien ambil sendiri"},
    )

    assert response.headers["location"] == f"/console/orders/{order_id}?flash=cancelled"
    [order] = fetch(Order, Order.id == order_id)
    assert order.status == "cancelled"
    [event] = fetch(OrderEvent, OrderEvent.order_id == order_id, OrderEvent.to_status == "cancelled")
    assert (event.actor, event.detail) == ("pharmacist1", "Pasien ambil sendiri")
    [entry] = audit_rows(fetch)
    assert (entry.action, entry.actor, entry.target_type, entry.target_id, entry.detail) == (
        "order.cancel",
        "pharmacist1",
        "order",
        order_id,
        "Pasien ambil sendiri",
    )
    # Cancelled is final: no form, and a second post changes nothing and writes no second entry.
    assert (
        f'action="/console/orders/{order_id}/cancel"'
        not in pharmacist.get(f"/console/orders/{order_id}").text
    )
    again = pharmacist.post(
        f"/console/orders/{order_id}/cancel", data={"csrf": csrf_of(pharmacist), "reason": "x"}
    )
    assert again.headers["location"] == f"/console/orders/{order_id}?flash=cancel_refused"
    assert len(audit_rows(fetch)) == 1


def test_a_cancel_without_a_reason_is_refused(client, create_order, staff, fetch):
    order_id = create_order("RX-CANCEL-0")
    pharmacist = console_login(client.app, staff["pharmacist"])

    response = pharmacist.post(
        f"/console/orders/{order_id}/cancel", data={"csrf": csrf_of(pharmacist), "reason": " "}
    )

    assert response.status_code == 422
    assert "Tulis alasan pembatalan" in response.text
    assert [o.status for o in fetch(Order)] == ["awaiting_release"]
    assert audit_rows(fetch) == []


@pytest.mark.parametrize("role", ["dispatcher", "viewer"])
def test_only_a_pharmacist_may_cancel(client, create_order, staff, fetch, role):
    order_id = create_order("RX-CANCEL-R")
    browser = console_login(client.app, staff[role])
    assert (
        f'action="/console/orders/{order_id}/cancel"' not in browser.get(f"/console/orders/{order_id}").text
    )

    response = browser.post(
        f"/console/orders/{order_id}/cancel", data={"csrf": csrf_of(browser), "reason": "x"}
    )

    assert response.status_code == 403
    assert response.text == "Hanya apoteker yang dapat membatalkan / only pharmacists may cancel"
    assert [o.status for o in fetch(Order)] == ["awaiting_release"]
    assert audit_rows(fetch) == []


def test_a_forged_or_foreign_cancel_changes_nothing(client, create_order, staff, other_hospital, fetch):
    ours = create_order("RX-CANCEL-F")
    theirs = create_order("RX-CANCEL-T", 1, api_key=other_hospital.api_key)
    pharmacist = console_login(client.app, staff["pharmacist"])

    forged = pharmacist.post(f"/console/orders/{ours}/cancel", data={"csrf": "0" * 64, "reason": "x"})
    foreign = pharmacist.post(
        f"/console/orders/{theirs}/cancel", data={"csrf": csrf_of(pharmacist), "reason": "x"}
    )
    expired = client.post(
        f"/console/orders/{ours}/cancel", data={"csrf": "0" * 64, "reason": "x"}, follow_redirects=False
    )

    assert (forged.status_code, forged.text) == (403, CSRF_REFUSED)
    assert (foreign.status_code, foreign.text) == (404, "Pesanan tidak ditemukan / order not found")
    assert (expired.status_code, expired.headers["location"]) == (303, "/console/login")
    assert {o.status for o in fetch(Order)} == {"awaiting_release"}
    assert audit_rows(fetch) == []


# --- re-book -----------------------------------------------------------------------------------------------


def test_re_booking_an_order_without_a_courier_sends_it_back_to_dispatch(
    client, create_order, staff, accounts, run_sql, fetch
):
    order_id = create_order("RX-REBOOK")
    put(run_sql, order_id, "no_courier")
    run_sql("DELETE FROM outbox_messages")
    dispatcher = console_login(client.app, staff["dispatcher"])
    assert 'id="rebook"' in dispatcher.get(f"/console/orders/{order_id}").text

    response = dispatcher.post(
        f"/console/orders/{order_id}/rebook", data={"csrf": csrf_of(dispatcher), "reason": "Akun baru aktif"}
    )

    assert response.headers["location"] == f"/console/orders/{order_id}?flash=rebooked"
    [order] = fetch(Order, Order.id == order_id)
    assert order.status == "ready"
    assert [(m.topic, m.payload) for m in fetch(OutboxMessage, OutboxMessage.topic == "dispatch.book")] == [
        ("dispatch.book", {"order_id": order_id})
    ]
    [event] = fetch(OrderEvent, OrderEvent.order_id == order_id, OrderEvent.kind == "staff")
    assert (event.actor, event.detail) == ("dispatcher1", "Re-booked by staff: Akun baru aktif")
    [entry] = audit_rows(fetch)
    assert (entry.action, entry.target_id, entry.detail) == ("order.rebook", order_id, "Akun baru aktif")


def test_re_booking_a_booked_order_cancels_the_booking_first(
    client, create_order, staff, accounts, session, run_sql, fetch
):
    first, _second = accounts
    order_id = create_order("RX-REBOOK-B")
    attempt = BookingAttempt(
        order_id=order_id,
        hospital_id=first.hospital_id,
        courier="gosend",
        account_id=first.id,
        reference="GCG-T-1",
        status=AttemptStatus.BOOKED,
        provider_order_id="GK-1",
    )
    session.add(attempt)
    session.commit()
    put(run_sql, order_id, "courier_assigned", attempt.id)
    run_sql("DELETE FROM outbox_messages")
    dispatcher = console_login(client.app, staff["dispatcher"])

    response = dispatcher.post(
        f"/console/orders/{order_id}/rebook",
        data={"csrf": csrf_of(dispatcher), "reason": "Driver tidak datang"},
    )

    assert response.headers["location"] == f"/console/orders/{order_id}?flash=rebooked"
    [order] = fetch(Order, Order.id == order_id)
    assert (order.status, order.current_attempt_id) == ("ready", None)
    assert sorted((m.topic, m.payload) for m in fetch(OutboxMessage) if m.topic.startswith("dispatch.")) == [
        ("dispatch.book", {"order_id": order_id}),
        ("dispatch.cancel_booking", {"attempt_id": attempt.id}),
    ]
    assert len(audit_rows(fetch, "order.rebook")) == 1


def test_re_booking_when_every_courier_was_tried_says_so(
    client, create_order, staff, session, hospital, run_sql, fetch
):
    from dispatch.hospitals.service import add_courier_account

    order_id = create_order("RX-REBOOK-N")
    account = add_courier_account(session, hospital, "gosend", {"client_id": "c", "pass_key": "p"})
    session.add(
        BookingAttempt(
            order_id=order_id,
            hospital_id=account.hospital_id,
            courier="gosend",
            account_id=account.id,
            reference="GCG-T-2",
            status=AttemptStatus.NO_DRIVER,
        )
    )
    session.commit()
    put(run_sql, order_id, "no_courier")
    dispatcher = console_login(client.app, staff["dispatcher"])

    response = dispatcher.post(
        f"/console/orders/{order_id}/rebook", data={"csrf": csrf_of(dispatcher), "reason": "coba"}
    )

    assert response.headers["location"] == f"/console/orders/{order_id}?flash=rebook_none_left"
    assert [o.status for o in fetch(Order)] == ["no_courier"]
    assert len(audit_rows(fetch, "order.rebook")) == 1


def test_an_order_already_picked_up_cannot_be_re_booked(
    client, create_order, staff, accounts, run_sql, fetch
):
    order_id = create_order("RX-REBOOK-P")
    put(run_sql, order_id, "picked_up")
    dispatcher = console_login(client.app, staff["dispatcher"])
    assert 'id="rebook"' not in dispatcher.get(f"/console/orders/{order_id}").text

    response = dispatcher.post(
        f"/console/orders/{order_id}/rebook", data={"csrf": csrf_of(dispatcher), "reason": "x"}
    )

    assert response.headers["location"] == f"/console/orders/{order_id}?flash=rebook_refused"
    assert [o.status for o in fetch(Order)] == ["picked_up"]
    assert audit_rows(fetch) == []


@pytest.mark.parametrize("role", ["pharmacist", "viewer"])
def test_only_a_dispatcher_may_re_book(client, create_order, staff, accounts, run_sql, fetch, role):
    order_id = create_order("RX-REBOOK-R")
    put(run_sql, order_id, "no_courier")
    browser = console_login(client.app, staff[role])

    response = browser.post(
        f"/console/orders/{order_id}/rebook", data={"csrf": csrf_of(browser), "reason": "x"}
    )

    assert response.status_code == 403
    assert [o.status for o in fetch(Order)] == ["no_courier"]
    assert audit_rows(fetch) == []


# --- handover and live updates -----------------------------------------------------------------------------


def delivered_order(client, create_order, run_sql, session, auth, token, proof: str) -> tuple[int, str]:
    """A released order marked delivered by a courier report carrying a photo and a receiver; its link path."""
    from dispatch.orders.service import add_event

    order_id = create_order("RX-HANDOVER")
    assert client.post(f"/api/v1/orders/{order_id}/release", headers=auth(token)).status_code == 200
    path = urlsplit(client.get(f"/api/v1/orders/{order_id}", headers=auth(token)).json()["tracking_url"]).path
    put(run_sql, order_id, "delivered")
    add_event(
        session,
        session.get(Order, order_id),
        "state",
        "gosend: delivered",
        actor="gosend",
        to_status="delivered",
        data={"proof_of_delivery_url": proof, "receiver_name": "Budi (anak / child)"},
    )
    session.commit()
    return order_id, path


def test_the_order_page_shows_the_handover_and_the_patients_confirmation(
    client, create_order, staff, run_sql, session, auth, pharmacist_token, fetch
):
    proof = "https://sandbox.gosend.test/pod/GK-1.jpg"
    order_id, path = delivered_order(client, create_order, run_sql, session, auth, pharmacist_token, proof)
    viewer = console_login(client.app, staff["viewer"])
    page = viewer.get(f"/console/orders/{order_id}").text
    assert f'<a href="{proof}" rel="noreferrer noopener" target="_blank">' in page
    assert "<td data-receiver>Budi (anak / child)</td>" in page
    assert "<td data-confirmed>belum / not yet</td>" in page

    tracking = client.get(path).text
    assert "Obat sudah saya terima" in tracking
    confirmed = client.post(f"{path}/received", data={"lang": "en"}, follow_redirects=False)
    assert (confirmed.status_code, confirmed.headers["location"]) == (303, f"{path}?lang=en")
    assert confirmed.headers["cache-control"] == "no-store"
    assert "Thank you for confirming" in client.get(f"{path}?lang=en").text
    client.post(f"{path}/received")  # a second tap changes nothing

    [order] = fetch(Order, Order.id == order_id)
    assert order.receipt_confirmed_at is not None
    [event] = fetch(OrderEvent, OrderEvent.order_id == order_id, OrderEvent.actor == "patient")
    assert event.detail == "Patient confirmed the medicine was received"
    live = viewer.get(f"/console/orders/{order_id}/live")
    assert live.status_code == 200
    assert '<b data-status="delivered">' in live.text
    assert "<td data-confirmed>belum / not yet</td>" not in live.text
    assert "<html" not in live.text  # a fragment, not a page


def test_a_proof_that_is_not_a_web_link_is_not_made_a_link(
    client, create_order, staff, run_sql, session, auth, pharmacist_token
):
    order_id, _path = delivered_order(
        client, create_order, run_sql, session, auth, pharmacist_token, "javascript:alert(1)"
    )
    page = console_login(client.app, staff["viewer"]).get(f"/console/orders/{order_id}").text
    assert "javascript:alert(1)" not in page


def test_an_order_not_delivered_takes_no_receipt(client, create_order, auth, pharmacist_token, fetch):
    order_id = create_order("RX-NOT-YET")
    client.post(f"/api/v1/orders/{order_id}/release", headers=auth(pharmacist_token))
    path = urlsplit(
        client.get(f"/api/v1/orders/{order_id}", headers=auth(pharmacist_token)).json()["tracking_url"]
    ).path
    assert "Obat sudah saya terima" not in client.get(path).text

    assert client.post(f"{path}/received", follow_redirects=False).status_code == 303
    assert client.post("/t/not-a-real-token/received").status_code == 404

    [order] = fetch(Order, Order.id == order_id)
    assert order.receipt_confirmed_at is None
    assert fetch(OrderEvent, OrderEvent.actor == "patient") == []


def test_the_live_fragment_needs_a_session_and_the_hospitals_own_order(
    client, create_order, staff, other_hospital
):
    theirs = create_order("RX-LIVE-T", 1, api_key=other_hospital.api_key)
    ours = create_order("RX-LIVE")
    viewer = console_login(client.app, staff["viewer"])

    assert viewer.get(f"/console/orders/{theirs}/live").status_code == 404
    assert client.get(f"/console/orders/{ours}/live").status_code == 401
    page = viewer.get(f"/console/orders/{ours}").text
    assert f'data-src="/console/orders/{ours}/live"' in page
    assert '<noscript><meta http-equiv="refresh" content="10"></noscript>' in page


# --- audit page --------------------------------------------------------------------------------------------


def test_the_audit_page_is_for_admins_newest_first_a_page_at_a_time(client, staff, session, hospital, fetch):
    from dispatch.audit.service import record
    from dispatch.auth.repository import get_user_by_username

    admin = get_user_by_username(session, staff["admin"])
    for number in range(55):
        record(session, admin, "order.release", "order", number + 1)
        session.commit()
    browser = console_login(client.app, staff["admin"])

    first = browser.get("/console/audit").text
    second = browser.get("/console/audit?page=2").text

    assert "Log audit / Audit log (55)" in first
    assert first.count('<tr data-action="order.release">') == 50
    assert first.index('href="/console/orders/55"') < first.index('href="/console/orders/54"')
    assert 'href="/console/orders/5"' not in first.replace('href="/console/orders/55"', "")
    assert second.count('<tr data-action="order.release">') == 5
    assert 'href="/console/orders/1"' in second
    for role in ("pharmacist", "dispatcher", "viewer"):
        assert console_login(client.app, staff[role]).get("/console/audit").status_code == 403
    assert client.get("/console/audit", follow_redirects=False).headers["location"] == "/console/login"
