"""One function per pull source: read what is new since the watermark, say what was withdrawn.

The result is the same whatever the source, so the poller treats every SIMRS alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from hospital_adapter.canonical import PrescriptionIn
from hospital_adapter.fhir.pull import FhirPuller, FhirPullSettings, PullError
from hospital_adapter.khanza.reader import KhanzaSettings, Watermark, read_changes


class PullFailed(Exception):
    """The source could not be read this time; the watermark stays where it was."""


@dataclass
class PullBatch:
    prescriptions: list[PrescriptionIn]
    watermark: dict[str, Any]
    withdrawn: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)


def pull_khanza(settings: Mapping[str, Any], watermark: Mapping[str, Any]) -> PullBatch:
    khanza = KhanzaSettings.model_validate(settings)
    engine = khanza.create_engine()
    try:
        batch = read_changes(engine, Watermark.model_validate(watermark) if watermark else None, khanza)
    except Exception as exc:  # a SIMRS database down at night is normal: report, keep the watermark
        raise PullFailed(f"Khanza database: {type(exc).__name__}: {exc}") from exc
    finally:
        engine.dispose()
    return PullBatch(
        prescriptions=batch.prescriptions,
        watermark=batch.watermark.model_dump(mode="json"),
        withdrawn=batch.deleted,
        errors=batch.errors,
    )


def pull_fhir(settings: Mapping[str, Any], watermark: Mapping[str, Any]) -> PullBatch:
    since = datetime.fromisoformat(watermark["since"]) if watermark.get("since") else None
    try:
        result = FhirPuller(FhirPullSettings.model_validate(settings)).pull(since)
    except PullError as exc:
        raise PullFailed(f"FHIR server: {exc}") from exc
    new_watermark = {"since": result.watermark.isoformat()} if result.watermark else dict(watermark)
    return PullBatch(prescriptions=result.prescriptions, watermark=new_watermark, errors=result.errors)


PULLERS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], PullBatch]] = {
    "khanza": pull_khanza,
    "fhir_pull": pull_fhir,
}


SETTINGS_MODELS: dict[str, type[BaseModel]] = {"khanza": KhanzaSettings, "fhir_pull": FhirPullSettings}


def validate_settings(source: str, settings: Mapping[str, Any]) -> None:
    """Refuse bad settings when they are entered, not at 3 a.m. when the poll first runs."""
    try:
        SETTINGS_MODELS[source].model_validate(settings)
    except ValidationError as exc:
        raise ValueError(f"invalid settings for source {source!r}: {exc.error_count()} error(s)") from exc
