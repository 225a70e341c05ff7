"""POST /webhooks/couriers/{courier}: the raw bytes are what gets authenticated and archived."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from dispatch.core.problems import problem_response
from dispatch.webhooks import service

router = APIRouter(tags=["webhooks"])


@router.post(
    "/webhooks/couriers/{courier}",
    operation_id="webhooks-receive-courier",
    responses={400: {}, 401: {}, 404: {}, 503: {"description": "Booking not recorded yet: send again"}},
)
async def receive_courier_webhook(courier: str, request: Request) -> JSONResponse:
    body = await request.body()
    result = await run_in_threadpool(service.receive, courier, dict(request.headers), body)
    if result.status_code >= 400:
        response = problem_response(result.status_code, result.title, result.detail)
        if result.status_code == 503:
            response.headers["Retry-After"] = "5"
        return response
    return JSONResponse({"message": "ok" if result.title == "Accepted" else result.title.lower()})
