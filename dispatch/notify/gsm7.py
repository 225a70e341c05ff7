"""GSM 03.38 arithmetic, so an SMS is known to fit one segment before any gateway bills for it.

Patients pay nothing but the hospital pays per segment, and one stray character outside the GSM-7
alphabet (an emoji in a courier's name, a curly quote) silently switches the whole message to UCS-2,
cutting a segment from 160 to 70 characters. These helpers make that visible and testable.
"""

from __future__ import annotations

__all__ = ["GSM7_SINGLE_SEGMENT", "is_gsm7", "gsm7_length", "sms_segments"]

# The default alphabet, without 0x1B (ESC): ESC only introduces an extension character and is never text.
_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Reached through ESC, so each costs two septets.
_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE_SEGMENT = 160
_GSM7_MULTIPART = 153  # 7 septets of each part go to the concatenation header
_UCS2_SINGLE_SEGMENT = 70
_UCS2_MULTIPART = 67


def is_gsm7(text: str) -> bool:
    """True when every character has a GSM-7 encoding, i.e. the SMS will not fall back to UCS-2."""
    return all(char in _BASIC or char in _EXTENSION for char in text)


def gsm7_length(text: str) -> int:
    """Septets the text occupies; extension characters count two because they are sent as ESC + char.

    Raises ValueError for text that is not GSM-7: its length in septets does not exist, and returning the
    character count would hide the UCS-2 fallback this module exists to catch.
    """
    if not is_gsm7(text):
        raise ValueError("text contains characters outside the GSM 03.38 alphabet")
    return sum(2 if char in _EXTENSION else 1 for char in text)


def sms_segments(text: str) -> int:
    """Segments a handset receives (and the hospital pays for); an empty text still costs one.

    Parts are packed the way encoders do: an ESC pair and a UTF-16 surrogate pair are never split across
    two parts, so a part may end a unit short of 153 (or 67), which a plain division would miss.
    """
    if is_gsm7(text):
        units = [2 if char in _EXTENSION else 1 for char in text]
        single, multipart = GSM7_SINGLE_SEGMENT, _GSM7_MULTIPART
    else:
        units = [2 if ord(char) > 0xFFFF else 1 for char in text]
        single, multipart = _UCS2_SINGLE_SEGMENT, _UCS2_MULTIPART
    if sum(units) <= single:
        return 1
    segments, used = 1, 0
    for unit in units:
        if used + unit > multipart:
            segments, used = segments + 1, 0
        used += unit
    return segments
