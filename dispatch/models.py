"""Imports every table so that SQLModel.metadata is complete for Alembic and for tests."""

from dispatch.audit.models import AuditEntry
from dispatch.auth.models import StaffSession, StaffUser
from dispatch.dispatching.models import BookingAttempt
from dispatch.geocoding.models import GeocodeCacheEntry
from dispatch.hospitals.models import ApiKey, CourierAccount, Hospital, HospitalSink, HospitalSource
from dispatch.inbox.models import InboxMessage
from dispatch.notify.models import MessageOptOut, SmsMessage, TrackingToken
from dispatch.orders.models import Order, OrderEvent, Patient, Prescription, PrescriptionItem
from dispatch.outbox.models import OutboxMessage

__all__ = [
    "ApiKey",
    "AuditEntry",
    "BookingAttempt",
    "CourierAccount",
    "GeocodeCacheEntry",
    "Hospital",
    "HospitalSink",
    "HospitalSource",
    "InboxMessage",
    "MessageOptOut",
    "Order",
    "OrderEvent",
    "OutboxMessage",
    "Patient",
    "Prescription",
    "PrescriptionItem",
    "SmsMessage",
    "StaffSession",
    "StaffUser",
    "TrackingToken",
]
