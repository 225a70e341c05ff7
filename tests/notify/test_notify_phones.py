import re

import pytest

from dispatch.notify.phones import mask_phone, normalize_id_phone


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("0812-3456-789", "+628123456789"),
        ("+62 812 3456 789", "+628123456789"),
        ("628123456789", "+628123456789"),
        ("8123456789", "+628123456789"),
        ("812 3456 7890", "+6281234567890"),
        ("HP: 0812 3456 7890 (anak)", "+6281234567890"),
        ("(+62) 812-3456-789", "+628123456789"),
        ("+62 0812 3456 789", "+628123456789"),
        ("0812.3456.789", "+628123456789"),
        ("  081234567890\n", "+6281234567890"),
        ("０８１２３４５６７８９", "+628123456789"),
        ("+6285712345678", "+6285712345678"),
        ("Telp. 0812-3456-789 / 0813-1111-2222", "+628123456789"),
        # Free text with a landline first: the mobile is the one that can receive the SMS.
        ("021-5794-2345 atau 0812 3456 7890", "+6281234567890"),
    ],
)
def test_accepts_indonesian_mobiles_as_typed_at_registration(raw: str, e164: str) -> None:
    assert normalize_id_phone(raw) == e164


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "12",
        "abc",
        "0812345",
        "081234567890123",
        "-",
        # Landlines are valid numbers but cannot receive SMS, so they are rejected on purpose.
        "021 5794 2345",
        "+62 21 5794 2345",
        "(0333) 421118",
        # Valid mobiles of other countries are not Indonesian patients' numbers.
        "+1 650 253 0000",
        "+60 12-345 6789",
        # A bare national number is only recognised when it is the whole input.
        "HP: 812 3456 789",
        # Letters must not be read as a vanity number.
        "0812 34 anak",
    ],
)
def test_rejects_everything_else(raw: str) -> None:
    assert normalize_id_phone(raw) is None


def test_result_is_e164() -> None:
    e164 = normalize_id_phone("0812-3456-789")
    assert e164 is not None
    assert re.fullmatch(r"\+628\d{8,11}", e164)


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        ("+628123456789", "+62 812-****-789"),
        ("+6281234567890", "+62 812-****-890"),
        ("+6285712345678", "+62 857-****-678"),
        ("+622157942345", "+62 ****-345"),
        ("+16502530000", "+1 ****-000"),
    ],
)
def test_mask_phone(e164: str, masked: str) -> None:
    assert mask_phone(e164) == masked


@pytest.mark.parametrize("e164", ["+628123456789", "+6281234567890", "+62812345678901", "+6281212345"])
def test_mask_reveals_at_most_the_last_three_subscriber_digits(e164: str) -> None:
    masked = mask_phone(e164)
    subscriber = masked.removeprefix("+62 ").split("-", 1)[1]
    assert len(re.findall(r"\d", subscriber)) <= 3
    # The mask has a fixed width, so it does not reveal how long the number is either.
    assert "****" in masked
    assert "*****" not in masked


def test_mask_hides_the_tail_when_too_few_digits_would_stay_hidden() -> None:
    assert mask_phone("+628123456") == "+62 812-****"


@pytest.mark.parametrize("garbage", ["", "garbage", "08123456789", "+"])
def test_mask_never_raises_and_reveals_nothing_for_garbage(garbage: str) -> None:
    assert mask_phone(garbage) == "****"
