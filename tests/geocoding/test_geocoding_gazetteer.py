"""The gazetteer: shipped data, code and name normalization, lookups, centroid fallback, nearest desa."""

from __future__ import annotations

import collections
import io
from importlib import resources

import pytest

from dispatch.geocoding import Gazetteer, load_gazetteer, name_key, normalize_code, normalize_name
from dispatch.geocoding.gazetteer import DESA_LEVELS, KECAMATAN_LEVELS

DATA = resources.files("dispatch.geocoding") / "data"


def test_national_file_has_every_code_by_level(gazetteer: Gazetteer) -> None:
    # Row counts per level as documented in the data README.
    assert len(gazetteer) == 91_599
    counts = collections.Counter(unit.level for unit in gazetteer)
    assert counts == {
        "provinsi": 38,
        "kabupaten": 416,
        "kota": 98,
        "kecamatan": 7_285,
        "desa": 75_266,
        "kelurahan": 8_496,
    }


def test_load_is_cached() -> None:
    assert load_gazetteer() is load_gazetteer()


def test_banyuwangi_csv_agrees_with_national_file(gazetteer: Gazetteer) -> None:
    banyuwangi = Gazetteer.from_csv(
        io.StringIO((DATA / "banyuwangi_wilayah.csv").read_text(encoding="utf-8"))
    )
    assert len(banyuwangi) == 243
    for code in ("35.10", "35.10.25", "35.10.11.2003", "35.10.16.1010"):
        assert banyuwangi.get(code) == gazetteer.get(code)


def test_data_readme_carries_attribution() -> None:
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    assert (
        "Contains data from cahyadsn/wilayah, wilayah_boundaries and wilayah_kodepos (MIT, © Cahya DSN)"
        in readme
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("3510112003", "35.10.11.2003"),
        ("35.10.11.2003", "35.10.11.2003"),
        ("  35.10.16.1010\n", "35.10.16.1010"),
        ("351016", "35.10.16"),
        ("3510", "35.10"),
        ("35", "35"),
    ],
)
def test_normalize_code_accepts_dotted_and_undotted(raw: str, expected: str) -> None:
    assert normalize_code(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "3",
        "1010101",
        "35101120031",
        "35.101.12003",
        "35-10-11",
        "35.10.11.2003.",
        "abcd",
        "\uff13\uff15\uff11\uff10",
    ],
)
def test_normalize_code_rejects_malformed(raw: str) -> None:
    assert normalize_code(raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ds. Kalibaru Wetan", "kalibaru wetan"),
        ("KELURAHAN  Singonegaran", "singonegaran"),
        ("Kec.Glagah", "glagah"),
        ("Kabupaten Banyuwangi", "banyuwangi"),
        ("Kota Baru", "baru"),
        ("Kota", "kota"),
        ("Desa Kota Baru", "kota baru"),
        ("Tamansari (Licin)", "tamansari licin"),
    ],
)
def test_normalize_name_folds_case_punctuation_and_one_prefix(raw: str, expected: str) -> None:
    assert normalize_name(raw) == expected


def test_name_key_ignores_spacing() -> None:
    assert name_key("Kalibaru Wetan") == name_key("Kalibaruwetan") == name_key("Ds. KALIBARU-WETAN")


def test_get_accepts_any_code_spelling(gazetteer: Gazetteer) -> None:
    unit = gazetteer.get("3510112003")
    assert unit is not None
    assert unit == gazetteer.get("35.10.11.2003")
    assert (unit.name, unit.level, unit.parent_code, unit.postal_code) == (
        "Kalibaruwetan",
        "desa",
        "35.10.11",
        "68467",
    )
    assert gazetteer.get("99.99.99.9999") is None
    assert gazetteer.get("not a code") is None


def test_levels_come_from_the_data(gazetteer: Gazetteer) -> None:
    kelurahan = gazetteer.get("35.10.16.1010")
    kota = gazetteer.get("35.78")
    assert kelurahan is not None and kelurahan.level == "kelurahan"
    assert kota is not None and (kota.level, kota.name) == ("kota", "Kota Surabaya")


def test_lineage_runs_up_to_the_provinsi(gazetteer: Gazetteer) -> None:
    unit = gazetteer.get("35.10.15.2004")
    assert unit is not None
    assert [ancestor.code for ancestor in gazetteer.lineage(unit)] == [
        "35.10.15.2004",
        "35.10.15",
        "35.10",
        "35",
    ]


def test_centroid_falls_back_to_the_parent_when_the_desa_has_none(gazetteer: Gazetteer) -> None:
    unit = gazetteer.get("11.16.06.2021")  # Alur Mentawak: no polygon in the source
    kecamatan = gazetteer.get("11.16.06")
    assert unit is not None and unit.lat is None
    assert kecamatan is not None and kecamatan.lat is not None and kecamatan.lon is not None
    assert gazetteer.centroid(unit) == (kecamatan.lat, kecamatan.lon, "11.16.06")


def test_centroid_is_the_units_own_when_present(
    gazetteer: Gazetteer, banyuwangi_rows: list[dict[str, str]]
) -> None:
    for row in banyuwangi_rows:
        unit = gazetteer.get(row["code"])
        assert unit is not None
        assert gazetteer.centroid(unit) == (float(row["lat"]), float(row["lon"]), row["code"])


def test_find_desa_within_a_kecamatan(gazetteer: Gazetteer) -> None:
    assert [unit.code for unit in gazetteer.find_desa("Ds. Karangrejo", "35.10.16")] == ["35.10.16.1007"]
    assert [unit.code for unit in gazetteer.find_desa("karangrejo", "351025")] == ["35.10.25.2008"]
    assert gazetteer.find_desa("Karangrejo", "35.10.15") == []


def test_find_kecamatan_within_a_kabupaten(gazetteer: Gazetteer) -> None:
    assert [unit.code for unit in gazetteer.find_kecamatan("Kecamatan Glagah", "35.10")] == ["35.10.15"]
    assert [unit.code for unit in gazetteer.find_kecamatan("Glagah", "35.24")] == ["35.24.26"]


def test_find_without_area_returns_every_namesake(gazetteer: Gazetteer) -> None:
    in_banyuwangi = gazetteer.find("Karangrejo", levels=DESA_LEVELS, within=["35.10"])
    assert sorted(unit.code for unit in in_banyuwangi) == ["35.10.16.1007", "35.10.25.2008"]
    assert len(gazetteer.find("Sukorejo", levels=DESA_LEVELS)) > 50
    assert gazetteer.find("Sukorejo", levels=KECAMATAN_LEVELS, within=["35.10"]) == []


def test_find_helpers_reject_unknown_area_codes(gazetteer: Gazetteer) -> None:
    with pytest.raises(ValueError, match="unknown region code"):
        gazetteer.find_desa("Kemiren", "35.10.99")


def test_nearest_desa_at_a_centroid_is_that_desa(gazetteer: Gazetteer) -> None:
    nearest = gazetteer.nearest_desa(-8.202007, 114.318686, max_km=30)
    assert nearest is not None
    unit, distance_km = nearest
    assert unit.code == "35.10.15.2004"
    assert distance_km == pytest.approx(0.0, abs=1e-6)


def test_nearest_desa_is_none_far_from_every_centroid(gazetteer: Gazetteer) -> None:
    assert gazetteer.nearest_desa(48.8566, 2.3522, max_km=30) is None  # Paris
    assert gazetteer.nearest_desa(-12.0, 110.0, max_km=30) is None  # Indian Ocean south of Java
