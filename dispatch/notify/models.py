"""SMS messages sent to patients and the tracking tokens their links carry."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from dispatch.core.clock import utcnow
from dispatch.core.db import UTCDateTime


class SmsMessage(SQLModel, table=True):
    """``dedupe_key`` makes a redelivered task a no-op instead of a second SMS."""

    __tablename__ = "sms_messages"

    id: int | None = Field(default=None, primary_key=True)
    hospital_id: int = Field(foreign_key="hospitals.id", index=True, ondelete="CASCADE")
    order_id: int = Field(foreign_key="orders.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=32)
    dedupe_key: str = Field(unique=True, max_length=100)
    to_phone: str = Field(max_length=20)
    text: str = Field(max_length=480)
    gateway: str = Field(max_length=32)
    status: str = Field(default="pending", max_length=16)
    provider_message_id: str | None = Field(default=None, max_length=100)
    error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class TrackingToken(SQLModel, table=True):
    """The link is derived from ``salt`` and the secret key; only its hash is looked up."""

    __tablename__ = "tracking_tokens"

    id: int | None = Field(default=None, primary_key=True)
    hospital_id: int = Field(foreign_key="hospitals.id", index=True, ondelete="CASCADE")
    order_id: int = Field(foreign_key="orders.id", unique=True, ondelete="CASCADE")
    salt: str = Field(max_length=32)
    lookup_hash: str = Field(unique=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
