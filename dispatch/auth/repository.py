"""All SQL for staff users and sessions."""

from __future__ import annotations

from sqlmodel import Session, col, select

from dispatch.auth.models import StaffSession, StaffUser


def get_user_by_username(session: Session, username: str) -> StaffUser | None:
    return session.exec(select(StaffUser).where(StaffUser.username == username)).first()


def get_session_by_hash(session: Session, token_hash: str) -> StaffSession | None:
    query = select(StaffSession).where(StaffSession.token_hash == token_hash)
    return session.exec(query.where(col(StaffSession.revoked_at).is_(None))).first()
