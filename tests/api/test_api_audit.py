"""The JSON API's staff actions each write one audit entry in their own transaction (a refused one none), and
GET /api/v1/audit gives an admin their hospital's log, newest first, a page at a time."""

from __future__ import annotations

import pytest
from console_support import audit_rows

from hospital_adapter.csv import TEMPLATE_CSV

KEMIREN = (-8.2030, 114.3190)


@pytest.fixture
def dispatcher_token(session, hospital, staff_maker) -> str:
    return staff_maker(session, hospital, "dispatcher1", "dispatcher")


@pytest.fixture
def admin_token(session, hospital, staff_maker) -> str:
    return staff_maker(session, hospital, "admin1", "admin")


def test_each_order_action_writes_one_entry_naming_who_and_what(
    client, create_order, pharmacist_token, dispatcher_token, auth, session, hospital, run_sql, fetch
):
    from dispatch.hospitals.service import add_courier_account

    account = add_courier_account(session, hospital, "gosend", {"client_id": "c", "pass_key": "p"})
    session.commit()
    released, cancelled, fixed, overridden, located = (create_order(f"RX-AU-{n}", n) for n in range(5))
    run_sql(
        "UPDATE orders SET status = 'rejected', rejection_kind = 'eligibility' WHERE id = :id", id=overridden
    )
    run_sql("UPDATE orders SET status = 'needs_address' WHERE id = :id", id=located)
    pharmacist, dispatcher = auth(pharmacist_token), auth(dispatcher_token)

    calls = [
        (f"/api/v1/orders/{released}/release", None, pharmacist),
        (f"/api/v1/orders/{cancelled}/cancel", {"reason": "Diambil sendiri"}, pharmacist),
        (f"/api/v1/orders/{fixed}/phone", {"phone": "0812-3456-7890"}, pharmacist),
        (
            f"/api/v1/orders/{overridden}/override-eligibility",
            {"justification": "Pasien lansia tinggal sendiri"},
            pharmacist,
        ),
        (
            f"/api/v1/orders/{released}/courier",
            {"account_id": account.id, "reason": "Lebih dekat"},
            dispatcher,
        ),
        (f"/api/v1/orders/{located}/location", {"lat": KEMIREN[0], "lon": KEMIREN[1]}, dispatcher),
    ]
    for path, body, headers in calls:
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 200, (path, response.text)

    entries = audit_rows(fetch)
    assert [(e.action, e.actor, e.target_type, e.target_id) for e in entries] == [
        ("order.release", "apoteker1", "order", released),
        ("order.cancel", "apoteker1", "order", cancelled),
        ("order.set_phone", "apoteker1", "order", fixed),
        ("order.override_eligibility", "apoteker1", "order", overridden),
        ("order.choose_courier", "dispatcher1", "order", released),
        ("order.set_location", "dispatcher1", "order", located),
    ]
    assert entries[1].detail == "Diambil sendiri"
    assert entries[4].data == {"account_id": account.id}
    assert "3456" not in str(entries[2].data) + entries[2].detail  # the number stays on the patient's record
    assert {e.hospital_id for e in entries} == {hospital.id}


def test_a_refused_action_writes_no_entry(client, create_order, pharmacist_token, viewer_token, auth, fetch):
    order_id = create_order("RX-AU-R")
    client.post(f"/api/v1/orders/{order_id}/release", headers=auth(pharmacist_token))

    again = client.post(f"/api/v1/orders/{order_id}/release", headers=auth(pharmacist_token))
    viewer = client.post(f"/api/v1/orders/{order_id}/cancel", json={}, headers=auth(viewer_token))

    assert (again.status_code, viewer.status_code) == (409, 403)
    assert [e.action for e in audit_rows(fetch)] == ["order.release"]


def test_a_csv_upload_is_audited_with_what_came_of_it(client, pharmacist_token, auth, fetch):
    response = client.post(
        "/api/v1/intake/csv",
        files={"file": ("resep.csv", TEMPLATE_CSV, "text/csv")},
        headers=auth(pharmacist_token),
    )

    assert response.status_code == 200
    [entry] = audit_rows(fetch)
    assert (entry.action, entry.actor, entry.target_type, entry.detail) == (
        "intake.csv_upload",
        "apoteker1",
        "inbox_message",
        "resep.csv",
    )
    assert (entry.target_id, entry.data) == (response.json()["inbox_id"], {"accepted": 1, "errors": 0})


def test_the_audit_api_gives_admins_their_hospitals_log_newest_first(
    client, create_order, admin_token, pharmacist_token, other_hospital, auth
):
    ours = [create_order(f"RX-AU-L{n}", n) for n in range(3)]
    for order_id in ours:
        client.post(f"/api/v1/orders/{order_id}/release", headers=auth(pharmacist_token))
    theirs = create_order("RX-AU-T", 3, api_key=other_hospital.api_key)
    client.post(f"/api/v1/orders/{theirs}/release", headers=auth(other_hospital.pharmacist_token))

    first = client.get("/api/v1/audit", params={"limit": 2}, headers=auth(admin_token))
    rest = client.get("/api/v1/audit", params={"limit": 2, "offset": 2}, headers=auth(admin_token))

    assert first.status_code == 200
    assert first.json()["count"] == 3
    assert [e["target_id"] for e in first.json()["data"]] == [ours[2], ours[1]]
    assert [e["target_id"] for e in rest.json()["data"]] == [ours[0]]
    assert set(first.json()["data"][0]) == {
        "id",
        "staff_user_id",
        "actor",
        "action",
        "target_type",
        "target_id",
        "detail",
        "data",
        "at",
    }
    assert client.get("/api/v1/audit", headers=auth(pharmacist_token)).status_code == 403
    assert client.get("/api/v1/audit").status_code == 401
    assert client.get("/api/v1/audit", params={"limit": 501}, headers=auth(admin_token)).status_code == 422
