"""Provider webhooks for patient messages: delivery reports and replies (POST), Meta's handshake (GET).

The raw bytes are what gets archived and authenticated. Providers sign the URL they called as well
(Twilio), and behind a proxy the request's own URL is not that one, so the URL checked is the public base
URL the providers were given plus the path and query received.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from dispatch.core.problems import problem_response
from dispatch.core.settings import settings
from dispatch.notify import receipts

router = APIRouter(tags=["webhooks"])


@router.post(
    "/webhooks/messages/{gateway}",
    operation_id="webhooks-receive-message-report",
    responses={400: {}, 401: {}, 404: {}},
)
async def receive_message_report(gateway: str, request: Request) -> Response:
    body = await request.body()
    url = settings.public_base_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    result = await run_in_threadpool(receipts.receive, gateway, url, dict(request.headers), body)
    if result.status_code >= 400:
        return problem_response(result.status_code, result.title, result.detail)
    return JSONResponse({"message": "ok", "applied": result.applied})


@router.get(
    "/webhooks/messages/{gateway}",
    operation_id="webhooks-verify-message-subscription",
    response_class=PlainTextResponse,
    responses={403: {}},
)
async def verify_message_subscription(gateway: str, request: Request) -> Response:
    answer = await run_in_threadpool(receipts.answer_subscription, gateway, dict(request.query_params))
    if answer is None:
        return problem_response(403, "Verification refused", "Unknown mode or verify token.")
    return PlainTextResponse(answer)
