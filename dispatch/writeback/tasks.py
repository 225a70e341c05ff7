"""Sending write-backs: the hospital's FHIR server, event webhooks, and Khanza's hand-over time.

Each is an outbox message, so a state change and the write-back it owes are committed together; a
transient failure retries with backoff, a refusal becomes an alert on the order for staff.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from dispatch.core.clock import WIB
from dispatch.dispatching.models import BookingAttempt
from dispatch.hospitals.models import HospitalSink
from dispatch.orders import repository as orders_repository
from dispatch.orders.models import Order, OrderEvent, Patient, Prescription
from dispatch.orders.service import add_event
from dispatch.outbox.consumer import RetryLater, TaskContext, outbox_task
from dispatch.writeback.service import topic_for
from hospital_adapter.khanza.writeback import record_handover
from hospital_adapter.sinks.dispense import DispenseOutcome, Outcome, build_medication_dispenses
from hospital_adapter.sinks.errors import SinkError
from hospital_adapter.sinks.event_webhooks import EventWebhookSettings, retry_delay, send_event
from hospital_adapter.sinks.fhir_server import FhirServerClient, FhirServerSettings

OUTCOME_BY_STATUS: dict[str, Outcome] = {
    "delivered": "delivered",
    "delivery_failed": "failed",
    "returned": "returned",
    "cancelled": "cancelled",
}


def _load(ctx: TaskContext) -> tuple[Order, OrderEvent, HospitalSink] | None:
    payload = ctx.message.payload
    order = ctx.session.get(Order, payload["order_id"])
    event = ctx.session.get(OrderEvent, payload["event_id"])
    sink = ctx.session.get(HospitalSink, payload["sink_id"])
    if order is None or event is None or sink is None or not sink.enabled:
        return None
    return order, event, sink


def _refused(ctx: TaskContext, order: Order, sink: HospitalSink, exc: SinkError) -> None:
    if exc.retryable and not ctx.final_try:
        raise RetryLater(f"{sink.kind}: {exc}") from exc
    add_event(ctx.session, order, "alert", f"Write-back to the hospital ({sink.kind}) failed: {exc}"[:500])


def dispense_outcome(
    session: Session, order: Order, event: OrderEvent, sink: HospitalSink
) -> DispenseOutcome:
    prescription = session.get(Prescription, order.prescription_id)
    patient = session.get(Patient, order.patient_id)
    assert prescription is not None and patient is not None and prescription.id is not None
    organization = str(sink.settings.get("organization_id", ""))
    local_system = f"http://sys-ids.kemkes.go.id/medication/{organization}"
    items = [
        (
            item.code or item.local_code or "-",
            item.code_system or local_system,
            item.display,
            item.quantity or 0,
            item.unit or "",
        )
        for item in orders_repository.items_for(session, prescription.id)
    ]
    outcome = OUTCOME_BY_STATUS[str(event.to_status)]
    return DispenseOutcome(
        prescription_number=prescription.prescription_number,
        identifier_system=prescription.identifier_system
        or f"http://sys-ids.kemkes.go.id/prescription/{organization}",
        organization_id=organization,
        patient_reference=f"Patient/{patient.source_id}",
        items=items,
        outcome=outcome,
        handed_over_at=event.at if outcome == "delivered" else None,
        # Who took the parcel, as the courier reported it ("Dewi (anak)"); the patient when nobody said.
        receiver_name=(event.data.get("receiver_name") or patient.name) if outcome == "delivered" else None,
        performer_reference=sink.settings.get("performer_reference"),
        reason=None if outcome == "delivered" else event.detail or None,
    )


@outbox_task(topic_for("fhir_dispense"))
def write_medication_dispense(ctx: TaskContext) -> None:
    loaded = _load(ctx)
    if loaded is None:
        return
    order, event, sink = loaded
    resources = build_medication_dispenses(dispense_outcome(ctx.session, order, event, sink))
    try:
        with FhirServerClient(FhirServerSettings.model_validate(sink.settings["fhir"])) as client:
            created = [client.post_resource(resource) for resource in resources]
    except SinkError as exc:
        _refused(ctx, order, sink, exc)
        return
    add_event(
        ctx.session,
        order,
        "system",
        f"Outcome written to the hospital's FHIR server: {', '.join(created)}"[:500],
    )


def event_data(session: Session, order: Order, event: OrderEvent) -> dict[str, Any]:
    """What a partner system hears: ids and states only, never names, phones, drugs or addresses."""
    prescription = session.get(Prescription, order.prescription_id)
    attempt = session.get(BookingAttempt, order.current_attempt_id) if order.current_attempt_id else None
    return {
        "order_id": order.id,
        "prescription_number": prescription.prescription_number if prescription else None,
        "status": event.to_status,
        "previous_status": event.from_status,
        "at": event.at.isoformat(),
        "courier": attempt.courier if attempt else None,
        "courier_order_id": attempt.provider_order_id if attempt else None,
    }


@outbox_task(topic_for("event_webhook"))
def send_event_webhook(ctx: TaskContext) -> None:
    loaded = _load(ctx)
    if loaded is None:
        return
    order, event, sink = loaded
    try:
        send_event(
            EventWebhookSettings.model_validate(sink.settings),
            f"order.{event.to_status}",
            event_data(ctx.session, order, event),
            msg_id=f"msg_gancang_{ctx.message.id}",
            at=event.at,
        )
    except SinkError as exc:
        # The Standard Webhooks schedule (seconds, then hours, up to days) waits in the database.
        delay = retry_delay(ctx.attempts + 1) if exc.retryable else None
        if delay is not None:
            raise RetryLater(f"event_webhook: {exc}", after=delay) from exc
        add_event(ctx.session, order, "alert", f"Event webhook to the hospital failed: {exc}"[:500])


@outbox_task(topic_for("khanza_handover"))
def record_khanza_handover(ctx: TaskContext) -> None:
    """Khanza keeps only the hand-over time; the other outcomes leave its record as the pharmacy made it."""
    loaded = _load(ctx)
    if loaded is None:
        return
    order, event, sink = loaded
    if event.to_status != "delivered":
        return
    prescription = ctx.session.get(Prescription, order.prescription_id)
    assert prescription is not None
    engine = sa.create_engine(sink.settings["dsn"], pool_pre_ping=True)
    try:
        record_handover(engine, prescription.prescription_number, event.at, tz=WIB)
    except sa.exc.OperationalError as exc:
        if not ctx.final_try:
            raise RetryLater(f"khanza_handover: {exc}") from exc
        add_event(ctx.session, order, "alert", f"Hand-over time not written to Khanza: {exc}"[:500])
    finally:
        engine.dispose()
