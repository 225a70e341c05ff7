"""The report's figures from the database, exact, on PostgreSQL and SQLite alike (see ``reports_seed``)."""

from __future__ import annotations

from datetime import date

from reports_seed import Seeded

from dispatch.reports import repository
from dispatch.reports.repository import Dimension, GroupFigures
from dispatch.reports.service import MonthRange

JAN_FEB = MonthRange(date(2026, 1, 1), date(2026, 2, 1))


def figures(seeded: Seeded, *group_by: Dimension, hospital_id: int | None = None) -> list[GroupFigures]:
    return repository.delivery_figures(
        seeded.session,
        hospital_id=seeded.hospital_id if hospital_id is None else hospital_id,
        start=JAN_FEB.start,
        end=JAN_FEB.end,
        group_by=group_by,
    )


def test_month_by_payer(seeded: Seeded) -> None:
    """Months are WIB months (order 6, released 31 January 18:00 UTC, is February's); PBI includes a PBI
    membership the policy did not accept (order 5)."""
    assert figures(seeded, "month", "payer") == [
        GroupFigures(("2026-01", "non_pbi"), (None, None), 2, 1, 50_000, 40.0),
        GroupFigures(("2026-01", "pbi"), (None, None), 3, 2, 44_000, 40.0),
        GroupFigures(("2026-02", "non_pbi"), (None, None), 1, 1, 18_000, 25.0),
        GroupFigures(("2026-02", "pbi"), (None, None), 1, 1, 22_000, 90.0),
    ]


def test_total_has_the_median_of_all_deliveries(seeded: Seeded) -> None:
    assert figures(seeded) == [GroupFigures((), (), 7, 5, 134_000, 40.0)]


def test_courier_is_the_last_in_charge_and_carries_every_price_of_its_orders(seeded: Seeded) -> None:
    """Order 3's cancelled Lalamove attempt (Rp 5,000) is part of what order 3 cost, under GrabExpress."""
    assert figures(seeded, "courier") == [
        GroupFigures(("",), (None,), 1, 0, 0, None),
        GroupFigures(("gosend",), (None,), 4, 4, 84_000, 40.0),
        GroupFigures(("grabexpress",), (None,), 2, 1, 50_000, 40.0),
    ]


def test_kecamatan_with_names(seeded: Seeded) -> None:
    assert figures(seeded, "kecamatan") == [
        GroupFigures(("",), (None,), 1, 1, 18_000, 25.0),
        GroupFigures(("35.10.01",), ("Pesanggaran",), 3, 2, 44_000, 40.0),
        GroupFigures(("35.10.02",), ("Bangorejo",), 3, 2, 72_000, 65.0),
    ]


def test_every_dimension_at_once(seeded: Seeded) -> None:
    rows = figures(seeded, "month", "hospital", "payer", "kecamatan", "courier")
    assert [(row.keys, row.orders, row.delivered, row.cost_idr, row.median_minutes) for row in rows] == [
        (("2026-01", "RSUDBLB", "non_pbi", "35.10.02", "grabexpress"), 2, 1, 50_000, 40.0),
        (("2026-01", "RSUDBLB", "pbi", "35.10.01", ""), 1, 0, 0, None),
        (("2026-01", "RSUDBLB", "pbi", "35.10.01", "gosend"), 2, 2, 44_000, 40.0),
        (("2026-02", "RSUDBLB", "non_pbi", "", "gosend"), 1, 1, 18_000, 25.0),
        (("2026-02", "RSUDBLB", "pbi", "35.10.02", "gosend"), 1, 1, 22_000, 90.0),
    ]
    assert {row.names[1] for row in rows} == {"RSUD Blambangan"}


def test_another_hospital_sees_only_its_own(seeded: Seeded) -> None:
    assert figures(seeded, "hospital", "courier", hospital_id=seeded.other_hospital_id) == [
        GroupFigures(("RSUDGTG", "gosend"), ("RSUD Genteng", None), 1, 1, 99_000, 10.0)
    ]


def test_an_empty_range_gives_a_total_of_zeros(seeded: Seeded) -> None:
    empty = MonthRange(date(2025, 1, 1), date(2025, 12, 1))
    kwargs = {"hospital_id": seeded.hospital_id, "start": empty.start, "end": empty.end}
    assert repository.delivery_figures(seeded.session, group_by=("month",), **kwargs) == []
    assert repository.delivery_figures(seeded.session, group_by=(), **kwargs) == [
        GroupFigures((), (), 0, 0, 0, None)
    ]


def test_delivered_per_place(seeded: Seeded) -> None:
    """March's delivery (01 March 00:00 WIB, still February in UTC) is outside January-February."""
    delivered = repository.delivered_per_place(
        seeded.session, hospital_id=seeded.hospital_id, start=JAN_FEB.start, end=JAN_FEB.end
    )
    assert delivered == [("35.10.01.2001", 2), ("35.10.02", 1), ("35.10.02.2001", 2)]
