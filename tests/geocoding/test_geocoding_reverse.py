"""Reverse geocoding: Banyuwangi desa polygons, nearest centroid elsewhere, sea, abroad, service area."""

from __future__ import annotations

from typing import Any

import pytest
from geopy.point import Point

from dispatch.geocoding import Boundaries, GazetteerGeocoder, load_boundaries
from dispatch.geocoding.boundaries import Shape

BANYUWANGI = "35.10"


def raw(location: Any) -> dict[str, Any]:
    assert location is not None
    assert isinstance(location.raw, dict)
    return location.raw


def test_every_banyuwangi_desa_centroid_inside_its_polygon_reverses_to_that_desa(
    geocoder: GazetteerGeocoder, banyuwangi_rows: list[dict[str, str]]
) -> None:
    desa = [row for row in banyuwangi_rows if row["level"] in ("desa", "kelurahan")]
    inside = [row for row in desa if row["in_own_polygon"] == "1"]
    assert (len(desa), len(inside)) == (217, 211)
    for row in inside:
        details = raw(geocoder.reverse((float(row["lat"]), float(row["lon"])), scope=BANYUWANGI))
        assert (details["code"], details["confidence"], details["in_area"]) == (row["code"], 0.95, True)


def test_polygons_beat_the_nearest_centroid(geocoder: GazetteerGeocoder) -> None:
    # Kalibaruwetan's centroid lies outside its own (concave) polygon, in neighbouring Kajarharjo.
    details = raw(geocoder.reverse((-8.243579, 113.991949)))
    assert (details["code"], details["name"]) == ("35.10.11.2004", "Kajarharjo")
    assert details["distance_km"] > 0


@pytest.mark.parametrize(
    "point", [(-8.202007, 114.318686), "-8.202007, 114.318686", Point(-8.202007, 114.318686)]
)
def test_reverse_accepts_what_geopy_accepts(geocoder: GazetteerGeocoder, point: Any) -> None:
    location = geocoder.reverse(point)
    assert location is not None
    assert location.address == "Desa Kemiren, Kec. Glagah, Kab. Banyuwangi"
    assert (raw(location)["code"], raw(location)["distance_km"], raw(location)["in_area"]) == (
        "35.10.15.2004",
        0.0,
        None,
    )


def test_a_pin_near_a_centroid(geocoder: GazetteerGeocoder) -> None:
    locations = geocoder.reverse((-8.2105, 114.3660), exactly_one=False)
    assert locations is not None
    assert [raw(location)["code"] for location in locations] == ["35.10.16.1010"]
    assert 0 < raw(locations[0])["distance_km"] < 0.2


def test_at_sea_off_banyuwangi_is_none(geocoder: GazetteerGeocoder) -> None:
    # Bali Strait, a few km from the coastal kelurahan whose centroid is nearest.
    assert geocoder.reverse((-8.21, 114.40)) is None


def test_a_pin_just_off_a_simplified_coastline_takes_the_nearest_desa(geocoder: GazetteerGeocoder) -> None:
    boundaries = geocoder.boundaries
    kabupaten = next(shape for shape in boundaries.shapes if shape.code == BANYUWANGI)
    lon, lat = max(
        (position for ring in kabupaten.rings for position in ring), key=lambda position: position[0]
    )
    pin = (lat, lon + 0.002)  # about 200 m east of the easternmost coast, in the Bali Strait
    assert boundaries.desa_at(*pin) is None
    assert not boundaries.within(BANYUWANGI, *pin)
    details = raw(geocoder.reverse(pin, scope=BANYUWANGI))
    assert (details["confidence"], details["in_area"]) == (0.6, True)
    assert details["code"].startswith("35.10.")


def test_outside_the_service_area_is_flagged(geocoder: GazetteerGeocoder) -> None:
    # Desa Sumberklampok, Kab. Buleleng (Bali), across the strait: no polygons there, nearest centroid.
    details = raw(geocoder.reverse((-8.1, 114.45), scope=BANYUWANGI))
    assert (details["code"][:5], details["confidence"], details["in_area"]) == ("51.08", 0.7, False)
    assert raw(geocoder.reverse((-8.1, 114.45), scope="51.08"))["in_area"] is True


@pytest.mark.parametrize("point", [(48.8566, 2.3522), (-12.0, 110.0), (0.0, 0.0), (35.68, 139.69)])
def test_outside_indonesia_is_none(geocoder: GazetteerGeocoder, point: tuple[float, float]) -> None:
    assert geocoder.reverse(point, scope=BANYUWANGI) is None


def test_reverse_max_km_bounds_the_centroid_search(geocoder: GazetteerGeocoder) -> None:
    near_jakarta = (-6.2, 106.8)
    assert raw(geocoder.reverse(near_jakarta))["code"].startswith("31.")
    assert GazetteerGeocoder(geocoder.gazetteer, reverse_max_km=0.05).reverse(near_jakarta) is None


@pytest.mark.parametrize("query", ["somewhere in Banyuwangi", (float("nan"), 114.0), "", (1, 2, 3, 4)])
def test_reverse_rejects_what_is_not_a_position(geocoder: GazetteerGeocoder, query: Any) -> None:
    with pytest.raises(ValueError, match=r"Failed to create Point|must be finite|Failed to|sequence"):
        geocoder.reverse(query)


def test_unknown_scope_is_a_configuration_error(geocoder: GazetteerGeocoder) -> None:
    with pytest.raises(ValueError, match="unknown scope"):
        geocoder.reverse((-8.202007, 114.318686), scope="99.99")


def test_shipped_polygons_cover_banyuwangi(banyuwangi_rows: list[dict[str, str]]) -> None:
    boundaries = load_boundaries()
    assert load_boundaries() is boundaries
    assert sorted(shape.code for shape in boundaries.shapes) == sorted(row["code"] for row in banyuwangi_rows)
    assert boundaries.covers("35.10") and not boundaries.covers("35.09")
    assert boundaries.within("35.10", -8.202007, 114.318686)
    assert not boundaries.within("35.10", -8.21, 114.40)


def test_polygon_with_a_hole_and_edge_distance() -> None:
    square = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))
    hole = ((0.4, 0.4), (0.6, 0.4), (0.6, 0.6), (0.4, 0.6))
    shape = Shape("99.01.01.2001", "desa", (square, hole), 0.0, 0.0, 1.0, 1.0)
    boundaries = Boundaries([shape])
    assert boundaries.desa_at(0.2, 0.2) == "99.01.01.2001"
    assert boundaries.desa_at(0.5, 0.5) is None
    assert boundaries.desa_at(1.5, 0.5) is None
    assert shape.distance_km(0.5, 1.01) == pytest.approx(1.112, abs=0.01)
    assert boundaries.nearest_desa(0.5, 1.01, max_km=2) == ("99.01.01.2001", pytest.approx(1.112, abs=0.01))
    assert boundaries.nearest_desa(0.5, 1.1, max_km=2) is None


def test_data_readme_lists_the_polygons_and_their_attribution() -> None:
    from importlib import resources

    readme = (resources.files("dispatch.geocoding") / "data" / "README.md").read_text(encoding="utf-8")
    assert "banyuwangi_wilayah.geojson" in readme
    assert "(MIT, © Cahya DSN)" in readme
