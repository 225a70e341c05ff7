"""The security matrices' shared parts: who may call each route, a hospital with something behind every id, and
a well-formed request for every route, so that a refusal is the authorisation and never the request's shape.

``ACCESS`` is the one table of who may call what. A route missing from it fails the matrix test: every route
must be classified when it is added.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

import httpx
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from dispatch.audit import service as audit
from dispatch.auth.api import SESSION_COOKIE
from dispatch.auth.models import Role, StaffSession, StaffUser, StaffUserCreate
from dispatch.auth.service import create_user
from dispatch.core.clock import utcnow
from dispatch.core.security import new_bearer_token, token_hash
from dispatch.core.settings import settings
from dispatch.demo_data import PATIENTS, demo_bundle
from dispatch.hospitals.models import Hospital, HospitalCreate
from dispatch.hospitals.service import add_courier_account, create_api_key, create_hospital
from dispatch.inbox.models import InboxMessage, InboxStatus
from dispatch.notify.gateways.twilio import twilio_signature
from dispatch.orders.models import Order
from hospital_adapter.csv import TEMPLATE_CSV

ANONYMOUS: Final = "anonymous"
VIEWER: Final = "viewer"
PHARMACIST: Final = "pharmacist"
DISPATCHER: Final = "dispatcher"
ADMIN: Final = "admin"
API_KEY: Final = "api_key"  # the hospital's SIMRS, with its intake API key
SENDER: Final = "webhook_sender"  # a courier or message provider, with the credentials it was given
SCRAPER: Final = "metrics_scraper"  # Prometheus, with GANCANG_METRICS_TOKEN

ROLES: Final = (ANONYMOUS, VIEWER, PHARMACIST, DISPATCHER, ADMIN, API_KEY, SENDER, SCRAPER)
STAFF: Final = frozenset({VIEWER, PHARMACIST, DISPATCHER, ADMIN})
EVERYONE: Final = frozenset(ROLES)
PHARMACISTS: Final = frozenset({PHARMACIST, ADMIN})
DISPATCHERS: Final = frozenset({DISPATCHER, ADMIN})
ADMINS: Final = frozenset({ADMIN})
NOBODY_BUT: Final = frozenset  # readability: NOBODY_BUT({API_KEY})

# Who may call each route ("METHOD path" as FastAPI declares it). EVERYONE: public routes whose own answers
# (404 for an unknown tracking link, a failed login) are not about the caller's role.
ACCESS: Final[dict[str, frozenset[str]]] = {
    # FastAPI's own documentation
    "GET /openapi.json": EVERYONE,
    "HEAD /openapi.json": EVERYONE,
    "GET /docs": EVERYONE,
    "HEAD /docs": EVERYONE,
    "GET /docs/oauth2-redirect": EVERYONE,
    "HEAD /docs/oauth2-redirect": EVERYONE,
    "GET /redoc": EVERYONE,
    "HEAD /redoc": EVERYONE,
    # hospital intake
    "POST /fhir/r4/Bundle": NOBODY_BUT({API_KEY}),
    "POST /fhir/r4/MedicationRequest": NOBODY_BUT({API_KEY}),
    "POST /fhir/r4/notify": NOBODY_BUT({API_KEY}),
    "POST /hl7v2": NOBODY_BUT({API_KEY}),
    "POST /api/v1/intake/csv": PHARMACISTS,
    "GET /api/v1/intake/csv/template": STAFF,
    "GET /console/intake/csv": STAFF,
    "POST /console/intake/csv": PHARMACISTS,
    # staff sessions
    "POST /api/v1/auth/login": EVERYONE,
    "POST /api/v1/auth/logout": EVERYONE,
    "GET /console/login": EVERYONE,
    "POST /console/login": EVERYONE,
    "POST /console/logout": EVERYONE,
    # JSON API
    "GET /api/v1/orders": STAFF,
    "GET /api/v1/orders/{order_id}": STAFF,
    "POST /api/v1/orders/{order_id}/release": PHARMACISTS,
    "POST /api/v1/orders/{order_id}/cancel": PHARMACISTS,
    "POST /api/v1/orders/{order_id}/override-eligibility": PHARMACISTS,
    "POST /api/v1/orders/{order_id}/phone": PHARMACISTS,
    "POST /api/v1/orders/{order_id}/courier": DISPATCHERS,
    "POST /api/v1/orders/{order_id}/location": DISPATCHERS,
    "GET /api/v1/inbox": STAFF,
    "POST /api/v1/inbox/{inbox_id}/reprocess": PHARMACISTS,
    "GET /api/v1/audit": ADMINS,
    "GET /api/v1/reports/deliveries": STAFF,
    "GET /api/v1/reports/deliveries.csv": STAFF,
    # webhooks: the sender's credentials are the authorisation
    "POST /webhooks/couriers/{courier}": NOBODY_BUT({SENDER}),
    "POST /webhooks/messages/{gateway}": NOBODY_BUT({SENDER}),
    "GET /webhooks/messages/{gateway}": NOBODY_BUT({SENDER}),
    # the patient's tracking link: the token in the path is the capability
    "GET /t/{token}": EVERYONE,
    "POST /t/{token}/location": EVERYONE,
    "POST /t/{token}/received": EVERYONE,
    # console
    "GET /console": STAFF,
    "GET /console/orders/{order_id}": STAFF,
    "GET /console/orders/{order_id}/live": STAFF,
    "POST /console/orders/{order_id}/location": DISPATCHERS,
    "GET /console/needs-address": STAFF,
    "POST /console/orders/{order_id}/courier": DISPATCHERS,
    "POST /console/orders/{order_id}/rebook": DISPATCHERS,
    "POST /console/orders/{order_id}/acknowledge": DISPATCHERS,
    "POST /console/orders/{order_id}/release": PHARMACISTS,
    "POST /console/orders/{order_id}/cancel": PHARMACISTS,
    "POST /console/orders/{order_id}/phone": PHARMACISTS,
    "POST /console/orders/{order_id}/override-eligibility": PHARMACISTS,
    "POST /console/orders/{order_id}/messaging": PHARMACISTS | DISPATCHERS,
    "GET /console/inbox": STAFF,
    "POST /console/inbox/{inbox_id}/reprocess": PHARMACISTS,
    "GET /console/audit": ADMINS,
    "GET /console/reports": STAFF,
    "GET /console/admin/users": ADMINS,
    "POST /console/admin/users": ADMINS,
    "POST /console/admin/users/{user_id}/active": ADMINS,
    "POST /console/admin/users/{user_id}/password": ADMINS,
    "GET /console/admin/couriers": ADMINS,
    "POST /console/admin/couriers": ADMINS,
    "POST /console/admin/couriers/{account_id}/enabled": ADMINS,
    "GET /console/admin/settings": ADMINS,
    "POST /console/admin/settings/{kind}": ADMINS,
    "GET /console/admin/api-keys": ADMINS,
    "POST /console/admin/api-keys": ADMINS,
    "POST /console/admin/api-keys/{key_id}/revoke": ADMINS,
    "GET /console/admin/deny-list": ADMINS,
    "POST /console/admin/deny-list": ADMINS,
    # operations: the probes, and Prometheus with its own token
    "GET /healthz": EVERYONE,
    "GET /readyz": EVERYONE,
    "GET /metrics": NOBODY_BUT({SCRAPER}),
}

GOSEND_WEBHOOK_TOKEN: Final = "gosend-callback-token-sec"
METRICS_TOKEN: Final = "prometheus-scrape-token-security"
TWILIO_SID: Final = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN: Final = "twilio-auth-token-security-0123"
WHATSAPP_VERIFY_TOKEN: Final = "verify-token-security-matrix"
WHATSAPP_APP_SECRET: Final = "meta-app-secret-security"
FHIR_JSON: Final = "application/fhir+json"
HL7_MESSAGE: Final = (
    "MSH|^~\\&|SIMRS|RSUD|GANCANG||20261129080000||RDE^O11^RDE_O11|MSG0001|P|2.5\r"
    "PID|1||RM-001^^^^MR||Wati^Sri||||||Jl. Kawah Ijen 5^Desa Kemiren, Kec. Glagah^Banyuwangi||0812-3456-7890\r"
    "ORC|NW|RX-HL7-0001\rRXE||KFA93000123^Paracetamol 500 mg^KFA|1||TAB|TAB^Tablet|||||10|TAB\rRXR|PO^Oral"
)
# GoSend's recorded no-driver event, about a booking no hospital made (the endpoint answers 404 to its sender).
GOSEND_EVENT: Final = json.loads(
    (
        Path(__file__).resolve().parents[3]
        / "shared/reference/examples/couriers"
        / "gosend_webhook_booking_event_no_driver.json"
    ).read_text(encoding="utf-8")
)


def messaging_settings() -> dict[str, Any]:
    """Twilio for SMS (signed receipts) and WhatsApp (the GET handshake), both with this test's secrets."""
    return {
        "sms": {
            "gateway": "twilio",
            "options": {
                "account_sid": TWILIO_SID,
                "auth_token": TWILIO_TOKEN,
                "from_number": "RSUDSEC",
                "status_callback": f"{settings.public_base_url}/webhooks/messages/twilio",
            },
        },
        "whatsapp": {
            "gateway": "whatsapp",
            "options": {
                "phone_number_id": "106540352242922",
                "access_token": "EAAG-access-token-security",
                "app_secret": WHATSAPP_APP_SECRET,
                "verify_token": WHATSAPP_VERIFY_TOKEN,
                "templates": {
                    "released": {"name": "gancang_obat_disiapkan", "parameters": ["hospital", "pin", "link"]},
                    "delivered": {"name": "gancang_obat_diantar", "parameters": ["hospital", "link"]},
                },
            },
        },
    }


@dataclass
class Tenant:
    """One hospital with a user of every role and a record behind every id a route takes."""

    hospital_id: int
    code: str
    users: dict[str, int]
    api_key: str
    order_id: int
    inbox_id: int
    account_id: int
    spare_user_id: int
    spare_key_id: int
    # Text that only this hospital's records hold: none of it may appear in another hospital's answers.
    private_text: list[str] = field(default_factory=list)


def make_tenant(
    session: Session, client: TestClient, data: HospitalCreate, *, patient: int, webhook_token: str
) -> Tenant:
    hospital = create_hospital(session, data)
    hospital.messaging_settings = messaging_settings()
    session.commit()
    assert hospital.id is not None
    code = data.code.lower()
    users = {}
    for role in (VIEWER, PHARMACIST, DISPATCHER, ADMIN):
        user = _user(session, hospital, f"{code}-{role}", Role(role))
        users[role] = user
    spare = _user(session, hospital, f"{code}-spare", Role.VIEWER)
    _key, plaintext = create_api_key(session, hospital, f"{code}-simrs")
    spare_key, _ = create_api_key(session, hospital, f"{code}-spare-key")
    account = add_courier_account(
        session,
        hospital,
        "gosend",
        {"client_id": f"{code}-client", "pass_key": f"{code}-pass-key", "webhook_token": webhook_token},
        label=f"{code}-gosend",
        priority=10,
    )
    session.commit()
    patient_record = PATIENTS[patient]
    rx_number = f"RX-{code.upper()}-1"
    created = client.post(
        "/fhir/r4/Bundle",
        content=json.dumps(demo_bundle(patient_record, rx_number)),
        headers={"Authorization": f"Bearer {plaintext}", "Content-Type": FHIR_JSON},
    )
    assert created.status_code == 201, created.text
    refused = client.post(
        "/fhir/r4/Bundle",
        content=b'{"resourceType": "Bundle", "type": "transaction", "entry": "not a list"}',
        headers={"Authorization": f"Bearer {plaintext}", "Content-Type": FHIR_JSON},
    )
    assert refused.status_code in (400, 422), refused.text
    order_id = session.exec(select(Order.id).where(Order.hospital_id == hospital.id)).one()
    inbox_id = session.exec(
        select(InboxMessage.id)
        .where(InboxMessage.hospital_id == hospital.id, InboxMessage.status == InboxStatus.REJECTED)
        .order_by(col(InboxMessage.id))
    ).first()
    assert order_id is not None and inbox_id is not None and account.id is not None
    assert spare.id is not None and spare_key.id is not None
    audit.record(session, users[ADMIN], "security.seed", "hospital", hospital.id, f"{code}-audit-detail")
    session.commit()
    return Tenant(
        hospital_id=hospital.id,
        code=code,
        users={role: user.id for role, user in users.items() if user.id is not None},
        api_key=plaintext,
        order_id=order_id,
        inbox_id=inbox_id,
        account_id=account.id,
        spare_user_id=spare.id,
        spare_key_id=spare_key.id,
        private_text=[
            patient_record.name,
            rx_number,
            f"{code}-spare",
            f"{code}-gosend",
            f"{code}-spare-key",
            f"{code}-audit-detail",
        ],
    )


def _user(session: Session, hospital: Hospital, username: str, role: Role) -> StaffUser:
    return create_user(
        session,
        hospital,
        StaffUserCreate(username=username, full_name=username, role=role, password=f"{username}-password-1"),
    )


def fresh_session(session: Session, user_id: int) -> str:
    """A new session token for the user, made directly (no login): every request gets its own, so a logout
    in one cell of the matrix cannot end the session another cell uses."""
    token = new_bearer_token("gs")
    session.add(
        StaffSession(user_id=user_id, token_hash=token_hash(token), expires_at=utcnow() + timedelta(hours=1))
    )
    session.commit()
    return token


def csrf_for(session_token: str) -> str:
    """What ``dispatch.console.forms.csrf_token`` gives the console's forms for this session."""
    return hmac.new(
        settings.secret_key.encode(), f"csrf:{session_token}".encode(), hashlib.sha256
    ).hexdigest()


@dataclass
class Call:
    method: str
    path: str
    json: Any = None
    form: dict[str, str] | None = None  # a console or patient form: staff get the session's CSRF token added
    content: bytes | str | None = None
    files: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    sender_credentials: bool = False  # the builder already put the webhook sender's credentials in


_serial = itertools.count(1)
TRACKING_TOKEN: Final = "A" * 43  # well-formed, unknown: a patient's link is the only credential there


def _twilio(role: str) -> Call:
    params = [("MessageSid", "SM" + "0" * 32), ("MessageStatus", "delivered"), ("AccountSid", TWILIO_SID)]
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if role == SENDER:
        url = f"{settings.public_base_url}/webhooks/messages/twilio"
        headers["X-Twilio-Signature"] = twilio_signature(TWILIO_TOKEN, url, params)
    return Call(
        "POST",
        "/webhooks/messages/twilio",
        content=urlencode(params),
        headers=headers,
        sender_credentials=True,
    )


def _whatsapp_handshake(role: str) -> Call:
    token = WHATSAPP_VERIFY_TOKEN if role == SENDER else "not-the-verify-token"
    params = {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1158201444"}
    return Call("GET", "/webhooks/messages/whatsapp", params=params, sender_credentials=True)


def _gosend(role: str, webhook_token: str) -> Call:
    headers = {"Content-Type": "application/json"}
    if role == SENDER:
        headers["Authorization"] = webhook_token
    return Call(
        "POST", "/webhooks/couriers/gosend", json=GOSEND_EVENT, headers=headers, sender_credentials=True
    )


def _csv_upload() -> Call:
    return Call(
        "POST", "/console/intake/csv", form={}, files={"file": ("resep.csv", TEMPLATE_CSV, "text/csv")}
    )


# A well-formed request per route, from the ids of tenant ``t``; ``role`` matters for the webhooks only.
Builder = Callable[["Tenant", str], Call]
REQUESTS: Final[dict[str, Builder]] = {
    "GET /openapi.json": lambda t, r: Call("GET", "/openapi.json"),
    "HEAD /openapi.json": lambda t, r: Call("HEAD", "/openapi.json"),
    "GET /docs": lambda t, r: Call("GET", "/docs"),
    "HEAD /docs": lambda t, r: Call("HEAD", "/docs"),
    "GET /docs/oauth2-redirect": lambda t, r: Call("GET", "/docs/oauth2-redirect"),
    "HEAD /docs/oauth2-redirect": lambda t, r: Call("HEAD", "/docs/oauth2-redirect"),
    "GET /redoc": lambda t, r: Call("GET", "/redoc"),
    "HEAD /redoc": lambda t, r: Call("HEAD", "/redoc"),
    "POST /fhir/r4/Bundle": lambda t, r: Call(
        "POST",
        "/fhir/r4/Bundle",
        content=json.dumps(demo_bundle(PATIENTS[2], f"RX-MATRIX-{next(_serial)}")),
        headers={"Content-Type": FHIR_JSON},
    ),
    "POST /fhir/r4/MedicationRequest": lambda t, r: Call(
        "POST",
        "/fhir/r4/MedicationRequest",
        content='{"resourceType": "MedicationRequest"}',
        headers={"Content-Type": FHIR_JSON},
    ),
    "POST /fhir/r4/notify": lambda t, r: Call(
        "POST",
        "/fhir/r4/notify",
        content='{"resourceType": "Bundle", "type": "history", "entry": []}',
        headers={"Content-Type": FHIR_JSON},
    ),
    "POST /hl7v2": lambda t, r: Call(
        "POST", "/hl7v2", content=HL7_MESSAGE, headers={"Content-Type": "application/hl7-v2"}
    ),
    "POST /api/v1/intake/csv": lambda t, r: Call(
        "POST", "/api/v1/intake/csv", content=TEMPLATE_CSV, headers={"Content-Type": "text/csv"}
    ),
    "GET /api/v1/intake/csv/template": lambda t, r: Call("GET", "/api/v1/intake/csv/template"),
    "GET /console/intake/csv": lambda t, r: Call("GET", "/console/intake/csv"),
    "POST /console/intake/csv": lambda t, r: _csv_upload(),
    "POST /api/v1/auth/login": lambda t, r: Call(
        "POST",
        "/api/v1/auth/login",
        json={"username": f"{t.code}-spare", "password": f"{t.code}-spare-password-1"},
    ),
    "POST /api/v1/auth/logout": lambda t, r: Call("POST", "/api/v1/auth/logout"),
    "GET /console/login": lambda t, r: Call("GET", "/console/login"),
    "POST /console/login": lambda t, r: Call(
        "POST",
        "/console/login",
        form={"username": f"{t.code}-spare", "password": f"{t.code}-spare-password-1"},
    ),
    "POST /console/logout": lambda t, r: Call("POST", "/console/logout", form={}),
    "GET /api/v1/orders": lambda t, r: Call("GET", "/api/v1/orders"),
    "GET /api/v1/orders/{order_id}": lambda t, r: Call("GET", f"/api/v1/orders/{t.order_id}"),
    "POST /api/v1/orders/{order_id}/release": lambda t, r: Call(
        "POST", f"/api/v1/orders/{t.order_id}/release"
    ),
    "POST /api/v1/orders/{order_id}/cancel": lambda t, r: Call(
        "POST", f"/api/v1/orders/{t.order_id}/cancel", json={"reason": "security matrix"}
    ),
    "POST /api/v1/orders/{order_id}/override-eligibility": lambda t, r: Call(
        "POST",
        f"/api/v1/orders/{t.order_id}/override-eligibility",
        json={"justification": "security matrix: a well-formed justification"},
    ),
    "POST /api/v1/orders/{order_id}/phone": lambda t, r: Call(
        "POST", f"/api/v1/orders/{t.order_id}/phone", json={"phone": "0812-3456-0199"}
    ),
    "POST /api/v1/orders/{order_id}/courier": lambda t, r: Call(
        "POST", f"/api/v1/orders/{t.order_id}/courier", json={"account_id": t.account_id, "reason": "matrix"}
    ),
    "POST /api/v1/orders/{order_id}/location": lambda t, r: Call(
        "POST", f"/api/v1/orders/{t.order_id}/location", json={"lat": -8.2192, "lon": 114.3691}
    ),
    "GET /api/v1/inbox": lambda t, r: Call("GET", "/api/v1/inbox"),
    "POST /api/v1/inbox/{inbox_id}/reprocess": lambda t, r: Call(
        "POST", f"/api/v1/inbox/{t.inbox_id}/reprocess"
    ),
    "GET /api/v1/audit": lambda t, r: Call("GET", "/api/v1/audit"),
    "GET /api/v1/reports/deliveries": lambda t, r: Call(
        "GET", "/api/v1/reports/deliveries", params={"from": "2026-01", "to": "2026-02"}
    ),
    "GET /api/v1/reports/deliveries.csv": lambda t, r: Call(
        "GET", "/api/v1/reports/deliveries.csv", params={"from": "2026-01", "to": "2026-02"}
    ),
    "POST /webhooks/couriers/{courier}": lambda t, r: _gosend(r, GOSEND_WEBHOOK_TOKEN),
    "POST /webhooks/messages/{gateway}": lambda t, r: _twilio(r),
    "GET /webhooks/messages/{gateway}": lambda t, r: _whatsapp_handshake(r),
    "GET /t/{token}": lambda t, r: Call("GET", f"/t/{TRACKING_TOKEN}"),
    "POST /t/{token}/location": lambda t, r: Call(
        "POST", f"/t/{TRACKING_TOKEN}/location", form={"desa": "3510152004"}
    ),
    "POST /t/{token}/received": lambda t, r: Call(
        "POST", f"/t/{TRACKING_TOKEN}/received", form={"lang": "id"}
    ),
    "GET /console": lambda t, r: Call("GET", "/console"),
    "GET /console/orders/{order_id}": lambda t, r: Call("GET", f"/console/orders/{t.order_id}"),
    "GET /console/orders/{order_id}/live": lambda t, r: Call("GET", f"/console/orders/{t.order_id}/live"),
    "POST /console/orders/{order_id}/location": lambda t, r: Call(
        "POST", f"/console/orders/{t.order_id}/location", form={"lat": "-8.2192", "lon": "114.3691"}
    ),
    "GET /console/needs-address": lambda t, r: Call("GET", "/console/needs-address"),
    "POST /console/orders/{order_id}/courier": lambda t, r: Call(
        "POST",
        f"/console/orders/{t.order_id}/courier",
        form={"account_id": str(t.account_id), "reason": "matrix"},
    ),
    "POST /console/orders/{order_id}/rebook": lambda t, r: Call(
        "POST", f"/console/orders/{t.order_id}/rebook", form={"reason": "matrix"}
    ),
    "POST /console/orders/{order_id}/acknowledge": lambda t, r: Call(
        "POST", f"/console/orders/{t.order_id}/acknowledge", form={"note": "matrix"}
    ),
    "POST /console/orders/{order_id}/release": lambda t, r: Call(
        "POST", f"/console/orders/{t.order_id}/release", form={}
    ),
    "POST /console/orders/{order_id}/cancel": lambda t, r: Call(
        "POST", f"/console/orders/{t.order_id}/cancel", form={"reason": "security matrix"}
    ),
    "POST /console/orders/{order_id}/phone": lambda t, r: Call(
        "POST", f"/console/orders/{t.order_id}/phone", form={"phone": "0812-3456-0199"}
    ),
    "POST /console/orders/{order_id}/override-eligibility": lambda t, r: Call(
        "POST",
        f"/console/orders/{t.order_id}/override-eligibility",
        form={"justification": "security matrix: a well-formed justification"},
    ),
    "POST /console/orders/{order_id}/messaging": lambda t, r: Call(
        "POST", f"/console/orders/{t.order_id}/messaging", form={"channel": "sms", "allowed": "false"}
    ),
    "GET /console/inbox": lambda t, r: Call("GET", "/console/inbox"),
    "POST /console/inbox/{inbox_id}/reprocess": lambda t, r: Call(
        "POST", f"/console/inbox/{t.inbox_id}/reprocess", form={}
    ),
    "GET /console/audit": lambda t, r: Call("GET", "/console/audit"),
    "GET /console/reports": lambda t, r: Call("GET", "/console/reports"),
    "GET /console/admin/users": lambda t, r: Call("GET", "/console/admin/users"),
    "POST /console/admin/users": lambda t, r: Call(
        "POST",
        "/console/admin/users",
        form={
            "username": f"{t.code}-new-{next(_serial)}",
            "full_name": "Matrix",
            "role": "viewer",
            "password": "long-enough-password-123",
        },
    ),
    "POST /console/admin/users/{user_id}/active": lambda t, r: Call(
        "POST", f"/console/admin/users/{t.spare_user_id}/active", form={"active": "true"}
    ),
    "POST /console/admin/users/{user_id}/password": lambda t, r: Call(
        "POST",
        f"/console/admin/users/{t.spare_user_id}/password",
        form={"password": f"{t.code}-spare-password-1"},
    ),
    "GET /console/admin/couriers": lambda t, r: Call("GET", "/console/admin/couriers"),
    "POST /console/admin/couriers": lambda t, r: Call(
        "POST",
        "/console/admin/couriers",
        form={
            "courier": "gosend",
            "label": f"matrix-{next(_serial)}",
            "priority": "50",
            "settings": json.dumps({"client_id": "matrix", "pass_key": "matrix-pass-key"}),
        },
    ),
    "POST /console/admin/couriers/{account_id}/enabled": lambda t, r: Call(
        "POST", f"/console/admin/couriers/{t.account_id}/enabled", form={"enabled": "true"}
    ),
    "GET /console/admin/settings": lambda t, r: Call("GET", "/console/admin/settings"),
    "POST /console/admin/settings/{kind}": lambda t, r: Call(
        "POST", "/console/admin/settings/dispatch", form={"value": "{}"}
    ),
    "GET /console/admin/api-keys": lambda t, r: Call("GET", "/console/admin/api-keys"),
    "POST /console/admin/api-keys": lambda t, r: Call(
        "POST", "/console/admin/api-keys", form={"name": "matrix"}
    ),
    "POST /console/admin/api-keys/{key_id}/revoke": lambda t, r: Call(
        "POST", f"/console/admin/api-keys/{t.spare_key_id}/revoke", form={}
    ),
    "GET /console/admin/deny-list": lambda t, r: Call("GET", "/console/admin/deny-list"),
    "POST /console/admin/deny-list": lambda t, r: Call(
        "POST",
        "/console/admin/deny-list",
        form={"field": "denied_kfa_codes", "entry": "1", "category": "narcotic"},
    ),
    "GET /healthz": lambda t, r: Call("GET", "/healthz"),
    "GET /readyz": lambda t, r: Call("GET", "/readyz"),
    "GET /metrics": lambda t, r: Call("GET", "/metrics"),
}

NO_CSRF: Final = "0" * 64


def send(client: TestClient, session: Session, credentials: Tenant, role: str, call: Call) -> httpx.Response:
    """The call as ``role`` of the ``credentials`` hospital: staff by session (a cookie and the form's CSRF
    token on the console, a bearer token on the JSON API), the SIMRS by its API key, a courier by the token
    it was given (``Authorization`` as GoSend sends it) unless the call carries a sender's own credentials."""
    headers = dict(call.headers)
    form = dict(call.form) if call.form is not None else None
    csrf = NO_CSRF
    if role in STAFF:
        token = fresh_session(session, credentials.users[role])
        if call.path.startswith("/console"):
            headers["Cookie"] = f"{SESSION_COOKIE}={token}"
            csrf = csrf_for(token)
        else:
            headers["Authorization"] = f"Bearer {token}"
    elif role == API_KEY:
        headers["Authorization"] = f"Bearer {credentials.api_key}"
    elif role == SENDER and not call.sender_credentials:
        headers["Authorization"] = GOSEND_WEBHOOK_TOKEN
    elif role == SCRAPER:
        headers["Authorization"] = f"Bearer {METRICS_TOKEN}"
    if form is not None and (call.path.startswith("/console") and call.path != "/console/login"):
        form["csrf"] = csrf
    return client.request(
        call.method,
        call.path,
        json=call.json,
        data=form,
        content=call.content,
        files=call.files,
        headers=headers,
        params=call.params,
    )


# Routes whose answer is the login page for everyone: there it is the route's work, not a refusal.
TO_LOGIN_FOR_ALL: Final = frozenset({"POST /console/logout"})


def refused(route: str, response: httpx.Response) -> bool:
    """Refused for who the caller is: 401/403, or a console page sending the caller to log in."""
    if response.status_code in (401, 403):
        return True
    to_login = (
        response.status_code in (302, 303, 307) and response.headers.get("location") == "/console/login"
    )
    return to_login and route not in TO_LOGIN_FOR_ALL


def route_keys(app: Any) -> list[str]:
    """Every route of the app as "METHOD path", one per method, from the app itself (included routers too)."""
    from fastapi.routing import iter_route_contexts

    keys = []
    for route in iter_route_contexts(app.routes):
        for method in sorted(route.methods or ()):
            keys.append(f"{method} {route.path}")
    return keys
