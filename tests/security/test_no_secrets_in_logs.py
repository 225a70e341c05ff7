"""A run through everything that handles a secret, with every log line captured (structlog rendered as JSON,
and the standard library's records with their tracebacks), then searched for each secret used: none found."""

from __future__ import annotations

import io
import json
import logging
from urllib.parse import urlencode

import httpx
import pytest
import respx
import structlog
from pydantic import SecretStr
from security_support import (
    ADMIN,
    FHIR_JSON,
    GOSEND_EVENT,
    GOSEND_WEBHOOK_TOKEN,
    HL7_MESSAGE,
    TWILIO_SID,
    TWILIO_TOKEN,
    WHATSAPP_APP_SECRET,
    csrf_for,
    fresh_session,
    messaging_settings,
)

from couriers.base import CourierError, DeliveryRequest, Place
from couriers.gosend.client import GoSendAdapter
from couriers.gosend.settings import GoSendSettings
from dispatch.auth.api import SESSION_COOKIE
from dispatch.core.settings import settings
from dispatch.demo_data import PATIENTS, demo_bundle
from dispatch.notify.gateways.twilio import twilio_signature

WRONG_PASSWORD = "wrong-password-Sx9!q"
WRONG_API_KEY = "gk_not-a-key-but-secret-looking-Qw3rty"
GRAB_SECRET = "grab-client-secret-9f8e7d"
LALAMOVE_SECRET = "sk_test_lalamove-secret-1a2b3c"
GOSEND_PASS_KEY = "gosend-pass-key-failing-call"


@pytest.fixture
def all_logs(monkeypatch):
    """Every structlog line (whatever logger object cached which file) and every stdlib record, as text."""
    buffer = io.StringIO()

    def write(_self, message: str) -> None:
        buffer.write(message + "\n")

    for name in (
        "msg",
        "log",
        "debug",
        "info",
        "warn",
        "warning",
        "fatal",
        "failure",
        "err",
        "error",
        "critical",
        "exception",
    ):
        monkeypatch.setattr(structlog.PrintLogger, name, write)
    monkeypatch.setattr(settings, "log_json", True)
    monkeypatch.setattr(settings, "log_level", "DEBUG")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(file=buffer),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(previous)
    structlog.reset_defaults()


def test_a_full_run_logs_no_secret(client, session, tenant_a, all_logs):
    a = tenant_a
    password = f"{a.code}-admin-password-1"
    # logins: right and wrong, JSON and console
    assert (
        client.post(
            "/api/v1/auth/login", json={"username": f"{a.code}-admin", "password": password}
        ).status_code
        == 200
    )
    assert (
        client.post(
            "/api/v1/auth/login", json={"username": f"{a.code}-admin", "password": WRONG_PASSWORD}
        ).status_code
        == 401
    )
    console = client.post(
        "/console/login", data={"username": f"{a.code}-admin", "password": password}, follow_redirects=False
    )
    assert console.status_code == 303
    session_token = console.cookies.get(SESSION_COOKIE) or ""
    # a validation error that would echo its input
    echoed = client.post(
        "/api/v1/auth/login", json={"username": ["x"], "password": {"nested": WRONG_PASSWORD}}
    )
    assert echoed.status_code == 422 and WRONG_PASSWORD not in echoed.text
    # intake with the API key, and with a wrong one
    fhir = {"Authorization": f"Bearer {a.api_key}", "Content-Type": FHIR_JSON}
    assert client.post(
        "/fhir/r4/Bundle", content=json.dumps(demo_bundle(PATIENTS[4], "RX-LOG-1")), headers=fhir
    ).status_code in (200, 201)
    hl7 = client.post(
        "/hl7v2",
        content=HL7_MESSAGE,
        headers={"Authorization": f"Bearer {a.api_key}", "Content-Type": "application/hl7-v2"},
    )
    assert hl7.status_code in (200, 400)
    wrong = client.post(
        "/fhir/r4/Bundle", content=b"{}", headers={**fhir, "Authorization": f"Bearer {WRONG_API_KEY}"}
    )
    assert wrong.status_code == 401
    # courier accounts with secrets, through the admin console, one of them refused by its model
    admin_token = fresh_session(session, a.users[ADMIN])
    cookie = {"Cookie": f"{SESSION_COOKIE}={admin_token}"}
    for courier, secrets in (
        (
            "grabexpress",
            {"client_id": "grab-id", "client_secret": GRAB_SECRET, "webhook_token": "grab-hook-token-77"},
        ),
        ("lalamove", {"api_key": "pk_test_lalamove", "secret": LALAMOVE_SECRET}),
        ("gosend", {"client_id": "x", "pass_key": GOSEND_PASS_KEY, "unexpected": GRAB_SECRET}),
    ):
        response = client.post(
            "/console/admin/couriers",
            data={
                "courier": courier,
                "label": courier,
                "settings": json.dumps(secrets),
                "csrf": csrf_for(admin_token),
            },
            headers=cookie,
            follow_redirects=False,
        )
        assert response.status_code in (303, 422), response.text
    # messaging settings saved through the console (masked secrets), then webhooks with their credentials
    saved = client.post(
        "/console/admin/settings/messaging",
        data={"value": json.dumps(messaging_settings()), "csrf": csrf_for(admin_token)},
        headers=cookie,
        follow_redirects=False,
    )
    assert saved.status_code in (303, 422)
    gosend_hook = client.post(
        "/webhooks/couriers/gosend", json=GOSEND_EVENT, headers={"Authorization": GOSEND_WEBHOOK_TOKEN}
    )
    assert gosend_hook.status_code == 404
    assert (
        client.post(
            "/webhooks/couriers/gosend",
            json=GOSEND_EVENT,
            headers={"Authorization": "wrong-" + GOSEND_WEBHOOK_TOKEN},
        ).status_code
        == 401
    )
    params = [("MessageSid", "SM" + "1" * 32), ("MessageStatus", "delivered"), ("AccountSid", TWILIO_SID)]
    url = f"{settings.public_base_url}/webhooks/messages/twilio"
    twilio = client.post(
        "/webhooks/messages/twilio",
        content=urlencode(params),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, url, params),
        },
    )
    assert twilio.status_code < 500
    # a courier call that fails, with the pass key in its headers
    failing = GoSendSettings(
        client_id="rs", pass_key=SecretStr(GOSEND_PASS_KEY), webhook_token=SecretStr("hook")
    )
    with respx.mock(assert_all_called=False, using=None) as router:
        router.route().mock(return_value=httpx.Response(500, text="upstream exploded"))
        place = Place(
            name="x", note="", contact_name="x", phone="081234567890", address="x", lat=-8.2, lon=114.3
        )
        request = DeliveryRequest(
            reference="R1", origin=place, destination=place, item_description="obat", item_value_idr=1
        )
        with (
            GoSendAdapter(failing, transport=httpx.MockTransport(router.handler)) as gosend,
            pytest.raises(CourierError),
        ):
            gosend.quote(request)
    client.post(
        "/console/logout",
        data={"csrf": csrf_for(session_token)},
        headers={"Cookie": f"{SESSION_COOKIE}={session_token}"},
    )

    logs = all_logs.getvalue()
    assert logs.strip(), "nothing was captured: the capture is broken, not the logging clean"
    secrets_used = [
        password,
        WRONG_PASSWORD,
        a.api_key,
        WRONG_API_KEY,
        session_token,
        admin_token,
        GOSEND_WEBHOOK_TOKEN,
        f"{a.code}-pass-key",
        GOSEND_PASS_KEY,
        GRAB_SECRET,
        LALAMOVE_SECRET,
        TWILIO_TOKEN,
        WHATSAPP_APP_SECRET,
        "EAAG-access-token-security",
        settings.secret_key,
    ]
    assert [secret for secret in secrets_used if secret and secret in logs] == []
