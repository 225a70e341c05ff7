"""HL7 v2 over MLLP: one TCP listener per hospital, since MLLP carries no per-message credentials.

Who may connect is a network matter (hospital LAN, VPN or stunnel with client certificates): every message
arriving on a listener is taken as coming from that listener's hospital. ``gancang mllp`` runs ``serve``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from dispatch.core.db import new_session
from dispatch.hospitals import repository as hospitals_repository
from dispatch.inbox import service as inbox_service
from dispatch.intake.service import describe_outcomes, intake_for_hospital
from hospital_adapter.canonical import SourceInputError
from hospital_adapter.hl7v2.ack import ack_for_error, build_ack
from hospital_adapter.hl7v2.mllp import serve_mllp
from hospital_adapter.hl7v2.parser import parse_message

SOURCE = "hl7v2"
MLLP_HEADERS = {"content-type": "application/hl7-v2", "x-gancang-transport": "mllp"}

log = logging.getLogger(__name__)


def handle_message(hospital_code: str, raw: bytes) -> bytes:
    """Archive and take one message for the hospital; the answer is always an ACK (never raises for input)."""
    with new_session() as session:
        hospital = hospitals_repository.get_by_code(session, hospital_code)
    if hospital is None:
        inbox_id = inbox_service.archive_raw(SOURCE, raw, MLLP_HEADERS)
        reason = f"this listener's hospital {hospital_code!r} is not configured"
        inbox_service.reject(inbox_id, reason)
        return build_ack(raw, "AR", reason, issues=[("exception", reason, None)])
    try:
        outcomes = intake_for_hospital(SOURCE, parse_message, raw, MLLP_HEADERS, hospital)
    except SourceInputError as exc:
        return ack_for_error(raw, exc)
    return build_ack(raw, "AA", describe_outcomes(outcomes))


def make_handler(hospital_code: str) -> Callable[[bytes], Awaitable[bytes]]:
    """The ``on_message`` for ``serve_mllp``: database work runs in a worker thread."""

    async def on_message(raw: bytes) -> bytes:
        return await asyncio.to_thread(handle_message, hospital_code, raw)

    return on_message


async def serve(host: str, port: int, hospital_code: str) -> None:
    """Listen for MLLP on host:port for one hospital until cancelled."""
    with new_session() as session:
        if hospitals_repository.get_by_code(session, hospital_code) is None:
            raise ValueError(f"no hospital with code {hospital_code!r}")
    server = await serve_mllp(host, port, make_handler(hospital_code))
    addresses = ", ".join(str(sock.getsockname()) for sock in server.sockets)
    log.info("MLLP listener for hospital %s on %s", hospital_code, addresses)
    async with server:
        await server.serve_forever()
