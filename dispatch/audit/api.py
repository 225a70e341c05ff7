"""GET /api/v1/audit: the hospital's audit log for its admins, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlmodel import SQLModel

from dispatch.audit import repository
from dispatch.auth.api import STAFF_RESPONSES, role_checker
from dispatch.auth.models import Role, StaffUser
from dispatch.core.db import SessionDep
from dispatch.core.http import Offset

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], responses=STAFF_RESPONSES)

Admin = Annotated[StaffUser, Depends(role_checker(Role.ADMIN))]


class AuditEntryPublic(SQLModel):
    id: int
    staff_user_id: int | None
    actor: str
    action: str
    target_type: str
    target_id: int | None
    detail: str
    data: dict[str, Any]
    at: datetime


class AuditPage(SQLModel):
    data: list[AuditEntryPublic]
    count: int


@router.get("", operation_id="audit-list")
def read_audit(
    session: SessionDep,
    user: Admin,
    limit: int = Query(default=50, ge=1, le=500),
    offset: Offset = 0,
) -> AuditPage:
    entries, count = repository.list_for_hospital(session, user.hospital_id, limit=limit, offset=offset)
    return AuditPage(
        data=[AuditEntryPublic.model_validate(e, from_attributes=True) for e in entries], count=count
    )
