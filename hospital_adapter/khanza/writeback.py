"""Write the hand-over time back into Khanza: ``resep_obat.tgl_penyerahan`` / ``jam_penyerahan``.

Khanza keeps "not yet handed over" as ``tgl_penyerahan = '0000-00-00'`` (reference hospital.md §4.1; some
bridges leave it NULL), and the pharmacy's own "penyerahan obat" screen fills both columns. This is the
only write the adapter does, so it needs its **own write-capable DSN**, separate from the read-only
``KhanzaSettings.dsn``, and that user needs no more than::

    GRANT SELECT, UPDATE (tgl_penyerahan, jam_penyerahan) ON sik.resep_obat TO 'gancang_wb'@'...';

The UPDATE is conditional, so it is idempotent and never overwrites a hand-over the pharmacy recorded
itself. Whether other Khanza screens or reports expect more (e.g. a ``detail_pemberian_obat`` row)
is not verified (hospital.md §8.7); the hospital should confirm before enabling the write-back.
Khanza stores local wall-clock time: an aware ``handed_over_at`` is converted to ``tz`` (default WIB,
UTC+7; pass UTC+8 / UTC+9 for WITA / WIT hospitals) and a naive one is taken as already local.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo

import sqlalchemy as sa

WIB = timezone(timedelta(hours=7), "WIB")

_UPDATE_SQL = sa.text(
    """
UPDATE resep_obat
SET tgl_penyerahan = :tgl, jam_penyerahan = :jam
WHERE no_resep = :no_resep
  AND (tgl_penyerahan IS NULL OR CAST(tgl_penyerahan AS CHAR) = '0000-00-00')
"""
)


def record_handover(engine: sa.Engine, no_resep: str, handed_over_at: datetime, *, tz: tzinfo = WIB) -> bool:
    """Record that ``no_resep`` was handed over; True when this call wrote it, False when it was
    already recorded (by us or by the pharmacy) or the prescription does not exist."""
    if handed_over_at.tzinfo is not None:
        handed_over_at = handed_over_at.astimezone(tz).replace(tzinfo=None)
    with engine.begin() as conn:
        result = conn.execute(
            _UPDATE_SQL,
            {
                "tgl": handed_over_at.strftime("%Y-%m-%d"),
                "jam": handed_over_at.strftime("%H:%M:%S"),
                "no_resep": no_resep,
            },
        )
        return bool(result.rowcount)
