"""All SQL for the delivery reports: each table is one GROUP BY in the database, never a loop over orders.

What is counted: orders a pharmacist released for delivery, in the WIB month of their release. An order is
delivered when it ended delivered; its delivery time is ``closed_at``, which the state machine stamps on the
move to delivered (the instant of the timeline's ``delivered`` event, without reading the much larger timeline).
The courier is the one last in charge of the order (its current booking attempt); an order's cost is every
price its couriers reported for it (``price_idr``), so a courier given the job back after a paid pick-up
attempt still shows what the order cost.

The payer is read here, in SQL, rather than after the query: a median cannot be merged from smaller groups, so
the groups the database aggregates must be the groups shown. PBI means the payer evidence said the state pays
the patient's JKN premium (``hospital_adapter.eligibility``): the decision's basis was PBI APBN or APBD, or a
PBI membership was found but the hospital's policy did not accept that kind. Every other order (SPM, the
imported list, a hospital delivering to all, an eligibility override) is non-PBI.

Medians: ``percentile_cont(0.5)`` on PostgreSQL, in the same GROUP BY. On SQLite (the embedded database, one
hospital's volume) the delivered orders' release and delivery times are read and the median taken in Python
(SQLite's julianday arithmetic is off by fractions of a second); the report's range limit bounds how many.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, get_args

import sqlalchemy as sa
from sqlalchemy import func
from sqlalchemy.orm import Mapped, aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from dispatch.core.db import is_postgres
from dispatch.dispatching.models import BookingAttempt
from dispatch.hospitals.models import Hospital
from dispatch.orders.models import Order
from dispatch.orders.state_machine import OrderStatus

Dimension = Literal["month", "hospital", "payer", "kecamatan", "courier"]
DIMENSIONS: Final[tuple[Dimension, ...]] = get_args(Dimension)
Payer = Literal["pbi", "non_pbi"]

PBI_BASES: Final = ("bpjs_pbi_apbn", "bpjs_pbi_apbd")
_Column = ColumnElement[Any] | Mapped[Any]
_WIB: Final = "Asia/Jakarta"
_WIB_OFFSET: Final = "+7 hours"  # WIB has had no daylight saving since 1964


@dataclass(frozen=True, slots=True)
class GroupFigures:
    """One group's figures. ``keys`` hold one value per requested dimension ("" where the order has none:
    never booked, no kecamatan); ``names`` the readable name where it differs from the key (hospital,
    kecamatan), else None."""

    keys: tuple[str, ...]
    names: tuple[str | None, ...]
    orders: int
    delivered: int
    cost_idr: int
    median_minutes: float | None


def delivery_figures(
    session: Session, *, hospital_id: int, start: datetime, end: datetime, group_by: Sequence[Dimension]
) -> list[GroupFigures]:
    """Figures of the orders of ``hospital_id`` released in [start, end), one row per group of ``group_by``
    (a single row, possibly of zeros, when ``group_by`` is empty), ordered by the keys."""
    postgres = is_postgres(session)
    current = aliased(BookingAttempt)
    dimensions = _dimensions(postgres, current)
    keys = [dimensions[name][0] for name in group_by]
    names = [dimensions[name][1] for name in group_by]
    costs = (
        sa.select(col(BookingAttempt.order_id), func.sum(BookingAttempt.price_idr).label("cost"))
        .where(col(BookingAttempt.hospital_id) == hospital_id)
        .group_by(col(BookingAttempt.order_id))
        .subquery()
    )
    delivered = col(Order.status) == OrderStatus.DELIVERED
    figures: list[ColumnElement[Any]] = [
        func.count(),
        func.count(sa.case((delivered, 1))),
        func.coalesce(func.sum(costs.c.cost), 0),
    ]
    if postgres:
        seconds = func.extract("epoch", col(Order.closed_at) - col(Order.released_at))
        minutes = sa.cast(seconds / 60, sa.Float)
        figures.append(func.percentile_cont(0.5).within_group(sa.case((delivered, minutes))))
    query = (
        _released([*keys, *names, *figures], current, hospital_id, start, end)
        .outerjoin(costs, costs.c.order_id == Order.id)
        .group_by(*keys)
        .order_by(*keys)
    )
    rows = [tuple(row) for row in session.execute(query)]
    width = len(group_by)
    if postgres:
        medians = {row[:width]: row[-1] for row in rows}
    else:
        times = [col(Order.released_at), col(Order.closed_at)]
        deliveries = _released([*keys, *times], current, hospital_id, start, end).where(delivered)
        durations: dict[tuple[Any, ...], list[float]] = defaultdict(list)
        for row in session.execute(deliveries):
            durations[tuple(row[:-2])].append((row[-1] - row[-2]).total_seconds() / 60)
        medians = {key: statistics.median(values) for key, values in durations.items()}
    return [
        GroupFigures(
            keys=row[:width],
            names=row[width : 2 * width],
            orders=row[2 * width],
            delivered=row[2 * width + 1],
            cost_idr=int(row[2 * width + 2]),
            median_minutes=None if medians.get(row[:width]) is None else float(medians[row[:width]]),
        )
        for row in rows
    ]


def delivered_per_place(
    session: Session, *, hospital_id: int, start: datetime, end: datetime
) -> list[tuple[str | None, int]]:
    """Delivered orders per ``geocode_code`` (a desa, or a coarser unit when the address was found no finer)."""
    code = col(Order.geocode_code)
    query = sa.select(code, func.count()).where(
        col(Order.hospital_id) == hospital_id,
        col(Order.released_at) >= start,
        col(Order.released_at) < end,
        col(Order.status) == OrderStatus.DELIVERED,
    )
    return [(place, count) for place, count in session.execute(query.group_by(code).order_by(code))]


def _released(
    columns: Sequence[_Column],
    current: type[BookingAttempt],
    hospital_id: int,
    start: datetime,
    end: datetime,
) -> sa.Select[Any]:
    """The released orders of one hospital in a range, with what the dimensions read joined."""
    return (
        sa.select(*columns)
        .select_from(Order)
        .join(Hospital, col(Hospital.id) == Order.hospital_id)
        .outerjoin(current, col(current.id) == Order.current_attempt_id)
        .where(
            col(Order.hospital_id) == hospital_id,
            col(Order.released_at) >= start,
            col(Order.released_at) < end,
        )
    )


def _dimensions(
    postgres: bool, current: type[BookingAttempt]
) -> dict[Dimension, tuple[_Column, ColumnElement[Any]]]:
    """Each dimension's grouping key and the readable name shown beside it."""
    released = col(Order.released_at)
    month = (
        func.to_char(func.timezone(_WIB, released), "YYYY-MM")
        if postgres
        else func.strftime("%Y-%m", released, _WIB_OFFSET)
    )
    eligibility = col(Order.eligibility)
    payer = sa.case(
        (
            sa.or_(
                eligibility["basis"].as_string().in_(PBI_BASES),
                eligibility[("evidence", "pbi_not_accepted_by_policy")].as_string().is_not(None),
            ),
            "pbi",
        ),
        else_="non_pbi",
    )
    none = sa.null()
    return {
        "month": (month, none),
        "hospital": (col(Hospital.code), func.max(col(Hospital.name))),
        "payer": (payer, none),
        "kecamatan": (func.coalesce(Order.kecamatan_code, ""), func.max(Order.kecamatan_name)),
        "courier": (func.coalesce(current.courier, ""), none),
    }
