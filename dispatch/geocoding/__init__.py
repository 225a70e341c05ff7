"""Offline geocoding of Indonesian addresses to Kemendagri region centroids, and of pins back to desa.

Hospital records carry free-text addresses and, at best, region codes; dispatch needs a position and an honest
statement of how precise it is. The gazetteer, the polygons and the maps run from package data, with no network
access; online geocoders (``online.py``) and a tile server are used only when a hospital configures them.
"""

from dispatch.geocoding.address import Address, PlaceName, parse_address
from dispatch.geocoding.boundaries import Boundaries, load_boundaries
from dispatch.geocoding.gazetteer import (
    Centroid,
    Gazetteer,
    Unit,
    load_gazetteer,
    name_key,
    normalize_code,
    normalize_name,
)
from dispatch.geocoding.geocoder import GazetteerGeocoder, GeocodeRaw, Resolution

__all__ = [
    "Address",
    "Boundaries",
    "Centroid",
    "Gazetteer",
    "GazetteerGeocoder",
    "GeocodeRaw",
    "PlaceName",
    "Resolution",
    "Unit",
    "load_boundaries",
    "load_gazetteer",
    "name_key",
    "normalize_code",
    "normalize_name",
    "parse_address",
]
