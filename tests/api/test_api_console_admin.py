"""Admin pages: staff, courier accounts, hospital settings, API keys and the deny-list; admins only, each change
CSRF-checked, scoped to the hospital, audited once, and no secret shown again."""

from __future__ import annotations

import json

import pytest
from console_support import CSRF_REFUSED, audit_rows, console_login, csrf_of

from dispatch.auth.models import StaffSession, StaffUser
from dispatch.hospitals.models import ApiKey, CourierAccount, Hospital

# Each admin page, and a form post it offers that would change something.
FORMS = {
    "users": ("users", {"username": "x", "role": "admin", "password": "long-enough-123"}),
    "couriers": ("couriers", {"courier": "gosend", "settings": "{}"}),
    "settings": ("settings/dispatch", {"value": "{}"}),
    "api-keys": ("api-keys", {"name": "x"}),
    "deny-list": ("deny-list", {"field": "denied_kfa_codes", "entry": "1", "category": "narcotic"}),
}
GOSEND = {"client_id": "rs-client", "pass_key": "very-secret-pass-key"}


@pytest.fixture
def admin(client, session, hospital, staff_maker):
    staff_maker(session, hospital, "admin1", "admin")
    return console_login(client.app, "admin1")


def csrf(browser) -> str:
    return csrf_of(browser, "/console/admin/users")


@pytest.mark.parametrize("page", FORMS)
@pytest.mark.parametrize("role", ["pharmacist", "dispatcher", "viewer"])
def test_admin_pages_and_forms_are_for_admins_only(
    client, session, hospital, staff_maker, admin, fetch, page, role
):
    staff_maker(session, hospital, f"{role}9", role)
    browser = console_login(client.app, f"{role}9")
    path, data = FORMS[page]

    assert admin.get(f"/console/admin/{page}").status_code == 200
    assert browser.get(f"/console/admin/{page}").status_code == 403
    forced = browser.post(f"/console/admin/{path}", data={"csrf": csrf_of(browser), **data})
    assert (forced.status_code, forced.text) == (403, "Hanya admin / admins only")
    assert (
        client.get(f"/console/admin/{page}", follow_redirects=False).headers["location"] == "/console/login"
    )
    assert audit_rows(fetch) == []
    assert fetch(Hospital)[0].restriction_policy == {} and fetch(Hospital)[0].dispatch_policy == {}


# --- staff -------------------------------------------------------------------------------------------------


def test_an_admin_creates_a_user_with_a_role(client, admin, fetch):
    response = admin.post(
        "/console/admin/users",
        data={
            "csrf": csrf(admin),
            "username": "kurniawan",
            "full_name": "Kurniawan",
            "role": "dispatcher",
            "password": "kurniawan-password-123",
        },
    )

    assert response.headers["location"] == "/console/admin/users?flash=user_created"
    [user] = fetch(StaffUser, StaffUser.username == "kurniawan")
    assert (user.role, user.active) == ("dispatcher", True)
    [entry] = audit_rows(fetch)
    assert (entry.action, entry.actor, entry.target_id, entry.data) == (
        "user.create",
        "admin1",
        user.id,
        {"role": "dispatcher"},
    )
    assert "password" not in json.dumps(entry.data) + entry.detail
    assert console_login(client.app, "kurniawan").get("/console").status_code == 200


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"username": "admin1", "role": "viewer", "password": "long-enough-123"}, "sudah dipakai"),
        ({"username": "pendek", "role": "viewer", "password": "short"}, "password"),
        ({"username": "aneh", "role": "superuser", "password": "long-enough-123"}, "role"),
    ],
    ids=["taken", "short-password", "unknown-role"],
)
def test_a_bad_new_user_is_refused_with_the_reason(admin, fetch, data, message):
    response = admin.post("/console/admin/users", data={"csrf": csrf(admin), **data})

    assert response.status_code == 422
    assert message in response.text
    assert "long-enough-123" not in response.text
    assert [u.username for u in fetch(StaffUser)] == ["admin1"]
    assert audit_rows(fetch) == []


def test_disabling_a_user_ends_their_sessions_and_refuses_their_login(
    client, session, hospital, staff_maker, admin, fetch
):
    staff_maker(session, hospital, "apoteker2", "pharmacist")
    victim = console_login(client.app, "apoteker2")
    [user] = fetch(StaffUser, StaffUser.username == "apoteker2")

    response = admin.post(
        f"/console/admin/users/{user.id}/active", data={"csrf": csrf(admin), "active": "false"}
    )

    assert response.headers["location"] == "/console/admin/users?flash=user_disabled"
    assert victim.get("/console").headers["location"] == "/console/login"
    assert all(s.revoked_at is not None for s in fetch(StaffSession, StaffSession.user_id == user.id))
    refused = form_login(client, "apoteker2", "apoteker2-password-123")
    assert refused.status_code == 401
    admin.post(f"/console/admin/users/{user.id}/active", data={"csrf": csrf(admin), "active": "true"})
    assert [e.action for e in audit_rows(fetch)] == ["user.disable", "user.enable"]
    assert form_login(client, "apoteker2", "apoteker2-password-123").status_code == 303


def form_login(client, username: str, password: str):
    """A login through the form in a fresh browser."""
    from fastapi.testclient import TestClient

    browser = TestClient(client.app, follow_redirects=False)
    return browser.post("/console/login", data={"username": username, "password": password})


def test_an_admin_cannot_disable_themselves(admin, fetch):
    [me] = fetch(StaffUser)

    response = admin.post(
        f"/console/admin/users/{me.id}/active", data={"csrf": csrf(admin), "active": "false"}
    )

    assert response.status_code == 422
    assert "akun sendiri" in response.text
    assert fetch(StaffUser)[0].active is True
    assert audit_rows(fetch) == []


def test_a_password_reset_lifts_a_lock_out_and_ends_old_sessions(
    client, session, hospital, staff_maker, admin, run_sql, fetch
):
    staff_maker(session, hospital, "apoteker2", "pharmacist")
    victim = console_login(client.app, "apoteker2")
    run_sql(
        "UPDATE staff_users SET locked_until = now() + interval '10 minutes' WHERE username = 'apoteker2'"
    )
    [user] = fetch(StaffUser, StaffUser.username == "apoteker2")

    short = admin.post(
        f"/console/admin/users/{user.id}/password", data={"csrf": csrf(admin), "password": "short"}
    )
    response = admin.post(
        f"/console/admin/users/{user.id}/password",
        data={"csrf": csrf(admin), "password": "a-brand-new-password"},
    )

    assert short.status_code == 422
    assert response.headers["location"] == "/console/admin/users?flash=password_reset"
    assert victim.get("/console").headers["location"] == "/console/login"
    assert form_login(client, "apoteker2", "apoteker2-password-123").status_code == 401
    assert form_login(client, "apoteker2", "a-brand-new-password").status_code == 303
    [entry] = audit_rows(fetch)
    assert (entry.action, entry.target_id) == ("user.reset_password", user.id)
    assert "a-brand-new-password" not in json.dumps(entry.data) + entry.detail


def test_another_hospitals_user_is_not_found(admin, other_hospital, fetch):
    [theirs] = fetch(StaffUser, StaffUser.username == "apoteker-genteng")

    for path, data in (("active", {"active": "false"}), ("password", {"password": "a-brand-new-password"})):
        response = admin.post(f"/console/admin/users/{theirs.id}/{path}", data={"csrf": csrf(admin), **data})
        assert (response.status_code, response.text) == (404, "Pengguna tidak ditemukan / user not found")
    assert fetch(StaffUser, StaffUser.username == "apoteker-genteng")[0].active is True
    assert audit_rows(fetch) == []


def test_a_forged_admin_form_is_refused(admin, fetch):
    response = admin.post(
        "/console/admin/users",
        data={"csrf": "0" * 64, "username": "x1", "role": "admin", "password": "long-enough-123"},
    )

    assert (response.status_code, response.text) == (403, CSRF_REFUSED)
    assert len(fetch(StaffUser)) == 1


# --- courier accounts --------------------------------------------------------------------------------------


def test_a_courier_account_is_added_with_settings_its_courier_accepts_and_its_secret_never_shown(
    admin, fetch
):
    response = admin.post(
        "/console/admin/couriers",
        data={
            "csrf": csrf(admin),
            "courier": "gosend",
            "label": "utama",
            "priority": "5",
            "settings": json.dumps(GOSEND),
        },
    )

    assert response.headers["location"] == "/console/admin/couriers?flash=courier_added"
    [account] = fetch(CourierAccount)
    assert (account.courier, account.label, account.priority, account.settings) == (
        "gosend",
        "utama",
        5,
        GOSEND,
    )
    page = admin.get("/console/admin/couriers").text
    assert "rs-client" in page
    assert "very-secret-pass-key" not in page
    assert "**********" in page
    [entry] = audit_rows(fetch)
    assert (entry.action, entry.detail) == ("courier_account.create", "gosend (utama)")
    assert "very-secret-pass-key" not in json.dumps(entry.data)


@pytest.mark.parametrize(
    ("courier", "settings", "message"),
    [
        ("gosend", {"client_id": "c", "pass_key": "   ", "base_url": "ftp://x"}, "pass_key"),
        ("gosend", "{not json", "JSON tidak valid"),
        ("teleport", {"a": "b"}, "unknown courier"),
    ],
    ids=["refused-by-the-model", "not-json", "unknown-courier"],
)
def test_bad_courier_settings_are_refused_without_echoing_them(admin, fetch, courier, settings, message):
    text = settings if isinstance(settings, str) else json.dumps(settings)

    response = admin.post(
        "/console/admin/couriers", data={"csrf": csrf(admin), "courier": courier, "settings": text}
    )

    assert response.status_code == 422
    assert message in response.text
    assert "ftp://x" not in response.text
    assert fetch(CourierAccount) == []
    assert audit_rows(fetch) == []


def test_a_courier_account_is_disabled_and_enabled_within_the_hospital(
    admin, session, hospital, other_hospital, fetch
):
    from dispatch.hospitals.service import add_courier_account

    ours = add_courier_account(session, hospital, "gosend", GOSEND)
    theirs = add_courier_account(session, other_hospital.hospital, "gosend", GOSEND)
    session.commit()

    off = admin.post(
        f"/console/admin/couriers/{ours.id}/enabled", data={"csrf": csrf(admin), "enabled": "false"}
    )
    foreign = admin.post(
        f"/console/admin/couriers/{theirs.id}/enabled", data={"csrf": csrf(admin), "enabled": "false"}
    )

    assert off.headers["location"] == "/console/admin/couriers?flash=courier_disabled"
    assert foreign.status_code == 404
    assert [(a.id, a.enabled) for a in fetch(CourierAccount)] == [(ours.id, False), (theirs.id, True)]
    admin.post(f"/console/admin/couriers/{ours.id}/enabled", data={"csrf": csrf(admin), "enabled": "true"})
    assert fetch(CourierAccount)[0].enabled is True
    assert [e.action for e in audit_rows(fetch)] == ["courier_account.disable", "courier_account.enable"]


# --- hospital settings -------------------------------------------------------------------------------------


def test_a_dispatch_policy_is_checked_by_its_model_before_it_is_stored(admin, fetch):
    good = admin.post(
        "/console/admin/settings/dispatch",
        data={"csrf": csrf(admin), "value": '{"choose_by": "preference", "price_cap_idr": 30000}'},
    )
    bad = admin.post(
        "/console/admin/settings/dispatch",
        data={"csrf": csrf(admin), "value": '{"choose_by": "cheapest-ish"}'},
    )
    unknown = admin.post("/console/admin/settings/payroll", data={"csrf": csrf(admin), "value": "{}"})

    assert good.headers["location"] == "/console/admin/settings?flash=saved_dispatch"
    assert bad.status_code == 422
    assert "choose_by" in bad.text
    assert "cheapest-ish" in bad.text  # the admin's own text comes back to be fixed, in the form
    assert unknown.status_code == 404
    [stored] = fetch(Hospital)
    assert stored.dispatch_policy == {"choose_by": "preference", "price_cap_idr": 30000}
    [entry] = audit_rows(fetch)
    assert entry.action == "settings.dispatch"


def test_a_geocoder_key_is_masked_and_kept_when_the_mask_comes_back(admin, session, hospital, fetch):
    hospital.geocoding_policy = {
        "online": [
            {
                "provider": "nominatim",
                "user_agent": "gancang-test admin@rs.example",
                "options": {"api_key": "GEO-SECRET"},
            }
        ]
    }
    session.add(hospital)
    session.commit()
    page = admin.get("/console/admin/settings").text
    assert "GEO-SECRET" not in page
    assert "********" in page
    shown = json.loads(
        page.split('id="settings-geocoding">')[1]
        .split('name="value" rows="8">')[1]
        .split("</textarea>")[0]
        .replace("&#34;", '"')
    )
    shown["min_confidence"] = 0.7

    response = admin.post(
        "/console/admin/settings/geocoding", data={"csrf": csrf(admin), "value": json.dumps(shown)}
    )

    assert response.status_code == 303
    [stored] = fetch(Hospital)
    assert stored.geocoding_policy["online"][0]["options"] == {"api_key": "GEO-SECRET"}
    assert stored.geocoding_policy["min_confidence"] == 0.7
    [entry] = audit_rows(fetch)
    assert "GEO-SECRET" not in json.dumps(entry.data)


def test_messaging_settings_refuse_an_unknown_gateway(admin, fetch):
    response = admin.post(
        "/console/admin/settings/messaging",
        data={"csrf": csrf(admin), "value": '{"sms": {"gateway": "pigeon", "options": {"token": "T0P"}}}'},
    )

    assert response.status_code == 422
    assert "pigeon" in response.text
    assert fetch(Hospital)[0].messaging_settings == {}


# --- API keys ----------------------------------------------------------------------------------------------


def test_an_api_key_is_shown_once_and_revoked(client, admin, other_hospital, fetch):
    response = admin.post("/console/admin/api-keys", data={"csrf": csrf(admin), "name": "SIMRS baru"})

    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    plaintext = response.text.split('id="new-key">')[1].split("<code>")[1].split("</code>")[0]
    assert plaintext.startswith("gk_")
    assert plaintext not in admin.get("/console/admin/api-keys").text
    [key] = fetch(ApiKey, ApiKey.name == "SIMRS baru")
    headers = {"Authorization": f"Bearer {plaintext}", "Content-Type": "application/fhir+json"}
    assert client.post("/fhir/r4/Bundle", content=b"{}", headers=headers).status_code != 401

    revoked = admin.post(f"/console/admin/api-keys/{key.id}/revoke", data={"csrf": csrf(admin)})
    [theirs] = fetch(ApiKey, ApiKey.hospital_id == other_hospital.hospital.id)
    foreign = admin.post(f"/console/admin/api-keys/{theirs.id}/revoke", data={"csrf": csrf(admin)})

    assert revoked.headers["location"] == "/console/admin/api-keys?flash=revoked"
    assert client.post("/fhir/r4/Bundle", content=b"{}", headers=headers).status_code == 401
    assert foreign.status_code == 404
    assert fetch(ApiKey, ApiKey.id == theirs.id)[0].revoked_at is None
    entries = audit_rows(fetch)
    assert [e.action for e in entries] == ["api_key.create", "api_key.revoke"]
    assert all(plaintext not in json.dumps(e.data) + e.detail for e in entries)


# --- deny-list ---------------------------------------------------------------------------------------------


def test_the_deny_list_takes_an_entry_and_loses_one_default_keeping_the_others(admin, fetch):
    from hospital_adapter.restrictions import DEFAULT_NAME_TERMS, RestrictionPolicy

    added = admin.post(
        "/console/admin/deny-list",
        data={"csrf": csrf(admin), "field": "denied_kfa_codes", "entry": "93001234", "category": "narcotic"},
    )
    removed = admin.post(
        "/console/admin/deny-list",
        data={"csrf": csrf(admin), "field": "denied_name_terms", "entry": "kodein", "remove": "true"},
    )

    assert added.headers["location"] == "/console/admin/deny-list?flash=added"
    assert removed.headers["location"] == "/console/admin/deny-list?flash=removed"
    policy = RestrictionPolicy.model_validate(fetch(Hospital)[0].restriction_policy)
    assert policy.denied_kfa_codes == {"93001234": "narcotic"}
    assert "kodein" not in policy.denied_name_terms
    assert len(policy.denied_name_terms) == len(DEFAULT_NAME_TERMS) - 1
    assert '<tr data-entry="93001234">' in admin.get("/console/admin/deny-list").text
    assert [e.action for e in audit_rows(fetch)] == ["deny_list.add", "deny_list.remove"]


@pytest.mark.parametrize(
    "data",
    [
        {"field": "denied_kfa_codes", "entry": "1", "category": "tasty"},
        {"field": "denied_name_terms", "entry": "paracetamol", "remove": "true"},
        {"field": "allowed_everything", "entry": "x", "category": "narcotic"},
    ],
    ids=["unknown-category", "not-on-the-list", "unknown-list"],
)
def test_a_bad_deny_list_change_is_refused(admin, fetch, data):
    response = admin.post("/console/admin/deny-list", data={"csrf": csrf(admin), **data})

    assert response.status_code == 422
    assert fetch(Hospital)[0].restriction_policy == {}
    assert audit_rows(fetch) == []
