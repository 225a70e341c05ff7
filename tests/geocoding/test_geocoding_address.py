"""The address parser on its own: markers, RT/RW spellings, numbers, postal codes, landmarks, noise."""

from __future__ import annotations

import pytest

from dispatch.geocoding import Address, PlaceName, parse_address


@pytest.mark.parametrize(
    ("text", "rt", "rw"),
    [
        ("RT 02 RW 03", "2", "3"),
        ("RT.002/RW.003", "2", "3"),
        ("RT/RW 02/03", "2", "3"),
        ("RT/RW: 002/003", "2", "3"),
        ("RT 01/002", "1", "2"),
        ("RT 05/RW 08", "5", "8"),
        ("rt02/rw03", "2", "3"),
        ("RT: 2, RW: 3", "2", "3"),
        ("Rt. 05 Rt. 07", "5", "7"),  # RW written as a second RT [GH4]
        ("RW 03 RT 02", "2", "3"),
        ("RT 5", "5", None),
        ("RW.4", None, "4"),
    ],
)
def test_rt_rw_in_every_common_form(text: str, rt: str | None, rw: str | None) -> None:
    address = parse_address(f"Dsn. Krajan {text} Ds. Kemiren")
    assert (address.rt, address.rw) == (rt, rw)
    assert address.dusun == "Krajan"
    assert address.places == (PlaceName("desa", ("kemiren",)),)


def test_full_address_from_a_banyuwangi_school_site() -> None:
    address = parse_address(
        "Jl. KH. Ahmad Dahlan / Jl. KH Imam Bahri No.10, Dusun Krajan, Genteng Wetan, Kec. Genteng, "
        "Kabupaten Banyuwangi, Jawa Timur 68465"
    )
    assert address == Address(
        street="KH. Ahmad Dahlan",
        number="10",
        dusun="Krajan",
        kecamatan="Genteng",
        kabupaten="Banyuwangi",
        postal_code="68465",
        places=(
            PlaceName(None, ("genteng", "wetan")),
            PlaceName("kecamatan", ("genteng",)),
            PlaceName("kabupaten", ("banyuwangi",)),
            PlaceName(None, ("jawa", "timur")),
        ),
    )


def test_address_without_commas() -> None:
    address = parse_address("Dsn. Krajan Rt. 05 Rt. 07 Ds. Genteng wetan Kec. Genteng Kab. Banyuwangi")
    assert (address.dusun, address.desa, address.kecamatan, address.kabupaten) == (
        "Krajan",
        "Genteng wetan",
        "Genteng",
        "Banyuwangi",
    )


@pytest.mark.parametrize(
    ("text", "street", "number"),
    [
        ("Jl. Letkol. Istiqlah No. 49", "Letkol. Istiqlah", "49"),
        ("Jln. Ahmad Yani 45", "Ahmad Yani", "45"),
        ("JALAN Raya Rogojampi Nomor 12A", "Raya Rogojampi", "12A"),
        ("Jl.Mangga Dua No.3", "Mangga Dua", "3"),
        ("Jl. 17 Agustus No. 5", "17 Agustus", "5"),
    ],
)
def test_street_and_house_number(text: str, street: str, number: str) -> None:
    address = parse_address(text)
    assert (address.street, address.number, address.places) == (street, number, ())


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("Gg. Mawar II", "gang", "Mawar II"),
        ("Gang Melati", "gang", "Melati"),
        ("Dsn. Krajan", "dusun", "Krajan"),
        ("Dusun Kepeg Satu", "dusun", "Kepeg Satu"),
        ("Dukuh Sumberejo", "dusun", "Sumberejo"),
        ("Ds. Kemiren", "desa", "Kemiren"),
        ("Desa Kalibaru Wetan", "desa", "Kalibaru Wetan"),
        ("Kel. Singonegaran", "desa", "Singonegaran"),
        ("Kelurahan Karangrejo", "desa", "Karangrejo"),
        ("Kec. Glagah", "kecamatan", "Glagah"),
        ("Kecamatan Blimbingsari", "kecamatan", "Blimbingsari"),
        ("Kab. Banyuwangi", "kabupaten", "Banyuwangi"),
        ("Kabupaten Banyuwangi", "kabupaten", "Banyuwangi"),
        ("Kota Surabaya", "kabupaten", "Surabaya"),
    ],
)
def test_marker_words(text: str, field: str, value: str) -> None:
    assert getattr(parse_address(text), field) == value


def test_dusun_and_street_never_become_place_names() -> None:
    # "Sukorejo" is a desa in Kec. Bangorejo too; here it is only the hamlet and the street.
    address = parse_address("Jl. Sukorejo, Dsn. Sukorejo, Ds. Kemiren")
    assert address.places == (PlaceName("desa", ("kemiren",)),)


@pytest.mark.parametrize(
    ("text", "landmarks", "places"),
    [
        (
            "dekat masjid Al-Ikhlas, Ds. Kemiren",
            ("dekat masjid Al-Ikhlas",),
            (PlaceName("desa", ("kemiren",)),),
        ),
        ("belakang SDN 1 Olehsari", ("belakang SDN 1 Olehsari",), ()),
        ("Depan Indomaret Ds. Kemiren", ("Depan Indomaret",), (PlaceName("desa", ("kemiren",)),)),
        ("sebelah balai desa, seberang pasar", ("sebelah balai desa", "seberang pasar"), ()),
        ("depan Kantor Desa Olehsari", ("depan Kantor Desa Olehsari",), ()),
    ],
)
def test_landmarks_are_kept_and_not_read_as_places(
    text: str, landmarks: tuple[str, ...], places: tuple[PlaceName, ...]
) -> None:
    address = parse_address(text)
    assert (address.landmarks, address.places) == (landmarks, places)


@pytest.mark.parametrize(
    ("text", "postal_code", "number"),
    [
        ("Kemiren, Glagah 68432", "68432", None),
        ("Kemiren 68432 Banyuwangi 68411", "68411", None),
        ("Jl. Raya No. 12345", None, "12345"),
        ("Kemiren, HP 081234567890", None, None),
        ("Kemiren 01234", None, None),
    ],
)
def test_postal_code(text: str, postal_code: str | None, number: str | None) -> None:
    address = parse_address(text)
    assert (address.postal_code, address.number) == (postal_code, number)


@pytest.mark.parametrize(
    "text",
    [
        "ds.kemiren,kec.glagah",
        "DS. KEMIREN  KEC. GLAGAH",
        "Ds Kemiren ; Kec Glagah",
        "Ds.Kemiren - Kec.Glagah",
        "\uff24\uff53\uff0e\uff2b\uff45\uff4d\uff49\uff52\uff45\uff4e\u3000\uff2b\uff45\uff43\uff0e\uff27\uff4c\uff41\uff47\uff41\uff48",
    ],
)
def test_case_punctuation_spacing_and_fullwidth_noise(text: str) -> None:
    assert parse_address(text).places == (
        PlaceName("desa", ("kemiren",)),
        PlaceName("kecamatan", ("glagah",)),
    )


def test_a_name_that_starts_with_a_marker_word() -> None:
    assert parse_address("Ds. Kota Baru").places == (PlaceName("desa", ("kota", "baru")),)
    assert parse_address("Kec. Glagah", field="kecamatan").places == (PlaceName("kecamatan", ("glagah",)),)
    assert parse_address("Kota Baru", field="desa").desa == "Kota Baru"


@pytest.mark.parametrize(
    "text", ["", "   ", ",,, ;; - ", "\U0001f3e5\U0001f691\U0001f48a", "\x00\x01\x02", "...", "RT/RW"]
)
def test_nothing_to_read_gives_an_empty_address(text: str) -> None:
    assert parse_address(text) == Address()


@pytest.mark.parametrize(
    "text",
    [
        "\ua9a7\ua99a\ua9b8\ua9ae\ua994\ua9b6",
        "\u6771\u4eac\u90fd",
        "\u0628\u0627\u0646\u064a\u0648\u0627\u0646\u062c\u064a",
    ],
)
def test_non_latin_words_are_unmarked_places_for_the_gazetteer_to_reject(text: str) -> None:
    address = parse_address(text)
    assert address.places
    assert all(place.role is None for place in address.places)
    assert address == Address(places=address.places)
