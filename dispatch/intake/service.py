"""Taking prescriptions from any hospital source into orders, archive first."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pydantic import ValidationError
from sqlmodel import Session

from dispatch.core import metrics
from dispatch.core.db import new_session
from dispatch.hospitals import service as hospitals_service
from dispatch.hospitals.models import Hospital
from dispatch.inbox import repository as inbox_repository
from dispatch.inbox import service as inbox_service
from dispatch.inbox.models import InboxMessage, InboxStatus
from dispatch.orders import prescriptions as prescription_intake
from dispatch.sources import service as sources_service
from dispatch.sources.pullers import REREADERS, CannotReread, PullFailed
from hospital_adapter.canonical import PrescriptionIn, SourceInputError
from hospital_adapter.registry import HospitalSourceError, get_source


class IntakeAuthError(Exception):
    pass


@dataclass(frozen=True)
class IntakeOutcome:
    prescription_id: str
    order_id: int
    created: bool


def describe_outcomes(outcomes: list[IntakeOutcome]) -> str:
    """The one-line answer every intake protocol gives (FHIR OperationOutcome, HL7 ACK)."""
    return "; ".join(
        f"Prescription {o.prescription_id}: order {o.order_id} {'created' if o.created else 'already received'}"
        for o in outcomes
    )


def intake(
    source: str,
    parse: Callable[[bytes], list[PrescriptionIn]],
    body: bytes,
    headers: Mapping[str, str],
    api_key: str | None,
) -> list[IntakeOutcome]:
    """Archive the raw body, authenticate, parse, and create orders in one transaction.

    Raises IntakeAuthError or SourceInputError for the caller to answer in its protocol's error form;
    the archived message records why it was refused either way.
    """
    with new_session() as session:
        # One commit stores the raw message with whose it is (or why it was refused), before any parsing.
        message = inbox_repository.archive(session, source=source, body=body, headers=headers)
        hospital = hospitals_service.authenticate_api_key(session, api_key) if api_key else None
        if hospital is None:
            inbox_repository.mark(message, InboxStatus.REJECTED, "missing or invalid API key")
        else:
            message.hospital_id = hospital.id
        session.commit()
        inbox_id = message.id
        assert inbox_id is not None
        if hospital is None:
            metrics.INTAKE_REFUSED.labels(source, "unauthorized").inc()
            raise IntakeAuthError("missing or invalid API key")
        # The same connection goes on to create the orders: a request is one checkout, not two.
        return _create_from_archive(session, source, hospital, parse, body, inbox_id)


def intake_for_hospital(
    source: str,
    parse: Callable[[bytes], list[PrescriptionIn]],
    body: bytes,
    headers: Mapping[str, str],
    hospital: Hospital,
) -> list[IntakeOutcome]:
    """For channels where the hospital is known by other means (an MLLP port per hospital, the CLI)."""
    inbox_id = inbox_service.archive_raw(source, body, headers, hospital_id=hospital.id)
    return create_from_archive(source, hospital, parse, body, inbox_id)


def create_from_archive(
    source: str,
    hospital: Hospital,
    parse: Callable[[bytes], list[PrescriptionIn]],
    body: bytes,
    inbox_id: int,
) -> list[IntakeOutcome]:
    """Parse a message already archived and create its orders; a refusal marks the archived message."""
    with new_session() as session:
        return _create_from_archive(session, source, hospital, parse, body, inbox_id)


def _create_from_archive(
    session: Session,
    source: str,
    hospital: Hospital,
    parse: Callable[[bytes], list[PrescriptionIn]],
    body: bytes,
    inbox_id: int,
) -> list[IntakeOutcome]:
    try:
        prescriptions = _parse(parse, body)
    except SourceInputError as exc:
        inbox_service.reject(inbox_id, str(exc), hospital_id=hospital.id)
        metrics.INTAKE_REFUSED.labels(source, "invalid").inc()
        raise
    batch = [(prescription, inbox_id) for prescription in prescriptions]
    outcomes = [
        IntakeOutcome(prescription.prescription_id, order_id, created)
        for prescription, (order_id, created) in zip(
            prescriptions, prescription_intake.ingest_batch(session, hospital, batch), strict=True
        )
    ]
    inbox_service.mark_processed(session, [inbox_id])
    session.commit()
    return outcomes


def _parse(parse: Callable[[bytes], list[PrescriptionIn]], body: bytes) -> list[PrescriptionIn]:
    """A value a source could read but the canonical model refuses (too long, say) is the sender's error."""
    try:
        return parse(body)
    except ValidationError as exc:
        raise SourceInputError.from_validation_error(exc) from exc


class NotReprocessable(ValueError):
    pass


class SourceUnreachable(NotReprocessable):
    """The hospital's server could not give the message's data again; ``retryable``: asking later may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class StillRefused(SourceInputError):
    """Re-run, some or none of it could be taken; ``outcomes`` are the orders of what was."""

    def __init__(self, reasons: list[str], outcomes: list[IntakeOutcome]) -> None:
        super().__init__([("processing", reason, None) for reason in reasons])
        self.outcomes = outcomes


def reprocess(inbox_id: int, hospital: Hospital) -> list[IntakeOutcome]:
    """Run a quarantined message again, after the fix its rejection called for (a hospital setting, code,
    a record created at the hospital).

    An intake source's message is parsed again as archived. A pull source's raw lives on at the hospital, and
    what the message holds may be a page of a larger read (a prescription split across pages), so its
    source reads the current data again instead. Only messages that reached a hospital can be re-run: one
    refused for a bad API key proves nothing about who sent it.
    """
    with new_session() as session:
        message = session.get(InboxMessage, inbox_id)
    if message is None or message.hospital_id != hospital.id:
        raise LookupError(f"no message {inbox_id} for this hospital")
    if message.status != InboxStatus.REJECTED:
        raise NotReprocessable(f"message {inbox_id} is {message.status.value}, not rejected")
    if message.source in REREADERS:
        return _reread(message, hospital)
    try:
        source = get_source(message.source)
    except HospitalSourceError as exc:
        raise NotReprocessable(f"{message.source} messages cannot be re-run here") from exc
    return create_from_archive(message.source, hospital, source.parse, message.body, inbox_id)


def _reread(message: InboxMessage, hospital: Hospital) -> list[IntakeOutcome]:
    try:
        took = sources_service.reread(hospital, message)
    except CannotReread as exc:
        raise NotReprocessable(str(exc)) from exc
    except PullFailed as exc:
        raise SourceUnreachable(str(exc), retryable=exc.retryable) from exc
    outcomes = [IntakeOutcome(*order) for order in took.orders]
    if took.refused:
        raise StillRefused([reason for reasons in took.refused.values() for reason in reasons], outcomes)
    return outcomes
