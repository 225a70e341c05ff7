"""Staff view of quarantined inbound messages, and re-running one after the fix it called for."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from sqlmodel import SQLModel

from dispatch.audit import service as audit
from dispatch.auth.api import STAFF_RESPONSES, CurrentStaff, Pharmacist
from dispatch.core.db import SessionDep
from dispatch.core.http import RowId
from dispatch.core.problems import Problem, problem_responses
from dispatch.hospitals.models import Hospital
from dispatch.inbox import repository
from dispatch.inbox.models import InboxStatus
from dispatch.intake import service as intake_service
from hospital_adapter.canonical import SourceInputError

router = APIRouter(prefix="/api/v1/inbox", tags=["inbox"], responses=STAFF_RESPONSES)

UNAVAILABLE = (
    "Server rumah sakit tidak dapat dihubungi; pesan tetap di karantina, coba lagi nanti / "
    "the hospital's server could not be reached; the message stays in quarantine, try again later"
)
REFUSED = (
    "Server rumah sakit menolak permintaan atau menjawab dengan tidak terbaca; pesan tetap di karantina, "
    "periksa pengaturan sumber / the hospital's server refused the request or answered unreadably; the "
    "message stays in quarantine, check the source settings"
)


class InboxMessagePublic(SQLModel):
    id: int
    source: str
    status: InboxStatus
    error: str | None
    content_type: str
    received_at: datetime
    processed_at: datetime | None
    size: int


class ReprocessResult(SQLModel):
    inbox_id: int
    orders: list[dict[str, object]]


@router.get("", operation_id="inbox-list")
def read_inbox(
    session: SessionDep,
    user: CurrentStaff,
    status: InboxStatus | None = InboxStatus.REJECTED,
    limit: int = Query(default=100, ge=1, le=500),
) -> list[InboxMessagePublic]:
    """Defaults to the quarantine: messages refused with their reason."""
    return [
        InboxMessagePublic(**message.model_dump(exclude={"body", "headers"}), size=len(message.body))
        for message in repository.list_for_hospital(session, user.hospital_id, status=status, limit=limit)
    ]


@router.post(
    "/{inbox_id}/reprocess", operation_id="inbox-reprocess", responses=problem_responses(404, 409, 502, 503)
)
def reprocess(inbox_id: RowId, session: SessionDep, user: Pharmacist) -> ReprocessResult:
    """Run a quarantined message again; a pull source's message is read again from the hospital's server.

    Answers 404 for another hospital's message, 409 for one that cannot be re-run, 422 with the reasons (and
    the orders of what could be taken) when it is still refused, 503 or 502 when the hospital's server is
    down or refuses. The message stays in quarantine with the reason in every refusal.
    """
    hospital = session.get(Hospital, user.hospital_id)
    assert hospital is not None
    try:
        outcomes = intake_service.reprocess(inbox_id, hospital)
    except LookupError as exc:
        raise Problem(404, "Message not found") from exc
    except intake_service.SourceUnreachable as exc:
        if exc.retryable:
            raise Problem(503, "Hospital server unavailable", f"{UNAVAILABLE} ({exc})") from exc
        raise Problem(502, "Hospital server refused", f"{REFUSED} ({exc})") from exc
    except intake_service.NotReprocessable as exc:
        raise Problem(409, "Message cannot be re-processed", str(exc)) from exc
    except intake_service.StillRefused as exc:
        raise Problem(422, "Message still refused", str(exc), orders=_orders(exc.outcomes)) from exc
    except SourceInputError as exc:
        raise Problem(422, "Message still refused", str(exc)) from exc
    # The re-run committed in its own transactions; the entry says it was taken.
    orders = [o.order_id for o in outcomes]
    audit.record(session, user, "inbox.reprocess", "inbox_message", inbox_id, data={"orders": orders})
    session.commit()
    return ReprocessResult(inbox_id=inbox_id, orders=_orders(outcomes))


def _orders(outcomes: list[intake_service.IntakeOutcome]) -> list[dict[str, object]]:
    return [
        {"prescription": o.prescription_id, "order_id": o.order_id, "created": o.created} for o in outcomes
    ]
