"""Staff JSON API over HTTP: login, lock-out and logout; listing, reading, releasing and cancelling orders."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from dispatch.auth.models import StaffSession, StaffUser
from dispatch.core.clock import utcnow
from dispatch.notify.models import TrackingToken
from dispatch.notify.tokens import TOKEN_LENGTH, looks_like_token
from dispatch.orders.models import Order, OrderEvent
from dispatch.outbox.models import OutboxMessage

PROBLEM_JSON = "application/problem+json"
LOGIN_FAILED = {
    "type": "about:blank",
    "title": "Login failed",
    "status": 401,
    "detail": "Wrong username or password, or the account is locked.",
}
NOT_AUTHENTICATED = {
    "type": "about:blank",
    "title": "Not authenticated",
    "status": 401,
    "detail": "Log in first.",
}
FORBIDDEN = {
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
    "detail": "This action needs the role pharmacist.",
}
NOT_FOUND = {"type": "about:blank", "title": "Order not found", "status": 404}


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    return response.json()


def login(client: TestClient, username: str, password: str):
    return client.post("/api/v1/auth/login", json={"username": username, "password": password})


def user_row(fetch, username: str) -> StaffUser:
    [user] = fetch(StaffUser, StaffUser.username == username)
    return user


class TestLogin:
    def test_the_right_password_gives_a_working_bearer_token(
        self, client, session, hospital, fetch, auth, staff_maker
    ):
        staff_maker(session, hospital, "apoteker2", "pharmacist")

        response = login(client, "apoteker2", "apoteker2-password-123")

        assert response.status_code == 200
        body = response.json()
        user = user_row(fetch, "apoteker2")
        assert body["token_type"] == "bearer"
        assert body["access_token"].startswith("gs_")
        assert body["user"] == {
            "username": "apoteker2",
            "full_name": "apoteker2",
            "role": "pharmacist",
            "id": user.id,
            "hospital_id": hospital.id,
        }
        # Only the hash of the token is stored, with the configured lifetime (12 h).
        [stored] = fetch(
            StaffSession, StaffSession.token_hash == hashlib.sha256(body["access_token"].encode()).hexdigest()
        )
        assert stored.user_id == user.id
        assert stored.revoked_at is None
        assert timedelta(hours=11, minutes=59) < stored.expires_at - utcnow() <= timedelta(hours=12)
        assert client.get("/api/v1/orders", headers=auth(body["access_token"])).status_code == 200

    def test_a_wrong_password_is_a_problem_and_counted(self, client, session, hospital, fetch, staff_maker):
        staff_maker(session, hospital, "apoteker2", "pharmacist")

        response = login(client, "apoteker2", "not-the-password")

        assert problem(response, 401) == LOGIN_FAILED
        assert user_row(fetch, "apoteker2").failed_logins == 1

    def test_an_unknown_user_gets_the_same_answer(self, client, db):
        assert problem(login(client, "nobody", "whatever-password"), 401) == LOGIN_FAILED

    def test_five_failures_lock_the_account_even_against_the_right_password(
        self, client, session, hospital, fetch, run_sql, staff_maker
    ):
        staff_maker(session, hospital, "apoteker2", "pharmacist")
        sessions_before = len(fetch(StaffSession))

        for attempt in range(1, 6):
            assert problem(login(client, "apoteker2", f"guess-{attempt}"), 401) == LOGIN_FAILED
            if attempt < 5:
                assert user_row(fetch, "apoteker2").failed_logins == attempt

        locked = user_row(fetch, "apoteker2")
        assert locked.locked_until is not None
        assert timedelta(minutes=14) < locked.locked_until - utcnow() <= timedelta(minutes=15)

        assert problem(login(client, "apoteker2", "apoteker2-password-123"), 401) == LOGIN_FAILED
        assert len(fetch(StaffSession)) == sessions_before

        # The lock is for a while, not for ever.
        run_sql(
            "UPDATE staff_users SET locked_until = now() - interval '1 second' WHERE username = 'apoteker2'"
        )
        assert login(client, "apoteker2", "apoteker2-password-123").status_code == 200
        assert user_row(fetch, "apoteker2").locked_until is None

    def test_logout_revokes_only_that_token(self, client, pharmacist_token, fetch, auth):
        other = login(client, "apoteker1", "apoteker1-password-123").json()["access_token"]

        response = client.post("/api/v1/auth/logout", headers=auth(pharmacist_token))

        assert response.status_code == 204
        assert response.content == b""
        assert problem(client.get("/api/v1/orders", headers=auth(pharmacist_token)), 401) == NOT_AUTHENTICATED
        assert client.get("/api/v1/orders", headers=auth(other)).status_code == 200
        revoked = fetch(
            StaffSession, StaffSession.token_hash == hashlib.sha256(pharmacist_token.encode()).hexdigest()
        )
        assert revoked[0].revoked_at is not None

    @pytest.mark.parametrize(
        "headers",
        [{}, {"Authorization": "Bearer gs_not-a-session"}, {"Authorization": "Token abc"}],
        ids=["none", "unknown-token", "other-scheme"],
    )
    def test_orders_need_a_valid_token(self, client, pharmacist_token, headers):
        assert problem(client.get("/api/v1/orders", headers=headers), 401) == NOT_AUTHENTICATED

    def test_an_expired_session_is_refused(self, client, pharmacist_token, run_sql, auth):
        run_sql("UPDATE staff_sessions SET expires_at = now() - interval '1 second'")

        assert problem(client.get("/api/v1/orders", headers=auth(pharmacist_token)), 401) == NOT_AUTHENTICATED


class TestReadOrders:
    def test_list_filters_by_status_and_counts_all_matches(
        self, client, create_order, pharmacist_token, auth
    ):
        first = create_order("RX-L-1", 0)
        second = create_order("RX-L-2", 1)
        third = create_order("RX-L-3", 2)
        assert (
            client.post(f"/api/v1/orders/{second}/release", headers=auth(pharmacist_token)).status_code == 200
        )

        everything = client.get("/api/v1/orders", headers=auth(pharmacist_token)).json()
        waiting = client.get(
            "/api/v1/orders", params={"status": "awaiting_release"}, headers=auth(pharmacist_token)
        ).json()
        released = client.get(
            "/api/v1/orders", params={"status": "released"}, headers=auth(pharmacist_token)
        ).json()
        page = client.get(
            "/api/v1/orders", params={"limit": 1, "offset": 1}, headers=auth(pharmacist_token)
        ).json()

        assert ([o["id"] for o in everything["data"]], everything["count"]) == ([third, second, first], 3)
        assert ([o["id"] for o in waiting["data"]], waiting["count"]) == ([third, first], 2)
        assert ([o["id"] for o in released["data"]], released["count"]) == ([second], 1)
        assert ([o["id"] for o in page["data"]], page["count"]) == ([second], 3)
        row = everything["data"][2]
        assert {key: row[key] for key in ("prescription_number", "patient_name", "status", "courier")} == {
            "prescription_number": "RX-L-1",
            "patient_name": "Siti Aminah",
            "status": "awaiting_release",
            "courier": None,
        }

    @pytest.mark.parametrize(
        ("params", "location"),
        [
            ({"status": "lost_in_transit"}, ["query", "status"]),
            ({"limit": 0}, ["query", "limit"]),
            ({"offset": -1}, ["query", "offset"]),
        ],
    )
    def test_bad_query_parameters_are_a_422_problem(self, client, pharmacist_token, auth, params, location):
        body = problem(client.get("/api/v1/orders", params=params, headers=auth(pharmacist_token)), 422)

        assert (body["title"], body["status"]) == ("Invalid request", 422)
        assert [error["loc"] for error in body["errors"]] == [location]

    def test_detail_has_the_timeline_and_a_tracking_url_only_after_release(
        self, client, create_order, pharmacist_token, auth, fetch
    ):
        order_id = create_order("RX-D-1")

        before = client.get(f"/api/v1/orders/{order_id}", headers=auth(pharmacist_token))

        assert before.status_code == 200
        body = before.json()
        assert (body["id"], body["status"], body["tracking_url"], body["bookings"]) == (
            order_id,
            "awaiting_release",
            None,
            [],
        )
        assert [(e["kind"], e["from_status"], e["to_status"], e["actor"]) for e in body["events"]] == [
            ("system", None, None, "system"),
            ("state", "received", "awaiting_release", "system"),
        ]

        client.post(f"/api/v1/orders/{order_id}/release", headers=auth(pharmacist_token))
        after = client.get(f"/api/v1/orders/{order_id}", headers=auth(pharmacist_token)).json()

        prefix = "http://127.0.0.1:8000/t/"
        assert after["tracking_url"].startswith(prefix)
        token = after["tracking_url"].removeprefix(prefix)
        assert len(token) == TOKEN_LENGTH
        assert looks_like_token(token)
        # The link itself is not in the database, only its hash.
        [stored] = fetch(TrackingToken)
        assert stored.lookup_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in stored.model_dump_json()
        assert [(e["kind"], e["to_status"], e["actor"], e["detail"]) for e in after["events"]][-1] == (
            "state",
            "released",
            "apoteker1",
            "Released for delivery",
        )

    def test_an_unknown_order_is_404(self, client, pharmacist_token, auth):
        assert problem(client.get("/api/v1/orders/987654", headers=auth(pharmacist_token)), 404) == NOT_FOUND


class TestRelease:
    def test_release_writes_the_booking_and_the_sms_with_the_state_change(
        self, client, create_order, pharmacist_token, auth, fetch, hospital, run_sql
    ):
        order_id = create_order("RX-R-1")

        response = client.post(f"/api/v1/orders/{order_id}/release", headers=auth(pharmacist_token))

        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json()["status"] == "released"
        assert response.json()["tracking_url"].startswith("http://127.0.0.1:8000/t/")
        [order] = fetch(Order)
        [pharmacist] = fetch(StaffUser, StaffUser.username == "apoteker1")
        assert (order.status, order.released_by_id) == ("released", pharmacist.id)
        assert order.released_at is not None
        [released_event] = fetch(OrderEvent, OrderEvent.to_status == "released")
        assert (released_event.from_status, released_event.actor) == ("awaiting_release", "apoteker1")

        outbox = sorted(fetch(OutboxMessage), key=lambda m: m.topic)
        assert [(m.topic, m.payload, m.hospital_id) for m in outbox] == [
            ("dispatch.book", {"order_id": order_id}, hospital.id),
            (
                "notify.sms",
                {
                    "order_id": order_id,
                    "kind": "released",
                    "dedupe_key": f"order{order_id}:released:{released_event.id}",
                },
                hospital.id,
            ),
        ]
        [token] = fetch(TrackingToken)
        assert (token.order_id, token.hospital_id) == (order_id, hospital.id)
        assert timedelta(days=13, hours=23) < token.expires_at - utcnow() <= timedelta(days=14)

        # One transaction: PostgreSQL stamps every row it wrote or updated with the same xmin.
        writers = {
            "order": run_sql("SELECT xmin::text FROM orders WHERE id = :id", id=order_id),
            "event": run_sql("SELECT xmin::text FROM order_events WHERE id = :id", id=released_event.id),
            "token": run_sql("SELECT xmin::text FROM tracking_tokens WHERE order_id = :id", id=order_id),
            "outbox": run_sql("SELECT DISTINCT xmin::text FROM outbox_messages"),
        }
        assert len({rows[0][0] for rows in writers.values()}) == 1, writers
        assert all(len(rows) == 1 for rows in writers.values()), writers

    def test_a_failure_after_the_state_change_leaves_nothing_behind(
        self, client, create_order, pharmacist_token, auth, fetch, monkeypatch
    ):
        import dispatch.orders.service as orders_service

        order_id = create_order("RX-R-2")

        def broken_enqueue(*_args, **_kwargs):
            raise RuntimeError("outbox unavailable")

        monkeypatch.setattr(orders_service, "enqueue", broken_enqueue)
        quiet = TestClient(client.app, raise_server_exceptions=False)

        response = quiet.post(f"/api/v1/orders/{order_id}/release", headers=auth(pharmacist_token))

        assert response.status_code == 500
        [order] = fetch(Order)
        assert (order.status, order.released_at, order.released_by_id) == ("awaiting_release", None, None)
        assert fetch(TrackingToken) == []
        assert fetch(OutboxMessage) == []
        assert fetch(OrderEvent, OrderEvent.to_status == "released") == []

    def test_releasing_twice_is_a_409_and_writes_nothing_more(
        self, client, create_order, pharmacist_token, auth, fetch
    ):
        order_id = create_order("RX-R-3")
        client.post(f"/api/v1/orders/{order_id}/release", headers=auth(pharmacist_token))
        [first] = fetch(Order)

        again = client.post(f"/api/v1/orders/{order_id}/release", headers=auth(pharmacist_token))

        assert problem(again, 409) == {
            "type": "about:blank",
            "title": "Order cannot be released",
            "status": 409,
            "detail": "order cannot go from released to released",
        }
        [order] = fetch(Order)
        assert (order.status, order.released_at) == ("released", first.released_at)
        assert sorted(m.topic for m in fetch(OutboxMessage)) == ["dispatch.book", "notify.sms"]
        assert len(fetch(TrackingToken)) == 1
        assert len(fetch(OrderEvent, OrderEvent.to_status == "released")) == 1

    def test_two_concurrent_releases_are_one_release_and_one_409(
        self, client, create_order, pharmacist_token, auth, fetch, monkeypatch
    ):
        import dispatch.orders.api as orders_api

        order_id = create_order("RX-R-8")
        both_loaded = threading.Barrier(2, timeout=3)
        real_load = orders_api.load_order

        def load_then_wait(*args, **kwargs):
            order = real_load(*args, **kwargs)
            # Both requests have read the order before either writes, if the code lets them.
            with contextlib.suppress(threading.BrokenBarrierError):
                both_loaded.wait()
            return order

        monkeypatch.setattr(orders_api, "load_order", load_then_wait)
        quiet = TestClient(client.app, raise_server_exceptions=False)
        statuses: list[int] = []

        def release() -> None:
            response = quiet.post(f"/api/v1/orders/{order_id}/release", headers=auth(pharmacist_token))
            statuses.append(response.status_code)

        threads = [threading.Thread(target=release) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)

        assert sorted(statuses) == [200, 409]
        assert len(fetch(OrderEvent, OrderEvent.to_status == "released")) == 1
        assert sorted(m.topic for m in fetch(OutboxMessage)) == ["dispatch.book", "notify.sms"]

    @pytest.mark.parametrize("role", ["viewer", "dispatcher"])
    def test_only_pharmacists_may_release(
        self, client, create_order, session, hospital, auth, fetch, role, staff_maker
    ):
        order_id = create_order("RX-R-4")
        token = staff_maker(session, hospital, f"staf-{role}", role)

        response = client.post(f"/api/v1/orders/{order_id}/release", headers=auth(token))

        assert problem(response, 403) == FORBIDDEN
        assert fetch(Order)[0].status == "awaiting_release"
        assert fetch(OutboxMessage) == []

    def test_an_admin_may_release(self, client, create_order, session, hospital, auth, fetch, staff_maker):
        order_id = create_order("RX-R-5")
        token = staff_maker(session, hospital, "admin1", "admin")

        response = client.post(f"/api/v1/orders/{order_id}/release", headers=auth(token))

        assert response.status_code == 200
        assert fetch(Order)[0].status == "released"

    def test_without_a_token_release_is_401(self, client, create_order, fetch):
        order_id = create_order("RX-R-6")

        assert problem(client.post(f"/api/v1/orders/{order_id}/release"), 401) == NOT_AUTHENTICATED
        assert fetch(Order)[0].status == "awaiting_release"

    def test_another_hospitals_order_is_not_found(
        self, client, create_order, other_hospital, pharmacist_token, auth, fetch
    ):
        theirs = create_order("RX-R-7", api_key=other_hospital.api_key)

        for response in (
            client.get(f"/api/v1/orders/{theirs}", headers=auth(pharmacist_token)),
            client.post(f"/api/v1/orders/{theirs}/release", headers=auth(pharmacist_token)),
            client.post(
                f"/api/v1/orders/{theirs}/cancel", json={"reason": "x"}, headers=auth(pharmacist_token)
            ),
        ):
            assert problem(response, 404) == NOT_FOUND
        assert fetch(Order)[0].status == "awaiting_release"
        assert fetch(OutboxMessage) == []
        # Its own pharmacist reaches it.
        own = client.post(f"/api/v1/orders/{theirs}/release", headers=auth(other_hospital.pharmacist_token))
        assert (own.status_code, own.json()["status"]) == (200, "released")


class TestCancel:
    def test_cancel_before_release(self, client, create_order, pharmacist_token, auth, fetch):
        order_id = create_order("RX-C-1")

        response = client.post(
            f"/api/v1/orders/{order_id}/cancel",
            json={"reason": "Pasien mengambil obat sendiri"},
            headers=auth(pharmacist_token),
        )

        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "cancelled"
        assert (body["events"][-1]["from_status"], body["events"][-1]["to_status"]) == (
            "awaiting_release",
            "cancelled",
        )
        assert (body["events"][-1]["detail"], body["events"][-1]["actor"]) == (
            "Pasien mengambil obat sendiri",
            "apoteker1",
        )
        [order] = fetch(Order)
        assert order.status == "cancelled"
        assert order.closed_at is not None
        # The patient never heard of the order, so no SMS about its end either.
        assert fetch(OutboxMessage) == []

    def test_cancel_after_release_tells_the_patient(
        self, client, create_order, pharmacist_token, auth, fetch
    ):
        order_id = create_order("RX-C-2")
        client.post(f"/api/v1/orders/{order_id}/release", headers=auth(pharmacist_token))

        response = client.post(f"/api/v1/orders/{order_id}/cancel", json={}, headers=auth(pharmacist_token))

        assert response.status_code == 200
        assert response.json()["events"][-1]["detail"] == "Cancelled by staff"
        sms_kinds = [m.payload["kind"] for m in fetch(OutboxMessage) if m.topic == "notify.sms"]
        assert sms_kinds == ["released", "cancelled"]

    @pytest.mark.parametrize("state", ["delivered", "picked_up", "returned", "rejected", "cancelled"])
    def test_cancel_once_the_medicine_left_or_the_order_ended_is_409(
        self, client, create_order, pharmacist_token, auth, fetch, run_sql, state
    ):
        order_id = create_order("RX-C-3")
        run_sql("UPDATE orders SET status = :state WHERE id = :id", state=state, id=order_id)
        events_before = len(fetch(OrderEvent))

        response = client.post(
            f"/api/v1/orders/{order_id}/cancel", json={"reason": "x"}, headers=auth(pharmacist_token)
        )

        assert problem(response, 409) == {
            "type": "about:blank",
            "title": "Order cannot be cancelled",
            "status": 409,
            "detail": f"order cannot go from {state} to cancelled",
        }
        assert fetch(Order)[0].status == state
        assert len(fetch(OrderEvent)) == events_before
        assert fetch(OutboxMessage) == []

    def test_a_viewer_may_not_cancel(self, client, create_order, viewer_token, auth, fetch):
        order_id = create_order("RX-C-4")

        response = client.post(
            f"/api/v1/orders/{order_id}/cancel", json={"reason": "x"}, headers=auth(viewer_token)
        )

        assert problem(response, 403) == FORBIDDEN
        assert fetch(Order)[0].status == "awaiting_release"
