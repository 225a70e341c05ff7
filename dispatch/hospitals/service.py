"""Creating hospitals, API keys and courier accounts; used by the CLI and the demo."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from couriers.registry import validate_settings
from dispatch.core.security import new_bearer_token, token_hash
from dispatch.hospitals import repository
from dispatch.hospitals.models import ApiKey, CourierAccount, Hospital, HospitalCreate


class HospitalExists(ValueError):
    pass


def create_hospital(session: Session, data: HospitalCreate) -> Hospital:
    if repository.get_by_code(session, data.code) is not None:
        raise HospitalExists(f"hospital {data.code} already exists")
    hospital = Hospital.model_validate(data)
    session.add(hospital)
    session.flush()
    return hospital


def create_api_key(session: Session, hospital: Hospital, name: str) -> tuple[ApiKey, str]:
    """Returns the row and the plaintext key, which is never retrievable again."""
    assert hospital.id is not None
    plaintext = new_bearer_token("gk")
    api_key = ApiKey(
        hospital_id=hospital.id, name=name, prefix=plaintext[:10], key_hash=token_hash(plaintext)
    )
    session.add(api_key)
    session.flush()
    return api_key, plaintext


def authenticate_api_key(session: Session, plaintext: str) -> Hospital | None:
    api_key = repository.get_api_key_by_hash(session, token_hash(plaintext))
    if api_key is None:
        return None
    return session.get(Hospital, api_key.hospital_id)


def add_courier_account(
    session: Session,
    hospital: Hospital,
    courier: str,
    settings: dict[str, Any],
    *,
    priority: int = 100,
    label: str = "default",
) -> CourierAccount:
    """Validates the settings with the courier's own model now, not at the first booking."""
    assert hospital.id is not None
    validate_settings(courier, settings)
    account = CourierAccount(
        hospital_id=hospital.id, courier=courier, label=label, settings=settings, priority=priority
    )
    session.add(account)
    session.flush()
    return account


def validate_enabled_courier_accounts(session: Session) -> None:
    """Start-up check: every enabled account's courier must load and its settings validate, or we refuse."""
    for account in repository.all_enabled_courier_accounts(session):
        try:
            validate_settings(account.courier, account.settings)
        except (ValueError, LookupError) as exc:  # bad settings, or a courier no longer installed
            raise RuntimeError(
                f"courier account {account.id} ({account.courier}) of hospital {account.hospital_id} "
                f"has invalid settings: {exc}"
            ) from exc
