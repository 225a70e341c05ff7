"""Errors for the JSON API as RFC 9457 problem details, so clients get one shape for every failure."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

PROBLEM_JSON = "application/problem+json"

log = logging.getLogger(__name__)

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
    "additionalProperties": True,
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for answers given as problem+json, so clients (and schema checks) know
    that a 401 or 409 has this body and content type rather than FastAPI's default JSON."""
    return {
        status: {
            "description": f"{HTTPStatus(status).phrase} (problem+json)",
            "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}},
        }
        for status in statuses
    }


class Problem(Exception):
    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ):
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


def problem_response(status: int, title: str, detail: str = "", **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


async def handle_problem(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    response = problem_response(exc.status, exc.title, exc.detail, **exc.extra)
    response.headers.update(exc.headers)
    return response


async def handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    response = problem_response(exc.status_code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    if exc.status_code == 405:
        response.headers["Allow"] = ", ".join(_allowed_methods(request))
    return response


def _allowed_methods(request: Request) -> list[str]:
    """Every method the path takes: Starlette's 405 names only the first route matching the path, which is
    wrong when a path has one route per method (GET and POST /webhooks/messages/{gateway})."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)


async def handle_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
    return problem_response(
        422, "Invalid request", "The request did not match the expected shape.", errors=errors
    )


async def handle_data_error(request: Request, exc: Exception) -> JSONResponse:
    """A value PostgreSQL refuses to store or compare (SQLSTATE class 22: a NUL in text, a number out of
    range) came from the request: the client's error, not a 500. Logged, as a value computed here could be
    the cause; the message names the kind of value, never the value (it may be a patient's name)."""
    assert isinstance(exc, DataError)
    log.warning(
        "%s %s: database refused a value: %s", request.method, request.url.path, type(exc.orig).__name__
    )
    return problem_response(
        422,
        "Invalid request",
        "A value in the request cannot be stored: text may not contain NUL (0x00) characters and numbers "
        "must fit the field.",
    )
