"""The poller: beat asks every enabled pull source to poll; each poll runs alone (a row lock) per source.

Every inbox row a poll archives is settled before the poll ends: processed with its orders, rejected
(quarantined) with the reasons of everything in it that could not be taken, or, when the read failed
half-way, ignored, because the next poll reads the same again.
"""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from dispatch.core.celery_app import celery_app
from dispatch.core.clock import utcnow
from dispatch.core.db import is_postgres, new_session
from dispatch.core.logging import log
from dispatch.hospitals.models import Hospital, HospitalSource
from dispatch.inbox import service as inbox_service
from dispatch.inbox.models import InboxStatus
from dispatch.orders import prescriptions as prescription_intake
from dispatch.sources.pullers import PULLERS, PullFailed
from hospital_adapter.canonical import PrescriptionIn

# Prescriptions taken per transaction: one commit for many, since a poll can bring thousands at once.
CHUNK = 500

Taken = tuple[PrescriptionIn, int]


def _ingest(hospital: Hospital, batch: list[Taken]) -> str | None:
    """One transaction: the orders, and their inbox rows marked processed. The reason instead, if it failed."""
    try:
        with new_session() as session:
            prescription_intake.ingest_batch(session, hospital, batch)
            inbox_service.mark_processed(session, sorted({inbox_id for _, inbox_id in batch}))
            session.commit()
    except (ValueError, SQLAlchemyError) as exc:
        # The first line only: SQLAlchemy goes on with the statement and its parameters, a patient's data.
        return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"
    return None


def _take_chunk(hospital: Hospital, chunk: list[Taken], refused: dict[int, list[str]]) -> int:
    """Take the chunk in one transaction; if anything in it fails, take it one by one, so a single bad
    prescription is refused with its reason (on its inbox row) and the rest still go through."""
    if _ingest(hospital, chunk) is None:
        return len(chunk)
    log.warning("sources.chunk_retried_one_by_one", size=len(chunk))
    taken = 0
    for prescription, inbox_id in chunk:
        reason = _ingest(hospital, [(prescription, inbox_id)])
        if reason is None:
            taken += 1
        else:
            refused.setdefault(inbox_id, []).append(f"Prescription {prescription.prescription_id}: {reason}")
    return taken


@celery_app.task(name="sources.poll_due", ignore_result=True, acks_late=False)
def poll_due() -> None:
    with new_session() as session:
        query = select(HospitalSource.id).where(col(HospitalSource.enabled).is_(True))
        source_ids = session.exec(query.where(col(HospitalSource.source).in_(list(PULLERS)))).all()
    for source_id in source_ids:
        poll_source.delay(source_id)


@celery_app.task(name="sources.poll", ignore_result=True)
def poll_source(source_id: int) -> int:
    """One poll; returns how many prescriptions it took. A poll still running elsewhere makes this a no-op."""
    with new_session() as session:
        query = select(HospitalSource).where(HospitalSource.id == source_id)
        if is_postgres(session):
            query = query.with_for_update(skip_locked=True)
        source = session.exec(query).first()
        if source is None or not source.enabled:
            return 0
        hospital = session.get(Hospital, source.hospital_id)
        assert hospital is not None
        archived: list[int] = []

        def archive(bodies: list[bytes]) -> list[int]:
            inbox_ids = (
                inbox_service.archive_many(source.source, bodies, hospital_id=hospital.id) if bodies else []
            )
            archived.extend(inbox_ids)
            return inbox_ids

        try:
            batch = PULLERS[source.source](source.settings, source.watermark, archive)
        except PullFailed as exc:
            if exc.inbox_id is not None:
                inbox_service.reject(exc.inbox_id, str(exc), hospital_id=hospital.id)
            inbox_service.settle_many(
                [inbox_id for inbox_id in archived if inbox_id != exc.inbox_id],
                InboxStatus.IGNORED,
                f"The poll stopped before its end ({str(exc)[:500]}); the next poll reads this again",
            )
            source.last_error = str(exc)[:2000]
            source.last_polled_at = utcnow()
            session.commit()
            log.warning("sources.poll_failed", source_id=source_id, error=str(exc))
            return 0
        refused: dict[int, list[str]] = {}
        for inbox_id, reason in batch.errors:
            refused.setdefault(inbox_id, []).append(reason)
        taken = sum(
            _take_chunk(hospital, batch.prescriptions[start : start + CHUNK], refused)
            for start in range(0, len(batch.prescriptions), CHUNK)
        )
        # Last, so a row part of which was taken still ends up in quarantine for the part that was not.
        for inbox_id, reasons in refused.items():
            inbox_service.reject(inbox_id, "; ".join(reasons), hospital_id=hospital.id)
        with_orders = {inbox_id for _, inbox_id in batch.prescriptions}
        inbox_service.settle_many(
            [inbox_id for inbox_id in archived if inbox_id not in with_orders and inbox_id not in refused],
            InboxStatus.PROCESSED,
        )
        for prescription_number in batch.withdrawn:
            prescription_intake.cancel_by_hospital(
                session, hospital, prescription_number, "withdrawn at the source"
            )
        source.watermark = batch.watermark
        source.last_polled_at = utcnow()
        source.last_error = None
        session.commit()
        return taken
