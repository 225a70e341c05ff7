"""FHIR parsers under damaged input: a canonical result or ``SourceInputError`` whose issues make a valid
OperationOutcome, never another exception; and nothing a database would refuse gets through."""

from __future__ import annotations

import json

from fuzz_support import json_bytes, load_json, mutated_bytes, mutated_json, strings_in
from hypothesis import example, given
from hypothesis import strategies as st

from dispatch.demo_data import PATIENTS, demo_bundle
from hospital_adapter.canonical import PrescriptionIn, SourceInputError
from hospital_adapter.fhir.parser import parse_bundle, parse_medication_request
from hospital_adapter.fhir.subscription import parse_notification
from hospital_adapter.operation_outcome import ISSUE_TYPES, operation_outcome

BUNDLE = demo_bundle(PATIENTS[0], "RX-FUZZ-1")
SATUSEHAT_BUNDLE = load_json("satusehat", "Bundle-transaction-RME-rawat-jalan.json")
MEDICATION_REQUESTS = [
    load_json("satusehat", "MedicationRequest-TB.json"),
    load_json("satusehat", "MedicationRequest-ANC-peresepan-obat.json"),
    load_json("fhir", "medicationrequest0301.json"),
]

bundles = st.one_of(mutated_json(BUNDLE), mutated_json(SATUSEHAT_BUNDLE))
bundle_bytes = st.one_of(
    json_bytes(bundles),
    mutated_bytes(json.dumps(BUNDLE).encode()),
    st.binary(max_size=200),
    json_bytes(st.fixed_dictionaries({"resourceType": st.just("Bundle")}, optional={"entry": st.just([{}])})),
)
medication_request_bytes = st.one_of(
    json_bytes(st.sampled_from(MEDICATION_REQUESTS).flatmap(mutated_json)), st.binary(max_size=200)
)


def assert_taken_or_refused(parse: object, raw: bytes, statuses: tuple[int, ...] = (400, 422)) -> None:
    assert callable(parse)
    try:
        prescriptions = parse(raw)
    except SourceInputError as exc:
        assert_refusal_answers(exc, statuses)
        return
    assert isinstance(prescriptions, list)
    for prescription in prescriptions:
        assert isinstance(prescription, PrescriptionIn)
        assert prescription.items
        for text in strings_in(prescription):
            assert "\x00" not in text
            text.encode("utf-8")  # no lone surrogates: storable and sendable


def assert_refusal_answers(refusal: SourceInputError, statuses: tuple[int, ...]) -> None:
    """The refusal becomes a valid OperationOutcome with at least one issue, and a status the route declares."""
    assert refusal.http_status in statuses
    assert refusal.issues, "a refusal names at least one issue"
    outcome = operation_outcome(refusal.issues)
    assert outcome["resourceType"] == "OperationOutcome"
    assert all(issue["code"] in ISSUE_TYPES for issue in outcome["issue"])
    json.dumps(outcome).encode()  # the answer itself can be sent


def test_unmutated_seed_is_taken() -> None:
    """The strategies start from a Bundle the parser takes, so the mutants are near misses, not noise."""
    assert len(parse_bundle(json.dumps(BUNDLE).encode())) == 1


@given(bundle_bytes)
@example(
    b'{"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient", "name": "\\u0000"}}]}'
)
@example(b'{"resourceType": "Bundle", "type": "collection", "entry": null}')
@example(b"[]")
@example(b"\xff\xfe")
def test_parse_bundle_takes_or_refuses(raw: bytes) -> None:
    assert_taken_or_refused(parse_bundle, raw)


@given(medication_request_bytes)
def test_parse_medication_request_takes_or_refuses(raw: bytes) -> None:
    assert_taken_or_refused(parse_medication_request, raw)


@given(bundle_bytes, st.sampled_from(["application/fhir+json", "application/json", "text/plain", ""]))
def test_subscription_notification_takes_or_refuses(raw: bytes, content_type: str) -> None:
    """415 as well: a rest-hook body is JSON or nothing."""
    parse = lambda body: parse_notification(body, content_type).prescriptions  # noqa: E731
    assert_taken_or_refused(parse, raw, (400, 415, 422))
