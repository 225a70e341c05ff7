"""All SQL for patient messages, opt-outs and tracking tokens."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete
from sqlmodel import Session, col, select

from dispatch.hospitals.models import Hospital
from dispatch.notify.models import MessageOptOut, SmsMessage, TrackingToken
from dispatch.orders.models import Order, Patient
from dispatch.orders.state_machine import TERMINAL


def get_sms_by_dedupe_key(session: Session, dedupe_key: str) -> SmsMessage | None:
    return session.exec(select(SmsMessage).where(SmsMessage.dedupe_key == dedupe_key)).first()


def get_sms_for_receipt(
    session: Session, gateway: str, provider_message_id: str, hospital_ids: Sequence[int]
) -> SmsMessage | None:
    """The message a delivery report is about, among the hospitals whose secret signed the report."""
    query = select(SmsMessage).where(
        SmsMessage.gateway == gateway,
        SmsMessage.provider_message_id == provider_message_id,
        col(SmsMessage.hospital_id).in_(hospital_ids),
    )
    return session.exec(query.with_for_update()).first()


def get_opt_out(session: Session, hospital_id: int, phone_e164: str, channel: str) -> MessageOptOut | None:
    query = select(MessageOptOut).where(
        MessageOptOut.hospital_id == hospital_id,
        MessageOptOut.phone_e164 == phone_e164,
        MessageOptOut.channel == channel,
    )
    return session.exec(query).first()


def delete_opt_out(session: Session, hospital_id: int, phone_e164: str, channel: str) -> bool:
    """True when there was an opt-out to lift."""
    result = session.exec(
        delete(MessageOptOut).where(
            col(MessageOptOut.hospital_id) == hospital_id,
            col(MessageOptOut.phone_e164) == phone_e164,
            col(MessageOptOut.channel) == channel,
        )
    )
    return bool(result.rowcount)


def orders_under_way_for_phone(session: Session, hospital_id: int, phone_e164: str) -> Sequence[Order]:
    """The hospital's orders not yet over for the patient (or patients) with this number."""
    query = (
        select(Order)
        .join(Patient, col(Patient.id) == col(Order.patient_id))
        .where(
            Order.hospital_id == hospital_id,
            Patient.hospital_id == hospital_id,
            Patient.phone_e164 == phone_e164,
            col(Order.status).not_in(TERMINAL),
        )
    )
    return session.exec(query.order_by(col(Order.id))).all()


def all_hospitals(session: Session) -> Sequence[Hospital]:
    """Few enough (one row per hospital) to filter their messaging settings in Python on both databases."""
    return session.exec(select(Hospital).order_by(col(Hospital.id))).all()


def get_token_for_order(session: Session, order_id: int) -> TrackingToken | None:
    return session.exec(select(TrackingToken).where(TrackingToken.order_id == order_id)).first()


def get_token_by_hash(session: Session, lookup_hash: str) -> TrackingToken | None:
    return session.exec(select(TrackingToken).where(TrackingToken.lookup_hash == lookup_hash)).first()
