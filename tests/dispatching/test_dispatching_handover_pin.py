"""The handover PIN: made at release, shown to the patient while the parcel travels, and required from
couriers whose drivers take it (the local-partner protocol) before an order counts as delivered."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx
from dispatching_support import attempts, order, pending_rows, run_outbox, state_changes, timeline
from fastapi.testclient import TestClient
from sqlmodel import Session
from standardwebhooks import Webhook

from dispatch.hospitals.models import CourierAccount, Hospital
from dispatch.hospitals.service import add_courier_account
from dispatch.orders.state_machine import OrderStatus

S = OrderStatus

PARTNER_URL = "https://shelter-rsud.test/gancang/jobs"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"shelter-to-gancang-webhook-key!!").decode()
PARTNER_SETTINGS: dict[str, Any] = {
    "url": PARTNER_URL,
    "signing_secret": "whsec_" + base64.b64encode(b"gancang-to-shelter-signing-key!!").decode(),
    "webhook_secret": WEBHOOK_SECRET,
    "base_fee_idr": 5000,
    "per_km_idr": 2000,
    "service_areas": [{"name": "Banyuwangi", "lat": -8.2192, "lon": 114.3691, "radius_km": 25}],
    "max_distance_km": 25,
}


@pytest.fixture
def partner_account(session: Session, hospital: Hospital) -> CourierAccount:
    account = add_courier_account(session, hospital, "webhook", PARTNER_SETTINGS, priority=1, label="shelter")
    session.commit()
    return account


@pytest.fixture
def partner_order(make_order, book_row, partner_account) -> int:
    """An order the shelter's driver pool accepted: booked through a signed job.offered POST."""
    order_id = make_order()
    with respx.mock(assert_all_called=True) as partner:
        offered = partner.post(PARTNER_URL).mock(
            return_value=httpx.Response(202, json={"partner_job_id": "S-1"})
        )
        run_outbox(book_row(order_id))
    assert json.loads(offered.calls.last.request.content)["type"] == "job.offered"
    assert "handover_pin" not in offered.calls.last.request.content.decode()
    return order_id


def report(client: TestClient, event_type: str, data: dict[str, Any], minute: int) -> None:
    body = json.dumps(
        {"type": event_type, "timestamp": f"2026-11-30T08:{minute:02d}:00+07:00", "data": data}
    ).encode()
    message_id = f"msg_shelter_{event_type.replace('.', '_')}_{minute}"
    now = datetime.fromtimestamp(int(datetime.now(UTC).timestamp()), UTC)
    signature = Webhook(WEBHOOK_SECRET).sign(message_id, now, body.decode())
    headers = {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "Content-Type": "application/json",
    }
    response = client.post("/webhooks/couriers/webhook", content=body, headers=headers)
    assert response.status_code == 200, response.text
    [row] = pending_rows("webhooks.apply")
    run_outbox(row.id)


def test_the_partner_must_report_the_patients_pin_before_the_order_is_delivered(
    client: TestClient, partner_order
):
    job = attempts(partner_order)[0].reference
    pin = order(partner_order).handover_pin
    assert pin is not None and len(pin) == 4 and pin.isdigit()
    driver = {"name": "Pak Slamet", "phone": "+6281234500001", "vehicle_plate": "P 4321 AB"}
    report(client, "job.accepted", {"job_id": job, "driver": driver}, 1)
    report(client, "job.picked_up", {"job_id": job}, 2)
    wrong = "0000" if pin != "0000" else "1111"

    report(client, "job.delivered", {"job_id": job, "driver": driver, "handover_pin": wrong}, 3)

    assert order(partner_order).status == S.PICKED_UP
    alert = timeline(partner_order)[-1]
    assert (alert.kind, alert.detail) == (
        "alert",
        "webhook: job.delivered: handover PIN missing or wrong; not marked delivered",
    )

    proof = "https://shelter-rsud.test/bukti/S-1.jpg"
    delivered = {
        "job_id": job,
        "driver": driver,
        "handover_pin": pin,
        "proof_photo_url": proof,
        "receiver": {"name": "Dewi", "relation": "anak"},
    }
    report(client, "job.delivered", delivered, 4)

    assert order(partner_order).status == S.DELIVERED
    assert state_changes(partner_order)[-1] == ("picked_up", "delivered", "webhook: job.delivered")
    event = timeline(partner_order)[-1]
    assert event.data["handover_pin_checked"] is True
    assert event.data["proof_of_delivery_url"] == proof
    assert event.data["receiver_name"].startswith("Dewi")


def test_the_tracking_page_shows_the_pin_only_while_the_parcel_travels(
    client: TestClient, partner_order, pharmacist_token
):
    detail = client.get(
        f"/api/v1/orders/{partner_order}", headers={"Authorization": f"Bearer {pharmacist_token}"}
    ).json()
    link = detail["tracking_url"].split("/t/", 1)[1]
    pin = order(partner_order).handover_pin
    assert pin is not None

    page = client.get(f"/t/{link}")
    assert page.status_code == 200
    assert f'<b class="pin">{pin}</b>' in page.text
    assert "Sebutkan PIN ini kepada kurir" in page.text

    job = attempts(partner_order)[0].reference
    driver = {"name": "Pak Slamet", "phone": "+6281234500001", "vehicle_plate": "P 4321 AB"}
    report(client, "job.delivered", {"job_id": job, "driver": driver, "handover_pin": pin}, 5)
    assert order(partner_order).status == S.DELIVERED
    assert pin not in client.get(f"/t/{link}").text
