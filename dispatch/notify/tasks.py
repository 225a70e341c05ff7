"""Sending one patient SMS: at most once per dedupe key, even when the task is delivered twice."""

from __future__ import annotations

from functools import lru_cache

from dispatch.core.clock import utcnow
from dispatch.core.logging import log
from dispatch.core.settings import settings
from dispatch.dispatching.models import BookingAttempt
from dispatch.hospitals.models import Hospital
from dispatch.notify import repository
from dispatch.notify.gateways import SmsGateway, load_gateway
from dispatch.notify.models import SmsMessage
from dispatch.notify.service import SMS_TOPIC, tracking_url
from dispatch.notify.templates import render_sms
from dispatch.orders.models import Order, Patient
from dispatch.outbox.consumer import RetryLater, TaskContext, outbox_task


@lru_cache(maxsize=1)
def gateway() -> SmsGateway:
    return load_gateway(settings.sms_gateway)


@outbox_task(SMS_TOPIC)
def send_sms(ctx: TaskContext) -> None:
    session = ctx.session
    payload = ctx.message.payload
    existing = repository.get_sms_by_dedupe_key(session, payload["dedupe_key"])
    # A pending row means a previous run may have handed it to the gateway: never risk a second SMS.
    if existing is not None and existing.status != "failed":
        return
    order = session.get(Order, payload["order_id"])
    if order is None:
        return
    patient = session.get(Patient, order.patient_id)
    hospital = session.get(Hospital, order.hospital_id)
    link = tracking_url(session, order)
    if patient is None or hospital is None or patient.phone_e164 is None or link is None:
        log.warning("sms.skipped", order_id=order.id, reason="no phone or no tracking link")
        return
    attempt = session.get(BookingAttempt, order.current_attempt_id) if order.current_attempt_id else None
    text = render_sms(
        payload["kind"],
        hospital_name=hospital.name,
        link=link,
        courier_name=attempt.driver_name if attempt else None,
        plate=attempt.vehicle_plate if attempt else None,
    )
    sms = existing or SmsMessage(
        hospital_id=order.hospital_id,
        order_id=payload["order_id"],
        kind=payload["kind"],
        dedupe_key=payload["dedupe_key"],
        to_phone=patient.phone_e164,
        text=text,
        gateway=settings.sms_gateway,
    )
    sms.status = "pending"
    session.add(sms)
    session.commit()
    try:
        result = gateway().send(patient.phone_e164, text)
    except Exception as exc:
        sms.status = "failed"
        sms.error = str(exc)[:500]
        session.commit()
        raise RetryLater(f"SMS gateway failed: {exc}") from exc
    sms.status = result.status
    sms.provider_message_id = result.provider_message_id
    sms.error = result.detail or None
    sms.sent_at = utcnow()
