"""Tracking links and the SMS that carry them."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from dispatch.core.clock import utcnow
from dispatch.core.settings import settings
from dispatch.notify import repository
from dispatch.notify.models import TrackingToken
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


def queue_sms(session: Session, order_id: int, hospital_id: int, kind: str, *, dedupe_key: str) -> None:
    enqueue(
        session,
        SMS_TOPIC,
        {"order_id": order_id, "kind": kind, "dedupe_key": dedupe_key},
        hospital_id=hospital_id,
    )
