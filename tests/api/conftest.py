"""Fixtures for the HTTP-level tests: FHIR posting, a second hospital, fresh-session DB reads."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session, SQLModel, select

from dispatch.demo_data import PATIENTS, demo_bundle
from dispatch.hospitals.models import Hospital, HospitalCreate

FHIR_JSON = "application/fhir+json"

SECOND_HOSPITAL = HospitalCreate(
    code="RSUDGTG",
    name="RSUD Genteng",
    address="Jl. Hasanudin No. 98, Genteng Kulon, Kec. Genteng, Kab. Banyuwangi",
    lat=-8.3686,
    lon=114.1524,
    kabupaten_code="35.10",
    phone="0333-845-839",
)


def rows(model: type[SQLModel], *where: Any) -> list[Any]:
    """Every row of ``model`` matching ``where``, read in a fresh session (never a cached object)."""
    from dispatch.core.db import new_session

    with new_session() as db_session:
        query = select(model)
        for clause in where:
            query = query.where(clause)
        return list(db_session.exec(query.order_by(model.id)).all())  # type: ignore[attr-defined]


def sql(statement: str, **params: Any) -> list[Any]:
    """Raw SQL in its own committed transaction, for checks and for setting up states no endpoint reaches."""
    from dispatch.core.db import get_engine

    with get_engine().begin() as connection:
        result = connection.execute(text(statement), params)
        return list(result.all()) if result.returns_rows else []


@pytest.fixture
def fetch() -> Callable[..., list[Any]]:
    return rows


@pytest.fixture
def run_sql() -> Callable[..., list[Any]]:
    return sql


@dataclass
class FhirPoster:
    client: TestClient
    api_key: str

    def post(
        self, path: str, body: dict[str, Any] | bytes | str, *, api_key: str | None = None
    ) -> httpx.Response:
        """POST to /fhir/r4/{path} with this hospital's key, or with ``api_key`` when given."""
        content = json.dumps(body).encode() if isinstance(body, dict) else body
        headers = {"Content-Type": FHIR_JSON, "Authorization": f"Bearer {api_key or self.api_key}"}
        return self.client.post(f"/fhir/r4/{path}", content=content, headers=headers)

    def bundle(self, body: dict[str, Any] | bytes | str, **kwargs: Any) -> httpx.Response:
        return self.post("Bundle", body, **kwargs)

    def medication_request(self, body: dict[str, Any] | bytes | str, **kwargs: Any) -> httpx.Response:
        return self.post("MedicationRequest", body, **kwargs)


@pytest.fixture
def fhir(client: TestClient, api_key: str) -> FhirPoster:
    return FhirPoster(client, api_key)


@pytest.fixture
def create_order(fhir: FhirPoster, fetch: Callable[..., list[Any]]) -> Callable[..., int]:
    """Posts a demo bundle with the fixture hospital's key and returns the new order's id."""
    from dispatch.orders.models import Order, Prescription

    def create(rx_number: str, patient_index: int = 0, *, api_key: str | None = None) -> int:
        kwargs = {} if api_key is None else {"api_key": api_key}
        response = fhir.bundle(demo_bundle(PATIENTS[patient_index], rx_number), **kwargs)
        assert response.status_code == 201, response.text
        [prescription] = fetch(Prescription, Prescription.prescription_number == rx_number)
        [order] = fetch(Order, Order.prescription_id == prescription.id)
        return int(order.id)

    return create


@dataclass
class OtherHospital:
    hospital: Hospital
    api_key: str
    pharmacist_token: str


@pytest.fixture
def other_hospital(
    session: Session, hospital: Hospital, staff_maker: Callable[[Session, Hospital, str, str], str]
) -> OtherHospital:
    """A second tenant with its own API key and pharmacist (created after the fixture hospital)."""
    from dispatch.hospitals.service import create_api_key, create_hospital

    record = create_hospital(session, SECOND_HOSPITAL)
    _key, plaintext = create_api_key(session, record, "genteng-simrs")
    session.commit()
    token = staff_maker(session, record, "apoteker-genteng", "pharmacist")
    return OtherHospital(record, plaintext, token)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def auth() -> Callable[[str], dict[str, str]]:
    return bearer


@pytest.fixture
def accept_all_patients(session: Session, hospital: Hospital) -> None:
    """For tests of intake mechanics with example patients whose payer is not PBI (e.g. "Pegawai Swasta")."""
    hospital.eligibility_policy = {"accept_all": True}
    session.add(hospital)
    session.commit()
