"""HL7 v2 under damaged input: orders or ``SourceInputError`` (which becomes an AE/AR ACK), never another
exception; every ACK parses and echoes the inbound control id; MLLP framing survives any TCP chunking."""

from __future__ import annotations

import hl7
from fuzz_support import EXAMPLES, awkward_text, mutated_bytes
from hypothesis import example, given
from hypothesis import strategies as st

from hospital_adapter.canonical import PrescriptionIn, SourceInputError
from hospital_adapter.hl7v2.ack import ack_for_error, build_ack, read_header
from hospital_adapter.hl7v2.mllp import MLLPDecoder, frame
from hospital_adapter.hl7v2.parser import parse_message

# Taken as it is (see test_unmutated_seed_is_taken), so mutants are near misses.
RDE = (
    "MSH|^~\\&|SIMRS|RSUD|GANCANG||20261129080000||RDE^O11^RDE_O11|MSG0001|P|2.5\r"
    "PID|1||RM-001^^^^MR||Wati^Sri||||||Jl. Kawah Ijen 5^Desa Kemiren, Kec. Glagah^Banyuwangi||0812-3456-7890\r"
    "ORC|NW|RX-0001\r"
    "RXE||KFA93000123^Paracetamol 500 mg^KFA|1||TAB|TAB^Tablet|||||10|TAB\r"
    "RXR|PO^Oral"
)
SEEDS = [RDE] + [path.read_text(encoding="utf-8") for path in sorted((EXAMPLES / "hl7v2").glob("*.hl7"))]
CONTROL_IDS = st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."), min_size=1, max_size=20)


def _segments(text: str) -> list[str]:
    return [line for line in text.replace("\r\n", "\r").replace("\n", "\r").split("\r") if line]


@st.composite
def mutated_er7(draw: st.DrawFn, text: str) -> str:
    """Segment- and field-level damage: segments dropped, repeated or swapped, fields dropped or replaced
    (separators and escape characters included), the body re-joined with LF or CRLF."""
    segments = [line.split("|") for line in _segments(text)]
    for _ in range(draw(st.integers(1, 4))):
        row = draw(st.integers(0, len(segments) - 1))
        action = draw(st.sampled_from(["drop_segment", "repeat", "swap", "drop_field", "field", "field"]))
        if action == "drop_segment" and len(segments) > 1:
            del segments[row]
        elif action == "repeat":
            segments.insert(row, list(segments[row]))
        elif action == "swap":
            other = draw(st.integers(0, len(segments) - 1))
            segments[row], segments[other] = segments[other], segments[row]
        elif action == "drop_field" and len(segments[row]) > 1:
            del segments[row][draw(st.integers(1, len(segments[row]) - 1))]
        else:
            at = draw(st.integers(0, len(segments[row])))
            value = draw(
                st.one_of(awkward_text, st.sampled_from(["^", "~", "\\", "&", "\\X0D\\", "^^^^^^", "|"]))
            )
            segments[row][at : at + 1] = [value]
    separator = draw(st.sampled_from(["\r", "\n", "\r\n"]))
    return separator.join("|".join(fields) for fields in segments)


messages = st.one_of(
    st.sampled_from(SEEDS).flatmap(mutated_er7).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.sampled_from(SEEDS).flatmap(lambda text: mutated_bytes(text.encode())),
    st.binary(max_size=200),
    st.binary(max_size=100).map(lambda tail: b"MSH|" + tail),
)


def _ack_fields(ack: bytes) -> tuple[str, str]:
    """MSA-1 and MSA-2 of our ACK, read by python-hl7 (an independent parser)."""
    parsed = hl7.parse(ack.decode("utf-8"))
    assert str(parsed.segments("MSH")[0][0]) == "MSH"
    msa = parsed.segment("MSA")
    return str(msa[1]), str(msa[2])


def test_unmutated_seed_is_taken() -> None:
    assert len(parse_message(RDE.encode())) == 1


@given(messages)
@example(b"MSH|^~\\&|A|B|C|D|20261129||RDE^O11|X|P|2.5\rPID|1||\x00")
@example(b"\x0bMSH|\x1c\r")
@example(b"MSH^~\\&|")
def test_parse_message_takes_or_refuses_and_acks(raw: bytes) -> None:
    try:
        prescriptions = parse_message(raw)
    except SourceInputError as exc:
        code, control_id = _ack_fields(ack_for_error(raw, exc))
        expected, issues = {400: "AR", 422: "AE"}.get(exc.http_status), exc.issues
        assert code == expected and issues
    else:
        assert all(isinstance(p, PrescriptionIn) and p.items for p in prescriptions)
        assert all("\x00" not in text for p in prescriptions for text in _texts(p))
        code, control_id = _ack_fields(build_ack(raw, "AA", "ok"))
        assert code == "AA"
    assert control_id == read_header(raw).control_id


@given(st.sampled_from(SEEDS), CONTROL_IDS, st.data())
def test_ack_echoes_the_control_id(seed: str, control_id: str, data: st.DataObject) -> None:
    """Whatever else is wrong below the MSH, the ACK's MSA-2 is the sender's MSH-10."""
    msh, *rest = _segments(seed)
    fields = msh.split("|")
    fields[9] = control_id
    damaged = data.draw(mutated_er7("\r".join(rest))) if rest else ""
    raw = ("|".join(fields) + "\r" + damaged).encode("utf-8", "surrogatepass")
    try:
        parse_message(raw)
        ack = build_ack(raw, "AA", "ok")
    except SourceInputError as exc:
        ack = ack_for_error(raw, exc)
    assert _ack_fields(ack)[1] == control_id


@given(
    st.lists(
        st.binary(max_size=300).map(lambda b: b.replace(b"\x0b", b"").replace(b"\x1c", b"")), max_size=5
    ),
    st.lists(st.integers(1, 50), min_size=1, max_size=20),
)
def test_mllp_frames_survive_any_chunking(payloads: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(frame(payload) for payload in payloads)
    decoder, received, at = MLLPDecoder(), [], 0
    for size in cuts * (len(stream) // max(sum(cuts), 1) + 1):
        received += decoder.feed(stream[at : at + size])
        at += size
    received += decoder.feed(stream[at:])
    assert received == payloads
    assert not decoder.pending


def _texts(prescription: PrescriptionIn) -> list[str]:
    from fuzz_support import strings_in

    return list(strings_in(prescription))
