"""MLLP framing: the incremental decoder, and the asyncio server over a real TCP socket."""

from __future__ import annotations

import asyncio

import hl7

from hospital_adapter.hl7v2.ack import build_ack
from hospital_adapter.hl7v2.mllp import FramingError, MLLPDecoder, frame, serve_mllp

ONE = b"MSH|^~\\&|A|B|C|D|20260101||RDE^O11|M1|P|2.5\rPID|1"
TWO = b"MSH|^~\\&|A|B|C|D|20260101||RDE^O11|M2|P|2.5\rPID|2"


def test_a_frame_split_over_many_reads_is_one_message() -> None:
    decoder = MLLPDecoder()
    data = frame(ONE)
    out: list[bytes | FramingError] = []
    for position in range(len(data)):
        out.extend(decoder.feed(data[position : position + 1]))
    assert out == [ONE]
    assert not decoder.pending


def test_joined_frames_in_one_read_are_several_messages() -> None:
    decoder = MLLPDecoder()
    assert decoder.feed(frame(ONE) + frame(TWO) + b"\n" + frame(ONE)[:10]) == [ONE, TWO]
    assert decoder.pending
    assert decoder.feed(frame(ONE)[10:]) == [ONE]


def test_a_split_between_end_block_and_carriage_return_is_fine() -> None:
    decoder = MLLPDecoder()
    data = frame(ONE)
    assert decoder.feed(data[:-1]) == [ONE]
    assert decoder.feed(data[-1:] + frame(TWO)) == [TWO]


def test_garbage_outside_frames_is_reported_and_dropped() -> None:
    decoder = MLLPDecoder()
    out = decoder.feed(b"GET / HTTP/1.1\r\n" + frame(ONE) + b"junk")
    assert isinstance(out[0], FramingError)
    assert out[0].data.startswith(b"GET")
    assert out[1] == ONE
    assert isinstance(out[2], FramingError)
    assert out[2].reason == "bytes outside an MLLP frame"


def test_a_missing_end_block_is_reported_when_the_next_frame_starts() -> None:
    decoder = MLLPDecoder()
    out = decoder.feed(b"\x0b" + ONE + frame(TWO))
    assert isinstance(out[0], FramingError)
    assert out[0].data == ONE
    assert out[1] == TWO


def test_an_oversized_frame_is_refused() -> None:
    decoder = MLLPDecoder(max_frame_bytes=10)
    out = decoder.feed(frame(ONE) + frame(b"short"))
    assert isinstance(out[0], FramingError)
    assert out[1] == b"short"


async def _exchange(port: int, payload: bytes, answers: int) -> list[bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    decoder = MLLPDecoder()
    received: list[bytes] = []
    while len(received) < answers:
        data = await asyncio.wait_for(reader.read(65536), timeout=10)
        assert data, "server closed the connection early"
        for item in decoder.feed(data):
            assert isinstance(item, bytes)
            received.append(item)
    writer.close()
    await writer.wait_closed()
    return received


def test_the_server_answers_each_frame_with_a_framed_ack() -> None:
    seen: list[bytes] = []

    async def on_message(raw: bytes) -> bytes:
        seen.append(raw)
        return build_ack(raw, "AA", "ok")

    async def scenario() -> list[bytes]:
        server = await serve_mllp("127.0.0.1", 0, on_message)
        port = server.sockets[0].getsockname()[1]
        try:
            return await _exchange(port, frame(ONE) + b"garbage" + frame(TWO), 3)
        finally:
            server.close()
            await server.wait_closed()

    acks = asyncio.run(scenario())
    assert seen == [ONE, TWO]
    codes = [
        (str(m.segment("MSA")[1]), str(m.segment("MSA")[2]))
        for m in map(hl7.parse, (a.decode() for a in acks))
    ]
    assert codes == [("AA", "M1"), ("AR", ""), ("AA", "M2")]


def test_a_failing_handler_answers_ar_and_keeps_the_connection() -> None:
    async def on_message(raw: bytes) -> bytes:
        if b"M1" in raw:
            raise RuntimeError("boom")
        return build_ack(raw, "AA", "ok")

    async def scenario() -> list[bytes]:
        server = await serve_mllp("127.0.0.1", 0, on_message)
        port = server.sockets[0].getsockname()[1]
        try:
            return await _exchange(port, frame(ONE) + frame(TWO), 2)
        finally:
            server.close()
            await server.wait_closed()

    acks = asyncio.run(scenario())
    assert [str(hl7.parse(a.decode()).segment("MSA")[1]) for a in acks] == ["AR", "AA"]
