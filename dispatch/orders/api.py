"""Staff JSON API for orders: list, read with timeline, release, cancel. Scoped to the staff's hospital."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlmodel import Session

from dispatch.audit import service as audit
from dispatch.auth.api import STAFF_RESPONSES, CurrentStaff, Dispatcher, Pharmacist
from dispatch.auth.models import StaffUser
from dispatch.core.db import SessionDep
from dispatch.core.http import Offset, RowId
from dispatch.core.problems import Problem, problem_responses
from dispatch.dispatching import locating
from dispatch.dispatching import repository as dispatching_repository
from dispatch.dispatching import service as dispatching_service
from dispatch.dispatching.models import BookingAttempt
from dispatch.notify.service import tracking_url
from dispatch.orders import repository, service
from dispatch.orders.models import (
    BookingPublic,
    Order,
    OrderDetail,
    OrderEventPublic,
    OrderPublic,
    OrdersPublic,
    Patient,
    Prescription,
)
from dispatch.orders.state_machine import OrderStatus, TransitionRefused

router = APIRouter(
    prefix="/api/v1/orders", tags=["orders"], responses={**STAFF_RESPONSES, **problem_responses(404)}
)
# Actions on an order refused by its state.
REFUSED = problem_responses(409)


class CancelRequest(BaseModel):
    reason: str = Field(default="", max_length=300)


class OverrideRequest(BaseModel):
    justification: str = Field(min_length=10, max_length=500, description="Why this patient is delivered to")


class PhoneRequest(BaseModel):
    phone: str = Field(min_length=4, max_length=40)


class CourierChoiceRequest(BaseModel):
    account_id: int = Field(description="One of the hospital's enabled courier accounts")
    reason: str = Field(min_length=3, max_length=300, description="Why this courier, for the timeline")


class LocationRequest(BaseModel):
    lat: float = Field(ge=-90, le=90, description="Latitude of the patient's door (WGS 84)")
    lon: float = Field(ge=-180, le=180, description="Longitude of the patient's door (WGS 84)")


def order_public(
    session: Session, order: Order, attempts: Sequence[BookingAttempt] | None = None
) -> OrderPublic:
    prescription = session.get(Prescription, order.prescription_id)
    patient = session.get(Patient, order.patient_id)
    assert prescription is not None and patient is not None and order.id is not None
    if attempts is None:
        attempts = dispatching_repository.attempts_for(session, order.id)
    return OrderPublic(
        id=order.id,
        hospital_id=order.hospital_id,
        status=order.status,
        status_changed_at=order.status_changed_at,
        prescription_number=prescription.prescription_number,
        patient_name=patient.name,
        kecamatan_name=order.kecamatan_name,
        geocode_level=order.geocode_level,
        courier=attempts[-1].courier if attempts else None,
        created_at=order.created_at,
    )


def order_detail(session: Session, order: Order) -> OrderDetail:
    assert order.id is not None
    attempts = dispatching_repository.attempts_for(session, order.id)
    return OrderDetail(
        **order_public(session, order, attempts).model_dump(),
        tracking_url=tracking_url(session, order),
        events=[
            OrderEventPublic.model_validate(e, from_attributes=True)
            for e in repository.events_for(session, order.id)
        ],
        bookings=[BookingPublic.model_validate(a, from_attributes=True) for a in attempts],
    )


def load_order(session: Session, user: StaffUser, order_id: int, *, for_update: bool = False) -> Order:
    order = repository.get_order(session, user.hospital_id, order_id, for_update=for_update)
    if order is None:
        raise Problem(404, "Order not found")
    return order


@router.get("", operation_id="orders-list")
def read_orders(
    session: SessionDep,
    user: CurrentStaff,
    status: OrderStatus | None = None,
    limit: int = Query(default=50, ge=1, le=500),
    offset: Offset = 0,
) -> OrdersPublic:
    orders, count = repository.list_orders(
        session, user.hospital_id, status=status, limit=limit, offset=offset
    )
    return OrdersPublic(data=[order_public(session, o) for o in orders], count=count)


@router.get("/{order_id}", operation_id="orders-read")
def read_order(order_id: RowId, session: SessionDep, user: CurrentStaff) -> OrderDetail:
    return order_detail(session, load_order(session, user, order_id))


@router.post("/{order_id}/release", operation_id="orders-release", responses=REFUSED)
def release_order(order_id: RowId, session: SessionDep, user: Pharmacist) -> OrderDetail:
    order = load_order(session, user, order_id, for_update=True)
    try:
        service.release(session, order, user)
    except (TransitionRefused, service.ReleaseRefused) as exc:
        raise Problem(409, "Order cannot be released", str(exc)) from exc
    audit.record(session, user, "order.release", "order", order_id)
    session.commit()
    return order_detail(session, order)


@router.post("/{order_id}/cancel", operation_id="orders-cancel", responses=REFUSED)
def cancel_order(order_id: RowId, body: CancelRequest, session: SessionDep, user: Pharmacist) -> OrderDetail:
    order = load_order(session, user, order_id, for_update=True)
    try:
        service.cancel(session, order, user.username, body.reason or "Cancelled by staff")
    except TransitionRefused as exc:
        raise Problem(409, "Order cannot be cancelled", str(exc)) from exc
    audit.record(session, user, "order.cancel", "order", order_id, body.reason)
    session.commit()
    return order_detail(session, order)


@router.post(
    "/{order_id}/override-eligibility", operation_id="orders-override-eligibility", responses=REFUSED
)
def override_eligibility(
    order_id: RowId, body: OverrideRequest, session: SessionDep, user: Pharmacist
) -> OrderDetail:
    """Deliver to a patient the eligibility rules turned down; restricted drugs cannot be overridden."""
    order = load_order(session, user, order_id, for_update=True)
    try:
        service.override_eligibility(session, order, user, body.justification)
    except TransitionRefused as exc:
        raise Problem(409, "Only an eligibility rejection can be overridden", str(exc)) from exc
    audit.record(session, user, "order.override_eligibility", "order", order_id, body.justification)
    session.commit()
    return order_detail(session, order)


@router.post("/{order_id}/phone", operation_id="orders-set-phone")
def set_phone(order_id: RowId, body: PhoneRequest, session: SessionDep, user: Pharmacist) -> OrderDetail:
    order = load_order(session, user, order_id, for_update=True)
    try:
        service.set_patient_phone(session, order, body.phone, user.username)
    except ValueError as exc:
        raise Problem(422, "Invalid phone", str(exc)) from exc
    # The number itself stays on the patient's record, not in a log every admin reads.
    audit.record(session, user, "order.set_phone", "order", order_id)
    session.commit()
    return order_detail(session, order)


@router.post("/{order_id}/courier", operation_id="orders-choose-courier", responses=REFUSED)
def choose_courier(
    order_id: RowId, body: CourierChoiceRequest, session: SessionDep, user: Dispatcher
) -> OrderDetail:
    """Book this order with the courier account staff choose, not the one the dispatch policy would."""
    order = load_order(session, user, order_id, for_update=True)
    try:
        dispatching_service.choose_courier_by_hand(
            session, order, body.account_id, user.username, body.reason
        )
    except dispatching_service.CourierNotChoosable as exc:
        raise Problem(409, "Courier cannot be chosen", str(exc)) from exc
    audit.record(
        session, user, "order.choose_courier", "order", order_id, body.reason, {"account_id": body.account_id}
    )
    session.commit()
    return order_detail(session, order)


@router.post("/{order_id}/location", operation_id="orders-confirm-location", responses=REFUSED)
def confirm_location(
    order_id: RowId, body: LocationRequest, session: SessionDep, user: Dispatcher
) -> OrderDetail:
    """Place the patient's pin: kept for every later delivery; an order waiting for its address is dispatched."""
    order = load_order(session, user, order_id, for_update=True)
    try:
        locating.confirm_location(session, order, body.lat, body.lon, by="staff", actor=user.username)
    except locating.LocationLocked as exc:
        raise Problem(409, "Location cannot change now", str(exc)) from exc
    except locating.LocationRefused as exc:
        raise Problem(422, "Location refused", str(exc)) from exc
    audit.record(
        session, user, "order.set_location", "order", order_id, data={"lat": body.lat, "lon": body.lon}
    )
    session.commit()
    return order_detail(session, order)
