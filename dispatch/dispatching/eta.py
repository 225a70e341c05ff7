"""When the parcel should reach the patient's door: the courier's own estimate when it gave one, else ours.

A courier that estimates (GrabExpress quotes a drop-off time) knows its drivers and its traffic; we know only
the road distance and an average speed, so its estimate wins while it still lies ahead. One already past is
stale and ours replaces it. GoSend, Lalamove and the local partners give no usable estimate (GoSend's
"Instant 1 - 2 hours" is a service label, not a time), so for them ours is the only one.

Ours is a motorbike ride at the hospital's average speed (``DispatchPolicy.courier_speed_kmh``) over the road
distance, plus, before pick-up, an allowance for the driver to reach the pharmacy and take the parcel over
the counter (``pickup_allowance_minutes``): we never know where an assigned driver is. The road distance is
the courier's own measure of this trip when it quoted one, else the straight line stretched by the hospital's
learned road factor (``distance``). Patients are told it as minutes in the SMS and as a WIB time on pages.

A booking's ``eta_at`` is its last estimate and stays once the parcel is delivered (the record of what was
promised); it is shown only while the booking's driver is on the way (:func:`shown_eta`).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from dispatch.dispatching.models import BookingAttempt
from dispatch.dispatching.policy import DispatchPolicy
from dispatch.orders.models import Order
from dispatch.orders.state_machine import OrderStatus

# The order states in which a driver is bringing the parcel, and so an ETA is estimated and shown.
ON_THE_WAY = frozenset({OrderStatus.COURIER_ASSIGNED, OrderStatus.PICKED_UP})


def ride_minutes(road_km: float, policy: DispatchPolicy) -> float:
    return road_km / policy.courier_speed_kmh * 60


def estimated_arrival(
    road_km: float, policy: DispatchPolicy, since: datetime, *, picked_up: bool
) -> datetime:
    """Our estimate from ``since``: the ride alone once the driver has the parcel; before that, the driver
    must first reach the pharmacy and be handed the parcel."""
    minutes = ride_minutes(road_km, policy)
    if not picked_up:
        minutes += policy.pickup_allowance_minutes
    return since + timedelta(minutes=minutes)


def quoted_arrival(eta_minutes: int | None, quoted_at: datetime) -> datetime | None:
    """The moment a quote's ETA (minutes from when it was given to the drop-off) points at, if it gave one."""
    return None if eta_minutes is None else quoted_at + timedelta(minutes=eta_minutes)


def preferred_arrival(courier_estimate: datetime | None, our_estimate: datetime, now: datetime) -> datetime:
    """The courier's estimate while it still lies ahead, else ours."""
    if courier_estimate is not None and courier_estimate > now:
        return courier_estimate
    return our_estimate


def minutes_until(eta_at: datetime | None, now: datetime) -> int | None:
    """Whole minutes from ``now`` to ``eta_at``, rounded up, as the SMS says them; None when there is no
    estimate or it has passed: a late driver's "1 minute" would be a promise nobody made."""
    if eta_at is None or eta_at <= now:
        return None
    return math.ceil((eta_at - now).total_seconds() / 60)


def shown_eta(order: Order, attempt: BookingAttempt | None) -> datetime | None:
    """The ETA to show for the order: its current booking's, while its driver is on the way. A booking
    given back, failed, cancelled or already delivered keeps its last estimate, which nobody should read as
    a time the parcel is still coming."""
    if attempt is None or order.status not in ON_THE_WAY or order.current_attempt_id != attempt.id:
        return None
    return attempt.eta_at
