"""The audit log: one row per staff action, written in the action's own transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from dispatch.core.clock import utcnow
from dispatch.core.db import UTCDateTime


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    hospital_id: int = Field(foreign_key="hospitals.id", index=True, ondelete="CASCADE")
    staff_user_id: int | None = Field(default=None, foreign_key="staff_users.id", index=True)
    actor: str = Field(max_length=100)
    action: str = Field(max_length=64, description="e.g. order.release, courier.choose, user.create")
    target_type: str = Field(max_length=32)
    target_id: int | None = None
    detail: str = Field(default="", max_length=500)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
