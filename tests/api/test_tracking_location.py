"""The patient settles their own address from the tracking link: the phone's position, or, without JavaScript or
GPS, their desa from a plain list. The link changes nothing else, and an unknown or expired link changes nothing."""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest

from dispatch.geocoding import load_gazetteer
from dispatch.orders.models import Order, OrderEvent, Patient
from dispatch.outbox.models import OutboxMessage

KEMIREN = "35.10.15.2004"
GLAGAH = "35.10.15"
AT_HOME = (-8.2030, 114.3190)  # inside desa Kemiren
SURABAYA = (-7.2575, 112.7521)  # outside the 60 km service area
PRIVATE_HEADERS = {"cache-control": "no-store", "referrer-policy": "no-referrer"}


@pytest.fixture
def waiting(client, create_order, pharmacist_token, auth, run_sql) -> tuple[int, str]:
    """A released needs_address order of Siti Aminah (Kec. Glagah) and its tracking link's path."""
    order_id = create_order("RX-TL-1", 0)
    assert (
        client.post(f"/api/v1/orders/{order_id}/release", headers=auth(pharmacist_token)).status_code == 200
    )
    detail = client.get(f"/api/v1/orders/{order_id}", headers=auth(pharmacist_token)).json()
    run_sql("UPDATE orders SET status = 'needs_address' WHERE id = :id", id=order_id)
    run_sql("DELETE FROM outbox_messages")
    return order_id, urlsplit(detail["tracking_url"]).path


def assert_untouched(fetch, order_id: int) -> None:
    [order] = fetch(Order, Order.id == order_id)
    assert order.status == "needs_address"
    assert fetch(OutboxMessage) == []
    [patient] = fetch(Patient, Patient.id == order.patient_id)
    assert patient.confirmed_lat is None


def test_the_page_asks_for_the_location_in_a_form_that_works_without_javascript(client, waiting):
    _order_id, path = waiting

    response = client.get(path)

    assert response.status_code == 200
    page = response.text
    assert len(response.content) < 30 * 1024
    assert "Bagikan lokasi saya" in page
    # Without JavaScript the geolocation form stays hidden and the desa list is a plain form.
    assert f'<form method="post" action="{path}/location" id="geo" hidden>' in page
    assert f'<form method="post" action="{path}/location">' in page
    assert '<optgroup label="Kec. Glagah">' in page
    assert f'<option value="{KEMIREN}">Kemiren</option>' in page
    assert "Kec. Muncar" not in page  # the patient's kecamatan only, on a small screen
    assert 'href="?lang=id&amp;desa=all#where"' in page


def test_the_whole_service_area_on_request_still_fits_a_2g_page(client, waiting):
    _order_id, path = waiting

    response = client.get(path, params={"desa": "all", "lang": "en"})

    assert response.status_code == 200
    assert len(response.content) < 30 * 1024, len(response.content)
    assert response.text.count("<option value=") == 217 + 1
    assert "Share my location" in response.text
    assert "My village is not listed" not in response.text


def test_the_phone_position_confirms_the_address(client, waiting, fetch):
    order_id, path = waiting

    response = client.post(
        f"{path}/location",
        data={"lat": str(AT_HOME[0]), "lon": str(AT_HOME[1]), "accuracy": "25", "lang": "en"},
        follow_redirects=False,
    )

    assert response.status_code == 303
    assert response.headers["location"] == f"{path}?lang=en&located=1"
    for name, value in PRIVATE_HEADERS.items():
        assert response.headers[name] == value
    [order] = fetch(Order, Order.id == order_id)
    assert order.status == "ready"
    assert (order.dest_lat, order.dest_lon, order.geocode_code) == (*AT_HOME, KEMIREN)
    [patient] = fetch(Patient, Patient.id == order.patient_id)
    assert (patient.confirmed_lat, patient.confirmed_lon, patient.confirmed_by) == (*AT_HOME, "patient")
    assert [(m.topic, m.payload) for m in fetch(OutboxMessage)] == [("dispatch.book", {"order_id": order_id})]
    page = client.get(response.headers["location"]).text
    assert "Thank you, your location is saved." in page
    assert "Share my location" not in page

    # A second post (a double tap, a replay) changes nothing.
    again = client.post(
        f"{path}/location", data={"lat": str(SURABAYA[0]), "lon": str(SURABAYA[1])}, follow_redirects=False
    )
    assert again.status_code == 303
    assert again.headers["location"] == f"{path}?lang=id"
    [patient] = fetch(Patient, Patient.id == order.patient_id)
    assert (patient.confirmed_lat, patient.confirmed_lon) == AT_HOME
    assert len(fetch(OutboxMessage)) == 1


def test_the_desa_form_confirms_its_centre(client, waiting, fetch):
    order_id, path = waiting
    kemiren = load_gazetteer().get(KEMIREN)

    response = client.post(f"{path}/location", data={"desa": KEMIREN}, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == f"{path}?lang=id&located=1"
    [order] = fetch(Order, Order.id == order_id)
    assert order.status == "ready"
    [patient] = fetch(Patient, Patient.id == order.patient_id)
    assert (patient.confirmed_lat, patient.confirmed_lon, patient.confirmed_by) == (
        kemiren.lat,
        kemiren.lon,
        "patient",
    )
    [event] = fetch(OrderEvent, OrderEvent.order_id == order_id, OrderEvent.kind == "patient")
    assert event.actor == "patient"
    assert "Terima kasih, lokasi Anda sudah tersimpan." in client.get(response.headers["location"]).text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(
            {"lat": str(SURABAYA[0]), "lon": str(SURABAYA[1])},
            "Lokasi di luar wilayah layanan rumah sakit",
            id="outside-service-area",
        ),
        pytest.param(
            {"lat": str(AT_HOME[0]), "lon": str(AT_HOME[1]), "accuracy": "2500"},
            "Lokasi dari ponsel kurang tepat",
            id="cell-tower-fix",
        ),
        pytest.param({"desa": "35.09.01.2001"}, "Desa tidak dikenal", id="desa-elsewhere"),
        pytest.param({}, "Koordinat tidak terbaca", id="empty"),
    ],
)
def test_a_refused_position_says_why_and_changes_nothing(client, waiting, fetch, data, message):
    order_id, path = waiting

    response = client.post(f"{path}/location", data=data)

    assert response.status_code == 422
    assert message in response.text
    assert '<p class="err" role="alert">' in response.text
    assert len(response.content) < 30 * 1024
    assert_untouched(fetch, order_id)
    [event] = fetch(OrderEvent, OrderEvent.order_id == order_id, OrderEvent.actor == "patient")
    assert event.detail.startswith("Patient's location refused:")


def test_repeated_refusals_close_the_link_for_an_hour(client, waiting, fetch):
    order_id, path = waiting
    far = {"lat": str(SURABAYA[0]), "lon": str(SURABAYA[1])}
    for _ in range(5):
        assert client.post(f"{path}/location", data=far).status_code == 422

    response = client.post(f"{path}/location", data={"desa": KEMIREN})

    assert response.status_code == 429
    assert "Terlalu banyak percobaan" in response.text
    assert_untouched(fetch, order_id)


@pytest.mark.parametrize("state", ["expired", "unknown"])
def test_an_expired_or_unknown_link_changes_nothing_and_says_nothing(client, waiting, fetch, run_sql, state):
    order_id, path = waiting
    if state == "expired":
        run_sql("UPDATE tracking_tokens SET expires_at = now() - interval '1 minute'")
    else:
        path = path[:-1] + ("A" if path[-1] != "A" else "B")

    response = client.post(f"{path}/location", data={"desa": KEMIREN})

    assert response.status_code == 404
    assert "Tautan tidak ditemukan" in response.text
    assert "Kemiren" not in response.text
    assert_untouched(fetch, order_id)
    assert fetch(OrderEvent, OrderEvent.order_id == order_id, OrderEvent.actor == "patient") == []


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def live_server(client):
    """The app over real HTTP on a free port, for a real browser; stopped after the test."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(client.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian chromium is not installed")
def test_a_phone_shares_its_location_in_a_real_browser(waiting, live_server, fetch):
    sync_api = pytest.importorskip("playwright.sync_api")
    order_id, path = waiting
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            context = browser.new_context(
                viewport={"width": 360, "height": 640},
                is_mobile=True,
                geolocation={"latitude": AT_HOME[0], "longitude": AT_HOME[1], "accuracy": 20},
                permissions=["geolocation"],
                locale="id-ID",
            )
            page = context.new_page()
            page.goto(live_server + path)
            page.get_by_role("button", name="Bagikan lokasi saya").click()
            page.wait_for_url(re.compile(r"located=1"))
            assert page.locator(".now").inner_text() == "Siap dikirim"
            assert "lokasi Anda sudah tersimpan" in page.locator(".ok").inner_text()
        finally:
            browser.close()
    [order] = fetch(Order, Order.id == order_id)
    assert order.status == "ready"
    [patient] = fetch(Patient, Patient.id == order.patient_id)
    assert (patient.confirmed_lat, patient.confirmed_lon, patient.confirmed_by) == (*AT_HOME, "patient")
