"""Fixtures for the message gateways: the installed provider gateways with clean caches, and a released order
whose "released" SMS waits in the outbox."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from celery import Celery
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dispatch.core.db import new_session
from dispatch.demo_data import PATIENTS, demo_bundle
from dispatch.hospitals.models import Hospital
from dispatch.notify import channels
from dispatch.orders.models import Order, Prescription


@pytest.fixture
def provider_gateways() -> Iterator[None]:
    """The installed gateways (entry points in ``pyproject.toml``), with the caches of built gateways
    emptied around the test so one test's settings never serve another's."""
    channels._parsed.cache_clear()
    channels._built.cache_clear()
    yield
    channels._parsed.cache_clear()
    channels._built.cache_clear()


ReleasedOrder = Callable[..., int]


@pytest.fixture
def release_order(client: TestClient, api_key: str, pharmacist_token: str, celery: Celery) -> ReleasedOrder:
    """Ingest a demo prescription over FHIR and release it over the staff API; returns the order id."""
    numbers = iter(range(1, 1000))

    def release() -> int:
        rx_number = f"RX-MSG-{next(numbers):04d}"
        response = client.post(
            "/fhir/r4/Bundle",
            content=json.dumps(demo_bundle(PATIENTS[0], rx_number)),
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/fhir+json"},
        )
        assert response.status_code == 201, response.text
        with new_session() as session:
            order = session.exec(
                select(Order).join(Prescription).where(Prescription.prescription_number == rx_number)
            ).one()
        released = client.post(
            f"/api/v1/orders/{order.id}/release", headers={"Authorization": f"Bearer {pharmacist_token}"}
        )
        assert released.status_code == 200, released.text
        assert order.id is not None
        return order.id

    return release


@pytest.fixture
def configure_messaging(session: Session, hospital: Hospital) -> Callable[[dict[str, object]], None]:
    def configure(settings: dict[str, object]) -> None:
        stored = session.get(Hospital, hospital.id)
        assert stored is not None
        stored.messaging_settings = settings
        session.commit()

    return configure
