"""Operations endpoints: liveness, readiness (the database and the broker) and Prometheus metrics."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from dispatch.core.celery_app import celery_app
from dispatch.core.db import get_engine
from dispatch.core.logging import log
from dispatch.core.metrics import build_registry
from dispatch.core.problems import Problem, problem_response, problem_responses
from dispatch.core.settings import settings

# Readiness must answer before a load balancer's probe gives up (Kubernetes' default is 1 s per try, three
# tries), so an unreachable broker is asked once, briefly, and never retried here.
_BROKER_TIMEOUT_SECONDS = 2.0


def _database_down() -> str | None:
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        return f"database: {type(exc).__name__}: {str(exc)[:200]}"
    return None


def _broker_down() -> str | None:
    try:
        with celery_app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=0, timeout=_BROKER_TIMEOUT_SECONDS)
    except Exception as exc:
        return f"broker: {type(exc).__name__}: {str(exc)[:200]}"
    return None


def _scraper(authorization: Annotated[str | None, Header()] = None) -> None:
    """The Prometheus scraper, by the bearer token it was given (``GANCANG_METRICS_TOKEN``)."""
    token = settings.metrics_token
    if token is None:
        if settings.env == "production":
            raise Problem(
                403, "Metrics are off", "set GANCANG_METRICS_TOKEN and give Prometheus the same bearer token"
            )
        return
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(given.encode(), token.encode()):
        raise Problem(
            401,
            "Metrics need the scraper's token",
            "send Authorization: Bearer <GANCANG_METRICS_TOKEN>",
            headers={"WWW-Authenticate": "Bearer"},
        )


def ops_router() -> APIRouter:
    router = APIRouter(tags=["ops"])
    registry = build_registry()

    @router.get("/healthz", operation_id="ops-healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", operation_id="ops-readyz", response_model=None, responses=problem_responses(503))
    def readyz() -> JSONResponse | dict[str, str]:
        """Both are checked every time, so one answer names everything that is down."""
        problems = {
            name: problem
            for name, problem in (("database", _database_down()), ("broker", _broker_down()))
            if problem is not None
        }
        if not problems:
            return {"status": "ready"}
        log.warning("readyz.not_ready", down=sorted(problems))
        return problem_response(
            503,
            f"Not ready: {' and '.join(problems)} unreachable",
            "; ".join(problems.values()),
            down=list(problems),
        )

    @router.get(
        "/metrics",
        operation_id="ops-metrics",
        response_class=PlainTextResponse,
        dependencies=[Depends(_scraper)],
        responses=problem_responses(401, 403),
    )
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
