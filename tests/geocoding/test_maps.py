"""Offline maps: desa polygons from the shipped GeoJSON as small, well-formed SVG, with pins where they belong."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from dispatch.geocoding import maps

SVG = "{http://www.w3.org/2000/svg}"
MUNCAR = "35.10.05"
SUMBERBERAS = "35.10.05.2001"
HOSPITAL = maps.Pin(-8.209705, 114.365270, "RSUD Blambangan", "hospital")  # Kec. Banyuwangi, not Muncar


def desa_codes(gazetteer, area: str) -> set[str]:
    return {u.code for u in gazetteer if u.code.startswith(f"{area}.") and u.level in {"desa", "kelurahan"}}


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own output


def test_a_kecamatan_map_draws_each_desa_with_its_name_and_the_pins_inside(gazetteer):
    sumberberas = gazetteer.get(SUMBERBERAS)
    order = maps.Pin(sumberberas.lat, sumberberas.lon, "#7 <Krajan>", href="/console/orders/7")

    svg = maps.area_map(MUNCAR, [order, HOSPITAL], highlight=SUMBERBERAS)

    root = parse(svg)
    paths = root.findall(f"{SVG}path")
    assert {p.get("data-code") for p in paths} == desa_codes(gazetteer, MUNCAR)
    assert len(paths) == 10
    assert {p.findtext(f"{SVG}title") for p in paths} >= {"Sumberberas", "Kedungrejo", "Tembokrejo"}
    assert all(p.get("d", "").startswith("M") and p.get("d", "").endswith("z") for p in paths)
    [highlighted] = [p for p in paths if "h" in p.get("class", "").split()]
    assert highlighted.get("data-code") == SUMBERBERAS
    assert {t.text for t in root.findall(f"{SVG}text")} >= {"Sumberberas", "Kedungrejo"}
    # The order's pin is drawn (as a link, its label escaped); the hospital lies outside Muncar and is left off.
    [link] = root.iter(f"{SVG}a")
    assert link.get("href") == "/console/orders/7"
    [circle] = root.iter(f"{SVG}circle")
    assert circle.get("class") == "p order"
    assert circle.findtext(f"{SVG}title") == "#7 <Krajan>"
    # The pin sits where the frame the page's script reads puts the desa centroid.
    frame = maps.Frame(*map(float, root.get("data-frame").split()), width=0, height=0)
    lat, lon = frame.latlon(float(circle.get("cx")), float(circle.get("cy")))
    assert (lat, lon) == pytest.approx((sumberberas.lat, sumberberas.lon), abs=1e-4)
    assert len(svg) < 10_000


def test_the_kabupaten_map_outlines_and_names_the_kecamatan_and_stays_small(gazetteer):
    svg = maps.area_map("35.10", [HOSPITAL])

    root = parse(svg)
    desa = [p for p in root.findall(f"{SVG}path") if p.get("class") == "d"]
    kecamatan = [p for p in root.findall(f"{SVG}path") if p.get("class") == "k"]
    assert len(desa) == 217 == len(desa_codes(gazetteer, "35.10"))
    assert len(kecamatan) == 25
    names = {t.text for t in root.findall(f"{SVG}text")}
    assert {"Muncar", "Genteng", "Glagah", "Pesanggaran"} <= names
    assert "Sumberberas" not in names  # desa are named on hover only, not written over the whole kabupaten
    [hospital] = root.iter(f"{SVG}circle")
    assert hospital.get("class") == "p hospital"
    # 29,499 vertices thinned to whole pixels: a console page, not a download.
    assert len(svg) < 60_000


def test_no_polygons_no_map():
    assert not maps.has_map("35.09")
    with pytest.raises(LookupError):
        maps.area_map("35.09")


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        pytest.param(("351005",), MUNCAR, id="undotted-kecamatan"),
        pytest.param((None, "35.10.05"), MUNCAR, id="first-known"),
        pytest.param(("35.09.01", "35.10.09"), "35.10.09", id="next-kabupaten-skipped"),
        pytest.param(("35.10.05.2001",), "35.10", id="a-desa-is-not-a-kecamatan"),
        pytest.param((None, ""), "35.10", id="unknown"),
    ],
)
def test_the_area_offered_stays_in_the_service_area(codes, expected):
    assert maps.area_for(codes, "35.10") == expected


def test_desa_choices_are_grouped_by_kecamatan():
    groups = maps.desa_choices("35.10")

    assert len(groups) == 25
    assert sum(len(members) for _, members in groups) == 217
    muncar, members = next((k, m) for k, m in groups if k.code == MUNCAR)
    assert muncar.name == "Muncar"
    assert members[0].name == "Sumberberas"
    assert [k.code for k, _ in maps.desa_choices(MUNCAR)] == [MUNCAR]


def test_a_form_names_a_point_by_desa_or_by_coordinates(gazetteer):
    sumberberas = gazetteer.get(SUMBERBERAS)

    assert maps.point_from_form("", "", SUMBERBERAS, "35.10") == (sumberberas.lat, sumberberas.lon)
    assert maps.point_from_form("-8,4501", " 114.3302 ", "", "35.10") == (-8.4501, 114.3302)


@pytest.mark.parametrize(
    ("lat", "lon", "desa", "message"),
    [
        pytest.param("", "", "35.09.01.2001", "Desa tidak dikenal", id="desa-outside-area"),
        pytest.param("", "", MUNCAR, "Desa tidak dikenal", id="kecamatan-not-desa"),
        pytest.param("", "", "<script>", "Desa tidak dikenal", id="garbage-desa"),
        pytest.param("", "", "", "Koordinat tidak terbaca", id="nothing"),
        pytest.param("abc", "114.3", "", "Koordinat tidak terbaca", id="not-a-number"),
        pytest.param("nan", "114.3", "", "Koordinat tidak terbaca", id="nan"),
        pytest.param("-95", "114.3", "", "Koordinat tidak terbaca", id="beyond-the-pole"),
    ],
)
def test_an_unreadable_form_is_refused_with_a_message(lat, lon, desa, message):
    with pytest.raises(maps.UnreadablePoint, match=message):
        maps.point_from_form(lat, lon, desa, "35.10")


def test_without_a_tile_server_the_map_needs_nothing_from_the_internet():
    assert "<image" not in maps.area_map(MUNCAR)


def test_a_configured_tile_server_lays_its_tiles_under_the_polygons(gazetteer, monkeypatch):
    monkeypatch.setattr(maps.settings, "map_tile_url", "https://tiles.rsud.example/{z}/{x}/{y}.png")
    sumberberas = gazetteer.get(SUMBERBERAS)

    root = parse(maps.area_map(MUNCAR, [maps.Pin(sumberberas.lat, sumberberas.lon, "#7")]))

    images = root.findall(f"{SVG}image")
    assert images, "no tiles drawn"
    assert list(root)[1].tag == f"{SVG}image"  # under the polygons: right after the style
    width, height = (float(v) for v in root.get("viewBox").split()[2:])
    boxes = [
        (
            float(i.get("x")),
            float(i.get("y")),
            float(i.get("x")) + float(i.get("width")),
            float(i.get("y")) + float(i.get("height")),
        )
        for i in images
    ]
    # Together the tiles cover the whole canvas.
    assert min(b[0] for b in boxes) <= 0 and min(b[1] for b in boxes) <= 0
    assert max(b[2] for b in boxes) >= width and max(b[3] for b in boxes) >= height
    # The tile the slippy-map formula gives for the desa centroid is placed where the centroid's pin is drawn.
    [circle] = root.iter(f"{SVG}circle")
    pin_x, pin_y = float(circle.get("cx")), float(circle.get("cy"))
    zoom = int(images[0].get("href").split("/")[3])
    n = 2**zoom
    tile_x = int((sumberberas.lon + 180) / 360 * n)
    lat = math.radians(sumberberas.lat)
    tile_y = int((1 - math.log(math.tan(lat) + 1 / math.cos(lat)) / math.pi) / 2 * n)
    [containing] = [
        box
        for image, box in zip(images, boxes, strict=True)
        if image.get("href") == f"https://tiles.rsud.example/{zoom}/{tile_x}/{tile_y}.png"
    ]
    assert containing[0] <= pin_x <= containing[2] and containing[1] <= pin_y <= containing[3]
    assert 10 <= zoom <= 14  # about the frame's own scale for a kecamatan


def test_a_tile_url_without_its_placeholders_is_refused():
    from pydantic import ValidationError

    from dispatch.core.settings import Settings

    with pytest.raises(ValidationError):
        Settings(map_tile_url="https://tiles.rsud.example/tile.png")
