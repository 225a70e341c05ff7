"""HL7 v2 acknowledgements (original mode ACK), built even for a message whose MSH cannot be read.

The inbound MSH is read by hand (not with python-hl7), so a message python-hl7 refuses still gets an ACK
that echoes its control id when the MSH line itself is intact.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from hospital_adapter.canonical import SourceInputError

AckCode = Literal["AA", "AE", "AR"]
OUR_APPLICATION = "GANCANG"
DEFAULT_VERSION = "2.5"
ENCODING = "^~\\&"

# HL7 table 0357 (message error condition codes).
ERROR_CODES: dict[str, tuple[str, str]] = {
    "required": ("101", "Required field missing"),
    "structure": ("100", "Segment sequence error"),
    "invalid": ("103", "Table value not found"),
    "value": ("102", "Data type error"),
    "too-long": ("102", "Data type error"),
    "not-supported": ("200", "Unsupported message type"),
    "login": ("204", "Unknown key identifier"),
    "exception": ("207", "Application internal error"),
}


@dataclass(frozen=True)
class InboundHeader:
    """What an ACK needs from the inbound MSH; empty strings when it could not be read."""

    sending_application: str = ""
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    trigger: str = ""
    control_id: str = ""
    processing_id: str = ""
    version: str = ""


def read_header(raw: bytes | None) -> InboundHeader:
    """Read the inbound MSH without trusting the rest of the message (nor even its framing)."""
    if not raw:
        return InboundHeader()
    text = raw.replace(b"\x0b", b"").replace(b"\x1c", b"").decode("utf-8", errors="replace").lstrip("\ufeff")
    start = text.find("MSH")
    if start < 0 or len(text) < start + 8:
        return InboundHeader()
    line = text[start:].replace("\r\n", "\r").replace("\n", "\r").split("\r")[0]
    field_sep = line[3]
    if field_sep.isalnum() or field_sep.isspace():
        return InboundHeader()
    fields = line.split(field_sep)
    encoding = fields[1] if len(fields) > 1 else ""
    component_sep = encoding[0] if encoding else "^"

    def get(number: int, whole: bool = True) -> str:
        # fields[n] is MSH-(n+1), since MSH-1 is the separator itself
        value = fields[number - 1] if number - 1 < len(fields) else ""
        if not whole:
            value = value.split(component_sep)[0]
        if encoding != ENCODING:
            value = value.split(component_sep)[0]
        return _clean(value)

    message_type = get(9).split("^") if encoding == ENCODING else [get(9)]
    trigger = ""
    if encoding != ENCODING:
        parts = (fields[8] if len(fields) > 8 else "").split(component_sep)
        trigger = _clean(parts[1]) if len(parts) > 1 else ""
    elif len(message_type) > 1:
        trigger = message_type[1]
    return InboundHeader(
        sending_application=get(3),
        sending_facility=get(4),
        receiving_application=get(5),
        receiving_facility=get(6),
        trigger=trigger[:3],
        control_id=get(10, whole=False)[:199],
        processing_id=get(11, whole=False)[:3],
        version=get(12, whole=False)[:10],
    )


def _clean(value: str) -> str:
    """No separators that could break our own segments, nor control characters."""
    return "".join(ch for ch in value if ch not in "|\r\n\x0b\x1c" and (ch.isprintable()))


def escape(text: str) -> str:
    """Escape free text for a field of our ACK (standard encoding characters)."""
    out = text.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\")
    out = out.replace("~", "\\R\\").replace("&", "\\T\\")
    return " ".join(out.replace("\r", " ").replace("\n", " ").split())


def ack_code_for(exc: SourceInputError) -> AckCode:
    """AR for a message that could not be read as a supported order (HTTP 400), AE for data errors."""
    return "AR" if exc.http_status == 400 else "AE"


def build_ack(
    raw_or_none: bytes | None,
    code: AckCode,
    text: str,
    *,
    issues: list[tuple[str, str, str | None]] | None = None,
    now: datetime | None = None,
) -> bytes:
    """An ACK for the message (CR-separated, not MLLP-framed).

    MSH swaps sending and receiving application/facility, MSH-9 is ``ACK^<trigger>^ACK``, MSH-10 a new
    control id and MSH-11/12 are copied; MSA-1 is the code, MSA-2 the original MSH-10, MSA-3 the text. For
    AE/AR one ERR segment per issue (or one with ``text``) carries the reason.
    """
    header = read_header(raw_or_none)
    moment = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S+0000")
    message_type = f"ACK^{header.trigger}^ACK" if header.trigger else "ACK"
    msh = [
        "MSH",
        ENCODING,
        header.receiving_application or OUR_APPLICATION,
        header.receiving_facility,
        header.sending_application,
        header.sending_facility,
        moment,
        "",
        message_type,
        "GNC" + uuid.uuid4().hex[:17].upper(),
        header.processing_id or "P",
        header.version or DEFAULT_VERSION,
    ]
    segments = ["|".join(msh), "|".join(["MSA", code, header.control_id, escape(text[:200])])]
    if code != "AA":
        for issue_code, diagnostics, location in issues or [("exception", text, None)]:
            number, name = ERROR_CODES.get(issue_code, ERROR_CODES["exception"])
            severity = "E"
            segments.append(
                "|".join(
                    [
                        "ERR",
                        "",
                        _error_location(location),
                        f"{number}^{name}^HL70357",
                        severity,
                        "",
                        "",
                        "",
                        escape(diagnostics[:250]),
                    ]
                )
            )
    return ("\r".join(segments) + "\r").encode("utf-8")


def _error_location(location: str | None) -> str:
    """ERR-2 (ERL) from a parser location such as ``PID-13`` or ``ORC[2]-1``; empty when not one."""
    match = re.fullmatch(r"([A-Z][A-Z0-9]{2})(?:\[(\d+)\])?(?:-(\d+))?", location or "")
    if not match:
        return ""
    segment, sequence, field_number = match.groups()
    return "^".join(part for part in (segment, sequence or "1", field_number) if part)


def ack_for_error(raw: bytes | None, exc: SourceInputError) -> bytes:
    code = ack_code_for(exc)
    return build_ack(raw, code, str(exc) or "message refused", issues=exc.issues)
