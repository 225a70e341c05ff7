"""The staff console over HTTP: cookie login, the orders page, and releasing by form with a CSRF token."""

from __future__ import annotations

import pytest
from console_support import CSRF_FIELD, CSRF_REFUSED, console_login, csrf_of
from fastapi.testclient import TestClient

from dispatch.auth.models import StaffSession
from dispatch.notify.models import TrackingToken
from dispatch.orders.models import Order, OrderEvent
from dispatch.outbox.models import OutboxMessage


def release_form_action(order_id: int) -> str:
    return f'action="/console/orders/{order_id}/release"'


def assert_untouched(fetch) -> None:
    assert {order.status for order in fetch(Order)} == {"awaiting_release"}
    assert fetch(OutboxMessage) == []
    assert fetch(TrackingToken) == []
    assert fetch(OrderEvent, OrderEvent.to_status == "released") == []


def test_the_console_needs_a_login(client, db):
    response = client.get("/console", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/console/login"
    login_page = client.get("/console/login")
    assert login_page.status_code == 200
    assert '<form method="post" action="/console/login">' in login_page.text


def test_form_login_sets_a_private_session_cookie(client, pharmacist_token, fetch):
    browser = TestClient(client.app, follow_redirects=False)
    sessions_before = len(fetch(StaffSession))

    response = browser.post(
        "/console/login", data={"username": "apoteker1", "password": "apoteker1-password-123"}
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/console"
    cookie = response.headers["set-cookie"]
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert cookie.startswith("gancang_session=gs_")
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "path=/" in attributes
    assert "max-age=43200" in attributes
    assert len(fetch(StaffSession)) == sessions_before + 1
    assert browser.get("/console").status_code == 200


def test_a_wrong_password_shows_the_form_again(client, pharmacist_token):
    browser = TestClient(client.app, follow_redirects=False)

    response = browser.post("/console/login", data={"username": "apoteker1", "password": "wrong-password"})

    assert response.status_code == 401
    assert "set-cookie" not in response.headers
    assert "Wrong username or password, or the account is locked." in response.text
    assert browser.get("/console").headers["location"] == "/console/login"


def test_the_orders_page_lists_the_hospitals_orders(client, create_order, pharmacist_token, other_hospital):
    first = create_order("RX-K-1", 0)
    second = create_order("RX-K-2", 1)
    theirs = create_order("RX-K-9", 2, api_key=other_hospital.api_key)
    browser = console_login(client.app, "apoteker1")

    page = browser.get("/console")

    assert page.status_code == 200
    assert "Pesanan / Orders (2)" in page.text
    for number, name in (("RX-K-1", "Siti Aminah"), ("RX-K-2", "Slamet Riyadi")):
        assert f"<td>{number}</td><td>{name}</td>" in page.text
    assert page.text.count('data-status="awaiting_release"') == 2
    assert release_form_action(first) in page.text
    assert release_form_action(second) in page.text
    assert "RX-K-9" not in page.text
    assert release_form_action(theirs) not in page.text


def test_release_by_form_with_the_csrf_token(client, create_order, pharmacist_token, fetch):
    order_id = create_order("RX-K-3")
    browser = console_login(client.app, "apoteker1")

    response = browser.post(f"/console/orders/{order_id}/release", data={"csrf": csrf_of(browser)})

    assert response.status_code == 303
    assert response.headers["location"] == "/console?flash=released"
    [order] = fetch(Order)
    assert order.status == "released"
    assert sorted(m.topic for m in fetch(OutboxMessage)) == ["dispatch.book", "notify.sms"]
    assert len(fetch(TrackingToken)) == 1
    [event] = fetch(OrderEvent, OrderEvent.to_status == "released")
    assert event.actor == "apoteker1"
    page = browser.get("/console?flash=released").text
    assert "Order released for delivery." in page
    assert release_form_action(order_id) not in page

    again = browser.post(f"/console/orders/{order_id}/release", data={"csrf": csrf_of(browser)})
    assert (again.status_code, again.headers["location"]) == (303, "/console?flash=refused")
    assert len(fetch(OutboxMessage)) == 2


@pytest.mark.parametrize(
    "form",
    [
        pytest.param({"csrf": "0" * 64}, id="wrong-token"),
        pytest.param({"csrf": ""}, id="empty-token"),
        pytest.param({}, id="no-token"),
    ],
)
def test_a_forged_release_is_refused_and_changes_nothing(client, create_order, pharmacist_token, fetch, form):
    order_id = create_order("RX-K-4")
    browser = console_login(client.app, "apoteker1")

    response = browser.post(f"/console/orders/{order_id}/release", data=form)

    assert response.status_code == 403
    assert response.text == CSRF_REFUSED
    assert_untouched(fetch)


def test_a_csrf_token_from_another_session_is_refused(
    client, create_order, pharmacist_token, session, hospital, fetch, staff_maker
):
    staff_maker(session, hospital, "apoteker2", "pharmacist")
    order_id = create_order("RX-K-5")
    attacker = console_login(client.app, "apoteker2")
    victim = console_login(client.app, "apoteker1")

    response = victim.post(f"/console/orders/{order_id}/release", data={"csrf": csrf_of(attacker)})

    assert response.status_code == 403
    assert response.text == CSRF_REFUSED
    assert_untouched(fetch)


def test_a_viewer_sees_no_release_button_and_a_forced_post_is_refused(
    client, create_order, viewer_token, fetch
):
    order_id = create_order("RX-K-6")
    browser = console_login(client.app, "viewer1")

    page = browser.get("/console")

    assert page.status_code == 200
    assert "<td>RX-K-6</td>" in page.text
    assert release_form_action(order_id) not in page.text
    response = browser.post(f"/console/orders/{order_id}/release", data={"csrf": csrf_of(browser)})
    assert response.status_code == 403
    assert response.text == "Hanya apoteker yang dapat merilis / only pharmacists may release"
    assert_untouched(fetch)


def test_a_release_without_a_session_goes_to_the_login(client, create_order, pharmacist_token, fetch):
    order_id = create_order("RX-K-7")

    response = client.post(
        f"/console/orders/{order_id}/release", data={"csrf": "0" * 64}, follow_redirects=False
    )

    assert (response.status_code, response.headers["location"]) == (303, "/console/login")
    assert_untouched(fetch)


def test_another_hospitals_order_cannot_be_released_from_the_console(
    client, create_order, pharmacist_token, other_hospital, fetch
):
    theirs = create_order("RX-K-8", api_key=other_hospital.api_key)
    browser = console_login(client.app, "apoteker1")

    response = browser.post(f"/console/orders/{theirs}/release", data={"csrf": csrf_of(browser)})

    assert response.status_code == 404
    assert_untouched(fetch)


def test_logout_ends_the_console_session(client, pharmacist_token, fetch):
    browser = console_login(client.app, "apoteker1")
    cookie = browser.cookies["gancang_session"]

    response = browser.post("/console/logout", data={"csrf": csrf_of(browser)})

    assert (response.status_code, response.headers["location"]) == (303, "/console/login")
    assert 'gancang_session=""' in response.headers["set-cookie"]
    # Even a copy of the old cookie no longer opens the console.
    replay = TestClient(client.app, follow_redirects=False, cookies={"gancang_session": cookie})
    assert replay.get("/console").headers["location"] == "/console/login"


def test_the_order_page_shows_the_timeline_with_alerts_and_the_bookings(
    client, create_order, pharmacist_token, other_hospital, session
):
    from dispatch.orders.service import add_event

    order_id = create_order("RX-K-7")
    order = session.get(Order, order_id)
    add_event(session, order, "alert", "gosend: teleported: unknown courier status; order unchanged")
    session.commit()
    browser = console_login(client.app, "apoteker1")

    page = browser.get(f"/console/orders/{order_id}")

    assert page.status_code == 200
    assert "Order " + str(order_id) in page.text
    assert "RX-K-7" in page.text
    assert '<tr style="background:#fdecea"><td>' in page.text
    assert "teleported: unknown courier status" in page.text
    assert release_form_action(order_id) in page.text
    theirs = create_order("RX-K-8", 2, api_key=other_hospital.api_key)
    assert browser.get(f"/console/orders/{theirs}").status_code == 404
    assert (
        TestClient(client.app, follow_redirects=False).get(f"/console/orders/{order_id}").status_code == 303
    )


def test_a_dispatcher_chooses_the_courier_on_the_order_page(
    client, create_order, session, hospital, staff_maker, pharmacist_token, fetch
):
    from dispatch.hospitals.service import add_courier_account

    staff_maker(session, hospital, "dispatcher1", "dispatcher")
    gosend = add_courier_account(
        session, hospital, "gosend", {"client_id": "c", "pass_key": "p"}, priority=10
    )
    shelter = add_courier_account(
        session, hospital, "gosend", {"client_id": "c2", "pass_key": "p2"}, priority=20, label="shelter"
    )
    session.commit()
    order_id = create_order("RX-CON-COURIER")
    dispatcher = console_login(client.app, "dispatcher1")
    page = dispatcher.get(f"/console/orders/{order_id}")
    assert page.status_code == 200
    assert f'<option value="{shelter.id}">gosend (shelter)</option>' in page.text
    [csrf] = set(CSRF_FIELD.findall(page.text))

    chosen = dispatcher.post(
        f"/console/orders/{order_id}/courier",
        data={"csrf": csrf, "account_id": str(shelter.id), "reason": "Mitra shelter lebih dekat"},
    )

    assert chosen.status_code == 303
    assert chosen.headers["location"] == f"/console/orders/{order_id}?flash=courier_chosen"
    [order] = fetch(Order, Order.id == order_id)
    assert order.courier_override_account_id == shelter.id
    [staff_event] = fetch(OrderEvent, OrderEvent.order_id == order_id, OrderEvent.kind == "staff")
    assert (staff_event.actor, staff_event.detail) == (
        "dispatcher1",
        "Courier chosen by hand: gosend (shelter); Mitra shelter lebih dekat",
    )
    assert gosend.id != shelter.id

    # A pharmacist sees no such form, and a forced post is refused.
    pharmacist = console_login(client.app, "apoteker1")
    assert "Pilih kurir" not in pharmacist.get(f"/console/orders/{order_id}").text
    forced = pharmacist.post(
        f"/console/orders/{order_id}/courier",
        data={"csrf": csrf_of(pharmacist), "account_id": str(gosend.id), "reason": "coba"},
    )
    assert forced.status_code == 403
    assert "Hanya dispatcher" in forced.text
