"""Celery tasks that talk to couriers: book (with reconciliation after a timeout) and cancel."""

from __future__ import annotations

from couriers.base import CourierAdapter, CourierError
from couriers.registry import build_adapter
from dispatch.core.logging import log
from dispatch.dispatching import repository, service
from dispatch.dispatching.models import AttemptStatus, BookingAttempt
from dispatch.hospitals.models import CourierAccount, Hospital
from dispatch.orders import repository as orders_repository
from dispatch.orders import service as orders_service
from dispatch.orders.state_machine import OrderStatus
from dispatch.outbox.consumer import RetryLater, TaskContext, outbox_task

S = OrderStatus


def adapter_for(ctx: TaskContext, account_id: int) -> CourierAdapter:
    account = ctx.session.get(CourierAccount, account_id)
    assert account is not None
    return build_adapter(account.courier, account.settings)


@outbox_task(orders_service.DISPATCH_TOPIC)
def book_order(ctx: TaskContext) -> None:
    session = ctx.session
    order = orders_repository.get_order_for_update(session, ctx.message.payload["order_id"])
    if order is None:
        return
    hospital = session.get(Hospital, order.hospital_id)
    assert hospital is not None
    if order.status == S.RELEASED:
        if not service.locate(session, order, hospital):
            orders_service.transition(
                session, order, S.NEEDS_ADDRESS, detail="Address not found precisely enough"
            )
            return
        orders_service.transition(
            session, order, S.READY, detail=f"Located at {order.geocode_level} level ({order.geocode_code})"
        )
    if order.status == S.READY:
        account = service.next_courier_account(session, order)
        if account is None:
            orders_service.transition(
                session,
                order,
                S.NO_COURIER,
                detail="No enabled courier can take this order (distance, cold chain, or none configured)",
            )
            return
        service.start_attempt(session, order, account)
        # The attempt is durable before the courier hears of it, so a crash mid-call can be reconciled.
        session.commit()
    if order.status != S.BOOKING or order.current_attempt_id is None:
        return
    attempt = repository.get_for_update(session, order.current_attempt_id)
    if attempt is None or attempt.status != AttemptStatus.PENDING:
        return
    _call_courier(ctx, attempt)


def _call_courier(ctx: TaskContext, attempt: BookingAttempt) -> None:
    session = ctx.session
    order = orders_repository.get_order_for_update(session, attempt.order_id)
    assert order is not None
    adapter = adapter_for(ctx, attempt.account_id)
    redelivered = ctx.retries > 0 or ctx.message.publish_count > 1
    try:
        known = adapter.find_by_reference(attempt.reference) if redelivered else None
        if known is not None:
            provider_order_id = known.provider_order_id
        else:
            provider_order_id = adapter.book(
                service.delivery_request(session, order, attempt)
            ).provider_order_id
    except CourierError as exc:
        if exc.retryable and not ctx.final_try:
            raise RetryLater(f"{attempt.courier}: {exc}") from exc
        log.warning("booking.refused", order_id=order.id, courier=attempt.courier, error=str(exc))
        attempt.status = AttemptStatus.REFUSED
        attempt.error = str(exc)[:500]
        service.fall_back(session, order, f"{attempt.courier} refused the booking: {exc}")
        return
    attempt.status = AttemptStatus.BOOKED
    attempt.provider_order_id = provider_order_id
    orders_service.add_event(
        session,
        order,
        "courier",
        f"Booked with {attempt.courier}: {provider_order_id}",
        data={"reference": attempt.reference},
    )


@outbox_task(orders_service.CANCEL_BOOKING_TOPIC)
def cancel_booking(ctx: TaskContext) -> None:
    attempt = repository.get_for_update(ctx.session, ctx.message.payload["attempt_id"])
    if attempt is None or attempt.status not in (AttemptStatus.PENDING, AttemptStatus.BOOKED):
        return
    adapter = adapter_for(ctx, attempt.account_id)
    provider_order_id = attempt.provider_order_id
    try:
        if provider_order_id is None:
            known = adapter.find_by_reference(attempt.reference)
            provider_order_id = known.provider_order_id if known else None
        if provider_order_id is not None:
            adapter.cancel(provider_order_id)
    except CourierError as exc:
        if exc.retryable and not ctx.final_try:
            raise RetryLater(f"{attempt.courier}: {exc}") from exc
        attempt.error = f"cancel refused: {exc}"[:500]
        order = orders_repository.get_order_for_update(ctx.session, attempt.order_id)
        assert order is not None
        orders_service.add_event(ctx.session, order, "alert", f"{attempt.courier} refused to cancel: {exc}")
        return
    attempt.status = AttemptStatus.CANCELLED
