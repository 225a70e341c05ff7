"""Tracking links, the messages that carry them, and patients' opt-outs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from dispatch.core.clock import utcnow
from dispatch.core.settings import settings
from dispatch.notify import repository
from dispatch.notify.models import MessageOptOut, TrackingToken
from dispatch.notify.tokens import derive_token, new_token_salt, token_lookup_hash
from dispatch.orders.models import Order
from dispatch.outbox.service import enqueue

SMS_TOPIC = "notify.sms"


def issue_tracking_token(session: Session, order: Order) -> TrackingToken:
    assert order.id is not None
    existing = repository.get_token_for_order(session, order.id)
    if existing is not None:
        return existing
    salt = new_token_salt()
    token = TrackingToken(
        hospital_id=order.hospital_id,
        order_id=order.id,
        salt=salt,
        lookup_hash=token_lookup_hash(derive_token(settings.secret_key, salt)),
        expires_at=utcnow() + timedelta(days=settings.tracking_token_days),
    )
    session.add(token)
    session.flush()
    return token


def tracking_url(session: Session, order: Order) -> str | None:
    assert order.id is not None
    token = repository.get_token_for_order(session, order.id)
    if token is None:
        return None
    return f"{settings.public_base_url.rstrip('/')}/t/{derive_token(settings.secret_key, token.salt)}"


def queue_sms(
    session: Session, order_id: int, hospital_id: int, kind: str, *, dedupe_key: str, channel: str = "sms"
) -> None:
    """One patient message, sent by the outbox at most once per ``dedupe_key``; SMS unless told otherwise."""
    payload = {"order_id": order_id, "kind": kind, "dedupe_key": dedupe_key}
    if channel != "sms":
        payload["channel"] = channel
    enqueue(session, SMS_TOPIC, payload, hospital_id=hospital_id)


# A reply that is only one of these words (any case, surrounding punctuation ignored) is a request to stop.
# STOP and its English relatives are the keywords Twilio and operators honour; BERHENTI is the Indonesian.
STOP_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "BERHENTI"})
# ... and to opt back in: START and UNSTOP lift Twilio's own block too; MULAI is the Indonesian.
START_KEYWORDS = frozenset({"START", "UNSTOP", "MULAI"})

# The channels' names in the staff's and the patient's words.
CHANNEL_NAMES: Final[dict[str, str]] = {"sms": "SMS", "whatsapp": "WhatsApp"}


def _reply_keyword(text: str) -> str:
    """A reply as the keyword it may be: without surrounding blanks and punctuation, in capitals."""
    return text.strip(" \t\r\n.!").upper()


def is_stop_request(text: str) -> bool:
    return _reply_keyword(text) in STOP_KEYWORDS


def is_start_request(text: str) -> bool:
    return _reply_keyword(text) in START_KEYWORDS


def opt_out(
    session: Session,
    hospital_id: int,
    phone_e164: str,
    channel: str,
    *,
    source: str,
    data: dict[str, Any] | None = None,
) -> MessageOptOut:
    """Records that the patient wants no more messages on ``channel`` from this hospital; a second request
    (a repeated STOP, a provider's retry of the webhook) finds the first and changes nothing."""
    existing = repository.get_opt_out(session, hospital_id, phone_e164, channel)
    if existing is not None:
        return existing
    record = MessageOptOut(
        hospital_id=hospital_id, phone_e164=phone_e164, channel=channel, source=source, data=data or {}
    )
    try:
        with session.begin_nested():
            session.add(record)
    except IntegrityError:
        # Another worker recorded the same opt-out between the look-up and the insert.
        found = repository.get_opt_out(session, hospital_id, phone_e164, channel)
        assert found is not None
        return found
    return record


def is_opted_out(session: Session, hospital_id: int, phone_e164: str, channel: str) -> bool:
    return repository.get_opt_out(session, hospital_id, phone_e164, channel) is not None


def opt_in(session: Session, hospital_id: int, phone_e164: str, channel: str) -> bool:
    """Lifts the patient's opt-out on ``channel`` from this hospital, whoever recorded it: the patient's own
    latest word (a START reply, or asking the pharmacy) stands. False when there was none to lift, so a
    repeated START changes nothing."""
    return repository.delete_opt_out(session, hospital_id, phone_e164, channel)
