"""One row per side effect to perform (book, cancel, SMS, write-back); the topic is the Celery task name."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer
from sqlmodel import Field, SQLModel

from dispatch.core.clock import utcnow
from dispatch.core.db import UTCDateTime


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_unfinished", "processed_at", "published_at"),)

    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    hospital_id: int | None = Field(default=None, foreign_key="hospitals.id", index=True)
    topic: str = Field(max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    available_at: datetime = Field(
        default_factory=utcnow,
        sa_type=UTCDateTime,
        description="Not published before: retries wait in the database",
    )
    attempts: int = Field(default=0, description="Scheduled retries so far")
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    publish_count: int = 0
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=2000)
