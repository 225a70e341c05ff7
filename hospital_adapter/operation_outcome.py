"""FHIR R4 OperationOutcome bodies: the error shape a hospital's FHIR client knows how to show its users."""

from __future__ import annotations

from typing import Any, Literal, get_args

Severity = Literal["fatal", "error", "warning", "information"]

# http://hl7.org/fhir/ValueSet/issue-type (R4 4.0.1, required binding): a code outside it makes the whole
# OperationOutcome invalid, so a typo here must fail in our tests, not in the hospital's validator.
ISSUE_TYPES = frozenset(
    {
        "invalid",
        "structure",
        "required",
        "value",
        "invariant",
        "security",
        "login",
        "unknown",
        "expired",
        "forbidden",
        "suppressed",
        "processing",
        "not-supported",
        "duplicate",
        "multiple-matches",
        "not-found",
        "deleted",
        "too-long",
        "code-invalid",
        "extension",
        "too-costly",
        "business-rule",
        "conflict",
        "transient",
        "lock-error",
        "no-store",
        "exception",
        "timeout",
        "incomplete",
        "throttled",
        "informational",
    }
)


def operation_outcome(
    issues: list[tuple[str, str, str | None]], severity: Severity = "error"
) -> dict[str, Any]:
    """Build an OperationOutcome from ``(code, diagnostics, FHIRPath expression)`` triples.

    The triples are exactly :attr:`SourceInputError.issues`, so an HTTP layer can answer with the parser's
    findings unchanged. The expression goes in ``expression``, not the XPath-only ``location`` that R4
    deprecates. Bad input raises ``ValueError`` because a malformed outcome would hide the real error.
    """
    if not issues:
        raise ValueError("an OperationOutcome needs at least one issue")
    if severity not in get_args(Severity):
        raise ValueError(f"{severity!r} is not a FHIR issue severity")
    unknown = sorted({code for code, _, _ in issues} - ISSUE_TYPES)
    if unknown:
        raise ValueError(f"not FHIR R4 issue-type codes: {', '.join(unknown)}")
    return {"resourceType": "OperationOutcome", "issue": [_issue(severity, *issue) for issue in issues]}


def informational_outcome(text: str) -> dict[str, Any]:
    """Answer a FHIR client that expects an OperationOutcome body even when all went well."""
    return operation_outcome([("informational", text, None)], severity="information")


def _issue(severity: Severity, code: str, diagnostics: str, expression: str | None) -> dict[str, Any]:
    # FHIR strings may not be empty, so absent parts are left out rather than sent as "".
    issue: dict[str, Any] = {"severity": severity, "code": code}
    if diagnostics.strip():
        issue["diagnostics"] = diagnostics
    if expression:
        issue["expression"] = [expression]
    return issue
