"""A booking attempt is its own row: one order may try several couriers before one delivers."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from dispatch.core.clock import utcnow
from dispatch.core.db import UTCDateTime, enum_column_type


class AttemptStatus(enum.StrEnum):
    PENDING = "pending"  # persisted before the courier is called, so a timeout can be reconciled
    BOOKED = "booked"
    REFUSED = "refused"  # the courier said no to the booking call
    NO_DRIVER = "no_driver"
    CANCELLED = "cancelled"
    DELIVERED = "delivered"
    FAILED = "failed"


ACTIVE_ATTEMPT = frozenset({AttemptStatus.PENDING, AttemptStatus.BOOKED})


class BookingAttempt(SQLModel, table=True):
    __tablename__ = "booking_attempts"
    __table_args__ = (UniqueConstraint("courier", "provider_order_id"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True, ondelete="CASCADE")
    hospital_id: int = Field(foreign_key="hospitals.id", index=True, ondelete="CASCADE")
    courier: str = Field(max_length=32)
    account_id: int = Field(foreign_key="courier_accounts.id")
    reference: str = Field(unique=True, max_length=64, description="Our idempotency key toward the courier")
    status: AttemptStatus = Field(default=AttemptStatus.PENDING, sa_type=enum_column_type(AttemptStatus))
    provider_order_id: str | None = Field(default=None, max_length=64)
    provider_status: str | None = Field(default=None, max_length=64)
    driver_name: str | None = Field(default=None, max_length=100)
    driver_phone: str | None = Field(default=None, max_length=32)
    vehicle_plate: str | None = Field(default=None, max_length=20)
    tracking_url: str | None = Field(default=None, max_length=500)
    price_idr: int | None = None
    quoted_price_idr: int | None = Field(default=None, description="What the courier quoted when chosen")
    quoted_distance_km: float | None = Field(
        default=None, description="The courier's road distance, from which the road factor is learned"
    )
    eta_at: datetime | None = Field(
        default=None,
        sa_type=UTCDateTime,
        description="When the parcel should reach the patient's door, as last estimated (shown to the patient)",
    )
    error: str | None = Field(default=None, max_length=500)
    last_event_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
