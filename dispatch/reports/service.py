"""Delivery reports shaped for people and spreadsheets: ranges, rows with their ratios, totals, CSV, Rupiah.

Pure: the figures come from ``repository``; nothing here reads the database, so every ratio and label is
tested on plain values.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

from dispatch.core.clock import WIB
from dispatch.reports.repository import DIMENSIONS, Dimension, GroupFigures

MAX_MONTHS: Final = 24
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_YEARS: Final = (2000, 2100)

DIMENSION_LABELS: Final[Mapping[Dimension, str]] = {
    "month": "Bulan / Month",
    "hospital": "Rumah sakit / Hospital",
    "payer": "Penjamin / Payer",
    "kecamatan": "Kecamatan",
    "courier": "Kurir / Courier",
}
PAYER_LABELS: Final[Mapping[str, str]] = {"pbi": "PBI", "non_pbi": "Non-PBI"}
_MISSING: Final[Mapping[Dimension, str]] = {
    "kecamatan": "(tidak diketahui / unknown)",
    "courier": "(belum dipesan / never booked)",
}
# Named as the JSON fields are; the dimension columns come first, those of the requested dimensions only.
FIGURE_COLUMNS: Final = (
    "orders",
    "delivered",
    "share_delivered",
    "median_minutes_to_delivery",
    "cost_idr",
    "cost_per_delivery_idr",
)
_NAMED: Final[frozenset[Dimension]] = frozenset({"hospital", "kecamatan"})


class ReportRefused(ValueError):
    """A report request that cannot be answered; the message (Bahasa Indonesia / English) says why."""


@dataclass(frozen=True, slots=True)
class MonthRange:
    """Whole WIB calendar months, ``first`` to ``last`` inclusive."""

    first: date
    last: date

    @property
    def months(self) -> int:
        return (self.last.year - self.first.year) * 12 + self.last.month - self.first.month + 1

    @property
    def start(self) -> datetime:
        return datetime(self.first.year, self.first.month, 1, tzinfo=WIB).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the range: midnight WIB starting the month after ``last``."""
        year, month = divmod(self.last.year * 12 + self.last.month, 12)
        return datetime(year, month + 1, 1, tzinfo=WIB).astimezone(UTC)


def month_range(first: str, last: str) -> MonthRange:
    """Read ``YYYY-MM`` bounds; refuse nonsense, a reversed range, and more than ``MAX_MONTHS`` months."""
    bounds = [_month(text) for text in (first, last)]
    result = MonthRange(*bounds)
    if result.months < 1:
        raise ReportRefused(f"Bulan awal setelah bulan akhir / 'from' ({first}) is after 'to' ({last})")
    if result.months > MAX_MONTHS:
        raise ReportRefused(
            f"Rentang paling panjang {MAX_MONTHS} bulan, diminta {result.months} / "
            f"the range may span at most {MAX_MONTHS} months; {result.months} were asked for"
        )
    return result


def month_text(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def months_back(today: date, months: int) -> MonthRange:
    """The ``months`` calendar months ending with today's: the console's default view."""
    index = today.year * 12 + today.month - 1 - (months - 1)
    return MonthRange(date(index // 12, index % 12 + 1, 1), date(today.year, today.month, 1))


def parse_group_by(text: str) -> tuple[Dimension, ...]:
    """A comma-separated list of dimensions, each once, kept in the canonical order."""
    asked = {part.strip() for part in text.split(",") if part.strip()}
    unknown = sorted(asked.difference(DIMENSIONS))
    if unknown:
        raise ReportRefused(
            f"Dimensi tidak dikenal / unknown dimension: {', '.join(unknown)} "
            f"(pilih / choose from {', '.join(DIMENSIONS)})"
        )
    return tuple(name for name in DIMENSIONS if name in asked)


def _month(text: str) -> date:
    match = _MONTH.fullmatch(text.strip())
    if match is None or not (_YEARS[0] <= int(match[1]) <= _YEARS[1] and 1 <= int(match[2]) <= 12):
        raise ReportRefused(
            f"Bulan ditulis YYYY-MM (tahun {_YEARS[0]}-{_YEARS[1]}) / "
            f"a month is written YYYY-MM (years {_YEARS[0]}-{_YEARS[1]}): {text!r}"
        )
    return date(int(match[1]), int(match[2]), 1)


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One group. ``keys`` are the machine values (month "2026-03", payer "pbi", kecamatan code, courier);
    ``labels`` what a person reads for them; ``names`` the hospital or kecamatan name beside its code."""

    keys: Mapping[Dimension, str]
    labels: Mapping[Dimension, str]
    names: Mapping[Dimension, str | None]
    orders: int
    delivered: int
    median_minutes: float | None
    cost_idr: int

    @property
    def share_delivered(self) -> float | None:
        return None if self.orders == 0 else self.delivered / self.orders

    @property
    def cost_per_delivery_idr(self) -> int | None:
        """Everything spent on the group's orders, failures included, over the deliveries it bought."""
        return None if self.delivered == 0 else round(self.cost_idr / self.delivered)

    def figures(self) -> dict[str, Any]:
        return {
            "orders": self.orders,
            "delivered": self.delivered,
            "share_delivered": None if self.share_delivered is None else round(self.share_delivered, 4),
            "median_minutes_to_delivery": None
            if self.median_minutes is None
            else round(self.median_minutes, 1),
            "cost_idr": self.cost_idr,
            "cost_per_delivery_idr": self.cost_per_delivery_idr,
        }


@dataclass(frozen=True, slots=True)
class Report:
    range: MonthRange
    group_by: tuple[Dimension, ...]
    rows: list[ReportRow]
    total: ReportRow


def report_row(group_by: Sequence[Dimension], figures: GroupFigures) -> ReportRow:
    keys = dict(zip(group_by, figures.keys, strict=True))
    names = {name: value for name, value in zip(group_by, figures.names, strict=True) if name in _NAMED}
    return ReportRow(
        keys=keys,
        labels={name: _label(name, value, names.get(name)) for name, value in keys.items()},
        names=names,
        orders=figures.orders,
        delivered=figures.delivered,
        median_minutes=figures.median_minutes,
        cost_idr=figures.cost_idr,
    )


def build_report(
    months: MonthRange, group_by: Sequence[Dimension], groups: Sequence[GroupFigures], total: GroupFigures
) -> Report:
    """``total`` is the ungrouped figure from the database: its median is of all orders, not of medians."""
    return Report(
        months, tuple(group_by), [report_row(group_by, group) for group in groups], report_row((), total)
    )


def csv_columns(group_by: Sequence[Dimension]) -> list[str]:
    columns: list[str] = []
    for name in group_by:
        columns.append(name)
        if name in _NAMED:
            columns.append(f"{name}_name")
    return [*columns, *FIGURE_COLUMNS]


def row_fields(row: ReportRow) -> dict[str, Any]:
    """One row as the JSON and the CSV both give it: dimension values, names, then the figures."""
    fields: dict[str, Any] = {}
    for name, value in row.keys.items():
        fields[name] = value or None
        if name in _NAMED:
            fields[f"{name}_name"] = row.names.get(name)
    return fields | row.figures()


def csv_text(report: Report) -> str:
    """Plain numbers (no Rupiah signs or thousands separators) so that a spreadsheet reads them as numbers;
    an empty cell where a figure has no value (no deliveries, no median)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=csv_columns(report.group_by), lineterminator="\n")
    writer.writeheader()
    for row in report.rows:
        writer.writerow(row_fields(row))
    return buffer.getvalue()


def rupiah(amount: int | None) -> str:
    """Rupiah as Indonesians write it: "Rp 1.250.000" (a dot between thousands, no decimals)."""
    if amount is None:
        return "-"
    return f"Rp {amount:,}".replace(",", ".")


def percent(share: float | None) -> str:
    """A share as a percentage with a decimal comma, as Indonesians write it: 75,5 %."""
    return "-" if share is None else f"{share * 100:.1f} %".replace(".", ",")


def minutes(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} mnt".replace(".", ",")


def _label(name: Dimension, key: str, readable: str | None) -> str:
    if not key:
        return _MISSING.get(name, "-")
    if name == "payer":
        return PAYER_LABELS[key]
    return readable or key
