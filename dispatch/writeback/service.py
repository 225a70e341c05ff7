"""Which write-backs a state change owes the hospital, queued in the same transaction as the change."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from dispatch.hospitals import repository as hospitals_repository
from dispatch.hospitals.models import HospitalSink
from dispatch.orders.models import StateChange
from dispatch.orders.state_machine import OrderStatus
from dispatch.outbox.service import enqueue
from hospital_adapter.sinks.event_webhooks import EventWebhookSettings
from hospital_adapter.sinks.fhir_server import FhirServerSettings

S = OrderStatus

# The outcomes the hospital's own record must show: handed over, or not and why.
OUTCOME_STATES = frozenset({S.DELIVERED, S.DELIVERY_FAILED, S.RETURNED, S.CANCELLED})

# Sinks that write an outcome into the hospital's record; event webhooks hear of every state change.
OUTCOME_SINKS = frozenset({"fhir_dispense", "khanza_handover"})
EVENT_SINK = "event_webhook"


def topic_for(kind: str) -> str:
    return f"writeback.{kind}"


def _enabled_sinks(session: Session, hospital_id: int) -> Sequence[HospitalSink]:
    """Read once per transaction: a poll or a booking changes many orders' states in one session."""
    cache: dict[int, Sequence[HospitalSink]] = session.info.setdefault("enabled_sinks", {})
    if hospital_id not in cache:
        cache[hospital_id] = hospitals_repository.enabled_sinks(session, hospital_id)
    return cache[hospital_id]


def queue_writebacks(session: Session, change: StateChange) -> None:
    for sink in _enabled_sinks(session, change.hospital_id):
        if sink.kind == EVENT_SINK or (sink.kind in OUTCOME_SINKS and change.target in OUTCOME_STATES):
            enqueue(
                session,
                topic_for(sink.kind),
                {
                    "order_id": change.order_id,
                    "sink_id": sink.id,
                    "event_id": change.event_id(),  # the write-back names the event
                    "status": change.target.value,
                },
                hospital_id=change.hospital_id,
            )


def validate_sink_settings(kind: str, settings: Mapping[str, Any]) -> None:
    """Each sink's settings are checked by its own model when a hospital adds it."""
    try:
        if kind == "fhir_dispense":
            FhirServerSettings.model_validate(settings.get("fhir", {}))
            if not settings.get("organization_id"):
                raise ValueError(
                    "fhir_dispense needs organization_id (the hospital's SATUSEHAT organisation)"
                )
        elif kind == "event_webhook":
            EventWebhookSettings.model_validate(settings)
        elif kind == "khanza_handover":
            if not str(settings.get("dsn", "")).startswith("mysql"):
                raise ValueError("khanza_handover needs dsn: a write-capable mysql+pymysql:// URL")
        else:
            raise ValueError(
                f"unknown sink kind {kind!r}; known: event_webhook, fhir_dispense, khanza_handover"
            )
    except ValidationError as exc:
        raise ValueError(f"invalid settings for sink {kind!r}: {exc.error_count()} error(s)") from exc
