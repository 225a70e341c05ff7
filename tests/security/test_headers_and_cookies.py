"""Security headers on every kind of answer, and the console's session cookie."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie

import pytest
from security_support import PHARMACIST, SESSION_COOKIE, fresh_session

from dispatch.core import headers as security_headers
from dispatch.core.settings import settings

COMMON = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


def _login(client, username: str, password: str):
    return client.post(
        "/console/login", data={"username": username, "password": password}, follow_redirects=False
    )


def _cookie(response) -> SimpleCookie:
    cookie = SimpleCookie()
    cookie.load(response.headers["set-cookie"])
    return cookie


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/healthz", "json"), ("/console/login", "page"), ("/api/v1/orders", "json"), ("/docs", "docs")],
)
def test_every_answer_carries_the_headers(client, path, kind):
    response = client.get(path)

    assert {name: response.headers.get(name) for name in COMMON} == COMMON
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    expected = {
        "json": security_headers.NO_CONTENT_POLICY,
        "docs": security_headers.DOCS_POLICY,
    }.get(kind)
    if expected:
        assert policy == expected
    else:
        assert "script-src 'nonce-" in policy and "'unsafe-inline'" not in policy.split("style-src")[0]
    assert "strict-transport-security" not in response.headers


def test_a_pages_scripts_carry_the_nonce_of_its_policy(matrix_client, session, tenant_a):
    token = fresh_session(session, tenant_a.users["dispatcher"])
    page = matrix_client.get(
        f"/console/orders/{tenant_a.order_id}", headers={"Cookie": f"{SESSION_COOKIE}={token}"}
    )

    [nonce] = re.findall(r"script-src 'nonce-([^']+)'", page.headers["content-security-policy"])
    scripts = re.findall(r"<script([^>]*)>", page.text)
    assert scripts and all(f'nonce="{nonce}"' in attributes for attributes in scripts)
    again = matrix_client.get("/console/login").headers["content-security-policy"]
    assert f"'nonce-{nonce}'" not in again  # a nonce per response


def test_a_routes_own_header_wins(client):
    """The tracking pages keep their stricter Referrer-Policy (the link is the patient's credential)."""
    response = client.get("/t/" + "A" * 43)

    assert response.status_code == 404
    assert response.headers["referrer-policy"] == "no-referrer"


def test_hsts_in_production_only(client, monkeypatch):
    monkeypatch.setattr(settings, "env", "production")

    assert client.get("/healthz").headers["strict-transport-security"] == security_headers.HSTS


def test_the_map_tile_server_may_serve_images_to_pages(client, monkeypatch):
    monkeypatch.setattr(settings, "map_tile_url", "https://tiles.rsud.example/{z}/{x}/{y}.png")

    policy = client.get("/console/login").headers["content-security-policy"]

    assert "img-src 'self' data: https://tiles.rsud.example;" in policy


def test_the_session_cookie_is_httponly_and_samesite(client, session, tenant_a):
    response = _login(client, f"{tenant_a.code}-pharmacist", f"{tenant_a.code}-pharmacist-password-1")

    assert response.status_code == 303
    morsel = _cookie(response)[SESSION_COOKIE]
    assert morsel["httponly"] is True
    assert morsel["samesite"].lower() in ("lax", "strict")
    assert not morsel["secure"]  # plain http in development and tests


def test_the_session_cookie_is_secure_in_production(client, session, tenant_a, monkeypatch):
    monkeypatch.setattr(settings, "env", "production")

    response = _login(client, f"{tenant_a.code}-pharmacist", f"{tenant_a.code}-pharmacist-password-1")

    assert _cookie(response)[SESSION_COOKIE]["secure"] is True


def test_authenticated_pages_are_not_stored(matrix_client, session, tenant_a):
    token = fresh_session(session, tenant_a.users[PHARMACIST])
    cookie = {"Cookie": f"{SESSION_COOKIE}={token}"}

    for path in ("/console", f"/console/orders/{tenant_a.order_id}", "/console/inbox"):
        assert matrix_client.get(path, headers=cookie).headers["cache-control"] == "no-store", path
    api = matrix_client.get("/api/v1/orders", headers={"Authorization": f"Bearer {token}"})
    assert api.headers["cache-control"] == "no-store"
