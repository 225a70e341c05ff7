"""Offline geocoding of Indonesian addresses to Kemendagri region centroids.

Hospital records carry free-text addresses and, at best, region codes; dispatch needs a position and an honest
statement of how precise it is. Everything runs from package data, with no network access.
"""

from dispatch.geocoding.gazetteer import (
    Centroid,
    Gazetteer,
    Unit,
    load_gazetteer,
    name_key,
    normalize_code,
    normalize_name,
)
from dispatch.geocoding.geocoder import GazetteerGeocoder, GeocodeRaw

__all__ = [
    "Centroid",
    "Gazetteer",
    "GazetteerGeocoder",
    "GeocodeRaw",
    "Unit",
    "load_gazetteer",
    "name_key",
    "normalize_code",
    "normalize_name",
]
