"""Sending one patient message: at most once per dedupe key, even when the task is delivered twice.

The row is committed as "pending" before the gateway is called, so a crash mid-call leaves a row that is
never handed over again. A gateway failure is retried through the outbox only when the message surely did
not leave (see ``dispatch.notify.gateways.http``); each hand-over counts in ``attempts``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from functools import lru_cache

from dispatch.core import metrics
from dispatch.core.clock import as_wib, utcnow
from dispatch.core.logging import log
from dispatch.core.settings import settings
from dispatch.dispatching.eta import minutes_until, shown_eta
from dispatch.dispatching.models import BookingAttempt
from dispatch.hospitals.models import Hospital
from dispatch.notify import repository
from dispatch.notify.channels import gateway_for, messaging_settings
from dispatch.notify.gateways import SendOutcomeUnknown, SendResult, SmsGateway, TemplateGateway, load_gateway
from dispatch.notify.models import MessageStatus, SmsMessage
from dispatch.notify.outcomes import record_failure, record_unknown
from dispatch.notify.service import SMS_TOPIC, is_opted_out, opt_out, tracking_url
from dispatch.notify.templates import render_sms
from dispatch.orders.models import Order, Patient
from dispatch.outbox.consumer import MAX_RETRIES, RetryLater, TaskContext, outbox_task


@lru_cache(maxsize=1)
def gateway() -> SmsGateway:
    """The deployment's SMS gateway, for hospitals that configured none of their own."""
    return load_gateway(settings.sms_gateway)


@outbox_task(SMS_TOPIC)
def send_sms(ctx: TaskContext) -> None:
    session = ctx.session
    payload = ctx.message.payload
    channel = payload.get("channel", "sms")
    existing = repository.get_sms_by_dedupe_key(session, payload["dedupe_key"])
    # Only a message that surely did not leave is handed over again: a pending row may have left.
    if existing is not None and existing.status != MessageStatus.RETRYING:
        return
    order = session.get(Order, payload["order_id"])
    if order is None or order.id is None:
        return
    patient = session.get(Patient, order.patient_id)
    hospital = session.get(Hospital, order.hospital_id)
    link = tracking_url(session, order)
    if (
        patient is None
        or hospital is None
        or hospital.id is None
        or patient.phone_e164 is None
        or link is None
    ):
        log.warning("sms.skipped", order_id=order.id, reason="no phone or no tracking link")
        return
    chosen = gateway_for(hospital, channel) or (gateway() if channel == "sms" else None)
    if chosen is None:
        log.warning("sms.skipped", order_id=order.id, reason=f"no {channel} gateway configured")
        return
    kind = payload["kind"]
    lang = messaging_settings(hospital).language
    attempt = session.get(BookingAttempt, order.current_attempt_id) if order.current_attempt_id else None
    # Read when the message is written, not when it was queued: the latest estimate, none once delivered.
    eta_at = shown_eta(order, attempt)
    fields = {
        "hospital": hospital.name,
        "link": link,
        "pin": order.handover_pin or "",
        "courier": (attempt.driver_name if attempt else None) or "",
        "plate": (attempt.vehicle_plate if attempt else None) or "",
        # A clock time: a WhatsApp message is often read long after it arrives, when "in 25 minutes" is wrong.
        "eta": as_wib(eta_at).strftime("%H:%M WIB") if eta_at else "",
    }
    text = render_sms(
        kind,
        lang=lang,
        hospital_name=hospital.name,
        link=link,
        courier_name=fields["courier"] or None,
        plate=fields["plate"] or None,
        eta_minutes=minutes_until(eta_at, utcnow()),
        pin=order.handover_pin,
    )
    sms = existing or SmsMessage(
        hospital_id=order.hospital_id,
        order_id=order.id,
        kind=kind,
        dedupe_key=payload["dedupe_key"],
        to_phone=patient.phone_e164,
        text=text,
        gateway=chosen.name,
        channel=channel,
    )
    session.add(sms)
    if is_opted_out(session, hospital.id, patient.phone_e164, channel):
        sms.status = MessageStatus.OPTED_OUT
        sms.error = f"Not sent: the patient opted out of {channel} messages"
        metrics.SMS_FAILURES.labels(chosen.name, "opted_out").inc()
        return
    sms.status = MessageStatus.PENDING
    sms.attempts += 1
    session.commit()
    try:
        result = _hand_over(chosen, channel, patient.phone_e164, kind, lang, fields, text)
    except SendOutcomeUnknown as exc:
        record_unknown(session, order, sms, str(exc))
        metrics.SMS_FAILURES.labels(chosen.name, "unknown").inc()
        return
    except Exception as exc:
        # The gateway did not take it (GatewayUnavailable, or a plugin's own transport error): retry.
        if ctx.final_try or ctx.attempts >= MAX_RETRIES:
            record_failure(session, hospital, order, sms, f"gave up after {sms.attempts} attempts: {exc}")
            metrics.SMS_FAILURES.labels(chosen.name, "failed").inc()
            return
        sms.status = MessageStatus.RETRYING
        sms.error = str(exc)[:500]
        session.commit()
        retry_after = getattr(exc, "retry_after", None)
        after = timedelta(seconds=retry_after) if retry_after else None
        raise RetryLater(f"{chosen.name} did not take the message: {exc}", after=after) from exc
    sms.provider_message_id = result.provider_message_id or None
    sms.sent_at = utcnow()
    if result.status == "opted_out":
        opt_out(
            session,
            hospital.id,
            patient.phone_e164,
            channel,
            source="provider",
            data={"gateway": chosen.name, "detail": result.detail},
        )
        sms.status = MessageStatus.OPTED_OUT
        metrics.SMS_FAILURES.labels(chosen.name, "opted_out").inc()
        sms.error = f"Not sent: {chosen.name} reports the patient unsubscribed ({result.detail})"[:500]
    elif result.status == "failed":
        record_failure(session, hospital, order, sms, result.detail)
        metrics.SMS_FAILURES.labels(chosen.name, "failed").inc()
    else:
        sms.status = MessageStatus(result.status)
        sms.error = result.detail or None


def _hand_over(
    chosen: SmsGateway,
    channel: str,
    to_e164: str,
    kind: str,
    lang: str,
    fields: Mapping[str, str],
    text: str,
) -> SendResult:
    """SMS carries our own text; WhatsApp starts conversations only with the hospital's approved template."""
    if channel == "whatsapp":
        if not isinstance(chosen, TemplateGateway) or not chosen.has_template(kind):
            return SendResult("", "failed", f"no approved WhatsApp template for {kind!r}")
        return chosen.send_template(to_e164, kind, lang, fields)
    return chosen.send(to_e164, text)
