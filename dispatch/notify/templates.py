"""Patient SMS texts, in Bahasa Indonesia by default and in English, that always fit one GSM-7 segment.

Four rules shape this module:

* Privacy: an SMS can be read by anyone holding the phone, often a shared family handset. The texts name
  the hospital and, for a courier, who is coming; they never carry drug names, diagnoses or addresses, and
  :func:`render_sms` has no parameter through which one could arrive.
* Cost and legibility: one character outside GSM-7 turns the message into UCS-2 (70 characters a
  segment) and basic feature phones may show it as boxes, so names are transliterated to GSM-7.
* One segment: a message never exceeds 160 septets. When names are long, the optional parts give way in a
  fixed order (see ``_FALLBACKS``) instead of the message spilling into a second, separately billed
  segment that older handsets show as a separate message. Only a link too long to leave room for even the
  short wording is an error.
* The handover PIN travels in the messages that lead up to the door ("released", "courier_assigned",
  "arriving"): the patient tells it to the driver, so, like the link, it is never dropped to make room.

Every message carries the tracking link, "cancelled" and "no_courier" included, so the patient always has
one place to check what is happening now rather than an SMS that may already be out of date.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from itertools import accumulate, takewhile
from typing import Final

from dispatch.notify.gsm7 import GSM7_SINGLE_SEGMENT, gsm7_length, is_gsm7

__all__ = ["SMS_KINDS", "SMS_LANGUAGES", "render_sms"]

SMS_KINDS: Final = (
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
SMS_LANGUAGES: Final = ("id", "en")


@dataclass(frozen=True)
class _Wording:
    """``full`` is what patients normally get; ``short`` is the fallback that still says what happened."""

    full: str
    short: str


# Placeholders: {courier} and {plate} arrive with their leading space / brackets, {eta} with its comma,
# {pin} with its words (see _PIN), each empty when absent, so a body reads naturally with any subset.
_WORDING: Final[dict[str, dict[str, _Wording]]] = {
    "id": {
        "released": _Wording(
            "Obat Anda sedang disiapkan untuk diantar ke rumah.{pin} Pantau: {link}",
            "Obat disiapkan{pin}: {link}",
        ),
        "courier_assigned": _Wording(
            "Kurir{courier}{plate} mengantar obat Anda{eta}.{pin} Pantau: {link}",
            "Kurir{plate} ditugaskan{pin}: {link}",
        ),
        "picked_up": _Wording(
            "Obat Anda sudah dibawa kurir dan dalam perjalanan{eta}. Pantau: {link}",
            "Obat dalam perjalanan: {link}",
        ),
        "arriving": _Wording(
            "Kurir{courier}{plate} sedang menuju rumah Anda{eta}.{pin} Pantau: {link}",
            "Kurir segera tiba{pin}: {link}",
        ),
        "delivered": _Wording(
            "Obat Anda sudah diantar. Mohon konfirmasi penerimaan di {link}",
            "Obat tiba, mohon konfirmasi: {link}",
        ),
        "delivery_failed": _Wording(
            "Pengantaran obat gagal. Farmasi akan menghubungi Anda untuk kirim ulang. Info: {link}",
            "Pengantaran gagal: {link}",
        ),
        "no_courier": _Wording(
            "Kurir belum tersedia. Petugas farmasi sedang mengaturnya. Info: {link}",
            "Kurir belum tersedia: {link}",
        ),
        "cancelled": _Wording(
            "Pengantaran obat Anda dibatalkan. Silakan hubungi farmasi rumah sakit. Info: {link}",
            "Pengantaran batal: {link}",
        ),
        "needs_address": _Wording(
            "Kami perlu lokasi rumah Anda untuk mengantar obat. Mohon bagikan di {link}",
            "Bagikan lokasi Anda: {link}",
        ),
    },
    "en": {
        "released": _Wording(
            "Your medicine is being prepared for home delivery.{pin} Track: {link}",
            "Medicine being prepared{pin}: {link}",
        ),
        "courier_assigned": _Wording(
            "Courier{courier}{plate} is bringing your medicine{eta}.{pin} Track: {link}",
            "Courier{plate} assigned{pin}: {link}",
        ),
        "picked_up": _Wording(
            "Your medicine has been picked up and is on its way{eta}. Track: {link}",
            "Medicine on its way: {link}",
        ),
        "arriving": _Wording(
            "Courier{courier}{plate} is on the way to your home{eta}.{pin} Track: {link}",
            "Courier arriving soon{pin}: {link}",
        ),
        "delivered": _Wording(
            "Your medicine has been delivered. Please confirm receipt at {link}",
            "Delivered, please confirm: {link}",
        ),
        "delivery_failed": _Wording(
            "Delivery failed. The pharmacy will contact you to send it again. Info: {link}",
            "Delivery failed: {link}",
        ),
        "no_courier": _Wording(
            "No courier available yet. Pharmacy staff are arranging one. Info: {link}",
            "No courier yet: {link}",
        ),
        "cancelled": _Wording(
            "Your medicine delivery was cancelled. Please contact the hospital pharmacy. Info: {link}",
            "Delivery cancelled: {link}",
        ),
        "needs_address": _Wording(
            "We need your home location to deliver your medicine. Please share it at {link}",
            "Share your location: {link}",
        ),
    },
}
_ETA: Final = {"id": ", tiba {minutes} menit lagi", "en": ", ETA {minutes} min"}
# The ETA and the PIN said tersely, so that a message with both still fits beside a full-length link.
_ETA_COMPACT: Final = {"id": ", {minutes} menit lagi", "en": ", ETA {minutes} min"}
# The PIN's words in the full wording, in the compact one, then in the short one.
_PIN: Final = {
    "id": (" PIN serah terima: {pin}.", " PIN {pin}.", ", PIN {pin}"),
    "en": (" Handover PIN: {pin}.", " PIN {pin}.", ", PIN {pin}"),
}
_PIN_SHAPE: Final = re.compile(r"[0-9]{4,6}")  # \d would take "٠١٢٣", which GSM-7 cannot send

# Typographic punctuation that phone keyboards autocorrect to and that NFKD leaves alone.
_PUNCTUATION: Final = str.maketrans(
    {"‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "–": "-", "—": "-"}
)
_ELLIPSIS: Final = ".."


def render_sms(
    kind: str,
    *,
    lang: str = "id",
    hospital_name: str,
    link: str,
    courier_name: str | None = None,
    plate: str | None = None,
    eta_minutes: int | None = None,
    pin: str | None = None,
) -> str:
    """The SMS for ``kind``, GSM-7 and at most 160 septets.

    Courier details only appear in "courier_assigned" and "arriving", the ETA in those and "picked_up", the
    PIN in "courier_assigned", "arriving" and "released"; other kinds ignore them so a caller can pass one
    context for every kind. Raises ValueError for an unknown kind or language, a negative ETA, a PIN that is
    not 4 to 6 digits, and a link that is empty, not GSM-7, contains whitespace, or is too long to fit beside
    the short wording.
    """
    if kind not in SMS_KINDS:
        raise ValueError(f"unknown SMS kind {kind!r}; expected one of {', '.join(SMS_KINDS)}")
    if lang not in SMS_LANGUAGES:
        raise ValueError(f"unknown SMS language {lang!r}; expected one of {', '.join(SMS_LANGUAGES)}")
    if not link or not is_gsm7(link) or any(char.isspace() for char in link):
        raise ValueError("link must be a non-empty GSM-7 URL without whitespace")
    if eta_minutes is not None and eta_minutes < 0:
        raise ValueError("eta_minutes must not be negative")
    if pin is not None and not _PIN_SHAPE.fullmatch(pin):
        raise ValueError("pin must be 4 to 6 digits")
    wording = _WORDING[lang][kind]
    pin_full, pin_compact, pin_short = _PIN[lang]
    minutes = None if eta_minutes is None else max(1, eta_minutes)
    draft = _Draft(
        body=wording.full,
        short=wording.short,
        link=link,
        hospital=_to_gsm7(hospital_name),
        courier=_to_gsm7(courier_name or ""),
        plate=_to_gsm7((plate or "").upper()),
        # A courier about to arrive is "1 minute away", not "0 minutes".
        eta="" if minutes is None else _ETA[lang].format(minutes=minutes),
        eta_compact="" if minutes is None else _ETA_COMPACT[lang].format(minutes=minutes),
        pin="" if pin is None else pin_full.format(pin=pin),
        pin_compact="" if pin is None else pin_compact.format(pin=pin),
        pin_short="" if pin is None else pin_short.format(pin=pin),
    )
    for fallback in _FALLBACKS:
        text = _fit(draft, fallback)
        if text is not None:
            return text
    raise ValueError(
        f"a {gsm7_length(link)}-septet link leaves no room for the {kind!r} SMS within {GSM7_SINGLE_SEGMENT}"
    )


def _to_gsm7(value: str) -> str:
    """``value`` reduced to GSM-7 on one line: "Dũng Nguyễn 🛵" becomes "Dung Nguyen".

    Characters GSM-7 already has (é, ñ, Ø) are kept; others are decomposed with NFKD and their GSM-7
    parts kept, which strips accents; what has no GSM-7 form at all (emoji, CJK) is dropped.
    """
    kept: list[str] = []
    for char in value.translate(_PUNCTUATION):
        if char.isspace():
            kept.append(" ")
        elif is_gsm7(char):
            kept.append(char)
        else:
            kept.extend(
                part for part in unicodedata.normalize("NFKD", char) if is_gsm7(part) and not part.isspace()
            )
    return " ".join("".join(kept).split())


@dataclass(frozen=True)
class _Draft:
    body: str
    short: str
    link: str
    hospital: str
    courier: str
    plate: str
    eta: str
    eta_compact: str
    pin: str
    pin_compact: str
    pin_short: str

    def render(self) -> str:
        prefix = f"{self.hospital}: " if self.hospital else ""
        return prefix + self.body.format(
            link=self.link,
            courier=f" {self.courier}" if self.courier else "",
            plate=f" ({self.plate})" if self.plate else "",
            eta=self.eta,
            pin=self.pin,
        )


def _truncate(value: str, limit: int) -> str:
    """``value`` cut to ``limit`` septets with a ".." marking the cut, so a reader knows it is partial."""
    if gsm7_length(value) <= limit:
        return value
    running = accumulate(gsm7_length(char) for char in value)
    kept = sum(1 for _ in takewhile(lambda total: total <= limit - len(_ELLIPSIS), running))
    cut = value[:kept].rstrip(" .,-")
    return cut + _ELLIPSIS if cut else ""


@dataclass(frozen=True)
class _Fallback:
    """One way to say the message: the optional parts it leaves out, then which names may be cut how far.

    A fallback always starts again from the full names, so cutting a name for the ETA's sake in one
    fallback does not leave it cut in the next one, which no longer has the ETA.
    """

    drop: frozenset[str] = frozenset()
    compact: bool = False
    short: bool = False
    cuts: tuple[tuple[str, int], ...] = ()


# Tried in order, first fit wins. Names are first cut only to a still recognisable length; then the ETA and
# the PIN are said tersely (the "released" SMS already said what the PIN is for), which keeps the ETA in a
# "courier assigned" message beside a full-length link; the ETA goes before a name is cut further because
# it is only an estimate. The courier's name goes before the plate, which is what the patient checks at the
# door. The hospital name tells the patient the SMS is genuine, so it goes only once the short wording alone
# does not fit.
_FALLBACKS: Final = (
    _Fallback(cuts=(("courier", 16), ("hospital", 24))),
    _Fallback(compact=True, cuts=(("courier", 16), ("hospital", 24))),
    _Fallback(
        drop=frozenset({"eta"}), cuts=(("courier", 16), ("hospital", 24), ("courier", 8), ("hospital", 12))
    ),
    _Fallback(drop=frozenset({"eta", "courier"}), cuts=(("hospital", 12),)),
    _Fallback(drop=frozenset({"eta", "courier"}), short=True, cuts=(("hospital", 12),)),
    _Fallback(drop=frozenset({"eta", "courier", "hospital"}), short=True),
    _Fallback(drop=frozenset({"eta", "courier", "hospital", "plate"}), short=True),
)


def _fit(draft: _Draft, fallback: _Fallback) -> str | None:
    """The text ``fallback`` makes of ``draft`` if it fits one segment, cutting names only as needed."""
    if fallback.compact:
        draft = replace(draft, eta=draft.eta_compact, pin=draft.pin_compact)
    if fallback.short:
        draft = replace(draft, body=draft.short, pin=draft.pin_short)
    draft = replace(draft, **dict.fromkeys(fallback.drop, ""))
    text = draft.render()
    for field, floor in fallback.cuts:
        overflow = gsm7_length(text) - GSM7_SINGLE_SEGMENT
        if overflow <= 0:
            break
        value: str = getattr(draft, field)
        draft = replace(draft, **{field: _truncate(value, max(floor, gsm7_length(value) - overflow))})
        text = draft.render()
    return text if gsm7_length(text) <= GSM7_SINGLE_SEGMENT else None
