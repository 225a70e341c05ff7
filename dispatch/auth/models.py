"""Staff who act on orders; each belongs to one hospital and has one role."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlmodel import Field, SQLModel

from dispatch.core.clock import utcnow
from dispatch.core.db import UTCDateTime, enum_column_type


class Role(enum.StrEnum):
    PHARMACIST = "pharmacist"
    DISPATCHER = "dispatcher"
    ADMIN = "admin"
    VIEWER = "viewer"


class StaffUserBase(SQLModel):
    username: str = Field(index=True, unique=True, max_length=64)
    full_name: str = Field(max_length=200)
    role: Role = Field(sa_type=enum_column_type(Role))


class StaffUser(StaffUserBase, table=True):
    __tablename__ = "staff_users"

    id: int | None = Field(default=None, primary_key=True)
    hospital_id: int = Field(foreign_key="hospitals.id", index=True, ondelete="CASCADE")
    password_hash: str = Field(max_length=200)
    active: bool = True
    failed_logins: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class StaffUserCreate(StaffUserBase):
    password: str = Field(min_length=10, max_length=200)


class StaffUserPublic(StaffUserBase):
    id: int
    hospital_id: int


class StaffSession(SQLModel, table=True):
    """A login; the token itself lives only in the staff's cookie or Authorization header."""

    __tablename__ = "staff_sessions"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="staff_users.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(unique=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
