"""Helpers for the dispatching tests: reading committed state, running outbox handlers, GoSend payloads."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
from celery import Task
from celery.result import EagerResult
from sqlmodel import col, select

from dispatch.core.db import new_session
from dispatch.dispatching.models import BookingAttempt
from dispatch.notify.models import SmsMessage
from dispatch.orders.models import Order, OrderEvent
from dispatch.outbox.models import OutboxMessage

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "reference" / "examples" / "couriers"

PRIMARY_BASE_URL = "https://gosend-primary.test"
BACKUP_BASE_URL = "https://gosend-backup.test"
PRIMARY_TOKEN = "primary-hook-token"
BACKUP_TOKEN = "backup-hook-token"
BOOKING_PATH = "/gokilat/v10/booking"
PRICE_PATH = "/gokilat/v10/calculate/price"
CANCEL_PATH = "/gokilat/v10/booking/cancel"
ORDER_NO = "GK-11-170563"
BACKUP_ORDER_NO = "GK-11-170999"

# event_date values (epoch milliseconds) a minute apart, for ordering courier reports.
T0 = 1_764_400_000_000
MINUTE_MS = 60_000


def at(minute: int) -> int:
    return T0 + minute * MINUTE_MS


def gosend_settings(base_url: str = PRIMARY_BASE_URL, **extra: Any) -> dict[str, Any]:
    return {
        "client_id": "rsud-blambangan",
        "pass_key": "pass-key-primary",
        "base_url": base_url,
        "webhook_token": PRIMARY_TOKEN,
        **extra,
    }


def load_example(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def price_estimate(total_price: int = 16_000, *, serviceable: bool = True) -> httpx.Response:
    """GoSend's answer to GET /calculate/price (couriers.md 1.3) for the Instant method."""
    body = {
        "Instant": {
            "shipment_method": "Instant",
            "shipment_method_description": "Instant 1 - 2 hours",
            "serviceable": serviceable,
            "active": True,
            "distance": 4.6,
            "price": {"total_price": total_price},
        }
    }
    return httpx.Response(200, json=body)


def booking_created(order_no: str = ORDER_NO, *, reference: str = "AWBfromPartner") -> httpx.Response:
    """GoSend's 201 to a booking: the documented partial response plus the empty ``errors``."""
    body = load_example("gosend_booking_response_partial.json")
    body.update({"orderNo": order_no, "storeOrderId": reference, "errors": []})
    return httpx.Response(201, json=body)


def booking_status(reference: str, order_no: str = ORDER_NO, label: str = "Finding Driver") -> dict[str, Any]:
    """A GET /booking/storeOrderId answer (couriers.md 1.6): labels in ``status``, codes in ``bookingStatus``."""
    return {
        "id": 170563,
        "orderNo": order_no,
        "status": label,
        "bookingStatus": "confirmed",
        "driverId": None,
        "driverName": None,
        "driverPhone": None,
        "vehicleNumber": None,
        "totalPrice": 20000,
        "storeOrderId": reference,
        "bookingType": "Instant",
        "liveTrackingUrl": None,
    }


def gosend_event(
    status: str,
    *,
    event_date: int,
    event_id: str | None = None,
    order_no: str = ORDER_NO,
    **fields: Any,
) -> dict[str, Any]:
    """The recorded booking_event callback rewritten for our booking, status and time."""
    payload = copy.deepcopy(load_example("gosend_webhook_booking_event_no_driver.json"))
    payload.update(
        {
            "entity_id": order_no,
            "booking_id": order_no,
            "status": status,
            "booking_status": status,
            "type": status.upper(),
            "event_date": event_date,
            "event_id": event_id or f"evt-{order_no}-{status}-{event_date}",
        }
    )
    payload.update(fields)
    return payload


def driver_fields() -> dict[str, Any]:
    return {
        "driver_name": "Budi Santoso",
        "driver_phone": "6281299990000",
        "vehicle_number": "P 4521 XY",
        "live_tracking_url": "https://gosend.test/track/GK-11-170563",
    }


# --- committed state, read with fresh sessions -------------------------------------------------------------


def load(model: type[Any], row_id: int | None) -> Any:
    assert row_id is not None
    with new_session() as session:
        return session.get(model, row_id)


def order(order_id: int) -> Order:
    record = load(Order, order_id)
    assert record is not None
    return record


def outbox_rows(topic: str | None = None) -> list[OutboxMessage]:
    with new_session() as session:
        query = select(OutboxMessage).order_by(col(OutboxMessage.id))
        if topic is not None:
            query = query.where(OutboxMessage.topic == topic)
        return list(session.exec(query).all())


def pending_rows(topic: str) -> list[OutboxMessage]:
    return [row for row in outbox_rows(topic) if row.processed_at is None]


def attempts(order_id: int) -> list[BookingAttempt]:
    with new_session() as session:
        query = select(BookingAttempt).where(BookingAttempt.order_id == order_id)
        return list(session.exec(query.order_by(col(BookingAttempt.id))).all())


def timeline(order_id: int) -> list[OrderEvent]:
    with new_session() as session:
        query = select(OrderEvent).where(OrderEvent.order_id == order_id)
        return list(session.exec(query.order_by(col(OrderEvent.id))).all())


def state_changes(order_id: int) -> list[tuple[str | None, str | None, str]]:
    return [(e.from_status, e.to_status, e.detail) for e in timeline(order_id) if e.kind == "state"]


def sms_kinds(order_id: int) -> list[str]:
    return [row.payload["kind"] for row in outbox_rows("notify.sms") if row.payload["order_id"] == order_id]


def sms_messages() -> list[SmsMessage]:
    with new_session() as session:
        return list(session.exec(select(SmsMessage).order_by(col(SmsMessage.id))).all())


def set_outbox(outbox_id: int | None, **values: Any) -> None:
    """Change an outbox row the way the relay or the passage of time would."""
    with new_session() as session:
        message = session.get(OutboxMessage, outbox_id)
        assert message is not None
        for name, value in values.items():
            setattr(message, name, value)
        session.commit()


# --- running outbox handlers in-process --------------------------------------------------------------------


def task_for(outbox_id: int | None) -> Task:
    from dispatch.core.celery_app import celery_app

    message = load(OutboxMessage, outbox_id)
    assert message is not None
    return celery_app.tasks[message.topic]


def apply_outbox(outbox_id: int | None) -> EagerResult:
    """What a worker does with the message, in-process. ``Task.apply`` runs any retry at once, eagerly."""
    return task_for(outbox_id).apply(args=[outbox_id])


def run_outbox(outbox_id: int | None) -> None:
    result = apply_outbox(outbox_id)
    assert result.successful(), f"{result.state}: {result.result!r}"


def deliver_once(outbox_id: int | None, *, retries: int = 0) -> None:
    """One delivery of the task, no more: a retry surfaces as ``celery.exceptions.Retry``.

    This is the request ``Task.apply`` builds (eager, not called directly); calling ``run`` under it skips
    the re-application ``apply`` does after a Retry, so the state between two deliveries can be inspected.
    """
    task = task_for(outbox_id)
    task.push_request(
        id=f"test-{outbox_id}-{retries}",
        args=[outbox_id],
        kwargs={},
        retries=retries,
        is_eager=True,
        called_directly=False,
        delivery_info={"is_eager": True},
    )
    try:
        task.run(outbox_id)
    finally:
        task.pop_request()
