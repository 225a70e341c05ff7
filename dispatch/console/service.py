"""What admins change from the console: staff, courier accounts, the hospital's settings and deny-list.

Never commits: the route records the audit entry and commits both together. Secrets (passwords, courier
credentials, gateway and geocoder keys) are checked here and stored, never shown again or put in an error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

from pydantic import BaseModel, ValidationError
from sqlmodel import Session

from couriers.registry import validate_settings
from dispatch.auth import service as auth_service
from dispatch.auth.models import Role, StaffUser, StaffUserCreate
from dispatch.console import repository
from dispatch.core.security import hash_password
from dispatch.dispatching.policy import DispatchPolicy
from dispatch.geocoding.policy import GeocodingPolicy
from dispatch.hospitals import service as hospitals_service
from dispatch.hospitals.models import CourierAccount, Hospital
from dispatch.notify.settings import MessagingSettings
from hospital_adapter.restrictions import RestrictionPolicy

# What a secret looks like on a page; sent back unchanged, it keeps the stored value.
MASK: Final = "********"
# Keys whose values are credentials in the hospital's settings: a gateway's or a geocoder's constructor options.
SECRET_HOLDERS: Final = frozenset({"options"})


class AdminRefused(ValueError):
    """An admin's change that cannot be made; the message says why in Bahasa Indonesia and English."""


def _problems(exc: ValidationError) -> str:
    """Where and what only: the input may hold a password or a key."""
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or '-'}: {error['msg']}"
        for error in exc.errors(include_input=False, include_url=False)
    )


# --- staff -------------------------------------------------------------------------------------------------


def create_user(
    session: Session, hospital: Hospital, username: str, full_name: str, role: str, password: str
) -> StaffUser:
    try:
        data = StaffUserCreate(
            username=username.strip(),
            full_name=full_name.strip() or username,
            role=Role(role),
            password=password,
        )
    except (ValidationError, ValueError) as exc:
        detail = _problems(exc) if isinstance(exc, ValidationError) else "role"
        raise AdminRefused(f"Data pengguna tidak valid / invalid user: {detail}") from None
    try:
        return auth_service.create_user(session, hospital, data)
    except auth_service.UserExists:
        raise AdminRefused(f"Nama pengguna {data.username} sudah dipakai / username already taken") from None


def set_active(session: Session, admin: StaffUser, user: StaffUser, active: bool) -> None:
    """A disabled user's sessions end at once; an admin cannot lock themselves out."""
    if user.id == admin.id and not active:
        raise AdminRefused(
            "Anda tidak dapat menonaktifkan akun sendiri / you cannot disable your own account"
        )
    assert user.id is not None
    user.active = active
    if not active:
        repository.revoke_sessions(session, user.id)


def reset_password(session: Session, user: StaffUser, password: str) -> None:
    """A new password ends the user's sessions and lifts a lock-out."""
    if not 10 <= len(password) <= 200:
        raise AdminRefused("Kata sandi minimal 10 karakter / the password needs at least 10 characters")
    assert user.id is not None
    user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    repository.revoke_sessions(session, user.id)


# --- courier accounts --------------------------------------------------------------------------------------


def add_courier_account(
    session: Session, hospital: Hospital, courier: str, label: str, priority: int, settings_json: str
) -> CourierAccount:
    assert hospital.id is not None
    settings = _json_object(settings_json)
    label = label.strip() or "default"
    if any(
        a.courier == courier and a.label == label for a in repository.courier_accounts(session, hospital.id)
    ):
        raise AdminRefused(f"Akun {courier} ({label}) sudah ada / the account already exists")
    try:
        return hospitals_service.add_courier_account(
            session, hospital, courier, settings, priority=priority, label=label
        )
    except (ValueError, LookupError) as exc:  # the courier's own model refused, or no such courier
        raise AdminRefused(str(exc)) from None


def set_courier_enabled(account: CourierAccount, enabled: bool) -> None:
    """An account is checked again before it is enabled: its courier may have been updated since."""
    if enabled:
        try:
            validate_settings(account.courier, account.settings)
        except (ValueError, LookupError) as exc:
            raise AdminRefused(str(exc)) from None
    account.enabled = enabled


def shown_courier_settings(account: CourierAccount) -> dict[str, Any]:
    """As the courier's model reads them, its SecretStr fields masked; raw when the model refuses them."""
    try:
        return validate_settings(account.courier, account.settings).model_dump(mode="json")
    except (ValueError, LookupError):
        return dict.fromkeys(account.settings, MASK)


# --- hospital settings -------------------------------------------------------------------------------------

SETTINGS: Final[dict[str, tuple[str, type[BaseModel]]]] = {
    "dispatch": ("dispatch_policy", DispatchPolicy),
    "geocoding": ("geocoding_policy", GeocodingPolicy),
    "messaging": ("messaging_settings", MessagingSettings),
}


def shown_settings(hospital: Hospital, kind: str) -> str:
    column, _model = SETTINGS[kind]
    return json.dumps(_masked(getattr(hospital, column)), indent=2, ensure_ascii=False)


def save_settings(hospital: Hospital, kind: str, submitted: str) -> None:
    """Replaces one of the hospital's settings after its model accepts them; masked secrets keep their value."""
    column, model = SETTINGS[kind]
    value = _unmasked(_json_object(submitted), getattr(hospital, column))
    try:
        model.model_validate(value)
    except ValidationError as exc:
        raise AdminRefused(f"Pengaturan tidak valid / invalid settings: {_problems(exc)}") from None
    setattr(hospital, column, value)


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise AdminRefused(
            f"JSON tidak valid / invalid JSON: {exc.msg} (baris / line {exc.lineno})"
        ) from None
    if not isinstance(value, dict):
        raise AdminRefused("JSON harus berupa objek {…} / the JSON must be an object {…}")
    return value


def _masked(value: Any, *, secret: bool = False) -> Any:
    if isinstance(value, dict):
        return {k: _masked(v, secret=secret or k in SECRET_HOLDERS) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, secret=secret) for v in value]
    return MASK if secret else value


def _unmasked(value: Any, stored: Any) -> Any:
    """``value`` with every MASK put back to what ``stored`` holds at the same place (if it holds one)."""
    if value == MASK:
        return stored if stored is not None and not isinstance(stored, dict | list) else value
    if isinstance(value, dict):
        old = stored if isinstance(stored, dict) else {}
        return {k: _unmasked(v, old.get(k)) for k, v in value.items()}
    if isinstance(value, list):
        old_items = stored if isinstance(stored, list) else []
        return [_unmasked(v, old_items[i] if i < len(old_items) else None) for i, v in enumerate(value)]
    return value


# --- deny-list ---------------------------------------------------------------------------------------------

# The deny-list entries an admin edits, by the RestrictionPolicy field that holds them.
DENY_LISTS: Final = {
    "denied_kfa_codes": "Kode KFA / KFA code",
    "denied_local_codes": "Kode obat RS / hospital drug code",
    "denied_drug_classes": "Golongan obat / drug class",
    "denied_name_terms": "Nama zat aktif / active ingredient",
}


def deny_lists(hospital: Hospital) -> dict[str, dict[str, str]]:
    """Each list as it applies now: the hospital's own if it set one, the PerBPOM defaults otherwise."""
    policy = RestrictionPolicy.model_validate(hospital.restriction_policy)
    return {field: dict(sorted(getattr(policy, field).items())) for field in DENY_LISTS}


def change_deny_list(hospital: Hospital, field: str, change: Callable[[dict[str, str]], None]) -> None:
    """The list as it applies now, changed and stored whole: removing one default keeps the others."""
    if field not in DENY_LISTS:
        raise AdminRefused("Daftar tidak dikenal / unknown list")
    entries = deny_lists(hospital)[field]
    change(entries)
    policy = {**hospital.restriction_policy, field: entries}
    try:
        RestrictionPolicy.model_validate(policy)
    except ValidationError as exc:
        raise AdminRefused(f"Entri tidak valid / invalid entry: {_problems(exc)}") from None
    hospital.restriction_policy = policy
