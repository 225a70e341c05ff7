"""Raw inbound messages: FHIR posts, courier webhooks; kept whether they were accepted or not."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from dispatch.core.clock import utcnow
from dispatch.core.db import UTCDateTime, enum_column_type

# Courier webhooks are archived as "courier:<name>".
COURIER_SOURCE_PREFIX = "courier:"


class InboxStatus(enum.StrEnum):
    RECEIVED = "received"
    ACCEPTED = "accepted"
    PROCESSED = "processed"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"  # authentic and harmless, but nothing to apply: a registration probe, a wallet event


class InboxMessage(SQLModel, table=True):
    __tablename__ = "inbox_messages"
    __table_args__ = (UniqueConstraint("source", "dedupe_key"),)

    id: int | None = Field(default=None, primary_key=True)
    hospital_id: int | None = Field(default=None, foreign_key="hospitals.id", index=True)
    source: str = Field(max_length=64, description="fhir, courier:gosend, …")
    dedupe_key: str | None = Field(default=None, max_length=200)
    content_type: str = Field(default="", max_length=100)
    headers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    body: bytes = Field(
        sa_column=Column(LargeBinary, nullable=False), description="Exactly the bytes received"
    )
    status: InboxStatus = Field(
        default=InboxStatus.RECEIVED, sa_type=enum_column_type(InboxStatus), index=True
    )
    error: str | None = Field(default=None, max_length=2000)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
