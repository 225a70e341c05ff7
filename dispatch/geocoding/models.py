"""What online geocoders answered, kept so an address is asked once (their usage policies limit the rate)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from dispatch.core.clock import utcnow
from dispatch.core.db import UTCDateTime


class GeocodeCacheEntry(SQLModel, table=True):
    __tablename__ = "geocode_cache"
    __table_args__ = (UniqueConstraint("provider", "query_key"),)

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=32)
    query_key: str = Field(max_length=64, description="sha256 of the normalised query")
    result: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True), description="None: the provider found nothing"
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
