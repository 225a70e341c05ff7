"""HL7 v2 ACKs read back with python-hl7: swapped MSH, MSA echoing the control id, ERR on refusals."""

from __future__ import annotations

import hl7
import pytest

from hospital_adapter.canonical import SourceInputError
from hospital_adapter.hl7v2.ack import ack_code_for, ack_for_error, build_ack
from hospital_adapter.hl7v2.parser import parse_message

INBOUND = (
    b"MSH|^~\\&|SIMRS|RSUDBLB|GANCANG|DISPATCH|20261129080000||RDE^O11^RDE_O11|MSG-42|P|2.5.1\r"
    b"PID|1||RM-1^^^^MR\r"
)


def parsed(ack: bytes) -> hl7.Message:
    assert not ack.startswith(b"\x0b")
    return hl7.parse(ack.decode())


def test_an_aa_ack_swaps_the_header_and_echoes_the_control_id() -> None:
    message = parsed(build_ack(INBOUND, "AA", "Prescription RX-1: order 1 created"))
    msh = message.segment("MSH")
    assert str(msh[3]) == "GANCANG"
    assert str(msh[4]) == "DISPATCH"
    assert str(msh[5]) == "SIMRS"
    assert str(msh[6]) == "RSUDBLB"
    assert str(msh[9]) == "ACK^O11^ACK"
    assert str(msh[10]) not in ("", "MSG-42")
    assert str(msh[11]) == "P"
    assert str(msh[12]) == "2.5.1"
    msa = message.segment("MSA")
    assert str(msa[1]) == "AA"
    assert str(msa[2]) == "MSG-42"
    assert str(msa[3]) == "Prescription RX-1: order 1 created"
    with pytest.raises(KeyError):
        message.segment("ERR")


def test_control_ids_are_new_for_every_ack() -> None:
    first = parsed(build_ack(INBOUND, "AA", "ok")).segment("MSH")[10]
    second = parsed(build_ack(INBOUND, "AA", "ok")).segment("MSH")[10]
    assert str(first) != str(second)


def test_an_ae_ack_carries_one_err_per_issue_with_escaped_text() -> None:
    with pytest.raises(SourceInputError) as caught:
        parse_message(INBOUND)
    assert ack_code_for(caught.value) == "AE"
    message = parsed(ack_for_error(INBOUND, caught.value))
    msa = message.segment("MSA")
    assert (str(msa[1]), str(msa[2])) == ("AE", "MSG-42")
    errors = message.segments("ERR")
    assert len(errors) == len(caught.value.issues)
    locations = [str(err[2]) for err in errors]
    assert "PID^1^11" in locations
    assert {str(err[3]).split("^")[0] for err in errors} == {"100", "101"}  # no ORC; no name/address/phone
    assert str(errors[0][4]) == "E"


def test_text_with_separators_cannot_break_the_ack() -> None:
    message = parsed(
        build_ack(INBOUND, "AE", "bad | value ^ here\rMSH|evil", issues=[("value", "a|b", None)])
    )
    assert [str(segment[0]) for segment in message] == ["MSH", "MSA", "ERR"]
    assert message.unescape(str(message.segment("MSA")[3])) == "bad | value ^ here MSH|evil"


def test_an_unsupported_message_type_is_ar() -> None:
    adt = b"MSH|^~\\&|SIMRS|RSUDBLB|GANCANG||20260101||ADT^A01^ADT_A01|ADT-7|P|2.5\rPID|1||x"
    with pytest.raises(SourceInputError) as caught:
        parse_message(adt)
    assert ack_code_for(caught.value) == "AR"
    message = parsed(ack_for_error(adt, caught.value))
    assert str(message.segment("MSH")[9]) == "ACK^A01^ACK"
    msa = message.segment("MSA")
    assert (str(msa[1]), str(msa[2])) == ("AR", "ADT-7")
    assert str(message.segment("ERR")[3]).startswith("200^")


@pytest.mark.parametrize("raw", [None, b"", b"\x00\xffgarbage", b"MSH", b"MSH|"])
def test_an_unreadable_message_still_gets_a_minimal_ack(raw: bytes | None) -> None:
    message = parsed(build_ack(raw, "AR", "cannot read the message"))
    msh = message.segment("MSH")
    assert str(msh[3]) == "GANCANG"
    assert str(msh[9]) == "ACK"
    assert str(msh[12]) == "2.5"
    msa = message.segment("MSA")
    assert (str(msa[1]), str(msa[2])) == ("AR", "")
    assert message.segment("ERR")


def test_a_message_with_a_broken_body_but_a_good_msh_is_answered_by_control_id() -> None:
    raw = b"\x0bMSH|^~\\&|SIMRS|RSUDBLB|||20260101||RDE^O11|BRK-1|P|2.4\n\x01\x02 junk"
    message = parsed(build_ack(raw, "AR", "unreadable"))
    assert str(message.segment("MSA")[2]) == "BRK-1"
    assert str(message.segment("MSH")[12]) == "2.4"
