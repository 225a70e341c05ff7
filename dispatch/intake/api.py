"""FHIR R4 intake: POST /fhir/r4/Bundle and /fhir/r4/MedicationRequest, answered in OperationOutcome."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from dispatch.core.http import bearer_token
from dispatch.intake import service
from dispatch.intake.throttle import intake_wait
from hospital_adapter.canonical import PrescriptionIn, SourceInputError
from hospital_adapter.fhir.parser import parse_bundle, parse_medication_request
from hospital_adapter.fhir.subscription import parse_notification
from hospital_adapter.operation_outcome import informational_outcome, operation_outcome

FHIR_JSON = "application/fhir+json"

router = APIRouter(prefix="/fhir/r4", tags=["fhir"])


class FhirResponse(JSONResponse):
    """Named as the routes' response class so OpenAPI gives every answer as FHIR JSON, 200 included."""

    media_type = FHIR_JSON


def _fhir_response(
    status: int, body: dict[str, object], headers: dict[str, str] | None = None
) -> JSONResponse:
    return FhirResponse(body, status_code=status, headers=headers)


async def _intake(request: Request, parse: Callable[[bytes], list[PrescriptionIn]]) -> JSONResponse:
    wait = intake_wait(request)
    if wait is not None:
        outcome = operation_outcome(
            [("throttled", "Too many requests with this API key; try again later", None)]
        )
        return _fhir_response(429, outcome, {"Retry-After": str(wait)})
    body = await request.body()
    try:
        outcomes = await run_in_threadpool(
            service.intake, "fhir", parse, body, dict(request.headers), bearer_token(request)
        )
    except service.IntakeAuthError as exc:
        outcome = operation_outcome([("login", str(exc), None)])
        return _fhir_response(401, outcome, {"WWW-Authenticate": "Bearer"})
    except SourceInputError as exc:
        return _fhir_response(exc.http_status, operation_outcome(exc.issues))
    if not outcomes:
        return _fhir_response(
            200, informational_outcome("Notification received; the next pull fetches what changed")
        )
    status = 201 if any(o.created for o in outcomes) else 200
    return _fhir_response(status, informational_outcome(service.describe_outcomes(outcomes)))


_OUTCOME_CONTENT = {
    FHIR_JSON: {
        "schema": {
            "type": "object",
            "required": ["resourceType", "issue"],
            "properties": {"resourceType": {"const": "OperationOutcome"}, "issue": {"type": "array"}},
        }
    }
}
OUTCOME_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"description": description, "content": _OUTCOME_CONTENT}
    for status, description in {
        200: "Already received, or a notification without resources (informational OperationOutcome)",
        201: "Created: an informational OperationOutcome naming the orders",
        400: "Malformed JSON or not a FHIR resource (OperationOutcome)",
        401: "Missing or wrong API key (OperationOutcome)",
        422: "Valid JSON that cannot be taken (OperationOutcome)",
        429: "Too many requests with this API key; Retry-After says when to send again (OperationOutcome)",
    }.items()
}


def _fhir_body(resource_type: str) -> dict[str, object]:
    """The body is read raw (archived before parsing), so OpenAPI is told its shape here."""
    schema = {
        "type": "object",
        "required": ["resourceType"],
        "properties": {"resourceType": {"const": resource_type}},
    }
    return {
        "requestBody": {
            "required": True,
            "content": {FHIR_JSON: {"schema": schema}, "application/json": {"schema": schema}},
        }
    }


@router.post(
    "/Bundle",
    operation_id="fhir-post-bundle",
    response_class=FhirResponse,
    responses=OUTCOME_RESPONSES,
    openapi_extra=_fhir_body("Bundle"),
)
async def post_bundle(request: Request) -> JSONResponse:
    return await _intake(request, parse_bundle)


@router.post(
    "/MedicationRequest",
    operation_id="fhir-post-medication-request",
    response_class=FhirResponse,
    responses=OUTCOME_RESPONSES,
    openapi_extra=_fhir_body("MedicationRequest"),
)
async def post_medication_request(request: Request) -> JSONResponse:
    return await _intake(request, parse_medication_request)


@router.post(
    "/notify",
    operation_id="fhir-subscription-notification",
    response_class=FhirResponse,
    responses=OUTCOME_RESPONSES,
    openapi_extra={
        "requestBody": {"required": False, "content": {FHIR_JSON: {"schema": {"type": "object"}}}}
    },
)
async def subscription_notification(request: Request) -> JSONResponse:
    """R4 rest-hook endpoint: give the Subscription ``channel.header`` = ``Authorization: Bearer <API key>``.

    A notification with the resources is taken like a Bundle; an empty ping is acknowledged, and the
    hospital's FHIR pull source (if set up) fetches the changes on its next scheduled poll.
    """
    content_type = request.headers.get("content-type", "")

    def parse(raw: bytes) -> list[PrescriptionIn]:
        return parse_notification(raw, content_type).prescriptions

    return await _intake(request, parse)
