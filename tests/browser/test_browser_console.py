"""Staff in a real browser: a pharmacist releases an order and watches it reach delivered on the order page
(API, Celery worker and courier sandbox as real processes); a viewer sees no release button and a forced
release is refused; a release held for an invalid phone is released once the pharmacist fixes the number."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from dispatch.demo import PATIENTS, demo_bundle, running_stack, seed
from dispatch.orders.models import Order

DELIVERY_TIMEOUT_MS = 45_000


def log_in(page, base: str, username: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/console/login")
    page.get_by_label("Nama pengguna / Username").fill(username)
    page.get_by_label("Kata sandi / Password").fill(password)
    page.get_by_role("button", name="Masuk / Log in").click()
    page.wait_for_url(f"{base}/console")


@pytest.mark.integration
def test_a_pharmacist_releases_an_order_and_watches_it_delivered(
    db, chromium, shot, fetch, free_port
) -> None:  # type: ignore[no-untyped-def]
    port, sandbox_port = free_port(), free_port()
    webhook_token = "browser-webhook-token-0123456789"
    credentials = seed(f"http://127.0.0.1:{sandbox_port}", webhook_token)
    base = f"http://127.0.0.1:{port}"
    with running_stack(port, sandbox_port, webhook_token, step_delay=0.3), httpx.Client(base_url=base) as api:
        posted = api.post(
            "/fhir/r4/Bundle",
            json=demo_bundle(PATIENTS[0], "RX-BROWSER-1"),
            headers={
                "Authorization": f"Bearer {credentials.api_key}",
                "Content-Type": "application/fhir+json",
            },
        )
        assert posted.status_code == 201, posted.text
        [order] = fetch(Order)
        page = chromium.new_page(viewport={"width": 1280, "height": 900}, locale="id-ID")
        log_in(page, base, credentials.username, credentials.password)

        page.goto(f"{base}/console?queue=awaiting_release")
        row = page.locator("tr", has=page.locator(f'a[href="/console/orders/{order.id}"]'))
        shot(page, "awaiting-release")
        row.get_by_role("button", name="Rilis / Release").click()
        page.wait_for_url(re.compile(r"flash=released"))
        assert "Pesanan dirilis untuk pengantaran" in page.locator(".flash").inner_text()

        page.goto(f"{base}/console/orders/{order.id}")
        # The live fragment refreshes itself: no reload, the status changes under the pharmacist's eyes.
        page.locator('#live [data-status="delivered"]').wait_for(timeout=DELIVERY_TIMEOUT_MS)
        # The new status reloads the page, so actions that no longer apply go: a delivered order has none.
        expect(page.get_by_role("button", name="Batalkan pesanan / Cancel order")).to_have_count(0)
        assert page.locator("#handover").is_visible()
        assert page.locator("#timeline").inner_text().count("gosend") >= 1
        shot(page, "delivered")
    [order] = fetch(Order)
    assert order.status == "delivered"


def test_a_viewer_is_refused_a_release(
    client, create_order, session, hospital, staff_maker, live_server, chromium, shot, fetch
) -> None:  # type: ignore[no-untyped-def]
    order_id = create_order("RX-BROWSER-V")
    staff_maker(session, hospital, "viewer1", "viewer")
    page = chromium.new_page(viewport={"width": 1280, "height": 800})
    log_in(page, live_server, "viewer1", "viewer1-password-123")

    page.goto(f"{live_server}/console/orders/{order_id}")
    assert page.get_by_role("button", name="Rilis / Release").count() == 0
    page.goto(f"{live_server}/console")
    assert page.get_by_role("button", name="Rilis / Release").count() == 0
    # A hand-made form with the viewer's own (valid) CSRF token: the role, not the token, refuses it.
    page.evaluate(
        """(orderId) => {
            const form = document.createElement("form");
            form.method = "post";
            form.action = "/console/orders/" + orderId + "/release";
            const csrf = document.querySelector('input[name="csrf"]').cloneNode();
            form.appendChild(csrf);
            document.body.appendChild(form);
            form.submit();
        }""",
        order_id,
    )
    page.wait_for_url(re.compile(rf"/console/orders/{order_id}/release$"))
    assert "Hanya apoteker yang dapat merilis" in page.content()
    shot(page, "refused")
    assert [o.status for o in fetch(Order)] == ["awaiting_release"]


def test_a_pharmacist_fixes_an_invalid_phone_then_releases(
    client, api_key, session, hospital, staff_maker, live_server, chromium, shot, fetch
) -> None:  # type: ignore[no-untyped-def]
    document = demo_bundle(PATIENTS[2], "RX-BROWSER-PHONE")
    patient = next(e["resource"] for e in document["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["telecom"][0]["value"] = "0333-12"  # a landline cut short: no SMS can reach it
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/fhir+json"}
    assert client.post("/fhir/r4/Bundle", json=document, headers=headers).status_code == 201
    [order] = fetch(Order)
    assert order.flags == ["invalid_phone"]
    staff_maker(session, hospital, "apoteker1", "pharmacist")
    page = chromium.new_page(viewport={"width": 1280, "height": 900}, locale="id-ID")
    log_in(page, live_server, "apoteker1", "apoteker1-password-123")

    page.goto(f"{live_server}/console?queue=awaiting_release")
    row = page.locator("tr", has=page.locator(f'a[href="/console/orders/{order.id}"]'))
    row.get_by_role("button", name="Rilis / Release").click()
    # Held: the pharmacist lands on the order, with the reason and the form to fix it.
    page.wait_for_url(re.compile(rf"/console/orders/{order.id}\?flash=phone_needed$"))
    expect(page.locator("#invalid-phone")).to_be_visible()
    shot(page, "phone-needed")
    page.get_by_label("Nomor HP pasien / Patient's mobile number").fill("0812-1111-2222")
    page.get_by_role("button", name="Perbaiki nomor HP / Fix the phone number").click()
    page.wait_for_url(re.compile(r"flash=phone_fixed$"))
    expect(page.locator("#invalid-phone")).to_have_count(0)
    page.get_by_role("button", name="Rilis / Release").click()
    page.wait_for_url(re.compile(r"/console\?flash=released$"))
    shot(page, "released")

    [order] = fetch(Order)
    assert (order.status, order.flags) == ("released", [])
