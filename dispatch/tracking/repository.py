"""All SQL of the tracking page: what a patient may see of one delivery, read in a single query.

The page is the most read thing the service serves (every patient reloads it while waiting), so it reads
only the columns it shows, as plain rows rather than ORM objects, on an autocommit connection
(:func:`dispatch.core.db.read_rows`): loading the token, order, hospital (with its JSON policies), booking
and every event as models in a session took about 9 ms of CPU and six round trips per visit, this query
under 1 ms and one. Nothing is cached between visits: a status change shows on the next load.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col

from dispatch.core.db import UTCDateTime, read_rows
from dispatch.dispatching.models import BookingAttempt
from dispatch.hospitals.models import Hospital
from dispatch.notify.models import TrackingToken
from dispatch.orders.models import Order, OrderEvent, Patient
from dispatch.orders.state_machine import OrderStatus


@dataclass(frozen=True, slots=True)
class Step:
    """One state the order entered, for the page's timeline."""

    to_status: str
    at: datetime


@dataclass(frozen=True, slots=True)
class TrackedOrder:
    """The order behind a live tracking link, with its hospital, its current booking and its timeline."""

    order_id: int
    status: OrderStatus
    handover_pin: str | None
    receipt_confirmed_at: datetime | None
    kecamatan_code: str | None
    patient_district_code: str | None
    hospital_name: str
    hospital_phone: str
    kabupaten_code: str
    driver_name: str | None
    driver_phone: str | None
    vehicle_plate: str | None
    eta_at: datetime | None
    steps: tuple[Step, ...]


_state_steps = sa.and_(
    col(OrderEvent.order_id) == col(Order.id),
    col(OrderEvent.kind) == "state",
    col(OrderEvent.to_status).is_not(None),
)

# One row per state the order entered (or one row with no step for an order without any): the order's own
# columns repeat on each, a few dozen bytes, cheaper than a second round trip. Built once, with parameters.
_TRACKED_ORDER = (
    sa.select(
        col(Order.id),
        col(Order.status),
        col(Order.handover_pin),
        col(Order.receipt_confirmed_at),
        col(Order.kecamatan_code),
        col(Patient.district_code),
        col(Hospital.name),
        col(Hospital.phone),
        col(Hospital.kabupaten_code),
        col(BookingAttempt.driver_name),
        col(BookingAttempt.driver_phone),
        col(BookingAttempt.vehicle_plate),
        col(BookingAttempt.eta_at),
        col(OrderEvent.to_status),
        col(OrderEvent.at),
    )
    .select_from(TrackingToken)
    .join(Order, col(Order.id) == col(TrackingToken.order_id))
    .join(Hospital, col(Hospital.id) == col(Order.hospital_id))
    .join(Patient, col(Patient.id) == col(Order.patient_id))
    .outerjoin(BookingAttempt, col(BookingAttempt.id) == col(Order.current_attempt_id))
    .outerjoin(OrderEvent, _state_steps)
    .where(
        col(TrackingToken.lookup_hash) == sa.bindparam("lookup_hash"),
        col(TrackingToken.expires_at) > sa.bindparam("now", type_=UTCDateTime()),
    )
    .order_by(col(OrderEvent.at), col(OrderEvent.id))
)


def tracked_order(lookup_hash: str, now: datetime) -> TrackedOrder | None:
    """The order of the link whose token hashes to ``lookup_hash``, or None when no link does or it expired
    before ``now``. Read outside any session: what the page shows is what is committed."""
    rows = read_rows(_TRACKED_ORDER, {"lookup_hash": lookup_hash, "now": now})
    if not rows:
        return None
    first = rows[0]
    return TrackedOrder(
        order_id=first[0],
        status=OrderStatus(first[1]),
        handover_pin=first[2],
        receipt_confirmed_at=first[3],
        kecamatan_code=first[4],
        patient_district_code=first[5],
        hospital_name=first[6],
        hospital_phone=first[7],
        kabupaten_code=first[8],
        driver_name=first[9],
        driver_phone=first[10],
        vehicle_plate=first[11],
        eta_at=first[12],
        steps=tuple(Step(row[13], row[14]) for row in rows if row[13] is not None),
    )
