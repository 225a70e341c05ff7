"""Receiving a message provider's webhook: archive, authenticate, then apply delivery reports and replies.

Archived first, in its own transaction, so a report that fails to verify or to parse is still there to be
looked at. The signature is checked with every hospital's secret for that gateway (a provider account per
hospital): the ones that verify are the hospitals the webhook may speak for, so a hospital's secret can
never move another hospital's messages. Reports may come twice and out of order: a message never goes
back from delivered to sent, and a failure alerts staff only once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlmodel import Session

from dispatch.core.clock import utcnow
from dispatch.core.db import new_session
from dispatch.hospitals.models import Hospital
from dispatch.inbox import service as inbox_service
from dispatch.inbox.models import InboxMessage, InboxStatus
from dispatch.inbox.repository import mark
from dispatch.notify import repository
from dispatch.notify.channels import Channel, gateway_for
from dispatch.notify.gateways import (
    Callback,
    CallbackGateway,
    CallbackPayloadError,
    InboundMessage,
    Receipt,
    SmsGateway,
    SubscriptionGateway,
)
from dispatch.notify.models import MessageStatus
from dispatch.notify.outcomes import record_failure
from dispatch.notify.service import (
    CHANNEL_NAMES,
    is_opted_out,
    is_start_request,
    is_stop_request,
    opt_in,
    opt_out,
)
from dispatch.orders.models import Order
from dispatch.orders.service import add_event

__all__ = ["ReceiptResult", "answer_subscription", "receive"]

_SOURCE_MAX = 64

# How far along a message is; a report only ever moves it forward. A failure outranks sent (the operator
# gave up) but not delivered: WhatsApp may report "failed" for one of a patient's devices after another
# already showed the message.
_RANK = {
    MessageStatus.PENDING: 0,
    MessageStatus.RETRYING: 0,
    MessageStatus.UNKNOWN: 0,
    MessageStatus.QUEUED: 1,
    MessageStatus.SENT: 2,
    MessageStatus.FAILED: 3,
    MessageStatus.DELIVERED: 4,
}
_STATUS_OF_RECEIPT = {
    "queued": MessageStatus.QUEUED,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.DELIVERED,
    "failed": MessageStatus.FAILED,
}


@dataclass(frozen=True)
class ReceiptResult:
    status_code: int
    title: str
    detail: str = ""
    applied: list[str] = field(default_factory=list)


def _gateways_named(session: Session, name: str) -> list[tuple[Hospital, SmsGateway]]:
    """Every hospital's gateway called ``name``, on whichever channel it is configured."""
    found = []
    channels: tuple[Channel, ...] = ("sms", "whatsapp")
    for hospital in repository.all_hospitals(session):
        for channel in channels:
            gateway = gateway_for(hospital, channel)
            if gateway is not None and gateway.name == name:
                found.append((hospital, gateway))
    return found


def answer_subscription(name: str, query: Mapping[str, str]) -> str | None:
    """The challenge to echo when a hospital's gateway recognises the verify token, else None."""
    with new_session() as session:
        for _hospital, gateway in _gateways_named(session, name):
            if isinstance(gateway, SubscriptionGateway) and (answer := gateway.answer_subscription(query)):
                return answer
    return None


def receive(name: str, url: str, headers: Mapping[str, str], body: bytes) -> ReceiptResult:
    inbox_id = inbox_service.archive_raw(f"messages:{name}"[:_SOURCE_MAX], body, headers)
    with new_session() as session:
        candidates = _gateways_named(session, name)
        verified = [
            (hospital, gateway)
            for hospital, gateway in candidates
            if isinstance(gateway, CallbackGateway) and gateway.verify_callback(url, headers, body)
        ]
        if not verified:
            inbox_service.reject(inbox_id, "authentication failed")
            if not candidates:
                return ReceiptResult(404, "Unknown gateway", f"No hospital receives reports from {name!r}.")
            return ReceiptResult(401, "Webhook authentication failed", "Missing or wrong signature.")
        hospital_ids = [hospital.id for hospital, _gateway in verified if hospital.id is not None]
        only_hospital = hospital_ids[0] if len(set(hospital_ids)) == 1 else None
        gateway = verified[0][1]
        assert isinstance(gateway, CallbackGateway)
        try:
            callback = gateway.parse_callback(headers, body)
        except CallbackPayloadError as exc:
            inbox_service.reject(inbox_id, f"unparseable: {exc}", hospital_id=only_hospital)
            return ReceiptResult(400, "Malformed webhook", str(exc))
        applied = _apply(session, name, [hospital for hospital, _gateway in verified], callback)
        message = session.get(InboxMessage, inbox_id)
        assert message is not None
        message.hospital_id = only_hospital
        mark(message, InboxStatus.PROCESSED, "; ".join(applied)[:2000] or None)
        session.commit()
    return ReceiptResult(200, "Accepted", applied=applied)


def _apply(session: Session, name: str, hospitals: Sequence[Hospital], callback: Callback) -> list[str]:
    """What each report and reply did, in words for the inbox record."""
    hospital_ids = [hospital.id for hospital in hospitals if hospital.id is not None]
    by_id = {hospital.id: hospital for hospital in hospitals}
    notes = [_apply_receipt(session, name, hospital_ids, by_id, receipt) for receipt in callback.receipts]
    notes += [_apply_reply(session, name, hospitals, reply) for reply in callback.inbound]
    return notes


def _apply_receipt(
    session: Session,
    name: str,
    hospital_ids: list[int],
    hospitals: Mapping[int | None, Hospital],
    receipt: Receipt,
) -> str:
    sms = repository.get_sms_for_receipt(session, name, receipt.provider_message_id, hospital_ids)
    if sms is None:
        return f"{receipt.provider_message_id}: no such message"
    reported = _STATUS_OF_RECEIPT[receipt.status]
    current = MessageStatus(sms.status)
    if _RANK.get(reported, 0) < _RANK.get(current, 0):
        return f"{receipt.provider_message_id}: {receipt.provider_status} after {sms.status}, kept"
    sms.receipt_status = receipt.provider_status[:32]
    if reported == MessageStatus.DELIVERED:
        sms.status = MessageStatus.DELIVERED
        sms.delivered_at = sms.delivered_at or utcnow()
    elif reported == MessageStatus.FAILED:
        if current != MessageStatus.FAILED:
            order = session.get(Order, sms.order_id)
            assert order is not None
            record_failure(session, hospitals[sms.hospital_id], order, sms, receipt.error or "undelivered")
    else:
        sms.status = reported
    return f"{receipt.provider_message_id}: {receipt.provider_status}"


def _apply_reply(session: Session, name: str, hospitals: Sequence[Hospital], reply: InboundMessage) -> str:
    """A STOP reply opts the patient out of that channel at every hospital whose number received it, a START
    reply opts them back in; either is noted on the timeline of the patient's orders still under way."""
    if is_stop_request(reply.text):
        change, stopped = "opt-out", True
    elif is_start_request(reply.text):
        change, stopped = "opt-in", False
    else:
        return "reply ignored (not a stop or start request)"
    keyword = reply.text.strip()[:32]
    for hospital in hospitals:
        assert hospital.id is not None
        if stopped == is_opted_out(session, hospital.id, reply.from_e164, reply.channel):
            continue  # a repeated keyword, or the provider's retry of the webhook: nothing changes
        if stopped:
            opt_out(
                session,
                hospital.id,
                reply.from_e164,
                reply.channel,
                source="reply",
                data={"gateway": name, "keyword": keyword},
            )
        else:
            opt_in(session, hospital.id, reply.from_e164, reply.channel)
        _note_on_orders(session, hospital.id, reply, keyword, stopped=stopped)
    return f"{change} ({reply.channel})"


def _note_on_orders(
    session: Session, hospital_id: int, reply: InboundMessage, keyword: str, *, stopped: bool
) -> None:
    """Staff reading an order see why its messages stopped, or started again."""
    channel = CHANNEL_NAMES.get(reply.channel, reply.channel)
    detail = (
        f"Pasien membalas {keyword}: {channel} dihentikan / the patient replied {keyword}: {channel} stopped"
        if stopped
        else f"Pasien membalas {keyword}: {channel} aktif lagi / the patient replied {keyword}: {channel} resumed"
    )
    for order in repository.orders_under_way_for_phone(session, hospital_id, reply.from_e164):
        add_event(session, order, "patient", detail, actor="patient", data={"channel": reply.channel})
