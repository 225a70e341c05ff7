"""Celery tasks that talk to couriers: book (with reconciliation after a timeout) and cancel."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from couriers.base import CourierAdapter, CourierError, CourierStatus, Quote
from couriers.registry import build_adapter
from dispatch.core import metrics
from dispatch.core.celery_app import celery_app
from dispatch.core.clock import utcnow
from dispatch.core.db import new_session
from dispatch.core.logging import bind_log_context, log
from dispatch.dispatching import breaker, locating, repository, service
from dispatch.dispatching.models import AttemptStatus, BookingAttempt
from dispatch.dispatching.policy import Choice, choose
from dispatch.dispatching.quoting import gather_quotes
from dispatch.dispatching.service import EventOutcome
from dispatch.hospitals.models import CourierAccount, Hospital
from dispatch.orders import repository as orders_repository
from dispatch.orders import service as orders_service
from dispatch.orders.models import Order
from dispatch.orders.state_machine import OrderStatus
from dispatch.outbox.consumer import MAX_RETRIES, RetryLater, TaskContext, outbox_task

S = OrderStatus

# A booking call cut off on our side (worker killed, client timeout) may still be under way at the courier,
# which then books it: looking the reference up sooner could miss that booking and book a second driver.
# Longer than every courier client's timeout (10-15 s).
RECONCILE_AFTER = timedelta(seconds=20)

# A booking that has heard nothing from its courier for this long is asked for its status (the beat's
# reconciliation): a lost webhook must not leave an order stuck in a state it has left at the courier.
QUIET_AFTER = timedelta(minutes=10)


def adapter_for(ctx: TaskContext, account_id: int) -> CourierAdapter:
    account = ctx.session.get(CourierAccount, account_id)
    assert account is not None
    return build_adapter(account.courier, account.settings)


@outbox_task(orders_service.DISPATCH_TOPIC)
def book_order(ctx: TaskContext) -> None:
    session = ctx.session
    loaded = orders_repository.get_order_for_booking(session, ctx.message.payload["order_id"])
    if loaded is None:
        return
    # The session's identity map holds rows only while something else does: held here for the whole task,
    # the patient is read once per booking, not again by each step that needs the address or the phone.
    order, _patient, hospital = loaded
    if order.status == S.RELEASED:
        located = locating.locate(session, order, hospital)
        target = S.READY if located.ready else S.NEEDS_ADDRESS
        orders_service.transition(session, order, target, detail=located.detail, data=located.data)
        if not located.ready:
            return
    quote = None
    started_here = False
    if order.status == S.READY:
        choice = _choose_courier(session, order, hospital)
        if choice.candidate is None:
            service.no_courier(session, order, f"No courier: {choice.reason}")
            return
        account = session.get(CourierAccount, choice.candidate.account_id)
        assert account is not None
        service.start_attempt(session, order, account, choice)
        quote = choice.quote
        started_here = True
        # The attempt is durable before the courier hears of it, so a crash mid-call can be reconciled.
        session.commit()
    if order.status != S.BOOKING or order.current_attempt_id is None:
        return
    attempt = repository.get_for_update(session, order.current_attempt_id)
    if attempt is None or attempt.status != AttemptStatus.PENDING:
        return
    _call_courier(ctx, attempt, quote, started_here=started_here)


def _choose_courier(session: Session, order: Order, hospital: Hospital) -> Choice:
    """Quotes from every account that may take the order, weighed by the hospital's policy; staff's own
    pick is booked without asking the others."""
    candidates = [
        (candidate, adapter) for candidate, _account, adapter in service.courier_candidates(session, order)
    ]
    asked = [
        (candidate, adapter)
        for candidate, adapter in candidates
        if not breaker.open_for(candidate.account_id)
    ]
    if candidates and not asked:
        # Every courier that could take it is failing: wait for the first circuit to close rather than
        # hand a passing outage to staff as "no courier".
        wait = min(breaker.open_for(candidate.account_id) for candidate, _adapter in candidates)
        raise RetryLater("every eligible courier's circuit is open", after=timedelta(seconds=max(wait, 1.0)))
    for candidate in {candidate for candidate, _adapter in candidates} - {
        candidate for candidate, _a in asked
    }:
        orders_service.add_event(
            session, order, "courier", f"{candidate.courier} not asked: failing lately (circuit open)"
        )
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


def _call_courier(
    ctx: TaskContext, attempt: BookingAttempt, quote: Quote | None = None, *, started_here: bool
) -> None:
    """Book the attempt, or find the booking an earlier run of this task made.

    An attempt this run did not start was left pending by an earlier run (a retry, a worker killed mid-call,
    a message the broker or the relay delivered again), whose call may have reached the courier: it is
    looked up by our reference before any new booking, once that earlier call can no longer be under way.
    """
    session = ctx.session
    order = orders_repository.get_order_for_update(session, attempt.order_id)
    assert order is not None
    adapter = adapter_for(ctx, attempt.account_id)
    if not started_here and not adapter.capabilities.lookup_by_reference:
        _hand_unknown_booking_to_staff(session, order, attempt)
        return
    closed_in = breaker.open_for(attempt.account_id)
    if closed_in:
        raise RetryLater(f"{attempt.courier}: circuit open", after=timedelta(seconds=closed_in))
    # Delivered again without any run having seen the earlier call end (a killed worker, a lost message):
    # that call may still be under way, so wait before looking it up. After a retry the call is known over.
    cut_off = not started_here and ctx.retries == 0 and ctx.attempts == 0
    since_last_call = utcnow() - attempt.updated_at
    if cut_off and since_last_call < RECONCILE_AFTER:
        raise RetryLater(
            f"{attempt.courier}: an earlier call may be under way", after=RECONCILE_AFTER - since_last_call
        )
    account_id, courier = attempt.account_id, attempt.courier
    try:
        known = (
            None
            if started_here
            else breaker.guarded(account_id, courier, lambda: adapter.find_by_reference(attempt.reference))
        )
        if known is not None:
            provider_order_id = known.provider_order_id
        else:
            request = service.delivery_request(session, order, attempt.reference)
            if not started_here:
                # When this call starts, for a run delivered meanwhile to wait RECONCILE_AFTER from.
                attempt.updated_at = utcnow()
                session.commit()
            provider_order_id = breaker.guarded(
                account_id, courier, lambda: adapter.book(request, quote)
            ).provider_order_id
    except CourierError as exc:
        metrics.count_courier_error(attempt.courier, "book", exc)
        if exc.retryable and not ctx.final_try and ctx.attempts < MAX_RETRIES:
            # A 429's Retry-After is waited in the outbox; otherwise Celery retries with backoff and jitter.
            after = timedelta(seconds=exc.retry_after) if exc.retry_after else None
            raise RetryLater(f"{attempt.courier}: {exc}", after=after) from exc
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


@celery_app.task(name="dispatching.reconcile", ignore_result=True, acks_late=False)
def reconcile() -> None:
    """Beat: ask couriers about bookings whose webhooks went quiet, and give back bookings no driver took.

    Each booking is handled in its own transaction, so one courier failing holds up no other.
    """
    now = utcnow()
    with new_session() as session:
        quiet = repository.quiet_bookings(session, now - QUIET_AFTER)
    for attempt_id in quiet:
        reconcile_booking(attempt_id)
    with new_session() as session:
        waiting = repository.bookings_waiting_for_driver(session)
    for attempt_id in waiting:
        check_allocation(attempt_id, now)


def reconcile_booking(attempt_id: int) -> EventOutcome | None:
    """Poll one quiet booking's status and apply it through the webhook's path (stale and duplicate
    reports change nothing). A courier without a status call, or failing it, leaves the booking as it is,
    noted on the order's timeline, and is asked again a quiet period later."""
    with new_session() as session:
        attempt = repository.get_for_update(session, attempt_id)
        if attempt is None or attempt.status != AttemptStatus.BOOKED or attempt.provider_order_id is None:
            return None
        bind_log_context(order_id=attempt.order_id)
        account = session.get(CourierAccount, attempt.account_id)
        assert account is not None
        try:
            event = build_adapter(account.courier, account.settings).status(attempt.provider_order_id)
        except (CourierError, NotImplementedError) as exc:
            metrics.count_courier_error(attempt.courier, "status", exc)
            order = orders_repository.get_order_for_update(session, attempt.order_id)
            assert order is not None
            orders_service.add_event(
                session,
                order,
                "courier",
                f"{attempt.courier}: no webhook lately and the status check failed ({exc}); booking unchanged",
                data={"attempt_id": attempt.id},
            )
            attempt.updated_at = utcnow()
            session.commit()
            log.warning(
                "reconcile.status_failed", attempt_id=attempt.id, courier=attempt.courier, error=str(exc)
            )
            return None
        orders_repository.get_order_for_update(session, attempt.order_id)
        session.refresh(attempt)
        if event.provider_status == attempt.provider_status and event.status is not CourierStatus.UNKNOWN:
            # Nothing new: only remember the courier was asked, so it is asked again a quiet period later.
            attempt.updated_at = utcnow()
            session.commit()
            return EventOutcome(False, "unchanged")
        outcome = service.apply_courier_event(session, attempt, event)
        attempt.updated_at = utcnow()
        session.commit()
        return outcome


def check_allocation(attempt_id: int, now: datetime) -> bool:
    """Give back the order's current booking if no driver took it within the hospital's allocation timeout."""
    with new_session() as session:
        attempt = repository.get_for_update(session, attempt_id)
        if attempt is None or attempt.status != AttemptStatus.BOOKED:
            return False
        order = orders_repository.get_order_for_update(session, attempt.order_id)
        hospital = session.get(Hospital, attempt.hospital_id)
        assert order is not None and hospital is not None
        if order.current_attempt_id != attempt.id or order.status != S.BOOKING:
            return False
        minutes = service.dispatch_policy(hospital).allocation_timeout_minutes
        if now - attempt.created_at < timedelta(minutes=minutes):
            return False
        bind_log_context(order_id=order.id)
        service.give_back_after_timeout(session, order, attempt, minutes)
        session.commit()
        return True
