"""All SQL for SMS messages and tracking tokens."""

from __future__ import annotations

from sqlmodel import Session, select

from dispatch.notify.models import SmsMessage, TrackingToken


def get_sms_by_dedupe_key(session: Session, dedupe_key: str) -> SmsMessage | None:
    return session.exec(select(SmsMessage).where(SmsMessage.dedupe_key == dedupe_key)).first()


def get_token_for_order(session: Session, order_id: int) -> TrackingToken | None:
    return session.exec(select(TrackingToken).where(TrackingToken.order_id == order_id)).first()


def get_token_by_hash(session: Session, lookup_hash: str) -> TrackingToken | None:
    return session.exec(select(TrackingToken).where(TrackingToken.lookup_hash == lookup_hash)).first()
