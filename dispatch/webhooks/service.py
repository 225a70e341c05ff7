"""Receiving one courier webhook: archive, authenticate, parse, de-duplicate, queue."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from couriers.base import CourierAdapter, CourierEvent, WebhookPayloadError
from couriers.registry import build_adapter, get_plugin
from dispatch.core.clock import utcnow
from dispatch.core.db import new_session
from dispatch.dispatching import repository as dispatching_repository
from dispatch.hospitals import repository as hospitals_repository
from dispatch.hospitals.models import CourierAccount
from dispatch.inbox import repository as inbox_repository
from dispatch.inbox import service as inbox_service
from dispatch.inbox.models import InboxMessage, InboxStatus
from dispatch.outbox.service import enqueue

APPLY_TOPIC = "webhooks.apply"


@dataclass(frozen=True)
class WebhookResult:
    status_code: int
    title: str
    detail: str = ""


def _authenticated_account(
    accounts: list[CourierAccount], headers: Mapping[str, str], body: bytes
) -> tuple[CourierAccount, CourierAdapter] | None:
    """Which hospital's account this webhook proves it comes from; none when no secret matches."""
    for account in accounts:
        adapter = build_adapter(account.courier, account.settings)
        if adapter.verify_webhook(headers, body):
            return account, adapter
    return None


def receive(courier: str, headers: Mapping[str, str], body: bytes) -> WebhookResult:
    inbox_id = inbox_service.archive_raw(f"courier:{courier}", body, headers)
    try:
        get_plugin(courier)
    except LookupError:
        inbox_service.reject(inbox_id, "unknown courier")
        return WebhookResult(404, "Unknown courier", f"No courier adapter named {courier!r}.")
    with new_session() as session:
        accounts = list(hospitals_repository.enabled_accounts_for_courier(session, courier))
    matched = _authenticated_account(accounts, headers, body)
    if matched is None:
        inbox_service.reject(inbox_id, "authentication failed")
        return WebhookResult(401, "Webhook authentication failed", "Missing or wrong webhook credentials.")
    account, adapter = matched
    try:
        event = adapter.parse_webhook(headers, body)
    except WebhookPayloadError as exc:
        inbox_service.reject(inbox_id, f"unparseable: {exc}", hospital_id=account.hospital_id)
        return WebhookResult(400, "Malformed webhook", str(exc))
    return _accept(inbox_id, account, event)


def _accept(inbox_id: int, account: CourierAccount, event: CourierEvent) -> WebhookResult:
    with new_session() as session:
        attempt = dispatching_repository.get_by_provider_id(session, account.courier, event.provider_order_id)
        if attempt is None or attempt.account_id != account.id:
            session.rollback()
            inbox_service.reject(inbox_id, "unknown order", hospital_id=account.hospital_id)
            return WebhookResult(
                404, "Unknown order", f"No booking {event.provider_order_id!r} for this account."
            )
        message = session.get(InboxMessage, inbox_id)
        assert message is not None
        message.hospital_id = account.hospital_id
        message.dedupe_key = event.event_id
        inbox_repository.mark(message, InboxStatus.ACCEPTED)
        enqueue(
            session,
            APPLY_TOPIC,
            {"inbox_id": inbox_id, "account_id": account.id},
            hospital_id=account.hospital_id,
        )
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            message = session.get(InboxMessage, inbox_id)
            assert message is not None
            message.hospital_id = account.hospital_id
            inbox_repository.mark(message, InboxStatus.DUPLICATE)
            message.processed_at = utcnow()
            session.commit()
            return WebhookResult(200, "Duplicate event", "Already received; ignored.")
    return WebhookResult(200, "Accepted")


def parse_archived(message: InboxMessage, account: CourierAccount) -> CourierEvent:
    adapter = build_adapter(account.courier, account.settings)
    return adapter.parse_webhook(message.headers, message.body.encode("utf-8"))
