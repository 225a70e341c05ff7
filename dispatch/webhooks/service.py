"""Receiving one courier webhook: archive, authenticate, parse, de-duplicate, queue."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from couriers.base import CourierAdapter, CourierEvent, WebhookIgnored, WebhookPayloadError
from couriers.registry import build_adapter, get_plugin
from dispatch.core.db import new_session
from dispatch.dispatching import repository as dispatching_repository
from dispatch.hospitals import repository as hospitals_repository
from dispatch.hospitals.models import CourierAccount
from dispatch.inbox import repository as inbox_repository
from dispatch.inbox import service as inbox_service
from dispatch.inbox.models import InboxMessage, InboxStatus
from dispatch.outbox.service import enqueue

APPLY_TOPIC = "webhooks.apply"

# Lengths of the inbox columns that hold values taken from the request.
_SOURCE_MAX = 64
_DEDUPE_KEY_MAX = 200


@dataclass(frozen=True)
class WebhookResult:
    status_code: int
    title: str
    detail: str = ""


def _authenticated_accounts(
    accounts: list[CourierAccount], headers: Mapping[str, str], body: bytes
) -> list[tuple[CourierAccount, CourierAdapter]]:
    """Every account whose secret this webhook proves; several when accounts were given the same token."""
    matched = []
    for account in accounts:
        adapter = build_adapter(account.courier, account.settings)
        if adapter.verify_webhook(headers, body):
            matched.append((account, adapter))
    return matched


def _hospital_of(accounts: Sequence[CourierAccount]) -> int | None:
    """The hospital a message belongs to, when the matching accounts agree on one."""
    hospitals = {account.hospital_id for account in accounts}
    return hospitals.pop() if len(hospitals) == 1 else None


def _dedupe_key(event_id: str) -> str:
    """The courier's event id; hashed when longer than the column, so a verbose id is still de-duplicated."""
    if len(event_id) <= _DEDUPE_KEY_MAX:
        return event_id
    return "sha256:" + hashlib.sha256(event_id.encode()).hexdigest()


def receive(courier: str, headers: Mapping[str, str], body: bytes) -> WebhookResult:
    # A path segment of any length must not stop the archiving (the column holds 64 characters).
    inbox_id = inbox_service.archive_raw(f"courier:{courier}"[:_SOURCE_MAX], body, headers)
    try:
        get_plugin(courier)
    except LookupError:
        inbox_service.reject(inbox_id, "unknown courier")
        return WebhookResult(404, "Unknown courier", f"No courier adapter named {courier!r}.")
    if not body.strip():
        # Lalamove and Biteship probe a URL with an empty body when it is registered and want a 200; an empty
        # body carries nothing to apply, so answering it needs no credentials.
        inbox_service.ignore(inbox_id, "empty body: a registration probe")
        return WebhookResult(200, "Probe acknowledged")
    with new_session() as session:
        accounts = list(hospitals_repository.enabled_accounts_for_courier(session, courier))
    matched = _authenticated_accounts(accounts, headers, body)
    if not matched:
        inbox_service.reject(inbox_id, "authentication failed")
        return WebhookResult(401, "Webhook authentication failed", "Missing or wrong webhook credentials.")
    candidates = [account for account, _adapter in matched]
    try:
        event = matched[0][1].parse_webhook(headers, body)
    except WebhookIgnored as exc:
        inbox_service.ignore(inbox_id, str(exc), hospital_id=_hospital_of(candidates))
        return WebhookResult(200, "Acknowledged; nothing to apply", str(exc))
    except WebhookPayloadError as exc:
        inbox_service.reject(inbox_id, f"unparseable: {exc}", hospital_id=_hospital_of(candidates))
        return WebhookResult(400, "Malformed webhook", str(exc))
    return _accept(inbox_id, candidates, event)


def _accept(inbox_id: int, candidates: list[CourierAccount], event: CourierEvent) -> WebhookResult:
    with new_session() as session:
        attempt = dispatching_repository.get_by_provider_id(
            session, candidates[0].courier, event.provider_order_id
        )
        # The booking says whose event this is; it must belong to an account the webhook authenticated as.
        owners = [c for c in candidates if attempt is not None and c.id == attempt.account_id]
        if not owners:
            in_flight = dispatching_repository.has_pending_attempt(
                session, [c.id for c in candidates if c.id]
            )
            session.rollback()
            if in_flight:
                # The courier answered faster than our booking task could commit its order number:
                # ask it to send again shortly rather than lose the report.
                inbox_service.reject(
                    inbox_id, "booking in flight; sender asked to retry", hospital_id=_hospital_of(candidates)
                )
                return WebhookResult(
                    503, "Booking not recorded yet", "Send this event again in a few seconds."
                )
            inbox_service.reject(inbox_id, "unknown order", hospital_id=_hospital_of(candidates))
            return WebhookResult(
                404, "Unknown order", f"No booking {event.provider_order_id!r} for this account."
            )
        account = owners[0]
        message = session.get(InboxMessage, inbox_id)
        assert message is not None
        message.hospital_id = account.hospital_id
        message.dedupe_key = _dedupe_key(event.event_id)
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
            session.commit()
            return WebhookResult(200, "Duplicate event", "Already received; ignored.")
    return WebhookResult(200, "Accepted")


def parse_archived(message: InboxMessage, account: CourierAccount) -> CourierEvent:
    adapter = build_adapter(account.courier, account.settings)
    return adapter.parse_webhook(message.headers, message.body)
