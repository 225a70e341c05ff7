"""The patient on a small phone screen: shares their location from the tracking link, and, once the medicine
has come, says so with one tap."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from dispatch.orders.models import Order, OrderEvent, Patient

AT_HOME = (-8.2030, 114.3190)  # inside desa Kemiren, Kec. Glagah
PHONE = {"width": 360, "height": 640}


def set_status(order_id: int, status: str) -> None:
    from dispatch.core.db import get_engine

    with get_engine().begin() as connection:
        connection.execute(
            text("UPDATE orders SET status = :s WHERE id = :id"), {"s": status, "id": order_id}
        )


@pytest.fixture
def released(client, create_order, pharmacist_token) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """A released order of Siti Aminah and its tracking link's path."""
    order_id = create_order("RX-PHONE-1")
    headers = {"Authorization": f"Bearer {pharmacist_token}"}
    assert client.post(f"/api/v1/orders/{order_id}/release", headers=headers).status_code == 200
    url = client.get(f"/api/v1/orders/{order_id}", headers=headers).json()["tracking_url"]
    return order_id, urlsplit(url).path


def phone(chromium, **extra):  # type: ignore[no-untyped-def]
    return chromium.new_context(viewport=PHONE, is_mobile=True, locale="id-ID", **extra).new_page()


def test_a_patient_shares_their_location_on_a_small_screen(
    released, live_server, chromium, shot, fetch
) -> None:  # type: ignore[no-untyped-def]
    order_id, path = released
    set_status(order_id, "needs_address")
    page = phone(
        chromium,
        geolocation={"latitude": AT_HOME[0], "longitude": AT_HOME[1], "accuracy": 20},
        permissions=["geolocation"],
    )

    page.goto(live_server + path)
    shot(page, "asked")
    page.get_by_role("button", name="Bagikan lokasi saya").click()
    page.wait_for_url(re.compile(r"located=1"))

    assert page.locator(".now").inner_text() == "Siap dikirim"
    # Nothing wider than the phone: no sideways scrolling on a 360 px screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "located")
    [order] = fetch(Order, Order.id == order_id)
    assert order.status == "ready"
    [patient] = fetch(Patient, Patient.id == order.patient_id)
    assert (patient.confirmed_lat, patient.confirmed_lon, patient.confirmed_by) == (*AT_HOME, "patient")


def test_a_patient_confirms_the_medicine_arrived(released, live_server, chromium, shot, fetch) -> None:  # type: ignore[no-untyped-def]
    order_id, path = released
    set_status(order_id, "delivered")
    page = phone(chromium)

    page.goto(live_server + path)
    page.get_by_role("button", name="Obat sudah saya terima").click()
    page.wait_for_url(re.compile(r"lang=id$"))

    assert "sudah mengonfirmasi obat diterima" in page.locator(".ok").inner_text()
    assert page.get_by_role("button", name="Obat sudah saya terima").count() == 0
    shot(page, "confirmed")
    [order] = fetch(Order, Order.id == order_id)
    assert order.receipt_confirmed_at is not None
    assert len(fetch(OrderEvent, OrderEvent.order_id == order_id, OrderEvent.actor == "patient")) == 1
