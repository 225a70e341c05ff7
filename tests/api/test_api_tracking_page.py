"""The patient's tracking page, GET /t/{token}: reachable only through the released order's link, private."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from dispatch.demo_data import PATIENTS
from dispatch.notify.tokens import TOKEN_LENGTH

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "examples"
NIK = "3171022809990001"
PRIVATE_HEADERS = {"cache-control": "no-store", "referrer-policy": "no-referrer", "x-robots-tag": "noindex"}
MISSING_ID = "Tautan tidak ditemukan"
MISSING_EN = "Link not found"


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def release_and_get_path(client, order_id: int, token: str, auth) -> str:
    response = client.post(f"/api/v1/orders/{order_id}/release", headers=auth(token))
    assert response.status_code == 200, response.text
    detail = client.get(f"/api/v1/orders/{order_id}", headers=auth(token)).json()
    return urlsplit(detail["tracking_url"]).path


def assert_private_html(response, status: int) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    for name, value in PRIVATE_HEADERS.items():
        assert response.headers[name] == value


@pytest.fixture
def tracking_path(client, create_order, pharmacist_token, auth) -> str:
    order_id = create_order("RX-T-1", 0)
    return release_and_get_path(client, order_id, pharmacist_token, auth)


def test_the_page_shows_the_status_in_bahasa_indonesia_and_nothing_private(client, tracking_path):
    response = client.get(tracking_path)

    assert_private_html(response, 200)
    page = response.text
    assert len(response.content) < 30 * 1024
    assert '<html lang="id">' in page
    assert '<p class="now">Obat sedang disiapkan</p>' in page
    # The timeline: both states the patient's order went through, in order.
    assert page.index("<li>Menunggu verifikasi apoteker<br>") < page.index("<li>Obat sedang disiapkan<br>")
    assert "RSUD Blambangan" in page

    patient = PATIENTS[0]
    for private in (
        patient.drug,
        "Amlodipine",
        patient.line,
        "Kemiren",
        "Krajan",
        patient.name,
        patient.phone,
        "+6281234560101",
        "81234560101",
        "3456-0101",
        "34560101",
        "RX-T-1",
        patient.mrn,
    ):
        assert private not in page, private


def test_english_on_request(client, tracking_path):
    response = client.get(tracking_path, params={"lang": "en"})

    assert_private_html(response, 200)
    assert '<html lang="en">' in response.text
    assert '<p class="now">Medicine being prepared</p>' in response.text
    assert "Waiting for pharmacist verification" in response.text
    assert "Obat sedang disiapkan" not in response.text


def test_an_unknown_language_falls_back_to_indonesian(client, tracking_path):
    response = client.get(tracking_path, params={"lang": "fr"})

    assert_private_html(response, 200)
    assert '<p class="now">Obat sedang disiapkan</p>' in response.text


def test_the_page_follows_the_order(client, tracking_path, run_sql):
    run_sql("UPDATE orders SET status = 'picked_up'")

    response = client.get(tracking_path)

    assert '<p class="now">Obat dalam perjalanan</p>' in response.text


def test_the_satusehat_patient_page_shows_no_nik_address_drug_or_phone(
    client, fhir, fetch, pharmacist_token, auth, accept_all_patients
):
    from dispatch.orders.models import Order

    patient = example("satusehat/Patient-100000030009.json")
    request = example("satusehat/MedicationRequest-ANC-peresepan-obat.json")
    request["subject"] = {"reference": "Patient/100000030009"}
    request["status"] = "active"
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": patient}, {"resource": request}],
    }
    assert fhir.bundle(bundle).status_code == 201
    [order] = fetch(Order)

    page = client.get(release_and_get_path(client, order.id, pharmacist_token, auth)).text

    assert '<p class="now">Obat sedang disiapkan</p>' in page
    for private in (
        NIK,
        "Rasuna Said",
        "Kuningan",
        "Ferrous",
        "Eric Smith",
        "08123456789",
        "8123456789",
        "123456788",
    ):
        assert private not in page, private


def _tampered(path: str) -> str:
    token = path.removeprefix("/t/")
    flipped = "A" if token[-1] != "A" else "B"
    return f"/t/{token[:-1]}{flipped}"


@pytest.mark.parametrize(
    "make_path",
    [
        pytest.param(_tampered, id="last-character-changed"),
        pytest.param(lambda _path: f"/t/{secrets.token_urlsafe(15)}", id="guessed-well-formed"),
        pytest.param(lambda path: path + "x", id="too-long"),
        pytest.param(lambda path: path[:-1], id="too-short"),
        pytest.param(lambda _path: "/t/<img src=x onerror=alert(1)>", id="markup"),
        pytest.param(lambda _path: "/t/not a token!", id="garbage"),
        pytest.param(lambda _path: "/t/" + "a" * TOKEN_LENGTH, id="all-a"),
    ],
)
def test_a_wrong_token_is_a_friendly_404_without_order_data(client, tracking_path, make_path):
    path = make_path(tracking_path)
    assert path != tracking_path

    response = client.get(path)

    assert_private_html(response, 404)
    page = response.text
    assert MISSING_ID in page
    for leaked in (
        "RSUD Blambangan",
        "Obat sedang disiapkan",
        "Siti Aminah",
        "Kemiren",
        "Amlodipine",
        "onerror",
    ):
        assert leaked not in page, leaked


def test_the_404_page_speaks_english_too(client, db):
    response = client.get("/t/" + "b" * TOKEN_LENGTH, params={"lang": "en"})

    assert_private_html(response, 404)
    assert MISSING_EN in response.text


def test_an_expired_token_is_404(client, tracking_path, run_sql):
    assert client.get(tracking_path).status_code == 200
    run_sql("UPDATE tracking_tokens SET expires_at = now() - interval '1 second'")

    response = client.get(tracking_path)

    assert_private_html(response, 404)
    assert MISSING_ID in response.text
    assert "Obat sedang disiapkan" not in response.text


def booked_attempt(session, hospital, fetch, reference: str, eta_at: datetime | None):
    """A GoSend booking with a driver for the page's one order, committed."""
    from dispatch.dispatching.models import AttemptStatus, BookingAttempt
    from dispatch.hospitals.service import add_courier_account
    from dispatch.orders.models import Order

    account = add_courier_account(session, hospital, "gosend", {"client_id": "c", "pass_key": "p"})
    [order] = fetch(Order)
    attempt = BookingAttempt(
        order_id=order.id,
        hospital_id=hospital.id,
        courier="gosend",
        account_id=account.id,
        reference=reference,
        status=AttemptStatus.BOOKED,
        driver_name="Budi Santoso",
        eta_at=eta_at,
    )
    session.add(attempt)
    session.commit()
    return attempt


def test_the_courier_s_estimated_arrival_shows_in_wib_while_the_parcel_travels(
    client, tracking_path, session, hospital, run_sql, fetch
):
    # 07:35 UTC is 14:35 in Banyuwangi.
    attempt = booked_attempt(session, hospital, fetch, "GCG-ETA-1", datetime(2026, 12, 1, 7, 35, tzinfo=UTC))
    assert "Perkiraan tiba" not in client.get(tracking_path).text  # released: no courier yet
    run_sql("UPDATE orders SET status = 'courier_assigned', current_attempt_id = :id", id=attempt.id)

    assert "Perkiraan tiba: <b>14:35 WIB</b>" in client.get(tracking_path).text
    assert "Estimated arrival: <b>14:35 WIB</b>" in client.get(tracking_path, params={"lang": "en"}).text

    # A new estimate from the courier, and the parcel picked up: the next load shows both.
    run_sql("UPDATE booking_attempts SET eta_at = :at", at=datetime(2026, 12, 1, 8, 5, tzinfo=UTC))
    run_sql("UPDATE orders SET status = 'picked_up'")
    page = client.get(tracking_path).text
    assert '<p class="now">Obat dalam perjalanan</p>' in page
    assert "Perkiraan tiba: <b>15:05 WIB</b>" in page

    run_sql("UPDATE orders SET status = 'delivered'")
    assert "Perkiraan tiba" not in client.get(tracking_path).text


def test_a_courier_without_an_estimate_shows_no_arrival_time(
    client, tracking_path, session, hospital, run_sql, fetch
):
    attempt = booked_attempt(session, hospital, fetch, "GCG-ETA-2", None)
    run_sql("UPDATE orders SET status = 'courier_assigned', current_attempt_id = :id", id=attempt.id)

    page = client.get(tracking_path).text

    assert "Budi Santoso" in page
    assert "Perkiraan tiba" not in page
