"""Console forms for what was only in the JSON API: fixing the patient's phone, overriding an eligibility
rejection; and the patient's wish for no more SMS or WhatsApp, recorded and lifted by staff. Each form is
role-checked, CSRF-checked, scoped to the hospital and audited."""

from __future__ import annotations

from typing import Any

import pytest
from console_support import CSRF_REFUSED, audit_rows, console_login, csrf_of

from dispatch.demo_data import PATIENTS, demo_bundle
from dispatch.notify.models import MessageOptOut
from dispatch.orders.models import Order, OrderEvent, Patient

NOT_FOUND = "Pesanan tidak ditemukan / order not found"
JUSTIFICATION = "Pasien lansia tinggal sendiri, surat keterangan desa menyusul"


@pytest.fixture
def staff(session, hospital, staff_maker) -> dict[str, str]:
    """One user per role, by role; each logs in with ``console_login(app, name)``."""
    names = {role: f"{role}1" for role in ("pharmacist", "dispatcher", "viewer")}
    for role, name in names.items():
        staff_maker(session, hospital, name, role)
    return names


def resource(document: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(e["resource"] for e in document["entry"] if e["resource"]["resourceType"] == kind)


@pytest.fixture
def bad_phone_order(fhir, fetch):
    """Posts a prescription whose patient's phone is not a mobile number; returns the held order's id."""

    def create(rx_number: str, **kwargs: Any) -> int:
        document = demo_bundle(PATIENTS[2], rx_number)
        resource(document, "Patient")["telecom"][0]["value"] = "0333-12"
        assert fhir.bundle(document, **kwargs).status_code == 201
        [order] = [o for o in fetch(Order) if o.flags == ["invalid_phone"] and o.id not in seen]
        seen.add(order.id)
        return int(order.id)

    seen: set[int] = set()
    return create


@pytest.fixture
def ineligible_order(fhir, fetch):
    """Posts a prescription for a patient who pays for themselves (not PBI): rejected on eligibility."""

    def create(rx_number: str, **kwargs: Any) -> int:
        document = demo_bundle(PATIENTS[0], rx_number)
        resource(document, "Coverage")["class"][0].update({"value": "PBPU", "name": "PBPU (Mandiri)"})
        assert fhir.bundle(document, **kwargs).status_code == 201
        [order] = [o for o in fetch(Order) if o.rejection_kind == "eligibility" and o.id not in seen]
        seen.add(order.id)
        return int(order.id)

    seen: set[int] = set()
    return create


def post(browser, path: str, data: dict[str, str]):
    return browser.post(path, data={"csrf": csrf_of(browser), **data})


def order(fetch, order_id: int) -> Order:
    [row] = fetch(Order, Order.id == order_id)
    return row


def patient_of(fetch, order_id: int) -> Patient:
    [row] = fetch(Patient, Patient.id == order(fetch, order_id).patient_id)
    return row


# --- the patient's phone -----------------------------------------------------------------------------------


def test_a_pharmacist_fixes_an_invalid_phone_and_may_then_release(client, bad_phone_order, staff, fetch):
    order_id = bad_phone_order("RX-PHONE-1")
    pharmacist = console_login(client.app, staff["pharmacist"])
    page = pharmacist.get(f"/console/orders/{order_id}").text
    assert 'id="invalid-phone"' in page and "Perbaiki nomor HP / Fix the phone number" in page
    assert "data-open-alert" in page  # intake's alert about the number

    held = post(pharmacist, f"/console/orders/{order_id}/release", {})
    assert held.headers["location"] == f"/console/orders/{order_id}?flash=phone_needed"
    held_page = pharmacist.get(held.headers["location"]).text
    assert "Pesanan belum dirilis / The order was not released." in held_page and 'id="phone"' in held_page
    wrong = post(pharmacist, f"/console/orders/{order_id}/phone", {"phone": "0333-12"})
    assert wrong.status_code == 422
    assert "Nomor HP tidak valid / not a valid Indonesian mobile number" in wrong.text
    assert order(fetch, order_id).flags == ["invalid_phone"]

    fixed = post(pharmacist, f"/console/orders/{order_id}/phone", {"phone": "0812-1111-2222"})

    assert fixed.headers["location"] == f"/console/orders/{order_id}?flash=phone_fixed"
    assert order(fetch, order_id).flags == []
    assert patient_of(fetch, order_id).phone_e164 == "+6281211112222"
    [event] = fetch(OrderEvent, OrderEvent.order_id == order_id, OrderEvent.kind == "staff")
    assert (event.actor, event.detail) == ("pharmacist1", "Patient phone corrected")
    [entry] = audit_rows(fetch, "order.set_phone")
    assert (entry.actor, entry.target_id, entry.detail, entry.data) == ("pharmacist1", order_id, "", {})
    page = pharmacist.get(f"/console/orders/{order_id}").text
    assert 'id="invalid-phone"' not in page and "data-open-alert" not in page
    released = post(pharmacist, f"/console/orders/{order_id}/release", {})
    assert released.headers["location"] == "/console?flash=released"
    assert order(fetch, order_id).status == "released"


# --- the eligibility override ------------------------------------------------------------------------------


def test_a_pharmacist_overrides_an_eligibility_rejection_with_a_justification(
    client, ineligible_order, staff, fetch
):
    order_id = ineligible_order("RX-ELIG-1")
    pharmacist = console_login(client.app, staff["pharmacist"])
    page = pharmacist.get(f"/console/orders/{order_id}").text
    assert 'id="eligibility-refusal"' in page and 'id="override"' in page

    too_short = post(
        pharmacist, f"/console/orders/{order_id}/override-eligibility", {"justification": " ok "}
    )
    assert too_short.status_code == 422
    assert "Tulis alasan minimal 10 karakter" in too_short.text
    assert order(fetch, order_id).status == "rejected"

    overridden = post(
        pharmacist, f"/console/orders/{order_id}/override-eligibility", {"justification": JUSTIFICATION}
    )

    assert overridden.headers["location"] == f"/console/orders/{order_id}?flash=eligibility_overridden"
    row = order(fetch, order_id)
    assert (row.status, row.rejection_kind) == ("awaiting_release", None)
    assert (row.eligibility["override"]["by"], row.eligibility["override"]["justification"]) == (
        "pharmacist1",
        JUSTIFICATION,
    )
    [entry] = audit_rows(fetch, "order.override_eligibility")
    assert (entry.actor, entry.target_id, entry.detail) == ("pharmacist1", order_id, JUSTIFICATION)
    page = pharmacist.get(f"/console/orders/{order_id}").text
    assert 'id="override"' not in page and f'action="/console/orders/{order_id}/release"' in page


def test_a_restricted_drug_offers_no_override_and_a_forced_one_changes_nothing(client, fhir, staff, fetch):
    document = demo_bundle(PATIENTS[0], "RX-ELIG-R")
    resource(document, "Medication")["code"]["text"] = "Codeine 10 mg Tablet"
    resource(document, "MedicationRequest")["medicationReference"]["display"] = "Codeine 10 mg Tablet"
    assert fhir.bundle(document).status_code == 201
    [restricted] = fetch(Order)
    assert restricted.rejection_kind == "restricted"
    pharmacist = console_login(client.app, staff["pharmacist"])
    assert 'id="override"' not in pharmacist.get(f"/console/orders/{restricted.id}").text

    forced = post(
        pharmacist, f"/console/orders/{restricted.id}/override-eligibility", {"justification": JUSTIFICATION}
    )

    assert forced.headers["location"] == f"/console/orders/{restricted.id}?flash=override_refused"
    assert order(fetch, restricted.id).status == "rejected"
    assert audit_rows(fetch) == []


# --- messaging opt-out by staff ----------------------------------------------------------------------------


def test_staff_record_that_the_patient_wants_no_more_sms_and_lift_it(client, create_order, staff, fetch):
    order_id = create_order("RX-OPT-1")
    phone = patient_of(fetch, order_id).phone_e164
    pharmacist = console_login(client.app, staff["pharmacist"])
    page = pharmacist.get(f"/console/orders/{order_id}").text
    assert '<tr data-channel="sms" data-allowed="true">' in page and "Hentikan SMS / Stop SMS" in page

    stopped = post(
        pharmacist, f"/console/orders/{order_id}/messaging", {"channel": "sms", "allowed": "false"}
    )

    assert stopped.headers["location"] == f"/console/orders/{order_id}?flash=messaging_off"
    [record] = fetch(MessageOptOut)
    assert (record.phone_e164, record.channel, record.source, record.data) == (
        phone,
        "sms",
        "staff:pharmacist1",
        {"by": "pharmacist1"},
    )
    page = pharmacist.get(f"/console/orders/{order_id}").text
    assert '<tr data-channel="sms" data-allowed="false">' in page and "petugas / staff pharmacist1" in page
    assert '<tr data-channel="whatsapp" data-allowed="true">' in page
    again = post(pharmacist, f"/console/orders/{order_id}/messaging", {"channel": "sms", "allowed": "false"})
    assert again.headers["location"] == f"/console/orders/{order_id}?flash=messaging_unchanged"

    dispatcher = console_login(client.app, staff["dispatcher"])
    lifted = post(dispatcher, f"/console/orders/{order_id}/messaging", {"channel": "sms", "allowed": "true"})

    assert lifted.headers["location"] == f"/console/orders/{order_id}?flash=messaging_on"
    assert fetch(MessageOptOut) == []
    events = fetch(OrderEvent, OrderEvent.order_id == order_id, OrderEvent.kind == "staff")
    assert [(e.actor, e.detail) for e in events] == [
        ("pharmacist1", "Pasien tidak mau menerima SMS lagi / the patient wants no more SMS"),
        ("dispatcher1", "SMS ke pasien aktif lagi / SMS to the patient resumed"),
    ]
    entries = audit_rows(fetch)
    assert [(e.action, e.actor, e.target_id, e.detail, e.data) for e in entries] == [
        ("messaging.opt_out", "pharmacist1", order_id, "SMS", {"channel": "sms"}),
        ("messaging.opt_in", "dispatcher1", order_id, "SMS", {"channel": "sms"}),
    ]
    assert all(phone not in str(e.data) + e.detail for e in entries)


def test_a_patient_without_a_valid_number_has_no_messaging_to_change(client, bad_phone_order, staff, fetch):
    order_id = bad_phone_order("RX-OPT-0")
    pharmacist = console_login(client.app, staff["pharmacist"])
    assert 'id="messaging"' not in pharmacist.get(f"/console/orders/{order_id}").text

    response = post(
        pharmacist, f"/console/orders/{order_id}/messaging", {"channel": "sms", "allowed": "false"}
    )

    assert response.headers["location"] == f"/console/orders/{order_id}?flash=no_phone"
    assert fetch(MessageOptOut) == []
    assert audit_rows(fetch) == []


# --- refusals, for each form -------------------------------------------------------------------------------

# Each form: how to make an order it applies to, what it posts, the roles refused and their refusal.
FORMS = {
    "phone": (
        "bad_phone_order",
        {"phone": "0812-1111-2222"},
        ("dispatcher", "viewer"),
        "Hanya apoteker yang dapat memperbaiki nomor HP / only pharmacists may fix the phone number",
    ),
    "override-eligibility": (
        "ineligible_order",
        {"justification": JUSTIFICATION},
        ("dispatcher", "viewer"),
        "Hanya apoteker yang dapat mengesampingkan kelayakan / only pharmacists may override eligibility",
    ),
    "messaging": (
        "create_order",
        {"channel": "sms", "allowed": "false"},
        ("viewer",),
        "Hanya apoteker atau dispatcher yang dapat mengubah izin pesan pasien / "
        "only pharmacists and dispatchers may change the patient's messaging",
    ),
}


def snapshot(fetch) -> list[Any]:
    """What any of the forms would change: orders, patients, opt-outs, timeline and audit log."""
    return [
        [(o.id, o.status, o.flags, o.rejection_kind) for o in fetch(Order)],
        [(p.id, p.phone_e164) for p in fetch(Patient)],
        fetch(MessageOptOut),
        len(fetch(OrderEvent)),
        audit_rows(fetch),
    ]


@pytest.mark.parametrize("form", FORMS)
def test_each_form_refuses_other_roles_forged_posts_and_another_hospitals_order(
    request, client, staff, other_hospital, fetch, form
):
    maker_name, data, refused_roles, refusal = FORMS[form]
    maker = request.getfixturevalue(maker_name)
    ours = maker(f"RX-{form.upper()}-OURS")
    theirs = maker(f"RX-{form.upper()}-THEIRS", api_key=other_hospital.api_key)
    before = snapshot(fetch)

    for role in refused_roles:
        browser = console_login(client.app, staff[role])
        assert f'action="/console/orders/{ours}/{form}"' not in browser.get(f"/console/orders/{ours}").text
        wrong_role = post(browser, f"/console/orders/{ours}/{form}", data)
        assert (wrong_role.status_code, wrong_role.text) == (403, refusal)
    pharmacist = console_login(client.app, staff["pharmacist"])
    forged = pharmacist.post(f"/console/orders/{ours}/{form}", data={"csrf": "0" * 64, **data})
    foreign = post(pharmacist, f"/console/orders/{theirs}/{form}", data)
    no_session = client.post(
        f"/console/orders/{ours}/{form}", data={"csrf": "0" * 64, **data}, follow_redirects=False
    )

    assert (forged.status_code, forged.text) == (403, CSRF_REFUSED)
    assert (foreign.status_code, foreign.text) == (404, NOT_FOUND)
    assert (no_session.status_code, no_session.headers["location"]) == (303, "/console/login")
    assert snapshot(fetch) == before
