"""HL7 v2 pharmacy orders (RDE^O11, ORM^O01; v2.3 to v2.6) into canonical prescriptions.

The message is read with python-hl7; fields are then taken as ER7 strings and split on the message's own
separators, so a field that python-hl7 returns as a plain string or as nested lists reads the same way.

Mapping (v2.5 numbering):

- PID-3 (CX, repeating) -> ``PatientIn.source_id``: the repetition typed ``MR``/``MRN``/``PI`` first, else the
  first one that is not a national identity number. A repetition typed ``NIK``/``NI``/``NNIDN``/``SS``/``KTP``
  (in CX-5, or in CX-4 as some feeds do) and any 16-digit number, whatever its type, are **never** read; PID-2, PID-19 (SSN) and
  PID-20 are never read at all, so a NIK cannot reach the canonical model.
- PID-5 (XPN) -> name ("given middle family"), PID-11 (XAD) -> address (street, other designation,
  city, state, zip; "RT 002/RW 001", "Desa/Kel. ...", "Kec. ..." parts of the other designation or the
  street are split into rt/rw/village/district), PID-13 then PID-14 (XTN) -> phone, mobile first.
- PV1-19 -> encounter_id.
- ORC-1 -> status (NW/OK/OP/XO/RP/RO/XX/... -> active; CA/OC/CR/DC/OD/DR -> cancelled; HD/OH -> on-hold);
  ORC-4 (placer group number) else ORC-2 (placer order number) else RXE-15 -> prescription_id (EI-2
  namespace -> identifier_system); ORC-9 -> authored_on. ORC groups with the same number are one
  prescription with several items; different numbers are different prescriptions.
- RXE (RDE) or RXO (ORM): give code (CE) -> code/code_system/local_code/display, dispense amount/units
  (RXE-10/11, else give amount/units RXE-3/5), dosage form (RXE-6 / RXO-5), administration instructions
  (RXE-7 / RXO-7) and RXR-1 route -> instructions.
- IN1-2 plan, IN1-4 company name, IN1-15 plan type (participant type), IN1-36 policy number -> CoverageIn.

Defects tolerated on purpose (they occur in the saved samples and in real feeds):

- Segment separators ``\\r``, ``\\n`` or ``\\r\\n`` (files saved on Windows or by editors), blank lines, a BOM,
  and MLLP framing bytes (0x0B ... 0x1C 0x0D) left around the message.
- A missing segment separator (the LinuxForHealth multi-order sample: ``RXE|...|5|TQ1|||BID...``): the
  line is read as one RXE with extra trailing fields; only the leading fields are used.
- MSH-11 with components (``T^T`` in the nHapi sample) and a missing MSH-12 (taken as 2.5).
- The identifier type written in CX-4 (assigning authority) instead of CX-5 (``000054321^^^MRN``).
- Units carrying the strength (``75 mg`` in RXE-5 of the nHapi sample) and give codes with no coding
  system (``54569-4888-0^Oseltamivir``): the code is then the hospital's local item code.
- A placer number with a namespace (``101217-833651^ExD``): the namespace becomes identifier_system.
- An RXR placed after the RXO of a group rather than after its RXE: the group's last route is used.
- Non-UTF-8 text (MSH-18 8859/1): decoded as Latin-1 when it is not valid UTF-8.

Errors raise ``SourceInputError``: ``http_status=400`` for a message that cannot be read as a supported HL7
v2 order at all (answered with an ``AR`` ACK), 422 for a readable message whose data the hospital must fix
(answered with ``AE``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import hl7
from pydantic import ValidationError

from hospital_adapter.canonical import (
    AddressIn,
    CoverageIn,
    ItemIn,
    PatientIn,
    PrescriptionIn,
    PrescriptionStatus,
    SourceInputError,
)

SOURCE_NAME = "hl7v2"
KFA_SYSTEM = "http://sys-ids.kemkes.go.id/kfa"
NDC_SYSTEM = "http://hl7.org/fhir/sid/ndc"

SUPPORTED_TYPES = {("RDE", "O11"), ("ORM", "O01")}
SUPPORTED_VERSION_PREFIXES = ("2.3", "2.4", "2.5", "2.6")
DEFAULT_VERSION = "2.5"
# Most Indonesian hospitals on the HL7 v2 paths we know are on WIB; a timestamp without an offset is WIB.
WIB = timezone(timedelta(hours=7))

ACTIVE_CONTROLS = {"NW", "OK", "OP", "XO", "XX", "RP", "RO", "RQ", "RU", "RF", "OF", "SC", "SN", "OR", "RL"}
CANCELLED_CONTROLS = {"CA", "OC", "CR", "DC", "OD", "DR"}
ON_HOLD_CONTROLS = {"HD", "OH"}

NATIONAL_ID_TYPES = {"NIK", "NI", "NNIDN", "NN", "SS", "SSN", "KTP"}
RECORD_ID_TYPES = {"MR", "MRN", "PI", "PT", "RM"}
LOCAL_CODE_SYSTEMS = {"", "L", "LOCAL", "99LOCAL", "SIMRS", "KODE_BRNG"}
SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{2}$")
NATIONAL_ID_NUMBER = re.compile(r"^\d{16}$")
RT_RW = re.compile(r"\bRT\.?\s*(\d{1,3})\s*(?:/|,)?\s*RW\.?\s*(\d{1,3})\b", re.IGNORECASE)
VILLAGE = re.compile(r"^(?:Desa|Ds\.?|Kelurahan|Kel\.?)\s+(.+)$", re.IGNORECASE)
DISTRICT = re.compile(r"^(?:Kecamatan|Kec\.?)\s+(.+)$", re.IGNORECASE)

Issue = tuple[str, str, str | None]


def parse_message(raw: bytes) -> list[PrescriptionIn]:
    """One RDE^O11 or ORM^O01 message into its prescriptions; raises SourceInputError."""
    message = read_message(raw)
    try:
        return message.prescriptions()
    except ValidationError as exc:  # a field longer than the canonical model takes, a NUL
        raise SourceInputError.from_validation_error(exc) from exc


# -- reading ----------------------------------------------------------------------------------------------


@dataclass
class _Seps:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"


@dataclass
class Segment:
    """One segment as ER7 field strings; ``fields[n]`` is field n (for MSH as well, MSH-1 is the separator)."""

    name: str
    fields: list[str]
    seps: _Seps
    index: int

    def raw(self, number: int) -> str:
        return self.fields[number] if 0 <= number < len(self.fields) else ""

    def repetitions(self, number: int) -> list[str]:
        value = self.raw(number)
        return [rep for rep in value.split(self.seps.repetition) if rep] if value else []

    def component(self, number: int, component: int = 1, repetition: str | None = None) -> str:
        """Component ``component`` (1-based) of the field (its first repetition), unescaped and stripped."""
        value = repetition if repetition is not None else (self.repetitions(number) or [""])[0]
        return component_of(value, component, self.seps)

    @property
    def location(self) -> str:
        return f"{self.name}[{self.index}]"


def component_of(value: str, component: int, seps: _Seps) -> str:
    parts = value.split(seps.component)
    if component > len(parts):
        return ""
    first_sub = parts[component - 1].split(seps.subcomponent)[0]
    return _unescape(first_sub, seps).strip()


def _unescape(value: str, seps: _Seps) -> str:
    if seps.escape not in value:
        return value
    e = seps.escape
    table = {"F": seps.field, "S": seps.component, "R": seps.repetition, "E": e, "T": seps.subcomponent}

    def replace(match: re.Match[str]) -> str:
        code = match.group(1)
        if code in table:
            return table[code]
        if code.startswith(".br"):
            return "\n"
        return ""  # highlighting and character-set escapes carry no text we keep

    return re.sub(re.escape(e) + r"([^" + re.escape(e) + r"]*)" + re.escape(e), replace, value)


def normalize(raw: bytes) -> str:
    """Strip MLLP framing, a BOM and blank lines; decode; make every segment separator a bare CR."""
    data = raw.strip(b" \t\r\n")
    if data.startswith(b"\x0b"):
        data = data[1:]
    data = data.rstrip(b"\r\n")
    if data.endswith(b"\x1c"):
        data = data[:-1]
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    lines = text.replace("\r\n", "\r").replace("\n", "\r").split("\r")
    return "\r".join(line.rstrip() for line in lines if line.strip())


def _unreadable(diagnostics: str, location: str | None = None, code: str = "structure") -> SourceInputError:
    return SourceInputError([(code, diagnostics, location)], http_status=400)


def read_segments(raw: bytes) -> tuple[list[Segment], _Seps]:
    """The message's segments; raises SourceInputError(400) when it is not an ER7 message with an MSH."""
    text = normalize(raw)
    if not text.startswith("MSH") or len(text) < 8:
        raise _unreadable("The message does not start with an MSH segment", "MSH")
    try:
        parsed = hl7.parse(text)
    except Exception as exc:  # python-hl7 raises ParseException, IndexError, ... on broken headers
        raise _unreadable(f"The message cannot be read as HL7 v2 ER7: {type(exc).__name__}", "MSH") from exc
    separators = parsed.separators  # "\r|~^&" for the usual header
    esc = parsed.esc or "\\"
    seps = _Seps(
        field=separators[1],
        repetition=separators[2],
        component=separators[3],
        subcomponent=separators[4] if len(separators) > 4 else "&",
        escape=esc,
    )
    segments: list[Segment] = []
    counts: dict[str, int] = {}
    issues: list[Issue] = []
    for position, segment in enumerate(parsed):
        fields = [str(value) for value in segment]
        name = fields[0] if fields else ""
        if not SEGMENT_ID.match(name):
            issues.append(
                (
                    "invalid",
                    f"Segment {position + 1} does not start with a segment id and a field separator",
                    f"segment {position + 1}",
                )
            )
            continue
        counts[name] = counts.get(name, 0) + 1
        segments.append(Segment(name, fields, seps, counts[name]))
    if issues:
        raise SourceInputError(issues)
    return segments, seps


def message_type(msh: Segment) -> tuple[str, str]:
    return msh.component(9, 1).upper(), msh.component(9, 2).upper()


# -- the message model ------------------------------------------------------------------------------------


@dataclass
class Order:
    """One ORC group: the ORC and the item segments (RXE, else RXO) with their route."""

    orc: Segment
    encoded: list[Segment] = field(default_factory=list)  # RXE
    requested: list[Segment] = field(default_factory=list)  # RXO
    routes: dict[int, str] = field(default_factory=dict)  # id(item segment) -> route text
    group_route: str | None = None


@dataclass
class _Draft:
    system: str | None
    status: PrescriptionStatus | None
    authored: datetime | None
    items: list[ItemIn] = field(default_factory=list)


@dataclass
class Message:
    msh: Segment
    kind: tuple[str, str]
    version: str
    pids: list[Segment]
    pv1: Segment | None
    in1: list[Segment]
    orders: list[Order]
    issues: list[Issue]

    def prescriptions(self) -> list[PrescriptionIn]:
        issues = list(self.issues)
        patient = self._patient(issues)
        coverage = [c for segment in self.in1 if (c := _coverage(segment)) is not None]
        encounter = self.pv1.component(19, 1)[:64] or None if self.pv1 is not None else None
        grouped: dict[str, _Draft] = {}
        for order in self.orders:
            number, system = _prescription_number(order)
            status = _status(order.orc, issues)
            items = self._items(order, issues)
            if number is None:
                issues.append(
                    (
                        "required",
                        "ORC has no placer group number (ORC-4), placer order number (ORC-2) "
                        "or prescription number (RXE-15)",
                        f"{order.orc.location}-2",
                    )
                )
                continue
            draft = grouped.setdefault(number, _Draft(system, status, _timestamp(order.orc.raw(9))))
            if status is not None and draft.status is not None and draft.status != status:
                issues.append(
                    (
                        "invalid",
                        f"Order groups of prescription {number} have different order controls (ORC-1)",
                        f"{order.orc.location}-1",
                    )
                )
            draft.items.extend(items)
        if issues or patient is None:
            raise SourceInputError(issues)
        return [
            PrescriptionIn(
                source=SOURCE_NAME,
                prescription_id=number,
                identifier_system=draft.system,
                status=draft.status or "unknown",
                authored_on=draft.authored,
                patient=patient,
                items=draft.items,
                coverage=coverage,
                encounter_id=encounter,
            )
            for number, draft in grouped.items()
        ]

    def _patient(self, issues: list[Issue]) -> PatientIn | None:
        if not self.pids:
            issues.append(
                (
                    "required",
                    "The message has no PID segment: the courier needs the patient's name, address and phone",
                    "PID",
                )
            )
            return None
        if len(self.pids) > 1:
            issues.append(
                ("structure", "The message has more than one PID segment; send one per patient", "PID")
            )
            return None
        pid = self.pids[0]
        source_id = patient_identifier(pid)
        name = person_name(pid)
        address = address_of(pid)
        phone = phone_of(pid)
        missing = [
            (source_id, "PID-3", "no patient identifier (PID-3) other than a national identity number"),
            (name, "PID-5", "no patient name (PID-5)"),
            (address, "PID-11", "no usable address (PID-11 with a street or other designation)"),
            (phone, "PID-13", "no phone number (PID-13 or PID-14)"),
        ]
        for value, location, what in missing:
            if value is None:
                issues.append(("required", f"The patient has {what}", location))
        if source_id is None or name is None or address is None or phone is None:
            return None
        return PatientIn(source_id=source_id[:64], name=name[:200], phone=phone[:100], address=address)

    def _items(self, order: Order, issues: list[Issue]) -> list[ItemIn]:
        segments = order.encoded
        if not segments and self.kind == ("ORM", "O01"):
            segments = order.requested
        if not segments:
            wanted = "RXE" if self.kind == ("RDE", "O11") else "RXO"
            issues.append(("required", f"The order group has no {wanted} segment", order.orc.location))
            return []
        items = []
        for segment in segments:
            route = order.routes.get(id(segment)) or order.group_route
            item = _item(segment, route)
            if item is None:
                issues.append(
                    ("required", "The give code has neither a code nor a text", f"{segment.location}-2")
                )
            else:
                items.append(item)
        return items


def read_message(raw: bytes) -> Message:
    """Read the message into segments grouped by order, without requiring what a prescription needs.

    Raises SourceInputError(400) for an unreadable message or an unsupported type/version; structure
    problems that a prescription would need fixed are collected in ``issues`` (raised by ``prescriptions``).
    """
    segments, _seps = read_segments(raw)
    msh = segments[0]
    kind = message_type(msh)
    if kind not in SUPPORTED_TYPES:
        shown = "^".join(part for part in kind if part) or "(empty)"
        raise _unreadable(
            f"Message type {shown} (MSH-9) is not supported; send RDE^O11 or ORM^O01",
            "MSH-9",
            code="not-supported",
        )
    version = msh.component(12, 1) or DEFAULT_VERSION
    if not version.startswith(SUPPORTED_VERSION_PREFIXES):
        raise _unreadable(
            f"HL7 version {version} (MSH-12) is not supported; send 2.3 to 2.6",
            "MSH-12",
            code="not-supported",
        )
    issues: list[Issue] = []
    pids: list[Segment] = []
    in1: list[Segment] = []
    pv1: Segment | None = None
    orders: list[Order] = []
    last_item: Segment | None = None
    for segment in segments[1:]:
        name = segment.name
        if name == "MSH":
            issues.append(("structure", "More than one MSH segment: send one message per frame", "MSH"))
        elif name == "PID":
            if orders:
                issues.append(
                    ("structure", "PID after the first ORC; the patient comes first", segment.location)
                )
            pids.append(segment)
        elif name == "PV1":
            pv1 = pv1 or segment
        elif name == "IN1":
            in1.append(segment)
        elif name == "ORC":
            orders.append(Order(segment))
            last_item = None
        elif name in ("RXE", "RXO"):
            if not orders:
                issues.append(("structure", f"{name} before any ORC segment", segment.location))
                continue
            (orders[-1].encoded if name == "RXE" else orders[-1].requested).append(segment)
            last_item = segment
        elif name == "RXR" and orders:
            route = segment.component(1, 2) or segment.component(1, 1)
            if route:
                orders[-1].group_route = route
                if last_item is not None:
                    orders[-1].routes.setdefault(id(last_item), route)
    if not orders:
        issues.append(("structure", "The message has no ORC segment, so no order", "ORC"))
    return Message(msh, kind, version, pids, pv1, in1, orders, issues)


# -- field mapping ----------------------------------------------------------------------------------------


def patient_identifier(pid: Segment) -> str | None:
    """The hospital's record number from PID-3; a national identity number (NIK) is skipped, never kept."""
    candidates: list[tuple[int, str]] = []
    for position, repetition in enumerate(pid.repetitions(3)):
        value = component_of(repetition, 1, pid.seps)
        authority = component_of(repetition, 4, pid.seps).upper()
        kind = component_of(repetition, 5, pid.seps).upper()
        if not value:
            continue
        if kind in NATIONAL_ID_TYPES or authority in NATIONAL_ID_TYPES or NATIONAL_ID_NUMBER.match(value):
            continue
        rank = 0 if kind in RECORD_ID_TYPES or (not kind and authority in RECORD_ID_TYPES) else 1
        candidates.append((rank * 1000 + position, value))
    return min(candidates)[1] if candidates else None


def person_name(pid: Segment) -> str | None:
    for repetition in pid.repetitions(5):
        family, given, middle = (component_of(repetition, n, pid.seps) for n in (1, 2, 3))
        name = " ".join(part for part in (given, middle, family) if part)
        if name:
            return name
    return None


def address_of(pid: Segment) -> AddressIn | None:
    """The home (or untyped) address with something to deliver to; Indonesian parts split out of it."""
    best: tuple[int, AddressIn] | None = None
    for position, repetition in enumerate(pid.repetitions(11)):
        street, other, city, state, zip_code, _country, kind = (
            component_of(repetition, n, pid.seps) for n in range(1, 8)
        )
        kind = kind.upper()
        if kind in ("BA", "BDL", "O") or not (street or other):
            continue
        rank = {"H": 0, "": 1, "C": 2}.get(kind, 3) * 100 + position
        address = _indonesian_address(street, other, city, state, zip_code)
        if best is None or rank < best[0]:
            best = (rank, address)
    return best[1] if best else None


def _indonesian_address(street: str, other: str, city: str, state: str, zip_code: str) -> AddressIn:
    rt = rw = village = district = None
    for part in (p.strip() for chunk in (street, other) for p in chunk.split(",")):
        if match := RT_RW.search(part):
            rt, rw = match.group(1).zfill(3), match.group(2).zfill(3)
        elif match := VILLAGE.match(part):
            village = match.group(1).strip()
        elif match := DISTRICT.match(part):
            district = match.group(1).strip()
    lines = [line for line in (street, other) if line]
    text = ", ".join(part for part in (street, other, city, state, zip_code) if part)
    return AddressIn(
        text=text,
        lines=lines,
        rt=rt,
        rw=rw,
        village=village,
        district=district,
        city=city or None,
        postal_code=zip_code[:8] or None,
    )


def phone_of(pid: Segment) -> str | None:
    """A phone from PID-13 (home) then PID-14 (business); mobile ("CP") numbers first, e-mail skipped."""
    candidates: list[tuple[int, str]] = []
    for field_number in (13, 14):
        for position, repetition in enumerate(pid.repetitions(field_number)):
            parts = [component_of(repetition, n, pid.seps) for n in range(1, 13)]
            use, equipment = parts[1].upper(), parts[2].upper()
            if use == "NET" or equipment in ("INTERNET", "X.400", "FX"):
                continue
            number = parts[0] or parts[11]
            if not number and parts[6]:
                number = "".join(p for p in (f"+{parts[4]}" if parts[4] else "", parts[5], parts[6]) if p)
            if not number:
                continue
            rank = (0 if equipment == "CP" else 1) * 10000 + (field_number - 13) * 1000 + position
            candidates.append((rank, number))
    return min(candidates)[1] if candidates else None


def _prescription_number(order: Order) -> tuple[str | None, str | None]:
    orc = order.orc
    for number in (4, 2):
        if value := orc.component(number, 1):
            return value[:128], orc.component(number, 2)[:200] or None
    for segment in order.encoded:
        if value := segment.component(15, 1):
            return value[:128], None
    return None, None


def _status(orc: Segment, issues: list[Issue]) -> PrescriptionStatus | None:
    control = orc.component(1, 1).upper()
    if control in ACTIVE_CONTROLS:
        return "active"
    if control in CANCELLED_CONTROLS:
        return "cancelled"
    if control in ON_HOLD_CONTROLS:
        return "on-hold"
    if not control:
        issues.append(("required", "ORC-1 (order control) is empty", f"{orc.location}-1"))
    else:
        issues.append(("invalid", f"Order control {control!r} (ORC-1) is not supported", f"{orc.location}-1"))
    return None


def _timestamp(value: str) -> datetime | None:
    """An HL7 TS (YYYYMMDD[HHMM[SS[.S]]][+/-ZZZZ]); no offset means WIB; unreadable means None."""
    value = value.split("^")[0].strip()
    match = re.fullmatch(r"(\d{8})(\d{2})?(\d{2})?(\d{2})?(?:\.\d+)?([+-]\d{4})?", value)
    if not match:
        return None
    day, hour, minute, second, offset = match.groups()
    try:
        moment = datetime.strptime(day + (hour or "00") + (minute or "00") + (second or "00"), "%Y%m%d%H%M%S")
    except ValueError:
        return None
    tz = WIB
    if offset:
        sign = -1 if offset[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))
    return moment.replace(tzinfo=tz)


def _code(segment: Segment, number: int) -> tuple[str | None, str | None, str | None, str]:
    """(code, code_system, local_code, display) from a CE/CWE give code."""
    code, text, system = (segment.component(number, n) for n in (1, 2, 3))
    alt_code, alt_text, alt_system = (segment.component(number, n) for n in (4, 5, 6))
    original = segment.component(number, 9)
    display = text or alt_text or original or code or alt_code
    system_upper = system.upper()
    local_code = None
    if system_upper in LOCAL_CODE_SYSTEMS:
        local_code = code or None
    elif alt_code and alt_system.upper() in LOCAL_CODE_SYSTEMS - {""}:
        local_code = alt_code
    if system_upper == "KFA" or system == KFA_SYSTEM:
        code_system: str | None = KFA_SYSTEM
    elif system_upper == "NDC":
        code_system = NDC_SYSTEM
    else:
        code_system = system or None
    return (
        (code[:64] or None),
        (code_system[:200] if code_system else None),
        (local_code[:64] if local_code else None),
        display,
    )


def _number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number == number and number not in (float("inf"), float("-inf")) else None


def _item(segment: Segment, route: str | None) -> ItemIn | None:
    if segment.name == "RXE":
        layout = {
            "code": 2,
            "amount": 3,
            "units": 5,
            "form": 6,
            "instructions": 7,
            "dispense": 10,
            "dunits": 11,
        }
    else:  # RXO
        layout = {
            "code": 1,
            "amount": 2,
            "units": 4,
            "form": 5,
            "instructions": 7,
            "dispense": 11,
            "dunits": 12,
        }
    code, code_system, local_code, display = _code(segment, layout["code"])
    if not display:
        return None
    dispense = _number(segment.component(layout["dispense"], 1))
    quantity: float | None
    if dispense is not None:
        quantity = dispense
        unit = segment.component(layout["dunits"], 1) or segment.component(layout["dunits"], 2)
    else:
        quantity = _number(segment.component(layout["amount"], 1))
        unit = segment.component(layout["units"], 1) or segment.component(layout["units"], 2)
    form = segment.component(layout["form"], 2) or segment.component(layout["form"], 1)
    given = segment.component(layout["instructions"], 2) or segment.component(layout["instructions"], 1)
    parts = [given] if given else []
    if route:
        parts.append(f"route: {route}")
    return ItemIn(
        code=code,
        code_system=code_system,
        local_code=local_code,
        display=display,
        quantity=quantity,
        unit=unit[:32] or None,
        instructions="; ".join(parts) or None,
        dosage_form=form[:64] or None,
    )


def _coverage(in1: Segment) -> CoverageIn | None:
    plan = in1.component(2, 2) or in1.component(2, 1)
    payer = in1.component(4, 1) or in1.component(3, 1)
    participant = in1.component(15, 1)
    subscriber = in1.component(36, 1)
    if NATIONAL_ID_NUMBER.match(subscriber):
        subscriber = ""  # a 16-digit number here is a NIK, not a BPJS card number (13 digits)
    if not (plan or payer or participant or subscriber):
        return None
    return CoverageIn(
        payer=payer or None,
        plan=plan or None,
        subscriber_id=subscriber or None,
        participant_type=participant[:100] or None,
    )
