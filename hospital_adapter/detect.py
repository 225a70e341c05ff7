"""Tell a file's format from its content, not its name: hospital exports are often misnamed."""

from __future__ import annotations

MLLP_START = b"\x0b"
BOMS = (b"\xef\xbb\xbf",)


def detect_source(raw: bytes) -> str:
    """``fhir`` for JSON, ``hl7v2`` for an MSH-led message (MLLP framing allowed), else ``csv``."""
    head = raw[:64]
    for bom in BOMS:
        head = head.removeprefix(bom)
    head = head.lstrip(MLLP_START + b" \t\r\n")
    if head.startswith((b"{", b"[")):
        return "fhir"
    if head.startswith(b"MSH") or head.startswith(b"FHS") or head.startswith(b"BHS"):
        return "hl7v2"
    return "csv"
