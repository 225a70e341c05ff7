"""Staff accounts, login with lock-out, and sessions."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from dispatch.auth import repository
from dispatch.auth.models import Role, StaffSession, StaffUser, StaffUserCreate
from dispatch.core.clock import utcnow
from dispatch.core.security import (
    DUMMY_PASSWORD_HASH,
    hash_password,
    new_bearer_token,
    token_hash,
    verify_password,
)
from dispatch.core.settings import settings
from dispatch.hospitals.models import Hospital

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)


class UserExists(ValueError):
    pass


class LoginRefused(Exception):
    """One message for every cause, so a caller cannot tell which usernames exist."""


def create_user(session: Session, hospital: Hospital, data: StaffUserCreate) -> StaffUser:
    assert hospital.id is not None
    if repository.get_user_by_username(session, data.username) is not None:
        raise UserExists(f"user {data.username} already exists")
    user = StaffUser(
        hospital_id=hospital.id,
        username=data.username,
        full_name=data.full_name,
        role=data.role,
        password_hash=hash_password(data.password),
    )
    session.add(user)
    session.flush()
    return user


def login(session: Session, username: str, password: str) -> tuple[StaffUser, str]:
    """Returns the user and a new session token; repeated failures lock the account for a while."""
    now = utcnow()
    user = repository.get_user_by_username(session, username)
    if user is None:
        verify_password(DUMMY_PASSWORD_HASH, password)
        raise LoginRefused
    if not user.active or (user.locked_until is not None and user.locked_until > now):
        raise LoginRefused
    if not verify_password(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
        raise LoginRefused
    assert user.id is not None
    user.failed_logins = 0
    user.locked_until = None
    token = new_bearer_token("gs")
    expires = now + timedelta(hours=settings.staff_session_hours)
    session.add(StaffSession(user_id=user.id, token_hash=token_hash(token), expires_at=expires))
    return user, token


def user_for_token(session: Session, token: str) -> StaffUser | None:
    staff_session = repository.get_session_by_hash(session, token_hash(token))
    if staff_session is None or staff_session.expires_at <= utcnow():
        return None
    user = session.get(StaffUser, staff_session.user_id)
    return user if user is not None and user.active else None


def logout(session: Session, token: str) -> None:
    staff_session = repository.get_session_by_hash(session, token_hash(token))
    if staff_session is not None:
        staff_session.revoked_at = utcnow()


def may(user: StaffUser, *roles: Role) -> bool:
    """Admins may do anything a pharmacist or dispatcher may."""
    return user.role in roles or user.role == Role.ADMIN
