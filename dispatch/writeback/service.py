"""Which write-backs a state change owes the hospital, queued in the same transaction as the change."""

from __future__ import annotations

from sqlmodel import Session

from dispatch.hospitals import repository as hospitals_repository
from dispatch.orders.models import Order, OrderEvent
from dispatch.orders.state_machine import OrderStatus
from dispatch.outbox.service import enqueue

S = OrderStatus

# The outcomes the hospital's own record must show: handed over, or not and why.
OUTCOME_STATES = frozenset({S.DELIVERED, S.DELIVERY_FAILED, S.RETURNED, S.CANCELLED})

# Sinks that write an outcome into the hospital's record; event webhooks hear of every state change.
OUTCOME_SINKS = frozenset({"fhir_dispense", "khanza_handover"})
EVENT_SINK = "event_webhook"


def topic_for(kind: str) -> str:
    return f"writeback.{kind}"


def queue_writebacks(session: Session, order: Order, event: OrderEvent) -> None:
    status = OrderStatus(event.to_status) if event.to_status else None
    if status is None:
        return
    for sink in hospitals_repository.enabled_sinks(session, order.hospital_id):
        if sink.kind == EVENT_SINK or (sink.kind in OUTCOME_SINKS and status in OUTCOME_STATES):
            enqueue(
                session,
                topic_for(sink.kind),
                {"order_id": order.id, "sink_id": sink.id, "event_id": event.id, "status": status.value},
                hospital_id=order.hospital_id,
            )
