"""Message gateways are plugins found through the ``gancang.sms_gateways`` entry-point group.

Each hospital contracts its own provider, so a provider is an installed package (or a module beside this
one: ``twilio``, ``zenziva``, ``whatsapp``) registered by name. An entry point names a class;
:func:`load_gateway` instantiates it with the hospital's options. Lookups fail loudly: a missing or broken
gateway must stop the service at startup, not surface later as patients who never hear about their medicine.

Beyond ``send``, a gateway may take part in three optional protocols: :class:`CallbackGateway` (the provider
reports delivery and replies by webhook), :class:`TemplateGateway` (the channel only carries pre-approved
templates, as WhatsApp does outside the 24-hour window) and :class:`SubscriptionGateway` (the provider checks
the webhook URL with a handshake before using it).
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import ClassVar, Literal, Protocol, runtime_checkable

from pydantic import ValidationError

from dispatch.notify.phones import mask_phone

__all__ = [
    "ENTRY_POINT_GROUP",
    "Callback",
    "CallbackGateway",
    "CallbackPayloadError",
    "ConsoleGateway",
    "GatewayLoadError",
    "GatewayUnavailable",
    "InboundMessage",
    "Receipt",
    "RecordedSms",
    "SendOutcomeUnknown",
    "SendResult",
    "SmsGateway",
    "SubscriptionGateway",
    "TemplateGateway",
    "load_gateway",
]

ENTRY_POINT_GROUP = "gancang.sms_gateways"


@dataclass(frozen=True)
class SendResult:
    """What the provider said about one message.

    "queued" means accepted but not yet handed to the operator, so a delivery report may still turn it into
    a failure; "failed" is a refusal that trying again will not change (a wrong number, a bad sender id);
    "opted_out" is the provider refusing because the patient unsubscribed from this sender, which the
    caller records as an opt-out. ``detail`` carries the provider's own words for staff, never the text.
    """

    provider_message_id: str
    status: Literal["sent", "queued", "failed", "opted_out"]
    detail: str = ""


class GatewayUnavailable(Exception):
    """The provider did not take the message and surely did not send it (no connection, 5xx, 429), so a
    retry cannot reach the patient twice. ``retry_after`` is the provider's hint in seconds, if it gave one."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SendOutcomeUnknown(Exception):
    """The request may have reached the provider but no answer came back (a read timeout, a dropped
    connection): sending again could give the patient the same SMS twice, so the caller must not retry."""


@runtime_checkable
class SmsGateway(Protocol):
    """An SMS provider. ``send`` reports a provider-side refusal as a "failed" result, not an exception,
    so the caller can record it against the delivery; exceptions are for the transport breaking."""

    name: ClassVar[str]

    def send(self, to_e164: str, text: str) -> SendResult: ...


@dataclass(frozen=True)
class Receipt:
    """A provider's delivery report for one message, its status normalised and its own word kept."""

    provider_message_id: str
    status: Literal["queued", "sent", "delivered", "read", "failed"]
    provider_status: str
    error: str = ""


@dataclass(frozen=True)
class InboundMessage:
    """A patient's reply, e.g. "STOP"; ``channel`` is the channel it came by ("sms" or "whatsapp")."""

    from_e164: str
    text: str
    channel: str


@dataclass(frozen=True)
class Callback:
    """Everything one provider webhook carried: reports and replies may come batched together."""

    receipts: tuple[Receipt, ...] = ()
    inbound: tuple[InboundMessage, ...] = ()


class CallbackPayloadError(ValueError):
    """An authentic webhook whose body cannot be read as the provider documents it."""


@runtime_checkable
class CallbackGateway(Protocol):
    """A gateway whose provider reports delivery and forwards replies by signed webhook.

    ``url`` is the address the provider called, exactly as it was configured there (providers sign it).
    """

    name: ClassVar[str]

    def verify_callback(self, url: str, headers: Mapping[str, str], body: bytes) -> bool: ...

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> Callback: ...


@runtime_checkable
class TemplateGateway(Protocol):
    """A channel that only carries pre-approved templates for business-initiated messages (WhatsApp).

    ``fields`` holds what a template may show, by name: hospital, link, pin, courier, plate, eta; which
    fields a template takes, in which order, is the hospital's configuration, as is which kinds have one.
    """

    name: ClassVar[str]

    def has_template(self, kind: str) -> bool: ...

    def send_template(self, to_e164: str, kind: str, lang: str, fields: Mapping[str, str]) -> SendResult: ...


@runtime_checkable
class SubscriptionGateway(Protocol):
    """A provider that checks a webhook URL with a GET handshake before sending to it (Meta's hub.challenge)."""

    name: ClassVar[str]

    def answer_subscription(self, query: Mapping[str, str]) -> str | None:
        """The body to answer the handshake with, or None when it is not ours."""
        ...


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
    except ValidationError as exc:
        # The same for a plugin's settings model: where and what, never the input.
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'options'}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        )
        raise GatewayLoadError(f"SMS gateway {name!r} rejected its options: {problems}") from exc
    if not isinstance(gateway, SmsGateway):
        raise GatewayLoadError(
            f"SMS gateway {name!r} ({entry_point.value}) built a {type(gateway).__name__}, not an SmsGateway"
        )
    if gateway.name != name:
        raise GatewayLoadError(
            f"entry point {name!r} builds a gateway named {gateway.name!r}; the names must match"
        )
    return gateway
