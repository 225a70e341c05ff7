"""Report charts as server-drawn SVG: no script, no chart library, readable on a pharmacy's old PC.

Bars are horizontal so that kecamatan and courier names fit beside them. The desa map reuses the offline maps
(``dispatch.geocoding.maps``): desa with deliveries are tinted by how many (the rules go in the page's style,
keyed by the polygons' ``data-code``), and a pin at each desa's centre names the count when pointed at.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from xml.sax.saxutils import escape, quoteattr

from dispatch.geocoding import maps
from dispatch.geocoding.gazetteer import DESA_LEVELS, load_gazetteer
from dispatch.reports.service import ReportRow, minutes, percent, rupiah

_WIDTH: Final = 720
_LABEL_WIDTH: Final = 190
_BAR_WIDTH: Final = 260
_ROW_HEIGHT: Final = 22
_TOP: Final = 24
_STYLE: Final = (
    "text{font:12px sans-serif;fill:#222}.t{font-weight:bold}.n{fill:#555}.all{fill:#cfd8dc}.ok{fill:#2e7d32}"
)
# Light to dark: fewer to more deliveries in a desa.
SHADES: Final = ("#e3f2e1", "#b5dcb0", "#7fc275", "#43a047", "#1b5e20")


def bar_chart(svg_id: str, title: str, rows: Sequence[tuple[str, ReportRow]]) -> str:
    """One bar per row: its length the orders, the dark part those delivered; beside it the share delivered,
    the median time, and the cost per delivery."""
    longest = max((row.orders for _, row in rows), default=0) or 1
    height = _TOP + _ROW_HEIGHT * max(len(rows), 1) + 6
    parts = [f'<text class="t" x="0" y="14">{escape(title)}</text>']
    for index, (label, row) in enumerate(rows):
        y = _TOP + index * _ROW_HEIGHT
        total = round(_BAR_WIDTH * row.orders / longest)
        done = round(_BAR_WIDTH * row.delivered / longest)
        note = (
            f"{row.delivered}/{row.orders} · {percent(row.share_delivered)} · {minutes(row.median_minutes)}"
            f" · {rupiah(row.cost_per_delivery_idr)}/antar"
        )
        parts.append(
            f"<g><title>{escape(label)}: {escape(note)}</title>"
            f'<text x="0" y="{y + 15}">{escape(_shorten(label))}</text>'
            f'<rect class="all" x="{_LABEL_WIDTH}" y="{y + 3}" width="{total}" height="{_ROW_HEIGHT - 6}"/>'
            f'<rect class="ok" x="{_LABEL_WIDTH}" y="{y + 3}" width="{done}" height="{_ROW_HEIGHT - 6}"/>'
            f'<text class="n" x="{_LABEL_WIDTH + _BAR_WIDTH + 8}" y="{y + 15}">{escape(note)}</text></g>'
        )
    if not rows:
        parts.append(f'<text class="n" x="0" y="{_TOP + 15}">Tidak ada data / No data</text>')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" id={quoteattr(svg_id)} viewBox="0 0 {_WIDTH} {height}"'
        f' width="100%" role="img" aria-label={quoteattr(title)}><style>{_STYLE}</style>{"".join(parts)}</svg>'
    )


@dataclass(frozen=True, slots=True)
class DesaMap:
    svg: str
    css: str
    legend: list[tuple[str, str]]  # (shade, "1–3")
    elsewhere: int  # delivered orders placed no finer than a kecamatan, or outside the map


def desa_map(
    area_code: str, delivered: Sequence[tuple[str | None, int]], svg_id: str = "desa-map"
) -> DesaMap:
    """Delivered orders per desa over the hospital's service area. Raises LookupError when no polygons are
    shipped for the area."""
    gazetteer = load_gazetteer()
    prefix = f"{area_code}."
    counts: dict[str, int] = {}
    elsewhere = 0
    for code, count in delivered:
        unit = gazetteer.get(code) if code else None
        if unit is not None and unit.level in DESA_LEVELS and unit.code.startswith(prefix):
            counts[unit.code] = count
        else:
            elsewhere += count
    shades = _shades(counts)
    pins = [
        maps.Pin(unit.lat, unit.lon, f"{unit.name}: {counts[code]} terantar / delivered")
        for code in counts
        if (unit := gazetteer.get(code)) is not None and unit.lat is not None and unit.lon is not None
    ]
    svg = maps.area_map(area_code, pins, svg_id=svg_id)
    css = "".join(
        f'#{svg_id} path.d[data-code="{code}"]{{fill:{shade}}}' for code, shade in shades.codes.items()
    )
    return DesaMap(svg, css, shades.legend, elsewhere)


@dataclass(frozen=True, slots=True)
class _Shading:
    codes: Mapping[str, str]
    legend: list[tuple[str, str]]


def _shades(counts: Mapping[str, int]) -> _Shading:
    """Equal-width classes from 1 to the busiest desa, one shade each, the busiest always the darkest; no
    wider than needed (three desa with 1 or 2 deliveries get two classes)."""
    most = max(counts.values(), default=0)
    if most == 0:
        return _Shading({}, [])
    palette = SHADES[-min(len(SHADES), most) :]
    bounds = [round(most * (index + 1) / len(palette)) for index in range(len(palette))]
    legend = []
    low = 1
    for shade, high in zip(palette, bounds, strict=True):
        legend.append((shade, f"{low}" if low == high else f"{low}–{high}"))
        low = high + 1
    codes = {
        code: palette[next(index for index, high in enumerate(bounds) if count <= high)]
        for code, count in counts.items()
    }
    return _Shading(codes, legend)


def _shorten(label: str, limit: int = 26) -> str:
    return label if len(label) <= limit else f"{label[: limit - 1]}…"
