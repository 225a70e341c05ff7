"""The reads a courier webhook needs, as plain rows from statements built once.

Every webhook runs them: loading full ORM objects (an account's every column, a booking's twenty) and
building and keying each statement anew cost more than the queries themselves.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, insert, select, text
from sqlmodel import Session

from dispatch.core.clock import utcnow
from dispatch.core.db import is_postgres
from dispatch.dispatching.models import BookingAttempt
from dispatch.hospitals.models import CourierAccount
from dispatch.inbox import repository as inbox_repository
from dispatch.inbox.models import InboxMessage

_accounts = CourierAccount.__table__  # type: ignore[attr-defined]
_attempts = BookingAttempt.__table__  # type: ignore[attr-defined]
_inbox = InboxMessage.__table__  # type: ignore[attr-defined]

_ENABLED_ACCOUNTS = (
    select(_accounts.c.id, _accounts.c.hospital_id, _accounts.c.courier, _accounts.c.settings)
    .where(_accounts.c.courier == bindparam("courier"), _accounts.c.enabled.is_(True))
    .order_by(_accounts.c.id)
)
# The columns ``inbox_repository.archive_row`` gives; the table's defaults fill in the rest.
_ARCHIVE_COLUMNS = tuple(inbox_repository.archive_row(source="", body=b"", headers={}))
_ARCHIVED = (
    insert(_inbox)
    .values({name: bindparam(name, type_=_inbox.c[name].type) for name in _ARCHIVE_COLUMNS})
    .returning(_inbox.c.id)
    .cte("archived")
)
_ARCHIVE_THEN_ACCOUNTS = (
    select(_ARCHIVED.c.id, _accounts.c.id, _accounts.c.hospital_id, _accounts.c.courier, _accounts.c.settings)
    .select_from(
        _ARCHIVED.outerjoin(
            _accounts, and_(_accounts.c.courier == bindparam("courier"), _accounts.c.enabled.is_(True))
        )
    )
    .order_by(_accounts.c.id)
)
_BOOKING_ACCOUNT = select(_attempts.c.account_id).where(
    _attempts.c.courier == bindparam("courier"),
    _attempts.c.provider_order_id == bindparam("provider_order_id"),
)

# The accepting of an event whose booking the one authenticated account made, in one statement: the inbox
# row settled with its dedupe key and the state change queued for the relay, or neither (no such booking:
# nothing is written; a second copy: the unique (source, dedupe_key) fails the whole statement).
_ACCEPT_IF_BOOKED_BY = text(
    """
    WITH owned AS (
        SELECT 1 FROM booking_attempts
        WHERE courier = :courier AND provider_order_id = :provider_order_id AND account_id = :account_id
        LIMIT 1
    ), settled AS (
        UPDATE inbox_messages
        SET status = :status, hospital_id = :hospital_id, dedupe_key = :dedupe_key, error = NULL,
            processed_at = NULL
        WHERE id = :inbox_id AND EXISTS (SELECT 1 FROM owned)
        RETURNING id
    )
    INSERT INTO outbox_messages
        (hospital_id, topic, payload, created_at, available_at, attempts, publish_count)
    SELECT :hospital_id, :topic, CAST(:payload AS json), :now, :now, 0, 0 FROM settled
    RETURNING id
    """
)


class AccountKey(NamedTuple):
    """What verifying a webhook and routing it to a hospital need of a courier account."""

    id: int
    hospital_id: int
    courier: str
    settings: dict[str, Any]


def hospital_of(accounts: Iterable[AccountKey]) -> int | None:
    """The hospital a message belongs to, when the accounts agree on one."""
    hospitals = {account.hospital_id for account in accounts}
    return hospitals.pop() if len(hospitals) == 1 else None


def archive_with_accounts(
    session: Session, row: Mapping[str, Any], courier: str
) -> tuple[int, Sequence[AccountKey]]:
    """Archive a message as ``inbox_repository.archive_row`` gives it, and read the courier's enabled
    accounts: its id and the accounts to verify it against.

    On PostgreSQL in one statement, the INSERT in a WITH clause: on the autocommit connection a webhook
    runs on, the archive is committed when the statement returns, and the read costs no round trip of its
    own. SQLite cannot write in a WITH clause, so there it takes two.
    """
    if not is_postgres(session):
        return inbox_repository.insert_one(session, row), enabled_accounts(session, courier)
    rows = session.execute(_ARCHIVE_THEN_ACCOUNTS, {**row, "courier": courier}).all()
    accounts = [AccountKey(*account) for _inbox_id, *account in rows if account[0] is not None]
    return int(rows[0][0]), accounts


def enabled_accounts(session: Session, courier: str) -> Sequence[AccountKey]:
    return [AccountKey(*row) for row in session.execute(_ENABLED_ACCOUNTS, {"courier": courier})]


def booking_account(session: Session, courier: str, provider_order_id: str) -> int | None:
    """The account that made this courier booking, if we have it."""
    params = {"courier": courier, "provider_order_id": provider_order_id}
    account_id: int | None = session.execute(_BOOKING_ACCOUNT, params).scalar()
    return account_id


def accept_if_booked_by(
    session: Session,
    *,
    inbox_id: int,
    account: AccountKey,
    provider_order_id: str,
    dedupe_key: str,
    status: str,
    topic: str,
    payload: Mapping[str, Any],
) -> bool:
    """PostgreSQL, on the webhook's autocommit connection: settle the message as ``status`` and queue
    ``topic`` for the relay if ``account`` made this booking, in one statement that commits as it returns
    (the lookup, a BEGIN, two writes and a COMMIT took five round trips). False, and nothing written, when
    the account made no such booking. A second copy of the event raises ``IntegrityError``."""
    params = {
        "courier": account.courier,
        "provider_order_id": provider_order_id,
        "account_id": account.id,
        "hospital_id": account.hospital_id,
        "inbox_id": inbox_id,
        "status": status,
        "dedupe_key": dedupe_key,
        "topic": topic,
        "payload": json.dumps(payload),
        "now": utcnow(),
    }
    return session.execute(_ACCEPT_IF_BOOKED_BY, params).first() is not None
