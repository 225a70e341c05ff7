"""All SQL for hospitals, API keys and courier accounts."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from dispatch.hospitals.models import ApiKey, CourierAccount, Hospital, HospitalSink


def get_by_code(session: Session, code: str) -> Hospital | None:
    return session.exec(select(Hospital).where(Hospital.code == code)).first()


def get_api_key_by_hash(session: Session, key_hash: str) -> ApiKey | None:
    query = select(ApiKey).where(ApiKey.key_hash == key_hash).where(col(ApiKey.revoked_at).is_(None))
    return session.exec(query).first()


def enabled_courier_accounts(session: Session, hospital_id: int) -> Sequence[CourierAccount]:
    query = (
        select(CourierAccount)
        .where(CourierAccount.hospital_id == hospital_id)
        .where(col(CourierAccount.enabled).is_(True))
        .order_by(col(CourierAccount.priority), col(CourierAccount.id))
    )
    return session.exec(query).all()


def enabled_accounts_for_courier(session: Session, courier: str) -> Sequence[CourierAccount]:
    query = (
        select(CourierAccount)
        .where(CourierAccount.courier == courier)
        .where(col(CourierAccount.enabled).is_(True))
        .order_by(col(CourierAccount.id))
    )
    return session.exec(query).all()


def all_enabled_courier_accounts(session: Session) -> Sequence[CourierAccount]:
    return session.exec(select(CourierAccount).where(col(CourierAccount.enabled).is_(True))).all()


def enabled_sinks(session: Session, hospital_id: int) -> Sequence[HospitalSink]:
    query = select(HospitalSink).where(HospitalSink.hospital_id == hospital_id)
    return session.exec(query.where(col(HospitalSink.enabled).is_(True)).order_by(col(HospitalSink.id))).all()
