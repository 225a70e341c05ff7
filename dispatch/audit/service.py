"""Writing the audit log: who did what to which record, in the same transaction as the action itself.

Routes call ``record`` once per staff action, just before they commit: the route is where the staff member
is known (services take an actor name and are shared with couriers and the system), and a refused or
rolled-back action leaves no entry.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from dispatch.audit import repository
from dispatch.audit.models import AuditEntry
from dispatch.auth.models import StaffUser


def record(
    session: Session,
    user: StaffUser,
    action: str,
    target_type: str,
    target_id: int | None,
    detail: str = "",
    data: dict[str, Any] | None = None,
) -> AuditEntry:
    """``data`` must never hold a secret (a password, an API key, a courier's credentials): the log is read
    by every admin of the hospital."""
    return repository.add(
        session,
        AuditEntry(
            hospital_id=user.hospital_id,
            staff_user_id=user.id,
            actor=user.username,
            action=action,
            target_type=target_type,
            target_id=target_id,
            detail=detail[:500],
            data=data or {},
        ),
    )
