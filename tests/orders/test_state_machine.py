"""Every pair of states, checked against the lifecycle written out by hand here (not derived from the module)."""

from __future__ import annotations

import itertools

import pytest

from dispatch.orders.state_machine import (
    CANCELLABLE,
    TERMINAL,
    OrderStatus,
    TransitionRefused,
    can_transition,
    check_transition,
)

S = OrderStatus

ALLOWED: dict[OrderStatus, set[OrderStatus]] = {
    S.RECEIVED: {S.REJECTED, S.AWAITING_RELEASE, S.CANCELLED},
    S.AWAITING_RELEASE: {S.RELEASED, S.REJECTED, S.CANCELLED},
    S.RELEASED: {S.NEEDS_ADDRESS, S.READY, S.CANCELLED},
    S.NEEDS_ADDRESS: {S.READY, S.CANCELLED},
    S.READY: {S.BOOKING, S.NO_COURIER, S.CANCELLED},
    S.BOOKING: {S.COURIER_ASSIGNED, S.PICKED_UP, S.DELIVERED, S.READY, S.NO_COURIER, S.CANCELLED},
    S.COURIER_ASSIGNED: {S.PICKED_UP, S.DELIVERED, S.DELIVERY_FAILED, S.READY, S.NO_COURIER, S.CANCELLED},
    S.PICKED_UP: {S.DELIVERED, S.DELIVERY_FAILED},
    S.DELIVERY_FAILED: {S.RETURNED, S.DELIVERED},
    S.NO_COURIER: {S.READY, S.CANCELLED},
    S.DELIVERED: set(),
    S.RETURNED: set(),
    S.REJECTED: {S.AWAITING_RELEASE},
    S.CANCELLED: set(),
}

ALL_PAIRS = list(itertools.product(OrderStatus, OrderStatus))


def test_the_table_covers_every_state() -> None:
    assert set(ALLOWED) == set(OrderStatus)


@pytest.mark.parametrize(("current", "target"), [p for p in ALL_PAIRS if p[1] in ALLOWED[p[0]]])
def test_allowed_transition(current: OrderStatus, target: OrderStatus) -> None:
    assert can_transition(current, target)
    check_transition(current, target)


@pytest.mark.parametrize(("current", "target"), [p for p in ALL_PAIRS if p[1] not in ALLOWED[p[0]]])
def test_refused_transition(current: OrderStatus, target: OrderStatus) -> None:
    assert not can_transition(current, target)
    with pytest.raises(TransitionRefused) as refused:
        check_transition(current, target)
    assert refused.value.current == current
    assert refused.value.target == target
    assert current.value in str(refused.value)


def test_terminal_states_are_the_four_endings() -> None:
    assert {S.DELIVERED, S.RETURNED, S.REJECTED, S.CANCELLED} == TERMINAL


def test_nothing_is_cancelled_once_the_driver_has_the_medicine() -> None:
    assert S.PICKED_UP not in CANCELLABLE
    assert S.DELIVERY_FAILED not in CANCELLABLE
    assert not can_transition(S.PICKED_UP, S.CANCELLED)


def test_no_state_transitions_to_itself() -> None:
    assert not any(can_transition(state, state) for state in OrderStatus)
