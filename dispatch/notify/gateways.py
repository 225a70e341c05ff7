"""SMS gateways are plugins found through the ``gancang.sms_gateways`` entry-point group.

Each hospital contracts its own SMS provider, so a provider is an installed package rather than code in
this repository. An entry point names a class; :func:`load_gateway` instantiates it with the deployment's
options. Lookups fail loudly: a missing or broken gateway must stop the service at startup, not surface
later as patients who never hear about their medicine.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import ClassVar, Literal, Protocol, runtime_checkable

from dispatch.notify.phones import mask_phone

__all__ = [
    "ENTRY_POINT_GROUP",
    "ConsoleGateway",
    "GatewayLoadError",
    "RecordedSms",
    "SendResult",
    "SmsGateway",
    "load_gateway",
]

ENTRY_POINT_GROUP = "gancang.sms_gateways"


@dataclass(frozen=True)
class SendResult:
    """What the provider said about one message.

    "queued" means accepted but not yet handed to the operator, so a delivery report may still turn it into
    a failure; ``detail`` carries the provider's own words for staff, never the message text.
    """

    provider_message_id: str
    status: Literal["sent", "queued", "failed"]
    detail: str = ""


@runtime_checkable
class SmsGateway(Protocol):
    """An SMS provider. ``send`` reports a provider-side refusal as a "failed" result, not an exception,
    so the caller can record it against the delivery; exceptions are for the transport breaking."""

    name: ClassVar[str]

    def send(self, to_e164: str, text: str) -> SendResult: ...


@dataclass(frozen=True)
class RecordedSms:
    provider_message_id: str
    to_e164: str
    text: str


class ConsoleGateway:
    """The default gateway: prints each SMS instead of sending it, so development needs no provider account.

    The printed line masks the phone number but shows the text, tracking link included, because following
    that link is the point of development; that is also why this gateway does not belong in production,
    where stdout ends up in logs. The most recent messages stay in :attr:`outbox` for tests and demos.
    """

    name: ClassVar[str] = "console"
    _OUTBOX_SIZE: ClassVar[int] = 1000

    def __init__(self, print_fn: Callable[[str], None] = print) -> None:
        self._print = print_fn
        self.outbox: deque[RecordedSms] = deque(maxlen=self._OUTBOX_SIZE)

    def send(self, to_e164: str, text: str) -> SendResult:
        message = RecordedSms(provider_message_id=str(uuid.uuid4()), to_e164=to_e164, text=text)
        self.outbox.append(message)
        self._print(f"[SMS → {mask_phone(to_e164)}] {text}")
        return SendResult(provider_message_id=message.provider_message_id, status="sent")


class GatewayLoadError(RuntimeError):
    """An installed SMS gateway entry point cannot be turned into a working gateway."""


def load_gateway(name: str, options: Mapping[str, object] | None = None) -> SmsGateway:
    """The gateway registered as ``name``, constructed with ``options`` as keyword arguments.

    Raises LookupError when no installed package registers ``name`` and GatewayLoadError when the entry
    point is ambiguous, fails to import, rejects the options, or does not produce an SmsGateway.
    """
    matches = list(entry_points(group=ENTRY_POINT_GROUP, name=name))
    if not matches:
        installed = sorted({entry_point.name for entry_point in entry_points(group=ENTRY_POINT_GROUP)})
        raise LookupError(
            f"unknown SMS gateway {name!r} (installed: {', '.join(installed) or 'none'}); install the package "
            f"that registers it in {ENTRY_POINT_GROUP!r}, or `pip install -e .` in a source checkout"
        )
    if len(matches) > 1:
        raise GatewayLoadError(f"more than one installed package registers SMS gateway {name!r}")
    entry_point = matches[0]
    try:
        factory = entry_point.load()
    except Exception as exc:
        raise GatewayLoadError(f"SMS gateway {name!r} ({entry_point.value}) failed to load: {exc!r}") from exc
    try:
        gateway = factory(**dict(options or {}))
    except TypeError as exc:
        # Python's message for a wrong or missing keyword names the parameter, not its value: options
        # hold provider API keys, and this error ends up in startup logs.
        raise GatewayLoadError(f"SMS gateway {name!r} rejected its options: {exc}") from exc
    if not isinstance(gateway, SmsGateway):
        raise GatewayLoadError(
            f"SMS gateway {name!r} ({entry_point.value}) built a {type(gateway).__name__}, not an SmsGateway"
        )
    if gateway.name != name:
        raise GatewayLoadError(
            f"entry point {name!r} builds a gateway named {gateway.name!r}; the names must match"
        )
    return gateway
