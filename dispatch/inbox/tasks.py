"""Beat: settling courier webhooks an interrupted request left without a verdict."""

from __future__ import annotations

from dispatch.core.celery_app import celery_app
from dispatch.core.logging import log
from dispatch.inbox import service


@celery_app.task(name="inbox.sweep_orphans", ignore_result=True, acks_late=False)
def sweep_orphans() -> None:
    """Every minute; a tick lost with a worker is harmless, the next one finds the same messages."""
    outcome = service.settle_orphans()
    if outcome.duplicates or outcome.for_staff:
        log.info("inbox.orphans_settled", duplicates=outcome.duplicates, for_staff=outcome.for_staff)
