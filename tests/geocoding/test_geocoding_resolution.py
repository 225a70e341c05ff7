"""Misspelt names, ambiguity, postal codes, the Blimbingsari split and the service area, via ``resolve``."""

from __future__ import annotations

from typing import Any

import pytest

from dispatch.geocoding import GazetteerGeocoder, name_key

BANYUWANGI = "35.10"


def outcome(geocoder: GazetteerGeocoder, query: Any, scope: str | None = BANYUWANGI) -> tuple[str, list[str]]:
    resolution = geocoder.resolve(query, scope=scope)
    return resolution.status, [location.raw["code"] for location in resolution.locations]


def single(geocoder: GazetteerGeocoder, query: Any, scope: str | None = BANYUWANGI) -> dict[str, Any]:
    resolution = geocoder.resolve(query, scope=scope)
    assert resolution.status == "found", resolution
    (location,) = resolution.locations
    assert isinstance(location.raw, dict)
    return location.raw


@pytest.mark.parametrize(
    ("query", "code", "confidence"),
    [
        # Letter variants measured between Kemendagri and areaid names (reference geo.md 3.3).
        ("Ds. Keretan, Kec. Purwoharjo", "35.10.03.2008", 0.77),
        ("Ds. Alasbulu, Kec. Wongsorejo", "35.10.18.2003", 0.85),
        ("Ds. Kedungpringin, Kec. Muncar", "35.10.05.2009", 0.86),
        ("Desa Kalibaru Wetn, Kec. Kalibaru", "35.10.11.2003", 0.86),
        ("Kalibaruwetn, Kec Kalibaru", "35.10.11.2003", 0.86),
        ("Desa Kemirenn", "35.10.15.2004", 0.75),
    ],
)
def test_misspelt_desa_are_matched_with_a_lower_confidence(
    geocoder: GazetteerGeocoder, query: str, code: str, confidence: float
) -> None:
    details = single(geocoder, query)
    assert (details["code"], details["confidence"]) == (code, confidence)


def test_exact_names_win_over_similar_ones(geocoder: GazetteerGeocoder) -> None:
    # Two real units one letter apart: desa Pengatigan (Rogojampi) and kelurahan Pengantigan (Banyuwangi).
    assert single(geocoder, "Desa Pengatigan")["code"] == "35.10.13.2014"
    assert single(geocoder, "Kel. Pengantigan")["code"] == "35.10.16.1016"
    assert single(geocoder, "Desa Pengatigan")["confidence"] == 0.8


def test_spelling_variants_of_blimbingsari(geocoder: GazetteerGeocoder) -> None:
    assert single(geocoder, "Desa Blimbing Sari")["code"] == "35.10.25.2001"
    assert single(geocoder, "Ds. Blimbingsari, Kec. Blimbingsari")["code"] == "35.10.25.2001"
    assert single(geocoder, "Kecamatan Blimbing Sari")["code"] == "35.10.25"


def test_old_spelling_is_folded() -> None:
    assert name_key("Soekorejo") == name_key("Sukorejo")
    assert name_key("Djati Redjo") == name_key("Jatirejo")
    assert name_key("Tjluring") == name_key("Cluring")


def test_old_spelling_address(geocoder: GazetteerGeocoder) -> None:
    assert single(geocoder, "Ds. Soekorejo, Kec. Bangorejo")["code"] == "35.10.02.2001"
    assert single(geocoder, "Kec. Tjluring")["code"] == "35.10.06"


def test_fuzzy_needs_an_area(geocoder: GazetteerGeocoder) -> None:
    # Across the country a misspelling is close to many desa: nothing is guessed.
    assert outcome(geocoder, "Desa Kemirenn", scope=None) == ("not_found", [])


def test_short_or_distant_spellings_are_not_guessed(geocoder: GazetteerGeocoder) -> None:
    assert outcome(geocoder, "Desa Bumo") == (
        "not_found",
        [],
    )  # Bomo is one letter off, but four letters long
    assert outcome(geocoder, "Desa Kalibaru") == ("not_found", [])  # three desa start so; none is meant


def test_a_misspelling_between_two_desa_is_ambiguous_until_the_kecamatan_decides(
    geocoder: GazetteerGeocoder,
) -> None:
    # "Sumberesri" is one letter from both Sumberasri (Purwoharjo) and Sumbersari (Srono).
    resolution = geocoder.resolve("Desa Sumberesri", scope=BANYUWANGI)
    assert resolution.status == "ambiguous"
    assert {(location.raw["code"], location.raw["confidence"]) for location in resolution.locations} == {
        ("35.10.03.2002", 0.36),
        ("35.10.08.2005", 0.36),
    }
    details = single(geocoder, "Desa Sumberesri, Kec. Srono")
    assert (details["code"], details["confidence"]) == ("35.10.08.2005", 0.81)


@pytest.mark.parametrize(
    ("query", "code", "rival"),
    [
        ("Desa Karangrejo 68460", "35.10.25.2008", "35.10.16.1007"),
        ("Kel. Karangrejo, Banyuwangi 68411", "35.10.16.1007", "35.10.25.2008"),
        ("Desa Watukebo 68453", "35.10.18.2008", "35.10.25.2003"),
    ],
)
def test_postal_code_resolves_a_repeated_desa_name(
    geocoder: GazetteerGeocoder, query: str, code: str, rival: str
) -> None:
    details = single(geocoder, query)
    assert (details["code"], details["confidence"], details["alternatives"]) == (code, 0.9, [rival])


def test_postal_code_that_fits_neither_keeps_the_ambiguity(geocoder: GazetteerGeocoder) -> None:
    status, codes = outcome(geocoder, "Desa Karangrejo 68432")
    assert (status, sorted(codes)) == ("ambiguous", ["35.10.16.1007", "35.10.25.2008"])


def test_postal_code_alone_gives_its_kecamatan_below_the_dispatch_threshold(
    geocoder: GazetteerGeocoder,
) -> None:
    details = single(geocoder, "RT 01/002 No. 5 68432")
    assert (details["code"], details["level"], details["confidence"]) == ("35.10.15", "kecamatan", 0.4)
    # In town a postal code can belong to one kelurahan.
    assert single(geocoder, "68413")["code"] == "35.10.16.1014"
    assert outcome(geocoder, "99999") == ("not_found", [])


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("Desa Watukebo, Kec. Rogojampi", "35.10.25.2003"),
        ("Desa Watu Kebo, Kec. Kabat", "35.10.25.2003"),
        ("Desa Watukebo, Kec. Wongsorejo", "35.10.18.2008"),
        ("Desa Karangrejo, Rogojampi", "35.10.25.2008"),
        ("Desa Kaotan, Kec. Rogojampi", "35.10.25.2002"),
    ],
)
def test_desa_of_the_split_kecamatan_blimbingsari_under_its_old_kecamatan(
    geocoder: GazetteerGeocoder, query: str, code: str
) -> None:
    details = single(geocoder, query)
    assert details["code"] == code
    assert details["confidence"] <= 0.9


def test_a_desa_named_like_a_dusun_elsewhere(geocoder: GazetteerGeocoder) -> None:
    # GeoNames has a hamlet Sempu inside desa Tegalarum; the dusun marker keeps it from naming desa or kecamatan.
    assert single(geocoder, "Dsn. Sempu, Ds. Tegalarum")["code"] == "35.10.20.2007"
    assert outcome(geocoder, "Dusun Sempu") == ("not_found", [])


def test_repeated_desa_name_reports_every_candidate(geocoder: GazetteerGeocoder) -> None:
    resolution = geocoder.resolve("Desa Tamansari", scope=BANYUWANGI)
    assert resolution.status == "ambiguous"
    described = geocoder.describe(resolution)
    assert described["code"] is None
    assert described["alternatives"] == [
        {"code": "35.10.23.2003", "name": "Tamansari", "kecamatan": "Tegalsari"},
        {"code": "35.10.24.2008", "name": "Tamansari", "kecamatan": "Licin"},
    ]


def test_describe_a_found_address(geocoder: GazetteerGeocoder) -> None:
    described = geocoder.describe(geocoder.resolve("Desa Tamansari, Kec. Licin", scope=BANYUWANGI))
    assert described == {
        "status": "found",
        "code": "35.10.24.2008",
        "name": "Tamansari",
        "level": "desa",
        "lat": pytest.approx(-8.2, abs=0.2),
        "lon": pytest.approx(114.2, abs=0.3),
        "confidence": 0.9,
        "address": "Desa Tamansari, Kec. Licin, Kab. Banyuwangi",
        "alternatives": [{"code": "35.10.23.2003", "name": "Tamansari", "kecamatan": "Tegalsari"}],
    }


def test_a_marked_kecamatan_narrows_an_unscoped_search(geocoder: GazetteerGeocoder) -> None:
    details = single(geocoder, "Ds. Kalibaru Wetn, Kec. Kalibaru", scope=None)
    assert (details["code"], details["in_area"]) == ("35.10.11.2003", None)


def test_names_outside_the_area_are_out_of_area(geocoder: GazetteerGeocoder) -> None:
    assert outcome(geocoder, "Ds. Kemiren, Kab. Magelang") == ("out_of_area", [])
    assert outcome(geocoder, "Kel. Genteng, Kec. Genteng, Kota Surabaya") == ("out_of_area", [])


def test_a_code_outside_the_area_is_located_but_flagged(geocoder: GazetteerGeocoder) -> None:
    resolution = geocoder.resolve({"code": "35.78.07.1002"}, scope=BANYUWANGI)
    assert resolution.status == "out_of_area"
    assert [location.raw["in_area"] for location in resolution.locations] == [False]
    assert geocoder.describe(resolution)["code"] == "35.78.07.1002"


def test_in_area_is_set_only_with_a_scope(geocoder: GazetteerGeocoder) -> None:
    assert single(geocoder, "Ds. Kemiren, Kec. Glagah")["in_area"] is True
    assert single(geocoder, "Ds. Kemiren, Kec. Glagah", scope=None)["in_area"] is None


@pytest.mark.parametrize(
    "query", ["", "\U0001f600" * 50, "x" * 5_000, "Kuala Lumpur, Malaysia", {"text": None}]
)
def test_bad_input_is_not_found(geocoder: GazetteerGeocoder, query: Any) -> None:
    assert outcome(geocoder, query) == ("not_found", [])
    assert geocoder.describe(geocoder.resolve(query, scope=BANYUWANGI)) == {
        "status": "not_found",
        "code": None,
        "name": None,
        "level": None,
        "lat": None,
        "lon": None,
        "confidence": None,
        "address": None,
        "alternatives": [],
    }


def test_emoji_around_a_real_address_do_not_hide_it(geocoder: GazetteerGeocoder) -> None:
    assert (
        single(geocoder, "\U0001f3e0 Ds. Kemiren \U0001f64f, Kec. Glagah \U0001f48a")["code"]
        == "35.10.15.2004"
    )


@pytest.mark.parametrize(
    ("code", "expected"),
    [("351025", "35.10.25.2008"), ("35.10.16", "35.10.16.1007"), ("3510252008", "35.10.25.2008")],
)
def test_administrative_code_resolves_a_repeated_desa_name(
    geocoder: GazetteerGeocoder, code: str, expected: str
) -> None:
    assert single(geocoder, {"code": code, "text": "Desa Karangrejo"})["code"] == expected
