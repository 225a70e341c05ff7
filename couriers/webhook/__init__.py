"""Local partners (a hospital's shelter driver pool, an ojek cooperative) over the protocol we publish: signed
job messages out, signed status reports in (docs/courier-partner-protocol.md); registered as entry point
``webhook`` in ``gancang.couriers``."""

from __future__ import annotations

import httpx
from pydantic import BaseModel

from couriers.base import CourierAdapter, CourierPlugin
from couriers.webhook.client import WebhookPartnerAdapter
from couriers.webhook.settings import WebhookPartnerSettings


def build(settings: BaseModel, transport: httpx.BaseTransport | None) -> CourierAdapter:
    """The registry validates settings with ``settings_model``; anything else here is a wiring bug."""
    if not isinstance(settings, WebhookPartnerSettings):
        raise TypeError(f"webhook partners need WebhookPartnerSettings, got {type(settings).__name__}")
    return WebhookPartnerAdapter(settings, transport=transport)


PLUGIN = CourierPlugin(
    name="webhook",
    label="Mitra lokal (webhook)",
    settings_model=WebhookPartnerSettings,
    build=build,
)

__all__ = ["PLUGIN", "WebhookPartnerAdapter", "WebhookPartnerSettings"]
