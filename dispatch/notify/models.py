"""SMS messages sent to patients and the tracking tokens their links carry."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from dispatch.core.clock import utcnow
from dispatch.core.db import UTCDateTime


class MessageStatus(enum.StrEnum):
    """Where a patient message stands, as staff read it (``SmsMessage.status``)."""

    PENDING = (
        "pending"  # being handed to the gateway; if a crash leaves it so, it may have left: never resent
    )
    RETRYING = "retrying"  # the gateway surely did not take it (no connection, 5xx, 429): the retry sends it
    QUEUED = "queued"  # accepted by the provider, not yet with the operator
    SENT = "sent"
    DELIVERED = "delivered"  # the delivery report says it reached the phone (or was read)
    FAILED = "failed"  # refused for good, or reported undelivered: staff are alerted on the order
    OPTED_OUT = "opted_out"  # not sent: the patient asked for no more messages on this channel
    UNKNOWN = "unknown"  # sent into silence (no answer): not resent, so the patient never gets it twice


class SmsMessage(SQLModel, table=True):
    """One message to a patient on one channel (SMS or WhatsApp); ``dedupe_key`` makes a redelivered task
    a no-op instead of a second message."""

    __tablename__ = "sms_messages"

    id: int | None = Field(default=None, primary_key=True)
    hospital_id: int = Field(foreign_key="hospitals.id", index=True, ondelete="CASCADE")
    order_id: int = Field(foreign_key="orders.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=32)
    dedupe_key: str = Field(unique=True, max_length=100)
    to_phone: str = Field(max_length=20)
    text: str = Field(max_length=480)
    gateway: str = Field(max_length=32)
    channel: str = Field(default="sms", max_length=16, description="sms | whatsapp")
    status: str = Field(default="pending", max_length=16)
    provider_message_id: str | None = Field(default=None, max_length=100, index=True)
    error: str | None = Field(default=None, max_length=500)
    attempts: int = Field(default=0, description="Hand-overs to the gateway, retries included")
    receipt_status: str | None = Field(
        default=None, max_length=32, description="The provider's delivery report, in its own word"
    )
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MessageOptOut(SQLModel, table=True):
    """A patient who asked for no more messages on a channel (replied STOP, or told the pharmacy)."""

    __tablename__ = "message_opt_outs"
    __table_args__ = (UniqueConstraint("hospital_id", "phone_e164", "channel"),)

    id: int | None = Field(default=None, primary_key=True)
    hospital_id: int = Field(foreign_key="hospitals.id", index=True, ondelete="CASCADE")
    phone_e164: str = Field(max_length=20)
    channel: str = Field(max_length=16)
    source: str = Field(max_length=32, description="reply | staff | whatsapp")
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


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
