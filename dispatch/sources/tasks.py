"""The poller: beat asks every enabled pull source to poll; each poll runs alone (a row lock) per source.

Every inbox row a poll archives is settled before the poll ends: processed with its orders, rejected
(quarantined) with the reasons of everything in it that could not be taken, or, when the read failed
half-way, ignored, because the next poll reads the same again.
"""

from __future__ import annotations

from sqlmodel import col, select

from dispatch.core.celery_app import celery_app
from dispatch.core.clock import utcnow
from dispatch.core.db import is_postgres, new_session
from dispatch.core.logging import log
from dispatch.hospitals.models import Hospital, HospitalSource
from dispatch.inbox import service as inbox_service
from dispatch.inbox.models import InboxStatus
from dispatch.orders import prescriptions as prescription_intake
from dispatch.sources import service as sources_service
from dispatch.sources.pullers import PULLERS, PullFailed


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
        archived = sources_service.Archiver(source.source, hospital.id)
        try:
            batch = PULLERS[source.source](source.settings, source.watermark, archived)
        except PullFailed as exc:
            if exc.inbox_id is not None:
                inbox_service.reject(exc.inbox_id, str(exc), hospital_id=hospital.id)
            inbox_service.settle_many(
                [inbox_id for inbox_id in archived.ids if inbox_id != exc.inbox_id],
                InboxStatus.IGNORED,
                f"The poll stopped before its end ({str(exc)[:500]}); the next poll reads this again",
            )
            source.last_error = str(exc)[:2000]
            source.last_polled_at = utcnow()
            session.commit()
            log.warning("sources.poll_failed", source_id=source_id, error=str(exc))
            return 0
        took = sources_service.take(hospital, batch, archived.ids)
        for inbox_id, reasons in took.refused.items():
            inbox_service.reject(inbox_id, "; ".join(reasons), hospital_id=hospital.id)
        for prescription_number in batch.withdrawn:
            prescription_intake.cancel_by_hospital(
                session, hospital, prescription_number, "withdrawn at the source"
            )
        source.watermark = batch.watermark
        source.last_polled_at = utcnow()
        source.last_error = None
        session.commit()
        return len(took.orders)
