"""Receiving one courier webhook: archive, authenticate, parse, de-duplicate, queue."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from couriers.base import CourierAdapter, CourierEvent, WebhookIgnored, WebhookPayloadError
from couriers.registry import get_plugin, webhook_adapter
from dispatch.core.db import get_engine, is_postgres
from dispatch.dispatching import repository as dispatching_repository
from dispatch.hospitals.models import CourierAccount
from dispatch.inbox import repository as inbox_repository
from dispatch.inbox import service as inbox_service
from dispatch.inbox.models import COURIER_SOURCE_PREFIX, InboxMessage, InboxStatus
from dispatch.outbox.service import enqueue_now, left_to_relay
from dispatch.webhooks import repository
from dispatch.webhooks.repository import AccountKey

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
    accounts: Sequence[AccountKey], headers: Mapping[str, str], body: bytes
) -> list[tuple[AccountKey, CourierAdapter]]:
    """Every account whose secret this webhook proves; several when accounts were given the same token."""
    matched = []
    for account in accounts:
        adapter = webhook_adapter(account.courier, account.settings)
        if adapter.verify_webhook(headers, body):
            matched.append((account, adapter))
    return matched


def _dedupe_key(event_id: str) -> str:
    """The courier's event id; hashed when longer than the column, so a verbose id is still de-duplicated."""
    if len(event_id) <= _DEDUPE_KEY_MAX:
        return event_id
    return "sha256:" + hashlib.sha256(event_id.encode()).hexdigest()


def receive(courier: str, headers: Mapping[str, str], body: bytes) -> WebhookResult:
    """One connection from the pool for the whole webhook, so a flood of forged webhooks cannot hold one
    connection while waiting for another.

    Until the verdict every statement commits on its own (autocommit): the raw archive is durable the moment
    its INSERT returns, before anything reads the message, and the reads need no transaction. Neither then
    pays a BEGIN and a COMMIT round trip, and on PostgreSQL the archive brings the accounts back with it:
    seven round trips to the database instead of ten. Accepting the event is the one transaction: the inbox
    verdict and the queued state change commit together or not at all.
    """
    with get_engine().connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        with Session(connection, expire_on_commit=False) as session:
            return _receive(session, courier, headers, body)


def _receive(session: Session, courier: str, headers: Mapping[str, str], body: bytes) -> WebhookResult:
    # A path segment of any length must not stop the archiving (the column holds 64 characters).
    row = inbox_repository.archive_row(
        source=f"{COURIER_SOURCE_PREFIX}{courier}"[:_SOURCE_MAX], body=body, headers=headers
    )
    inbox_id, accounts = repository.archive_with_accounts(session, row, courier)
    try:
        get_plugin(courier)
    except LookupError:
        inbox_service.settle_in(session, inbox_id, InboxStatus.REJECTED, "unknown courier")
        return WebhookResult(404, "Unknown courier", f"No courier adapter named {courier!r}.")
    if not body.strip():
        # Lalamove and Biteship probe a URL with an empty body when it is registered and want a 200; an empty
        # body carries nothing to apply, so answering it needs no credentials.
        inbox_service.settle_in(session, inbox_id, InboxStatus.IGNORED, "empty body: a registration probe")
        return WebhookResult(200, "Probe acknowledged")
    matched = _authenticated_accounts(accounts, headers, body)
    if not matched:
        inbox_service.settle_in(session, inbox_id, InboxStatus.REJECTED, "authentication failed")
        return WebhookResult(401, "Webhook authentication failed", "Missing or wrong webhook credentials.")
    candidates = [account for account, _adapter in matched]
    hospital_id = repository.hospital_of(candidates)
    try:
        event = matched[0][1].parse_webhook(headers, body)
    except WebhookIgnored as exc:
        inbox_service.settle_in(session, inbox_id, InboxStatus.IGNORED, str(exc), hospital_id=hospital_id)
        return WebhookResult(200, "Acknowledged; nothing to apply", str(exc))
    except WebhookPayloadError as exc:
        inbox_service.settle_in(
            session, inbox_id, InboxStatus.REJECTED, f"unparseable: {exc}", hospital_id=hospital_id
        )
        return WebhookResult(400, "Malformed webhook", str(exc))
    return _accept(session, inbox_id, candidates, event)


def _accept(
    session: Session, inbox_id: int, candidates: list[AccountKey], event: CourierEvent
) -> WebhookResult:
    dedupe_key = _dedupe_key(event.event_id)
    if len(candidates) == 1 and is_postgres(session) and left_to_relay(APPLY_TOPIC):
        # The common case in one statement, which queues the state change for the relay (nothing to publish
        # at commit); anything else (no such booking yet, an unknown order, accounts sharing a token) takes
        # the general path below.
        account = candidates[0]
        try:
            if repository.accept_if_booked_by(
                session,
                inbox_id=inbox_id,
                account=account,
                provider_order_id=event.provider_order_id,
                dedupe_key=dedupe_key,
                status=InboxStatus.ACCEPTED,
                topic=APPLY_TOPIC,
                payload=_apply_payload(inbox_id, account),
            ):
                return WebhookResult(200, "Accepted")
        except IntegrityError:
            return _duplicate(session, inbox_id, account)
    owners = _owners(session, candidates, event)
    in_flight = False
    if not owners:
        # Each read sees what was committed when it ran. Our booking task commits the attempt (pending)
        # before it calls the courier and its order number after: a booking this event can be about is
        # pending or has its number by now. Looking for the number again after asking about pending
        # attempts cannot miss a booking that committed between the two reads.
        in_flight = dispatching_repository.has_pending_attempt(session, [c.id for c in candidates])
        owners = _owners(session, candidates, event)
    if not owners:
        if in_flight:
            # The courier answered faster than our booking task could commit its order number: ask it to
            # send again shortly rather than lose the report.
            reason = "booking in flight; sender asked to retry"
            result = WebhookResult(503, "Booking not recorded yet", "Send this event again in a few seconds.")
        else:
            reason = "unknown order"
            result = WebhookResult(
                404, "Unknown order", f"No booking {event.provider_order_id!r} for this account."
            )
        inbox_service.settle_in(
            session, inbox_id, InboxStatus.REJECTED, reason, hospital_id=repository.hospital_of(candidates)
        )
        return result
    account = owners[0]
    _begin_transaction(session)
    try:
        # The unique (source, dedupe_key) refuses a second copy of the event here, before anything is queued.
        inbox_repository.update_message(
            session,
            inbox_id,
            InboxStatus.ACCEPTED,
            hospital_id=account.hospital_id,
            dedupe_key=dedupe_key,
        )
        enqueue_now(session, APPLY_TOPIC, _apply_payload(inbox_id, account), hospital_id=account.hospital_id)
        session.commit()
    except IntegrityError:
        return _duplicate(session, inbox_id, account)
    return WebhookResult(200, "Accepted")


def _owners(session: Session, candidates: list[AccountKey], event: CourierEvent) -> list[AccountKey]:
    """The booking says whose event this is; it must belong to an account the webhook authenticated as."""
    booked_by = repository.booking_account(session, candidates[0].courier, event.provider_order_id)
    return [candidate for candidate in candidates if candidate.id == booked_by]


def _apply_payload(inbox_id: int, account: AccountKey) -> dict[str, int]:
    return {"inbox_id": inbox_id, "account_id": account.id}


def _duplicate(session: Session, inbox_id: int, account: AccountKey) -> WebhookResult:
    """A second copy of an event already taken: archived, marked, and nothing queued."""
    session.rollback()
    inbox_service.settle_in(session, inbox_id, InboxStatus.DUPLICATE, None, hospital_id=account.hospital_id)
    return WebhookResult(200, "Duplicate event", "Already received; ignored.")


def _begin_transaction(session: Session) -> None:
    """Ends the autocommit stretch of ``receive``: what the session runs next commits together or not at all.

    The connection must be in no transaction to change mode; the reads left none open (committing them sends
    nothing), and the pool puts the connection back in its usual mode when ``receive`` returns it.
    """
    session.commit()
    connection = session.get_bind()  # not session.connection(): that would open a transaction first
    assert isinstance(connection, Connection)
    connection.execution_options(isolation_level=connection.default_isolation_level)


def parse_archived(message: InboxMessage, account: CourierAccount) -> CourierEvent:
    return webhook_adapter(account.courier, account.settings).parse_webhook(message.headers, message.body)
