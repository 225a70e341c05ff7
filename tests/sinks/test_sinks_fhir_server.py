"""FhirServerClient against respx: SATUSEHAT OAuth2 token flow, caching, 401 refresh, error mapping."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from pydantic import ValidationError

from hospital_adapter.sinks.errors import SinkError
from hospital_adapter.sinks.fhir_server import FhirServerClient, FhirServerSettings

HOST = "https://api-satusehat-stg.dto.kemkes.go.id"
OAUTH = f"{HOST}/oauth2/v1"
FHIR = f"{HOST}/fhir-r4/v1"
CLIENT_SECRET = "s3cr3t-client-secret-value"
DISPENSE = {
    "resourceType": "MedicationDispense",
    "status": "completed",
    "medicationCodeableConcept": {"text": "Paracetamol 500 mg Tablet"},
    "subject": {"reference": "Patient/P02478375538"},
}


def token_response(token: str, expires_in: str | int = "14399") -> httpx.Response:
    """The shape SATUSEHAT answers with (expires_in comes as a string)."""
    return httpx.Response(
        200,
        json={
            "refresh_token_expires_in": "0",
            "api_product_list": "[api-satusehat-stg]",
            "organization_name": "ihs-prod-1",
            "token_type": "BearerToken",
            "issued_at": "1700000000000",
            "client_id": "gancang-client",
            "access_token": token,
            "application_name": "gancang",
            "expires_in": expires_in,
            "status": "approved",
        },
    )


def created(resource_id: str = "b6f2c1de-0001") -> httpx.Response:
    return httpx.Response(201, json={**DISPENSE, "id": resource_id, "meta": {"versionId": "1"}})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=True, using=None) as mock:
        yield mock


@pytest.fixture
def clock() -> Clock:
    return Clock()


def oauth_settings() -> FhirServerSettings:
    return FhirServerSettings(
        base_url=FHIR + "/",
        auth="oauth2_client_credentials",
        oauth_url=OAUTH,
        client_id="gancang-client",
        client_secret=CLIENT_SECRET,
        timeout=10,
    )


@pytest.fixture
def client(router, clock) -> Iterator[FhirServerClient]:
    with FhirServerClient(oauth_settings(), httpx.MockTransport(router.handler), clock=clock) as fhir:
        yield fhir


def test_token_request_exactly_as_satusehat_and_post(client, router):
    token = router.post(f"{OAUTH}/accesstoken", params={"grant_type": "client_credentials"}).mock(
        return_value=token_response("tok-1")
    )
    post = router.post(f"{FHIR}/MedicationDispense").mock(return_value=created("b6f2c1de-0001"))

    assert client.post_resource(DISPENSE) == "b6f2c1de-0001"

    request = token.calls.last.request
    assert str(request.url) == f"{OAUTH}/accesstoken?grant_type=client_credentials"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.content.decode()) == {
        "client_id": ["gancang-client"],
        "client_secret": [CLIENT_SECRET],
    }
    assert "authorization" not in request.headers
    sent = post.calls.last.request
    assert sent.headers["authorization"] == "Bearer tok-1"
    assert sent.headers["content-type"] == "application/json"
    assert json.loads(sent.content) == DISPENSE


def test_token_cached_across_posts_then_refreshed_after_expiry(client, router, clock):
    token = router.post(f"{OAUTH}/accesstoken").mock(
        side_effect=[token_response("tok-1", 3600), token_response("tok-2", 3600)]
    )
    post = router.post(f"{FHIR}/MedicationDispense").mock(
        side_effect=[created("a"), created("b"), created("c")]
    )

    assert client.post_resource(DISPENSE) == "a"
    clock.now += 3600 - 61  # still inside expires_in minus the 60 s margin
    assert client.post_resource(DISPENSE) == "b"
    assert token.call_count == 1
    clock.now += 2  # now inside the margin: fetch a fresh token before the old one dies
    assert client.post_resource(DISPENSE) == "c"

    assert token.call_count == 2
    assert [c.request.headers["authorization"] for c in post.calls] == ["Bearer tok-1"] * 2 + ["Bearer tok-2"]


def test_401_refreshes_token_once_and_retries(client, router):
    token = router.post(f"{OAUTH}/accesstoken").mock(
        side_effect=[token_response("old"), token_response("new")]
    )
    post = router.post(f"{FHIR}/MedicationDispense").mock(
        side_effect=[httpx.Response(401, json={"fault": "Invalid access token"}), created("x")]
    )

    assert client.post_resource(DISPENSE) == "x"

    assert token.call_count == 2
    assert [c.request.headers["authorization"] for c in post.calls] == ["Bearer old", "Bearer new"]


def test_second_401_is_permanent(client, router):
    router.post(f"{OAUTH}/accesstoken").mock(side_effect=[token_response("old"), token_response("new")])
    post = router.post(f"{FHIR}/MedicationDispense").respond(401, text="Unauthorized")

    with pytest.raises(SinkError) as caught:
        client.post_resource(DISPENSE)

    assert post.call_count == 2
    assert (caught.value.status_code, caught.value.retryable) == (401, False)


def test_operation_outcome_400_is_permanent_with_diagnostics(client, router):
    router.post(f"{OAUTH}/accesstoken").mock(return_value=token_response("tok"))
    router.post(f"{FHIR}/MedicationDispense").respond(
        400,
        json={
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "error",
                    "code": "required",
                    "details": {"text": "performer.actor is required"},
                    "expression": ["MedicationDispense.performer[0].actor"],
                },
                {
                    "severity": "error",
                    "code": "value",
                    "diagnostics": "whenHandedOver tidak boleh < 2014-06-03",
                },
                {"severity": "warning", "code": "processing"},
            ],
        },
        headers={"content-type": "application/fhir+json"},
    )

    with pytest.raises(SinkError) as caught:
        client.post_resource(DISPENSE)

    error = caught.value
    assert (error.status_code, error.retryable) == (400, False)
    assert error.messages == [
        "error: performer.actor is required",
        "error: whenHandedOver tidak boleh < 2014-06-03",
        "warning: processing",
    ]


def test_503_text_plain_gateway_timeout_is_retryable(client, router):
    router.post(f"{OAUTH}/accesstoken").mock(return_value=token_response("tok"))
    router.post(f"{FHIR}/MedicationDispense").respond(
        503, text="Gateway Timeout", headers={"content-type": "text/plain"}
    )

    with pytest.raises(SinkError) as caught:
        client.post_resource(DISPENSE)

    assert (caught.value.status_code, caught.value.retryable) == (503, True)
    assert caught.value.messages == ["Gateway Timeout"]


def test_429_is_retryable_with_retry_after(client, router):
    router.post(f"{OAUTH}/accesstoken").mock(return_value=token_response("tok"))
    router.post(f"{FHIR}/MedicationDispense").respond(429, headers={"retry-after": "30"})

    with pytest.raises(SinkError) as caught:
        client.post_resource(DISPENSE)

    assert (caught.value.retryable, caught.value.retry_after) == (True, 30.0)
    assert caught.value.messages == ["Too Many Requests"]


@pytest.mark.parametrize("exception", [httpx.ReadTimeout("read timed out"), httpx.ConnectError("refused")])
def test_timeouts_and_connection_errors_are_retryable(client, router, exception):
    router.post(f"{OAUTH}/accesstoken").mock(return_value=token_response("tok"))
    router.post(f"{FHIR}/MedicationDispense").mock(side_effect=exception)

    with pytest.raises(SinkError) as caught:
        client.post_resource(DISPENSE)

    assert (caught.value.status_code, caught.value.retryable) == (None, True)


def test_token_endpoint_rejection_is_permanent(client, router):
    router.post(f"{OAUTH}/accesstoken").respond(
        401, json={"fault": {"faultstring": "Invalid client credentials"}}
    )

    with pytest.raises(SinkError) as caught:
        client.post_resource(DISPENSE)

    assert (caught.value.status_code, caught.value.retryable) == (401, False)
    assert caught.value.messages[0] == "access token request failed"


def test_token_endpoint_timeout_is_retryable(client, router):
    router.post(f"{OAUTH}/accesstoken").mock(side_effect=httpx.ConnectTimeout("slow"))

    with pytest.raises(SinkError) as caught:
        client.post_resource(DISPENSE)

    assert caught.value.retryable is True


def test_bearer_mode_sends_static_token_and_reads_location(router):
    post = router.post(f"{FHIR}/MedicationDispense").respond(
        201, headers={"location": f"{FHIR}/MedicationDispense/md-77/_history/1"}
    )
    settings = FhirServerSettings(base_url=FHIR, auth="bearer", token="hospital-token")

    with FhirServerClient(settings, httpx.MockTransport(router.handler)) as client:
        assert client.post_resource(DISPENSE) == "md-77"

    assert post.calls.last.request.headers["authorization"] == "Bearer hospital-token"


def test_none_mode_sends_no_authorization(router):
    post = router.post(f"{FHIR}/MedicationDispense").mock(return_value=created("n1"))

    with FhirServerClient(FhirServerSettings(base_url=FHIR), httpx.MockTransport(router.handler)) as client:
        assert client.post_resource(DISPENSE) == "n1"

    assert "authorization" not in post.calls.last.request.headers


def test_secrets_never_logged_or_in_errors(client, router, caplog):
    caplog.set_level(logging.DEBUG)
    router.post(f"{OAUTH}/accesstoken").mock(return_value=token_response("tok-very-secret"))
    router.post(f"{FHIR}/MedicationDispense").mock(
        side_effect=[created("ok"), httpx.Response(500, text="boom")]
    )

    client.post_resource(DISPENSE)
    with pytest.raises(SinkError) as caught:
        client.post_resource(DISPENSE)

    for text in (caplog.text, str(caught.value), repr(client.settings)):
        assert CLIENT_SECRET not in text
        assert "tok-very-secret" not in text


@pytest.mark.parametrize(
    "values",
    [
        {"auth": "bearer"},
        {"auth": "oauth2_client_credentials", "oauth_url": OAUTH, "client_id": "c"},
        {"auth": "oauth2_client_credentials", "client_id": "c", "client_secret": "s"},
        {"timeout": 0},
    ],
)
def test_incomplete_settings_rejected(values):
    with pytest.raises(ValidationError):
        FhirServerSettings(base_url=FHIR, **values)


def test_resource_without_type_rejected(client):
    with pytest.raises(ValueError, match="resourceType"):
        client.post_resource({"status": "completed"})


def test_settings_errors_do_not_echo_secrets():
    with pytest.raises(ValidationError) as caught:
        FhirServerSettings(
            base_url=FHIR, auth="oauth2_client_credentials", client_secret=CLIENT_SECRET, timeout=-1
        )
    assert CLIENT_SECRET not in str(caught.value)


def test_operation_outcome_on_create_uses_location(router):
    router.post(f"{FHIR}/MedicationDispense").respond(
        201,
        json={
            "resourceType": "OperationOutcome",
            "id": "oo-1",
            "issue": [{"severity": "information", "code": "informational"}],
        },
        headers={"location": f"{FHIR}/MedicationDispense/md-9"},
    )
    with FhirServerClient(FhirServerSettings(base_url=FHIR), httpx.MockTransport(router.handler)) as client:
        assert client.post_resource(DISPENSE) == "md-9"


def test_created_without_id_or_location_is_permanent(router):
    router.post(f"{FHIR}/MedicationDispense").respond(201, text="")
    client = FhirServerClient(FhirServerSettings(base_url=FHIR), httpx.MockTransport(router.handler))
    with client, pytest.raises(SinkError) as caught:
        client.post_resource(DISPENSE)
    assert caught.value.retryable is False
