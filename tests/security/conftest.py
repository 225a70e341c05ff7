"""Two hospitals with a user of every role and a record behind every id; message gateways built afresh."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from security_support import GOSEND_WEBHOOK_TOKEN, METRICS_TOKEN, Tenant, make_tenant
from sqlmodel import Session

from dispatch.core.settings import settings
from dispatch.demo_data import HOSPITAL
from dispatch.hospitals.models import HospitalCreate
from dispatch.notify import channels

SECOND_HOSPITAL = HospitalCreate(
    code="RSUDGTG",
    name="RSUD Genteng",
    address="Jl. Hasanudin No. 98, Genteng Kulon, Kec. Genteng, Kab. Banyuwangi",
    lat=-8.3686,
    lon=114.1524,
    kabupaten_code="35.10",
    phone="0333-845-839",
)


@pytest.fixture(autouse=True)
def _fresh_gateways() -> Iterator[None]:
    """Gateways are cached by settings; each test's hospitals get theirs built from their own settings."""
    channels._parsed.cache_clear()
    channels._built.cache_clear()
    yield
    channels._parsed.cache_clear()
    channels._built.cache_clear()


@pytest.fixture
def matrix_client(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    """The app's client, not following redirects: a redirect to the login page is the answer to look at.
    Prometheus is given its token, as production must."""
    monkeypatch.setattr(settings, "metrics_token", METRICS_TOKEN)
    return TestClient(client.app, follow_redirects=False)


@pytest.fixture
def tenant_a(session: Session, client: TestClient) -> Tenant:
    return make_tenant(session, client, HOSPITAL, patient=3, webhook_token=GOSEND_WEBHOOK_TOKEN)


@pytest.fixture
def tenant_b(session: Session, client: TestClient, tenant_a: Tenant) -> Tenant:
    return make_tenant(session, client, SECOND_HOSPITAL, patient=1, webhook_token="gosend-token-of-genteng")
