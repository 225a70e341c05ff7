"""Schemathesis over the app's own OpenAPI, in process: no 5xx, and every answer as the schema declares it.

One hospital is seeded with an API key (intake routes), an admin (every staff route; admins may do what any
role may) and one order (id 1, which the generated ids often hit), so the generated requests get past
authentication and reach the handlers with something to act on.

The schema is loaded eagerly from ``create_app().openapi()`` rather than through
``schemathesis.pytest.from_fixture``: that loader sets ``Function._nodeid``, which pytest 9.2 no longer has.
Building the schema needs no database; the requests, made per test, run against the fixtures' database.

No stateful run: the schema has no links, declared or inferable (``schema.as_state_machine()`` has start rules
only). Orders are created by intake, whose answer is an OperationOutcome or an HL7 ACK with no id field and
no ``Location``, and no other operation creates a resource that a later one reads.

No operation is excluded: intake and webhooks need no live server, and tracking links answer 404 for the
tokens generated (which is declared).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from sqlmodel import Session

from dispatch.app import create_app
from dispatch.demo_data import PATIENTS, demo_bundle
from dispatch.hospitals.models import Hospital
from dispatch.intake import service as intake_service
from hospital_adapter.fhir.parser import parse_bundle

app = create_app()
schema = schemathesis.openapi.from_dict(app.openapi())
schema.app = app


@schemathesis.serializer("application/hl7-v2", "x-application/hl7-v2+er7")
def _hl7_er7(_ctx: schemathesis.SerializationContext, value: Any) -> bytes:
    """ER7 is text; schemathesis only knows the ``text/*`` spelling of that."""
    return value if isinstance(value, bytes) else str(value).encode()


# Intake routes authenticate the hospital's system by its API key; every other route takes a staff token.
INTAKE_PATHS = ("/fhir/", "/hl7v2")


@pytest.fixture
def authorization(
    db: None,
    session: Session,
    hospital: Hospital,
    api_key: str,
    staff_maker: Callable[[Session, Hospital, str, str], str],
) -> Callable[[str], dict[str, str]]:
    staff_token = staff_maker(session, hospital, "admin-fuzz", "admin")
    intake_service.intake(
        "fhir", parse_bundle, json.dumps(demo_bundle(PATIENTS[0], "RX-FUZZ-1")).encode(), {}, api_key
    )

    def for_path(path: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key if path.startswith(INTAKE_PATHS) else staff_token}"}

    return for_path


# A schema-valid request may still be one the service must refuse: a FHIR Bundle whose references do not
# resolve, a CSV that is a PNG, an order id of no order, a webhook nobody signed. The schema cannot say
# which, so "valid data must be accepted" would only restate the business rules as failures; every other
# default check runs (server errors, status codes, content types, body schemas, headers, negative data).
EXCLUDED_CHECKS = [schemathesis.checks.positive_data_acceptance]


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: Any, authorization: Callable[[str], dict[str, str]]) -> None:
    case.call_and_validate(headers=authorization(case.path), excluded_checks=EXCLUDED_CHECKS)
