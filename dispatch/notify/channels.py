"""A hospital's gateway for each channel, built once per process and per configuration.

Entry-point discovery and settings validation cost milliseconds; a busy outbox sends many messages for
the same few hospitals, so both are cached under the settings' JSON: a changed configuration is a new key,
and the old gateway simply stops being used.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Literal

from dispatch.hospitals.models import Hospital
from dispatch.notify.gateways import SmsGateway
from dispatch.notify.settings import ChannelGateway, MessagingSettings, build_gateway

__all__ = ["Channel", "gateway_for", "messaging_settings"]

Channel = Literal["sms", "whatsapp"]


def messaging_settings(hospital: Hospital) -> MessagingSettings:
    return _parsed(_key(hospital.messaging_settings))


def gateway_for(hospital: Hospital, channel: Channel) -> SmsGateway | None:
    """The hospital's own gateway on ``channel``; None when it has none there (SMS then goes by the
    deployment's default gateway, WhatsApp not at all)."""
    choice = getattr(messaging_settings(hospital), channel)
    if choice is None:
        return None
    return _built(choice.gateway, _key(choice.options))


def _key(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


@lru_cache(maxsize=256)
def _parsed(settings_json: str) -> MessagingSettings:
    return MessagingSettings.model_validate_json(settings_json)


@lru_cache(maxsize=256)
def _built(name: str, options_json: str) -> SmsGateway:
    return build_gateway(ChannelGateway(gateway=name, options=json.loads(options_json)))
