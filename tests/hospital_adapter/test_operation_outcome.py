from __future__ import annotations

import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome

from hospital_adapter.operation_outcome import ISSUE_TYPES, informational_outcome, operation_outcome


def test_issues_become_a_valid_r4_operation_outcome():
    body = operation_outcome(
        [
            ("required", "Patient has no phone", "Bundle.entry[0].resource.telecom"),
            ("structure", "Input should be a valid string", None),
        ]
    )

    assert body == {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "required",
                "diagnostics": "Patient has no phone",
                "expression": ["Bundle.entry[0].resource.telecom"],
            },
            {"severity": "error", "code": "structure", "diagnostics": "Input should be a valid string"},
        ],
    }
    OperationOutcome.model_validate(body)


def test_empty_diagnostics_are_left_out_because_fhir_strings_cannot_be_empty():
    body = operation_outcome([("processing", "  ", None)], severity="warning")

    assert body["issue"] == [{"severity": "warning", "code": "processing"}]
    OperationOutcome.model_validate(body)


def test_informational_outcome():
    body = informational_outcome("2 prescriptions accepted")

    assert body["issue"] == [
        {"severity": "information", "code": "informational", "diagnostics": "2 prescriptions accepted"}
    ]
    OperationOutcome.model_validate(body)


def test_issue_types_are_the_31_r4_codes():
    assert len(ISSUE_TYPES) == 31
    assert {"code-invalid", "not-supported", "business-rule", "too-long"} <= ISSUE_TYPES


@pytest.mark.parametrize(
    ("issues", "severity", "message"),
    [
        pytest.param([], "error", "at least one issue", id="no-issues"),
        pytest.param([("missing", "x", None)], "error", "missing", id="unknown-code"),
        pytest.param([("required", "x", None)], "critical", "severity", id="unknown-severity"),
    ],
)
def test_an_invalid_outcome_is_refused(issues, severity, message):
    with pytest.raises(ValueError, match=message):
        operation_outcome(issues, severity=severity)
