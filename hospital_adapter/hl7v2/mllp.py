"""MLLP (Minimal Lower Layer Protocol) framing and a small asyncio server.

A frame is ``0x0B`` + message + ``0x1C 0x0D``. There is no length prefix, so the decoder buffers across TCP
reads: one read may hold half a frame, or several frames. Whitespace between frames (some senders add a
newline) is ignored; any other byte outside a frame is reported as a ``FramingError`` and dropped up to the
next start byte, so one bad sender write cannot swallow the next good message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from hospital_adapter.hl7v2.ack import build_ack

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c"
CARRIAGE_RETURN = b"\r"
MAX_FRAME_BYTES = 4 * 1024 * 1024
READ_SIZE = 64 * 1024

log = logging.getLogger(__name__)


def frame(message: bytes) -> bytes:
    """Wrap one message in MLLP framing."""
    return START_BLOCK + message + END_BLOCK + CARRIAGE_RETURN


@dataclass(frozen=True)
class FramingError:
    """Bytes that are not a well-formed frame; ``data`` is what was dropped (possibly truncated)."""

    reason: str
    data: bytes


class MLLPDecoder:
    """Incremental decoder: ``feed`` each TCP read, get back the complete frames (and framing errors)."""

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self._buffer = bytearray()
        self._in_frame = False
        self._skip_cr = False
        self._garbage = bytearray()
        self._oversized = False
        self.max_frame_bytes = max_frame_bytes

    def feed(self, data: bytes) -> list[bytes | FramingError]:
        out: list[bytes | FramingError] = []
        for byte in data:
            if self._skip_cr:
                self._skip_cr = False
                if byte == 0x0D:
                    continue
            if not self._in_frame:
                if byte == 0x0B:
                    self._flush_garbage(out)
                    self._in_frame = True
                    self._buffer.clear()
                    self._oversized = False
                elif byte in b" \t\r\n":
                    continue
                else:
                    self._garbage.append(byte)
                continue
            if byte == 0x1C:
                self._in_frame = False
                self._skip_cr = True
                if self._oversized:
                    out.append(FramingError(f"frame longer than {self.max_frame_bytes} bytes", b""))
                else:
                    out.append(bytes(self._buffer))
                self._buffer.clear()
            elif byte == 0x0B:
                out.append(
                    FramingError("start block inside a frame (end block missing)", bytes(self._buffer))
                )
                self._buffer.clear()
                self._oversized = False
            elif not self._oversized:
                self._buffer.append(byte)
                if len(self._buffer) > self.max_frame_bytes:
                    self._oversized = True
                    self._buffer.clear()
        self._flush_garbage(out)
        return out

    def _flush_garbage(self, out: list[bytes | FramingError]) -> None:
        if self._garbage:
            out.append(FramingError("bytes outside an MLLP frame", bytes(self._garbage[:1024])))
            self._garbage.clear()

    @property
    def pending(self) -> bool:
        """True when a frame has started and not yet ended (its bytes would be lost on EOF)."""
        return self._in_frame


MessageHandler = Callable[[bytes], Awaitable[bytes]]


async def _serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, on_message: MessageHandler
) -> None:
    decoder = MLLPDecoder()
    peer = writer.get_extra_info("peername")
    try:
        while data := await reader.read(READ_SIZE):
            for item in decoder.feed(data):
                if isinstance(item, FramingError):
                    log.warning("MLLP framing error from %s: %s", peer, item.reason)
                    ack = build_ack(item.data or None, "AR", f"MLLP framing error: {item.reason}")
                else:
                    try:
                        ack = await on_message(item)
                    except Exception:
                        log.exception("MLLP handler failed for a message from %s", peer)
                        ack = build_ack(item, "AR", "internal error while processing the message")
                writer.write(frame(ack))
                await writer.drain()
        if decoder.pending:
            log.warning("MLLP connection from %s closed inside a frame", peer)
    except (ConnectionError, asyncio.IncompleteReadError) as exc:
        log.info("MLLP connection from %s lost: %s", peer, exc)
    finally:
        # Not awaiting wait_closed(): a handler cancelled there at shutdown is logged by asyncio as an error.
        writer.close()


async def serve_mllp(host: str, port: int, on_message: MessageHandler) -> asyncio.Server:
    """Start an MLLP server answering every frame with ``await on_message(frame)``, framed.

    Port 0 picks a free port (see ``server.sockets[0].getsockname()``). The caller owns the server:
    ``async with server: await server.serve_forever()``, or ``server.close()``.
    """

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _serve_connection(reader, writer, on_message)

    return await asyncio.start_server(handle, host, port)
