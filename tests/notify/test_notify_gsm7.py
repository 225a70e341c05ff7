import pytest

from dispatch.notify.gsm7 import GSM7_SINGLE_SEGMENT, gsm7_length, is_gsm7, sms_segments


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Obat Anda sedang disiapkan. https://gancang.rsudblambangan.id/t/abc_DEF-123",
        "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà",
        "line one\nline two\r",
        "€[]{}~^\\|",
    ],
)
def test_gsm7_text(text: str) -> None:
    assert is_gsm7(text)


@pytest.mark.parametrize(
    "text",
    ["José ç", "Budi 🛵", "Dũng", "‘curly’", "“quotes”", "…", "\t", "\x1b", "中文", "Ä\u0308"],
)
def test_non_gsm7_text(text: str) -> None:
    assert not is_gsm7(text)


@pytest.mark.parametrize(
    ("text", "septets"),
    [
        ("", 0),
        ("abc", 3),
        ("éÉ@£", 4),
        ("€", 2),
        ("[]{}~^\\|", 16),
        ("\f", 2),
        ("a€b", 4),
    ],
)
def test_gsm7_length_counts_extension_characters_twice(text: str, septets: int) -> None:
    assert gsm7_length(text) == septets


def test_gsm7_length_refuses_text_that_would_be_sent_as_ucs2() -> None:
    with pytest.raises(ValueError, match="GSM 03.38"):
        gsm7_length("Budi 🛵")


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),
        ("€" * 81, 2),
        ("a" * 159 + "€", 2),
        # 152 plain septets leave one free in the first part; the ESC pair moves whole into the second.
        ("a" * 152 + "€" + "a" * 152, 3),
        ("ä" * 70, 1),
        ("ç" * 70, 1),
        ("ç" * 71, 2),
        ("ç" * 134, 2),
        ("ç" * 135, 3),
        # One emoji is two UTF-16 units: 69 + 2 overflows a single UCS-2 segment.
        ("a" * 68 + "🛵", 1),
        ("a" * 69 + "🛵", 2),
        ("a" * 66 + "🛵" + "a" * 66, 3),
    ],
)
def test_sms_segments(text: str, segments: int) -> None:
    assert sms_segments(text) == segments


def test_one_non_gsm_character_switches_the_whole_message_to_ucs2() -> None:
    text = "a" * 100
    assert sms_segments(text) == 1
    assert sms_segments(text + "’") == 2


def test_single_segment_limit_is_160() -> None:
    assert GSM7_SINGLE_SEGMENT == 160
