"""Maps without internet tiles: desa polygons from the shipped GeoJSON drawn as SVG, with pins on top.

Dispatchers in a district pharmacy cannot count on a tile server, so the map is drawn from the same polygons
reverse geocoding reads. When the hospital does run one (``GANCANG_MAP_TILE_URL``), its tiles are laid under the
polygons as SVG images: still one SVG, no map library. Coordinates are projected onto a pixel canvas,
rounded to whole pixels and thinned (Douglas-Peucker) so that a kecamatan map stays a few kilobytes; a pixel is
a few tens of metres there, far finer than the desa-level precision the polygons have anyway.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal
from xml.sax.saxutils import escape, quoteattr

from dispatch.core.settings import settings
from dispatch.geocoding.boundaries import Shape, load_boundaries
from dispatch.geocoding.gazetteer import DESA_LEVELS, KECAMATAN_LEVELS, Unit, load_gazetteer

PinKind = Literal["order", "hospital", "draft"]

DEFAULT_WIDTH: Final = 640
_PADDING: Final = 10
# Thinning tolerance in pixels: below a pixel nobody sees the difference.
_TOLERANCE: Final = 0.8
_PIN_RADIUS: Final = {"order": 6, "hospital": 7, "draft": 8}
_STYLE: Final = (
    ".d{fill:#eef3e8;stroke:#8a9a7b;stroke-width:.6}.d.h{fill:#ffe9a8}"
    ".k{fill:none;stroke:#4b5a3d;stroke-width:1.4}"
    "text{font:10px sans-serif;fill:#445;text-anchor:middle;pointer-events:none}"
    ".p{stroke:#fff;stroke-width:1.5}.order{fill:#c62828}.hospital{fill:#1565c0}.draft{fill:#ef6c00}"
)
# Over a tile layer the desa are outlines with a light tint, so roads and buildings show through.
_OVER_TILES: Final = ".d{fill-opacity:.25}.d.h{fill-opacity:.5}"


@dataclass(frozen=True, slots=True)
class Pin:
    lat: float
    lon: float
    label: str
    kind: PinKind = "order"
    href: str | None = None


@dataclass(frozen=True, slots=True)
class Frame:
    """An equirectangular projection of a bounding box onto a ``width`` x ``height`` pixel canvas.

    At 8° south a degree of longitude is 0.99 of a degree of latitude, so one cosine at the box's middle keeps
    shapes true over a kabupaten.
    """

    min_lon: float
    max_lat: float
    scale_x: float
    scale_y: float
    width: int
    height: int

    @classmethod
    def around(cls, min_lon: float, min_lat: float, max_lon: float, max_lat: float, width: int) -> Frame:
        scale_x = (width - 2 * _PADDING) / max(max_lon - min_lon, 1e-6)
        scale_y = scale_x / math.cos(math.radians((min_lat + max_lat) / 2))
        height = math.ceil((max_lat - min_lat) * scale_y) + 2 * _PADDING
        return cls(
            min_lon - _PADDING / scale_x, max_lat + _PADDING / scale_y, scale_x, scale_y, width, height
        )

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        return (lon - self.min_lon) * self.scale_x, (self.max_lat - lat) * self.scale_y

    def latlon(self, x: float, y: float) -> tuple[float, float]:
        return self.max_lat - y / self.scale_y, self.min_lon + x / self.scale_x

    def shows(self, lat: float, lon: float) -> bool:
        x, y = self.xy(lat, lon)
        return 0 <= x <= self.width and 0 <= y <= self.height

    @property
    def data(self) -> str:
        """What the console's script needs to turn a click into a position: min_lon max_lat scale_x scale_y."""
        return f"{self.min_lon:.6f} {self.max_lat:.6f} {self.scale_x:.3f} {self.scale_y:.3f}"


@dataclass(frozen=True, slots=True)
class _Layer:
    frame: Frame
    body: str


def area_map(
    area_code: str,
    pins: Iterable[Pin] = (),
    *,
    highlight: str | None = None,
    width: int = DEFAULT_WIDTH,
    svg_id: str = "map",
) -> str:
    """An SVG of the desa inside ``area_code`` (a kecamatan or a kabupaten) with ``pins`` on top.

    A kecamatan map names its desa; a kabupaten map outlines and names its kecamatan instead, since 200 desa
    names would cover the map. ``highlight`` tints one desa (the one an order was geocoded to). Pins outside
    the drawn area are left off. Raises LookupError when no polygons are shipped for the area.
    """
    layer = _area_layer(area_code, width)
    frame = layer.frame
    body = layer.body
    if highlight is not None:
        body = body.replace(
            f'<path class="d" data-code="{highlight}"', f'<path class="d h" data-code="{highlight}"'
        )
    pin_marks = "".join(_pin(frame, pin) for pin in pins if frame.shows(pin.lat, pin.lon))
    tiles, style = "", _STYLE
    if settings.map_tile_url:
        tiles, style = _tiles(frame, settings.map_tile_url), _STYLE + _OVER_TILES
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{escape(svg_id)}" viewBox="0 0 {frame.width} {frame.height}"'
        f' width="100%" data-frame="{frame.data}" role="img"><style>{style}</style>'
        f'{tiles}{body}<g id="{escape(svg_id)}-pins">{pin_marks}</g></svg>'
    )


def _tiles(frame: Frame, url_template: str) -> str:
    """The XYZ (Web Mercator) tiles covering the frame, each placed by its corners.

    The frame is equirectangular and a tile Mercator; across one tile (a few kilometres at the zoom chosen)
    the two differ by well under a pixel at these latitudes, so each tile is simply stretched onto its box.
    The zoom gives tiles about as many pixels per degree as the frame has.
    """
    zoom = max(0, min(18, round(math.log2(frame.scale_x * 360 / 256))))
    north, west = frame.latlon(0, 0)
    south, east = frame.latlon(frame.width, frame.height)
    x_first, x_last = _tile_x(west, zoom), _tile_x(east, zoom)
    y_first, y_last = _tile_y(north, zoom), _tile_y(south, zoom)
    images = []
    for tile_y in range(y_first, y_last + 1):
        for tile_x in range(x_first, x_last + 1):
            left, top = frame.xy(_tile_lat(tile_y, zoom), _tile_lon(tile_x, zoom))
            right, bottom = frame.xy(_tile_lat(tile_y + 1, zoom), _tile_lon(tile_x + 1, zoom))
            href = url_template.format(z=zoom, x=tile_x, y=tile_y)
            images.append(
                f'<image href={quoteattr(href)} x="{left:.1f}" y="{top:.1f}" width="{right - left:.1f}"'
                f' height="{bottom - top:.1f}" preserveAspectRatio="none"/>'
            )
    return "".join(images)


def _tile_x(lon: float, zoom: int) -> int:
    return int((lon + 180) / 360 * 2**zoom)


def _tile_y(lat: float, zoom: int) -> int:
    radians = math.radians(lat)
    return int((1 - math.asinh(math.tan(radians)) / math.pi) / 2 * 2**zoom)


def _tile_lon(tile_x: int, zoom: int) -> float:
    return tile_x / 2**zoom * 360 - 180


def _tile_lat(tile_y: int, zoom: int) -> float:
    return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * tile_y / 2**zoom))))


@functools.lru_cache(maxsize=128)
def desa_choices(area_code: str) -> list[tuple[Unit, list[Unit]]]:
    """The desa and kelurahan inside ``area_code``, grouped by kecamatan in code order: the lists a patient or a
    dispatcher picks from when no pin can be placed. Kept per process: finding them scans the whole
    gazetteer (about 26 ms), and the tracking page asks on every visit. Callers must not change the lists."""
    prefix = f"{area_code}."
    units = sorted(
        (unit for unit in load_gazetteer() if unit.code.startswith(prefix) and unit.level in DESA_LEVELS),
        key=lambda unit: unit.code,
    )
    gazetteer = load_gazetteer()
    groups: dict[str, list[Unit]] = {}
    for unit in units:
        groups.setdefault(unit.parent_code or "", []).append(unit)
    return [(kecamatan, members) for code, members in groups.items() if (kecamatan := gazetteer.get(code))]


class UnreadablePoint(ValueError):
    """A posted position that names no place: the message is shown to whoever typed it."""


def point_from_form(lat: str, lon: str, desa: str, service_area: str) -> tuple[float, float]:
    """The position a console or tracking form names: a desa's centroid when one was chosen, else the
    coordinates clicked, typed or shared by the phone (a decimal comma accepted, as Indonesian keyboards type)."""
    if desa:
        # A form is only trusted to pick from the list it showed: desa of the service area.
        unit = load_gazetteer().get(desa)
        if (
            unit is None
            or unit.level not in DESA_LEVELS
            or not unit.code.startswith(f"{service_area}.")
            or unit.lat is None
            or unit.lon is None
        ):
            raise UnreadablePoint("Desa tidak dikenal / unknown desa")
        return unit.lat, unit.lon
    try:
        point = float(lat.strip().replace(",", ".")), float(lon.strip().replace(",", "."))
    except ValueError:
        raise UnreadablePoint("Koordinat tidak terbaca / the coordinates cannot be read") from None
    if not (-90 <= point[0] <= 90 and -180 <= point[1] <= 180):
        raise UnreadablePoint("Koordinat tidak terbaca / the coordinates cannot be read")
    return point


def area_for(codes: Iterable[str | None], service_area: str) -> str:
    """The first of ``codes`` that is a kecamatan with polygons inside the service area, else the area itself.

    An order's kecamatan comes from geocoding or from the hospital's record and may be missing, undotted, or in
    the next kabupaten; the lists offered must stay where deliveries go.
    """
    gazetteer = load_gazetteer()
    for code in codes:
        unit = gazetteer.get(code) if code else None
        if (
            unit is not None
            and unit.level in KECAMATAN_LEVELS
            and unit.code.startswith(f"{service_area}.")
            and has_map(unit.code)
        ):
            return unit.code
    return service_area


def has_map(area_code: str) -> bool:
    return any(True for _ in _desa_shapes(area_code))


def _desa_shapes(area_code: str) -> Iterable[Shape]:
    prefix = f"{area_code}."
    return (s for s in load_boundaries().shapes if s.level in DESA_LEVELS and s.code.startswith(prefix))


@functools.lru_cache(maxsize=64)
def _area_layer(area_code: str, width: int) -> _Layer:
    """The polygons and names of an area, drawn once per process: they never change, the pins do."""
    desa = list(_desa_shapes(area_code))
    if not desa:
        raise LookupError(f"no polygons shipped for {area_code}")
    frame = Frame.around(
        min(s.min_lon for s in desa),
        min(s.min_lat for s in desa),
        max(s.max_lon for s in desa),
        max(s.max_lat for s in desa),
        width,
    )
    gazetteer = load_gazetteer()
    parts = [
        f'<path class="d" data-code="{s.code}" d="{_path(frame, s.rings)}"><title>{_name(gazetteer.get(s.code))}'
        "</title></path>"
        for s in desa
    ]
    named: Sequence[Unit | None]
    if len(area_code.split(".")) >= 3:
        named = [gazetteer.get(s.code) for s in desa]
    else:
        kecamatan = [
            s
            for s in load_boundaries().shapes
            if s.level in KECAMATAN_LEVELS and s.code.startswith(f"{area_code}.")
        ]
        parts.extend(f'<path class="k" d="{_path(frame, s.rings)}"/>' for s in kecamatan)
        named = [gazetteer.get(s.code) for s in kecamatan]
    for unit in named:
        if unit is not None and unit.lat is not None and unit.lon is not None:
            x, y = frame.xy(unit.lat, unit.lon)
            parts.append(f'<text x="{x:.0f}" y="{y:.0f}">{_name(unit)}</text>')
    return _Layer(frame, "".join(parts))


def _name(unit: Unit | None) -> str:
    return "" if unit is None else escape(unit.name)


def _pin(frame: Frame, pin: Pin) -> str:
    x, y = frame.xy(pin.lat, pin.lon)
    mark = (
        f'<circle class="p {pin.kind}" cx="{x:.1f}" cy="{y:.1f}" r="{_PIN_RADIUS[pin.kind]}">'
        f"<title>{escape(pin.label)}</title></circle>"
    )
    return mark if pin.href is None else f"<a href={quoteattr(pin.href)}>{mark}</a>"


def _path(frame: Frame, rings: Iterable[Sequence[tuple[float, float]]]) -> str:
    """Rings as one path in whole pixels, relative moves after the first point (shorter numbers)."""
    out: list[str] = []
    for ring in rings:
        points = _thin([_rounded(frame.xy(lat, lon)) for lon, lat in ring])
        if len(points) < 3:
            continue
        (x0, y0), rest = points[0], points[1:]
        steps = [f"M{x0} {y0}l"]
        px, py = x0, y0
        numbers: list[int] = []
        for x, y in rest:
            numbers.extend((x - px, y - py))
            px, py = x, y
        steps.append(_join(numbers))
        steps.append("z")
        out.append("".join(steps))
    return "".join(out)


def _rounded(point: tuple[float, float]) -> tuple[int, int]:
    return round(point[0]), round(point[1])


def _join(numbers: Sequence[int]) -> str:
    """SVG path numbers need no space before a minus sign."""
    text = []
    for index, number in enumerate(numbers):
        if index and number >= 0:
            text.append(" ")
        text.append(str(number))
    return "".join(text)


def _thin(points: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Douglas-Peucker on a closed ring, after dropping repeated pixels; the ring's first point is kept."""
    deduped = [p for i, p in enumerate(points) if i == 0 or p != points[i - 1]]
    if len(deduped) > 1 and deduped[-1] == deduped[0]:
        deduped.pop()
    if len(deduped) < 4:
        return deduped
    # A closed ring has no natural ends: split it at the point farthest from the first.
    far = max(range(len(deduped)), key=lambda i: _distance2(deduped[0], deduped[i]))
    first = _simplify(deduped[: far + 1])
    second = _simplify([*deduped[far:], deduped[0]])
    return first[:-1] + second[:-1]


def _simplify(points: list[tuple[int, int]]) -> list[tuple[int, int]]:
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        start, end = stack.pop()
        best, best_distance = -1, _TOLERANCE
        for index in range(start + 1, end):
            distance = _segment_distance(points[index], points[start], points[end])
            if distance > best_distance:
                best, best_distance = index, distance
        if best >= 0:
            keep[best] = True
            stack.extend(((start, best), (best, end)))
    return [point for point, kept in zip(points, keep, strict=True) if kept]


def _distance2(a: tuple[int, int], b: tuple[int, int]) -> int:
    return (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2


def _segment_distance(p: tuple[int, int], a: tuple[int, int], b: tuple[int, int]) -> float:
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy
    if length2 == 0:
        return math.sqrt(_distance2(p, a))
    t = max(0.0, min(1.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length2))
    return math.hypot(p[0] - a[0] - t * dx, p[1] - a[1] - t * dy)
