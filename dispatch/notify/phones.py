"""Indonesian patient phone numbers: from whatever the registration desk typed to E.164, and back out masked.

Hospital records hold numbers as typed: "0812-3456-789", "+62 812…", "62812…", a bare "812…", or free text
such as "HP: 0812 3456 7890 (anak)". Only mobiles are accepted, because the number is used for one thing:
sending an SMS, and an Indonesian landline cannot receive one. Rejecting early lets staff fix the record
while the patient is still at the counter instead of discovering a silent non-delivery later.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

__all__ = ["normalize_id_phone", "mask_phone"]

_REGION = "ID"
_INDONESIA = 62
_SMS_CAPABLE = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
# Only digits and punctuation: letters would be read as a vanity number ("anak" -> 2625) by a plain parse.
_BARE_NUMBER = re.compile(r"[\d\s().+/-]+")
_REVEALED_TAIL = 3
_OPERATOR_PREFIX = 3  # 8xx: identifies the operator, not the subscriber
_MIN_HIDDEN = 3


def normalize_id_phone(raw: str) -> str | None:
    """E.164 ("+62812…") for a valid Indonesian mobile found in ``raw``, otherwise None.

    The first valid mobile in free text wins, so "021-5794-2345 atau 0812 3456 7890" yields the mobile.
    A bare national number without the trunk 0 ("812…") is what the number matcher cannot see in prose,
    so it is only accepted when the whole input is the number.
    """
    for match in phonenumbers.PhoneNumberMatcher(raw, _REGION):
        if _is_id_mobile(match.number):
            return phonenumbers.format_number(match.number, PhoneNumberFormat.E164)
    if not _BARE_NUMBER.fullmatch(raw.strip()):
        return None
    try:
        number = phonenumbers.parse(raw, _REGION)
    except NumberParseException:
        return None
    if not _is_id_mobile(number):
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def _is_id_mobile(number: phonenumbers.PhoneNumber) -> bool:
    return (
        number.country_code == _INDONESIA
        and phonenumbers.is_valid_number(number)
        and phonenumbers.number_type(number) in _SMS_CAPABLE
    )


def mask_phone(e164: str) -> str:
    """A phone number fit for logs and staff screens: "+62 812-****-789".

    Staff need to tell "is this the number the patient gave?" without the number itself ending up in log
    files. The country code and the 3-digit Indonesian operator prefix say nothing about the subscriber;
    beyond them only the last 3 digits show, and the mask has a fixed width so it does not leak the length.
    Anything unparseable masks completely rather than raising, because masking runs on error paths.
    """
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return "****"
    national = phonenumbers.national_significant_number(number)
    operator = ""
    if number.country_code == _INDONESIA and national.startswith("8"):
        operator = national[:_OPERATOR_PREFIX]
    head = f"+{number.country_code} {operator}-" if operator else f"+{number.country_code} "
    # On a short number prefix + tail would reveal most of it, so the tail is only shown when enough hides.
    hidden = len(national) - len(operator) - _REVEALED_TAIL
    tail = f"-{national[-_REVEALED_TAIL:]}" if hidden >= _MIN_HIDDEN else ""
    return f"{head}****{tail}"
