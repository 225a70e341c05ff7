"""Taking prescriptions from any hospital source into orders, archive first."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from dispatch.core.db import new_session
from dispatch.hospitals import service as hospitals_service
from dispatch.hospitals.models import Hospital
from dispatch.inbox import repository as inbox_repository
from dispatch.inbox import service as inbox_service
from dispatch.inbox.models import InboxMessage, InboxStatus
from dispatch.orders import service as orders_service
from hospital_adapter.canonical import PrescriptionIn, SourceInputError


class IntakeAuthError(Exception):
    pass


@dataclass(frozen=True)
class IntakeOutcome:
    prescription_id: str
    order_id: int
    created: bool


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
    inbox_id = inbox_service.archive_raw(source, body, headers)
    with new_session() as session:
        hospital = hospitals_service.authenticate_api_key(session, api_key) if api_key else None
    if hospital is None:
        inbox_service.reject(inbox_id, "missing or invalid API key")
        raise IntakeAuthError("missing or invalid API key")
    try:
        prescriptions = _parse(parse, body)
        return _create_orders(hospital, prescriptions, inbox_id)
    except SourceInputError as exc:
        inbox_service.reject(inbox_id, str(exc), hospital_id=hospital.id)
        raise


def _parse(parse: Callable[[bytes], list[PrescriptionIn]], body: bytes) -> list[PrescriptionIn]:
    """A value a source could read but the canonical model refuses (too long, say) is the sender's error."""
    try:
        return parse(body)
    except ValidationError as exc:
        issues: list[tuple[str, str, str | None]] = [
            (
                "too-long" if error["type"] == "string_too_long" else "value",
                error["msg"],  # never the input itself: it may be a NIK or a name
                ".".join(str(part) for part in error["loc"]) or None,
            )
            for error in exc.errors()[:20]
        ]
        raise SourceInputError(issues) from exc


def _create_orders(
    hospital: Hospital, prescriptions: list[PrescriptionIn], inbox_id: int
) -> list[IntakeOutcome]:
    outcomes = []
    with new_session() as session:
        for prescription in prescriptions:
            order, created = orders_service.ingest_prescription(
                session, hospital, prescription, inbox_id=inbox_id
            )
            assert order.id is not None
            outcomes.append(IntakeOutcome(prescription.prescription_id, order.id, created))
        message = session.get(InboxMessage, inbox_id)
        assert message is not None
        message.hospital_id = hospital.id
        inbox_repository.mark(message, InboxStatus.PROCESSED)
        session.commit()
    return outcomes
