from __future__ import annotations

from typing import Any

import httpx
import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir_pull_payloads import (
    MEDICATION_ID,
    banyuwangi_patient,
    encode,
    load,
    medication,
    medication_request,
)

from hospital_adapter.canonical import SourceInputError
from hospital_adapter.fhir.subscription import Notification, check_channel_token, parse_notification
from hospital_adapter.operation_outcome import operation_outcome

FHIR_JSON = "application/fhir+json; charset=utf-8"


def entry(resource: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "fullUrl": f"https://fhir.rsud-blambangan.example/fhir/{resource['resourceType']}/{resource['id']}"
    } | {
        "resource": resource,
        **extra,
    }


def rejected(raw: bytes, content_type: str = FHIR_JSON) -> SourceInputError:
    with pytest.raises(SourceInputError) as caught:
        parse_notification(raw, content_type)
    OperationOutcome.model_validate(operation_outcome(caught.value.issues))
    return caught.value


@pytest.mark.parametrize(("body", "content_type"), [(b"", ""), (b"", FHIR_JSON), (b"  \r\n", "")])
def test_empty_body_is_a_ping(body: bytes, content_type: str) -> None:
    # Subscription.channel.payload absent: the server POSTs nothing and we must re-query.
    assert parse_notification(body, content_type) == Notification(kind="ping")


def test_whitespace_announced_as_json_is_a_bad_body_not_a_ping() -> None:
    assert rejected(b"\r\n", FHIR_JSON).http_status == 400


def test_single_medication_request_with_contained_patient() -> None:
    patient = banyuwangi_patient()
    patient["id"] = "pasien"
    request = medication_request()
    request["contained"] = [patient]
    request["subject"] = {"reference": "#pasien"}

    notification = parse_notification(encode(request), FHIR_JSON)

    assert notification.kind == "resource"
    [prescription] = notification.prescriptions
    assert prescription.prescription_id == "RX-1"
    assert prescription.patient.phone == "+6281234567890"
    assert prescription.patient.address.city_code == "3510"
    assert prescription.patient.address.village_code == "3510181004"
    assert prescription.items[0].display == "Ferrous Fumarate 60 mg / Folic Acid 0,4 mg Tablet Salut Gula"


def test_single_medication_request_without_its_patient_is_rejected() -> None:
    error = rejected(encode(medication_request()))
    assert "Patient" in str(error)


@pytest.mark.parametrize("kind", ["collection", "transaction"])
def test_collection_and_transaction_bundles_go_to_the_bundle_parser(kind: str) -> None:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": kind,
        "entry": [
            entry(
                medication_request("mr-1", item="1"),
                request={"method": "PUT", "url": "MedicationRequest/mr-1"},
            ),
            entry(
                medication_request("mr-2", item="2"),
                request={"method": "PUT", "url": "MedicationRequest/mr-2"},
            ),
            entry(banyuwangi_patient(), request={"method": "PUT", "url": "Patient/P-BWI-0001"}),
            entry(medication(), request={"method": "PUT", "url": f"Medication/{MEDICATION_ID}"}),
        ],
    }
    if kind == "collection":
        for item in bundle["entry"]:
            del item["request"]

    notification = parse_notification(encode(bundle), "application/json")

    assert notification.kind == "bundle"
    [prescription] = notification.prescriptions
    assert len(prescription.items) == 2
    assert prescription.items[0].code == "93006500"  # resolved through the included Medication


def test_history_bundle_keeps_the_newest_version_and_drops_deleted_resources() -> None:
    newest = medication_request("mr-1", item="1", updated="2026-11-29T11:00:00+07:00")
    newest["dosageInstruction"][0]["patientInstruction"] = "2 tablet sehari"
    older = medication_request("mr-1", item="1", updated="2026-11-29T10:00:00+07:00")
    bundle = {
        "resourceType": "Bundle",
        "type": "history",
        "entry": [
            entry(
                newest, request={"method": "PUT", "url": "MedicationRequest/mr-1"}, response={"status": "200"}
            ),
            {"request": {"method": "DELETE", "url": "MedicationRequest/mr-2"}, "response": {"status": "204"}},
            entry(older, request={"method": "POST", "url": "MedicationRequest"}, response={"status": "201"}),
            entry(medication_request("mr-2", item="2"), response={"status": "201"}),
            entry(banyuwangi_patient()),
        ],
    }

    [prescription] = parse_notification(encode(bundle), FHIR_JSON).prescriptions

    assert [item.instructions for item in prescription.items] == ["2 tablet sehari"]


def test_searchset_bundle_is_rewrapped_as_a_collection() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": 1,
        "entry": [
            entry(medication_request(), search={"mode": "match"}),
            entry(banyuwangi_patient(), search={"mode": "include"}),
        ],
    }
    [prescription] = parse_notification(encode(bundle), FHIR_JSON).prescriptions
    assert prescription.patient.source_id == "ihs-P-BWI-0001"


def subscription_status(kind: str = "event-notification") -> dict[str, Any]:
    return {
        "resourceType": "SubscriptionStatus",
        "id": "status-1",
        "status": "active",
        "type": kind,
        "eventsSinceSubscriptionStart": "12",
        "subscription": {"reference": "https://fhir.rsud-blambangan.example/fhir/Subscription/gancang"},
        "topic": "https://fhir.rsud-blambangan.example/SubscriptionTopic/medicationrequest",
    }


def test_r4b_notification_bundle_ignores_the_status_entry() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "subscription-notification",
        "entry": [
            {"fullUrl": "urn:uuid:0b8f3c1e-6f1d-4d5a-9a53-0b3a8b9d2f10", "resource": subscription_status()},
            entry(medication_request()),
            entry(banyuwangi_patient()),
        ],
    }
    notification = parse_notification(encode(bundle), FHIR_JSON)
    assert notification.kind == "bundle"
    assert notification.subscription == "https://fhir.rsud-blambangan.example/fhir/Subscription/gancang"
    assert [rx.prescription_id for rx in notification.prescriptions] == ["RX-1"]


def test_backport_history_notification_with_parameters_status() -> None:
    status = {
        "resourceType": "Parameters",
        "id": "status-2",
        "parameter": [
            {"name": "subscription", "valueReference": {"reference": "Subscription/gancang"}},
            {"name": "status", "valueCode": "active"},
            {"name": "type", "valueCode": "event-notification"},
        ],
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "history",
        "entry": [
            {"fullUrl": "urn:uuid:1c0e", "resource": status},
            entry(medication_request()),
            entry(banyuwangi_patient()),
        ],
    }
    notification = parse_notification(encode(bundle), FHIR_JSON)
    assert notification.subscription == "Subscription/gancang"
    assert len(notification.prescriptions) == 1


@pytest.mark.parametrize("kind", ["handshake", "heartbeat", "event-notification"])
def test_notification_without_medication_requests_is_a_ping(kind: str) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "subscription-notification",
        "entry": [{"fullUrl": "urn:uuid:0b8f", "resource": subscription_status(kind)}],
    }
    notification = parse_notification(encode(bundle), FHIR_JSON)
    assert notification.kind == "ping"
    assert notification.prescriptions == []


@pytest.mark.parametrize(
    ("body", "content_type", "status", "text"),
    [
        (b"{not json", FHIR_JSON, 400, "not valid JSON"),
        (b"[1, 2]", FHIR_JSON, 400, "JSON list"),
        (b'{"resourceType": "Patient", "id": "x"}', FHIR_JSON, 400, "'Patient'"),
        (b"<Bundle xmlns='http://hl7.org/fhir'/>", "application/fhir+xml", 415, "application/fhir+xml"),
        (b'{"resourceType": "Bundle", "type": "document", "entry": []}', FHIR_JSON, 422, "'document'"),
        (b'{"resourceType": "Bundle", "type": "searchset", "entry": {}}', FHIR_JSON, 422, "list"),
        (
            b'{"resourceType": "Bundle", "type": "searchset", "entry": []}',
            FHIR_JSON,
            422,
            "no MedicationRequest",
        ),
    ],
)
def test_bad_bodies_are_source_input_errors(body: bytes, content_type: str, status: int, text: str) -> None:
    error = rejected(body, content_type)
    assert error.http_status == status
    assert text in str(error)


def test_bad_resource_inside_a_rewrapped_bundle_is_reported_by_the_parser() -> None:
    patient = banyuwangi_patient()
    del patient["telecom"]
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [entry(medication_request()), entry(patient)],
    }
    error = rejected(encode(bundle))
    assert "no phone" in str(error)
    assert error.issues[0][2] == "Bundle.entry[1].resource.telecom"


def test_channel_token_from_the_subscription_example_header() -> None:
    header = load("fhir/subscription-example.json")["channel"]["header"][0]
    name, _, value = header.partition(": ")
    assert check_channel_token({name: value}, "secret-token-abc-123")
    assert check_channel_token(
        httpx.Headers({"authorization": "bearer secret-token-abc-123"}), "secret-token-abc-123"
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer secret-token-abc-12"},
        {"Authorization": "Bearer secret-token-abc-1234"},
        {"Authorization": "Basic secret-token-abc-123"},
        {"Authorization": "secret-token-abc-123"},
        {"X-Authorization": "Bearer secret-token-abc-123"},
    ],
)
def test_channel_token_rejects_wrong_or_missing_tokens(headers: dict[str, str]) -> None:
    assert not check_channel_token(headers, "secret-token-abc-123")


def test_channel_token_rejects_duplicates_and_fails_closed_without_a_secret() -> None:
    twice = httpx.Headers([("Authorization", "Bearer a"), ("Authorization", "Bearer secret-token-abc-123")])
    assert not check_channel_token(twice, "secret-token-abc-123")  # httpx joins them: "Bearer a, Bearer …"
    assert not check_channel_token({"Authorization": "Bearer "}, "")


def test_deeply_nested_notification_is_rejected_not_crashing() -> None:
    request = medication_request()
    nested: dict[str, Any] = {"url": "http://example.org/leaf", "valueString": "x"}
    for _ in range(200):
        nested = {"url": "http://example.org/nest", "extension": [nested]}
    request["extension"] = [nested]
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [entry(request), entry(banyuwangi_patient())],
    }
    error = rejected(encode(bundle))
    assert error.issues[0][0] == "too-costly"
