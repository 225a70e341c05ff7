"""Region polygons for reverse geocoding: which desa a pin placed by a patient or a courier lies in.

Centroids alone put a third of the points in the wrong desa (the nearest centroid is not the containing desa),
so where polygons are shipped (Kabupaten Banyuwangi) the point is tested against them. Pure Python: 243
simplified polygons with 29,499 vertices need no geometry library, and a bounding-box test discards almost all.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

from dispatch.geocoding.gazetteer import DESA_LEVELS

BOUNDARY_FILES: Final = ("banyuwangi_wilayah.geojson",)

_KM_PER_DEGREE: Final = 111.195
Ring = tuple[tuple[float, float], ...]  # (lon, lat) pairs, closed or not


@dataclass(frozen=True, slots=True)
class Shape:
    """One unit's multipolygon: its rings (holes included, read even-odd) and their bounding box."""

    code: str
    level: str
    rings: tuple[Ring, ...]
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    def near_box(self, lat: float, lon: float, margin: float) -> bool:
        return (
            self.min_lat - margin <= lat <= self.max_lat + margin
            and self.min_lon - margin <= lon <= self.max_lon + margin
        )

    def contains(self, lat: float, lon: float) -> bool:
        inside = False
        for ring in self.rings:
            x1, y1 = ring[-1]
            for x2, y2 in ring:
                if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
                    inside = not inside
                x1, y1 = x2, y2
        return inside

    def distance_km(self, lat: float, lon: float) -> float:
        """Distance to the nearest edge, on a local flat projection (good to well under 1 % at this scale)."""
        scale = math.cos(math.radians(lat))
        best = math.inf
        for ring in self.rings:
            x1, y1 = (ring[-1][0] - lon) * scale, ring[-1][1] - lat
            for ring_lon, ring_lat in ring:
                x2, y2 = (ring_lon - lon) * scale, ring_lat - lat
                dx, dy = x2 - x1, y2 - y1
                length = dx * dx + dy * dy
                t = 0.0 if length == 0 else max(0.0, min(1.0, -(x1 * dx + y1 * dy) / length))
                best = min(best, math.hypot(x1 + t * dx, y1 + t * dy))
                x1, y1 = x2, y2
        return best * _KM_PER_DEGREE


class Boundaries:
    """Polygons by unit, for the kabupaten that have them."""

    def __init__(self, shapes: Iterable[Shape]) -> None:
        self.shapes = tuple(shapes)
        self._desa = tuple(shape for shape in self.shapes if shape.level in DESA_LEVELS)
        self._by_code = {shape.code: shape for shape in self.shapes}

    @classmethod
    def from_geojson(cls, collection: dict[str, Any]) -> Boundaries:
        """Read a FeatureCollection of (Multi)Polygons whose properties carry ``code`` and ``level``."""
        return cls(_shape(feature) for feature in collection["features"])

    def covers(self, code: str) -> bool:
        """Whether polygons exist for this unit, i.e. whether "in no polygon" means "not in this unit"."""
        return code in self._by_code

    def within(self, code: str, lat: float, lon: float) -> bool:
        shape = self._by_code.get(code)
        return shape is not None and shape.near_box(lat, lon, 0.0) and shape.contains(lat, lon)

    def desa_at(self, lat: float, lon: float) -> str | None:
        """The desa/kelurahan whose polygon contains the point."""
        for shape in self._desa:
            if shape.near_box(lat, lon, 0.0) and shape.contains(lat, lon):
                return shape.code
        return None

    def nearest_desa(self, lat: float, lon: float, *, max_km: float) -> tuple[str, float] | None:
        """The desa/kelurahan whose edge is nearest, if within ``max_km``: simplified coastlines cut off houses."""
        margin = max_km / _KM_PER_DEGREE / max(math.cos(math.radians(lat)), 0.1)
        distances = [
            (shape.distance_km(lat, lon), shape.code)
            for shape in self._desa
            if shape.near_box(lat, lon, margin)
        ]
        distance, code = min(distances, default=(math.inf, ""))
        return (code, distance) if distance <= max_km else None


@functools.cache
def load_boundaries() -> Boundaries:
    """The shipped polygons, parsed on first use: only reverse geocoding needs them."""
    data = resources.files("dispatch.geocoding") / "data"
    shapes: list[Shape] = []
    for name in BOUNDARY_FILES:
        shapes.extend(Boundaries.from_geojson(json.loads((data / name).read_bytes())).shapes)
    return Boundaries(shapes)


def _shape(feature: dict[str, Any]) -> Shape:
    geometry = feature["geometry"]
    polygons: Sequence[Any] = (
        [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    )
    rings = tuple(
        tuple((float(position[0]), float(position[1])) for position in ring)
        for polygon in polygons
        for ring in polygon
    )
    lons = [lon for ring in rings for lon, _ in ring]
    lats = [lat for ring in rings for _, lat in ring]
    properties = feature["properties"]
    return Shape(properties["code"], properties["level"], rings, min(lons), min(lats), max(lons), max(lats))
