"""Applying an accepted courier webhook to its order."""

from __future__ import annotations

from couriers.base import CourierStatus
from dispatch.core import metrics
from dispatch.core.clock import utcnow
from dispatch.core.logging import bind_log_context
from dispatch.dispatching import repository as dispatching_repository
from dispatch.dispatching.service import apply_courier_event
from dispatch.hospitals.models import CourierAccount
from dispatch.inbox import repository as inbox_repository
from dispatch.inbox.models import InboxMessage, InboxStatus
from dispatch.orders import repository as orders_repository
from dispatch.outbox.consumer import TaskContext, outbox_task
from dispatch.webhooks.service import APPLY_TOPIC, parse_archived


@outbox_task(APPLY_TOPIC)
def apply_webhook(ctx: TaskContext) -> None:
    session = ctx.session
    message = session.get(InboxMessage, ctx.message.payload["inbox_id"])
    account = session.get(CourierAccount, ctx.message.payload["account_id"])
    if message is None or account is None or message.status != InboxStatus.ACCEPTED:
        return
    event = parse_archived(message, account)
    if event.status is CourierStatus.UNKNOWN:
        metrics.COURIER_ERRORS.labels(account.courier, "webhook", "unknown_status").inc()
    attempt = dispatching_repository.get_by_provider_id(session, account.courier, event.provider_order_id)
    if attempt is None:
        inbox_repository.mark(message, InboxStatus.REJECTED, "booking vanished")
        return
    # Two workers may apply two reports on one booking at once. Hold the order first, then read the booking
    # as the other left it: read before the lock, a report overtaken by a later one (delivered before
    # out_for_pickup) was taken for news and the delivered booking for a stray one to cancel.
    orders_repository.get_order_for_update(session, attempt.order_id)
    session.refresh(attempt)
    bind_log_context(order_id=attempt.order_id)
    outcome = apply_courier_event(session, attempt, event)
    inbox_repository.mark(message, InboxStatus.PROCESSED, None if outcome.applied else outcome.reason)
    metrics.WEBHOOK_APPLY_DELAY.labels(message.source).observe(
        (utcnow() - message.received_at).total_seconds()
    )
