"""One function per pull source: read what is new since the watermark, say what was withdrawn.

The result is the same whatever the source, so the poller treats every SIMRS alike. Raw first: a puller
archives what it read through the ``archive`` it is given, before it parses it, and hands back each
prescription with the inbox row it came from. What that row holds is the source's raw form: the FHIR
server's search pages and fetched resources as sent; for Khanza, whose raw is database rows, the canonical
JSON each prescription was read into.

A source whose raw is still on the hospital's server can also read again what one archived message named
(``REREADERS``), for re-processing it from the current data rather than from the stale copy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from hospital_adapter.canonical import PrescriptionIn
from hospital_adapter.fhir.pull import (
    Archive,
    FhirPuller,
    FhirPullSettings,
    PullError,
    Refusal,
    requests_named,
)
from hospital_adapter.khanza.reader import KhanzaSettings, Watermark, read_changes


class PullFailed(Exception):
    """The source could not be read this time; the watermark stays where it was.

    ``inbox_id`` is the archived message that stopped the read, when there is one; ``retryable`` says
    whether asking again later can help (a server down) or not (credentials refused, an unreadable answer).
    """

    def __init__(self, message: str, *, inbox_id: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.inbox_id = inbox_id
        self.retryable = retryable


class CannotReread(ValueError):
    """The message names nothing its source could be asked for again."""


@dataclass
class PullBatch:
    """Prescriptions with their inbox rows, refusals as (inbox row, reason), and the next watermark (none for
    a re-read, which moves no watermark)."""

    prescriptions: list[tuple[PrescriptionIn, int]]
    watermark: dict[str, Any] = field(default_factory=dict)
    withdrawn: list[str] = field(default_factory=list)
    errors: list[Refusal] = field(default_factory=list)


def pull_khanza(settings: Mapping[str, Any], watermark: Mapping[str, Any], archive: Archive) -> PullBatch:
    khanza = KhanzaSettings.model_validate(settings)
    engine = khanza.create_engine()
    try:
        batch = read_changes(engine, Watermark.model_validate(watermark) if watermark else None, khanza)
    except Exception as exc:  # a SIMRS database down at night is normal: report, keep the watermark
        raise PullFailed(f"Khanza database: {type(exc).__name__}: {exc}") from exc
    finally:
        engine.dispose()
    # One commit for the whole read: a poll can bring thousands. A refused row is kept as its no_resep.
    inbox_ids = archive(
        [prescription.model_dump_json().encode() for prescription in batch.prescriptions]
        + [no_resep.encode() for no_resep, _ in batch.errors]
    )
    taken = len(batch.prescriptions)
    return PullBatch(
        prescriptions=list(zip(batch.prescriptions, inbox_ids[:taken], strict=True)),
        watermark=batch.watermark.model_dump(mode="json"),
        withdrawn=batch.deleted,
        errors=[
            (inbox_id, message)
            for inbox_id, (_, message) in zip(inbox_ids[taken:], batch.errors, strict=True)
        ],
    )


def pull_fhir(settings: Mapping[str, Any], watermark: Mapping[str, Any], archive: Archive) -> PullBatch:
    since = datetime.fromisoformat(watermark["since"]) if watermark.get("since") else None
    try:
        result = FhirPuller(FhirPullSettings.model_validate(settings)).pull(since, archive)
    except PullError as exc:
        raise _fhir_failed(exc) from exc
    new_watermark = {"since": result.watermark.isoformat()} if result.watermark else dict(watermark)
    return PullBatch(prescriptions=result.prescriptions, watermark=new_watermark, errors=result.errors)


def reread_fhir(settings: Mapping[str, Any], page: bytes, archive: Archive) -> PullBatch:
    """The MedicationRequests an archived search page matched, as the FHIR server has them now."""
    request_ids = requests_named(page)
    if not request_ids:
        raise CannotReread(
            "the message names no MedicationRequest to read again from the FHIR server (a page the poll "
            "could not read at all is read again by the next poll)"
        )
    try:
        result = FhirPuller(FhirPullSettings.model_validate(settings)).reread(request_ids, archive)
    except PullError as exc:
        raise _fhir_failed(exc) from exc
    return PullBatch(prescriptions=result.prescriptions, errors=result.errors)


def _fhir_failed(exc: PullError) -> PullFailed:
    return PullFailed(f"FHIR server: {exc}", inbox_id=exc.archive_id, retryable=exc.retryable)


PULLERS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any], Archive], PullBatch]] = {
    "khanza": pull_khanza,
    "fhir_pull": pull_fhir,
}

REREADERS: dict[str, Callable[[Mapping[str, Any], bytes, Archive], PullBatch]] = {"fhir_pull": reread_fhir}


SETTINGS_MODELS: dict[str, type[BaseModel]] = {"khanza": KhanzaSettings, "fhir_pull": FhirPullSettings}


def validate_settings(source: str, settings: Mapping[str, Any]) -> None:
    """Refuse bad settings when they are entered, not at 3 a.m. when the poll first runs."""
    try:
        SETTINGS_MODELS[source].model_validate(settings)
    except ValidationError as exc:
        raise ValueError(f"invalid settings for source {source!r}: {exc.error_count()} error(s)") from exc
