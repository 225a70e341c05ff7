"""Taking what a pull source read into orders, and settling every inbox row the read archived.

A poll and a re-read (re-processing a quarantined message from the source's current data) take what they
read alike; they differ only in where what could not be taken goes: a poll puts the rows it read in
quarantine, a re-read keeps it on the message staff asked to re-process, so one problem is one entry there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import select

from dispatch.core.db import new_session
from dispatch.core.logging import log
from dispatch.hospitals.models import Hospital, HospitalSource
from dispatch.inbox import service as inbox_service
from dispatch.inbox.models import InboxMessage, InboxStatus
from dispatch.orders import prescriptions as prescription_intake
from dispatch.sources.pullers import REREADERS, CannotReread, PullBatch, PullFailed
from hospital_adapter.canonical import PrescriptionIn

# Prescriptions taken per transaction: one commit for many, since a poll can bring thousands at once.
CHUNK = 500
# What fails one transaction of intake: a value the orders refuse, the database refusing the rows.
INGEST_ERRORS = (ValueError, SQLAlchemyError)

Taken = tuple[PrescriptionIn, int]
# (prescription number, order id, whether the order is new)
Order = tuple[str, int, bool]


@dataclass
class Archiver:
    """The ``archive`` a puller is given: bodies into the inbox, one commit per call; it keeps their ids."""

    source: str
    hospital_id: int | None
    ids: list[int] = field(default_factory=list)

    def __call__(self, bodies: list[bytes]) -> list[int]:
        inbox_ids = (
            inbox_service.archive_many(self.source, bodies, hospital_id=self.hospital_id) if bodies else []
        )
        self.ids.extend(inbox_ids)
        return inbox_ids


@dataclass
class Took:
    """What a read brought in: its orders, and the reasons of what could not be taken, by inbox row."""

    orders: list[Order]
    refused: dict[int, list[str]]


def take(hospital: Hospital, batch: PullBatch, archived: list[int]) -> Took:
    """Take the batch's prescriptions; rows with orders are processed with them, rows nothing was read from
    (fetched resources, pages of includes only) processed too. Refused rows are left for the caller to settle,
    after this, so a row part of which was taken still ends up where the caller puts refusals."""
    refused: dict[int, list[str]] = {}
    for inbox_id, reason in batch.errors:
        refused.setdefault(inbox_id, []).append(reason)
    orders = [
        order
        for start in range(0, len(batch.prescriptions), CHUNK)
        for order in _take_chunk(hospital, batch.prescriptions[start : start + CHUNK], refused)
    ]
    with_orders = {inbox_id for _, inbox_id in batch.prescriptions}
    inbox_service.settle_many(
        [inbox_id for inbox_id in archived if inbox_id not in with_orders and inbox_id not in refused],
        InboxStatus.PROCESSED,
    )
    return Took(orders, refused)


def reread(hospital: Hospital, message: InboxMessage) -> Took:
    """Read again from the hospital's source what a quarantined message named, archive that, take it.

    The message is processed when everything was taken; otherwise it stays rejected, with the reasons of
    this read. The rows this read archived put nothing in quarantine themselves: they are ignored, naming the
    message. Raises CannotReread, or PullFailed when the source could not be read (the message then keeps
    that failure as its reason).
    """
    assert message.id is not None and hospital.id is not None
    with new_session() as session:
        query = select(HospitalSource).where(HospitalSource.hospital_id == hospital.id)
        source = session.exec(query.where(HospitalSource.source == message.source)).first()
    if source is None or not source.enabled:
        raise CannotReread(
            f"the hospital has no enabled {message.source} source to read the message again from"
        )
    archived = Archiver(message.source, hospital.id)
    read_for = f"Read again to re-process message {message.id}"
    try:
        batch = REREADERS[message.source](source.settings, message.body, archived)
    except PullFailed as exc:
        inbox_service.settle_many(archived.ids, InboxStatus.IGNORED, f"{read_for}, which failed: {exc}")
        inbox_service.reject(message.id, f"Re-process failed: {exc}", hospital_id=hospital.id)
        raise
    took = take(hospital, batch, archived.ids)
    inbox_service.settle_many(
        list(took.refused), InboxStatus.IGNORED, f"{read_for}; what could not be taken is on that message"
    )
    if took.refused:
        reasons = [reason for row_reasons in took.refused.values() for reason in row_reasons]
        inbox_service.reject(message.id, "; ".join(reasons), hospital_id=hospital.id)
    else:
        inbox_service.settle_many([message.id], InboxStatus.PROCESSED)
    return took


def _take_chunk(hospital: Hospital, chunk: list[Taken], refused: dict[int, list[str]]) -> list[Order]:
    """Take the chunk in one transaction; if anything in it fails, take it one by one, so a single bad
    prescription is refused with its reason (on its inbox row) and the rest still go through."""
    try:
        return _ingest(hospital, chunk)
    except INGEST_ERRORS:
        log.warning("sources.chunk_retried_one_by_one", size=len(chunk))
    orders: list[Order] = []
    for prescription, inbox_id in chunk:
        try:
            orders.extend(_ingest(hospital, [(prescription, inbox_id)]))
        except INGEST_ERRORS as exc:
            # The first line only: SQLAlchemy goes on with the statement and its parameters, a patient's data.
            reason = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"
            refused.setdefault(inbox_id, []).append(f"Prescription {prescription.prescription_id}: {reason}")
    return orders


def _ingest(hospital: Hospital, batch: list[Taken]) -> list[Order]:
    """One transaction: the orders, and their inbox rows marked processed."""
    with new_session() as session:
        outcomes = prescription_intake.ingest_batch(session, hospital, batch)
        inbox_service.mark_processed(session, sorted({inbox_id for _, inbox_id in batch}))
        session.commit()
    return [
        (prescription.prescription_id, order_id, created)
        for (prescription, _), (order_id, created) in zip(batch, outcomes, strict=True)
    ]
