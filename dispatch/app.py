"""Builds the FastAPI application: routers, error forms, health, metrics, and the start-up checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from dispatch.audit.api import router as audit_router
from dispatch.auth.api import router as auth_router
from dispatch.console.api import router as console_router
from dispatch.core.db import RequestsWithinPool, new_session
from dispatch.core.headers import SecurityHeaders
from dispatch.core.logging import configure_logging, request_log_context
from dispatch.core.ops import ops_router
from dispatch.core.problems import (
    Problem,
    handle_data_error,
    handle_http_exception,
    handle_problem,
    handle_validation_error,
    problem_responses,
)
from dispatch.hospitals.service import validate_enabled_courier_accounts
from dispatch.inbox.api import router as inbox_router
from dispatch.intake.api import router as intake_router
from dispatch.intake.csv_api import router as csv_router
from dispatch.intake.hl7_api import router as hl7_router
from dispatch.notify.api import router as messages_router
from dispatch.orders.api import router as orders_router
from dispatch.reports.api import router as reports_router
from dispatch.reports.console import router as reports_console_router
from dispatch.tracking.api import router as tracking_router
from dispatch.webhooks.api import router as webhooks_router


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    configure_logging()
    with new_session() as session:
        validate_enabled_courier_accounts(session)
    yield


def create_app() -> FastAPI:
    app = FastAPI(
        title="Gancang",
        summary="Medicine-delivery dispatch for Indonesian public hospitals",
        version="0.1.0",
        lifespan=lifespan,
        # On every route a body FastAPI cannot decode (400) or a request not of the declared shape (422) is
        # answered as problem+json (handle_http_exception, handle_validation_error).
        responses=problem_responses(400, 422),
        dependencies=[Depends(request_log_context)],
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestsWithinPool)
    app.add_exception_handler(Problem, handle_problem)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(DataError, handle_data_error)
    for router in (
        intake_router,
        hl7_router,
        csv_router,
        auth_router,
        orders_router,
        inbox_router,
        audit_router,
        webhooks_router,
        messages_router,
        tracking_router,
        console_router,
        reports_router,
        reports_console_router,
    ):
        app.include_router(router)

    app.include_router(ops_router())
    return app
