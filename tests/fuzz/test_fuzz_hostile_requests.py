"""Regressions from fuzzing: text PostgreSQL cannot store (NUL) used to reach an INSERT and answer 500.

Each is now a client error in the protocol's own form, and an intake message is archived before it is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dispatch.demo_data import PATIENTS, demo_bundle
from dispatch.hospitals.models import Hospital
from dispatch.inbox.models import InboxMessage, InboxStatus


@pytest.fixture
def staff(
    session: Session, hospital: Hospital, staff_maker: Callable[[Session, Hospital, str, str], str]
) -> dict[str, str]:
    return {"Authorization": f"Bearer {staff_maker(session, hospital, 'admin-hostile', 'admin')}"}


def test_nul_in_a_fhir_field_is_an_operation_outcome_and_the_raw_is_kept(
    client: TestClient, api_key: str, session: Session
) -> None:
    bundle = demo_bundle(PATIENTS[0], "RX-NUL-1")
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["name"][0]["text"] = "Sri\x00Wati"
    body = json.dumps(bundle).encode()
    response = client.post(
        "/fhir/r4/Bundle",
        content=body,
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/fhir+json"},
    )
    assert response.status_code == 422
    assert response.json()["resourceType"] == "OperationOutcome"
    [message] = session.exec(select(InboxMessage)).all()
    assert message.body == body and message.status == InboxStatus.REJECTED


def test_nul_in_an_hl7_field_is_an_ae_ack(client: TestClient, api_key: str) -> None:
    message = (
        b"MSH|^~\\&|SIMRS|RSUD|GANCANG||20261129080000||RDE^O11^RDE_O11|MSG-NUL|P|2.5\r"
        b"PID|1||RM-001^^^^MR||Wa\x00ti^Sri||||||Jl. Kawah Ijen 5^Desa Kemiren^Banyuwangi||0812-3456-7890\r"
        b"ORC|NW|RX-0001\rRXE||KFA93000123^Paracetamol 500 mg^KFA|1||TAB|TAB^Tablet|||||10|TAB\rRXR|PO^Oral"
    )
    response = client.post(
        "/hl7v2",
        content=message,
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/hl7-v2"},
    )
    assert response.status_code == 400
    assert "MSA|AE|MSG-NUL|" in response.text


REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("post", "/api/v1/auth/login", {"json": {"username": "a\x00", "password": "b"}}),
    ("post", "/api/v1/orders/1/cancel", {"json": {"reason": "a\x00"}}),
    ("post", "/webhooks/couriers/%00", {"content": b"{}"}),
    ("post", "/webhooks/messages/%00", {"content": b"{}"}),
    (
        "post",
        "/api/v1/intake/csv?filename=a%00b",
        {"content": b"no_resep\n1\n", "headers": {"Content-Type": "text/csv"}},
    ),
    ("get", "/api/v1/orders/2147483648", {}),
    ("get", "/api/v1/orders?offset=9223372036854775808", {}),
]


@pytest.mark.parametrize(("method", "url", "kwargs"), REQUESTS, ids=[f"{m} {u}" for m, u, _ in REQUESTS])
def test_values_the_database_refuses_are_problem_json(
    client: TestClient, api_key: str, staff: dict[str, str], method: str, url: str, kwargs: dict[str, Any]
) -> None:
    client.post(
        "/fhir/r4/Bundle",
        content=json.dumps(demo_bundle(PATIENTS[0], "RX-1")).encode(),
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/fhir+json"},
    )
    headers = {**staff, **kwargs.pop("headers", {})}
    response = getattr(client, method)(url, headers=headers, **kwargs)
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"] == "application/problem+json"
