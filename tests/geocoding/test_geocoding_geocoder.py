"""GazetteerGeocoder: codes, free-text Banyuwangi addresses, ambiguity, scope, garbage, geopy contract."""

from __future__ import annotations

from typing import Any

import pytest
from geopy.exc import GeocoderServiceError
from geopy.extra.rate_limiter import RateLimiter
from geopy.geocoders.base import Geocoder
from geopy.location import Location

from dispatch.geocoding import GazetteerGeocoder

BANYUWANGI = "35.10"
RAW_KEYS = {
    "code",
    "name",
    "level",
    "confidence",
    "alternatives",
    "kecamatan_code",
    "kecamatan_name",
    "postal_code",
    "centroid_fallback",
    "in_area",
}


def raw(location: Location | None) -> dict[str, Any]:
    assert location is not None
    assert isinstance(location.raw, dict)
    return location.raw


def test_is_an_offline_geopy_geocoder(geocoder: GazetteerGeocoder) -> None:
    assert isinstance(geocoder, Geocoder)
    with pytest.raises(GeocoderServiceError, match="offline"):
        geocoder.adapter.get_json("https://nominatim.openstreetmap.org/search", timeout=1, headers={})


def test_works_under_geopy_rate_limiter(geocoder: GazetteerGeocoder) -> None:
    geocode = RateLimiter(geocoder.geocode, min_delay_seconds=0)
    assert raw(geocode("Desa Kemiren, Kecamatan Glagah"))["code"] == "35.10.15.2004"


@pytest.mark.parametrize("code", ["35.10.11.2003", "35.10.16.1010", "35.10.25.2008", "35.10.01.2001"])
def test_desa_code_with_or_without_dots(
    geocoder: GazetteerGeocoder, banyuwangi_rows: list[dict[str, str]], code: str
) -> None:
    row = next(row for row in banyuwangi_rows if row["code"] == code)
    for spelling in (code, code.replace(".", "")):
        location = geocoder.geocode({"code": spelling})
        assert location is not None
        assert (location.latitude, location.longitude) == (float(row["lat"]), float(row["lon"]))
        details = raw(location)
        assert details["code"] == code
        assert details["level"] == "desa"
        assert details["confidence"] == 1.0
        assert details["postal_code"] == row["postal_code"]
        assert details["kecamatan_code"] == row["parent_code"]


def test_location_shape(geocoder: GazetteerGeocoder) -> None:
    location = geocoder.geocode({"code": "3510112003"})
    assert location is not None
    assert location.address == "Desa Kalibaruwetan, Kec. Kalibaru, Kab. Banyuwangi"
    assert raw(location) == {
        "code": "35.10.11.2003",
        "name": "Kalibaruwetan",
        "level": "desa",
        "confidence": 1.0,
        "alternatives": [],
        "kecamatan_code": "35.10.11",
        "kecamatan_name": "Kalibaru",
        "postal_code": "68467",
        "centroid_fallback": False,
        "in_area": None,
    }


def test_kelurahan_and_kota_are_labelled_as_written(geocoder: GazetteerGeocoder) -> None:
    location = geocoder.geocode({"code": "35.78.07.1002"})
    assert location is not None
    assert location.address == "Kel. Genteng, Kec. Genteng, Kota Surabaya"
    assert raw(location)["level"] == "desa"


def test_desa_code_without_centroid_uses_the_kecamatan_and_says_so(geocoder: GazetteerGeocoder) -> None:
    location = geocoder.geocode({"code": "1116062021"})
    kecamatan = geocoder.gazetteer.get("11.16.06")
    assert location is not None and kecamatan is not None
    assert (location.latitude, location.longitude) == (kecamatan.lat, kecamatan.lon)
    assert raw(location)["code"] == "11.16.06.2021"
    assert raw(location)["centroid_fallback"] is True


def test_kecamatan_code_alone(geocoder: GazetteerGeocoder) -> None:
    details = raw(geocoder.geocode({"code": "351011"}))
    assert (details["code"], details["level"], details["confidence"]) == ("35.10.11", "kecamatan", 0.6)
    assert details["postal_code"] is None


def test_kecamatan_code_with_desa_name_finds_the_desa(geocoder: GazetteerGeocoder) -> None:
    details = raw(geocoder.geocode({"code": "35.10.11", "desa": "Kalibaru Wetan"}))
    assert (details["code"], details["confidence"]) == ("35.10.11.2003", 0.9)


def test_kecamatan_code_with_unknown_desa_name_keeps_the_kecamatan(geocoder: GazetteerGeocoder) -> None:
    details = raw(geocoder.geocode({"code": "35.10.11", "desa": "Kemiren"}))  # Kemiren is in Glagah
    assert (details["code"], details["confidence"]) == ("35.10.11", 0.6)


def test_kabupaten_code_alone_and_with_names(geocoder: GazetteerGeocoder) -> None:
    details = raw(geocoder.geocode({"code": "3510"}))
    assert (details["code"], details["level"], details["confidence"]) == ("35.10", "kabupaten", 0.3)
    assert details["kecamatan_code"] is None
    assert raw(geocoder.geocode({"code": "3510", "text": "Desa Kemiren"}))["code"] == "35.10.15.2004"


@pytest.mark.parametrize("code", ["1010101", "10.10.10.1101", "35.10.99.2001", "garbage"])
def test_unusable_code_falls_back_to_the_names(geocoder: GazetteerGeocoder, code: str) -> None:
    details = raw(geocoder.geocode({"code": code, "text": "Ds. Kemiren, Kec. Glagah"}))
    assert (details["code"], details["confidence"]) == ("35.10.15.2004", 0.9)


@pytest.mark.parametrize(
    ("query", "code", "confidence"),
    [
        ("Dsn. Krajan RT 02 RW 03, Ds. Kalibaru Wetan, Kec. Kalibaru", "35.10.11.2003", 0.9),
        ("Desa Kemiren, Kecamatan Glagah, Banyuwangi", "35.10.15.2004", 0.9),
        ("Dsn. Krajan Rt. 05 Rt. 07 Ds. Genteng wetan Kec. Genteng Kab. Banyuwangi", "35.10.09.2002", 0.9),
        (
            "Jl. KH. Ahmad Dahlan / Jl. KH Imam Bahri No.10, Dusun Krajan, Genteng Wetan, Kec. Genteng, "
            "Kabupaten Banyuwangi, Jawa Timur 68465",
            "35.10.09.2002",
            0.9,
        ),
        ("Jl. Mangga Dua No 3 Genteng Wetan,  Kec Genteng", "35.10.09.2002", 0.9),
        ("Kel. Singonegaran, Kec. Banyuwangi", "35.10.16.1010", 0.9),
        ("Ds. Tamansuruh, Glagah", "35.10.15.2010", 0.9),
        ("Ds.Kemiren Glagah Banyuwangi", "35.10.15.2004", 0.9),
        ("DESA KEMIREN", "35.10.15.2004", 0.8),
        ("Kemiren, Banyuwangi", "35.10.15.2004", 0.8),
        # Desa named like their kecamatan: unmarked they need a marked kecamatan elsewhere to count as the desa.
        ("Jl. Raya Jember No. 12, Sempu, Kec. Sempu, Banyuwangi 68468", "35.10.20.2001", 0.9),
        ("Desa Glagah", "35.10.15.2006", 0.8),
        ("Sukorejo, Bangorejo", "35.10.02.2001", 0.9),
    ],
)
def test_free_text_addresses(geocoder: GazetteerGeocoder, query: str, code: str, confidence: float) -> None:
    details = raw(geocoder.geocode(query, scope=BANYUWANGI))
    assert set(details) == RAW_KEYS
    assert (details["code"], details["level"], details["confidence"]) == (code, "desa", confidence)


def test_mapping_fields_work_like_marked_text(geocoder: GazetteerGeocoder) -> None:
    query = {"desa": "Desa Kalibaruwetan", "kecamatan": "Kec. Kalibaru", "kabupaten": "Banyuwangi"}
    details = raw(geocoder.geocode(query))
    assert (details["code"], details["confidence"]) == ("35.10.11.2003", 0.9)


@pytest.mark.parametrize("desa", ["Kalibaru Wetan", "Kalibaruwetan", "KALIBARU-WETAN", "kalibaru  wetan"])
def test_spacing_variants_of_a_desa_name(geocoder: GazetteerGeocoder, desa: str) -> None:
    assert raw(geocoder.geocode(f"Ds. {desa}, Kec. Kalibaru"))["code"] == "35.10.11.2003"
    assert raw(geocoder.geocode(f"Ds. {desa}", scope=BANYUWANGI))["code"] == "35.10.11.2003"


def test_spacing_variant_the_other_way(geocoder: GazetteerGeocoder) -> None:
    # The data writes "Genteng Wetan" with a space; records also write it joined.
    assert raw(geocoder.geocode("Ds. Gentengwetan", scope=BANYUWANGI))["code"] == "35.10.09.2002"


@pytest.mark.parametrize(
    ("query", "code", "rival"),
    [
        ("Kel. Karangrejo, Kec. Banyuwangi", "35.10.16.1007", "35.10.25.2008"),
        ("Desa Karangrejo, Kec. Blimbingsari", "35.10.25.2008", "35.10.16.1007"),
    ],
)
def test_repeated_desa_name_is_resolved_by_its_kecamatan(
    geocoder: GazetteerGeocoder, query: str, code: str, rival: str
) -> None:
    details = raw(geocoder.geocode(query, scope=BANYUWANGI))
    assert (details["code"], details["confidence"], details["alternatives"]) == (code, 0.9, [rival])


def test_repeated_desa_name_without_kecamatan_is_ambiguous(geocoder: GazetteerGeocoder) -> None:
    assert geocoder.geocode("Desa Karangrejo", scope=BANYUWANGI) is None
    candidates = geocoder.geocode("Desa Karangrejo", scope=BANYUWANGI, exactly_one=False)
    assert candidates is not None
    assert {(raw(c)["code"], raw(c)["confidence"]) for c in candidates} == {
        ("35.10.16.1007", 0.4),
        ("35.10.25.2008", 0.4),
    }
    assert {raw(c)["code"]: raw(c)["alternatives"] for c in candidates} == {
        "35.10.16.1007": ["35.10.25.2008"],
        "35.10.25.2008": ["35.10.16.1007"],
    }


def test_stale_kecamatan_is_only_a_hint(geocoder: GazetteerGeocoder) -> None:
    # Kaotan moved from Rogojampi to the new Kec. Blimbingsari; old records keep Rogojampi.
    details = raw(geocoder.geocode("Desa Kaotan, Kec. Rogojampi", scope=BANYUWANGI))
    assert (details["code"], details["kecamatan_name"], details["confidence"]) == (
        "35.10.25.2002",
        "Blimbingsari",
        0.8,
    )


@pytest.mark.parametrize(
    "query",
    [
        "Kec. Glagah, Kab. Banyuwangi",
        "Kecamatan Glagah",
        "Glagah, Banyuwangi",
        "Glagah",
        "Dsn. Krajan, Kec. Glagah",
    ],
)
def test_kecamatan_only_address(geocoder: GazetteerGeocoder, query: str) -> None:
    location = geocoder.geocode(query, scope=BANYUWANGI)
    assert location is not None
    assert location.address == "Kec. Glagah, Kab. Banyuwangi"
    details = raw(location)
    assert (details["code"], details["level"], details["confidence"]) == ("35.10.15", "kecamatan", 0.5)
    assert (details["kecamatan_code"], details["postal_code"]) == ("35.10.15", None)


def test_hospital_addresses_resolve_to_their_documented_unit(
    geocoder: GazetteerGeocoder, hospital_rows: list[dict[str, str]]
) -> None:
    for row in hospital_rows:
        location = geocoder.geocode(row["address"], scope=BANYUWANGI)
        assert location is not None
        assert raw(location)["code"] == row["wilayah_code"]
        assert (location.latitude, location.longitude) == (float(row["lat"]), float(row["lon"]))


def test_dusun_never_decides_the_desa(geocoder: GazetteerGeocoder) -> None:
    assert geocoder.geocode("Dusun Krajan", scope=BANYUWANGI) is None


@pytest.mark.parametrize(
    "query",
    [
        "",
        "   ",
        ",,, ;; - ",
        "x" * 10_000,
        "Ds. Kemiren, Kec. Glagah " * 400,
        "\U0001f3e5\U0001f691\U0001f48a",
        "123 Main Street, Springfield",
        "RT 01/002 No. 5",
        "\ua9a7\ua99a\ua9b8\ua9ae\ua994\ua9b6",  # Banyuwangi in Javanese script
        "\u0628\u0627\u0646\u064a\u0648\u0627\u0646\u062c\u064a",  # and in Arabic script
        "\u6771\u4eac\u90fd",
        "Jl. Orchard Road, Singapore 238801",
        "Kuala Lumpur, Malaysia",
        "10 Downing Street, London",
        "Desa",
        "Ds. Xyzzy, Kec. Nowhere",
        "\x00\x01\x02",
        {},
        {"code": "not-a-code"},
        {"desa": 42, "kecamatan": None},
        {"text": "x" * 10_000},
        None,
        42,
        ["Kemiren"],
    ],
)
@pytest.mark.parametrize("scope", [None, BANYUWANGI])
def test_garbage_gives_none(geocoder: GazetteerGeocoder, query: Any, scope: str | None) -> None:
    assert geocoder.geocode(query, scope=scope) is None
    assert geocoder.geocode(query, scope=scope, exactly_one=False) is None


def test_scope_decides_between_namesakes(geocoder: GazetteerGeocoder) -> None:
    # Kemiren is also a desa in Kab. Magelang (33.08).
    assert geocoder.geocode("Desa Kemiren") is None
    assert raw(geocoder.geocode("Desa Kemiren", scope="3510"))["code"] == "35.10.15.2004"
    assert raw(geocoder.geocode("Desa Kemiren", scope="33.08"))["code"] == "33.08.05.2016"


def test_scope_excludes_names_outside_it(geocoder: GazetteerGeocoder) -> None:
    assert raw(geocoder.geocode("Kel. Genteng, Kec. Genteng, Kota Surabaya"))["code"] == "35.78.07.1002"
    assert geocoder.geocode("Kel. Genteng, Kec. Genteng, Kota Surabaya", scope=BANYUWANGI) is None
    assert geocoder.geocode("Ds. Kemiren, Kab. Jember", scope=BANYUWANGI) is None
    assert geocoder.geocode("Desa Kemiren", scope="35.09") is None


def test_scope_does_not_limit_codes(geocoder: GazetteerGeocoder) -> None:
    assert raw(geocoder.geocode({"code": "35.78.07.1002"}, scope=BANYUWANGI))["code"] == "35.78.07.1002"


def test_unknown_scope_is_a_configuration_error(geocoder: GazetteerGeocoder) -> None:
    with pytest.raises(ValueError, match="unknown scope"):
        geocoder.geocode("Desa Kemiren", scope="99.99")


def test_exactly_one_false_returns_a_list(geocoder: GazetteerGeocoder) -> None:
    locations = geocoder.geocode("Desa Kemiren, Kec. Glagah", exactly_one=False)
    assert locations is not None
    assert [raw(location)["code"] for location in locations] == ["35.10.15.2004"]
