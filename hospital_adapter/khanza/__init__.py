"""SIMRS Khanza source: poll prescriptions out of the hospital's Khanza (MySQL/MariaDB) database.

How the poller (a Celery beat task, per hospital) uses it::

    settings = KhanzaSettings.model_validate(stored_settings)        # per-hospital settings row
    engine = settings.create_engine()                                  # cache one per hospital
    watermark = Watermark.model_validate(stored_json) if stored_json else None
    batch = read_changes(engine, watermark, settings)
    for prescription in batch.prescriptions:     # new ones and amendments (same prescription_id)
        ...  # upsert into dispatch by (hospital, prescription_id)
    for no_resep in batch.deleted:               # deleted in Khanza inside the re-read window
        ...  # cancel if not yet dispatched
    for no_resep, message in batch.errors:       # e.g. a header without items; reported once per content
        ...  # log / show to the pharmacy
    store(batch.watermark.model_dump(mode="json"))  # in the same transaction as the upserts

``settings.dsn`` must be a read-only (SELECT) user. Hand-over write-back, with a separate write-capable
engine: ``record_handover(write_engine, no_resep, handed_over_at)``. The watermark design and its limits
are described in ``hospital_adapter.khanza.reader``.
"""

from hospital_adapter.khanza.reader import (
    SOURCE_NAME,
    KhanzaBatch,
    KhanzaSettings,
    Watermark,
    parse_rt_rw,
    read_changes,
)
from hospital_adapter.khanza.writeback import record_handover

__all__ = [
    "SOURCE_NAME",
    "KhanzaBatch",
    "KhanzaSettings",
    "Watermark",
    "parse_rt_rw",
    "read_changes",
    "record_handover",
]
