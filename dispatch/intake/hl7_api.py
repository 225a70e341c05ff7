"""HL7 v2 intake over HTTP: POST /hl7v2, answered with an HL7 ACK."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from dispatch.core.http import bearer_token
from dispatch.intake import service
from dispatch.intake.throttle import intake_wait
from hospital_adapter.canonical import SourceInputError
from hospital_adapter.hl7v2.ack import ack_for_error, build_ack
from hospital_adapter.hl7v2.parser import parse_message

HL7_V2 = "application/hl7-v2"

router = APIRouter(tags=["hl7v2"])

ACK_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"description": "ACK with MSA-1 AA: the orders were created (or already received)"},
    400: {"description": "ACK with MSA-1 AE (data the hospital must fix) or AR (unreadable/unsupported)"},
    401: {"description": "ACK with MSA-1 AR: missing or wrong API key"},
    429: {
        "description": "ACK with MSA-1 AR: too many requests with this API key; send again after Retry-After"
    },
}
ACK_CONTENT = {HL7_V2: {"schema": {"type": "string"}}}
for _answer in ACK_RESPONSES.values():
    _answer["content"] = ACK_CONTENT

_ER7_SCHEMA = {
    "type": "string",
    "description": "One HL7 v2 RDE^O11 or ORM^O01 message (v2.3-2.6), ER7 pipe-delimited, segments separated "
    "by CR (LF or CRLF accepted); MLLP framing bytes are stripped if present.",
    "example": "MSH|^~\\&|SIMRS|RSUD|GANCANG||20261129080000||RDE^O11^RDE_O11|MSG0001|P|2.5\r"
    "PID|1||RM-001^^^^MR||Wati^Sri||||||Jl. Kawah Ijen 5^Desa Kemiren, Kec. Glagah^Banyuwangi||0812-3456-7890\r"
    "ORC|NW|RX-0001\rRXE||KFA93000123^Paracetamol 500 mg^KFA|1||TAB|TAB^Tablet|||||10|TAB\rRXR|PO^Oral",
}
HL7_BODY: dict[str, object] = {
    "requestBody": {
        "required": True,
        "content": {
            HL7_V2: {"schema": _ER7_SCHEMA},
            "x-application/hl7-v2+er7": {"schema": _ER7_SCHEMA},
            "text/plain": {"schema": _ER7_SCHEMA},
        },
    }
}


def _ack_response(status: int, ack: bytes, headers: dict[str, str] | None = None) -> Response:
    return Response(ack, status_code=status, media_type=HL7_V2, headers=headers)


@router.post("/hl7v2", operation_id="hl7v2-post-message", responses=ACK_RESPONSES, openapi_extra=HL7_BODY)
async def post_hl7v2(request: Request) -> Response:
    """Take one HL7 v2 pharmacy order; the API key goes in ``Authorization: Bearer``, as for FHIR."""
    body = await request.body()
    wait = intake_wait(request)
    if wait is not None:
        text = "Too many requests with this API key; try again later"
        ack = build_ack(body, "AR", text, issues=[("throttled", text, None)])
        return _ack_response(429, ack, {"Retry-After": str(wait)})
    try:
        outcomes = await run_in_threadpool(
            service.intake, "hl7v2", parse_message, body, dict(request.headers), bearer_token(request)
        )
    except service.IntakeAuthError as exc:
        ack = build_ack(body, "AR", str(exc), issues=[("login", str(exc), None)])
        return _ack_response(401, ack, {"WWW-Authenticate": "Bearer"})
    except SourceInputError as exc:
        return _ack_response(400, ack_for_error(body, exc))
    return _ack_response(200, build_ack(body, "AA", service.describe_outcomes(outcomes)))
