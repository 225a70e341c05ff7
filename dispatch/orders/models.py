"""Patients, prescriptions, orders and the order timeline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from dispatch.core.clock import utcnow
from dispatch.core.db import UTCDateTime, enum_column_type
from dispatch.orders.state_machine import OrderStatus


class Patient(SQLModel, table=True):
    """Minimum PII for a delivery: a name to ask for, a phone to text, an address to find. No NIK."""

    __tablename__ = "patients"
    __table_args__ = (UniqueConstraint("hospital_id", "source_id"),)

    id: int | None = Field(default=None, primary_key=True)
    hospital_id: int = Field(foreign_key="hospitals.id", index=True, ondelete="CASCADE")
    source_id: str = Field(max_length=64, description="The hospital's patient number (MRN / IHS)")
    name: str = Field(max_length=200)
    phone_e164: str | None = Field(default=None, max_length=20)
    address_text: str = Field(default="", max_length=500)
    rt: str | None = Field(default=None, max_length=8)
    rw: str | None = Field(default=None, max_length=8)
    village_code: str | None = Field(default=None, max_length=16)
    district_code: str | None = Field(default=None, max_length=16)
    city_code: str | None = Field(default=None, max_length=16)
    postal_code: str | None = Field(default=None, max_length=8)
    confirmed_lat: float | None = None
    confirmed_lon: float | None = None
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    confirmed_by: str | None = Field(
        default=None, max_length=16, description="Who placed the confirmed pin: patient | staff | courier"
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Prescription(SQLModel, table=True):
    __tablename__ = "prescriptions"
    __table_args__ = (UniqueConstraint("hospital_id", "prescription_number"),)

    id: int | None = Field(default=None, primary_key=True)
    hospital_id: int = Field(foreign_key="hospitals.id", index=True, ondelete="CASCADE")
    patient_id: int = Field(foreign_key="patients.id", index=True)
    source: str = Field(max_length=32)
    prescription_number: str = Field(max_length=128)
    identifier_system: str | None = Field(default=None, max_length=200)
    status: str = Field(max_length=32)
    authored_on: datetime | None = Field(default=None, sa_type=UTCDateTime)
    inbox_id: int | None = Field(default=None, foreign_key="inbox_messages.id")
    content_hash: str = Field(default="", max_length=64, description="Tells an amendment from a repeat")
    encounter_id: str | None = Field(default=None, max_length=64)
    poverty_declaration: bool = False
    coverage: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PrescriptionItem(SQLModel, table=True):
    __tablename__ = "prescription_items"

    id: int | None = Field(default=None, primary_key=True)
    prescription_id: int = Field(foreign_key="prescriptions.id", index=True, ondelete="CASCADE")
    code: str | None = Field(default=None, max_length=64)
    code_system: str | None = Field(default=None, max_length=200)
    display: str = Field(max_length=300)
    quantity: float | None = None
    unit: str | None = Field(default=None, max_length=32)
    instructions: str | None = Field(default=None, max_length=500)
    local_code: str | None = Field(default=None, max_length=64)
    dosage_form: str | None = Field(default=None, max_length=64)
    drug_class: str | None = Field(default=None, max_length=64)
    components: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class Order(SQLModel, table=True):
    """One delivery of one prescription; ``status`` moves only through the state machine."""

    __tablename__ = "orders"
    # The reports read a hospital's orders by month of release.
    __table_args__ = (Index("ix_orders_hospital_id_released_at", "hospital_id", "released_at"),)

    id: int | None = Field(default=None, primary_key=True)
    hospital_id: int = Field(foreign_key="hospitals.id", index=True, ondelete="CASCADE")
    prescription_id: int = Field(foreign_key="prescriptions.id", unique=True)
    patient_id: int = Field(foreign_key="patients.id", index=True)
    status: OrderStatus = Field(
        default=OrderStatus.RECEIVED, sa_type=enum_column_type(OrderStatus), index=True
    )
    status_changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    released_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    released_by_id: int | None = Field(default=None, foreign_key="staff_users.id")
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    dest_lat: float | None = None
    dest_lon: float | None = None
    geocode_level: str | None = Field(default=None, max_length=16)
    geocode_code: str | None = Field(default=None, max_length=16)
    geocode_confidence: float | None = None
    kecamatan_code: str | None = Field(default=None, max_length=16)
    kecamatan_name: str | None = Field(default=None, max_length=100)
    current_attempt_id: int | None = Field(default=None, description="The booking attempt now in charge")
    courier_override_account_id: int | None = Field(
        default=None,
        foreign_key="courier_accounts.id",
        description="A courier account staff chose by hand; dispatch books it instead of comparing quotes",
    )
    handover_pin: str | None = Field(
        default=None,
        max_length=8,
        description="Given to the patient at release; told to the driver at the door",
    )
    receipt_confirmed_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="The patient pressed 'medicine received'"
    )
    flags: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False),
        description="What staff must look at or dispatch must honour: invalid_phone, cold_chain",
    )
    eligibility: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column(JSON, nullable=False),
        description="The decision and its evidence",
    )
    restriction: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False), description="Denied items, cold chain"
    )
    rejection_kind: str | None = Field(
        default=None, max_length=32, description="eligibility | restricted | source"
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OrderEvent(SQLModel, table=True):
    """The timeline: every state change, courier report, and staff action on an order."""

    __tablename__ = "order_events"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True, ondelete="CASCADE")
    hospital_id: int = Field(foreign_key="hospitals.id", index=True, ondelete="CASCADE")
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    kind: str = Field(max_length=16, description="state | courier | staff | system")
    from_status: str | None = Field(default=None, max_length=32)
    to_status: str | None = Field(default=None, max_length=32)
    detail: str = Field(default="", max_length=500)
    actor: str = Field(default="system", max_length=100)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class OrderEventPublic(SQLModel):
    at: datetime
    kind: str
    from_status: str | None
    to_status: str | None
    detail: str
    actor: str


class BookingPublic(SQLModel):
    id: int
    courier: str
    reference: str
    status: str
    provider_order_id: str | None
    provider_status: str | None
    driver_name: str | None
    vehicle_plate: str | None
    price_idr: int | None
    quoted_price_idr: int | None
    eta_at: datetime | None = Field(description="The booking's last estimate of the parcel reaching the door")
    created_at: datetime


class OrderPublic(SQLModel):
    id: int
    hospital_id: int
    status: OrderStatus
    status_changed_at: datetime
    prescription_number: str
    patient_name: str
    kecamatan_name: str | None
    geocode_level: str | None
    courier: str | None
    created_at: datetime


class OrderDetail(OrderPublic):
    tracking_url: str | None
    events: list[OrderEventPublic]
    bookings: list[BookingPublic]


class OrdersPublic(SQLModel):
    data: list[OrderPublic]
    count: int


@dataclass(frozen=True)
class StateChange:
    """One order's move, as the messages it owes need it. ``event_id`` is a callable so that a single
    transition flushes its timeline entry only when a message must name it."""

    order_id: int
    hospital_id: int
    previous: OrderStatus
    target: OrderStatus
    event_id: Callable[[], int]
