"""The order lifecycle as data: which state may follow which, and nothing else.

Pure on purpose: the webhook handler, the dispatcher and staff actions all ask the same table, so a stale or
out-of-order courier event can never move an order somewhere the lifecycle does not allow.
"""

from __future__ import annotations

import enum


class OrderStatus(enum.StrEnum):
    RECEIVED = "received"
    REJECTED = "rejected"
    AWAITING_RELEASE = "awaiting_release"
    RELEASED = "released"
    NEEDS_ADDRESS = "needs_address"
    READY = "ready"
    BOOKING = "booking"
    COURIER_ASSIGNED = "courier_assigned"
    PICKED_UP = "picked_up"
    DELIVERED = "delivered"
    DELIVERY_FAILED = "delivery_failed"
    RETURNED = "returned"
    NO_COURIER = "no_courier"
    CANCELLED = "cancelled"


S = OrderStatus

# Cancelling is allowed from every state before the medicine leaves the pharmacy with a driver.
CANCELLABLE: frozenset[OrderStatus] = frozenset(
    {
        S.RECEIVED,
        S.AWAITING_RELEASE,
        S.RELEASED,
        S.NEEDS_ADDRESS,
        S.READY,
        S.BOOKING,
        S.COURIER_ASSIGNED,
        S.NO_COURIER,
    }
)

_FORWARD: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.RECEIVED: frozenset({S.REJECTED, S.AWAITING_RELEASE}),
    S.AWAITING_RELEASE: frozenset({S.RELEASED, S.REJECTED}),
    S.RELEASED: frozenset({S.NEEDS_ADDRESS, S.READY}),
    S.NEEDS_ADDRESS: frozenset({S.READY}),
    S.READY: frozenset({S.BOOKING, S.NO_COURIER}),
    # A courier may report progress we never saw the start of, so booking can jump ahead.
    S.BOOKING: frozenset({S.COURIER_ASSIGNED, S.PICKED_UP, S.DELIVERED, S.READY, S.NO_COURIER}),
    # READY again: the driver gave the job back before pick-up and the dispatcher tries the next courier.
    S.COURIER_ASSIGNED: frozenset({S.PICKED_UP, S.DELIVERED, S.DELIVERY_FAILED, S.READY, S.NO_COURIER}),
    S.PICKED_UP: frozenset({S.DELIVERED, S.DELIVERY_FAILED}),
    S.DELIVERY_FAILED: frozenset({S.RETURNED, S.DELIVERED}),
    S.NO_COURIER: frozenset({S.READY}),
    S.DELIVERED: frozenset(),
    S.RETURNED: frozenset(),
    # A pharmacist's eligibility override, or the hospital's amended prescription, can revive a rejection.
    S.REJECTED: frozenset({S.AWAITING_RELEASE}),
    S.CANCELLED: frozenset(),
}

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    state: targets | ({S.CANCELLED} if state in CANCELLABLE else frozenset())
    for state, targets in _FORWARD.items()
}

# Where an order's story ends; a rejection can still be revived, but nothing happens to it on its own.
TERMINAL: frozenset[OrderStatus] = frozenset(
    state for state, targets in TRANSITIONS.items() if not targets
) | {S.REJECTED}

# States in which a courier holds (or is being asked to hold) the order.
WITH_COURIER: frozenset[OrderStatus] = frozenset({S.BOOKING, S.COURIER_ASSIGNED, S.PICKED_UP})


class TransitionRefused(ValueError):
    def __init__(self, current: OrderStatus, target: OrderStatus):
        super().__init__(f"order cannot go from {current.value} to {target.value}")
        self.current = current
        self.target = target


def can_transition(current: OrderStatus, target: OrderStatus) -> bool:
    return target in TRANSITIONS[current]


def check_transition(current: OrderStatus, target: OrderStatus) -> None:
    if not can_transition(current, target):
        raise TransitionRefused(current, target)
