"""Every other row belongs to a hospital: this is the tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import phonenumbers
from pydantic import field_validator
from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from dispatch.core.clock import utcnow
from dispatch.core.db import UTCDateTime


class HospitalBase(SQLModel):
    code: str = Field(index=True, unique=True, max_length=32)
    name: str = Field(max_length=200)
    address: str = Field(default="", max_length=500)
    phone: str = Field(min_length=6, max_length=32, description="The pharmacy's number couriers call")
    lat: float
    lon: float
    kabupaten_code: str = Field(default="", max_length=16, description="Service area, e.g. 35.10")


class Hospital(HospitalBase, table=True):
    __tablename__ = "hospitals"

    id: int | None = Field(default=None, primary_key=True)
    eligibility_policy: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False), description="Overrides of the defaults"
    )
    restriction_policy: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False), description="Overrides of the defaults"
    )
    dispatch_policy: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column(JSON, nullable=False),
        description="Courier choice: cost or preference, price cap, quote deadline (DispatchPolicy)",
    )
    geocoding_policy: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column(JSON, nullable=False),
        description="Address finding: confidence threshold, service area, optional online geocoders",
    )
    messaging_settings: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column(JSON, nullable=False),
        description="Patient messages: gateway, sender id, channels (SMS, WhatsApp), language",
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class HospitalCreate(HospitalBase):
    @field_validator("phone")
    @classmethod
    def _dialable_indonesian_number(cls, phone: str) -> str:
        """Couriers call this number at pick-up; a typo here fails every booking, so refuse it up front."""
        try:
            parsed = phonenumbers.parse(phone, "ID")
        except phonenumbers.NumberParseException as exc:
            raise ValueError(f"not a phone number: {exc}") from exc
        if not phonenumbers.is_valid_number(parsed) or parsed.country_code != 62:
            raise ValueError("not a valid Indonesian phone number")
        return phone

    @field_validator("lat")
    @classmethod
    def _latitude(cls, lat: float) -> float:
        if not -90 <= lat <= 90:
            raise ValueError("latitude must be between -90 and 90")
        return lat

    @field_validator("lon")
    @classmethod
    def _longitude(cls, lon: float) -> float:
        if not -180 <= lon <= 180:
            raise ValueError("longitude must be between -180 and 180")
        return lon


class HospitalPublic(HospitalBase):
    id: int


class ApiKey(SQLModel, table=True):
    """Only the hash is kept: the key is shown once, when it is made."""

    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    hospital_id: int = Field(foreign_key="hospitals.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16)
    key_hash: str = Field(unique=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class CourierAccount(SQLModel, table=True):
    """A hospital's account with one courier; ``settings`` is validated by that courier's plugin."""

    __tablename__ = "courier_accounts"
    __table_args__ = (UniqueConstraint("hospital_id", "courier", "label"),)

    id: int | None = Field(default=None, primary_key=True)
    hospital_id: int = Field(foreign_key="hospitals.id", index=True, ondelete="CASCADE")
    courier: str = Field(max_length=32, index=True)
    label: str = Field(default="default", max_length=64)
    priority: int = Field(default=100, description="Lower is tried first")
    enabled: bool = True
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class HospitalSource(SQLModel, table=True):
    """A source a hospital pulls from (Khanza, a FHIR server): its settings and how far it has read."""

    __tablename__ = "hospital_sources"
    __table_args__ = (UniqueConstraint("hospital_id", "source"),)

    id: int | None = Field(default=None, primary_key=True)
    hospital_id: int = Field(foreign_key="hospitals.id", index=True, ondelete="CASCADE")
    source: str = Field(max_length=32)
    enabled: bool = True
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    watermark: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    last_polled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=2000)


class HospitalSink(SQLModel, table=True):
    """Where a hospital wants delivery outcomes written back: its FHIR server, Khanza, event webhooks."""

    __tablename__ = "hospital_sinks"

    id: int | None = Field(default=None, primary_key=True)
    hospital_id: int = Field(foreign_key="hospitals.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=32, description="fhir_dispense | khanza_handover | event_webhook")
    enabled: bool = True
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
