"""What a message that did not reach the patient leaves behind: its status, an alert, maybe a WhatsApp.

Shared by the sending task (a refusal) and the delivery reports (an "undelivered" arriving later), so the
patient's fallback and the staff's alert are the same whichever way the failure became known.
"""

from __future__ import annotations

from sqlmodel import Session

from dispatch.hospitals.models import Hospital
from dispatch.notify.channels import gateway_for
from dispatch.notify.gateways import TemplateGateway
from dispatch.notify.models import MessageStatus, SmsMessage
from dispatch.notify.service import queue_sms
from dispatch.orders.models import Order
from dispatch.orders.service import add_event

__all__ = ["record_failure", "record_unknown"]


def record_failure(session: Session, hospital: Hospital, order: Order, sms: SmsMessage, detail: str) -> None:
    """The message failed for good: staff see it on the order's timeline, and an SMS the hospital's
    WhatsApp template can replace goes again by WhatsApp (see ``dispatch.notify.settings``)."""
    sms.status = MessageStatus.FAILED
    sms.error = detail[:500] or None
    fallback = _queue_whatsapp_fallback(session, hospital, sms)
    then = "sent again by WhatsApp" if fallback else "the patient has not been told"
    add_event(
        session,
        order,
        "alert",
        f"{_label(sms)} '{sms.kind}' to the patient failed ({sms.gateway}: {detail or 'no reason given'}); "
        f"{then}",
        data={"sms_id": sms.id, "gateway": sms.gateway, "channel": sms.channel},
    )


def record_unknown(session: Session, order: Order, sms: SmsMessage, detail: str) -> None:
    """The gateway got the request but never answered: resending could reach the patient twice, so staff
    decide (the provider's portal, or a call to the patient)."""
    sms.status = MessageStatus.UNKNOWN
    sms.error = detail[:500]
    add_event(
        session,
        order,
        "alert",
        f"{_label(sms)} '{sms.kind}': {sms.gateway} did not answer ({detail}); not resent, to avoid sending "
        f"it twice. Check the provider's log or call the patient",
        data={"sms_id": sms.id, "gateway": sms.gateway, "channel": sms.channel},
    )


def _label(sms: SmsMessage) -> str:
    return "WhatsApp message" if sms.channel == "whatsapp" else "SMS"


def _queue_whatsapp_fallback(session: Session, hospital: Hospital, sms: SmsMessage) -> bool:
    if sms.channel != "sms":
        return False
    whatsapp = gateway_for(hospital, "whatsapp")
    if not isinstance(whatsapp, TemplateGateway) or not whatsapp.has_template(sms.kind):
        return False
    queue_sms(
        session,
        sms.order_id,
        sms.hospital_id,
        sms.kind,
        dedupe_key=f"{sms.dedupe_key}:whatsapp",
        channel="whatsapp",
    )
    return True
