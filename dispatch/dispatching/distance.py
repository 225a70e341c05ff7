"""How far a delivery goes by road, without a road network: the straight line times a learned road factor.

No offline router fits (OSRM and Valhalla wheels need Python >= 3.12 and an OpenStreetMap extract nobody ships
for Banyuwangi, geo.md section 5), so the geodesic distance is stretched by a circuity factor. Published factors
run from about 1.2 (urban networks) to 1.44 (rural provinces); none is known for Banyuwangi, so 1.3 is the
start and each hospital's own factor is learned from the road distances its couriers quoted for trips that
were then delivered.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from functools import lru_cache
from typing import Final

from geopy.distance import geodesic
from sqlmodel import Session

from dispatch.dispatching import repository
from dispatch.hospitals.models import Hospital

DEFAULT_ROAD_FACTOR: Final = 1.3
# A road is never shorter than the straight line; more than 2.5 times it means a wrong pin or a ferry, not roads.
ROAD_FACTOR_RANGE: Final = (1.0, 2.5)
# Below this many trips the median is noise.
MIN_SAMPLES: Final = 5
# The latest trips count: roads and the hospital's catchment change.
SAMPLE_SIZE: Final = 50
# On shorter trips a desa-centroid pin's error dwarfs the distance and the ratio says nothing.
MIN_SAMPLE_KM: Final = 0.5


def geodesic_km(origin: tuple[float, float], destination: tuple[float, float]) -> float:
    return float(geodesic(origin, destination).km)


def road_factor(samples: Iterable[tuple[float, float]]) -> float:
    """The median ratio of road km to straight-line km over (road_km, straight_km) samples, within range;
    the default when there are too few usable samples."""
    ratios = [road_km / straight_km for road_km, straight_km in samples if straight_km >= MIN_SAMPLE_KM]
    if len(ratios) < MIN_SAMPLES:
        return DEFAULT_ROAD_FACTOR
    low, high = ROAD_FACTOR_RANGE
    return min(max(statistics.median(ratios), low), high)


def learned_road_factor(session: Session, hospital: Hospital) -> float:
    """The hospital's road factor from its latest delivered trips with a courier's road distance."""
    assert hospital.id is not None
    trips = repository.delivered_trips(session, hospital.id, SAMPLE_SIZE)
    return _factor_of_trips((hospital.lat, hospital.lon), tuple(trips))


@lru_cache(maxsize=64)
def _factor_of_trips(origin: tuple[float, float], trips: tuple[tuple[float, float, float], ...]) -> float:
    """Every booking asks, and the latest trips change only when one is delivered: the 50 geodesics
    (3 ms) are worked out once per new set of trips, not per booking."""
    return road_factor((road_km, geodesic_km(origin, (lat, lon))) for road_km, lat, lon in trips)
