"""Applying an accepted courier webhook to its order."""

from __future__ import annotations

from dispatch.dispatching import repository as dispatching_repository
from dispatch.dispatching.service import apply_courier_event
from dispatch.hospitals.models import CourierAccount
from dispatch.inbox import repository as inbox_repository
from dispatch.inbox.models import InboxMessage, InboxStatus
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
    attempt = dispatching_repository.get_by_provider_id(session, account.courier, event.provider_order_id)
    if attempt is None:
        inbox_repository.mark(message, InboxStatus.REJECTED, "booking vanished")
        return
    outcome = apply_courier_event(session, attempt, event)
    inbox_repository.mark(message, InboxStatus.PROCESSED, None if outcome.applied else outcome.reason)
