"""Report shaping on plain values: month ranges in WIB, dimensions, ratios, Rupiah, the map's shades."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from dispatch.reports import charts, service
from dispatch.reports.repository import GroupFigures
from dispatch.reports.service import MonthRange, ReportRefused


def test_a_month_range_runs_from_midnight_wib() -> None:
    months = service.month_range("2025-12", "2026-02")
    assert months.months == 3
    assert months.start == datetime(2025, 11, 30, 17, 0, tzinfo=UTC)
    assert months.end == datetime(2026, 2, 28, 17, 0, tzinfo=UTC)


def test_the_default_range_crosses_the_year() -> None:
    assert service.months_back(date(2026, 3, 15), 12) == MonthRange(date(2025, 4, 1), date(2026, 3, 1))


def test_24_months_at_most() -> None:
    assert service.month_range("2024-02", "2026-01").months == 24
    with pytest.raises(ReportRefused, match="at most 24 months; 25 were asked for"):
        service.month_range("2024-01", "2026-01")


def test_dimensions_in_canonical_order_each_once() -> None:
    assert service.parse_group_by("courier, month,courier") == ("month", "courier")
    assert service.parse_group_by("") == ()


def test_ratios_of_a_group_without_deliveries() -> None:
    row = service.report_row(("courier",), GroupFigures(("",), (None,), 3, 0, 12_000, None))
    assert (row.share_delivered, row.cost_per_delivery_idr, row.labels) == (
        0.0,
        None,
        {"courier": "(belum dipesan / never booked)"},
    )


def test_rupiah_percent_minutes() -> None:
    assert service.rupiah(1_250_000) == "Rp 1.250.000"
    assert service.rupiah(None) == "-"
    assert service.percent(2 / 3) == "66,7 %"
    assert service.minutes(40.25) == "40,2 mnt"


def test_the_busiest_desa_is_darkest_and_classes_are_no_wider_than_needed() -> None:
    delivered = [
        ("35.10.01.2001", 1),
        ("35.10.01.2002", 10),
        ("35.10.02.2001", 6),
        ("35.10.02", 4),
        (None, 1),
    ]
    drawn = charts.desa_map("35.10", delivered)
    assert drawn.legend == [
        ("#e3f2e1", "1–2"),
        ("#b5dcb0", "3–4"),
        ("#7fc275", "5–6"),
        ("#43a047", "7–8"),
        ("#1b5e20", "9–10"),
    ]
    assert drawn.css == (
        '#desa-map path.d[data-code="35.10.01.2001"]{fill:#e3f2e1}'
        '#desa-map path.d[data-code="35.10.01.2002"]{fill:#1b5e20}'
        '#desa-map path.d[data-code="35.10.02.2001"]{fill:#7fc275}'
    )
    assert drawn.elsewhere == 5
    assert charts.desa_map("35.10", [("35.10.01.2001", 2)]).legend == [("#43a047", "1"), ("#1b5e20", "2")]
