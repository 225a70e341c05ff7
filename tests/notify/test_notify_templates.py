import inspect
import itertools
from typing import Any

import pytest

from dispatch.notify.gsm7 import gsm7_length, is_gsm7, sms_segments
from dispatch.notify.templates import SMS_KINDS, SMS_LANGUAGES, render_sms

TOKEN = "Xq3_vR9-kLm2Np7Ts0Ab"
LINK = "https://gancang.rsudblambangan.id/t/" + TOKEN
HOSPITAL = "RSUD Blambangan"
ALL = list(itertools.product(SMS_KINDS, SMS_LANGUAGES))
PIN_KINDS = ("released", "courier_assigned", "arriving")
COURIER_KINDS = ("courier_assigned", "arriving")
ETA_KINDS = ("courier_assigned", "picked_up", "arriving")

LONG_HOSPITAL = "Rumah Sakit Umum Daerah Prof. Dr. Margono Soekarjo Purwokerto Kabupaten Banyumas Jawa Tengah"
LONG_COURIER = "Muhammad Rizky Ananda Pratama Wijayakusuma Nugroho Setiawan Putra"
NASTY_NAMES = [
    LONG_COURIER,
    "🛵🛵🛵 Budi 🛵 Santoso 🚀✨",
    "Dũng Nguyễn Thị Ánh Tuyết Çağrı Øyvind Łukasz",
    "Budi\n\tSantoso\r\n",
    "{Budi} [Santoso] ~€~ |\\^|",
    "Zoë O’Brien “Kurir” — ΔΣ",
    "中文名字",
    "x" * 500,
    "",
]


def render(kind: str, lang: str = "id", **overrides: Any) -> str:
    arguments = {"hospital_name": HOSPITAL, "link": LINK} | overrides
    return render_sms(kind, lang=lang, **arguments)


def assert_one_gsm7_segment(text: str) -> None:
    assert is_gsm7(text), text
    assert gsm7_length(text) <= 160, (gsm7_length(text), text)
    assert sms_segments(text) == 1


def test_kinds_and_languages() -> None:
    assert SMS_KINDS == (
        "released",
        "courier_assigned",
        "picked_up",
        "arriving",
        "delivered",
        "delivery_failed",
        "no_courier",
        "cancelled",
        "needs_address",
    )
    assert SMS_LANGUAGES == ("id", "en")


def test_default_language_is_indonesian() -> None:
    assert render("released") == render("released", lang="id")
    assert render("released") != render("released", lang="en")


@pytest.mark.parametrize(("kind", "lang"), ALL)
def test_every_message_is_one_gsm7_segment_with_the_full_link_and_hospital(kind: str, lang: str) -> None:
    text = render(kind, lang, courier_name="Budi Santoso", plate="P 1234 XY", eta_minutes=25, pin="4821")
    assert_one_gsm7_segment(text)
    assert text.startswith(f"{HOSPITAL}: ")
    assert text.endswith(LINK)
    assert LINK in text


@pytest.mark.parametrize(("kind", "lang"), ALL)
def test_every_message_is_distinct_per_kind(kind: str, lang: str) -> None:
    others = {render(other, lang) for other in SMS_KINDS if other != kind}
    assert render(kind, lang) not in others


@pytest.mark.parametrize(("kind", "lang"), ALL)
def test_pathological_names_still_give_one_gsm7_segment_with_the_link(kind: str, lang: str) -> None:
    hospitals = (HOSPITAL, LONG_HOSPITAL, NASTY_NAMES[1], NASTY_NAMES[2], "x" * 500, "")
    plates = ("B 1234 XYZ", "b 1234 çé 🛵", "PLATE" * 20, None)
    for courier, hospital, plate in itertools.product(NASTY_NAMES, hospitals, plates):
        text = render(
            kind,
            lang,
            hospital_name=hospital,
            courier_name=courier,
            plate=plate,
            eta_minutes=999,
            pin="123456",
        )
        assert_one_gsm7_segment(text)
        assert text.endswith(LINK), (courier, hospital, plate)
        assert ("PIN" in text and "123456" in text) == (kind in PIN_KINDS), text


@pytest.mark.parametrize("lang", SMS_LANGUAGES)
def test_courier_assigned_names_courier_plate_and_eta(lang: str) -> None:
    text = render("courier_assigned", lang, courier_name="Budi Santoso", plate="P 1234 XY", eta_minutes=25)
    assert "Budi Santoso" in text
    assert "(P 1234 XY)" in text
    assert "25" in text
    assert text.endswith(LINK)


@pytest.mark.parametrize("lang", SMS_LANGUAGES)
def test_courier_assigned_reads_naturally_without_optional_parts(lang: str) -> None:
    text = render("courier_assigned", lang)
    assert_one_gsm7_segment(text)
    assert "()" not in text
    assert "  " not in text
    assert " ," not in text
    assert "None" not in text


def test_courier_assigned_wording() -> None:
    assert render("courier_assigned", courier_name="Budi Santoso", plate="p 1234 xy", eta_minutes=25) == (
        f"{HOSPITAL}: Kurir Budi Santoso (P 1234 XY) mengantar obat Anda, tiba 25 menit lagi. Pantau: {LINK}"
    )
    assert render("courier_assigned", "en", courier_name="Budi", plate="P 1234 XY", eta_minutes=7) == (
        f"{HOSPITAL}: Courier Budi (P 1234 XY) is bringing your medicine, ETA 7 min. Track: {LINK}"
    )


def test_eta_of_zero_reads_as_one_minute() -> None:
    assert "tiba 1 menit lagi" in render("courier_assigned", eta_minutes=0)


def test_courier_details_are_ignored_by_other_kinds() -> None:
    for kind in SMS_KINDS:
        if kind in COURIER_KINDS:
            continue
        with_courier = render(kind, courier_name="Budi Santoso", plate="P 1234 XY")
        assert with_courier == render(kind)
        assert "Budi" not in with_courier
        if kind not in ETA_KINDS:
            assert render(kind, eta_minutes=25) == render(kind)


@pytest.mark.parametrize("lang", SMS_LANGUAGES)
def test_picked_up_says_when_the_medicine_arrives(lang: str) -> None:
    assert (
        render("picked_up", lang, eta_minutes=18)
        == {
            "id": f"{HOSPITAL}: Obat Anda sudah dibawa kurir dan dalam perjalanan, tiba 18 menit lagi. Pantau: {LINK}",
            "en": f"{HOSPITAL}: Your medicine has been picked up and is on its way, ETA 18 min. Track: {LINK}",
        }[lang]
    )


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("released", "disiapkan"),
        ("courier_assigned", "Kurir"),
        ("picked_up", "perjalanan"),
        ("arriving", "menuju rumah Anda"),
        ("delivered", "konfirmasi"),
        ("delivery_failed", "gagal"),
        ("no_courier", "belum tersedia"),
        ("cancelled", "dibatalkan"),
        ("needs_address", "lokasi"),
    ],
)
def test_indonesian_wording_says_what_happened(kind: str, words: str) -> None:
    assert words in render(kind)


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("released", "prepared"),
        ("courier_assigned", "Courier"),
        ("picked_up", "on its way"),
        ("arriving", "on the way to your home"),
        ("delivered", "confirm"),
        ("delivery_failed", "pharmacy will contact you"),
        ("no_courier", "No courier"),
        ("cancelled", "contact the hospital pharmacy"),
        ("needs_address", "share"),
    ],
)
def test_english_wording_says_what_happened(kind: str, words: str) -> None:
    assert words in render(kind, "en")


def test_render_sms_has_no_parameter_for_clinical_or_address_data() -> None:
    parameters = set(inspect.signature(render_sms).parameters)
    assert parameters == {
        "kind",
        "lang",
        "hospital_name",
        "link",
        "courier_name",
        "plate",
        "eta_minutes",
        "pin",
    }


def test_names_are_transliterated_to_gsm7() -> None:
    # "è" has no GSM-7 capital, so the plate's "È" is transliterated after upper-casing.
    text = render("courier_assigned", courier_name="Dũng Nguyễn 🛵", plate="b 12 è")
    assert "Kurir Dung Nguyen (B 12 E) mengantar" in text


def test_gsm7_letters_in_names_are_kept() -> None:
    text = render("courier_assigned", hospital_name="RS Sætre", courier_name="José Muñoz")
    assert text.startswith("RS Sætre: Kurir José Muñoz mengantar")


def test_typographic_punctuation_becomes_ascii() -> None:
    text = render("courier_assigned", courier_name="O’Brien “Bo” – Jr")
    assert 'Kurir O\'Brien "Bo" - Jr mengantar' in text


def test_whitespace_and_control_characters_in_names_collapse() -> None:
    text = render(
        "courier_assigned", hospital_name=" RSUD\n Blambangan\t", courier_name="Budi\r\n\x00Santoso"
    )
    assert text.startswith("RSUD Blambangan: Kurir Budi Santoso mengantar")


def test_long_names_are_cut_with_an_ascii_ellipsis_before_anything_is_dropped() -> None:
    text = render(
        "courier_assigned", hospital_name=LONG_HOSPITAL, courier_name=LONG_COURIER, plate="B 1234 XYZ"
    )
    assert_one_gsm7_segment(text)
    assert "…" not in text
    hospital, rest = text.split(": ", 1)
    assert hospital.endswith("..")
    assert LONG_HOSPITAL.startswith(hospital.removesuffix(".."))
    assert "Kurir Muhammad" in rest
    assert ".. (B 1234 XYZ)" in rest


def test_eta_is_said_tersely_before_it_goes_and_goes_before_names_are_cut_further() -> None:
    hospital = "RSUD Dr. Saiful Anwar Malang"
    names = {"hospital_name": hospital, "courier_name": "Budi Santoso", "plate": "B 1234 XYZ"}
    without_eta = render("courier_assigned", **names)
    # Even with the hospital name cut to its first floor (24), the ETA in full would not fit.
    assert gsm7_length(without_eta) - len(hospital) + 24 + len(", tiba 5 menit lagi") > 160
    text = render("courier_assigned", **names, eta_minutes=5)
    assert_one_gsm7_segment(text)
    assert text == (
        f"RSUD Dr. Saiful Anwar Mal..: Kurir Budi Santoso (B 1234 XYZ) mengantar obat Anda, 5 menit lagi. "
        f"Pantau: {LINK}"
    )

    # Eight characters more of link and not even the terse ETA fits within the first floors: it goes.
    link = LINK + "abcdefgh"
    without_eta = render("courier_assigned", **names, link=link)
    text = render("courier_assigned", **names, link=link, eta_minutes=5)
    assert_one_gsm7_segment(text)
    assert "menit" not in text
    # Dropping the ETA freed room, so the hospital name is whole again rather than left cut.
    assert text == without_eta
    assert text.startswith(f"{hospital}: Kurir Budi Santoso (B 1234 XYZ)")


def test_a_courier_assigned_sms_keeps_the_eta_beside_the_pin_and_a_full_length_link() -> None:
    full = {"courier_name": "Budi Santoso", "plate": "P 4521 XY", "eta_minutes": 26, "pin": "0796"}
    assert render("courier_assigned", **full) == (
        f"{HOSPITAL}: Kurir Budi Santoso (P 4521 XY) mengantar obat Anda, 26 menit lagi. PIN 0796. Pantau: {LINK}"
    )
    # With room to spare, the PIN keeps its full words.
    assert render("courier_assigned", **full, link="https://g.id/t/" + TOKEN) == (
        f"{HOSPITAL}: Kurir Budi Santoso (P 4521 XY) mengantar obat Anda, tiba 26 menit lagi. "
        f"PIN serah terima: 0796. Pantau: https://g.id/t/{TOKEN}"
    )


def test_plate_outlives_the_courier_name() -> None:
    link = "https://gancang.example.id/t/" + "a" * 80
    text = render("courier_assigned", link=link, courier_name=LONG_COURIER, plate="B 1234 XYZ", eta_minutes=5)
    assert_one_gsm7_segment(text)
    assert "(B 1234 XYZ)" in text
    assert "Muhammad" not in text


def test_a_long_link_falls_back_to_the_short_wording() -> None:
    link = "https://gancang.example.id/t/" + "a" * 90
    text = render("delivery_failed", link=link)
    assert text == f"{HOSPITAL}: Pengantaran gagal: {link}"


def test_the_hospital_name_goes_only_when_the_short_wording_alone_does_not_fit() -> None:
    link = "https://x.id/t/" + "a" * 120
    assert render("delivery_failed", "en", link=link) == f"Delivery failed: {link}"


def test_extension_characters_in_the_link_count_twice() -> None:
    link = "https://x.id/~p/" + "a" * 110
    text = render("delivered", link=link)
    assert_one_gsm7_segment(text)
    assert text.endswith(link)


@pytest.mark.parametrize(("kind", "lang"), ALL)
def test_a_link_that_leaves_no_room_is_an_error(kind: str, lang: str) -> None:
    link = "https://x.id/t/" + "a" * 145
    with pytest.raises(ValueError, match="no room"):
        render(kind, lang, link=link)


@pytest.mark.parametrize("link", ["", "https://x.id/t/é🛵", "https://x.id/t/a b", "https://x.id/t/ab\n"])
def test_an_unusable_link_is_an_error(link: str) -> None:
    with pytest.raises(ValueError, match="link"):
        render("released", link=link)


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown SMS kind 'shipped'"):
        render("shipped")


@pytest.mark.parametrize("lang", ["jv", "ID", "id-ID", ""])
def test_unknown_language_is_an_error(lang: str) -> None:
    with pytest.raises(ValueError, match="unknown SMS language"):
        render("released", lang)


def test_negative_eta_is_an_error() -> None:
    with pytest.raises(ValueError, match="eta_minutes"):
        render("courier_assigned", eta_minutes=-1)


def test_released_carries_the_handover_pin_in_both_languages() -> None:
    assert render("released", pin="4821") == (
        f"{HOSPITAL}: Obat Anda sedang disiapkan untuk diantar ke rumah. PIN serah terima: 4821. Pantau: {LINK}"
    )
    assert render("released", "en", pin="4821") == (
        f"{HOSPITAL}: Your medicine is being prepared for home delivery. Handover PIN: 4821. Track: {LINK}"
    )


def test_arriving_names_the_courier_and_the_pin() -> None:
    assert render("arriving", courier_name="Budi", plate="P 1234 XY", pin="4821") == (
        f"{HOSPITAL}: Kurir Budi (P 1234 XY) sedang menuju rumah Anda. PIN serah terima: 4821. Pantau: {LINK}"
    )


@pytest.mark.parametrize("kind", PIN_KINDS)
def test_the_pin_outlives_names_and_the_long_wording(kind: str) -> None:
    """With a long link only the short wording fits, and the PIN is still in it."""
    link = "https://gancang.example-hospital-with-a-long-domain.go.id/track/" + TOKEN * 3
    text = render(kind, link=link, hospital_name=LONG_HOSPITAL, courier_name=LONG_COURIER, pin="482193")
    assert_one_gsm7_segment(text)
    assert ", PIN 482193: " in text
    assert text.endswith(link)


@pytest.mark.parametrize("kind", [kind for kind in SMS_KINDS if kind not in PIN_KINDS])
def test_the_pin_stays_out_of_messages_after_the_handover_starts(kind: str) -> None:
    assert render(kind, pin="4821") == render(kind)


@pytest.mark.parametrize("pin", ["123", "1234567", "12a4", " 1234", ""])
def test_a_pin_that_is_not_4_to_6_digits_is_an_error(pin: str) -> None:
    with pytest.raises(ValueError, match="pin must be 4 to 6 digits"):
        render("released", pin=pin)
