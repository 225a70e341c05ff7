"""Celery tasks that talk to couriers: book (with reconciliation after a timeout) and cancel."""

from __future__ import annotations

from sqlmodel import Session

from couriers.base import CourierAdapter, CourierError, Quote
from couriers.registry import build_adapter
from dispatch.core import metrics
from dispatch.core.logging import bind_log_context, log
from dispatch.dispatching import locating, repository, service
from dispatch.dispatching.models import AttemptStatus, BookingAttempt
from dispatch.dispatching.policy import Choice, choose
from dispatch.dispatching.quoting import gather_quotes
from dispatch.hospitals.models import CourierAccount, Hospital
from dispatch.orders import repository as orders_repository
from dispatch.orders import service as orders_service
from dispatch.orders.models import Order
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
        located = locating.locate(session, order, hospital)
        target = S.READY if located.ready else S.NEEDS_ADDRESS
        orders_service.transition(session, order, target, detail=located.detail, data=located.data)
        if not located.ready:
            return
    quote = None
    if order.status == S.READY:
        choice = _choose_courier(session, order, hospital)
        if choice.candidate is None:
            orders_service.transition(session, order, S.NO_COURIER, detail=f"No courier: {choice.reason}")
            return
        account = session.get(CourierAccount, choice.candidate.account_id)
        assert account is not None
        service.start_attempt(session, order, account, choice)
        quote = choice.quote
        # The attempt is durable before the courier hears of it, so a crash mid-call can be reconciled.
        session.commit()
    if order.status != S.BOOKING or order.current_attempt_id is None:
        return
    attempt = repository.get_for_update(session, order.current_attempt_id)
    if attempt is None or attempt.status != AttemptStatus.PENDING:
        return
    _call_courier(ctx, attempt, quote)


def _choose_courier(session: Session, order: Order, hospital: Hospital) -> Choice:
    """Quotes from every account that may take the order, weighed by the hospital's policy; staff's own
    pick is booked without asking the others."""
    asked = [
        (candidate, adapter) for candidate, _account, adapter in service.courier_candidates(session, order)
    ]
    if order.courier_override_account_id is not None and asked:
        return Choice(asked[0][0], None, "chosen by staff")
    policy = service.dispatch_policy(hospital)
    request = service.delivery_request(session, order, service.quote_reference(order))
    offers = gather_quotes(asked, request, policy.quote_deadline_seconds)
    for offer in offers:
        if offer.problem is not None:
            orders_service.add_event(
                session, order, "courier", f"No quote from {offer.candidate.courier}: {offer.problem}"
            )
    return choose(offers, policy)


def _call_courier(ctx: TaskContext, attempt: BookingAttempt, quote: Quote | None = None) -> None:
    session = ctx.session
    order = orders_repository.get_order_for_update(session, attempt.order_id)
    assert order is not None
    adapter = adapter_for(ctx, attempt.account_id)
    redelivered = ctx.retries > 0 or ctx.message.publish_count > 1
    if redelivered and not adapter.capabilities.lookup_by_reference:
        _hand_unknown_booking_to_staff(session, order, attempt)
        return
    try:
        known = adapter.find_by_reference(attempt.reference) if redelivered else None
        if known is not None:
            provider_order_id = known.provider_order_id
        else:
            provider_order_id = adapter.book(
                service.delivery_request(session, order, attempt.reference), quote
            ).provider_order_id
    except CourierError as exc:
        metrics.count_courier_error(attempt.courier, "book", exc)
        if exc.retryable and not ctx.final_try:
            raise RetryLater(f"{attempt.courier}: {exc}") from exc
        log.warning("booking.refused", order_id=order.id, courier=attempt.courier, error=str(exc))
        attempt.status = AttemptStatus.REFUSED
        attempt.error = str(exc)[:500]
        service.fall_back(session, order, f"{attempt.courier} refused the booking: {exc}")
        return
    attempt.status = AttemptStatus.BOOKED
    attempt.provider_order_id = provider_order_id
    metrics.observe_booked(attempt.courier, attempt.created_at, order.released_at)
    orders_service.add_event(
        session,
        order,
        "courier",
        f"Booked with {attempt.courier}: {provider_order_id}",
        data={"reference": attempt.reference},
    )


def _hand_unknown_booking_to_staff(session: Session, order: Order, attempt: BookingAttempt) -> None:
    """An earlier booking call of this attempt ended without an answer, and this courier cannot be asked
    by our reference whether it took the job. Booking again could send two drivers; booking elsewhere too.
    A person checks the courier's portal for the reference and re-books or waits for its webhook."""
    attempt.status = AttemptStatus.FAILED
    attempt.error = "booking outcome unknown: no answer, and no lookup by reference at this courier"
    orders_service.add_event(
        session,
        order,
        "alert",
        f"{attempt.courier} did not answer the booking and cannot be asked by reference "
        f"{attempt.reference}; check its portal before booking again",
        data={"attempt_id": attempt.id, "reference": attempt.reference},
    )
    orders_service.transition(
        session, order, S.NO_COURIER, detail=f"Booking with {attempt.courier} unconfirmed; staff must check"
    )


@outbox_task(orders_service.CANCEL_BOOKING_TOPIC)
def cancel_booking(ctx: TaskContext) -> None:
    attempt = repository.get_for_update(ctx.session, ctx.message.payload["attempt_id"])
    if attempt is None or attempt.status not in (AttemptStatus.PENDING, AttemptStatus.BOOKED):
        return
    bind_log_context(order_id=attempt.order_id)
    adapter = adapter_for(ctx, attempt.account_id)
    provider_order_id = attempt.provider_order_id
    try:
        if provider_order_id is None and adapter.capabilities.lookup_by_reference:
            known = adapter.find_by_reference(attempt.reference)
            provider_order_id = known.provider_order_id if known else None
        if provider_order_id is not None:
            adapter.cancel(provider_order_id)
    except CourierError as exc:
        metrics.count_courier_error(attempt.courier, "cancel", exc)
        if exc.retryable and not ctx.final_try:
            raise RetryLater(f"{attempt.courier}: {exc}") from exc
        attempt.error = f"cancel refused: {exc}"[:500]
        order = orders_repository.get_order_for_update(ctx.session, attempt.order_id)
        assert order is not None
        orders_service.add_event(ctx.session, order, "alert", f"{attempt.courier} refused to cancel: {exc}")
        return
    attempt.status = AttemptStatus.CANCELLED
