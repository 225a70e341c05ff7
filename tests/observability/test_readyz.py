"""Liveness and readiness: /readyz answers 503 problem+json naming what is down, the database or the broker,
each pointed at a port where nothing listens."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine

PROBLEM_JSON = "application/problem+json"
NOTHING_LISTENS = 1


def test_healthz_answers_without_asking_anything(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_when_the_database_and_the_redis_broker_answer(client):
    from dispatch.core.celery_app import celery_app

    assert celery_app.conf.broker_url.startswith("redis://")  # the production shape, not the embedded broker

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


@pytest.fixture
def database_down(monkeypatch):
    from dispatch.core import ops
    from dispatch.core.settings import settings

    url = settings.sqlalchemy_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{NOTHING_LISTENS}/")
    assert url != settings.sqlalchemy_url
    engine = create_engine(url)
    monkeypatch.setattr(ops, "get_engine", lambda: engine)
    yield
    engine.dispose()


@pytest.fixture
def broker_down(monkeypatch):
    from dispatch.core.celery_app import celery_app

    monkeypatch.setitem(celery_app.conf, "broker_url", f"redis://127.0.0.1:{NOTHING_LISTENS}/0")


@pytest.mark.usefixtures("database_down")
def test_not_ready_without_the_database(client):
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert (body["title"], body["status"], body["down"]) == (
        "Not ready: database unreachable",
        503,
        ["database"],
    )
    assert body["detail"].startswith("database: OperationalError")


@pytest.mark.usefixtures("broker_down")
def test_not_ready_without_the_broker(client):
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert (body["title"], body["down"]) == ("Not ready: broker unreachable", ["broker"])
    assert body["detail"].startswith("broker: OperationalError")


@pytest.mark.usefixtures("database_down", "broker_down")
def test_one_answer_names_both_when_both_are_down(client):
    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert (body["title"], body["down"]) == (
        "Not ready: database and broker unreachable",
        ["database", "broker"],
    )
