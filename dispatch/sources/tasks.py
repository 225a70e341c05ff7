"""The poller: beat asks every enabled pull source to poll; each poll runs alone (a row lock) per source."""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from dispatch.core.celery_app import celery_app
from dispatch.core.clock import utcnow
from dispatch.core.db import is_postgres, new_session
from dispatch.core.logging import log
from dispatch.hospitals.models import Hospital, HospitalSource
from dispatch.inbox import service as inbox_service
from dispatch.intake import service as intake_service
from dispatch.orders import prescriptions as prescription_intake
from dispatch.sources.pullers import PULLERS, PullFailed
from hospital_adapter.canonical import PrescriptionIn, SourceInputError

# Prescriptions taken per transaction: one commit for many, since a poll can bring thousands at once.
CHUNK = 500


def _canonical(raw: bytes) -> list[PrescriptionIn]:
    return [PrescriptionIn.model_validate_json(raw)]


def _take_chunk(source: str, hospital: Hospital, prescriptions: list[PrescriptionIn]) -> int:
    """Archive the chunk, then take it in one transaction; if anything in it fails, take it one by one,
    so a single bad prescription is quarantined with its reason and the rest still go through."""
    raws = [prescription.model_dump_json().encode() for prescription in prescriptions]
    inbox_ids = inbox_service.archive_many(source, raws, hospital_id=hospital.id)
    try:
        with new_session() as session:
            batch = list(zip(prescriptions, inbox_ids, strict=True))
            prescription_intake.ingest_batch(session, hospital, batch)
            inbox_service.mark_processed(session, inbox_ids)
            session.commit()
        return len(prescriptions)
    except (ValueError, SQLAlchemyError):
        log.warning("sources.chunk_retried_one_by_one", source=source, size=len(prescriptions))
    taken = 0
    for inbox_id, raw in zip(inbox_ids, raws, strict=True):
        try:
            intake_service.create_from_archive(hospital, _canonical, raw, inbox_id)
            taken += 1
        except SourceInputError:
            continue  # quarantined with its reason
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
        try:
            batch = PULLERS[source.source](source.settings, source.watermark)
        except PullFailed as exc:
            source.last_error = str(exc)[:2000]
            source.last_polled_at = utcnow()
            session.commit()
            log.warning("sources.poll_failed", source_id=source_id, error=str(exc))
            return 0
        taken = sum(
            _take_chunk(source.source, hospital, batch.prescriptions[start : start + CHUNK])
            for start in range(0, len(batch.prescriptions), CHUNK)
        )
        for reference, message in batch.errors:
            inbox_id = inbox_service.archive_raw(
                source.source, reference.encode(), {}, hospital_id=hospital.id
            )
            inbox_service.reject(inbox_id, message, hospital_id=hospital.id)
        for prescription_number in batch.withdrawn:
            prescription_intake.cancel_by_hospital(
                session, hospital, prescription_number, "withdrawn at the source"
            )
        source.watermark = batch.watermark
        source.last_polled_at = utcnow()
        source.last_error = None
        session.commit()
        return taken
